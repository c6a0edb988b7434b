//! The counters behind `GET /metrics` (SPEC §14) and their Prometheus text exposition.
//!
//! Every hot-path count is one relaxed atomic add into a slot fixed at start: the route is an
//! index into the route list the HTTP layer gives once, the method and the status are small
//! fixed sets. No label is ever built from what a client sent, so the series are bounded and
//! none carries a user, a token or an address.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// The version and the commit the binary was built from (`src/build.rs`).
pub fn version() -> &'static str {
    concat!(env!("CARGO_PKG_VERSION"), " (", env!("LABGATE_COMMIT"), ")")
}

/// An audit-style outcome (SPEC §9): the labels of `labgate_auth_total` and
/// `labgate_logins_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Denied,
}

const OUTCOMES: [&str; 3] = ["success", "failure", "denied"];

/// The credential types of SPEC §5's `auth_method`.
pub const AUTH_METHODS: [&str; 7] = [
    "session",
    "jwt",
    "pat",
    "api_key",
    "global_key",
    "master",
    "dispatch",
];

/// The `limit` labels of `labgate_rate_limited_total`: SPEC §6's limits.
pub const RATE_LIMITS: [&str; 8] = [
    "general",
    "login",
    "change_password",
    "mfa_validate",
    "forgot_password",
    "invite",
    "reset_password",
    "setup",
];

const METHODS: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "OTHER",
];

/// The statuses labgate answers; anything else is counted under its class (`5xx`, ...).
const STATUSES: [u16; 24] = [
    200, 201, 202, 204, 301, 302, 303, 304, 307, 400, 401, 403, 404, 405, 406, 409, 410, 413, 415,
    422, 423, 429, 500, 503,
];
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];
const STATUS_SLOTS: usize = STATUSES.len() + CLASSES.len();

/// Histogram bounds of `labgate_http_request_duration_seconds`, in microseconds.
const BUCKETS_US: [u64; 12] = [
    1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    10_000_000,
];

fn status_slot(status: u16) -> usize {
    match STATUSES.iter().position(|s| *s == status) {
        Some(i) => i,
        None => STATUSES.len() + (usize::from(status / 100).clamp(1, 5) - 1),
    }
}

fn status_label(slot: usize) -> String {
    match STATUSES.get(slot) {
        Some(s) => s.to_string(),
        None => CLASSES[slot - STATUSES.len()].to_string(),
    }
}

/// The slot of a request method.
pub fn method_slot(method: &str) -> usize {
    METHODS[..7].iter().position(|m| *m == method).unwrap_or(7)
}

