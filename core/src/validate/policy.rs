//! Validation settings per asset class, overridable per instrument (`[validation]` in
//! `plugins.toml`). Parsed once; the rules read the resolved [`Policy`] and never re-check.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::calendar::Calendar;
use crate::domain::{AssetClass, ClassSet};

/// The settings the rules use for one instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub asset_class: AssetClass,
    pub calendar: Calendar,
    /// Prices may be zero or negative (oil futures in April 2020, some spreads and rates).
    pub allow_negative: bool,
    /// The venue reports traded volume, so a zero is worth an event.
    pub volume_expected: bool,
    /// Robust z-score of a log return above which a bar is a spike; `None` disables it.
    pub spike_z: Option<Decimal>,
    /// How many recent log returns the median and MAD are taken over.
    pub spike_window: usize,
    /// Fewer returns than this and the z-score is not computed (too little to judge).
    pub spike_min_history: usize,
    /// Largest plausible close-to-close move as a fraction (0.5 = 50%); `None` disables it.
    pub max_jump: Option<Decimal>,
    /// Intervals a series may lag behind the open market before it counts as stale.
    pub stale_after_intervals: u32,
}

impl Policy {
    /// Built-in defaults; every field can be overridden in configuration.
    pub fn default_for(asset_class: AssetClass) -> Self {
        use AssetClass::*;
        let d = |s: &str| Some(s.parse::<Decimal>().expect("valid default"));
        let (calendar, volume_expected, max_jump) = match asset_class {
            Equity | Etf => (Calendar::UsEquity, true, d("0.5")),
            Index => (Calendar::UsEquity, false, d("0.25")),
            Forex => (Calendar::Fx24x5, false, d("0.1")),
            Crypto => (Calendar::Crypto24x7, true, d("0.5")),
            Commodity => (Calendar::None, true, d("0.3")),
            Economic => (Calendar::None, false, None),
        };
        Policy {
            asset_class,
            calendar,
            allow_negative: false,
            volume_expected,
            // Economic series move in steps; a z-score on them flags every release.
            spike_z: if asset_class == Economic {
                None
            } else {
                d("12")
            },
            spike_window: 50,
            spike_min_history: 20,
            max_jump,
            stale_after_intervals: 2,
        }
    }

    fn apply(&mut self, o: &Overrides) {
        if let Some(v) = o.calendar {
            self.calendar = v;
        }
        if let Some(v) = o.allow_negative {
            self.allow_negative = v;
        }
        if let Some(v) = o.volume_expected {
            self.volume_expected = v;
        }
        if let Some(v) = &o.spike_z {
            self.spike_z = v.enabled();
        }
        if let Some(v) = o.spike_window {
            self.spike_window = v.max(2);
        }
        if let Some(v) = o.spike_min_history {
            self.spike_min_history = v.max(2);
        }
        if let Some(v) = &o.max_jump {
            self.max_jump = v.enabled();
        }
        if let Some(v) = o.stale_after_intervals {
            self.stale_after_intervals = v;
        }
    }
}

/// A threshold in configuration: a decimal written as a string ("0.3"), or `false` to
/// switch the rule off. Strings, because a TOML float would pass through binary floating
/// point on its way in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Threshold {
    Off,
    Value(Decimal),
}

impl Threshold {
    fn enabled(&self) -> Option<Decimal> {
        match self {
            Threshold::Value(v) => Some(*v),
            Threshold::Off => None,
        }
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Threshold;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a decimal in quotes such as \"0.3\", or false to switch the rule off")
            }

            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Threshold, E> {
                if v {
                    Err(E::invalid_value(serde::de::Unexpected::Bool(v), &self))
                } else {
                    Ok(Threshold::Off)
                }
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Threshold, E> {
                super::decimal::parse(v)
                    .map(Threshold::Value)
                    .map_err(|_| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V)
    }
}

/// Optional settings for an asset class or one instrument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Overrides {
    /// Only meaningful per instrument: which class's defaults it starts from.
    pub asset_class: Option<AssetClass>,
    pub calendar: Option<Calendar>,
    pub allow_negative: Option<bool>,
    pub volume_expected: Option<bool>,
    pub spike_z: Option<Threshold>,
    pub spike_window: Option<usize>,
    pub spike_min_history: Option<usize>,
    pub max_jump: Option<Threshold>,
    pub stale_after_intervals: Option<u32>,
}

