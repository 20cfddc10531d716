//! `[retention]`: how long the bars of each timeframe are kept (`"1m" = "730d"`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde_spanned::Spanned;

use super::{ConfigError, Source};
use crate::domain::Timeframe;

/// The shortest retention: less than a day would delete what a day's jobs still revisit.
const AT_LEAST: Duration = Duration::from_secs(86_400);

impl Source<'_> {
    pub(super) fn retention(
        &self,
        raw: BTreeMap<String, Spanned<String>>,
    ) -> Result<BTreeMap<Timeframe, Duration>, ConfigError> {
        let mut out = BTreeMap::new();
        for (tf, keep) in raw {
            let key = format!("retention.{tf}");
            let Ok(timeframe) = tf.parse::<Timeframe>() else {
                let msg = format!("{tf:?} is not a timeframe like \"1m\", \"1h\" or \"1d\"");
                return self.err(keep.span(), key, msg);
            };
            match humantime::parse_duration(keep.get_ref()) {
                Ok(d) if d >= AT_LEAST => {
                    out.insert(timeframe, d);
                }
                _ => {
                    let msg = format!("{:?} is not a duration of at least 1d", keep.get_ref());
                    return self.err(keep.span(), key, msg);
                }
            }
        }
        Ok(out)
    }
}
