//! Folding of refused anonymous credentials (SPEC §13.2): the first refusal from a client in a
//! minute is audited at once; the rest of that minute are counted in memory and written as one
//! record with their count when the minute is over, so a flood of bad credentials cannot grow
//! the audit log without bound. Memory is bounded too: past `MAX_CLIENTS` clients in one
//! minute, further ones are counted together.

use std::collections::HashMap;
use std::sync::Mutex;

const MAX_CLIENTS: usize = 10_000;
/// Clients beyond the bound share this key.
const OVERFLOW: &str = "(other clients)";

#[derive(Default)]
pub struct Folds {
    /// (minute, client ip) -> refusals not yet written
    counts: Mutex<HashMap<(i64, String), u64>>,
}

/// What the caller should do with one refusal.
#[derive(Debug, PartialEq, Eq)]
pub enum Fold {
    /// The client's first refusal this minute: audit it now.
    Write,
    /// Counted; a record with the count follows when the minute is over.
    Folded,
}

impl Folds {
    pub fn note(&self, ip: Option<&str>, unix: i64) -> Fold {
        let minute = unix.div_euclid(60);
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let ip = ip.unwrap_or("unknown").to_string();
        if let Some(n) = m.get_mut(&(minute, ip.clone())) {
            *n += 1;
            return Fold::Folded;
        }
        if m.len() >= MAX_CLIENTS {
            *m.entry((minute, OVERFLOW.to_string())).or_insert(0) += 1;
            return Fold::Folded;
        }
        m.insert((minute, ip), 0);
        Fold::Write
    }

    /// The counts of minutes before `unix`'s (all of them with `everything`), taken out:
    /// `(minute start, ip, count)` for each with refusals left to write.
    pub fn take_due(&self, unix: i64, everything: bool) -> Vec<(i64, String, u64)> {
        let now = unix.div_euclid(60);
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<(i64, String)> = m
            .keys()
            .filter(|(minute, _)| everything || *minute < now)
            .cloned()
            .collect();
        due.into_iter()
            .filter_map(|k| {
                let n = m.remove(&k)?;
                (n > 0).then(|| (k.0 * 60, k.1, n))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_now_and_one_count_per_client_per_minute() {
        let f = Folds::default();
        assert_eq!(f.note(Some("10.0.0.1"), 120), Fold::Write);
        for _ in 0..999 {
            assert_eq!(f.note(Some("10.0.0.1"), 130), Fold::Folded);
        }
        assert_eq!(f.note(Some("10.0.0.2"), 130), Fold::Write);
        assert!(f.take_due(150, false).is_empty(), "the minute is not over");
        let due = f.take_due(181, false);
        assert_eq!(due, vec![(120, "10.0.0.1".to_string(), 999)]);
        assert_eq!(f.note(Some("10.0.0.1"), 181), Fold::Write, "a new minute");
    }

    #[test]
    fn memory_stays_bounded_under_many_clients() {
        let f = Folds::default();
        for i in 0..(MAX_CLIENTS + 5000) {
            f.note(
                Some(&format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)),
                60,
            );
        }
        assert!(f.counts.lock().unwrap().len() <= MAX_CLIENTS + 1);
        let due = f.take_due(0, true);
        assert_eq!(due.iter().find(|d| d.1 == OVERFLOW).unwrap().2, 5000);
    }
}
