//! web-access: nginx combined-log lines of the intranet.

use super::*;

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
    pub(in crate::lab::noise) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
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
    pub(super) fn render<B: Buf>(&self, ts: &DateTime<Utc>, out: &mut B) {
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
pub(super) enum PathKind {
    Page,
    Static,
    Api,
    Form,
    Health,
    Download,
}

/// A resource the intranet serves; `{id}` in the path is replaced by a number in `ids`.
#[derive(Debug, Clone, Copy)]
pub(super) struct PathSpec {
    pub(super) method: &'static str,
    pub(super) path: &'static str,
    pub(super) kind: PathKind,
    pub(super) ok: u16,
    pub(super) size: (u64, u64),
    pub(super) ids: (u64, u64),
}

pub(super) const fn res(
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

pub(super) const fn res_ids(spec: PathSpec, ids: (u64, u64)) -> PathSpec {
    PathSpec { ids, ..spec }
}

use PathKind::{Api, Download, Form, Health, Page, Static};

pub(super) const BROWSER_PATHS: Table<PathSpec, 25> = Table::new([
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

pub(super) const SCRIPT_PATHS: Table<PathSpec, 4> = Table::new([
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

pub(super) const MONITOR_PATHS: Table<PathSpec, 3> = Table::new([
    (res("GET", "/healthz", Health, 200, (2, 2)), 60),
    (res("GET", "/metrics", Health, 200, (18_000, 26_000)), 30),
    (res("HEAD", "/", Health, 200, (0, 0)), 10),
]);

/// Status tables per kind; 0 stands for the resource's normal success status.
pub(super) const PAGE_STATUS: Table<u16, 8> = Table::new([
    (0, 930),
    (304, 25),
    (404, 25),
    (302, 8),
    (403, 5),
    (500, 4),
    (502, 2),
    (503, 1),
]);
pub(super) const STATIC_STATUS: Table<u16, 4> =
    Table::new([(0, 720), (304, 250), (404, 28), (500, 2)]);
pub(super) const API_STATUS: Table<u16, 7> = Table::new([
    (0, 940),
    (400, 12),
    (401, 14),
    (404, 18),
    (409, 4),
    (500, 8),
    (503, 4),
]);
pub(super) const FORM_STATUS: Table<u16, 2> = Table::new([(0, 95), (200, 5)]);
pub(super) const HEALTH_STATUS: Table<u16, 2> = Table::new([(0, 998), (503, 2)]);

pub(super) const BROWSER_UAS: Table<&str, 9> = Table::new([
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

pub(super) const PAGE_REFERRERS: Table<Option<&str>, 6> = Table::new([
    (None, 40),
    (Some("https://intranet.lab.internal/"), 25),
    (Some("https://intranet.lab.internal/dashboard"), 15),
    (Some("https://wiki.lab.internal/display/IT/Home"), 8),
    (Some("https://teams.microsoft.com/"), 6),
    (Some("https://www.google.com/"), 6),
]);
pub(super) const ASSET_REFERRERS: Table<Option<&str>, 4> = Table::new([
    (Some("https://intranet.lab.internal/dashboard"), 45),
    (Some("https://intranet.lab.internal/"), 25),
    (Some("https://intranet.lab.internal/tickets"), 20),
    (None, 10),
]);

#[derive(Debug, Clone, Copy)]
pub(super) struct Tool {
    pub(super) ip: Ipv4Addr,
    pub(super) ua: &'static str,
    pub(super) monitor: bool,
}

pub(super) const TOOLS: Table<Tool, 5> = Table::new([
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
pub(super) struct WebClient {
    pub(super) ip: Ipv4Addr,
    pub(super) ua: &'static str,
    pub(super) user: Option<&'static str>,
    pub(super) h2: bool,
}

#[derive(Debug)]
pub(super) struct WebGen {
    pub(super) browsers: Vec<WebClient>,
}

impl WebGen {
    pub(super) fn new(rng: &mut R) -> Self {
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

    pub(super) fn make(&mut self, rng: &mut R, ts: &DateTime<Utc>) -> Made {
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
