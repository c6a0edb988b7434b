//! The one source of the current time. Everything with a deadline (lockouts, token lifetimes,
//! schedules, idle sessions) asks a `Clock`, so tests can fix and move time instead of sleeping.

use std::sync::atomic::{AtomicI64, Ordering};

use super::time::Timestamp;

pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A clock that stands still until a test moves it.
#[derive(Debug)]
pub struct FixedClock {
    millis: AtomicI64,
}

impl FixedClock {
    pub fn at(t: Timestamp) -> FixedClock {
        FixedClock {
            millis: AtomicI64::new(t.timestamp_millis()),
        }
    }

    pub fn advance(&self, d: std::time::Duration) {
        self.millis
            .fetch_add(d.as_millis() as i64, Ordering::SeqCst);
    }

    pub fn set(&self, t: Timestamp) {
        self.millis.store(t.timestamp_millis(), Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(self.millis.load(Ordering::SeqCst))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let start = crate::domain::time::parse("2026-01-01T00:00:00Z").unwrap();
        let c = FixedClock::at(start);
        assert_eq!(c.now(), start);
        c.advance(std::time::Duration::from_secs(90));
        assert_eq!(crate::domain::time::fmt(c.now()), "2026-01-01T00:01:30Z");
    }
}
