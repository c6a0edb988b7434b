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

// ---------------------------------------------------------------------------------------------
// Randomness

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The generator's RNG with the few sampling shapes the profiles need; none of them can panic
/// on an empty range.
#[derive(Debug)]
struct R(StdRng);

impl R {
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.0.gen_range(0..n) }
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.0.gen_range(lo..=hi)
        }
    }

    fn unit(&mut self) -> f64 {
        (self.0.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Index biased towards the front: a few busy clients and many quiet ones, like real logs.
    fn skewed(&mut self, len: usize) -> usize {
        let u = self.unit();
        ((u * u * len as f64) as usize).min(len.saturating_sub(1))
    }

    /// Log-uniform in [lo, hi]: sizes and durations span orders of magnitude.
    fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(1);
        if hi <= lo {
            return lo;
        }
        let span = (hi as f64 / lo as f64).ln();
        ((lo as f64) * (span * self.unit()).exp()).clamp(lo as f64, hi as f64) as u64
    }

    fn pick<'t, T, const N: usize>(&mut self, table: &'t Table<T, N>) -> &'t T {
        const { assert!(N > 0, "weighted table must not be empty") };
        let x = self.below(table.total);
        let i = table.cum.partition_point(|&c| c <= x);
        &table.entries[i.min(N - 1)].0
    }

    fn port_windows(&mut self) -> u16 {
        self.between(49_152, 65_535) as u16
    }

    fn port_linux(&mut self) -> u16 {
        self.between(32_768, 60_999) as u16
    }
}

/// A weighted table with its cumulative weights computed at compile time, so a pick is one
/// random draw and a binary search.
#[derive(Debug)]
struct Table<T, const N: usize> {
    entries: [(T, u32); N],
    cum: [u64; N],
    total: u64,
}

impl<T, const N: usize> Table<T, N> {
    const fn new(entries: [(T, u32); N]) -> Self {
        assert!(N > 0, "weighted table must not be empty");
        let mut cum = [0u64; N];
        let mut total = 0u64;
        let mut i = 0;
        while i < N {
            total += entries[i].1 as u64;
            cum[i] = total;
            i += 1;
        }
        assert!(total > 0, "weighted table needs a positive weight");
        Table {
            entries,
            cum,
            total,
        }
    }
}

/// Follow-up events (session closes, logoffs...) waiting for their slot. A min-heap on
/// (due, seq): the earliest due first, ties in scheduling order.
#[derive(Debug)]
struct Pending<F> {
    due: u64,
    seq: u64,
    host: usize,
    fields: F,
}

impl<F> PartialEq for Pending<F> {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}
impl<F> Eq for Pending<F> {}
impl<F> PartialOrd for Pending<F> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<F> Ord for Pending<F> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.due, other.seq).cmp(&(self.due, self.seq))
    }
}

#[derive(Debug)]
struct Queue<F> {
    heap: BinaryHeap<Pending<F>>,
    seq: u64,
}

impl<F> Queue<F> {
    /// Bounds memory when long sessions pile up; past it the oldest follow-up goes out early.
    const CAP: usize = 4096;

    fn new() -> Self {
        Queue {
            heap: BinaryHeap::new(),
            seq: 0,
        }
    }

    fn push(&mut self, due: u64, host: usize, fields: F) {
        self.seq += 1;
        self.heap.push(Pending {
            due,
            seq: self.seq,
            host,
            fields,
        });
    }

    fn pop_due(&mut self, now: u64) -> Option<(usize, F)> {
        let ready = match self.heap.peek() {
            Some(p) => p.due <= now || self.heap.len() > Self::CAP,
            None => false,
        };
        if ready {
            self.heap.pop().map(|p| (p.host, p.fields))
        } else {
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The fake network

const AD_DOMAIN: &str = "CORP";
const DOMAIN_SID: &str = "S-1-5-21-3623811015-3361044348-30300820";

/// People; person i sits at workstation i.
const PEOPLE: [&str; 24] = [
    "jsmith",
    "apatel",
    "mgarcia",
    "lchen",
    "okowalski",
    "dnguyen",
    "ewilson",
    "rbrown",
    "sjohnson",
    "kmueller",
    "tanderson",
    "hkim",
    "vrossi",
    "bdavis",
    "nthompson",
    "jlee",
    "amartin",
    "pclark",
    "fwhite",
    "gharris",
    "ykato",
    "imorales",
    "cschmidt",
    "rsingh",
];

macro_rules! workstations {
    ($($n:literal),* $(,)?) => {
        const WS_NAME: [&str; 24] = [$(concat!("WS-", $n)),*];
        const WS_FQDN: [&str; 24] = [$(concat!("WS-", $n, ".corp.lab.internal")),*];
        const WS_MACHINE: [&str; 24] = [$(concat!("WS-", $n, "$")),*];
    };
}
workstations!(
    "0101", "0102", "0103", "0104", "0105", "0106", "0107", "0108", "0109", "0110", "0111", "0112",
    "0113", "0114", "0115", "0116", "0117", "0118", "0119", "0120", "0121", "0122", "0123", "0124",
);

fn ws_ip(i: usize) -> Ipv4Addr {
    let i = i % PEOPLE.len();
    Ipv4Addr::new(10, 20, 1 + (i / 16) as u8, 31 + (i % 16) as u8 * 6)
}

const LINUX_SERVERS: [(&str, Ipv4Addr); 6] = [
    ("bastion-01.lab.internal", Ipv4Addr::new(10, 30, 1, 5)),
    ("app-01.lab.internal", Ipv4Addr::new(10, 30, 2, 11)),
    ("app-02.lab.internal", Ipv4Addr::new(10, 30, 2, 12)),
    ("db-01.lab.internal", Ipv4Addr::new(10, 30, 3, 21)),
    ("build-01.lab.internal", Ipv4Addr::new(10, 30, 4, 31)),
    ("mon-01.lab.internal", Ipv4Addr::new(10, 30, 5, 10)),
];
const BASTION: usize = 0;
const DB_HOST: usize = 3;
const BUILD_IP: Ipv4Addr = Ipv4Addr::new(10, 30, 4, 31);
const MON_IP: Ipv4Addr = Ipv4Addr::new(10, 30, 5, 10);

const WEB_SERVERS: Table<&str, 3> = Table::new([
    ("web-01.lab.internal", 1),
    ("web-02.lab.internal", 1),
    ("web-03.lab.internal", 1),
]);
const WEB_LB: Ipv4Addr = Ipv4Addr::new(10, 30, 0, 10);
const WEB_VHOST: &str = "intranet.lab.internal";

const RESOLVERS: Table<(&str, Ipv4Addr), 2> = Table::new([
    (("ns1.lab.internal", Ipv4Addr::new(10, 0, 0, 53)), 7),
    (("ns2.lab.internal", Ipv4Addr::new(10, 0, 0, 54)), 3),
]);
const NTP_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 123);

/// Windows servers: FQDN, NetBIOS name, machine account, address.
const WIN_SERVERS: [(&str, &str, &str, Ipv4Addr); 4] = [
    (
        "DC01.corp.lab.internal",
        "DC01",
        "DC01$",
        Ipv4Addr::new(10, 0, 0, 10),
    ),
    (
        "DC02.corp.lab.internal",
        "DC02",
        "DC02$",
        Ipv4Addr::new(10, 0, 0, 11),
    ),
    (
        "FS01.corp.lab.internal",
        "FS01",
        "FS01$",
        Ipv4Addr::new(10, 0, 0, 20),
    ),
    (
        "APP01.corp.lab.internal",
        "APP01",
        "APP01$",
        Ipv4Addr::new(10, 0, 0, 30),
    ),
];
const FS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);
const FIREWALL_HOST: &str = "fw-01.lab.internal";
const WAN_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

fn office_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, rng.between(3, 8) as u8, rng.between(20, 250) as u8)
}

fn vpn_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 100, rng.between(10, 250) as u8)
}

fn lab_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(
        172,
        16,
        rng.between(10, 13) as u8,
        rng.between(10, 250) as u8,
    )
}

/// A stable "internet" address (documentation ranges) for public peer number k.
fn public_ip(k: u64) -> Ipv4Addr {
    let host = 10 + (k % 240) as u8;
    match k % 3 {
        0 => Ipv4Addr::new(203, 0, 113, host),
        1 => Ipv4Addr::new(198, 51, 100, host),
        _ => Ipv4Addr::new(192, 0, 2, host),
    }
}

// ---------------------------------------------------------------------------------------------
// web-access: nginx combined log

/// One request line's structured form.
#[derive(Debug, Clone, PartialEq)]
pub struct WebFields {
    pub vhost: &'static str,
    pub src_ip: Ipv4Addr,
    pub user: Option<&'static str>,
    pub method: &'static str,
    pub path: Cow<'static, str>,
    pub protocol: &'static str,
    pub status: u16,
    pub bytes: u64,
    pub referrer: Option<&'static str>,
    pub user_agent: &'static str,
}

impl WebFields {
    pub(super) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.ip("src_ip", self.src_ip);
        o.opt_str("user", self.user);
        o.str("method", self.method);
        o.str("path", &self.path);
        o.str("protocol", self.protocol);
        o.uint("status", u64::from(self.status));
        o.uint("bytes", self.bytes);
        o.opt_str("referrer", self.referrer);
        o.str("user_agent", self.user_agent);
        o.str("vhost", self.vhost);
    }

    /// `ip - user [time] "METHOD path proto" status bytes "referrer" "ua"`
    fn render<B: Buf>(&self, ts: &DateTime<Utc>, out: &mut B) {
        put_ipv4(out, self.src_ip);
        out.put(" - ");
        out.put(self.user.unwrap_or("-"));
        out.put(" [");
        put_clf(out, ts);
        out.put("] \"");
        out.put(self.method);
        out.put_byte(b' ');
        out.put(&self.path);
        out.put_byte(b' ');
        out.put(self.protocol);
        out.put("\" ");
        put_u64(out, u64::from(self.status));
        out.put_byte(b' ');
        put_u64(out, self.bytes);
        out.put(" \"");
        out.put(self.referrer.unwrap_or("-"));
        out.put("\" \"");
        out.put(self.user_agent);
        out.put_byte(b'"');
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Page,
    Static,
    Api,
    Form,
    Health,
    Download,
}

/// A resource the intranet serves; `{id}` in the path is replaced by a number in `ids`.
#[derive(Debug, Clone, Copy)]
struct PathSpec {
    method: &'static str,
    path: &'static str,
    kind: PathKind,
    ok: u16,
    size: (u64, u64),
    ids: (u64, u64),
}

const fn res(
    method: &'static str,
    path: &'static str,
    kind: PathKind,
    ok: u16,
    size: (u64, u64),
) -> PathSpec {
    PathSpec {
        method,
        path,
        kind,
        ok,
        size,
        ids: (1_000, 48_000),
    }
}

const fn res_ids(spec: PathSpec, ids: (u64, u64)) -> PathSpec {
    PathSpec { ids, ..spec }
}

use PathKind::{Api, Download, Form, Health, Page, Static};

const BROWSER_PATHS: Table<PathSpec, 25> = Table::new([
    (res("GET", "/", Page, 200, (7_800, 9_400)), 60),
    (res("GET", "/dashboard", Page, 200, (14_000, 22_000)), 70),
    (res("GET", "/tickets", Page, 200, (11_000, 19_000)), 30),
    (res("GET", "/tickets/{id}", Page, 200, (9_000, 16_000)), 25),
    (
        res("GET", "/docs/onboarding", Page, 200, (6_000, 12_000)),
        6,
    ),
    (res("GET", "/login", Page, 200, (3_100, 3_400)), 10),
    (res("POST", "/login", Form, 302, (0, 0)), 8),
    (res("GET", "/logout", Form, 302, (0, 0)), 3),
    (
        res(
            "GET",
            "/static/css/main.3f9a2c71.css",
            Static,
            200,
            (48_210, 48_210),
        ),
        55,
    ),
    (
        res(
            "GET",
            "/static/js/app.8b1e4d02.js",
            Static,
            200,
            (312_554, 312_554),
        ),
        55,
    ),
    (
        res(
            "GET",
            "/static/js/vendor.c2d71a9f.js",
            Static,
            200,
            (845_120, 845_120),
        ),
        40,
    ),
    (
        res("GET", "/static/img/logo.svg", Static, 200, (4_812, 4_812)),
        45,
    ),
    (
        res(
            "GET",
            "/static/fonts/inter-var.woff2",
            Static,
            200,
            (98_012, 98_012),
        ),
        20,
    ),
    (
        res("GET", "/favicon.ico", Static, 200, (15_086, 15_086)),
        30,
    ),
    (res("GET", "/api/v1/me", Api, 200, (412, 468)), 60),
    (
        res(
            "GET",
            "/api/v1/notifications?unread=true",
            Api,
            200,
            (2, 3_800),
        ),
        70,
    ),
    (
        res(
            "GET",
            "/api/v1/tickets?status=open&page=1",
            Api,
            200,
            (3_000, 24_000),
        ),
        35,
    ),
    (
        res("GET", "/api/v1/tickets/{id}", Api, 200, (900, 6_500)),
        30,
    ),
    (
        res(
            "POST",
            "/api/v1/tickets/{id}/comments",
            Api,
            201,
            (300, 1_200),
        ),
        6,
    ),
    (res("PUT", "/api/v1/me/preferences", Api, 204, (0, 0)), 2),
    (
        res("DELETE", "/api/v1/notifications/{id}", Api, 204, (0, 0)),
        2,
    ),
    (res("POST", "/api/v1/search", Api, 200, (500, 18_000)), 10),
    (res("OPTIONS", "/api/v1/me", Api, 204, (0, 0)), 3),
    (
        res_ids(
            res(
                "GET",
                "/reports/weekly-{id}.pdf",
                Download,
                200,
                (180_000, 2_400_000),
            ),
            (1, 52),
        ),
        3,
    ),
    (res("GET", "/robots.txt", Static, 200, (67, 67)), 1),
]);

const SCRIPT_PATHS: Table<PathSpec, 4> = Table::new([
    (
        res(
            "GET",
            "/api/v1/tickets?status=open&page=1",
            Api,
            200,
            (3_000, 24_000),
        ),
        40,
    ),
    (
        res("GET", "/api/v1/tickets/{id}", Api, 200, (900, 6_500)),
        30,
    ),
    (res("POST", "/api/v1/events", Api, 202, (18, 40)), 20),
    (res("GET", "/api/v1/version", Api, 200, (58, 58)), 10),
]);

