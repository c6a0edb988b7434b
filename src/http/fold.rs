//! Folding of refused anonymous credentials (SPEC §13.2): the first refusal from a client in a
//! minute is audited at once; the rest of that minute are counted in memory and written as one
//! record with their count when the minute is over, so a flood of bad credentials cannot grow
//! the audit log without bound. Memory is bounded too: past `MAX_CLIENTS` clients in one
//! minute, further ones are counted together.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

const MAX_CLIENTS: usize = 10_000;
/// Clients beyond the bound share this key.
const OVERFLOW: &str = "(other clients)";

/// Who a refused credential named: nobody (anonymous), or the user or key of a credential that
/// is authentic but refused (an expired access token, a disabled key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Who {
    pub tenant_id: Option<String>,
    pub actor_type: String,
    pub actor_id: Option<String>,
}

/// The client as folding counts it: one IPv4 address, or one IPv6 /64 (what one host can hold).
pub fn client_key(ip: Option<&str>) -> String {
    match ip.and_then(|s| s.parse::<IpAddr>().ok()) {
        Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            let net = std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
            format!("{net}/64")
        }
        Some(IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map(|v4| v4.to_string())
            .unwrap_or_default(),
        Some(IpAddr::V4(v4)) => v4.to_string(),
        None => ip.unwrap_or("unknown").to_string(),
    }
}

impl Who {
    pub fn anonymous() -> Who {
        Who {
            actor_type: "anonymous".into(),
            ..Default::default()
        }
    }
}

type Key = (i64, String, Who);

#[derive(Default)]
pub struct Folds {
    /// (minute, client, who) -> refusals not yet written
    counts: Mutex<HashMap<Key, u64>>,
}

/// What the caller should do with one refusal.
#[derive(Debug, PartialEq, Eq)]
pub enum Fold {
    /// The client's first refusal this minute: audit it now.
    Write,
    /// Counted; a record with the count follows when the minute is over.
    Folded,
}

/// Refusals of one client and minute, due to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The minute's start (Unix seconds).
    pub minute: i64,
    pub client: String,
    pub who: Who,
    pub count: u64,
}

impl Folds {
    pub fn note(&self, ip: Option<&str>, who: &Who, unix: i64) -> Fold {
        let minute = unix.div_euclid(60);
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let key = (minute, client_key(ip), who.clone());
        if let Some(n) = m.get_mut(&key) {
            *n += 1;
            return Fold::Folded;
        }
        if m.len() >= MAX_CLIENTS {
            *m.entry((minute, OVERFLOW.to_string(), Who::anonymous()))
                .or_insert(0) += 1;
            return Fold::Folded;
        }
        m.insert(key, 0);
        Fold::Write
    }

    /// The counts of minutes before `unix`'s (all of them with `everything`), taken out, for
    /// each with refusals left to write.
    pub fn take_due(&self, unix: i64, everything: bool) -> Vec<Due> {
        let now = unix.div_euclid(60);
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<Key> = m
            .keys()
            .filter(|(minute, _, _)| everything || *minute < now)
            .cloned()
            .collect();
        due.into_iter()
            .filter_map(|k| {
                let n = m.remove(&k)?;
                (n > 0).then(|| Due {
                    minute: k.0 * 60,
                    client: k.1,
                    who: k.2,
                    count: n,
                })
            })
            .collect()
    }

    /// Puts counts back that could not be written (the database was unavailable), so the
    /// next flush writes them: a count is never dropped.
    pub fn restore(&self, due: Vec<Due>) {
        let mut m = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        for d in due {
            *m.entry((d.minute.div_euclid(60), d.client, d.who))
                .or_insert(0) += d.count;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_now_and_one_count_per_client_per_minute() {
        let f = Folds::default();
        let anon = Who::anonymous();
        assert_eq!(f.note(Some("10.0.0.1"), &anon, 120), Fold::Write);
        for _ in 0..999 {
            assert_eq!(f.note(Some("10.0.0.1"), &anon, 130), Fold::Folded);
        }
        assert_eq!(f.note(Some("10.0.0.2"), &anon, 130), Fold::Write);
        // an authentic but refused credential is counted apart, under its own name
        let user = Who {
            tenant_id: Some("t".into()),
            actor_type: "user".into(),
            actor_id: Some("u".into()),
        };
        assert_eq!(f.note(Some("10.0.0.1"), &user, 130), Fold::Write);
        assert_eq!(f.note(Some("10.0.0.1"), &user, 131), Fold::Folded);
        assert!(f.take_due(150, false).is_empty(), "the minute is not over");
        let mut due = f.take_due(181, false);
        due.sort_by_key(|d| d.count);
        assert_eq!(due.len(), 2);
        assert_eq!((due[0].who.clone(), due[0].count), (user, 1));
        assert_eq!((due[1].client.as_str(), due[1].count), ("10.0.0.1", 999));
        assert_eq!(
            f.note(Some("10.0.0.1"), &anon, 181),
            Fold::Write,
            "a new minute"
        );
        // counts that could not be written come back whole
        f.note(Some("10.0.0.1"), &anon, 182);
        let due = f.take_due(0, true);
        f.restore(due.clone());
        f.restore(due);
        assert_eq!(f.take_due(0, true)[0].count, 2);
    }

    #[test]
    fn memory_stays_bounded_under_many_clients() {
        let f = Folds::default();
        let anon = Who::anonymous();
        for i in 0..(MAX_CLIENTS + 5000) {
            f.note(
                Some(&format!("10.{}.{}.{}", i >> 16, (i >> 8) & 255, i & 255)),
                &anon,
                60,
            );
        }
        assert!(f.counts.lock().unwrap().len() <= MAX_CLIENTS + 1);
        let due = f.take_due(0, true);
        assert_eq!(
            due.iter().find(|d| d.client == OVERFLOW).unwrap().count,
            5000
        );
    }

    #[test]
    fn an_ipv6_client_is_its_64() {
        let f = Folds::default();
        let anon = Who::anonymous();
        assert_eq!(f.note(Some("2001:db8:1:2::1"), &anon, 60), Fold::Write);
        assert_eq!(
            f.note(Some("2001:db8:1:2:ffff::9"), &anon, 61),
            Fold::Folded,
            "another address of the same /64"
        );
        assert_eq!(f.note(Some("2001:db8:1:3::1"), &anon, 62), Fold::Write);
        assert_eq!(client_key(Some("::ffff:10.0.0.1")), "10.0.0.1");
        assert_eq!(client_key(Some("2001:db8:1:2::1")), "2001:db8:1:2::/64");
    }
}
