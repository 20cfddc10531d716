//! The account of one run: what it fetched and stored, which windows of which series it
//! left uncovered and why, the status that follows, and the summary line.
//!
//! The status is decided here and only here, from what is left uncovered: a run is `ok`
//! only when every window of every symbol is committed (in this run or an earlier one).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::plan::Window;
use crate::ingest::Ingested;
use crate::store::{RunStatus, Span, Uncovered};

/// Errors listed in the summary line; the rest are in the `runs` row.
const SUMMARY_ERRORS: usize = 5;

/// Bar counts of a run, added page by page as each page commits.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub fetched: u64,
    /// Accepted by validation and stored (new, updated or identical).
    pub stored: u64,
    /// Of `stored`, those that changed the table.
    pub written: u64,
    pub rejected: u64,
    pub skipped: u64,
    /// Bars of pages that went to the local spool because the store was unreachable.
    pub spooled: u64,
}

impl Tally {
    pub fn page(got: &Ingested) -> Self {
        Tally {
            fetched: got.received,
            stored: got.accepted,
            written: got.written(),
            rejected: got.rejected,
            skipped: got.skipped(),
            spooled: if got.write.spooled { got.accepted } else { 0 },
        }
    }
}

impl std::ops::AddAssign for Tally {
    fn add_assign(&mut self, o: Tally) {
        self.fetched += o.fetched;
        self.stored += o.stored;
        self.written += o.written;
        self.rejected += o.rejected;
        self.skipped += o.skipped;
        self.spooled += o.spooled;
    }
}

/// What became of one symbol over the run.
#[derive(Debug, Default, Clone)]
pub struct SymbolAccount {
    /// Windows committed by this run, or found committed by an earlier one.
    pub done: Vec<Span>,
    /// Why windows failed, in order, without repeats.
    pub errors: Vec<String>,
}

impl SymbolAccount {
    pub fn error(&mut self, msg: String) {
        if !self.errors.contains(&msg) {
            self.errors.push(msg);
        }
    }
}

/// The run's verdict, from its symbols and windows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub status: RunStatus,
    pub reason: Option<String>,
    pub symbols_ok: u64,
    pub symbols_failed: u64,
    /// `SYMBOL: reason; reason` per symbol that failed.
    pub errors: Vec<String>,
    pub uncovered: Vec<Uncovered>,
}

/// Judges a run of `windows` over `symbols`. `stopped`: the run was asked to stop.
pub fn verdict(
    symbols: &BTreeMap<String, SymbolAccount>,
    windows: &[Window],
    stopped: bool,
) -> Verdict {
    let mut uncovered = Vec::new();
    let (mut ok, mut failed, mut done_any) = (0u64, 0u64, false);
    let mut errors = Vec::new();
    for (symbol, acc) in symbols {
        let missing: Vec<Span> = windows
            .iter()
            .map(|w| Span::new(w.start, w.end))
            .filter(|w| !w.within(&acc.done))
            .collect();
        done_any |= missing.len() < windows.len();
        if missing.is_empty() {
            ok += 1;
        } else if !acc.errors.is_empty() {
            failed += 1;
            errors.push(format!("{symbol}: {}", acc.errors.join("; ")));
        }
        for s in Span::merged(missing) {
            uncovered.push(Uncovered {
                symbol: symbol.clone(),
                from: s.from,
                to: s.to,
            });
        }
    }
    let windows_left: usize = uncovered.len();
    let (status, reason) = if uncovered.is_empty() {
        (RunStatus::Ok, None)
    } else if stopped {
        (
            RunStatus::Stopped,
            Some(format!(
                "stopped on request with {} of {} symbols incomplete; the next run continues from what is committed",
                symbols.len() as u64 - ok,
                symbols.len()
            )),
        )
    } else if !done_any {
        (
            RunStatus::Failed,
            Some(format!(
                "nothing could be fetched and committed: {}",
                errors.first().map_or("no provider served the job", |e| e)
            )),
        )
    } else {
        (
            RunStatus::Partial,
            Some(format!(
                "{} of {} symbols incomplete ({windows_left} ranges left uncovered); the next run fetches them",
                symbols.len() as u64 - ok,
                symbols.len()
            )),
        )
    };
    Verdict {
        status,
        reason,
        symbols_ok: ok,
        symbols_failed: failed,
        errors,
        uncovered,
    }
}

/// "processed 487/500 symbols, 11,688 bars, 13 failed: A: …; B: …, …"
pub fn summary_line(total: u64, v: &Verdict, tally: Tally) -> String {
    let mut line = format!(
        "processed {}/{} symbols, {} bars",
        thousands(v.symbols_ok),
        thousands(total),
        thousands(tally.stored)
    );
    if tally.rejected > 0 {
        line += &format!(" ({} rejected)", thousands(tally.rejected));
    }
    if tally.spooled > 0 {
        line += &format!(
            ", {} of them spooled until the store is back",
            thousands(tally.spooled)
        );
    }
    if !v.uncovered.is_empty() {
        line += &format!(
            ", {} left uncovered ({})",
            plural(v.uncovered.len() as u64, "range"),
            spans(&v.uncovered)
        );
    }
    if v.status == RunStatus::Stopped {
        line += ", stopped on request";
    }
    if v.symbols_failed > 0 {
        line += &format!(", {} failed: ", thousands(v.symbols_failed));
        line += &v.errors[..v.errors.len().min(SUMMARY_ERRORS)].join("; ");
        if v.errors.len() > SUMMARY_ERRORS {
            line += &format!("; … and {} more", v.errors.len() - SUMMARY_ERRORS);
        }
    }
    line
}