/// One route's counts: requests by method and status, and its latency histogram.
struct RouteStats {
    requests: Vec<AtomicU64>,
    buckets: [AtomicU64; BUCKETS_US.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl RouteStats {
    fn new() -> RouteStats {
        RouteStats {
            requests: (0..METHODS.len() * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            buckets: Default::default(),
            count: AtomicU64::new(0),
            sum_us: AtomicU64::new(0),
        }
    }
}

/// Every counter of one server.
pub struct Metrics {
    /// Route patterns, in the order the HTTP layer gave them; the index is the route's slot.
    routes: OnceLock<(Vec<String>, Vec<RouteStats>)>,
    auth: [[AtomicU64; 3]; AUTH_METHODS.len()],
    logins: [AtomicU64; 3],
    lockouts: AtomicU64,
    db_unavailable: AtomicU64,
    /// Requests refused by each limit of `RATE_LIMITS`: a flood of 429s takes no lock.
    rate_limited: [AtomicU64; RATE_LIMITS.len()],
    /// (profile, sink kind) -> events sent; profiles are the built-in catalogue's names.
    noise: Mutex<BTreeMap<(String, String), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            routes: OnceLock::new(),
            auth: Default::default(),
            logins: Default::default(),
            lockouts: AtomicU64::new(0),
            db_unavailable: AtomicU64::new(0),
            rate_limited: Default::default(),
            noise: Mutex::new(BTreeMap::new()),
        }
    }
}

fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Starts counting, with the route list fixed once (the first call wins). Until then (no
    /// metrics listener) nothing is counted, and the hot path pays one load per count.
    pub fn enable(&self, patterns: Vec<String>) {
        let stats = patterns.iter().map(|_| RouteStats::new()).collect();
        let _ = self.routes.set((patterns, stats));
    }

    /// One answered request: its route's slot, method slot, status and how long it took.
    pub fn request(&self, route: usize, method: usize, status: u16, took: Duration) {
        let Some((_, stats)) = self.routes.get() else {
            return;
        };
        let Some(r) = stats.get(route) else { return };
        add(
            &r.requests[method.min(METHODS.len() - 1) * STATUS_SLOTS + status_slot(status)],
            1,
        );
        let us = took.as_micros().min(u128::from(u64::MAX)) as u64;
        if let Some(b) = BUCKETS_US.iter().position(|b| us <= *b) {
            add(&r.buckets[b], 1);
        }
        add(&r.count, 1);
        add(&r.sum_us, us);
    }

    fn on(&self) -> bool {
        self.routes.get().is_some()
    }

    /// A credential judged: `method` indexes `AUTH_METHODS`.
    pub fn auth(&self, method: usize, outcome: Outcome) {
        if !self.on() {
            return;
        }
        if let Some(m) = self.auth.get(method) {
            add(&m[outcome as usize], 1);
        }
    }

    pub fn login(&self, outcome: Outcome) {
        if !self.on() {
            return;
        }
        add(&self.logins[outcome as usize], 1);
    }

    pub fn lockout(&self) {
        if !self.on() {
            return;
        }
        add(&self.lockouts, 1);
    }

    pub fn db_unavailable(&self) {
        if !self.on() {
            return;
        }
        add(&self.db_unavailable, 1);
    }

    /// A request refused by `limit`, one of `RATE_LIMITS` (`http::table::Limit::name`).
    pub fn rate_limited(&self, limit: &str) {
        if !self.on() {
            return;
        }
        if let Some(i) = RATE_LIMITS.iter().position(|l| *l == limit) {
            add(&self.rate_limited[i], 1);
        }
    }

    pub fn noise_events(&self, profile: &str, sink_kind: &str, n: u64) {
        if n == 0 || !self.on() {
            return;
        }
        if let Ok(mut m) = self.noise.lock() {
            *m.entry((profile.to_string(), sink_kind.to_string()))
                .or_default() += n;
        }
    }

    /// The Prometheus text exposition (format 0.0.4) of every counter and the process gauges.
    /// `audit_seq` is the audit chain's last sequence number, read at the scrape: the records
    /// ever committed (pruning keeps the numbering), counted at no cost to any write; `None`
    /// when the database could not answer, and the series is left out.
    pub fn render(&self, audit_seq: Option<u64>) -> String {
        let mut out = String::with_capacity(16 * 1024);
        let o = &mut out;
        family(o, "labgate_build_info", "gauge", "The running build.");
        let _ = writeln!(
            o,
            "labgate_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION"),
            escape(env!("LABGATE_COMMIT"))
        );
        self.render_http(o);
        family(
            o,
            "labgate_auth_total",
            "counter",
            "Credentials judged, by credential type and outcome.",
        );
        for (m, name) in AUTH_METHODS.iter().enumerate() {
            for (i, outcome) in OUTCOMES.iter().enumerate() {
                let n = self.auth[m][i].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "labgate_auth_total{{method=\"{name}\",outcome=\"{outcome}\"}} {n}"
                );
            }
        }
        family(
            o,
            "labgate_logins_total",
            "counter",
            "Password sign-ins, by outcome.",
        );
        for (i, outcome) in OUTCOMES.iter().enumerate() {
            let n = self.logins[i].load(Ordering::Relaxed);
            let _ = writeln!(o, "labgate_logins_total{{outcome=\"{outcome}\"}} {n}");
        }
        counter(
            o,
            "labgate_lockouts_total",
            "Accounts locked after repeated failed sign-ins.",
            self.lockouts.load(Ordering::Relaxed),
        );
        family(
            o,
            "labgate_rate_limited_total",
            "counter",
            "Requests refused by a rate limit, by limit.",
        );
        for (limit, n) in RATE_LIMITS.iter().zip(&self.rate_limited) {
            let n = n.load(Ordering::Relaxed);
            let _ = writeln!(o, "labgate_rate_limited_total{{limit=\"{limit}\"}} {n}");
        }
        if let Some(n) = audit_seq {
            counter(
                o,
                "labgate_audit_records_total",
                "Audit records committed to the chain (its last sequence number).",
                n,
            );
        }
        family(
            o,
            "labgate_noise_events_total",
            "counter",
            "Synthetic log events sent, by profile and sink kind.",
        );
        if let Ok(m) = self.noise.lock() {
            for ((profile, kind), n) in m.iter() {
                let _ = writeln!(
                    o,
                    "labgate_noise_events_total{{profile=\"{}\",sink_kind=\"{}\"}} {n}",
                    escape(profile),
                    escape(kind)
                );
            }
        }
        counter(
            o,
            "labgate_db_unavailable_total",
            "Requests answered 503 because the database could not answer.",
            self.db_unavailable.load(Ordering::Relaxed),
        );
        render_process(o);
        out
    }

    fn render_http(&self, o: &mut String) {
        let Some((names, stats)) = self.routes.get() else {
            return;
        };
        family(
            o,
            "labgate_http_requests_total",
            "counter",
            "Requests answered, by route pattern, method and status.",
        );
        for (name, r) in names.iter().zip(stats) {
            for (slot, c) in r.requests.iter().enumerate() {
                let n = c.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let (m, s) = (slot / STATUS_SLOTS, slot % STATUS_SLOTS);
                let _ = writeln!(
                    o,
                    "labgate_http_requests_total{{route=\"{}\",method=\"{}\",status=\"{}\"}} {n}",
                    escape(name),
                    METHODS[m],
                    status_label(s)
                );
            }
        }
        family(
            o,
            "labgate_http_request_duration_seconds",
            "histogram",
            "Time from a request's arrival to its answer, by route pattern.",
        );
        for (name, r) in names.iter().zip(stats) {
            let count = r.count.load(Ordering::Relaxed);
            if count == 0 {
                continue;
            }
            let name = escape(name);
            let mut cumulative = 0;
            for (i, b) in BUCKETS_US.iter().enumerate() {
                cumulative += r.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    o,
                    "labgate_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{}\"}} {cumulative}",
                    *b as f64 / 1e6
                );
            }
            let _ = writeln!(
                o,
                "labgate_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let sum = r.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                o,
                "labgate_http_request_duration_seconds_sum{{route=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                o,
                "labgate_http_request_duration_seconds_count{{route=\"{name}\"}} {count}"
            );
        }
    }
}

