//! A 64-bit digest of a bar's values, stored beside each Postgres bar so that a batch can be
//! compared with what is stored by sending keys and digests only: a fully duplicate batch
//! then costs one small query instead of a transfer and decode of every decimal.
//!
//! Equal digests mean "unchanged", so the digest must never differ for bars the store
//! considers equal: decimals are hashed normalised (NUMERIC compares `1.10` equal to `1.1`).
//! Unequal values with equal digests would need a 64-bit collision; a digest that differs
//! for equal values only costs the full comparison. The algorithm (XXH3-64, seed 0, the
//! byte layout below) is part of the stored data: changing it needs a migration that
//! clears the column.

use rust_decimal::Decimal;
use xxhash_rust::xxh3::Xxh3;

use mdhost_core::domain::Bar;

fn decimal(h: &mut Xxh3, d: Decimal) {
    let n = d.normalize();
    h.update(&n.mantissa().to_le_bytes());
    h.update(&n.scale().to_le_bytes());
}

fn optional(h: &mut Xxh3, d: Option<Decimal>) {
    match d {
        Some(d) => {
            h.update(&[1]);
            decimal(h, d);
        }
        None => h.update(&[0]),
    }
}

/// The digest of the values a revision or a disagreement compares: prices, volume, vwap,
/// trades and `complete` (not the source or the times of ingestion).
pub fn of(b: &Bar) -> i64 {
    let mut h = Xxh3::new();
    for d in [b.open, b.high, b.low, b.close] {
        decimal(&mut h, d);
    }
    optional(&mut h, b.volume);
    optional(&mut h, b.vwap);
    match b.trades {
        Some(t) => {
            h.update(&[1]);
            h.update(&t.to_le_bytes());
        }
        None => h.update(&[0]),
    }
    h.update(&[u8::from(b.complete)]);
    // The column is BIGINT; the bits are what matter.
    h.digest() as i64
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn bar(open: &str, volume: Option<&str>, complete: bool) -> Bar {
        let d = |s: &str| s.parse::<Decimal>().unwrap();
        Bar {
            symbol: "AAPL".into(),
            timeframe: "1m".parse().unwrap(),
            start: Utc::now(),
            open: d(open),
            high: d("2"),
            low: d("1"),
            close: d("1.5"),
            volume: volume.map(d),
            vwap: None,
            trades: None,
            complete,
        }
    }

    fn check(a: Bar, b: Bar, equal: bool) {
        assert_eq!(of(&a) == of(&b), equal, "{a:?} vs {b:?}");
    }

    #[test]
    fn equal_values_share_a_digest_and_changes_do_not() {
        check(bar("1.10", None, true), bar("1.1", None, true), true);
        check(
            bar("1.1", Some("0"), true),
            bar("1.1", Some("0.000"), true),
            true,
        );
        check(bar("1.1", None, true), bar("1.2", None, true), false);
        check(bar("1.1", None, true), bar("1.1", Some("0"), true), false);
        check(bar("1.1", None, true), bar("1.1", None, false), false);
        // The symbol and start are the key, not part of the digest.
        let mut other = bar("1.1", None, true);
        other.symbol = "MSFT".into();
        check(bar("1.1", None, true), other, true);
    }
}
