//! The conformance checklist every plugin must pass: `describe` is valid, stable and true
//! to what the plugin does; and for every case: strict replay, golden output, validation,
//! daily bars keyed by a trading date, terminating pagination, classified errors, exact
//! resumption from every cursor, and identical output on a second run.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use chrono::NaiveDate;

use super::case::{CaseFiles, End, Outcome};
use super::cassette::{Answer, CaseKind, CaseSpec, Cassette, write_atomically};
use super::gathered;
use super::golden;
use super::report::{CheckResult, PLUGIN_CASE};
use super::runner::{Harness, Run};
use super::validate::bar_violations;
use mdhost_core::domain::{
    AssetClass, BarsRequest, ClassSet, DataKind, ProviderInfo, RawBar, TimeUnit, Timeframe,
};
use mdhost_core::validate::Calendar;
use mdhost_core::validate::Policies;
use mdhost_runtime::capabilities::grant::HostPattern;

// ---- The plugin as a whole ------------------------------------------------------------

/// What is wrong with a `describe` answer beyond what the runtime's boundary already refuses.
pub fn describe_problems(info: &ProviderInfo) -> Vec<String> {
    let mut p = Vec::new();
    let name_ok = !info.name.is_empty()
        && info
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !info.name.starts_with('-')
        && !info.name.ends_with('-');
    if !name_ok {
        p.push(format!(
            "name {:?}: lowercase ASCII letters, digits and '-' only",
            info.name
        ));
    }
    let core = info.version.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3
        || parts
            .iter()
            .any(|n| n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()))
    {
        p.push(format!(
            "version {:?} is not a semantic version (1.2.3)",
            info.version
        ));
    }
    if info.description.trim().is_empty() {
        p.push("description is empty".into());
    }
    if info.asset_classes.is_empty() {
        p.push("asset-classes is empty".into());
    }
    // A plugin of economic series or listings only has no timeframes; one that serves
    // bars must name them, and one that serves nothing is no plugin.
    if info.kinds.is_empty() {
        p.push("kinds is empty: the plugin offers nothing".into());
    } else if info.timeframes.is_empty() && info.kinds.contains(&DataKind::Bars) {
        p.push("timeframes is empty: the plugin serves bars in none".into());
    }
    let unique: BTreeSet<_> = info.timeframes.iter().collect();
    if unique.len() != info.timeframes.len() {
        p.push("timeframes lists a timeframe twice".into());
    }
    if info.allowed_hosts.is_empty() {
        p.push("allowed-hosts is empty: every request would be denied".into());
    }
    let mut names = BTreeSet::new();
    for s in &info.secrets {
        if s.is_empty()
            || !s
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            p.push(format!(
                "secret name {s:?}: lowercase letters, digits and '_' only"
            ));
        }
        if !names.insert(s) {
            p.push(format!("secret {s:?} is listed twice"));
        }
    }
    p
}

/// Every `{{secret:NAME}}` placeholder in a text.
fn placeholders(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("{{secret:") {
        let after = &rest[i + "{{secret:".len()..];
        match after.find("}}") {
            Some(j) => {
                out.push(after[..j].to_owned());
                rest = &after[j + 2..];
            }
            None => break,
        }
    }
    out
}

/// A timeframe whose unit the plugin does not offer at all, if there is one.
fn foreign_timeframe(info: &ProviderInfo) -> Option<Timeframe> {
    use TimeUnit::*;
    [Second, Minute, Hour, Day, Week, Month]
        .into_iter()
        .find(|u| info.timeframes.iter().all(|t| t.unit != *u))
        .map(|u| Timeframe::new(u, 1))
}

