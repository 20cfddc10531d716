//! Spike detection: the robust z-score of each log return against the recent ones, and a
//! plain cap on the close-to-close move.
//!
//! Everything is exact or integer: the log return is computed in 1e-18 fixed point from the
//! exact decimal closes (`ln(c/p) = 2·atanh((c−p)/(c+p))`, a series that converges fast for
//! the small moves between neighbouring bars), and the median and MAD are taken over those
//! integers. No binary float touches a price.

use std::collections::VecDeque;

use rust_decimal::Decimal;

/// Fixed-point scale of log returns: 1.0 is `ONE`.
pub const ONE: i128 = 1_000_000_000_000_000_000;

/// `ln(cur / prev)` in 1e-18 fixed point; `None` unless both are positive.
pub fn log_return(prev: Decimal, cur: Decimal) -> Option<i128> {
    if prev <= Decimal::ZERO || cur <= Decimal::ZERO {
        return None;
    }
    if prev == cur {
        return Some(0);
    }
    let mut u = (cur - prev).checked_div(cur + prev)?;
    u.rescale(18);
    let u = u.mantissa();
    // 2·(u + u³/3 + u⁵/5 + …); |u| < 1, and each term shrinks by u², so this stops as soon
    // as the terms fall below the fixed-point resolution.
    let u2 = u * u / ONE;
    let (mut power, mut sum, mut k) = (u, 0i128, 1i128);
    while power != 0 && k < 10_000 {
        sum += power / k;
        power = power * u2 / ONE;
        k += 2;
    }
    Some(2 * sum)
}

/// `1.4826·MAD` estimates the standard deviation of normal data; written as a ratio so the
/// comparison stays in integers.
const MAD_TO_SIGMA_NUM: i128 = 14_826;
const MAD_TO_SIGMA_DEN: i128 = 10_000;

/// Recent log returns of one series and the robust z-score of a new one against them.
///
/// The returns are kept twice: in arrival order (to forget the oldest) and sorted (so the
/// median is an index and the MAD a short merge walk, rather than two selections per bar:
/// scoring runs once for every bar validated).
#[derive(Debug, Clone, Default)]
pub struct Window {
    returns: VecDeque<i128>,
    sorted: Vec<i128>,
    capacity: usize,
}

/// A return that stands out, with its robust z-score (in hundredths, for the message).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spike {
    pub log_return: i128,
    pub z_hundredths: i128,
}

impl Window {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Window {
            returns: VecDeque::with_capacity(capacity),
            sorted: Vec::with_capacity(capacity),
            capacity,
        }
    }

    pub fn len(&self) -> usize {
        self.returns.len()
    }

    pub fn push(&mut self, r: i128) {
        if self.returns.len() == self.capacity
            && let Some(old) = self.returns.pop_front()
            && let Ok(at) = self.sorted.binary_search(&old)
        {
            self.sorted.remove(at);
        }
        self.returns.push_back(r);
        let at = self.sorted.partition_point(|&v| v < r);
        self.sorted.insert(at, r);
    }

    /// The median of the window; the mean of the two middle values when their number is even.
    fn median(&self) -> i128 {
        let n = self.sorted.len();
        if n % 2 == 1 {
            self.sorted[n / 2]
        } else {
            (self.sorted[n / 2 - 1] + self.sorted[n / 2]) / 2
        }
    }

    /// The median absolute deviation from `m`. The deviations of the values below `m` grow
    /// leftwards from it and those above grow rightwards, so walking outwards from `m` and
    /// taking the smaller each step visits the deviations in ascending order.
    fn mad(&self, m: i128) -> i128 {
        let v = &self.sorted;
        let n = v.len();
        let split = v.partition_point(|&x| x <= m);
        let (mut left, mut right) = (split, split); // next: v[left - 1], v[right]
        let (mut prev, mut cur) = (0, 0);
        for _ in 0..=n / 2 {
            prev = cur;
            let l = (left > 0).then(|| m - v[left - 1]);
            let r = (right < n).then(|| v[right] - m);
            cur = match (l, r) {
                (Some(l), Some(r)) if l <= r => {
                    left -= 1;
                    l
                }
                (Some(l), None) => {
                    left -= 1;
                    l
                }
                (_, Some(r)) => {
                    right += 1;
                    r
                }
                (None, None) => unreachable!("n / 2 + 1 steps over n values"),
            };
        }
        if n % 2 == 1 { cur } else { (prev + cur) / 2 }
    }

    /// Scores `r` against the returns in the window (not including `r`). `z_limit` is the
    /// threshold as a decimal; `None` when `r` is within it or the window cannot judge
    /// (all recent returns equal: MAD is zero).
    pub fn score(&mut self, r: i128, z_limit: Decimal) -> Option<Spike> {
        if self.returns.is_empty() {
            return None;
        }
        let median = self.median();
        let mad = self.mad(median);
        if mad == 0 {
            return None;
        }
        let dev = (r - median).abs();
        let sigma_num = mad * MAD_TO_SIGMA_NUM; // σ · MAD_TO_SIGMA_DEN
        let mut limit = z_limit;
        limit.rescale(4);
        let limit = limit.mantissa(); // z_limit · 10⁴
        // dev / σ > z_limit  ⇔  dev · 10⁴ · DEN > z_limit·10⁴ · σ·DEN
        if dev * 10_000 * MAD_TO_SIGMA_DEN > limit * sigma_num {
            Some(Spike {
                log_return: r,
                z_hundredths: dev * 100 * MAD_TO_SIGMA_DEN / sigma_num,
            })
        } else {
            None
        }
    }
}