const MONITOR_PATHS: Table<PathSpec, 3> = Table::new([
    (res("GET", "/healthz", Health, 200, (2, 2)), 60),
    (res("GET", "/metrics", Health, 200, (18_000, 26_000)), 30),
    (res("HEAD", "/", Health, 200, (0, 0)), 10),
]);

/// Status tables per kind; 0 stands for the resource's normal success status.
const PAGE_STATUS: Table<u16, 8> = Table::new([
    (0, 930),
    (304, 25),
    (404, 25),
    (302, 8),
    (403, 5),
    (500, 4),
    (502, 2),
    (503, 1),
]);
const STATIC_STATUS: Table<u16, 4> = Table::new([(0, 720), (304, 250), (404, 28), (500, 2)]);
const API_STATUS: Table<u16, 7> = Table::new([
    (0, 940),
    (400, 12),
    (401, 14),
    (404, 18),
    (409, 4),
    (500, 8),
    (503, 4),
]);
const FORM_STATUS: Table<u16, 2> = Table::new([(0, 95), (200, 5)]);
const HEALTH_STATUS: Table<u16, 2> = Table::new([(0, 998), (503, 2)]);

const BROWSER_UAS: Table<&str, 9> = Table::new([
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        40,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        18,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        12,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        8,
    ),
    (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        4,
    ),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        3,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        4,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        3,
    ),
]);

const PAGE_REFERRERS: Table<Option<&str>, 6> = Table::new([
    (None, 40),
    (Some("https://intranet.lab.internal/"), 25),
    (Some("https://intranet.lab.internal/dashboard"), 15),
    (Some("https://wiki.lab.internal/display/IT/Home"), 8),
    (Some("https://teams.microsoft.com/"), 6),
    (Some("https://www.google.com/"), 6),
]);
const ASSET_REFERRERS: Table<Option<&str>, 4> = Table::new([
    (Some("https://intranet.lab.internal/dashboard"), 45),
    (Some("https://intranet.lab.internal/"), 25),
    (Some("https://intranet.lab.internal/tickets"), 20),
    (None, 10),
]);

#[derive(Debug, Clone, Copy)]
struct Tool {
    ip: Ipv4Addr,
    ua: &'static str,
    monitor: bool,
}

const TOOLS: Table<Tool, 5> = Table::new([
    (
        Tool {
            ip: MON_IP,
            ua: "Prometheus/2.53.1",
            monitor: true,
        },
        40,
    ),
    (
        Tool {
            ip: WEB_LB,
            ua: "-",
            monitor: true,
        },
        30,
    ),
    (
        Tool {
            ip: Ipv4Addr::new(10, 30, 2, 11),
            ua: "python-requests/2.32.3",
            monitor: false,
        },
        15,
    ),
    (
        Tool {
            ip: BUILD_IP,
            ua: "curl/8.5.0",
            monitor: false,
        },
        10,
    ),
    (
        Tool {
            ip: Ipv4Addr::new(10, 30, 2, 12),
            ua: "Go-http-client/1.1",
            monitor: false,
        },
        5,
    ),
]);

/// A browser seen by the web farm: its address, browser and protocol stay fixed for the run.
#[derive(Debug, Clone, Copy)]
struct WebClient {
    ip: Ipv4Addr,
    ua: &'static str,
    user: Option<&'static str>,
    h2: bool,
}

#[derive(Debug)]
struct WebGen {
    browsers: Vec<WebClient>,
}

impl WebGen {
    fn new(rng: &mut R) -> Self {
        let mut browsers = Vec::with_capacity(150);
        let mut add = |rng: &mut R, ip, user| {
            let ua = *rng.pick(&BROWSER_UAS);
            let h2 = rng.chance(0.75);
            browsers.push(WebClient { ip, ua, user, h2 });
        };
        for (i, person) in PEOPLE.iter().enumerate() {
            add(rng, ws_ip(i), Some(*person));
        }
        for _ in 0..80 {
            let ip = office_ip(rng);
            add(rng, ip, None);
        }
        for _ in 0..30 {
            let ip = vpn_ip(rng);
            add(rng, ip, None);
        }
        for _ in 0..16 {
            let ip = lab_ip(rng);
            add(rng, ip, None);
        }
        // Shuffle so the busiest (front) clients are a seeded mix, not always the workstations.
        for i in (1..browsers.len()).rev() {
            let j = rng.index(i + 1);
            browsers.swap(i, j);
        }
        WebGen { browsers }
    }

    fn make(&mut self, rng: &mut R, ts: &DateTime<Utc>) -> Made {
        let browser = rng.chance(0.84);
        let (ip, ua, user, protocol, spec) = if browser {
            let c = self.browsers[rng.skewed(self.browsers.len())];
            let spec = *rng.pick(&BROWSER_PATHS);
            let protocol = if c.h2 { "HTTP/2.0" } else { "HTTP/1.1" };
            let user = if spec.kind == Download { c.user } else { None };
            (c.ip, c.ua, user, protocol, spec)
        } else {
            let t = *rng.pick(&TOOLS);
            let spec = if t.monitor {
                *rng.pick(&MONITOR_PATHS)
            } else {
                *rng.pick(&SCRIPT_PATHS)
            };
            (t.ip, t.ua, None, "HTTP/1.1", spec)
        };

        let status = match *match spec.kind {
            Page | Download => rng.pick(&PAGE_STATUS),
            Static => rng.pick(&STATIC_STATUS),
            Api => rng.pick(&API_STATUS),
            Form => rng.pick(&FORM_STATUS),
            Health => rng.pick(&HEALTH_STATUS),
        } {
            0 => spec.ok,
            304 if spec.method != "GET" => spec.ok,
            s => s,
        };
        let bytes = match status {
            _ if spec.method == "HEAD" => 0,
            200 if spec.ok == 302 => rng.between(3_100, 3_400),
            200..=202 => rng.between(spec.size.0, spec.size.1),
            204 | 304 => 0,
            301 | 302 => rng.between(138, 169),
            _ if spec.kind == Api => rng.between(38, 220),
            400..=499 => rng.between(146, 162),
            _ => rng.between(170, 197),
        };
        let referrer = if !browser {
            None
        } else if matches!(spec.kind, Page | Form | Download) {
            *rng.pick(&PAGE_REFERRERS)
        } else {
            *rng.pick(&ASSET_REFERRERS)
        };
        let path = match spec.path.split_once("{id}") {
            Some((head, tail)) => {
                let mut p = String::with_capacity(spec.path.len() + 4);
                p.push_str(head);
                put_u64(&mut p, rng.between(spec.ids.0, spec.ids.1));
                p.push_str(tail);
                Cow::Owned(p)
            }
            None => Cow::Borrowed(spec.path),
        };
        let host = *rng.pick(&WEB_SERVERS);
        let f = WebFields {
            vhost: WEB_VHOST,
            src_ip: ip,
            user,
            method: spec.method,
            path,
            protocol,
            status,
            bytes,
            referrer,
            user_agent: ua,
        };
        let mut message = String::with_capacity(256);
        f.render(ts, &mut message);
        Made {
            host,
            app: "nginx",
            // nginx's syslog access logging uses one severity (info) whatever the status.
            severity: 6,
            message,
            fields: Fields::Web(f),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// auth: sshd, PAM, systemd-logind, sudo, cron

/// Which auth line an event is; it decides the wording, APP-NAME and severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    Accepted,
    FailedPassword,
    InvalidUser,
    ConnectionClosedPreauth,
    PamCheckPass,
    PamAuthFailure,
    SessionOpened,
    SessionClosed,
    ReceivedDisconnect,
    Disconnected,
    LogindNewSession,
    LogindLoggedOut,
    LogindRemoved,
    SudoCommand,
    SudoSessionOpened,
    SudoSessionClosed,
    CronSessionOpened,
    CronCommand,
    CronSessionClosed,
}

impl AuthKind {
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::Accepted => "ssh_accepted",
            AuthKind::FailedPassword => "ssh_failed_password",
            AuthKind::InvalidUser => "ssh_invalid_user",
            AuthKind::ConnectionClosedPreauth => "ssh_closed_preauth",
            AuthKind::PamCheckPass => "pam_check_pass",
            AuthKind::PamAuthFailure => "pam_auth_failure",
            AuthKind::SessionOpened => "ssh_session_opened",
            AuthKind::SessionClosed => "ssh_session_closed",
            AuthKind::ReceivedDisconnect => "ssh_received_disconnect",
            AuthKind::Disconnected => "ssh_disconnected",
            AuthKind::LogindNewSession => "logind_new_session",
            AuthKind::LogindLoggedOut => "logind_logged_out",
            AuthKind::LogindRemoved => "logind_removed_session",
            AuthKind::SudoCommand => "sudo_command",
            AuthKind::SudoSessionOpened => "sudo_session_opened",
            AuthKind::SudoSessionClosed => "sudo_session_closed",
            AuthKind::CronSessionOpened => "cron_session_opened",
            AuthKind::CronCommand => "cron_command",
            AuthKind::CronSessionClosed => "cron_session_closed",
        }
    }

    pub fn app(self) -> &'static str {
        match self {
            AuthKind::LogindNewSession | AuthKind::LogindLoggedOut | AuthKind::LogindRemoved => {
                "systemd-logind"
            }
            AuthKind::SudoCommand | AuthKind::SudoSessionOpened | AuthKind::SudoSessionClosed => {
                "sudo"
            }
            AuthKind::CronSessionOpened | AuthKind::CronCommand | AuthKind::CronSessionClosed => {
                "CRON"
            }
            _ => "sshd",
        }
    }

    /// As the daemons log them: PAM failures and sudo commands at notice, the rest at info.
    pub fn severity(self) -> u8 {
        match self {
            AuthKind::PamAuthFailure | AuthKind::PamCheckPass | AuthKind::SudoCommand => 5,
            _ => 6,
        }
    }

    pub fn outcome(self) -> &'static str {
        match self {
            AuthKind::Accepted => "success",
            AuthKind::FailedPassword
            | AuthKind::InvalidUser
            | AuthKind::PamAuthFailure
            | AuthKind::PamCheckPass
            | AuthKind::ConnectionClosedPreauth => "failure",
            _ => "info",
        }
    }
}