/// Checks of the plugin as a whole: `describe` valid and stable, and consistent with the
/// requests its cases make and with how it answers requests outside what it declares.
pub fn plugin_checks(h: &Harness, cassettes: &[Arc<Cassette>]) -> Vec<CheckResult> {
    let info = h.info();
    let mut out = Vec::new();
    let mut problems = describe_problems(info);
    match h.describe_again() {
        Ok(again) if &again == info => {}
        Ok(_) => problems.push("describe answered differently in a second instance".into()),
        Err(e) => problems.push(format!(
            "{}: describe failed the second time: {e}",
            h.origin()
        )),
    }
    out.push(CheckResult::from_problems(
        PLUGIN_CASE,
        "describe",
        problems,
        "valid and stable",
    ));

    // What the cases send must stay within what describe declares.
    let hosts: Vec<HostPattern> = info
        .allowed_hosts
        .iter()
        .filter_map(|h| HostPattern::parse(h).ok())
        .collect();
    let mut problems = Vec::new();
    for c in cassettes {
        for (i, x) in c.exchanges.iter().enumerate() {
            let at = format!("{}: exchanges[{i}]", c.file.display());
            let host = url::Url::parse(&x.request.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned))
                .unwrap_or_default();
            if !hosts.iter().any(|p| p.matches(&host)) {
                problems.push(format!(
                    "{at}: host {host:?} is not in allowed-hosts ({})",
                    info.allowed_hosts.join(", ")
                ));
            }
            let mut texts = vec![x.request.url.clone()];
            texts.extend(x.request.headers.iter().map(|(_, v)| v.clone()));
            texts.extend(
                x.request
                    .body
                    .as_deref()
                    .map(|b| String::from_utf8_lossy(b).into_owned()),
            );
            for name in texts.iter().flat_map(|t| placeholders(t)) {
                if !info.secrets.contains(&name) {
                    problems.push(format!(
                        "{at}: uses secret {name:?}, which describe does not list in secrets"
                    ));
                }
            }
        }
        if let Some(case) = &c.case
            && case.kind == CaseKind::Bars
            && !info.timeframes.contains(&case.request.timeframe)
            && case.expect.error.as_deref() != Some("unsupported")
        {
            problems.push(format!(
                "{}: asks for timeframe {}, which describe does not offer",
                c.file.display(),
                case.request.timeframe
            ));
        }
    }
    out.push(CheckResult::from_problems(
        PLUGIN_CASE,
        "describe-matches-requests",
        problems,
        "every request stays on allowed hosts and uses declared secrets",
    ));
    out.push(probe_checks(h, cassettes));
    out
}

/// Asks for what describe does not offer, and for every timeframe it does, against an
/// empty cassette: refusals must be `unsupported` without a request; offered timeframes
/// must get as far as a request.
fn probe_checks(h: &Harness, cassettes: &[Arc<Cassette>]) -> CheckResult {
    let info = h.info();
    let empty = Arc::new(Cassette {
        file: "(empty cassette)".into(),
        ..Cassette::default()
    });
    // A symbol the plugin serves bars of, from a bars case that ends well.
    let symbol = cassettes
        .iter()
        .filter_map(|c| c.case.as_ref())
        .find(|c| c.kind == CaseKind::Bars && c.expect.error.is_none())
        .and_then(|c| c.request.symbols.first().cloned())
        .unwrap_or_else(|| "AAPL".into());
    let base = BarsRequest {
        symbols: vec![symbol],
        timeframe: info
            .timeframes
            .first()
            .copied()
            .unwrap_or(Timeframe::new(TimeUnit::Day, 1)),
        start: "2024-01-02T00:00:00Z".parse().expect("valid time"),
        end: "2024-01-03T00:00:00Z".parse().expect("valid time"),
        cursor: None,
    };
    let mut problems = Vec::new();
    let mut refused = |what: String, req: BarsRequest| {
        let run = h.run(empty.clone(), &req);
        let sent = run.log.misses.len() + run.log.used.len();
        match &run.outcome.end {
            End::ProviderError { kind, .. } if kind == "unsupported" && sent == 0 => {}
            other => problems.push(format!(
                "{what}: expected `unsupported` without a request; after {sent} request(s) the call ended with: {}",
                other
            )),
        }
    };
    if let Some(tf) = foreign_timeframe(info) {
        refused(
            format!("timeframe {tf} (a unit describe does not list)"),
            BarsRequest {
                timeframe: tf,
                ..base.clone()
            },
        );
    }
    let max = info.max_symbols_per_request as usize;
    if max < 1000 {
        refused(
            format!("{} symbols (max-symbols-per-request is {max})", max + 1),
            BarsRequest {
                symbols: (0..=max)
                    .map(|i| format!("{}{i}", base.symbols[0]))
                    .collect(),
                ..base.clone()
            },
        );
    }
    for tf in &info.timeframes {
        let run = h.run(
            empty.clone(),
            &BarsRequest {
                timeframe: *tf,
                ..base.clone()
            },
        );
        if let End::ProviderError { kind, message } = &run.outcome.end
            && kind == "unsupported"
        {
            problems.push(format!(
                "timeframe {tf} is listed by describe but refused: {message}"
            ));
        }
    }
    CheckResult::from_problems(
        PLUGIN_CASE,
        "describe-matches-behaviour",
        problems,
        "offered timeframes are accepted; undeclared ones are refused as unsupported",
    )
}

