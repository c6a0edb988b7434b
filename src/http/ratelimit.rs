//! In-process, per-client-IP rate limits with fixed, aligned windows.
//!
//! The SPEC's limits are "N per window" with a `RateLimit-Reset` at the window's end, so the
//! counters are fixed windows aligned to the clock (every client's window of a route ends at the
//! same instant). That also keeps memory bounded simply: an entry from an earlier window is dead
//! and is swept whenever a shard grows past its cap. IPv6 clients are counted per /64, the
//! smallest block one host usually controls, so address hopping inside it gains nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;

const SHARDS: usize = 16;
/// Entries per shard before stale windows are swept (and, if still full, half are dropped).
const SHARD_CAP: usize = 8192;

#[derive(Debug, Clone, Copy)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Unix time (s) at which the window resets.
    pub reset: u64,
    pub retry_after: u64,
}

pub struct Limiter {
    limit: u32,
    window_s: u64,
    shards: Vec<Mutex<HashMap<IpAddr, (u64, u32)>>>,
}

fn client_key(ip: IpAddr) -> IpAddr {
    match crate::domain::net::canonical(ip) {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Limiter {
    pub fn new(limit: u32, window_s: u64) -> Limiter {
        Limiter {
            limit,
            window_s: window_s.max(1),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
        }
    }

    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Counts one request of `ip` at `now` (Unix seconds) and says whether it may pass.
    pub fn check(&self, ip: IpAddr, now: u64) -> Decision {
        let key = client_key(ip);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        let shard = &self.shards[(h.finish() as usize) % SHARDS];
        let start = now - now % self.window_s;
        let reset = start + self.window_s;
        let mut m = shard.lock().unwrap_or_else(|p| p.into_inner());
        if m.len() >= SHARD_CAP && !m.contains_key(&key) {
            m.retain(|_, (s, _)| *s == start);
            if m.len() >= SHARD_CAP {
                let drop: Vec<IpAddr> = m.keys().take(SHARD_CAP / 2).copied().collect();
                for k in drop {
                    m.remove(&k);
                }
            }
        }
        let e = m.entry(key).or_insert((start, 0));
        if e.0 != start {
            *e = (start, 0);
        }
        e.1 = e.1.saturating_add(1);
        let used = e.1;
        Decision {
            allowed: used <= self.limit,
            limit: self.limit,
            remaining: self.limit.saturating_sub(used),
            reset,
            retry_after: reset.saturating_sub(now).max(1),
        }
    }

    pub fn tracked(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().map(|m| m.len()).unwrap_or(0))
            .sum()
    }
}

/// The decision that applied to a request, for the `RateLimit-*` response headers.
#[derive(Debug, Clone, Copy)]
pub struct RateInfo(pub Decision);

/// Every limiter of SPEC §6.
pub struct Limits {
    pub login: Limiter,
    pub change_password: Limiter,
    pub mfa_validate: Limiter,
    pub forgot_password: Limiter,
    pub invite: Limiter,
    pub reset_password: Limiter,
    pub setup: Limiter,
    pub master: Limiter,
    /// `None` when `LABGATE_RATE_LIMIT_PER_MINUTE=0`.
    pub general: Option<Limiter>,
}

impl Limits {
    pub fn new(general_per_minute: u32) -> Limits {
        const M15: u64 = 15 * 60;
        Limits {
            login: Limiter::new(10, M15),
            change_password: Limiter::new(10, M15),
            mfa_validate: Limiter::new(10, M15),
            forgot_password: Limiter::new(10, 60),
            invite: Limiter::new(5, 60),
            reset_password: Limiter::new(5, 60),
            setup: Limiter::new(5, M15),
            master: Limiter::new(10, 60),
            general: (general_per_minute > 0).then(|| Limiter::new(general_per_minute, 60)),
        }
    }

    /// The limiter of a route's limit; `None` when exempt (or the general limit is off).
    pub fn for_limit(&self, limit: super::table::Limit) -> Option<&Limiter> {
        use super::table::Limit;
        match limit {
            Limit::Login => Some(&self.login),
            Limit::ChangePassword => Some(&self.change_password),
            Limit::MfaValidate => Some(&self.mfa_validate),
            Limit::ForgotPassword => Some(&self.forgot_password),
            Limit::Invite => Some(&self.invite),
            Limit::ResetPassword => Some(&self.reset_password),
            Limit::Setup => Some(&self.setup),
            Limit::General => self.general.as_ref(),
            Limit::Exempt => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_window_and_resets() {
        let l = Limiter::new(3, 60);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let t = 6000; // aligned
        for i in 0..3 {
            let d = l.check(ip, t + i);
            assert!(d.allowed);
            assert_eq!(d.remaining, 2 - i as u32);
            assert_eq!(d.reset, 6060);
        }
        let d = l.check(ip, t + 10);
        assert!(!d.allowed);
        assert_eq!(d.retry_after, 50);
        assert!(
            l.check("10.0.0.2".parse().unwrap(), t + 10).allowed,
            "per IP"
        );
        assert!(l.check(ip, t + 60).allowed, "next window");
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = Limiter::new(1, 60);
        assert!(l.check("2001:db8::1".parse().unwrap(), 0).allowed);
        assert!(!l.check("2001:db8::2".parse().unwrap(), 0).allowed);
        assert!(l.check("2001:db8:0:1::1".parse().unwrap(), 0).allowed);
    }

    #[test]
    fn memory_stays_bounded_with_a_million_addresses() {
        let l = Limiter::new(100, 60);
        for i in 0..1_000_000u32 {
            l.check(IpAddr::V4(std::net::Ipv4Addr::from(i)), 120);
        }
        assert!(l.tracked() <= SHARDS * SHARD_CAP, "{}", l.tracked());
    }
}