fn plural(n: u64, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{} {what}s", thousands(n))
    }
}

/// The first few uncovered ranges, `SYMBOL from..to`.
fn spans(u: &[Uncovered]) -> String {
    let fmt = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%MZ").to_string();
    let mut out: Vec<String> = u
        .iter()
        .take(SUMMARY_ERRORS)
        .map(|u| format!("{} {}..{}", u.symbol, fmt(u.from), fmt(u.to)))
        .collect();
    if u.len() > SUMMARY_ERRORS {
        out.push(format!("… and {} more", u.len() - SUMMARY_ERRORS));
    }
    out.join(", ")
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_get_thousands_separators() {
        for (n, s) in [
            (0, "0"),
            (999, "999"),
            (1000, "1,000"),
            (11688, "11,688"),
            (1234567, "1,234,567"),
        ] {
            assert_eq!(thousands(n), s);
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(d: u32) -> Window {
        Window {
            start: t(&format!("2024-01-{d:02}T00:00:00Z")),
            end: t(&format!("2024-01-{:02}T00:00:00Z", d + 1)),
        }
    }

    /// Symbols with the days (of 1..=3) they have done and their errors.
    fn accounts(v: &[(&str, &[u32], &[&str])]) -> BTreeMap<String, SymbolAccount> {
        v.iter()
            .map(|(s, done, errors)| {
                let acc = SymbolAccount {
                    done: done
                        .iter()
                        .map(|&d| Span::new(day(d).start, day(d).end))
                        .collect(),
                    errors: errors.iter().map(|e| e.to_string()).collect(),
                };
                (s.to_string(), acc)
            })
            .collect()
    }

    fn check(
        symbols: &[(&str, &[u32], &[&str])],
        stopped: bool,
        tally: Tally,
        status: RunStatus,
        line: &str,
    ) {
        let windows = [day(1), day(2), day(3)];
        let v = verdict(&accounts(symbols), &windows, stopped);
        assert_eq!(v.status, status, "{v:?}");
        assert_eq!(summary_line(symbols.len() as u64, &v, tally), line, "{v:?}");
    }

    fn bars(stored: u64, rejected: u64) -> Tally {
        Tally {
            stored,
            rejected,
            ..Tally::default()
        }
    }

    #[test]
    fn the_status_and_the_line_say_what_is_left_uncovered() {
        check(
            &[("A", &[1, 2, 3], &[]), ("B", &[1, 2, 3], &[])],
            false,
            bars(11688, 0),
            RunStatus::Ok,
            "processed 2/2 symbols, 11,688 bars",
        );
        // A failed middle window is uncovered even though the later one succeeded.
        check(
            &[("A", &[1, 3], &["p: bad response"]), ("B", &[1, 2, 3], &[])],
            false,
            bars(10, 3),
            RunStatus::Partial,
            "processed 1/2 symbols, 10 bars (3 rejected), 1 range left uncovered (A 2024-01-02T00:00Z..2024-01-03T00:00Z), 1 failed: A: p: bad response",
        );
        check(
            &[("A", &[], &["p: unauthorized"])],
            false,
            bars(0, 0),
            RunStatus::Failed,
            "processed 0/1 symbols, 0 bars, 1 range left uncovered (A 2024-01-01T00:00Z..2024-01-04T00:00Z), 1 failed: A: p: unauthorized",
        );
        // Stopped: what is left is not a failure.
        check(
            &[("A", &[1], &[]), ("B", &[], &[])],
            true,
            Tally {
                stored: 5,
                spooled: 5,
                ..Tally::default()
            },
            RunStatus::Stopped,
            "processed 0/2 symbols, 5 bars, 5 of them spooled until the store is back, 2 ranges left uncovered (A 2024-01-02T00:00Z..2024-01-04T00:00Z, B 2024-01-01T00:00Z..2024-01-04T00:00Z), stopped on request",
        );
        // A run asked to stop that had nothing left is simply ok.
        check(
            &[("A", &[1, 2, 3], &[])],
            true,
            bars(1, 0),
            RunStatus::Ok,
            "processed 1/1 symbols, 1 bars",
        );
    }

    #[test]
    fn many_failures_are_cut_short_in_the_line() {
        let syms = ["A", "B", "C", "D", "E", "F", "G"];
        let rows: Vec<(&str, &[u32], &[&str])> =
            syms.iter().map(|s| (*s, &[][..], &["e"][..])).collect();
        let v = verdict(&accounts(&rows), &[day(1)], false);
        let line = summary_line(7, &v, bars(0, 0));
        assert!(
            line.ends_with("7 failed: A: e; B: e; C: e; D: e; E: e; … and 2 more"),
            "{line}"
        );
    }
}