// ---- One case ---------------------------------------------------------------------------

/// Runs every check of one case. With `bless`, the golden file is rewritten instead of
/// compared.
pub fn case_checks(
    h: &Harness,
    files: &CaseFiles,
    cassette: &Arc<Cassette>,
    bless: bool,
) -> Vec<CheckResult> {
    let name = files.name.as_str();
    if let Some(spec) = cassette.case.as_ref().filter(|c| c.kind != CaseKind::Bars) {
        return gathered_case_checks(h, files, cassette, spec, bless);
    }
    let Some(spec) = &cassette.case else {
        return vec![CheckResult::new(
            name,
            "cassette",
            false,
            format!(
                "{}: has no `case:` section, so there is no request to make",
                files.cassette.display()
            ),
        )];
    };
    let first = h.run(cassette.clone(), &spec.request);
    // A run that strayed from the cassette answered with what the replay made up (an
    // unmatched request's transport error): nothing is blessed from it.
    let clean = first.log.misses.is_empty();
    let golden = match (bless, clean) {
        (true, false) => not_blessed(name, &first.log.misses),
        _ => golden_check(name, files, &golden::render(&first.outcome), bless),
    };
    // A sandbox failure is never blessed (a plugin must classify its errors): the errors
    // check reports it as in any run.
    let sandboxed = matches!(first.outcome.end, End::CallError { .. });
    let errors = if bless && clean && !sandboxed {
        bless_expected_error(name, files, &first.outcome.end)
    } else {
        errors_check(name, h, cassette, spec, &first)
    };
    vec![
        replay_check(name, &first.strict_failures, cassette),
        golden,
        validation_check(name, spec, h.info().classes(), &first.outcome),
        trading_date_check(name, spec, h.info().classes(), &first.outcome),
        pagination_check(name, &first.outcome),
        errors,
        resume_check(name, h, cassette, spec, &first.outcome),
        determinism_check(name, h, cassette, spec, &first),
    ]
}

/// Strict replay: every request matched an exchange, every exchange was used.
fn replay_check(name: &str, failures: &[String], cassette: &Cassette) -> CheckResult {
    CheckResult::from_problems(
        name,
        "replay",
        failures.to_vec(),
        &format!("{} exchange(s), all used", cassette.exchanges.len()),
    )
}

/// The golden check of a run whose plugin asked for something the cassette does not have.
fn not_blessed(name: &str, misses: &[String]) -> CheckResult {
    CheckResult::new(
        name,
        "golden",
        false,
        format!(
            "not blessed: the plugin made a request the cassette does not have ({}); a golden is written only from a replay that answered every request",
            misses
                .first()
                .and_then(|m| m.lines().next())
                .unwrap_or_default()
        ),
    )
}

/// The checks of a case of a gathered kind (actions, series, instruments): replay, golden,
/// the host's rules for its kind, how it ended, determinism.
fn gathered_case_checks(
    h: &Harness,
    files: &CaseFiles,
    cassette: &Arc<Cassette>,
    spec: &CaseSpec,
    bless: bool,
) -> Vec<CheckResult> {
    let name = files.name.as_str();
    let first = h.run_gathered(cassette.clone(), &gathered::request(spec));
    let clean = first.log.misses.is_empty();
    let golden = match (bless, clean) {
        (true, false) => not_blessed(name, &first.log.misses),
        _ => golden_check(name, files, &gathered::render(&first), bless),
    };
    let sandboxed = matches!(first.end, End::CallError { .. });
    let errors = if bless && clean && !sandboxed {
        bless_expected_error(name, files, &first.end)
    } else {
        CheckResult::from_problems(
            name,
            "errors",
            end_problems(h.origin(), spec, &first.end),
            "as expected",
        )
    };
    vec![
        replay_check(name, &first.strict_failures, cassette),
        golden,
        gathered::validation_check(name, spec, &first),
        errors,
        gathered::determinism_check(name, h, cassette, spec, &first),
    ]
}

