//! The NATS subject of each published row: `mdhost.<kind>.…`, one token per name, each
//! token escaped so that a symbol such as `BRK.B` stays one token.

use crate::store::OutboxRecord;

/// The prefix every subject starts with; the stream holds `mdhost.>`.
pub const PREFIX: &str = "mdhost";

/// The subject `record` is published on:
///
/// | record | subject |
/// |---|---|
/// | bar | `mdhost.bars.<timeframe>.<symbol>` |
/// | split, dividend | `mdhost.actions.split.<symbol>`, `mdhost.actions.dividend.<symbol>` |
/// | observation | `mdhost.observations.<series id>` |
/// | quality event | `mdhost.quality.<kind>.<symbol>` |
pub fn of(record: &OutboxRecord) -> String {
    let timeframe;
    let tokens: &[&str] = match record {
        OutboxRecord::Bar(b) => {
            timeframe = b.bar.timeframe.to_string();
            &["bars", &timeframe, &b.bar.symbol]
        }
        OutboxRecord::Split(s) => &["actions", "split", &s.action.symbol],
        OutboxRecord::Dividend(d) => &["actions", "dividend", &d.action.symbol],
        OutboxRecord::Observation(o) => &["observations", &o.item.series_id],
        OutboxRecord::Quality(q) => &["quality", &q.kind, &q.symbol],
    };
    let mut subject = PREFIX.to_owned();
    for t in tokens {
        subject.push('.');
        subject.push_str(&token(t));
    }
    subject
}

/// `name` as one subject token: `.`, `*`, `>`, `%`, whitespace and control characters
/// percent-encoded (`BRK.B` → `BRK%2EB`), everything else as it is (`BTC/USD`).
pub fn token(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '.' | '*' | '>' | '%') || c.is_whitespace() || c.is_control() {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, expected: &str) {
        assert_eq!(token(name), expected, "{name:?}");
    }

    #[test]
    fn tokens_escape_what_nats_reads_as_syntax() {
        check("AAPL", "AAPL");
        check("BTC/USD", "BTC/USD");
        check("BRK.B", "BRK%2EB");
        check("^GSPC", "^GSPC");
        check("a b", "a%20b");
        check("*>", "%2A%3E");
        check("50%", "50%25");
        check("action.revised", "action%2Erevised");
        check("é", "é");
    }
}
