//! What leaves a plugin for the rest of the host (pages, stream events, error texts) with
//! secret values redacted, so that nothing a plugin returns can carry a value into the
//! store, the log or a run record; error texts also become one bounded line.

use super::PluginCaps;
use super::log::tidy;
use crate::CallError;
use mdhost_core::domain::{
    ActionsPage, BarsPage, InstrumentsPage, ProviderError, RawBar, SeriesPage, StreamEvent,
};

/// Longest error text kept from a plugin (it lands in logs and run records).
pub const MAX_ERROR: usize = 1024;

/// Longest cursor a plugin may hand back: it is stored with each checkpoint. Real cursors
/// are page tokens or next-page URLs of a few hundred bytes.
pub const MAX_CURSOR: usize = 8 << 10;

/// Refuses a next cursor longer than the host keeps.
fn bounded_cursor(cursor: Option<&str>) -> Result<(), ProviderError> {
    match cursor {
        Some(c) if c.len() > MAX_CURSOR => Err(ProviderError::BadResponse(format!(
            "the plugin returned a next cursor of {} bytes; the host keeps cursors of at most {MAX_CURSOR} bytes",
            c.len()
        ))),
        _ => Ok(()),
    }
}

impl PluginCaps {
    fn redact_bar(&self, b: &mut RawBar) {
        let s = &self.secrets;
        s.redact_in_place(&mut b.symbol);
        for f in [&mut b.open, &mut b.high, &mut b.low, &mut b.close] {
            s.redact_decimal(f);
        }
        for f in [&mut b.volume, &mut b.vwap].into_iter().flatten() {
            s.redact_decimal(f);
        }
    }

    /// A page as the host may keep it: values redacted, the cursor bounded.
    pub fn scrub_page(&self, mut page: BarsPage) -> Result<BarsPage, ProviderError> {
        bounded_cursor(page.next_cursor.as_deref())?;
        if self.secrets.has_values() {
            page.bars.iter_mut().for_each(|b| self.redact_bar(b));
            if let Some(c) = &mut page.next_cursor {
                self.secrets.redact_in_place(c);
            }
        }
        Ok(page)
    }

    /// Corporate actions as the host may keep them: every text redacted, the cursor
    /// bounded as a bar page's.
    pub fn scrub_actions(&self, mut page: ActionsPage) -> Result<ActionsPage, ProviderError> {
        bounded_cursor(page.next_cursor.as_deref())?;
        if self.secrets.has_values() {
            let s = &self.secrets;
            for x in &mut page.splits {
                for f in [&mut x.symbol, &mut x.numerator, &mut x.denominator] {
                    s.redact_in_place(f);
                }
                x.provider_id.iter_mut().for_each(|f| s.redact_in_place(f));
            }
            for d in &mut page.dividends {
                for f in [&mut d.symbol, &mut d.amount, &mut d.currency] {
                    s.redact_in_place(f);
                }
                d.provider_id.iter_mut().for_each(|f| s.redact_in_place(f));
            }
            page.next_cursor
                .iter_mut()
                .for_each(|c| s.redact_in_place(c));
        }
        Ok(page)
    }

    /// A series page as the host may keep it: every text redacted, the cursor bounded.
    pub fn scrub_series(&self, mut page: SeriesPage) -> Result<SeriesPage, ProviderError> {
        bounded_cursor(page.next_cursor.as_deref())?;
        if self.secrets.has_values() {
            let s = &self.secrets;
            s.redact_in_place(&mut page.series_id);
            if let Some(m) = &mut page.meta {
                for f in [&mut m.title, &mut m.units, &mut m.frequency] {
                    s.redact_in_place(f);
                }
                m.seasonal_adjustment
                    .iter_mut()
                    .for_each(|f| s.redact_in_place(f));
            }
            for o in &mut page.observations {
                o.value.iter_mut().for_each(|f| s.redact_in_place(f));
            }
            page.next_cursor
                .iter_mut()
                .for_each(|c| s.redact_in_place(c));
        }
        Ok(page)
    }

    /// An instruments page as the host may keep it: every text redacted, the cursor
    /// bounded.
    pub fn scrub_instruments(
        &self,
        mut page: InstrumentsPage,
    ) -> Result<InstrumentsPage, ProviderError> {
        bounded_cursor(page.next_cursor.as_deref())?;
        if self.secrets.has_values() {
            let s = &self.secrets;
            for i in &mut page.instruments {
                for f in [&mut i.symbol, &mut i.provider_symbol] {
                    s.redact_in_place(f);
                }
                for f in [&mut i.name, &mut i.exchange, &mut i.currency]
                    .into_iter()
                    .flatten()
                {
                    s.redact_in_place(f);
                }
            }
            page.next_cursor
                .iter_mut()
                .for_each(|c| s.redact_in_place(c));
        }
        Ok(page)
    }

    /// A plugin's error with its text redacted, on one line and cut.
    pub fn scrub_error(&self, e: ProviderError) -> ProviderError {
        let t = |m: String| tidy(&m, &self.secrets, MAX_ERROR);
        match e {
            ProviderError::RateLimited(s) => ProviderError::RateLimited(s),
            ProviderError::QuotaExhausted(t) => ProviderError::QuotaExhausted(t),
            ProviderError::Unauthorized(m) => ProviderError::Unauthorized(t(m)),
            ProviderError::UnknownSymbol(m) => ProviderError::UnknownSymbol(t(m)),
            ProviderError::Unsupported(m) => ProviderError::Unsupported(t(m)),
            ProviderError::BadResponse(m) => ProviderError::BadResponse(t(m)),
            ProviderError::Transient(m) => ProviderError::Transient(t(m)),
        }
    }

    /// A sandbox failure whose text may quote the plugin (a panic message).
    pub fn scrub_call_error(&self, e: CallError) -> CallError {
        let t = |m: String| tidy(&m, &self.secrets, MAX_ERROR);
        match e {
            CallError::Trap(m) => CallError::Trap(t(m)),
            CallError::Instantiate(m) => CallError::Instantiate(t(m)),
            CallError::Poisoned(m) => CallError::Poisoned(t(m)),
            other => other,
        }
    }

    /// A stream event as the host may keep it. Replies keep their placeholders: they are
    /// substituted on the way out, like requests.
    pub fn scrub_event(&self, ev: StreamEvent) -> StreamEvent {
        let s = &self.secrets;
        match ev {
            StreamEvent::Bar(mut b) => {
                if s.has_values() {
                    self.redact_bar(&mut b);
                }
                StreamEvent::Bar(b)
            }
            StreamEvent::Quote(mut q) => {
                for f in [&mut q.symbol, &mut q.bid, &mut q.ask] {
                    s.redact_in_place(f);
                }
                StreamEvent::Quote(q)
            }
            StreamEvent::Trade(mut t) => {
                for f in [&mut t.symbol, &mut t.price] {
                    s.redact_in_place(f);
                }
                StreamEvent::Trade(t)
            }
            StreamEvent::Status(m) => StreamEvent::Status(tidy(&m, s, MAX_ERROR)),
            StreamEvent::Error(e) => StreamEvent::Error(self.scrub_error(e)),
            other => other,
        }
    }
}