/// What is wrong with how a case ended: a sandbox failure, or not the error it expects.
fn end_problems(origin: &str, spec: &CaseSpec, end: &End) -> Vec<String> {
    let mut problems = Vec::new();
    if let End::CallError { kind, message } = end {
        problems.push(format!(
            "{origin}: the call failed in the sandbox ({kind}): {message}; a plugin must return a classified provider-error, never trap"
        ));
    }
    match (&spec.expect.error, end.error_kind()) {
        (Some(want), got) if got != Some(want.as_str()) => problems.push(format!(
            "expected the case to end with {want}, it ended with {end}"
        )),
        (None, Some(_)) => problems.push(format!(
            "the case ended with {end}, but declares no `expect: {{error: …}}`"
        )),
        _ => {}
    }
    problems
}

/// With `--bless` after a clean replay: the case's `expect.error` made to say how the run
/// ended (written into the cassette), so an error case is blessed whole.
fn bless_expected_error(name: &str, files: &CaseFiles, end: &End) -> CheckResult {
    let path = &files.cassette;
    let edit = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))
        .and_then(|text| {
            crate::bless::expected_error(&text, end.error_kind())
                .map_err(|e| format!("{}: {e}", path.display()))
        });
    match edit {
        Ok(None) => CheckResult::new(name, "errors", true, ""),
        Ok(Some(text)) => match write_atomically(path, text.as_bytes()) {
            Ok(()) => CheckResult::new(
                name,
                "errors",
                true,
                format!(
                    "blessed expect.error = {} in {}",
                    end.error_kind().unwrap_or("(none)"),
                    path.display()
                ),
            ),
            Err(e) => CheckResult::new(
                name,
                "errors",
                false,
                format!("{}: cannot write: {e}", path.display()),
            ),
        },
        Err(m) => CheckResult::new(name, "errors", false, m),
    }
}

fn golden_check(name: &str, files: &CaseFiles, actual: &str, bless: bool) -> CheckResult {
    let path = &files.golden;
    if bless {
        return match write_atomically(path, actual.as_bytes()) {
            Ok(()) => CheckResult::new(name, "golden", true, format!("blessed {}", path.display())),
            Err(e) => CheckResult::new(
                name,
                "golden",
                false,
                format!("{}: cannot write: {e}", path.display()),
            ),
        };
    }
    match std::fs::read_to_string(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => CheckResult::new(
            name,
            "golden",
            false,
            format!(
                "{}: missing; run `mdhost plugin test … --bless` to write it from the current output",
                path.display()
            ),
        ),
        Err(e) => CheckResult::new(
            name,
            "golden",
            false,
            format!("{}: cannot read: {e}", path.display()),
        ),
        Ok(expected) => match golden::diff(&expected, actual, path) {
            None => CheckResult::new(name, "golden", true, ""),
            Some(d) => CheckResult::new(
                name,
                "golden",
                false,
                format!(
                    "{} differs from the output (rerun with --bless if the change is intended):\n{d}",
                    path.display()
                ),
            ),
        },
    }
}