/// An SSH host-key style fingerprint, rendered as 43 base64 characters from the seed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    fn put<B: Buf>(self, out: &mut B) {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut chars = [0u8; 43];
        let mut x = self.0;
        for (k, c) in chars.iter_mut().enumerate() {
            if k % 10 == 0 {
                x = splitmix64(x ^ k as u64);
            }
            *c = B64[(x & 63) as usize];
            x >>= 6;
        }
        out.put("SHA256:");
        out.put_ascii(&chars);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthFields {
    pub kind: AuthKind,
    pub user: &'static str,
    pub uid: u32,
    pub invalid_user: bool,
    pub src_ip: Option<Ipv4Addr>,
    pub src_port: Option<u16>,
    /// "password" or "publickey".
    pub method: Option<&'static str>,
    /// Key type ("ED25519", "RSA", "ECDSA") and fingerprint for publickey logins.
    pub key: Option<(&'static str, Fingerprint)>,
    pub pid: u32,
    pub session: Option<u32>,
    pub tty: Option<u8>,
    pub command: Option<&'static str>,
}

impl AuthFields {
    fn new(kind: AuthKind, user: &'static str, uid: u32, pid: u32) -> Self {
        AuthFields {
            kind,
            user,
            uid,
            invalid_user: false,
            src_ip: None,
            src_port: None,
            method: None,
            key: None,
            pid,
            session: None,
            tty: None,
            command: None,
        }
    }

    fn with(mut self, kind: AuthKind) -> Self {
        self.kind = kind;
        self
    }

    pub(super) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.str("event", self.kind.name());
        o.str("outcome", self.kind.outcome());
        o.str("user", self.user);
        o.uint("uid", u64::from(self.uid));
        o.boolean("invalid_user", self.invalid_user);
        if let Some(ip) = self.src_ip {
            o.ip("src_ip", ip);
        }
        if let Some(port) = self.src_port {
            o.uint("src_port", u64::from(port));
        }
        if let Some(m) = self.method {
            o.str("auth_method", m);
        }
        if let Some((kind, fp)) = self.key {
            o.str("key_type", kind);
            o.key("key_fingerprint");
            o.out.put_byte(b'"');
            fp.put(o.out);
            o.out.put_byte(b'"');
        }
        o.uint("pid", u64::from(self.pid));
        if let Some(s) = self.session {
            o.uint("session_id", u64::from(s));
        }
        if let Some(t) = self.tty {
            o.key("tty");
            o.out.put("\"pts/");
            put_u64(o.out, u64::from(t));
            o.out.put_byte(b'"');
        }
        if let Some(c) = self.command {
            o.str("command", c);
        }
    }

    fn put_from<B: Buf>(&self, out: &mut B, sep: &str) {
        if let Some(ip) = self.src_ip {
            out.put(sep);
            put_ipv4(out, ip);
        }
        out.put(" port ");
        put_u64(out, u64::from(self.src_port.unwrap_or(22)));
    }

    fn render<B: Buf>(&self, out: &mut B) {
        let user = self.user;
        match self.kind {
            AuthKind::Accepted => {
                out.put("Accepted ");
                out.put(self.method.unwrap_or("password"));
                out.put(" for ");
                out.put(user);
                self.put_from(out, " from ");
                out.put(" ssh2");
                if let Some((kind, fp)) = self.key {
                    out.put(": ");
                    out.put(kind);
                    out.put_byte(b' ');
                    fp.put(out);
                }
            }
            AuthKind::FailedPassword => {
                out.put("Failed password for ");
                if self.invalid_user {
                    out.put("invalid user ");
                }
                out.put(user);
                self.put_from(out, " from ");
                out.put(" ssh2");
            }
            AuthKind::InvalidUser => {
                out.put("Invalid user ");
                out.put(user);
                self.put_from(out, " from ");
            }
            AuthKind::ConnectionClosedPreauth => {
                out.put("Connection closed by invalid user ");
                out.put(user);
                self.put_from(out, " ");
                out.put(" [preauth]");
            }
            AuthKind::PamCheckPass => out.put("pam_unix(sshd:auth): check pass; user unknown"),
            AuthKind::PamAuthFailure => {
                out.put(
                    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
                );
                if let Some(ip) = self.src_ip {
                    put_ipv4(out, ip);
                }
                if !self.invalid_user {
                    out.put("  user=");
                    out.put(user);
                }
            }
            AuthKind::SessionOpened | AuthKind::CronSessionOpened => {
                out.put(if self.kind == AuthKind::SessionOpened {
                    "pam_unix(sshd:session): session opened for user "
                } else {
                    "pam_unix(cron:session): session opened for user "
                });
                out.put(user);
                out.put("(uid=");
                put_u64(out, u64::from(self.uid));
                out.put(") by (uid=0)");
            }
            AuthKind::SessionClosed => {
                out.put("pam_unix(sshd:session): session closed for user ");
                out.put(user);
            }
            AuthKind::CronSessionClosed => {
                out.put("pam_unix(cron:session): session closed for user ");
                out.put(user);
            }
            AuthKind::ReceivedDisconnect => {
                out.put("Received disconnect from ");
                if let Some(ip) = self.src_ip {
                    put_ipv4(out, ip);
                }
                out.put(" port ");
                put_u64(out, u64::from(self.src_port.unwrap_or(22)));
                out.put(":11: disconnected by user");
            }
            AuthKind::Disconnected => {
                out.put("Disconnected from user ");
                out.put(user);
                self.put_from(out, " ");
            }
            AuthKind::LogindNewSession => {
                out.put("New session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put(" of user ");
                out.put(user);
                out.put_byte(b'.');
            }
            AuthKind::LogindLoggedOut => {
                out.put("Session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put(" logged out. Waiting for processes to exit.");
            }
            AuthKind::LogindRemoved => {
                out.put("Removed session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put_byte(b'.');
            }
            AuthKind::SudoCommand => {
                out.put(user);
                out.put(" : TTY=pts/");
                put_u64(out, u64::from(self.tty.unwrap_or(0)));
                out.put(" ; PWD=/home/");
                out.put(user);
                out.put(" ; USER=root ; COMMAND=");
                out.put(self.command.unwrap_or("/usr/bin/true"));
            }
            AuthKind::SudoSessionOpened => {
                out.put("pam_unix(sudo:session): session opened for user root(uid=0) by ");
                out.put(user);
                out.put("(uid=");
                put_u64(out, u64::from(self.uid));
                out.put_byte(b')');
            }
            AuthKind::SudoSessionClosed => {
                out.put("pam_unix(sudo:session): session closed for user root");
            }
            AuthKind::CronCommand => {
                out.put_byte(b'(');
                out.put(user);
                out.put(") CMD (");
                out.put(self.command.unwrap_or(""));
                out.put_byte(b')');
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct SshUser {
    name: &'static str,
    uid: u32,
    /// Workstation index for people; service accounts come from the build server.
    person: Option<usize>,
    key_type: &'static str,
    password_share: f64,
}

const fn ssh_person(name: &'static str, person: usize, key_type: &'static str) -> SshUser {
    SshUser {
        name,
        uid: 1001 + person as u32,
        person: Some(person),
        key_type,
        password_share: 0.2,
    }
}

const SSH_USERS: Table<SshUser, 7> = Table::new([
    (ssh_person("jsmith", 0, "ED25519"), 30),
    (ssh_person("apatel", 1, "RSA"), 20),
    (ssh_person("lchen", 3, "ED25519"), 18),
    (ssh_person("okowalski", 4, "ED25519"), 10),
    (ssh_person("dnguyen", 5, "ECDSA"), 12),
    (
        SshUser {
            name: "ansible",
            uid: 998,
            person: None,
            key_type: "ED25519",
            password_share: 0.0,
        },
        25,
    ),
    (
        SshUser {
            name: "deploy",
            uid: 997,
            person: None,
            key_type: "RSA",
            password_share: 0.0,
        },
        10,
    ),
]);

/// Names tried by mistake: typos, image defaults and tools' default accounts.
const INVALID_USERS: Table<&str, 12> = Table::new([
    ("jsmtih", 8),
    ("apatle", 6),
    ("lchne", 5),
    ("ubuntu", 10),
    ("admin", 8),
    ("test", 6),
    ("user", 4),
    ("pi", 3),
    ("vagrant", 4),
    ("centos", 3),
    ("ec2-user", 4),
    ("postgres", 3),
]);

const SUDO_COMMANDS: Table<&str, 10> = Table::new([
    ("/usr/bin/systemctl status nginx", 20),
    ("/usr/bin/systemctl restart nginx", 6),
    ("/usr/bin/journalctl -u nginx --since today", 10),
    ("/usr/bin/apt update", 8),
    ("/usr/bin/apt list --upgradable", 6),
    ("/usr/bin/tail -n 200 /var/log/syslog", 10),
    ("/usr/bin/docker ps", 8),
    ("/usr/bin/less /var/log/nginx/error.log", 6),
    ("/usr/bin/df -h", 8),
    ("/usr/bin/du -sh /var/lib/postgresql", 3),
]);

const CRON_JOBS: Table<(&str, u32, &str), 6> = Table::new([
    (
        ("root", 0, "   cd / && run-parts --report /etc/cron.hourly"),
        25,
    ),
    (
        (
            "root",
            0,
            "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
        ),
        40,
    ),
    (
        (
            "root",
            0,
            "/usr/local/sbin/node-exporter-textfile.sh > /dev/null 2>&1",
        ),
        20,
    ),
    (
        (
            "root",
            0,
            "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
        ),
        4,
    ),
    (
        (
            "root",
            0,
            "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi",
        ),
        6,
    ),
    (("backup", 34, "/usr/local/bin/backup-rotate.sh --quiet"), 5),
]);

const LINUX_HOST_WEIGHTS: Table<usize, 6> =
    Table::new([(0, 30), (1, 15), (2, 15), (3, 12), (4, 18), (5, 10)]);

#[derive(Debug, Clone, Copy)]
enum AuthScenario {
    Login,
    Cron,
    Sudo,
    FailedThenLogin,
    InvalidUser,
}

const AUTH_SCENARIOS: Table<AuthScenario, 5> = Table::new([
    (AuthScenario::Login, 26),
    (AuthScenario::Cron, 40),
    (AuthScenario::Sudo, 18),
    (AuthScenario::FailedThenLogin, 9),
    (AuthScenario::InvalidUser, 7),
]);

/// One SSH connection: server, client address and port, and the sshd child's pid.
#[derive(Debug, Clone, Copy)]
struct Conn {
    host: usize,
    ip: Ipv4Addr,
    port: u16,
    pid: u32,
}

#[derive(Debug)]
struct AuthGen {
    queue: Queue<AuthFields>,
    next_session: u32,
    key_seed: u64,
}

impl AuthGen {
    fn new(rng: &mut R) -> Self {
        AuthGen {
            queue: Queue::new(),
            next_session: rng.between(200, 9_000) as u32,
            key_seed: rng.0.next_u64(),
        }
    }

    fn make(&mut self, rng: &mut R, i: u64) -> Made {
        let (host, f) = match self.queue.pop_due(i) {
            Some(p) => p,
            None => {
                self.scenario(rng, i);
                self.queue.pop_due(i).unwrap_or_else(|| {
                    (
                        BASTION,
                        AuthFields::new(AuthKind::CronCommand, "root", 0, 1),
                    )
                })
            }
        };
        let mut message = String::with_capacity(160);
        f.render(&mut message);
        Made {
            host: LINUX_SERVERS[host % LINUX_SERVERS.len()].0,
            app: f.kind.app(),
            severity: f.kind.severity(),
            message,
            fields: Fields::Auth(f),
        }
    }

    fn pid(rng: &mut R) -> u32 {
        rng.between(1_200, 64_000) as u32
    }

    /// Where an SSH user connects from: their desk, the VPN, or the bastion.
    fn source(rng: &mut R, user: &SshUser, host: usize) -> Ipv4Addr {
        match user.person {
            None => BUILD_IP,
            Some(p) => {
                let x = rng.unit();
                if x < 0.2 && host != BASTION {
                    LINUX_SERVERS[BASTION].1
                } else if x < 0.45 {
                    vpn_ip(rng)
                } else {
                    ws_ip(p)
                }
            }
        }
    }

    fn scenario(&mut self, rng: &mut R, i: u64) {
        match *rng.pick(&AUTH_SCENARIOS) {
            AuthScenario::Login => {
                let user = *rng.pick(&SSH_USERS);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = Self::source(rng, &user, host);
                let port = rng.port_linux();
                let pid = Self::pid(rng);
                let method = if rng.chance(user.password_share) {
                    "password"
                } else {
                    "publickey"
                };
                let conn = Conn {
                    host,
                    ip,
                    port,
                    pid,
                };
                self.login(rng, i, conn, &user, method);
            }
            AuthScenario::FailedThenLogin => {
                let user = *rng.pick(&SSH_PEOPLE);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = Self::source(rng, &user, host);
                let port = rng.port_linux();
                let pid = Self::pid(rng);
                let mut f = AuthFields::new(AuthKind::PamAuthFailure, user.name, user.uid, pid);
                f.src_ip = Some(ip);
                f.src_port = Some(port);
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i.saturating_add(1), host, f.with(AuthKind::FailedPassword));
                if rng.chance(0.8) {
                    let due = i.saturating_add(rng.between(2, 6));
                    let conn = Conn {
                        host,
                        ip,
                        port,
                        pid,
                    };
                    self.login(rng, due, conn, &user, "password");
                }
            }
            AuthScenario::InvalidUser => {
                let name = *rng.pick(&INVALID_USERS);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = if rng.chance(0.7) {
                    ws_ip(rng.index(PEOPLE.len()))
                } else {
                    lab_ip(rng)
                };
                let mut f = AuthFields::new(AuthKind::InvalidUser, name, 0, Self::pid(rng));
                f.invalid_user = true;
                f.src_ip = Some(ip);
                f.src_port = Some(rng.port_linux());
                self.queue.push(i, host, f.clone());
                self.queue.push(
                    i.saturating_add(1),
                    host,
                    f.clone().with(AuthKind::PamCheckPass),
                );
                self.queue.push(
                    i.saturating_add(1),
                    host,
                    f.clone().with(AuthKind::PamAuthFailure),
                );
                self.queue.push(
                    i.saturating_add(3),
                    host,
                    f.clone().with(AuthKind::FailedPassword),
                );
                self.queue.push(
                    i.saturating_add(4),
                    host,
                    f.with(AuthKind::ConnectionClosedPreauth),
                );
            }
            AuthScenario::Sudo => {
                let user = *rng.pick(&SSH_PEOPLE);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let mut f =
                    AuthFields::new(AuthKind::SudoCommand, user.name, user.uid, Self::pid(rng));
                f.tty = Some(rng.below(4) as u8);
                f.command = Some(*rng.pick(&SUDO_COMMANDS));
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i, host, f.clone().with(AuthKind::SudoSessionOpened));
                let close = i.saturating_add(rng.between(1, 12));
                self.queue
                    .push(close, host, f.with(AuthKind::SudoSessionClosed));
            }
            AuthScenario::Cron => {
                let (user, uid, command) = *rng.pick(&CRON_JOBS);
                let host = if user == "backup" {
                    DB_HOST
                } else {
                    *rng.pick(&LINUX_HOST_WEIGHTS)
                };
                let mut f = AuthFields::new(AuthKind::CronSessionOpened, user, uid, Self::pid(rng));
                f.command = Some(command);
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i, host, f.clone().with(AuthKind::CronCommand));
                let close = i.saturating_add(rng.between(1, 3));
                self.queue
                    .push(close, host, f.with(AuthKind::CronSessionClosed));
            }
        }
    }

    /// A whole SSH session: accept, PAM and logind open, then after a while the disconnect
    /// and the matching closes, all on the sshd pid and source port of the login.
    fn login(&mut self, rng: &mut R, due: u64, c: Conn, user: &SshUser, method: &'static str) {
        let Conn {
            host,
            ip,
            port,
            pid,
        } = c;
        let session = self.next_session;
        self.next_session = self.next_session.wrapping_add(1).max(1);
        let mut f = AuthFields::new(AuthKind::Accepted, user.name, user.uid, pid);
        f.src_ip = Some(ip);
        f.src_port = Some(port);
        f.session = Some(session);
        let mut accepted = f.clone();
        accepted.method = Some(method);
        if method == "publickey" {
            let fp = Fingerprint(splitmix64(self.key_seed ^ u64::from(user.uid)));
            accepted.key = Some((user.key_type, fp));
        }
        self.queue.push(due, host, accepted);
        self.queue.push(
            due.saturating_add(1),
            host,
            f.clone().with(AuthKind::SessionOpened),
        );
        self.queue.push(
            due.saturating_add(1),
            host,
            f.clone().with(AuthKind::LogindNewSession),
        );
        let end = due.saturating_add(rng.log_uniform(20, 4_000));
        self.queue
            .push(end, host, f.clone().with(AuthKind::ReceivedDisconnect));
        self.queue
            .push(end, host, f.clone().with(AuthKind::Disconnected));
        self.queue.push(
            end.saturating_add(1),
            host,
            f.clone().with(AuthKind::SessionClosed),
        );
        self.queue.push(
            end.saturating_add(1),
            host,
            f.clone().with(AuthKind::LogindLoggedOut),
        );
        self.queue
            .push(end.saturating_add(2), host, f.with(AuthKind::LogindRemoved));
    }
}

/// The people among the SSH users (sudo and password typos are a human thing).
const SSH_PEOPLE: Table<SshUser, 5> = Table::new([
    SSH_USERS.entries[0],
    SSH_USERS.entries[1],
    SSH_USERS.entries[2],
    SSH_USERS.entries[3],
    SSH_USERS.entries[4],
]);

// ---------------------------------------------------------------------------------------------
// dns: BIND query log

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsData {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// Domain names (CNAME, PTR) and presentation-format rdata (MX, SRV, TXT).
    Text(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsAnswer {
    pub rtype: &'static str,
    pub ttl: u32,
    pub data: DnsData,
}

/// One query; BIND's query log line only shows the question, so the answer the resolver
/// gave lives here.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsFields {
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
    pub server_ip: Ipv4Addr,
    pub qname: Cow<'static, str>,
    pub qtype: &'static str,
    /// BIND's flag column, e.g. "+E(0)K".
    pub flags: &'static str,
    pub rcode: &'static str,
    pub answers: Vec<DnsAnswer>,
    /// BIND's per-client object address ("client @0x7f...").
    pub client_object: u64,
}

impl DnsFields {
    pub(super) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.ip("src_ip", self.client_ip);
        o.uint("src_port", u64::from(self.client_port));
        o.ip("dst_ip", self.server_ip);
        o.uint("dst_port", 53);
        o.str(
            "transport",
            if self.flags.contains('T') {
                "tcp"
            } else {
                "udp"
            },
        );
        o.str("qname", &self.qname);
        o.str("qclass", "IN");
        o.str("qtype", self.qtype);
        o.str("flags", self.flags);
        o.str("rcode", self.rcode);
        o.key("answers");
        o.out.put_byte(b'[');
        for (n, a) in self.answers.iter().enumerate() {
            if n > 0 {
                o.out.put_byte(b',');
            }
            let mut ao = JsonObj::open(&mut *o.out);
            ao.str("type", a.rtype);
            ao.uint("ttl", u64::from(a.ttl));
            match a.data {
                DnsData::V4(ip) => ao.ip("data", ip),
                DnsData::V6(ip) => {
                    ao.key("data");
                    let mut s = String::with_capacity(40);
                    use std::fmt::Write as _;
                    let _ = write!(s, "{ip}");
                    put_json_str(ao.out, &s);
                }
                DnsData::Text(t) => ao.str("data", t),
            }
            ao.close();
        }
        o.out.put_byte(b']');
    }

    /// `client @0x7f.. 10.20.1.31#53412 (name): query: name IN A +E(0)K (10.0.0.53)`
    fn render<B: Buf>(&self, out: &mut B) {
        out.put("client @0x");
        put_hex(out, self.client_object);
        out.put_byte(b' ');
        put_ipv4(out, self.client_ip);
        out.put_byte(b'#');
        put_u64(out, u64::from(self.client_port));
        out.put(" (");
        out.put(&self.qname);
        out.put("): query: ");
        out.put(&self.qname);
        out.put(" IN ");
        out.put(self.qtype);
        out.put_byte(b' ');
        out.put(self.flags);
        out.put(" (");
        put_ipv4(out, self.server_ip);
        out.put_byte(b')');
    }
}

#[derive(Debug, Clone, Copy)]
enum Rec {
    /// Internal host, with an IPv6 (ULA) address or not.
    Host(Ipv4Addr, bool),
    /// Internal alias to a host.
    Alias(&'static str, Ipv4Addr),
    /// Public name: peer number, and whether it has IPv6.
    Public(u64, bool),
    /// Public alias (CDN style): target and peer number.
    PublicAlias(&'static str, u64),
    Nx,
    Srv(&'static str, &'static str),
    Mx(&'static str),
    Txt(&'static str),
}

const DOMAINS: Table<(&str, Rec), 35> = Table::new([
    (
        (
            "intranet.lab.internal",
            Rec::Alias("web-lb.lab.internal", WEB_LB),
        ),
        60,
    ),
    (
        (
            "wiki.lab.internal",
            Rec::Alias("web-lb.lab.internal", WEB_LB),
        ),
        25,
    ),
    (
        (
            "git.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 4, 40), false),
        ),
        20,
    ),
    (
        (
            "dc01.corp.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 0, 0, 10), true),
        ),
        25,
    ),
    (
        (
            "dc02.corp.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 0, 0, 11), true),
        ),
        12,
    ),
    (("fs01.corp.lab.internal", Rec::Host(FS_IP, true)), 18),
    (
        (
            "_ldap._tcp.dc._msdcs.corp.lab.internal",
            Rec::Srv(
                "0 100 389 dc01.corp.lab.internal.",
                "0 100 389 dc02.corp.lab.internal.",
            ),
        ),
        20,
    ),
    (
        (
            "_kerberos._tcp.corp.lab.internal",
            Rec::Srv(
                "0 100 88 dc01.corp.lab.internal.",
                "0 100 88 dc02.corp.lab.internal.",
            ),
        ),
        10,
    ),
    (("wpad.corp.lab.internal", Rec::Nx), 15),
    (("wpad.lab.internal", Rec::Nx), 6),
    (
        (
            "proxy.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 6, 8), false),
        ),
        10,
    ),
    (("ntp.lab.internal", Rec::Host(NTP_IP, false)), 6),
    (
        (
            "mail.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 7, 25), false),
        ),
        5,
    ),
    (
        (
            "printer-2f.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 20, 9, 40), false),
        ),
        3,
    ),
    (("corp.lab.internal", Rec::Mx("10 mail.lab.internal.")), 4),
    (
        (
            "lab.internal",
            Rec::Txt("\"v=spf1 mx ip4:10.30.7.25 -all\""),
        ),
        2,
    ),
    (
        (
            "_dmarc.lab.internal",
            Rec::Txt("\"v=DMARC1; p=quarantine; rua=mailto:dmarc@lab.internal\""),
        ),
        1,
    ),
    (("www.google.com", Rec::Public(1, true)), 30),
    (("www.google.com.corp.lab.internal", Rec::Nx), 8),
    (
        (
            "login.microsoftonline.com",
            Rec::PublicAlias("login.mso.msidentity.com", 2),
        ),
        25,
    ),
    (
        (
            "outlook.office365.com",
            Rec::PublicAlias("outlook.ha.office365.com", 3),
        ),
        20,
    ),
    (
        (
            "teams.microsoft.com",
            Rec::PublicAlias("teams.office.com", 4),
        ),
        15,
    ),
    (("github.com", Rec::Public(5, false)), 10),
    (("api.github.com", Rec::Public(6, false)), 6),
    (
        (
            "time.windows.com",
            Rec::PublicAlias("twc.trafficmanager.net", 7),
        ),
        5,
    ),
    (
        (
            "ocsp.digicert.com",
            Rec::PublicAlias("ocsp.edge.digicert.com", 8),
        ),
        10,
    ),
    (
        (
            "deb.debian.org",
            Rec::PublicAlias("debian.map.fastlydns.net", 9),
        ),
        4,
    ),
    (("security.ubuntu.com", Rec::Public(10, true)), 3),
    (("connectivity-check.ubuntu.com", Rec::Public(11, true)), 4),
    (
        (
            "detectportal.firefox.com",
            Rec::PublicAlias("detectportal.prod.mozaws.net", 12),
        ),
        5,
    ),
    (("update.googleapis.com", Rec::Public(13, true)), 4),
    (("pypi.org", Rec::Public(14, true)), 2),
    (("crates.io", Rec::Public(15, false)), 1),
    (
        (
            "www.wikipedia.org",
            Rec::PublicAlias("dyna.wikimedia.org", 16),
        ),
        3,
    ),
    (("github.com.lab.internal", Rec::Nx), 3),
]);

const ADDR_QTYPES: Table<&str, 2> = Table::new([("A", 64), ("AAAA", 36)]);
const ALIAS_QTYPES: Table<&str, 3> = Table::new([("A", 60), ("AAAA", 34), ("CNAME", 3)]);
const DNS_FLAGS: Table<&str, 6> = Table::new([
    ("+E(0)K", 70),
    ("+E(0)", 12),
    ("+", 6),
    ("+E(0)DK", 5),
    ("+E(0)TK", 3),
    ("+E(0)V", 4),
]);

#[derive(Debug, Clone, Copy)]
struct DnsClient {
    ip: Ipv4Addr,
    windows: bool,
}

#[derive(Debug)]
struct DnsGen {
    clients: Vec<DnsClient>,
}

fn ula(ip: Ipv4Addr) -> Ipv6Addr {
    let [_, b, c, d] = ip.octets();
    Ipv6Addr::new(
        0xfd12,
        0x3456,
        0x789a,
        u16::from(b),
        0,
        0,
        u16::from(c),
        u16::from(d),
    )
}

fn public_ip6(k: u64) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x10 + (k % 200) as u16,
        0,
        0,
        0,
        0,
        0x10 + (k % 4000) as u16,
    )
}

impl DnsGen {
    fn new(rng: &mut R) -> Self {
        let mut clients = Vec::with_capacity(80);
        for i in 0..PEOPLE.len() {
            clients.push(DnsClient {
                ip: ws_ip(i),
                windows: true,
            });
        }
        for s in &WIN_SERVERS[2..] {
            clients.push(DnsClient {
                ip: s.3,
                windows: true,
            });
        }
        for s in &LINUX_SERVERS {
            clients.push(DnsClient {
                ip: s.1,
                windows: false,
            });
        }
        for last in 11..=13 {
            clients.push(DnsClient {
                ip: Ipv4Addr::new(10, 30, 0, last),
                windows: false,
            });
        }
        for _ in 0..40 {
            let ip = office_ip(rng);
            clients.push(DnsClient { ip, windows: true });
        }
        for i in (1..clients.len()).rev() {
            let j = rng.index(i + 1);
            clients.swap(i, j);
        }
        DnsGen { clients }
    }

    fn make(&mut self, rng: &mut R) -> Made {
        let client = self.clients[rng.skewed(self.clients.len())];
        let (server_host, server_ip) = *rng.pick(&RESOLVERS);
        let client_port = if client.windows {
            rng.port_windows()
        } else {
            rng.port_linux()
        };
        let mut answers = Vec::new();
        let mut rcode = "NOERROR";
        let (qname, qtype): (Cow<'static, str>, &'static str) = if rng.chance(0.09) {
            // Reverse lookups: known hosts resolve, VPN pool addresses have no PTR.
            let (ip, name) = if rng.chance(0.8) {
                let w = rng.index(PEOPLE.len());
                (ws_ip(w), Some(WS_FQDN[w]))
            } else {
                (vpn_ip(rng), None)
            };
            match name {
                Some(n) => answers.push(DnsAnswer {
                    rtype: "PTR",
                    ttl: 1200,
                    data: DnsData::Text(n),
                }),
                None => rcode = "NXDOMAIN",
            }
            let [a, b, c, d] = ip.octets();
            let mut q = String::with_capacity(32);
            for octet in [d, c, b, a] {
                put_u64(&mut q, u64::from(octet));
                q.push('.');
            }
            q.push_str("in-addr.arpa");
            (Cow::Owned(q), "PTR")
        } else {
            let (name, rec) = *rng.pick(&DOMAINS);
            let public_ttl = rng.between(20, 300) as u32;
            let qtype = match rec {
                Rec::Alias(..) | Rec::PublicAlias(..) => *rng.pick(&ALIAS_QTYPES),
                Rec::Srv(..) => "SRV",
                Rec::Mx(_) => "MX",
                Rec::Txt(_) => "TXT",
                _ => *rng.pick(&ADDR_QTYPES),
            };
            let v6 = qtype == "AAAA";
            match rec {
                Rec::Host(ip, has6) => {
                    if !v6 {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: 3600,
                            data: DnsData::V4(ip),
                        });
                    } else if has6 {
                        answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: 3600,
                            data: DnsData::V6(ula(ip)),
                        });
                    }
                }
                Rec::Alias(target, ip) => {
                    answers.push(DnsAnswer {
                        rtype: "CNAME",
                        ttl: 3600,
                        data: DnsData::Text(target),
                    });
                    if qtype == "A" {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: 300,
                            data: DnsData::V4(ip),
                        });
                    }
                }
                Rec::Public(k, has6) => {
                    if !v6 {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: public_ttl,
                            data: DnsData::V4(public_ip(k)),
                        });
                    } else if has6 {
                        answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: public_ttl,
                            data: DnsData::V6(public_ip6(k)),
                        });
                    }
                }
                Rec::PublicAlias(target, k) => {
                    answers.push(DnsAnswer {
                        rtype: "CNAME",
                        ttl: public_ttl.max(60),
                        data: DnsData::Text(target),
                    });
                    match qtype {
                        "A" => {
                            for n in 0..1 + rng.below(2) {
                                answers.push(DnsAnswer {
                                    rtype: "A",
                                    ttl: public_ttl.min(60),
                                    data: DnsData::V4(public_ip(k + 16 * n)),
                                });
                            }
                        }
                        "AAAA" => answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: public_ttl.min(60),
                            data: DnsData::V6(public_ip6(k)),
                        }),
                        _ => {}
                    }
                }
                Rec::Nx => rcode = "NXDOMAIN",
                Rec::Srv(a, b) => {
                    for t in [a, b] {
                        answers.push(DnsAnswer {
                            rtype: "SRV",
                            ttl: 600,
                            data: DnsData::Text(t),
                        });
                    }
                }
                Rec::Mx(t) => answers.push(DnsAnswer {
                    rtype: "MX",
                    ttl: 3600,
                    data: DnsData::Text(t),
                }),
                Rec::Txt(t) => answers.push(DnsAnswer {
                    rtype: "TXT",
                    ttl: 3600,
                    data: DnsData::Text(t),
                }),
            }
            if matches!(rec, Rec::Public(..) | Rec::PublicAlias(..)) && rng.chance(0.003) {
                answers.clear();
                rcode = "SERVFAIL";
            }
            (Cow::Borrowed(name), qtype)
        };
        let flags = *rng.pick(&DNS_FLAGS);
        let f = DnsFields {
            client_ip: client.ip,
            client_port,
            server_ip,
            qname,
            qtype,
            flags,
            rcode,
            answers,
            client_object: 0x7f00_0000_0000 | (rng.below(1 << 40) & !0xf),
        };
        let mut message = String::with_capacity(160);
        f.render(&mut message);
        Made {
            host: server_host,
            app: "named",
            severity: 6,
            message,
            fields: Fields::Dns(f),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// windows-security: Security log as JSON

/// Well-known and domain security identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sid {
    Null,
    System,
    LocalService,
    NetworkService,
    /// A CORP domain account, by RID.
    Domain(u32),
}

