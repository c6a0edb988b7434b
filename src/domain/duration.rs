//! Durations as operators write them: `90s`, `15m`, `12h`, `7d`.

use std::time::Duration;

/// Parses `<positive integer><s|m|h|d>`; anything else (including zero) is `None`.
pub fn parse_duration(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    let unit = raw.chars().last()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return None,
    };
    let num = &raw[..raw.len() - 1];
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = num.parse().ok()?;
    let secs = n.checked_mul(mult)?;
    // Ten years is far beyond any sensible lifetime; refusing larger values keeps date
    // arithmetic from overflowing.
    (secs > 0 && secs <= 10 * 366 * 86400).then(|| Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_units() {
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Some(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Some(Duration::from_secs(43200)));
        assert_eq!(parse_duration("7d"), Some(Duration::from_secs(604800)));
    }

    #[test]
    fn refuses_the_rest() {
        for bad in [
            "",
            "15",
            "m",
            "-5m",
            "0s",
            "1.5h",
            "15 m",
            "15M",
            "99999999999999999999d",
            "1w",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }
}