fn validation_check(
    name: &str,
    spec: &CaseSpec,
    classes: ClassSet,
    outcome: &Outcome,
) -> CheckResult {
    let mut problems = Vec::new();
    let mut declared: Vec<bool> = vec![false; spec.expect.quarantine.len()];
    for bar in &outcome.bars {
        let reasons = bar_violations(bar, &spec.request, classes);
        if reasons.is_empty() {
            continue;
        }
        let mut covered = false;
        for (i, q) in spec.expect.quarantine.iter().enumerate() {
            if q.start == bar.start && reasons.iter().any(|r| r.contains(&q.reason)) {
                declared[i] = true;
                covered = true;
            }
        }
        if !covered {
            problems.push(format!(
                "bar {} {} {} fails validation: {}",
                bar.symbol,
                bar.timeframe,
                bar.start,
                reasons.join("; ")
            ));
        }
    }
    for (q, seen) in spec.expect.quarantine.iter().zip(declared) {
        if !seen {
            problems.push(format!(
                "the case expects the bar at {} to be quarantined ({:?}), but no bar there fails that way",
                q.start, q.reason
            ));
        }
    }
    let n = outcome.bars.len();
    CheckResult::from_problems(
        name,
        "validation",
        problems,
        &format!(
            "{n} bar(s), {} expected quarantine",
            spec.expect.quarantine.len()
        ),
    )
}

/// Whether an instrument of `class` trades on `date`, and by which rule; `None` for
/// classes without sessions (commodities, economic series). The host knows the US equity
/// calendar only, so a ticker with an exchange suffix (`WSU.DE`), or a US date outside the
/// calendar crate's years, is held to weekdays, on which every exchange's sessions fall.
fn trades_on(class: AssetClass, symbol: &str, date: NaiveDate) -> Option<(bool, &'static str)> {
    let weekday = Calendar::Fx24x5.is_trading_day(date)?;
    let listed_abroad = symbol.rsplit_once('.').is_some_and(|(_, suffix)| {
        suffix.len() >= 2 && suffix.bytes().all(|b| b.is_ascii_alphabetic())
    });
    Some(match class {
        AssetClass::Equity | AssetClass::Etf | AssetClass::Index if listed_abroad => {
            (weekday, "weekdays: no calendar for its exchange")
        }
        AssetClass::Equity | AssetClass::Etf | AssetClass::Index => {
            match Calendar::UsEquity.is_trading_day(date) {
                Some(open) => (open, "the US equity calendar"),
                None => (weekday, "weekdays: outside the US calendar's years"),
            }
        }
        AssetClass::Forex => (weekday, "Monday to Friday"),
        AssetClass::Crypto => (true, "every day"),
        AssetClass::Commodity | AssetClass::Economic => return None,
    })
}

/// What is wrong with the keys of daily bars: each must be 00:00:00 UTC of a date on which
/// its asset class has a session (docs/design.md §1: a daily bar is keyed by its trading date).
/// A provider stamp read in the wrong zone moves a bar by a day, which puts Monday's bar on
/// a Sunday or Friday's on a Saturday; the golden file pins the exact dates of a case.
fn trading_date_problems(bars: &[RawBar], class_of: impl Fn(&str) -> AssetClass) -> Vec<String> {
    let mut out = Vec::new();
    for bar in bars
        .iter()
        .filter(|b| b.timeframe == Timeframe::new(TimeUnit::Day, 1))
    {
        let at = format!("bar {} {} {}", bar.symbol, bar.timeframe, bar.start);
        let date = bar.start.date_naive();
        if bar.start != date.and_time(chrono::NaiveTime::MIN).and_utc() {
            out.push(format!(
                "{at}: a daily bar is keyed at 00:00:00 UTC of its trading date"
            ));
            continue;
        }
        let class = class_of(&bar.symbol);
        if let Some((false, rule)) = trades_on(class, &bar.symbol, date) {
            out.push(format!(
                "{at}: {} {date} is not a trading date of {} ({rule}); a daily bar is keyed by the trading date of its session, and a provider stamp read in the wrong zone moves it a day",
                date.format("%A"),
                class.as_str()
            ));
        }
    }
    out
}

fn trading_date_check(
    name: &str,
    spec: &CaseSpec,
    declared: ClassSet,
    outcome: &Outcome,
) -> CheckResult {
    // The case's `asset_class` stands in for the `[validation.instruments]` entry an
    // operator would write; without one, the symbol is read as the service reads it.
    let policies = Policies::default();
    let class_of = |symbol: &str| {
        spec.asset_class
            .unwrap_or_else(|| policies.class_of(symbol, declared))
    };
    let ok = if spec.request.timeframe == Timeframe::new(TimeUnit::Day, 1) {
        format!(
            "{} daily bar(s), each at 00:00 UTC of a trading date",
            outcome.bars.len()
        )
    } else {
        "not a daily case".to_owned()
    };
    CheckResult::from_problems(
        name,
        "trading-date",
        trading_date_problems(&outcome.bars, class_of),
        &ok,
    )
}

