//! The read API's keys: made from the OS's randomness, stored only as their SHA-256, each
//! with a scope (`admin`, or `read:` and symbol patterns) and a rate per minute.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// A new key: `mdk_` and 64 hex digits (256 random bits), shown to the operator once.
pub fn new_key() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(format!("mdk_{}", hex(&bytes)))
}

/// What is stored of a key: its SHA-256 in hex. A key carries 256 random bits, so a fast
/// hash is enough: there is nothing to guess from it.
pub fn hash(key: &str) -> String {
    hex(&Sha256::digest(key.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a key may read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Everything, the runs included.
    Admin,
    /// Series of the symbols matching one of the patterns (`AAPL`, `BTC/*`, `*`).
    Read(Vec<String>),
}

impl Scope {
    /// `admin` or `read:AAPL,BTC/*`.
    pub fn parse(text: &str) -> Result<Scope, String> {
        if text == "admin" {
            return Ok(Scope::Admin);
        }
        let patterns: Vec<String> = text
            .strip_prefix("read:")
            .ok_or_else(|| {
                format!(
                    "scope {text:?}: write admin, or read: and symbol patterns (read:AAPL,BTC/*)"
                )
            })?
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        if patterns.is_empty() {
            return Err(format!("scope {text:?} names no symbol pattern"));
        }
        if let Some(bad) = patterns.iter().find(|p| p[..p.len() - 1].contains('*')) {
            return Err(format!("pattern {bad:?}: `*` may only end a pattern"));
        }
        Ok(Scope::Read(patterns))
    }

    /// Whether series of `symbol` may be read.
    pub fn allows(&self, symbol: &str) -> bool {
        match self {
            Scope::Admin => true,
            Scope::Read(patterns) => patterns.iter().any(|p| match p.strip_suffix('*') {
                Some(prefix) => symbol.starts_with(prefix),
                None => p == symbol,
            }),
        }
    }
}

/// Requests per key in fixed one-minute windows.
#[derive(Debug, Default)]
pub struct RateLimits {
    windows: HashMap<String, (Instant, u32)>,
}

impl RateLimits {
    /// Counts a request of `key` at `now`; `Err` with the seconds until its window renews
    /// when the key has made `per_minute` already.
    pub fn take(&mut self, key: &str, per_minute: u32, now: Instant) -> Result<(), u64> {
        let minute = Duration::from_secs(60);
        let (start, used) = self.windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(*start) >= minute {
            *start = now;
            *used = 0;
        }
        if *used >= per_minute {
            let left = minute.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *used += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_stored_as_their_hash() {
        let (a, b) = (new_key().unwrap(), new_key().unwrap());
        assert_ne!(a, b);
        assert!(a.starts_with("mdk_") && a.len() == 68);
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Checks which symbols a scope's text allows, or its refusal.
    fn check(scope: &str, allowed: &[&str], refused: &[&str]) {
        let s = Scope::parse(scope).unwrap();
        for sym in allowed {
            assert!(s.allows(sym), "{scope} allows {sym}");
        }
        for sym in refused {
            assert!(!s.allows(sym), "{scope} refuses {sym}");
        }
    }

    #[test]
    fn scopes_match_symbol_patterns() {
        check("admin", &["AAPL", "BTC/USD"], &[]);
        check(
            "read:AAPL,BTC/*",
            &["AAPL", "BTC/USD", "BTC/USDT"],
            &["MSFT", "ETH/BTC", "AAPLX"],
        );
        check("read:*", &["ANY"], &[]);
        for bad in ["reader:AAPL", "read:", "read: , ", "read:B*C"] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_are_counted_per_key_per_minute() {
        let mut r = RateLimits::default();
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);
        assert_eq!(r.take("a", 2, at(0)), Ok(()));
        assert_eq!(r.take("a", 2, at(1)), Ok(()));
        assert_eq!(r.take("a", 2, at(20)), Err(40));
        assert_eq!(r.take("b", 2, at(20)), Ok(()), "another key has its own");
        assert_eq!(r.take("a", 2, at(60)), Ok(()), "a new minute");
    }
}