impl Sid {
    fn put<B: Buf>(self, out: &mut B) {
        match self {
            Sid::Null => out.put("S-1-0-0"),
            Sid::System => out.put("S-1-5-18"),
            Sid::LocalService => out.put("S-1-5-19"),
            Sid::NetworkService => out.put("S-1-5-20"),
            Sid::Domain(rid) => {
                out.put(DOMAIN_SID);
                out.put_byte(b'-');
                put_u64(out, u64::from(rid));
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Account {
    pub name: &'static str,
    pub domain: &'static str,
    pub sid: Sid,
    pub logon_id: u64,
}

const NULL_ACCOUNT: Account = Account {
    name: "-",
    domain: "-",
    sid: Sid::Null,
    logon_id: 0,
};
const SYSTEM_ACCOUNT: Account = Account {
    name: "SYSTEM",
    domain: "NT AUTHORITY",
    sid: Sid::System,
    logon_id: 0x3e7,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessInfo {
    pub new_process_name: &'static str,
    pub command_line: &'static str,
    pub parent_process_name: &'static str,
    pub new_process_id: u32,
    pub process_id: u32,
    /// "%%1936" full token (SYSTEM), "%%1938" limited (a user's UAC-filtered token).
    pub token_elevation_type: &'static str,
    pub mandatory_label: &'static str,
}

/// One Security-log record; which members matter depends on `event_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct WinFields {
    pub event_id: u16,
    pub record_id: u64,
    pub computer: &'static str,
    pub subject: Account,
    pub target: Account,
    pub logon_type: Option<u8>,
    pub logon_process: &'static str,
    pub auth_package: &'static str,
    pub workstation: &'static str,
    /// `None` is Windows' "-".
    pub ip: Option<Ipv4Addr>,
    pub port: Option<u16>,
    pub status: u32,
    pub sub_status: u32,
    pub failure_reason: &'static str,
    pub elevated: bool,
    pub process: Option<ProcessInfo>,
    pub privileges: &'static str,
}

impl WinFields {
    fn base(event_id: u16, computer: &'static str) -> Self {
        WinFields {
            event_id,
            record_id: 0,
            computer,
            subject: NULL_ACCOUNT,
            target: NULL_ACCOUNT,
            logon_type: None,
            logon_process: "-",
            auth_package: "-",
            workstation: "-",
            ip: None,
            port: None,
            status: 0,
            sub_status: 0,
            failure_reason: "-",
            elevated: false,
            process: None,
            privileges: "-",
        }
    }

    fn success(&self) -> bool {
        self.event_id != 4625
    }

    pub(super) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.uint("event_id", u64::from(self.event_id));
        o.uint("record_id", self.record_id);
        o.str("computer", self.computer);
        o.str(
            "outcome",
            if self.success() { "success" } else { "failure" },
        );
        let (user, domain, logon_id) = match self.event_id {
            4672 | 4688 => (
                self.subject.name,
                self.subject.domain,
                self.subject.logon_id,
            ),
            _ => (self.target.name, self.target.domain, self.target.logon_id),
        };
        o.str("user", user);
        o.str("domain", domain);
        if self.event_id != 4625 {
            o.hex("logon_id", logon_id);
        }
        if let Some(t) = self.logon_type {
            o.uint("logon_type", u64::from(t));
        }
        if matches!(self.event_id, 4624 | 4625) {
            if let Some(ip) = self.ip {
                o.ip("src_ip", ip);
            }
            if let Some(p) = self.port {
                o.uint("src_port", u64::from(p));
            }
            o.str("workstation", self.workstation);
            o.str("auth_package", self.auth_package);
        }
        if self.event_id == 4625 {
            o.hex("status", u64::from(self.status));
            o.hex("sub_status", u64::from(self.sub_status));
        }
        if let Some(p) = &self.process {
            o.str("process", p.new_process_name);
            o.hex("process_id", u64::from(p.new_process_id));
            o.str("command_line", p.command_line);
            o.str("parent_process", p.parent_process_name);
        }
    }

    fn put_account<B: Buf>(o: &mut JsonObj<'_, B>, prefix: Who, a: &Account) {
        let (sid, name, domain, id) = match prefix {
            Who::Subject => (
                "SubjectUserSid",
                "SubjectUserName",
                "SubjectDomainName",
                "SubjectLogonId",
            ),
            Who::Target => (
                "TargetUserSid",
                "TargetUserName",
                "TargetDomainName",
                "TargetLogonId",
            ),
        };
        o.key(sid);
        o.out.put_byte(b'"');
        a.sid.put(o.out);
        o.out.put_byte(b'"');
        o.str(name, a.name);
        o.str(domain, a.domain);
        o.hex(id, a.logon_id);
    }

    fn put_ip_port<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        match self.ip {
            Some(ip) => o.ip("IpAddress", ip),
            None => o.str("IpAddress", "-"),
        }
        o.key("IpPort");
        o.out.put_byte(b'"');
        match self.port {
            Some(p) => put_u64(o.out, u64::from(p)),
            None => o.out.put_byte(b'-'),
        }
        o.out.put_byte(b'"');
    }

    /// The record the way Windows event forwarders (NXLog, Winlogbeat's raw mode) flatten it:
    /// System properties first, then EventData under its original names.
    fn render<B: Buf>(&self, ts: &DateTime<Utc>, out: &mut B) {
        let mut o = JsonObj::open(out);
        o.uint("EventID", u64::from(self.event_id));
        o.key("TimeCreated");
        o.out.put_byte(b'"');
        put_rfc3339_ms(o.out, ts);
        o.out.put_byte(b'"');
        o.str("Computer", self.computer);
        o.str("Channel", "Security");
        o.str("ProviderName", "Microsoft-Windows-Security-Auditing");
        let task = match self.event_id {
            4634 => 12545,
            4672 => 12548,
            4688 => 13312,
            _ => 12544,
        };
        o.uint("Task", task);
        o.str(
            "Keywords",
            if self.success() {
                "Audit Success"
            } else {
                "Audit Failure"
            },
        );
        o.uint("EventRecordID", self.record_id);
        match self.event_id {
            4624 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                Self::put_account(&mut o, Who::Target, &self.target);
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
                o.str("LogonProcessName", self.logon_process);
                o.str("AuthenticationPackageName", self.auth_package);
                o.str("WorkstationName", self.workstation);
                self.put_ip_port(&mut o);
                o.str("ImpersonationLevel", "%%1833");
                o.str(
                    "ElevatedToken",
                    if self.elevated { "%%1842" } else { "%%1843" },
                );
            }
            4625 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                o.str("TargetUserSid", "S-1-0-0");
                o.str("TargetUserName", self.target.name);
                o.str("TargetDomainName", self.target.domain);
                o.hex("Status", u64::from(self.status));
                o.str("FailureReason", self.failure_reason);
                o.hex("SubStatus", u64::from(self.sub_status));
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
                o.str("LogonProcessName", self.logon_process);
                o.str("AuthenticationPackageName", self.auth_package);
                o.str("WorkstationName", self.workstation);
                self.put_ip_port(&mut o);
            }
            4634 => {
                Self::put_account(&mut o, Who::Target, &self.target);
                o.uint("LogonType", u64::from(self.logon_type.unwrap_or(3)));
            }
            4672 => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                o.str("PrivilegeList", self.privileges);
            }
            _ => {
                Self::put_account(&mut o, Who::Subject, &self.subject);
                if let Some(p) = &self.process {
                    o.hex("NewProcessId", u64::from(p.new_process_id));
                    o.str("NewProcessName", p.new_process_name);
                    o.str("TokenElevationType", p.token_elevation_type);
                    o.hex("ProcessId", u64::from(p.process_id));
                    o.str("CommandLine", p.command_line);
                    Self::put_account(&mut o, Who::Target, &NULL_ACCOUNT);
                    o.str("ParentProcessName", p.parent_process_name);
                    o.str("MandatoryLabel", p.mandatory_label);
                }
            }
        }
        o.close();
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Subject,
    Target,
}