/// `|cur/prev − 1| > max_jump`, exactly.
pub fn exceeds_jump(prev: Decimal, cur: Decimal, max_jump: Decimal) -> bool {
    if prev.is_zero() {
        return false;
    }
    (cur - prev).abs() > max_jump * prev.abs()
}

/// Prints a 1e-18 fixed-point value as a decimal.
pub fn fixed_to_decimal(v: i128) -> Decimal {
    Decimal::try_from_i128_with_scale(v, 18)
        .map(|d| d.round_dp(6).normalize())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn check_ln(prev: &str, cur: &str, expected: &str) {
        let got = log_return(d(prev), d(cur)).map(fixed_to_decimal);
        assert_eq!(got, Some(d(expected)), "ln({cur}/{prev})");
    }

    #[test]
    fn log_returns_are_exact_to_the_sixth_decimal() {
        check_ln("1", "2", "0.693147");
        check_ln("2", "1", "-0.693147");
        check_ln("100", "101", "0.00995");
        check_ln("189.84", "189.85", "0.000053");
        check_ln("1", "1000", "6.907755");
        check_ln("5", "5", "0");
        assert_eq!(log_return(d("0"), d("1")), None);
        assert_eq!(log_return(d("1"), d("-1")), None);
    }

    fn window(returns: &[i128]) -> Window {
        let mut w = Window::new(50);
        for &r in returns {
            w.push(r);
        }
        w
    }

    #[test]
    fn a_return_far_outside_the_recent_spread_is_a_spike() {
        // Returns alternating ±10 bp: median 0, MAD 10 bp, σ ≈ 14.8 bp.
        let bp = ONE / 10_000;
        let calm: Vec<i128> = (0..30)
            .map(|i| if i % 2 == 0 { bp * 10 } else { -bp * 10 })
            .collect();
        let mut w = window(&calm);
        assert_eq!(w.score(bp * 100, d("12")), None, "6.7 sigma is within 12");
        let s = w.score(bp * 500, d("12")).expect("33.7 sigma is a spike");
        assert_eq!(s.z_hundredths, 3372);
        assert_eq!(
            w.score(-bp * 500, d("12")).map(|s| s.z_hundredths),
            Some(3372)
        );
        // A flat series has no spread to judge against.
        let mut flat = window(&[0; 30]);
        assert_eq!(flat.score(bp * 500, d("12")), None);
    }

    #[test]
    fn the_window_forgets_old_returns() {
        let mut w = Window::new(3);
        for r in [1, 2, 3, 4, 5] {
            w.push(r);
        }
        assert_eq!(w.len(), 3);
        assert_eq!(w.returns.iter().copied().collect::<Vec<_>>(), vec![3, 4, 5]);
    }

    /// The median and MAD as the definition gives them: sort, take the middle.
    fn by_definition(values: &[i128]) -> (i128, i128) {
        let middle = |mut v: Vec<i128>| {
            v.sort();
            let n = v.len();
            if n % 2 == 1 {
                v[n / 2]
            } else {
                (v[n / 2 - 1] + v[n / 2]) / 2
            }
        };
        let m = middle(values.to_vec());
        (m, middle(values.iter().map(|v| (v - m).abs()).collect()))
    }

    proptest::proptest! {
        #[test]
        fn median_and_mad_match_their_definition(
            values in proptest::collection::vec(-1_000_000i128..1_000_000, 1..40),
            capacity in 2usize..20,
        ) {
            let mut w = Window::new(capacity);
            for &v in &values {
                w.push(v);
                let recent: Vec<i128> = w.returns.iter().copied().collect();
                let (m, mad) = by_definition(&recent);
                proptest::prop_assert_eq!(w.median(), m);
                proptest::prop_assert_eq!(w.mad(m), mad);
            }
        }
    }

    #[test]
    fn jumps_compare_exactly() {
        assert!(!exceeds_jump(d("100"), d("150"), d("0.5")));
        assert!(exceeds_jump(d("100"), d("150.000000001"), d("0.5")));
        assert!(exceeds_jump(d("100"), d("49.99"), d("0.5")));
    }
}