/// Bars that appear more than once (symbol, timeframe, start), as messages.
fn duplicates(outcome: &Outcome) -> Vec<String> {
    let mut page_of = Vec::new();
    for (p, page) in outcome.pages.iter().enumerate() {
        page_of.extend(std::iter::repeat_n(p + 1, page.bars));
    }
    let mut seen: HashMap<(&str, String, i64), usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, b) in outcome.bars.iter().enumerate() {
        let key = (
            b.symbol.as_str(),
            b.timeframe.to_string(),
            b.start.timestamp(),
        );
        let page = page_of.get(i).copied().unwrap_or(0);
        if let Some(first) = seen.insert(key, page) {
            out.push(format!(
                "bar {} {} {} appears twice (pages {first} and {page})",
                b.symbol, b.timeframe, b.start
            ));
        }
    }
    out
}

fn pagination_check(name: &str, outcome: &Outcome) -> CheckResult {
    let mut problems = Vec::new();
    if let End::Stopped { message } = &outcome.end {
        problems.push(message.clone());
    }
    problems.extend(duplicates(outcome));
    CheckResult::from_problems(
        name,
        "pagination",
        problems,
        &format!("{} page(s), no duplicate bars", outcome.pages.len()),
    )
}

fn errors_check(
    name: &str,
    h: &Harness,
    cassette: &Cassette,
    spec: &CaseSpec,
    run: &Run,
) -> CheckResult {
    let end = &run.outcome.end;
    let mut problems = end_problems(h.origin(), spec, end);
    // The last answer the plugin saw decides what a well-classified error must be.
    if let Some(&last) = run.log.used.last()
        && let Some(x) = cassette.exchanges.get(last)
        && let End::ProviderError { kind, message } = end
    {
        let required = match &x.answer {
            Answer::Response(r) if r.status == 429 => Some("rate-limited"),
            Answer::Response(r) if (500..600).contains(&r.status) => Some("transient"),
            Answer::Fault(_) => Some("transient"),
            _ => None,
        };
        if let Some(req) = required
            && req != kind
        {
            problems.push(format!(
                "the last answer (exchanges[{last}]) calls for {req}, the plugin returned {kind} ({message})"
            ));
        }
        if let Answer::Response(r) = &x.answer
            && r.status == 429
            && let Some(secs) = r
                .headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("retry-after"))
                .and_then(|(_, v)| v.trim().parse::<u32>().ok())
            && !message.contains(&format!("retry in {secs} s"))
        {
            problems.push(format!(
                "the 429 said Retry-After: {secs}, the plugin's rate-limited error does not carry it ({message})"
            ));
        }
    }
    let ok = match end.error_kind() {
        Some(k) => format!("ends with {k}, as expected"),
        None => "no error".into(),
    };
    CheckResult::from_problems(name, "errors", problems, &ok)
}

