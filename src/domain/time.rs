//! Wall-clock time in the one format labgate speaks: RFC 3339, UTC, whole seconds.

use chrono::{DateTime, SecondsFormat, Utc};

pub type Timestamp = DateTime<Utc>;

pub fn now() -> Timestamp {
    Utc::now()
}

pub fn fmt(t: Timestamp) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

pub fn parse(s: &str) -> Option<Timestamp> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

pub fn plus(t: Timestamp, d: std::time::Duration) -> Timestamp {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::days(3650))
}