/// `[validation]`: `[validation.classes.<class>]` and `[validation.instruments."<symbol>"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    #[serde(default)]
    pub classes: BTreeMap<AssetClass, Overrides>,
    #[serde(default)]
    pub instruments: BTreeMap<String, Overrides>,
}

impl Policies {
    /// The asset class of `symbol`: the one `[validation.instruments]` gives it, else the
    /// one its spelling implies among the `declared` classes of the plugin serving it
    /// ([`mdhost_model::asset::infer`]). Every path (jobs, streams, recovery, `plugin call`,
    /// the harness) asks here, so a symbol is judged by one calendar wherever it is read.
    pub fn class_of(&self, symbol: &str, declared: ClassSet) -> AssetClass {
        self.instruments
            .get(symbol)
            .and_then(|o| o.asset_class)
            .unwrap_or_else(|| mdhost_model::asset::infer(symbol, declared))
    }

    /// The policy of `symbol`: its class ([`Policies::class_of`]), that class's defaults
    /// and overrides, then the instrument's own overrides.
    pub fn resolve(&self, symbol: &str, declared: ClassSet) -> Policy {
        let inst = self.instruments.get(symbol);
        let class = self.class_of(symbol, declared);
        let mut p = Policy::default_for(class);
        if let Some(o) = self.classes.get(&class) {
            p.apply(o);
        }
        if let Some(o) = inst {
            p.apply(o);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instrument_settings_override_class_settings_which_override_defaults() {
        let p: Policies = toml::from_str(
            r#"
            [classes.equity]
            max_jump = "0.3"
            spike_z = false
            [instruments."CL=F"]
            asset_class = "commodity"
            allow_negative = true
            [instruments.AAPL]
            spike_z = "8"
            "#,
        )
        .unwrap();
        let aapl = p.resolve("AAPL", ClassSet::of(AssetClass::Equity));
        assert_eq!(aapl.max_jump, Some("0.3".parse().unwrap()));
        assert_eq!(aapl.spike_z, Some("8".parse().unwrap()));
        let msft = p.resolve("MSFT", ClassSet::of(AssetClass::Equity));
        assert_eq!(msft.spike_z, None);
        let oil = p.resolve("CL=F", ClassSet::of(AssetClass::Equity));
        assert_eq!(oil.asset_class, AssetClass::Commodity);
        assert!(oil.allow_negative);
        assert_eq!(oil.calendar, Calendar::None);
        let eur = p.resolve("EUR/USD", ClassSet::of(AssetClass::Forex));
        assert_eq!(eur.calendar, Calendar::Fx24x5);
        assert!(!eur.volume_expected);
    }

    fn check_class(p: &Policies, symbol: &str, declared: &[AssetClass], expected: AssetClass) {
        let set: ClassSet = declared.iter().collect();
        assert_eq!(
            p.class_of(symbol, set),
            expected,
            "{symbol} from {declared:?}"
        );
    }

    #[test]
    fn a_configured_class_wins_over_the_spelling() {
        use AssetClass::*;
        let p: Policies = toml::from_str(
            "[instruments.\"CL=F\"]\nasset_class = \"commodity\"\n\
             [instruments.\"USD/CNH\"]\nasset_class = \"crypto\"\n",
        )
        .unwrap();
        let yahoo = [Equity, Etf, Index, Forex, Crypto];
        check_class(&p, "CL=F", &yahoo, Commodity);
        check_class(&p, "USD/CNH", &yahoo, Crypto);
        // A Yahoo EUR/USD job is FX in the service and in `plugin test` alike.
        check_class(&p, "EUR/USD", &yahoo, Forex);
        check_class(&p, "NG=F", &yahoo, Equity);
    }

    #[test]
    fn a_float_threshold_is_refused() {
        let r: Result<Policies, _> = toml::from_str("[classes.equity]\nmax_jump = 0.3\n");
        assert!(r.is_err());
    }
}