fn resume_check(
    name: &str,
    h: &Harness,
    cassette: &Arc<Cassette>,
    spec: &CaseSpec,
    full: &Outcome,
) -> CheckResult {
    let mut problems = Vec::new();
    for i in 1..full.pages.len() {
        let Some(cursor) = full.pages[i].cursor.clone() else {
            continue;
        };
        let req = BarsRequest {
            cursor: Some(cursor.clone()),
            ..spec.request.clone()
        };
        // Resuming skips earlier pages, so their exchanges go unused: only unmatched
        // requests count here.
        let resumed = h.run(cassette.clone(), &req);
        let at = format!("resuming at page {} (cursor {cursor:?})", i + 1);
        problems.extend(resumed.log.misses.iter().map(|m| format!("{at}: {m}")));
        let skip = full.bars_before_page(i);
        let expected = &full.bars[skip..];
        let got = &resumed.outcome.bars;
        if got != expected {
            let key = |b: &mdhost_core::domain::RawBar| (b.symbol.clone(), b.start);
            let want: BTreeSet<_> = expected.iter().map(key).collect();
            let have: BTreeSet<_> = got.iter().map(key).collect();
            let gaps: Vec<String> = want
                .difference(&have)
                .map(|(s, t)| format!("{s} {t}"))
                .take(5)
                .collect();
            let extra: Vec<String> = have
                .difference(&want)
                .map(|(s, t)| format!("{s} {t}"))
                .take(5)
                .collect();
            let dups = duplicates(&Outcome {
                pages: vec![],
                bars: full.bars[..skip].iter().chain(got).cloned().collect(),
                end: End::Complete,
            });
            let mut m = format!(
                "{at}: {} bar(s) where the full run had {} from there",
                got.len(),
                expected.len()
            );
            if !gaps.is_empty() {
                m.push_str(&format!("; gap: missing {}", gaps.join(", ")));
            }
            if !extra.is_empty() {
                m.push_str(&format!("; not in the full run: {}", extra.join(", ")));
            }
            if let Some(d) = dups.first() {
                m.push_str(&format!("; duplicate: {d}"));
            }
            if gaps.is_empty() && extra.is_empty() && dups.is_empty() {
                m.push_str("; same bars, different values or order");
            }
            problems.push(m);
        }
        if resumed.outcome.end != full.end {
            problems.push(format!(
                "{at}: ended with {}, the full run with {}",
                resumed.outcome.end, full.end
            ));
        }
    }
    let n = full.pages.len().saturating_sub(1);
    CheckResult::from_problems(
        name,
        "resume",
        problems,
        &if n == 0 {
            "no intermediate cursor: nothing to resume".to_owned()
        } else {
            format!("{n} cursor(s), same bars from each")
        },
    )
}

