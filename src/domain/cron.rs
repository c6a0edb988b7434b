//! Five-field cron expressions (minute hour day-of-month month day-of-week), in UTC.

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds};

/// Parses an expression; the error says what is wrong with it.
pub fn parse(expr: &str) -> Result<Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!(
            "expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

/// The first occurrence strictly after `t`.
pub fn next_after(cron: &Cron, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&t, false).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_five_fields_and_finds_the_next_time() {
        let c = parse("*/5 * * * *").unwrap();
        let t = DateTime::parse_from_rfc3339("2026-01-01T10:02:30Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            next_after(&c, t).unwrap().to_rfc3339(),
            "2026-01-01T10:05:00+00:00"
        );
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "61 * * * *",
            "* * * * mon-xyz",
            "banana",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