const USER_PROCESSES: Table<(&str, &str, &str), 13> = Table::new([
    (
        (
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
            r#""C:\Program Files\Google\Chrome\Application\chrome.exe" --type=renderer --lang=en-US --num-raster-threads=4 --enable-main-frame-before-activation --renderer-client-id=12 --mojo-platform-channel-handle=4132 /prefetch:1"#,
            r"C:\Program Files\Google\Chrome\Application\chrome.exe",
        ),
        30,
    ),
    (
        (
            r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
            r#""C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe" --type=utility --utility-sub-type=network.mojom.NetworkService --lang=en-US --service-sandbox-type=none --mojo-platform-channel-handle=2228 /prefetch:11"#,
            r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe",
        ),
        14,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\OUTLOOK.EXE" "#,
            r"C:\Windows\explorer.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\WINWORD.EXE" /n"#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE",
            r#""C:\Program Files\Microsoft Office\Root\Office16\EXCEL.EXE" "#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Windows\System32\notepad.exe",
            r#""C:\Windows\system32\notepad.exe" "#,
            r"C:\Windows\explorer.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\RuntimeBroker.exe",
            r"C:\Windows\System32\RuntimeBroker.exe -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        8,
    ),
    (
        (
            r"C:\Windows\System32\backgroundTaskHost.exe",
            r#""C:\Windows\system32\backgroundTaskHost.exe" -ServerName:BackgroundTaskHost.WebAccountProvider"#,
            r"C:\Windows\System32\svchost.exe",
        ),
        5,
    ),
    (
        (
            r"C:\Windows\System32\taskhostw.exe",
            r"taskhostw.exe -RegisterDevice -ProtectionStateChanged -FreeNetworkOnly",
            r"C:\Windows\System32\svchost.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\Microsoft OneDrive\OneDrive.exe",
            r#""C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background"#,
            r"C:\Windows\explorer.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe",
            r#""C:\Program Files\WindowsApps\MSTeams_24295.605.3225.8804_x64__8wekyb3d8bbwe\ms-teams.exe" msteams:system-initiated"#,
            r"C:\Windows\explorer.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\SystemSettingsBroker.exe",
            r"C:\Windows\System32\SystemSettingsBroker.exe -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\explorer.exe",
            r"C:\Windows\Explorer.EXE",
            r"C:\Windows\System32\userinit.exe",
        ),
        1,
    ),
]);

const SYSTEM_PROCESSES: Table<(&str, &str, &str), 10> = Table::new([
    (
        (
            r"C:\Windows\System32\svchost.exe",
            r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
            r"C:\Windows\System32\services.exe",
        ),
        10,
    ),
    (
        (
            r"C:\Windows\System32\svchost.exe",
            r"C:\Windows\System32\svchost.exe -k wsappx -p -s ClipSVC",
            r"C:\Windows\System32\services.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\wbem\WmiPrvSE.exe",
            r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding",
            r"C:\Windows\System32\svchost.exe",
        ),
        8,
    ),
    (
        (
            r"C:\Windows\System32\SearchProtocolHost.exe",
            r#""C:\Windows\system32\SearchProtocolHost.exe" Global\UsGthrFltPipeMssGthrPipe5_ Global\UsGthrCtrlFltPipeMssGthrPipe5 1 -2147483646 "Software\Microsoft\Windows Search" "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT; MS Search 4.0 Robot)" "C:\ProgramData\Microsoft\Search\Data\Temp\usgthrsvc" "DownLevelDaemon" "#,
            r"C:\Windows\System32\SearchIndexer.exe",
        ),
        6,
    ),
    (
        (
            r"C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe",
            r#""C:\ProgramData\Microsoft\Windows Defender\Platform\4.18.24090.11-0\MpCmdRun.exe" SignatureUpdate -ScheduleJob -RestrictPrivileges -DailyReboot"#,
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\sppsvc.exe",
            r"C:\Windows\system32\sppsvc.exe",
            r"C:\Windows\System32\services.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\dllhost.exe",
            r"C:\Windows\system32\DllHost.exe /Processid:{3EB3C877-1F16-487C-9050-104DBCD66683}",
            r"C:\Windows\System32\svchost.exe",
        ),
        4,
    ),
    (
        (
            r"C:\Windows\System32\taskhostw.exe",
            r"taskhostw.exe",
            r"C:\Windows\System32\svchost.exe",
        ),
        3,
    ),
    (
        (
            r"C:\Windows\System32\usoclient.exe",
            r"C:\Windows\system32\usoclient.exe StartScan",
            r"C:\Windows\System32\svchost.exe",
        ),
        2,
    ),
    (
        (
            r"C:\Windows\System32\conhost.exe",
            r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
            r"C:\Windows\System32\sppsvc.exe",
        ),
        1,
    ),
]);

/// (Status, SubStatus, FailureReason) of 4625, mostly mistyped passwords.
const LOGON_FAILURES: Table<(u32, u32, &str), 6> = Table::new([
    ((0xc000_006d, 0xc000_006a, "%%2313"), 72),
    ((0xc000_006d, 0xc000_0064, "%%2313"), 10),
    ((0xc000_0234, 0x0, "%%2307"), 6),
    ((0xc000_006e, 0xc000_0072, "%%2310"), 4),
    ((0xc000_006e, 0xc000_006f, "%%2311"), 3),
    ((0xc000_006e, 0xc000_0071, "%%2309"), 5),
]);

const TYPO_USERS: Table<&str, 5> = Table::new([
    ("jsmtih", 3),
    ("a.patel", 2),
    ("mgarica", 2),
    ("administrator", 1),
    ("lchen2", 1),
]);

const ADMIN_PRIVILEGES: &str = "SeSecurityPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeDebugPrivilege\n\t\t\tSeSystemEnvironmentPrivilege\n\t\t\tSeLoadDriverPrivilege\n\t\t\tSeImpersonatePrivilege\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";
const SYSTEM_PRIVILEGES: &str = "SeAssignPrimaryTokenPrivilege\n\t\t\tSeTcbPrivilege\n\t\t\tSeSecurityPrivilege\n\t\t\tSeTakeOwnershipPrivilege\n\t\t\tSeLoadDriverPrivilege\n\t\t\tSeBackupPrivilege\n\t\t\tSeRestorePrivilege\n\t\t\tSeDebugPrivilege\n\t\t\tSeAuditPrivilege\n\t\t\tSeSystemEnvironmentPrivilege\n\t\t\tSeImpersonatePrivilege\n\t\t\tSeDelegateSessionUserImpersonatePrivilege";
const BACKUP_PRIVILEGES: &str = "SeBackupPrivilege\n\t\t\tSeRestorePrivilege";

/// Separate admin accounts (name, owner's workstation, RID), as tiered AD setups have.
const ADMINS: Table<(&str, usize, u32), 3> = Table::new([
    (("adm-jsmith", 0, 1201), 5),
    (("adm-apatel", 1, 1202), 3),
    (("adm-lchen", 3, 1203), 2),
]);

#[derive(Debug, Clone, Copy)]
enum WinScenario {
    UserNetwork,
    MachineNetwork,
    Service,
    Interactive,
    Admin,
    Process,
    Failed,
}