fn determinism_check(
    name: &str,
    h: &Harness,
    cassette: &Arc<Cassette>,
    spec: &CaseSpec,
    first: &Run,
) -> CheckResult {
    let second = h.run(cassette.clone(), &spec.request);
    let mut problems = Vec::new();
    if second.outcome != first.outcome {
        let d = golden::diff(
            &golden::render(&first.outcome),
            &golden::render(&second.outcome),
            std::path::Path::new("first run"),
        )
        .unwrap_or_else(|| "(same rendering, different values)".into());
        problems.push(format!("a second run gave different output:\n{d}"));
    }
    if second.log.used != first.log.used {
        problems.push(format!(
            "a second run used exchanges {:?}, the first {:?}",
            second.log.used, first.log.used
        ));
    }
    CheckResult::from_problems(name, "deterministic", problems, "two runs, same output")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `describe_problems` says of a plugin serving `kinds` in `timeframes`, by the
    /// fragment of its one problem (`None`: no problem).
    fn check_kinds(kinds: &[DataKind], timeframes: &[&str], expected: Option<&str>) {
        let info = ProviderInfo {
            name: "p".into(),
            version: "1.0.0".into(),
            description: "d".into(),
            kinds: kinds.to_vec(),
            asset_classes: vec![AssetClass::Economic],
            timeframes: timeframes.iter().map(|t| t.parse().unwrap()).collect(),
            allowed_hosts: vec!["example.com".into()],
            secrets: vec![],
            default_rate_limit: mdhost_core::domain::RateLimit {
                requests: 1,
                per_seconds: 1,
            },
            default_quotas: vec![],
            max_symbols_per_request: 1,
            streaming: false,
            options: vec![],
        };
        one_problem(&describe_problems(&info), expected, &kinds);
    }

    /// No problem when `expected` is `None`, else exactly one, containing `expected`.
    fn one_problem(problems: &[String], expected: Option<&str>, of: &dyn std::fmt::Debug) {
        match expected {
            None => assert!(problems.is_empty(), "{of:?}: {problems:?}"),
            Some(f) => assert!(
                problems.len() == 1 && problems[0].contains(f),
                "{of:?}: expected {f:?}, got {problems:?}"
            ),
        }
    }

    #[test]
    fn a_plugin_without_bars_needs_no_timeframes() {
        check_kinds(&[DataKind::EconomicSeries], &[], None);
        check_kinds(&[DataKind::Instruments], &[], None);
        check_kinds(&[DataKind::Bars], &["1d"], None);
        check_kinds(
            &[DataKind::Bars, DataKind::CorporateActions],
            &[],
            Some("timeframes is empty"),
        );
        check_kinds(&[], &["1d"], Some("kinds is empty"));
    }

    fn bar(symbol: &str, tf: &str, start: &str) -> RawBar {
        RawBar {
            symbol: symbol.into(),
            timeframe: tf.parse().unwrap(),
            start: start.parse().unwrap(),
            open: "1".into(),
            high: "1".into(),
            low: "1".into(),
            close: "1".into(),
            volume: None,
            vwap: None,
            trades: None,
            complete: true,
        }
    }

    /// Checks one bar of `class` against the trading-date rule: `None` when it passes, or
    /// a fragment of the problem.
    fn check(class: AssetClass, b: RawBar, expected: Option<&str>) {
        let problems = trading_date_problems(std::slice::from_ref(&b), |_| class);
        one_problem(&problems, expected, &b);
    }

    #[test]
    fn daily_bars_sit_on_trading_dates_of_their_class() {
        use AssetClass::*;
        for (class, symbol, start, expected) in [
            // Polygon's C:EURUSD day of Thursday 2021-07-22, and the Monday after it.
            (Forex, "EUR/USD", "2021-07-22T00:00:00Z", None),
            (Forex, "EUR/USD", "2021-07-26T00:00:00Z", None),
            // The same Monday read in New York (a day early), or a Friday a day late.
            (
                Forex,
                "EUR/USD",
                "2021-07-25T00:00:00Z",
                Some("Sunday 2021-07-25 is not a trading date of forex (Monday to Friday)"),
            ),
            (
                Forex,
                "EUR/USD",
                "2021-07-24T00:00:00Z",
                Some("Saturday 2021-07-24"),
            ),
            // OANDA's USD_CAD day that opens Sunday 2021-08-29 21:00Z is Monday's session.
            (Forex, "USD/CAD", "2021-08-30T00:00:00Z", None),
            (
                Forex,
                "USD/CAD",
                "2021-08-29T00:00:00Z",
                Some("Sunday 2021-08-29"),
            ),
            // Crypto trades every day.
            (Crypto, "BTC/USD", "2020-01-04T00:00:00Z", None),
            // US equities follow the exchange calendar: a weekend and Good Friday are closed.
            (Equity, "AAPL", "2020-11-06T00:00:00Z", None),
            (
                Equity,
                "AAPL",
                "2020-11-07T00:00:00Z",
                Some("Saturday 2020-11-07"),
            ),
            (
                Equity,
                "AAPL",
                "2025-04-18T00:00:00Z",
                Some("Friday 2025-04-18"),
            ),
            // A listing abroad is held to weekdays only.
            (Equity, "WSU.DE", "2025-04-21T00:00:00Z", None),
            (
                Equity,
                "WSU.DE",
                "2023-08-05T00:00:00Z",
                Some("no calendar for its exchange"),
            ),
            (
                Equity,
                "WSU.DE",
                "2023-08-06T00:00:00Z",
                Some("Sunday 2023-08-06"),
            ),
            (
                Equity,
                "BRK.B",
                "2025-04-18T00:00:00Z",
                Some("Friday 2025-04-18"),
            ),
            // A day stamp that is not midnight UTC is not a key at all.
            (
                Forex,
                "EUR/USD",
                "2021-07-21T20:00:00Z",
                Some("keyed at 00:00:00 UTC"),
            ),
            // Series without a session calendar are not judged.
            (Economic, "GDP", "2024-01-06T00:00:00Z", None),
        ] {
            check(class, bar(symbol, "1d", start), expected);
        }
        // Intraday and weekly bars are other checks' business.
        check(Forex, bar("EUR/USD", "1h", "2021-07-25T21:00:00Z"), None);
        check(Forex, bar("EUR/USD", "1w", "2021-07-25T00:00:00Z"), None);
    }
}
