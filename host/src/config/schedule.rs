//! A job's cron `schedule`: the classic five fields or six with seconds first (a seventh,
//! the year, is allowed), parsed by the `cron` crate, with errors that name the field at
//! fault and show a schedule that works.

/// The fields in the order the cron crate reads them, with the values each takes. The
/// crate counts days of the week from 1 (Sunday), not from 0 as classic cron does.
const FIELDS: [&str; 7] = [
    "second, 0-59",
    "minute, 0-59",
    "hour, 0-23",
    "day of month, 1-31",
    "month, 1-12 or JAN-DEC",
    "day of week, 1-7 from Sunday or SUN-SAT",
    "year, 1970-2100",
];

const EXAMPLE: &str = "write it like \"*/5 * * * *\" (minute hour day-of-month month day-of-week) or \"0 */5 * * * *\" (seconds first)";

pub(super) fn parse(text: &str) -> Result<cron::Schedule, String> {
    let given: Vec<&str> = text.split_whitespace().collect();
    // The cron crate wants a seconds field; the classic five fields run at second 0.
    let full: Vec<&str> = match given.len() {
        5 => std::iter::once("0").chain(given.iter().copied()).collect(),
        6 | 7 => given.clone(),
        n => {
            return Err(format!(
                "{text:?} has {n} field{}, not 5 or 6; {EXAMPLE}",
                if n == 1 { "" } else { "s" }
            ));
        }
    };
    let error = match full.join(" ").parse::<cron::Schedule>() {
        Ok(s) => return Ok(s),
        Err(e) => e,
    };
    // The crate's message speaks of its own six-field layout; trying each field alone
    // (every other one "*") finds the one at fault in the operator's terms.
    let offset = full.len() - given.len();
    for (i, field) in full.iter().enumerate().skip(offset) {
        let mut probe = vec!["*"; full.len()];
        probe[i] = field;
        if let Err(e) = probe.join(" ").parse::<cron::Schedule>() {
            return Err(format!(
                "field {} ({}) {field:?} is not valid ({}); {EXAMPLE}",
                i - offset + 1,
                FIELDS[i],
                reason(&e)
            ));
        }
    }
    Err(format!("{text:?}: {}; {EXAMPLE}", reason(&error)))
}

/// The crate's explanation: the last line of its message.
fn reason(e: &cron::error::Error) -> String {
    e.to_string()
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    fn check(text: &str, expected: Result<(), &str>) {
        let got = super::parse(text).map(|_| ());
        let want = expected.map_err(|m| format!("{m}; {}", super::EXAMPLE));
        assert_eq!(got, want, "{text:?}");
    }

    #[test]
    fn errors_name_the_field_at_fault() {
        check("*/5 * * * *", Ok(()));
        check("0 */5 * * * *", Ok(()));
        check("0 0 12 * * MON-FRI 2030", Ok(()));
        check("10 0 * * *", Ok(()));
        check(
            "every minute",
            Err("\"every minute\" has 2 fields, not 5 or 6"),
        );
        check("", Err("\"\" has 0 fields, not 5 or 6"));
        check(
            "* * * * * * * *",
            Err("\"* * * * * * * *\" has 8 fields, not 5 or 6"),
        );
        check(
            "0 25 * * *",
            Err(
                "field 2 (hour, 0-23) \"25\" is not valid (Hours must be less than 23. ('25' specified.))",
            ),
        );
        check(
            "61 * * * *",
            Err(
                "field 1 (minute, 0-59) \"61\" is not valid (Minutes must be less than 59. ('61' specified.))",
            ),
        );
        check(
            "0 0 0 1 13 *",
            Err(
                "field 5 (month, 1-12 or JAN-DEC) \"13\" is not valid (Months must be less than 12. ('13' specified.))",
            ),
        );
        check(
            "0 0 * * FRY",
            Err(
                "field 5 (day of week, 1-7 from Sunday or SUN-SAT) \"FRY\" is not valid ('FRY' is not a valid day of the week.)",
            ),
        );
        check(
            "x * * * * *",
            Err(
                "field 1 (second, 0-59) \"x\" is not valid (The 'Seconds' field does not support using names. 'x' specified.)",
            ),
        );
        check(
            "*/0 * * * *",
            Err("field 1 (minute, 0-59) \"*/0\" is not valid (range step cannot be zero)"),
        );
    }
}