const WIN_SCENARIOS: Table<WinScenario, 7> = Table::new([
    (WinScenario::UserNetwork, 24),
    (WinScenario::MachineNetwork, 12),
    (WinScenario::Service, 10),
    (WinScenario::Interactive, 4),
    (WinScenario::Admin, 3),
    (WinScenario::Process, 40),
    (WinScenario::Failed, 5),
]);

/// Servers users reach over the network: FS01, the DCs (GPO/SYSVOL), APP01.
/// Interactive (2), unlock (7) and cached (11) logons at the desk.
const INTERACTIVE_TYPES: Table<u8, 3> = Table::new([(2, 3), (7, 5), (11, 2)]);

const NETWORK_TARGETS: Table<usize, 4> = Table::new([(2, 50), (0, 25), (1, 15), (3, 10)]);

#[derive(Debug, Clone, Copy)]
struct WinHost {
    fqdn: &'static str,
    netbios: &'static str,
    machine: &'static str,
}

const WS_BASE: usize = WIN_SERVERS.len();

#[derive(Debug)]
struct WinGen {
    hosts: Vec<WinHost>,
    records: Vec<u64>,
    queue: Queue<Box<WinFields>>,
}

impl WinGen {
    fn new(rng: &mut R) -> Self {
        let mut hosts = Vec::with_capacity(WS_BASE + PEOPLE.len());
        for (fqdn, netbios, machine, _) in WIN_SERVERS {
            hosts.push(WinHost {
                fqdn,
                netbios,
                machine,
            });
        }
        for w in 0..PEOPLE.len() {
            hosts.push(WinHost {
                fqdn: WS_FQDN[w],
                netbios: WS_NAME[w],
                machine: WS_MACHINE[w],
            });
        }
        // Each computer's log has been running for a while: start its record ids mid-stream.
        let records = hosts
            .iter()
            .map(|_| rng.between(100_000, 40_000_000))
            .collect();
        WinGen {
            hosts,
            records,
            queue: Queue::new(),
        }
    }

    fn host(&self, h: usize) -> WinHost {
        self.hosts[h % self.hosts.len()]
    }

    fn make(&mut self, rng: &mut R, i: u64, ts: &DateTime<Utc>) -> Made {
        let (h, mut f) = match self.queue.pop_due(i) {
            Some(p) => p,
            None => {
                self.scenario(rng, i);
                self.queue.pop_due(i).unwrap_or_else(|| {
                    let mut f = WinFields::base(4672, WIN_SERVERS[0].0);
                    f.subject = SYSTEM_ACCOUNT;
                    f.privileges = SYSTEM_PRIVILEGES;
                    (0, Box::new(f))
                })
            }
        };
        if let Some(r) = self.records.get_mut(h) {
            *r += 1;
            f.record_id = *r;
        }
        let mut message = String::with_capacity(900);
        f.render(ts, &mut message);
        Made {
            host: f.computer,
            app: "Microsoft-Windows-Security-Auditing",
            severity: if f.success() { 6 } else { 4 },
            message,
            fields: Fields::Windows(f),
        }
    }

    fn logon_id(rng: &mut R) -> u64 {
        rng.between(0x10_0000, 0x7fff_ffff)
    }

    fn person(p: usize, logon_id: u64) -> Account {
        Account {
            name: PEOPLE[p % PEOPLE.len()],
            domain: AD_DOMAIN,
            sid: Sid::Domain(1105 + p as u32),
            logon_id,
        }
    }

    fn machine_subject(host: WinHost) -> Account {
        Account {
            name: host.machine,
            domain: AD_DOMAIN,
            sid: Sid::System,
            logon_id: 0x3e7,
        }
    }

    fn push(&mut self, due: u64, h: usize, f: WinFields) {
        self.queue.push(due, h, Box::new(f));
    }

    /// 4624 then (optionally 4672 for privileged accounts) and a later 4634 for the same id.
    fn logon(
        &mut self,
        due: u64,
        h: usize,
        f: WinFields,
        privileges: Option<&'static str>,
        logoff: u64,
    ) {
        let target = f.target;
        let logon_type = f.logon_type;
        let computer = f.computer;
        self.push(due, h, f);
        if let Some(list) = privileges {
            let mut p = WinFields::base(4672, computer);
            p.subject = target;
            p.privileges = list;
            self.push(due, h, p);
        }
        if logoff > 0 {
            let mut off = WinFields::base(4634, computer);
            off.target = target;
            off.logon_type = logon_type;
            self.push(due.saturating_add(logoff), h, off);
        }
    }

    fn network_logon(&mut self, rng: &mut R, due: u64, p: usize, ntlm: bool) {
        let h = *rng.pick(&NETWORK_TARGETS);
        let server = self.host(h);
        let mut f = WinFields::base(4624, server.fqdn);
        f.target = Self::person(p, Self::logon_id(rng));
        f.logon_type = Some(3);
        f.ip = Some(ws_ip(p));
        if ntlm {
            f.logon_process = "NtLmSsp ";
            f.auth_package = "NTLM";
            f.workstation = WS_NAME[p % PEOPLE.len()];
            f.port = Some(0);
        } else {
            f.logon_process = "Kerberos";
            f.auth_package = "Kerberos";
            f.port = Some(rng.port_windows());
        }
        let logoff = rng.between(1, 60);
        self.logon(due, h, f, None, logoff);
    }

    fn interactive_logon(&mut self, rng: &mut R, due: u64, p: usize) {
        let h = WS_BASE + p % PEOPLE.len();
        let host = self.host(h);
        let mut f = WinFields::base(4624, host.fqdn);
        f.subject = Self::machine_subject(host);
        f.target = Self::person(p, Self::logon_id(rng));
        f.logon_type = Some(*rng.pick(&INTERACTIVE_TYPES));
        f.logon_process = "User32 ";
        f.auth_package = "Negotiate";
        f.workstation = host.netbios;
        f.ip = Some(Ipv4Addr::LOCALHOST);
        f.port = Some(0);
        let logoff = rng.log_uniform(200, 20_000);
        self.logon(due, h, f, None, logoff);
    }

