//! Profiles: the catalogue of noise sources and the seeded [`Generator`] that produces their
//! events. All profiles share one small fake network (the same people, workstations, servers
//! and subnets), so traffic from different profiles correlates the way real logs do. Every
//! address is private (10/8, 172.16/12, 192.168/16) or, for "internet" peers, from the
//! documentation ranges (192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32), and every
//! action is routine: nothing here should look like an attack to an analyst.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};

use super::{
    Buf, Event, Fields, JsonObj, put_clf, put_hex, put_ipv4, put_json_str, put_rfc3339_ms, put_u64,
};

/// A selectable noise profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProfileInfo {
    pub name: &'static str,
    pub description: &'static str,
}

pub const PROFILES: &[ProfileInfo] = &[
    ProfileInfo {
        name: "web-access",
        description: "nginx combined access log of the intranet web farm (browsers, scripts, monitoring)",
    },
    ProfileInfo {
        name: "auth",
        description: "sshd, PAM, systemd-logind, sudo and cron lines from the Linux servers",
    },
    ProfileInfo {
        name: "dns",
        description: "BIND query log of the internal resolvers; answers and rcode in the fields",
    },
    ProfileInfo {
        name: "windows-security",
        description: "Windows Security auditing as JSON: logons 4624/4625/4634/4672, process creation 4688",
    },
    ProfileInfo {
        name: "firewall",
        description: "firewall allow/deny records with rule, interface, endpoints and byte counts",
    },
];

pub fn exists(name: &str) -> bool {
    PROFILES.iter().any(|p| p.name == name)
}

/// Events of one run. Deterministic: the same (profile, seed, count) yield the same events in
/// the same order, apart from timestamps, which are spread over [start, start+span] in
/// non-decreasing order (evenly with a little seeded jitter, the i-th event's time depends only
/// on i, count, start, span and seed).
#[derive(Debug)]
pub struct Generator {
    profile: &'static str,
    seed: u64,
    count: u64,
    next: u64,
    start: DateTime<Utc>,
    span_ns: u128,
    rng: R,
    source: Source,
}

/// `None` for an unknown profile.
pub fn generator(
    profile: &str,
    seed: u64,
    count: u64,
    start: DateTime<Utc>,
    span: Duration,
) -> Option<Generator> {
    let info = PROFILES.iter().find(|p| p.name == profile)?;
    // Salted per profile so one seed does not give every profile the same random stream.
    let mut rng = R(StdRng::seed_from_u64(seed ^ fnv1a(info.name)));
    let source = match info.name {
        "web-access" => Source::Web(WebGen::new(&mut rng)),
        "auth" => Source::Auth(AuthGen::new(&mut rng)),
        "dns" => Source::Dns(DnsGen::new(&mut rng)),
        "windows-security" => Source::Windows(WinGen::new(&mut rng)),
        "firewall" => Source::Firewall(FwGen),
        _ => return None,
    };
    Some(Generator {
        profile: info.name,
        seed,
        count,
        next: 0,
        start,
        span_ns: span.as_nanos(),
        rng,
        source,
    })
}

impl Generator {
    pub fn profile(&self) -> &'static str {
        self.profile
    }

    /// Events still to come.
    pub fn remaining(&self) -> u64 {
        self.count - self.next
    }

    /// Time of the i-th event: slot i of `count` equal slots of the span, plus a seeded offset
    /// inside the slot. Slots never overlap, so times are non-decreasing and stay below
    /// start+span; integer maths keeps that exact for any span `Duration` can hold.
    fn time_of(&self, i: u64) -> DateTime<Utc> {
        let count = u128::from(self.count.max(1));
        let slot = self.span_ns / count;
        let rem = self.span_ns % count;
        let edge = |k: u128| slot * k + rem * k / count;
        let lo = edge(u128::from(i));
        let hi = edge(u128::from(i) + 1);
        let jitter = u128::from(splitmix64(self.seed ^ splitmix64(i)) >> 48);
        let off = lo + (((hi - lo) * jitter) >> 16);
        let secs = i64::try_from(off / 1_000_000_000).unwrap_or(i64::MAX);
        let nanos = (off % 1_000_000_000) as u32;
        TimeDelta::new(secs, nanos)
            .and_then(|d| self.start.checked_add_signed(d))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.next >= self.count {
            return None;
        }
        let i = self.next;
        self.next += 1;
        let ts = self.time_of(i);
        let rng = &mut self.rng;
        let made = match &mut self.source {
            Source::Web(g) => g.make(rng, &ts),
            Source::Auth(g) => g.make(rng, i),
            Source::Dns(g) => g.make(rng),
            Source::Windows(g) => g.make(rng, i, &ts),
            Source::Firewall(g) => g.make(rng),
        };
        Some(Event {
            timestamp: ts,
            profile: self.profile,
            host: made.host.to_owned(),
            app: made.app,
            severity: made.severity,
            message: made.message,
            fields: made.fields,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.count - self.next;
        match usize::try_from(left) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl std::iter::FusedIterator for Generator {}

#[derive(Debug)]
enum Source {
    Web(WebGen),
    Auth(AuthGen),
    Dns(DnsGen),
    Windows(WinGen),
    Firewall(FwGen),
}

struct Made {
    host: &'static str,
    app: &'static str,
    severity: u8,
    message: String,
    fields: Fields,
}

mod auth;
mod dns;
mod firewall;
mod network;
mod rng;
#[cfg(test)]
mod tests;
mod web;
mod windows;

pub use auth::*;
pub use dns::*;
pub use firewall::*;
use network::*;
use rng::*;
pub use web::*;
pub use windows::*;