fn family(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}");
    let _ = writeln!(o, "# TYPE {name} {kind}");
}

fn counter(o: &mut String, name: &str, help: &str, n: u64) {
    family(o, name, "counter", help);
    let _ = writeln!(o, "{name} {n}");
}

fn gauge(o: &mut String, name: &str, help: &str, n: u64) {
    family(o, name, "gauge", help);
    let _ = writeln!(o, "{name} {n}");
}

/// A label value as the text format wants it.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The standard process gauges, read from `/proc/self`.
fn render_process(o: &mut String) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    if let Some(kb) = field("VmRSS:") {
        gauge(
            o,
            "process_resident_memory_bytes",
            "Resident memory size in bytes.",
            kb * 1024,
        );
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        gauge(
            o,
            "process_open_fds",
            "Number of open file descriptors.",
            fds.count() as u64,
        );
    }
    if let Some(n) = field("Threads:") {
        gauge(o, "process_threads", "Number of OS threads.", n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_outside_the_list_fall_into_their_class() {
        assert_eq!(status_label(status_slot(201)), "201");
        assert_eq!(status_label(status_slot(418)), "4xx");
        assert_eq!(status_label(status_slot(599)), "5xx");
        assert_eq!(status_label(status_slot(99)), "1xx");
    }

    #[test]
    fn a_request_lands_in_its_route_method_status_and_bucket() {
        let m = Metrics::default();
        m.enable(vec!["/api/ping".into(), "/x\"y".into()]);
        m.request(0, method_slot("GET"), 200, Duration::from_millis(3));
        m.request(0, method_slot("GET"), 200, Duration::from_millis(30));
        m.request(1, method_slot("BREW"), 418, Duration::from_secs(60));
        let text = m.render(Some(7));
        assert!(
            text.contains(
                "labgate_http_requests_total{route=\"/api/ping\",method=\"GET\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(text.contains(
            "labgate_http_requests_total{route=\"/x\\\"y\",method=\"OTHER\",status=\"4xx\"} 1"
        ));
        assert!(text.contains(
            "labgate_http_request_duration_seconds_bucket{route=\"/api/ping\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "labgate_http_request_duration_seconds_bucket{route=\"/api/ping\",le=\"0.05\"} 2"
        ));
        // Over the last bound: only in +Inf.
        assert!(text.contains(
            "labgate_http_request_duration_seconds_bucket{route=\"/x\\\"y\",le=\"10\"} 0"
        ));
        assert!(text.contains(
            "labgate_http_request_duration_seconds_bucket{route=\"/x\\\"y\",le=\"+Inf\"} 1"
        ));
        assert!(
            text.contains("labgate_http_request_duration_seconds_count{route=\"/api/ping\"} 2")
        );
    }
}