    fn scenario(&mut self, rng: &mut R, i: u64) {
        match *rng.pick(&WIN_SCENARIOS) {
            WinScenario::UserNetwork => {
                let p = rng.skewed(PEOPLE.len());
                let ntlm = rng.chance(0.15);
                self.network_logon(rng, i, p, ntlm);
            }
            WinScenario::MachineNetwork => {
                let w = rng.index(PEOPLE.len());
                let h = rng.index(2);
                let dc = self.host(h);
                let mut f = WinFields::base(4624, dc.fqdn);
                f.target = Account {
                    name: WS_MACHINE[w],
                    domain: AD_DOMAIN,
                    sid: Sid::Domain(2101 + w as u32),
                    logon_id: Self::logon_id(rng),
                };
                f.logon_type = Some(3);
                f.logon_process = "Kerberos";
                f.auth_package = "Kerberos";
                f.ip = Some(ws_ip(w));
                f.port = Some(rng.port_windows());
                let logoff = rng.between(1, 8);
                self.logon(i, h, f, None, logoff);
            }
            WinScenario::Service => {
                let h = rng.index(self.hosts.len());
                let host = self.host(h);
                let mut f = WinFields::base(4624, host.fqdn);
                f.subject = Self::machine_subject(host);
                f.logon_type = Some(5);
                f.logon_process = "Advapi  ";
                f.auth_package = "Negotiate";
                f.elevated = true;
                let (privileges, logoff) = if h == 2 && rng.chance(0.3) {
                    f.target = Account {
                        name: "svc-backup",
                        domain: AD_DOMAIN,
                        sid: Sid::Domain(1301),
                        logon_id: Self::logon_id(rng),
                    };
                    (BACKUP_PRIVILEGES, rng.between(50, 2_000))
                } else {
                    let x = rng.unit();
                    f.target = if x < 0.8 {
                        SYSTEM_ACCOUNT
                    } else if x < 0.9 {
                        Account {
                            name: "LOCAL SERVICE",
                            domain: "NT AUTHORITY",
                            sid: Sid::LocalService,
                            logon_id: 0x3e5,
                        }
                    } else {
                        Account {
                            name: "NETWORK SERVICE",
                            domain: "NT AUTHORITY",
                            sid: Sid::NetworkService,
                            logon_id: 0x3e4,
                        }
                    };
                    (SYSTEM_PRIVILEGES, 0)
                };
                self.logon(i, h, f, Some(privileges), logoff);
            }
            WinScenario::Interactive => {
                let p = rng.index(PEOPLE.len());
                self.interactive_logon(rng, i, p);
            }
            WinScenario::Admin => {
                let (name, desk, rid) = *rng.pick(&ADMINS);
                let h = rng.index(WIN_SERVERS.len());
                let server = self.host(h);
                let rdp = rng.chance(0.4);
                let mut f = WinFields::base(4624, server.fqdn);
                f.target = Account {
                    name,
                    domain: AD_DOMAIN,
                    sid: Sid::Domain(rid),
                    logon_id: Self::logon_id(rng),
                };
                f.ip = Some(ws_ip(desk));
                f.elevated = true;
                if rdp {
                    f.subject = Self::machine_subject(server);
                    f.logon_type = Some(10);
                    f.logon_process = "User32 ";
                    f.auth_package = "Negotiate";
                    f.workstation = server.netbios;
                    f.port = Some(0);
                } else {
                    f.logon_type = Some(3);
                    f.logon_process = "Kerberos";
                    f.auth_package = "Kerberos";
                    f.port = Some(rng.port_windows());
                }
                let logoff = if rdp {
                    rng.log_uniform(300, 10_000)
                } else {
                    rng.between(1, 30)
                };
                self.logon(i, h, f, Some(ADMIN_PRIVILEGES), logoff);
            }
            WinScenario::Process => {
                let user_side = rng.chance(0.7);
                let (h, subject, (new, cmd, parent), elevation, label) = if user_side {
                    let p = rng.skewed(PEOPLE.len());
                    let subject = Self::person(p, Self::logon_id(rng));
                    let proc_ = *rng.pick(&USER_PROCESSES);
                    (WS_BASE + p, subject, proc_, "%%1938", "S-1-16-8192")
                } else {
                    let h = rng.index(self.hosts.len());
                    let subject = Self::machine_subject(self.host(h));
                    let proc_ = *rng.pick(&SYSTEM_PROCESSES);
                    (h, subject, proc_, "%%1936", "S-1-16-16384")
                };
                let host = self.host(h);
                let mut f = WinFields::base(4688, host.fqdn);
                f.subject = subject;
                f.process = Some(ProcessInfo {
                    new_process_name: new,
                    command_line: cmd,
                    parent_process_name: parent,
                    new_process_id: (rng.between(0x100, 0x7fff) as u32) * 4,
                    process_id: (rng.between(0x100, 0x7fff) as u32) * 4,
                    token_elevation_type: elevation,
                    mandatory_label: label,
                });
                self.push(i, h, f);
            }
            WinScenario::Failed => {
                let p = rng.skewed(PEOPLE.len());
                let (status, sub_status, reason) = *rng.pick(&LOGON_FAILURES);
                let name = if sub_status == 0xc000_0064 {
                    *rng.pick(&TYPO_USERS)
                } else {
                    PEOPLE[p]
                };
                let at_desk = rng.chance(0.6);
                let h = if at_desk {
                    WS_BASE + p
                } else {
                    *rng.pick(&NETWORK_TARGETS)
                };
                let host = self.host(h);
                let mut f = WinFields::base(4625, host.fqdn);
                f.target = Account {
                    name,
                    domain: AD_DOMAIN,
                    sid: Sid::Null,
                    logon_id: 0,
                };
                f.status = status;
                f.sub_status = sub_status;
                f.failure_reason = reason;
                if at_desk {
                    f.subject = Self::machine_subject(host);
                    f.logon_type = Some(2);
                    f.logon_process = "User32 ";
                    f.auth_package = "Negotiate";
                    f.workstation = host.netbios;
                    f.ip = Some(Ipv4Addr::LOCALHOST);
                    f.port = Some(0);
                } else {
                    f.logon_type = Some(3);
                    f.logon_process = "NtLmSsp ";
                    f.auth_package = "NTLM";
                    f.workstation = WS_NAME[p];
                    f.ip = Some(ws_ip(p));
                    f.port = Some(0);
                }
                self.push(i, h, f);
                // Mistyped passwords are usually followed by the right one.
                if sub_status == 0xc000_006a && rng.chance(0.8) {
                    let due = i.saturating_add(rng.between(1, 5));
                    if at_desk {
                        self.interactive_logon(rng, due, p);
                    } else {
                        self.network_logon(rng, due, p, true);
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// firewall: allow/deny records

#[derive(Debug, Clone, PartialEq)]
pub struct FwFields {
    /// "allow" or "deny".
    pub action: &'static str,
    pub rule_id: u32,
    pub rule_label: &'static str,
    /// "in" or "out", relative to `interface`.
    pub direction: &'static str,
    pub interface: &'static str,
    /// "tcp", "udp" or "icmp".
    pub proto: &'static str,
    pub src_ip: Ipv4Addr,
    pub src_port: Option<u16>,
    pub dst_ip: Ipv4Addr,
    pub dst_port: Option<u16>,
    pub bytes: u64,
    pub packets: u64,
    pub duration_ms: u64,
}

impl FwFields {
    pub(super) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.str("action", self.action);
        o.uint("rule_id", u64::from(self.rule_id));
        o.str("rule_label", self.rule_label);
        o.str("direction", self.direction);
        o.str("interface", self.interface);
        o.str("proto", self.proto);
        o.ip("src_ip", self.src_ip);
        if let Some(p) = self.src_port {
            o.uint("src_port", u64::from(p));
        }
        o.ip("dst_ip", self.dst_ip);
        if let Some(p) = self.dst_port {
            o.uint("dst_port", u64::from(p));
        }
        o.uint("bytes", self.bytes);
        o.uint("packets", self.packets);
        o.uint("duration_ms", self.duration_ms);
    }

    fn put_endpoint<B: Buf>(out: &mut B, ip: Ipv4Addr, port: Option<u16>) {
        put_ipv4(out, ip);
        if let Some(p) = port {
            out.put_byte(b':');
            put_u64(out, u64::from(p));
        }
    }

    /// `rule=110 action=allow dir=in iface=em1 proto=udp src=a:p dst=b:53 bytes=.. packets=..
    /// duration_ms=.. label="..."`
    fn render<B: Buf>(&self, out: &mut B) {
        out.put("rule=");
        put_u64(out, u64::from(self.rule_id));
        out.put(" action=");
        out.put(self.action);
        out.put(" dir=");
        out.put(self.direction);
        out.put(" iface=");
        out.put(self.interface);
        out.put(" proto=");
        out.put(self.proto);
        out.put(" src=");
        Self::put_endpoint(out, self.src_ip, self.src_port);
        out.put(" dst=");
        Self::put_endpoint(out, self.dst_ip, self.dst_port);
        out.put(" bytes=");
        put_u64(out, self.bytes);
        out.put(" packets=");
        put_u64(out, self.packets);
        out.put(" duration_ms=");
        put_u64(out, self.duration_ms);
        out.put(" label=\"");
        out.put(self.rule_label);
        out.put_byte(b'"');
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    User,
    Vpn,
    Lab,
    App,
    Mon,
    Internet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dst {
    Internet,
    Dns,
    Ntp,
    Fs,
    Dc,
    Bastion,
    Db,
    Web,
    Servers,
    Broadcast,
    Ssdp,
    Mdns,
    Wan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Traffic {
    Web,
    Dns,
    Ntp,
    Smb,
    Directory,
    Ssh,
    Db,
    Scrape,
    Ping,
    Probe,
    NetBios,
    Ssdp,
    Mdns,
}

#[derive(Debug, Clone, Copy)]
struct Rule {
    id: u32,
    allow: bool,
    dir: &'static str,
    iface: &'static str,
    proto: &'static str,
    src: Src,
    dst: Dst,
    ports: &'static [u16],
    label: &'static str,
    traffic: Traffic,
}

const fn rule(
    id: u32,
    allow: bool,
    (dir, iface, proto): (&'static str, &'static str, &'static str),
    (src, dst): (Src, Dst),
    ports: &'static [u16],
    label: &'static str,
    traffic: Traffic,
) -> Rule {
    Rule {
        id,
        allow,
        dir,
        iface,
        proto,
        src,
        dst,
        ports,
        label,
        traffic,
    }
}

// One rule per line reads like a firewall config; rustfmt would spread each over 15 lines.
#[rustfmt::skip]
const RULES: Table<Rule, 20> = Table::new([
    (rule(100, true, ("out", "em0", "tcp"), (Src::User, Dst::Internet), &[443], "LAN to internet HTTPS", Traffic::Web), 300),
    (rule(101, true, ("out", "em0", "tcp"), (Src::User, Dst::Internet), &[80], "LAN to internet HTTP", Traffic::Web), 30),
    (rule(102, true, ("out", "em0", "udp"), (Src::User, Dst::Internet), &[443], "LAN to internet QUIC", Traffic::Web), 40),
    (rule(110, true, ("in", "em1", "udp"), (Src::User, Dst::Dns), &[53], "LAN to resolvers", Traffic::Dns), 180),
    (rule(111, true, ("in", "em1", "tcp"), (Src::User, Dst::Dns), &[53], "LAN to resolvers", Traffic::Dns), 4),
    (rule(120, true, ("in", "em1", "udp"), (Src::User, Dst::Ntp), &[123], "LAN to NTP", Traffic::Ntp), 20),
    (rule(130, true, ("in", "em1", "tcp"), (Src::User, Dst::Fs), &[445], "LAN to file server", Traffic::Smb), 60),
    (rule(131, true, ("in", "em1", "tcp"), (Src::User, Dst::Dc), &[88, 389, 445, 135, 636, 3268], "LAN to domain controllers", Traffic::Directory), 80),
    (rule(132, true, ("in", "em1", "udp"), (Src::User, Dst::Dc), &[88, 389], "LAN to domain controllers", Traffic::Directory), 20),
    (rule(140, true, ("in", "ovpns1", "tcp"), (Src::Vpn, Dst::Bastion), &[22], "VPN admins to bastion", Traffic::Ssh), 10),
    (rule(141, true, ("in", "em2", "tcp"), (Src::App, Dst::Db), &[5432], "app tier to database", Traffic::Db), 50),
    (rule(142, true, ("in", "em2", "tcp"), (Src::Mon, Dst::Servers), &[9100, 9113, 9187], "monitoring scrape", Traffic::Scrape), 40),
    (rule(150, true, ("in", "em1", "icmp"), (Src::User, Dst::Servers), &[], "LAN ICMP echo", Traffic::Ping), 10),
    (rule(160, true, ("in", "em1", "tcp"), (Src::User, Dst::Web), &[443], "LAN to intranet web", Traffic::Web), 70),
    (rule(161, true, ("in", "ovpns1", "tcp"), (Src::Vpn, Dst::Web), &[443], "VPN to intranet web", Traffic::Web), 20),
    (rule(900, false, ("in", "em1", "udp"), (Src::User, Dst::Broadcast), &[137, 138], "block NetBIOS broadcast", Traffic::NetBios), 40),
    (rule(901, false, ("in", "em1", "udp"), (Src::User, Dst::Ssdp), &[1900], "block SSDP", Traffic::Ssdp), 25),
    (rule(902, false, ("in", "em1", "udp"), (Src::User, Dst::Mdns), &[5353], "block mDNS", Traffic::Mdns), 20),
    (rule(910, false, ("in", "em3", "tcp"), (Src::Lab, Dst::Servers), &[22, 3389, 445], "lab to server VLAN", Traffic::Probe), 6),
    (rule(999, false, ("in", "em0", "tcp"), (Src::Internet, Dst::Wan), &[23, 445, 3389, 8080, 22, 5900], "default deny", Traffic::Probe), 25),
]);

/// Sizes of a refused TCP SYN: bare, Windows-style and Linux-style options.
const SYN_SIZES: Table<u64, 3> = Table::new([(44, 2), (52, 3), (60, 5)]);

#[derive(Debug)]
struct FwGen;

impl FwGen {
    fn make(&mut self, rng: &mut R) -> Made {
        let r = *rng.pick(&RULES);
        let (src_ip, windows_src) = match r.src {
            Src::User => {
                if rng.chance(0.6) {
                    (ws_ip(rng.skewed(PEOPLE.len())), true)
                } else {
                    (office_ip(rng), true)
                }
            }
            Src::Vpn => (vpn_ip(rng), true),
            Src::Lab => (lab_ip(rng), false),
            Src::App => (LINUX_SERVERS[1 + rng.index(2)].1, false),
            Src::Mon => (MON_IP, false),
            Src::Internet => (public_ip(rng.between(100, 10_000)), false),
        };
        let dst_ip = match r.dst {
            Dst::Internet => public_ip(rng.skewed(400) as u64),
            Dst::Dns => rng.pick(&RESOLVERS).1,
            Dst::Ntp => NTP_IP,
            Dst::Fs => FS_IP,
            Dst::Dc => WIN_SERVERS[rng.index(2)].3,
            Dst::Bastion => LINUX_SERVERS[BASTION].1,
            Dst::Db => LINUX_SERVERS[DB_HOST].1,
            Dst::Web => WEB_LB,
            Dst::Servers => {
                let k = rng.index(LINUX_SERVERS.len() + WIN_SERVERS.len());
                match LINUX_SERVERS.get(k) {
                    Some(s) => s.1,
                    None => WIN_SERVERS[(k - LINUX_SERVERS.len()) % WIN_SERVERS.len()].3,
                }
            }
            Dst::Broadcast => {
                let [a, b, c, _] = src_ip.octets();
                Ipv4Addr::new(a, b, c, 255)
            }
            Dst::Ssdp => Ipv4Addr::new(239, 255, 255, 250),
            Dst::Mdns => Ipv4Addr::new(224, 0, 0, 251),
            Dst::Wan => WAN_IP,
        };
        let dst_port = if r.ports.is_empty() {
            None
        } else {
            r.ports.get(rng.index(r.ports.len())).copied()
        };
        let src_port = match (r.traffic, dst_port) {
            (Traffic::Ping, _) => None,
            (Traffic::NetBios | Traffic::Mdns, p) => p,
            _ if windows_src => Some(rng.port_windows()),
            (Traffic::Probe, _) => Some(rng.between(1_024, 65_535) as u16),
            _ => Some(rng.port_linux()),
        };
        let (bytes, packets, duration_ms) = match r.traffic {
            Traffic::Web => Self::flow(rng, (1_200, 4_000_000), (40, 120_000)),
            Traffic::Dns if r.proto == "tcp" => (
                rng.between(400, 3_000),
                rng.between(6, 10),
                rng.between(2, 80),
            ),
            Traffic::Dns => (rng.between(120, 420), 2, rng.between(1, 60)),
            Traffic::Ntp => (152, 2, rng.between(1, 20)),
            Traffic::Smb => Self::flow(rng, (2_000, 80_000_000), (200, 3_600_000)),
            // CLDAP/Kerberos over UDP: one small request and its answer.
            Traffic::Directory if r.proto == "udp" => {
                (rng.between(180, 1_400), 2, rng.between(1, 20))
            }
            Traffic::Directory => Self::flow(rng, (800, 60_000), (5, 2_000)),
            Traffic::Ssh => Self::flow(rng, (4_000, 6_000_000), (10_000, 10_800_000)),
            Traffic::Db => Self::flow(rng, (1_000, 20_000_000), (2, 600_000)),
            Traffic::Scrape => (
                rng.between(8_000, 90_000),
                rng.between(12, 80),
                rng.between(5, 300),
            ),
            Traffic::Ping => {
                let n = rng.between(1, 4);
                (n * 168, n * 2, n * 1_000)
            }
            Traffic::Probe => (*rng.pick(&SYN_SIZES), 1, 0),
            Traffic::NetBios if dst_port == Some(138) => (rng.between(229, 243), 1, 0),
            Traffic::NetBios => (92, 1, 0),
            Traffic::Ssdp => (rng.between(175, 210), 1, 0),
            Traffic::Mdns => (rng.between(60, 420), 1, 0),
        };
        let f = FwFields {
            action: if r.allow { "allow" } else { "deny" },
            rule_id: r.id,
            rule_label: r.label,
            direction: r.dir,
            interface: r.iface,
            proto: r.proto,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            bytes,
            packets,
            duration_ms,
        };
        let mut message = String::with_capacity(200);
        f.render(&mut message);
        Made {
            host: FIREWALL_HOST,
            app: "pf",
            severity: if r.allow { 6 } else { 4 },
            message,
            fields: Fields::Firewall(f),
        }
    }

    /// A finished connection: size and duration log-uniform, packets from a typical MSS mix.
    fn flow(rng: &mut R, bytes: (u64, u64), dur: (u64, u64)) -> (u64, u64, u64) {
        let b = rng.log_uniform(bytes.0, bytes.1);
        let packets = (b / rng.between(600, 1_400)).max(4);
        (b, packets, rng.log_uniform(dur.0, dur.1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::collections::HashSet;

    fn start() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 20, 30, 45)
            .single()
            .expect("valid time")
    }

    const SPAN: Duration = Duration::from_secs(3_600);

    fn run(profile: &str, seed: u64, count: u64) -> Vec<Event> {
        generator(profile, seed, count, start(), SPAN)
            .expect("known profile")
            .collect()
    }

    fn names() -> impl Iterator<Item = &'static str> {
        PROFILES.iter().map(|p| p.name)
    }

    #[test]
    fn catalogue() {
        for name in ["web-access", "auth", "dns", "windows-security", "firewall"] {
            assert!(exists(name), "{name}");
        }
        assert!(!exists("nope"));
        assert!(!exists(""));
        assert!(generator("nope", 1, 10, start(), SPAN).is_none());
        for p in PROFILES {
            assert!(!p.description.is_empty());
        }
    }

    #[test]
    fn exact_counts() {
        for name in names() {
            for count in [0u64, 1, 7, 5_000] {
                let g = generator(name, 9, count, start(), SPAN).expect("known");
                assert_eq!(g.remaining(), count);
                assert_eq!(g.size_hint(), (count as usize, Some(count as usize)));
                let events: Vec<Event> = g.collect();
                assert_eq!(events.len() as u64, count, "{name} {count}");
                assert!(events.iter().all(|e| e.profile == name));
            }
        }
    }

    #[test]
    fn same_seed_same_events_other_seed_different() {
        for name in names() {
            let a = run(name, 42, 3_000);
            let b = run(name, 42, 3_000);
            assert_eq!(a, b, "{name}");
            let c = run(name, 43, 3_000);
            let differing = a
                .iter()
                .zip(&c)
                .filter(|(x, y)| x.message != y.message)
                .count();
            assert!(differing > 2_000, "{name}: only {differing} differ");
            // A different count changes timestamps, not the content.
            let d = run(name, 42, 1_000);
            for (x, y) in a.iter().zip(&d) {
                assert_eq!(
                    (&x.host, x.app, x.severity, &x.fields),
                    (&y.host, y.app, y.severity, &y.fields),
                    "{name}"
                );
                if name != "web-access" && name != "windows-security" {
                    assert_eq!(x.message, y.message, "{name}");
                }
            }
        }
    }

    #[test]
    fn timestamps_spread_over_span() {
        let end = start() + TimeDelta::seconds(3_600);
        for name in names() {
            let events = run(name, 5, 10_000);
            assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
            assert!(
                events
                    .iter()
                    .all(|e| e.timestamp >= start() && e.timestamp <= end)
            );
            // Evenly: the first and last tenth each hold about a tenth of the events.
            let tenth = start() + TimeDelta::seconds(360);
            let early = events.iter().filter(|e| e.timestamp < tenth).count();
            assert!((900..=1_100).contains(&early), "{early}");
        }
        // Time depends only on (i, count, start, span, seed), not on the profile.
        let times = |p: &str| -> Vec<_> { run(p, 5, 500).iter().map(|e| e.timestamp).collect() };
        assert_eq!(times("dns"), times("firewall"));
        assert_ne!(
            times("dns"),
            run("dns", 6, 500)
                .iter()
                .map(|e| e.timestamp)
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn timestamp_edge_cases() {
        let one: Vec<Event> = generator("dns", 1, 1, start(), Duration::ZERO)
            .expect("known")
            .collect();
        assert_eq!(one[0].timestamp, start());
        let huge: Vec<Event> = generator("firewall", 1, 50, start(), Duration::MAX)
            .expect("known")
            .collect();
        assert_eq!(huge.len(), 50);
        assert!(huge.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        let late: Vec<Event> = generator(
            "auth",
            1,
            20,
            DateTime::<Utc>::MAX_UTC,
            Duration::from_secs(86_400),
        )
        .expect("known")
        .collect();
        assert!(late.iter().all(|e| e.timestamp == DateTime::<Utc>::MAX_UTC));
    }

    #[test]
    fn huge_counts_and_spans_do_not_overflow() {
        for name in names() {
            let g = generator(name, 3, u64::MAX, start(), Duration::MAX).expect("known");
            assert_eq!(g.remaining(), u64::MAX);
            let events: Vec<Event> = g.take(3_000).collect();
            assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        }
    }

    fn is_lab_or_doc(ip: Ipv4Addr) -> bool {
        let [a, b, c, _] = ip.octets();
        ip.is_private()
            || ip.is_loopback()
            || ip.is_multicast()
            || (a, b, c) == (192, 0, 2)
            || (a, b, c) == (198, 51, 100)
            || (a, b, c) == (203, 0, 113)
    }

    #[test]
    fn addresses_are_private_or_documentation() {
        for name in names() {
            for e in run(name, 77, 5_000) {
                let map = e.fields_map();
                for key in ["src_ip", "dst_ip"] {
                    if let Some(v) = map.get(key) {
                        let ip: Ipv4Addr = v.as_str().and_then(|s| s.parse().ok()).expect("ipv4");
                        assert!(is_lab_or_doc(ip), "{name} {key} {ip}");
                    }
                }
                if let Some(port) = map.get("src_port").and_then(|v| v.as_u64()) {
                    assert!(port <= 65_535);
                }
            }
        }
    }

    /// Combined Log Format, parsed strictly by hand.
    struct Clf<'a> {
        ip: &'a str,
        user: &'a str,
        time: &'a str,
        method: &'a str,
        path: &'a str,
        proto: &'a str,
        status: u16,
        bytes: u64,
        referrer: &'a str,
        ua: &'a str,
    }

    fn parse_clf(line: &str) -> Option<Clf<'_>> {
        let (ip, rest) = line.split_once(" - ")?;
        let (user, rest) = rest.split_once(" [")?;
        let (time, rest) = rest.split_once("] \"")?;
        let (request, rest) = rest.split_once("\" ")?;
        let mut req = request.split(' ');
        let (method, path, proto) = (req.next()?, req.next()?, req.next()?);
        if req.next().is_some() {
            return None;
        }
        let (status, rest) = rest.split_once(' ')?;
        let (bytes, rest) = rest.split_once(" \"")?;
        let (referrer, rest) = rest.split_once("\" \"")?;
        let ua = rest.strip_suffix('"')?;
        Some(Clf {
            ip,
            user,
            time,
            method,
            path,
            proto,
            status: status.parse().ok()?,
            bytes: bytes.parse().ok()?,
            referrer,
            ua,
        })
    }

    #[test]
    fn web_access_is_combined_log_format() {
        let events = run("web-access", 11, 20_000);
        let mut statuses = std::collections::HashMap::<u16, usize>::new();
        for e in &events {
            let c = parse_clf(&e.message).unwrap_or_else(|| panic!("not CLF: {}", e.message));
            let Fields::Web(f) = &e.fields else {
                panic!("wrong fields")
            };
            assert_eq!(c.ip.parse::<Ipv4Addr>().ok(), Some(f.src_ip));
            assert!(is_lab_or_doc(f.src_ip));
            assert_eq!(c.user, f.user.unwrap_or("-"));
            let t = DateTime::parse_from_str(c.time, "%d/%b/%Y:%H:%M:%S %z").expect("clf time");
            assert_eq!(t.timestamp(), e.timestamp.timestamp());
            assert!(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"].contains(&c.method));
            assert!(c.path.starts_with('/'));
            assert_eq!(c.path, f.path);
            assert!(c.proto == "HTTP/1.1" || c.proto == "HTTP/2.0");
            assert_eq!((c.status, c.bytes), (f.status, f.bytes));
            assert_eq!(c.referrer, f.referrer.unwrap_or("-"));
            assert_eq!(c.ua, f.user_agent);
            assert!(e.host.starts_with("web-0") && e.host.ends_with(".lab.internal"));
            assert_eq!(e.app, "nginx");
            *statuses.entry(c.status).or_default() += 1;
        }
        let n = events.len();
        let share = |s: u16| statuses.get(&s).copied().unwrap_or(0) as f64 / n as f64;
        assert!(share(200) > 0.6, "{statuses:?}");
        assert!(share(304) > 0.02 && share(404) > 0.005, "{statuses:?}");
        assert!(share(500) > 0.0 && share(500) < 0.01, "{statuses:?}");
        let uas: HashSet<&str> = events
            .iter()
            .filter_map(|e| match &e.fields {
                Fields::Web(f) => Some(f.user_agent),
                _ => None,
            })
            .collect();
        assert!(uas.len() >= 8);
    }

    #[test]
    fn auth_has_the_classic_lines() {
        let events = run("auth", 3, 20_000);
        let has = |needle: &str| events.iter().any(|e| e.message.contains(needle));
        for needle in [
            "Accepted publickey for ",
            "Accepted password for ",
            "Failed password for invalid user ",
            "Invalid user ",
            "pam_unix(sshd:session): session opened for user ",
            "pam_unix(sshd:session): session closed for user ",
            "pam_unix(sshd:auth): authentication failure;",
            "New session ",
            "Removed session ",
            " : TTY=pts/",
            "pam_unix(sudo:session): session opened for user root(uid=0) by ",
            "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
            ") CMD (",
        ] {
            assert!(has(needle), "missing {needle:?}");
        }
        for e in &events {
            assert!(!e.message.contains('\n'));
            if let Some(rest) = e.message.strip_prefix("Accepted ") {
                // Accepted (password|publickey) for USER from IP port N ssh2[: KEY SHA256:..]
                let (method, rest) = rest.split_once(" for ").expect("for");
                assert!(method == "password" || method == "publickey");
                let (_user, rest) = rest.split_once(" from ").expect("from");
                let (ip, rest) = rest.split_once(" port ").expect("port");
                assert!(is_lab_or_doc(ip.parse().expect("ip")));
                let (port, tail) = rest.split_once(" ssh2").expect("ssh2");
                let port: u16 = port.parse().expect("port number");
                assert!(port >= 32_768);
                assert_eq!(method == "publickey", tail.contains(" SHA256:"), "{tail}");
                assert_eq!(e.app, "sshd");
            }
        }
        // Every opened sshd session on a host/pid is closed later, or still open at the end.
        let opened = events
            .iter()
            .filter(|e| {
                e.message
                    .starts_with("pam_unix(sshd:session): session opened")
            })
            .count();
        let closed = events
            .iter()
            .filter(|e| {
                e.message
                    .starts_with("pam_unix(sshd:session): session closed")
            })
            .count();
        assert!(
            closed <= opened && closed * 10 >= opened * 7,
            "{opened} {closed}"
        );
    }

    #[test]
    fn dns_queries_and_answers() {
        let events = run("dns", 8, 20_000);
        let mut qtypes = HashSet::new();
        let mut answer_types = HashSet::new();
        let mut rcodes = HashSet::new();
        for e in &events {
            let Fields::Dns(f) = &e.fields else {
                panic!("wrong fields")
            };
            assert!(e.message.starts_with("client @0x7f"), "{}", e.message);
            let expect = format!("): query: {} IN {} {} (", f.qname, f.qtype, f.flags);
            assert!(e.message.contains(&expect), "{}", e.message);
            assert!(e.host.starts_with("ns") && e.app == "named");
            qtypes.insert(f.qtype);
            rcodes.insert(f.rcode);
            if f.rcode == "NXDOMAIN" {
                assert!(f.answers.is_empty());
            }
            if f.qtype == "PTR" {
                assert!(f.qname.ends_with(".in-addr.arpa"));
            }
            for a in &f.answers {
                answer_types.insert(a.rtype);
            }
        }
        for t in ["A", "AAAA", "MX", "TXT", "PTR", "SRV", "CNAME"] {
            assert!(qtypes.contains(t), "qtype {t}");
        }
        for t in ["A", "AAAA", "CNAME", "MX", "TXT", "PTR"] {
            assert!(answer_types.contains(t), "answer {t}");
        }
        assert!(rcodes.contains("NOERROR") && rcodes.contains("NXDOMAIN"));
    }

    #[test]
    fn windows_security_is_json_with_the_usual_ids() {
        let events = run("windows-security", 21, 20_000);
        let mut ids = HashSet::new();
        let mut last_record = std::collections::HashMap::new();
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(&e.message).expect("message is JSON");
            let id = v["EventID"].as_u64().expect("EventID");
            assert!([4624, 4625, 4688, 4634, 4672].contains(&id), "{id}");
            ids.insert(id);
            assert_eq!(v["Computer"].as_str(), Some(e.host.as_str()));
            assert_eq!(v["Channel"], "Security");
            assert_eq!(e.app, "Microsoft-Windows-Security-Auditing");
            let record = v["EventRecordID"].as_u64().expect("record id");
            if let Some(prev) = last_record.insert(e.host.clone(), record) {
                assert_eq!(record, prev + 1, "record ids per computer are consecutive");
            }
            match id {
                4624 => {
                    assert!(v["LogonType"].as_u64().is_some());
                    for k in [
                        "TargetUserName",
                        "TargetDomainName",
                        "IpAddress",
                        "TargetLogonId",
                    ] {
                        assert!(v[k].is_string(), "{k}");
                    }
                }
                4625 => {
                    assert!(v["Status"].as_str().is_some_and(|s| s.starts_with("0xc")));
                    assert!(v["SubStatus"].as_str().is_some_and(|s| s.starts_with("0x")));
                    assert!(v["TargetUserName"].is_string() && v["IpAddress"].is_string());
                    assert_eq!(v["Keywords"], "Audit Failure");
                }
                4688 => {
                    for k in ["NewProcessName", "CommandLine", "ParentProcessName"] {
                        assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
                    }
                }
                4634 => assert!(v["TargetLogonId"].is_string()),
                _ => assert!(v["PrivilegeList"].is_string()),
            }
        }
        assert_eq!(ids.len(), 5, "{ids:?}");
        // Logoffs refer to logon ids issued earlier on the same computer.
        let mut issued = HashSet::new();
        for e in &events {
            let Fields::Windows(f) = &e.fields else {
                panic!("wrong fields")
            };
            match f.event_id {
                4624 => {
                    issued.insert((f.computer, f.target.logon_id));
                }
                4634 => assert!(issued.contains(&(f.computer, f.target.logon_id))),
                _ => {}
            }
        }
    }

    #[test]
    fn firewall_records() {
        let events = run("firewall", 4, 20_000);
        let mut actions = HashSet::new();
        for e in &events {
            let Fields::Firewall(f) = &e.fields else {
                panic!("wrong fields")
            };
            assert!(e.message.contains("action=allow") || e.message.contains("action=deny"));
            for part in ["rule=", " iface=", " proto=", " src=", " dst=", " bytes="] {
                assert!(e.message.contains(part), "{part} in {}", e.message);
            }
            assert!(
                e.message
                    .contains(&format!("rule={} action={}", f.rule_id, f.action))
            );
            if f.proto == "icmp" {
                assert!(f.src_port.is_none() && f.dst_port.is_none());
            } else {
                assert!(f.src_port.is_some() && f.dst_port.is_some());
            }
            if f.action == "deny" {
                assert_eq!(f.packets, 1);
            }
            actions.insert(f.action);
        }
        assert_eq!(actions.len(), 2);
        let allows = events
            .iter()
            .filter(|e| matches!(&e.fields, Fields::Firewall(f) if f.action == "allow"))
            .count();
        assert!(allows * 10 > events.len() * 8, "mostly allows: {allows}");
    }

    #[test]
    fn write_json_parses_with_fields() {
        let expected: [(&str, &[&str]); 5] = [
            (
                "web-access",
                &["src_ip", "method", "path", "status", "bytes", "user_agent"],
            ),
            ("auth", &["event", "outcome", "user", "pid"]),
            (
                "dns",
                &["src_ip", "dst_ip", "qname", "qtype", "rcode", "answers"],
            ),
            (
                "windows-security",
                &["event_id", "computer", "user", "domain"],
            ),
            (
                "firewall",
                &["action", "rule_id", "proto", "src_ip", "dst_ip", "bytes"],
            ),
        ];
        for (name, keys) in expected {
            let mut buf = Vec::new();
            for e in run(name, 13, 2_000) {
                buf.clear();
                e.write_json(&mut buf);
                assert!(!buf.contains(&b'\n'));
                let v: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
                let ts = v["timestamp"].as_str().expect("timestamp");
                assert_eq!(ts.len(), 24);
                let parsed = DateTime::parse_from_rfc3339(ts).expect("rfc3339");
                assert_eq!(parsed.timestamp_millis(), e.timestamp.timestamp_millis());
                assert_eq!(v["profile"], name);
                assert_eq!(v["host"], e.host.as_str());
                assert_eq!(v["app"], e.app);
                assert_eq!(v["severity"].as_u64(), Some(u64::from(e.severity)));
                assert_eq!(v["message"], e.message.as_str());
                let fields = v["fields"].as_object().expect("fields object");
                for k in keys {
                    assert!(fields.contains_key(*k), "{name}: {k}");
                }
                assert_eq!(fields, &e.fields_map());
                assert_eq!(e.to_json().as_bytes(), buf.as_slice());
            }
        }
    }

    #[test]
    #[ignore = "throughput measurement; run with --release -- --ignored --nocapture"]
    fn throughput() {
        use std::time::Instant;
        const N: u64 = 1_000_000;
        for name in names() {
            let t0 = Instant::now();
            let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
            let mut total = 0usize;
            for e in generator(name, 1, N, start(), SPAN).expect("known") {
                e.write_json(&mut buf);
                buf.push(b'\n');
                // Like a buffered file sink: flush every ~1 MiB.
                if buf.len() >= 1 << 20 {
                    total += buf.len();
                    buf.clear();
                }
            }
            total += buf.len();
            let secs = t0.elapsed().as_secs_f64();
            println!(
                "{name:>17}: {:>9.0} events/s, {:>6.1} MB/s, {:.0} bytes/event",
                N as f64 / secs,
                total as f64 / secs / 1e6,
                total as f64 / N as f64
            );
        }
    }
}
