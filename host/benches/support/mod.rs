//! What the benchmarks that run the service share: their knobs, the service's CPU time and
//! quantiles of the service's own histograms.

/// The number in environment variable `name`, or `default`.
pub fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User + system CPU seconds the process has used so far (Linux /proc, clock ticks of 1/100 s).
pub fn cpu_seconds(pid: u32) -> f64 /* float-ok: a CPU time report */ {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0 // float-ok: a CPU time report
}

/// The cumulative buckets (upper bound, count) of a Prometheus histogram in `metrics`,
/// in bound order.
pub fn buckets(metrics: &str, name: &str) -> Vec<(f64 /* float-ok */, u64)> {
    let mut out: Vec<(f64 /* float-ok */, u64)> = Vec::new();
    for line in metrics
        .lines()
        .filter(|l| l.starts_with(&format!("{name}_bucket{{")))
    {
        let le = line
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        let count: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
        let bound = if le == "+Inf" {
            f64::INFINITY
        } else {
            le.parse().unwrap()
        }; // float-ok
        out.push((bound, count));
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The `q` quantile of cumulative `buckets`, as the upper bound of the first bucket holding
/// it (so "≤ x"), and the sample count.
pub fn quantile_of(
    buckets: &[(f64 /* float-ok */, u64)],
    q: f64, /* float-ok */
) -> (f64 /* float-ok */, u64) {
    let total = buckets.last().map_or(0, |b| b.1);
    let want = (q * total as f64).ceil() as u64; // float-ok: report arithmetic
    let bound = buckets
        .iter()
        .find(|b| b.1 >= want)
        .map_or(f64::NAN, |b| b.0); // float-ok
    (bound, total)
}

/// The `q` quantile of a Prometheus histogram in `metrics` (see [`quantile_of`]).
pub fn quantile(
    metrics: &str,
    name: &str,
    q: f64, /* float-ok */
) -> (f64 /* float-ok */, u64) {
    quantile_of(&buckets(metrics, name), q)
}
