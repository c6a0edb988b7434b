//! SPEC §14: the metrics listener and its exposition, read by a real HTTP client and parsed
//! line by line; the counters move with the actions they count, and no label carries a user,
//! an email, a token or an address.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// One sample line: name, labels, value.
type Sample = (String, Vec<(String, String)>, f64);

/// Parses the text exposition strictly: every line a comment (`# HELP`/`# TYPE`) or a sample
/// `name{label="value",...} number`; each family's TYPE comes before its samples, once.
fn parse(text: &str) -> Vec<Sample> {
    let mut typed: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            assert!(
                typed.insert(name.to_string(), kind.to_string()).is_none(),
                "{name} typed twice"
            );
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(
            !line.is_empty() && !line.starts_with('#'),
            "stray line {line:?}"
        );
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value of {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').expect("labels close");
                let mut labels = Vec::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (k, v) = rest.split_once("=\"").expect("label=\"value\"");
                    // The value ends at the first quote not escaped.
                    let mut end = 0;
                    let bytes = v.as_bytes();
                    while bytes[end] != b'"' {
                        end += if bytes[end] == b'\\' { 2 } else { 1 };
                    }
                    labels.push((k.to_string(), v[..end].to_string()));
                    rest = v[end + 1..].strip_prefix(',').unwrap_or(&v[end + 1..]);
                }
                (n.to_string(), labels)
            }
            None => (series.to_string(), Vec::new()),
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
            "{name}"
        );
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|f| typed.get(*f).is_some_and(|k| k == "histogram"))
            .unwrap_or(&name);
        assert!(typed.contains_key(family), "{name} has no TYPE before it");
        out.push((name, labels, value));
    }
    out
}

fn value(samples: &[Sample], name: &str, want: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| {
            n == name
                && want
                    .iter()
                    .all(|(k, v)| labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

async fn scrape(base: &str) -> (String, Vec<Sample>) {
    let res = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = res.text().await.unwrap();
    let samples = parse(&text);
    (text, samples)
}

#[tokio::test]
async fn metrics_count_requests_sign_ins_refusals_and_noise_without_naming_anyone() {
    let app = spawn_app().await;
    let m = labgate::http::bind_metrics(app.state.clone(), "127.0.0.1:0".parse().unwrap())
        .expect("metrics listener binds");
    let base = format!("http://{}", m.addr);
    tokio::spawn(m.server);

    let (_, before) = scrape(&base).await;
    assert_eq!(
        value(
            &before,
            "labgate_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        1.0
    );
    for gauge in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_threads",
    ] {
        assert!(value(&before, gauge, &[]) > 0.0, "{gauge}");
    }
    let audit_before = value(&before, "labgate_audit_records_total", &[]);

    let email = "metrics-user@lab.example";
    app.user_with_role(email, "admin", "default");
    let admin = app.login(email).await;
    assert_eq!(app.login_raw(email, "wrong-password-1").await.status(), 401);
    assert_eq!(
        app.login_raw("nobody@lab.example", "wrong-password-1")
            .await
            .status(),
        401
    );
    let secret_token = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    let refused = app.get_bearer("/api/auth/me", secret_token).await;
    assert_eq!(refused.status(), 401);
    // A value in X-API-Key that is not a PAT is judged as the legacy global key.
    let wrong_key = app
        .client
        .get(app.url("/api/auth/me"))
        .header("x-api-key", "not-the-global-key-0123456789")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_key.status(), 401);
    let me = app.get_bearer("/api/auth/me", &admin.jwt).await;
    assert_eq!(me.status(), 200);
    let user_id = me.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let res = app
        .send_json(
            Method::POST,
            "/api/noise/run",
            &admin.jwt,
            json!({"profile": "dns", "count": 25, "seed": 7}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let run = crate::lab::wait_run(&app, &admin.jwt, &id).await;
    assert_eq!(run["status"], "succeeded", "{run}");

    let (text, after) = scrape(&base).await;
    let logins = |o: &str| value(&after, "labgate_logins_total", &[("outcome", o)]);
    assert_eq!(logins("success"), 1.0, "{text}");
    assert_eq!(logins("failure"), 2.0);
    assert_eq!(
        value(
            &after,
            "labgate_auth_total",
            &[("method", "jwt"), ("outcome", "failure")]
        ),
        1.0
    );
    assert!(
        value(
            &after,
            "labgate_auth_total",
            &[("method", "jwt"), ("outcome", "success")]
        ) >= 2.0
    );
    assert_eq!(
        value(
            &after,
            "labgate_auth_total",
            &[("method", "global_key"), ("outcome", "failure")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "labgate_auth_total",
            &[("method", "api_key"), ("outcome", "failure")]
        ),
        0.0
    );
    assert_eq!(
        value(
            &after,
            "labgate_http_requests_total",
            &[
                ("route", "/api/auth/login"),
                ("method", "POST"),
                ("status", "401")
            ]
        ),
        2.0
    );
    assert_eq!(
        value(
            &after,
            "labgate_http_requests_total",
            &[
                ("route", "/api/auth/me"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        1.0
    );
    assert_eq!(
        value(
            &after,
            "labgate_noise_events_total",
            &[("profile", "dns"), ("sink_kind", "file")]
        ),
        25.0
    );
    let count = value(
        &after,
        "labgate_http_request_duration_seconds_count",
        &[("route", "/api/auth/login")],
    );
    let inf = value(
        &after,
        "labgate_http_request_duration_seconds_bucket",
        &[("route", "/api/auth/login"), ("le", "+Inf")],
    );
    assert!(count >= 3.0 && count == inf, "{count} {inf}");
    assert!(value(&after, "labgate_audit_records_total", &[]) >= audit_before + 4.0);
    assert_eq!(value(&after, "labgate_db_unavailable_total", &[]), 0.0);

    // Nothing that names a person, a credential or an address.
    for needle in [
        email,
        "nobody@lab.example",
        user_id.as_str(),
        secret_token,
        admin.jwt.as_str(),
        "127.0.0.1",
    ] {
        assert!(!text.contains(needle), "{needle} in the metrics");
    }
    // The listener serves nothing else.
    let other = reqwest::get(format!("{base}/api/auth/me")).await.unwrap();
    assert_eq!(other.status(), 404);
}

#[tokio::test]
async fn lockouts_and_rate_limits_are_counted_and_paths_stay_patterns() {
    let app = spawn_with(|c| c.rate_limit_per_minute = 3).await;
    let m = labgate::http::bind_metrics(app.state.clone(), "127.0.0.1:0".parse().unwrap()).unwrap();
    let base = format!("http://{}", m.addr);
    tokio::spawn(m.server);
    app.user_with_role("locked@lab.example", "viewer", "default");
    for _ in 0..5 {
        assert_eq!(
            app.login_raw("locked@lab.example", "not-the-password")
                .await
                .status(),
            401
        );
    }
    let r = app.login_raw("locked@lab.example", PASSWORD).await;
    assert_error(r, 423, "ACCOUNT_LOCKED").await;
    // The general limit (3 a minute from one address) refuses the fourth unknown-path request.
    let from = client_from("127.77.0.9");
    let mut limited = 0;
    for _ in 0..5 {
        let r = from
            .get(app.url(&format!("/api/users/{}/nothing-here", uuid::Uuid::new_v4())))
            .send()
            .await
            .unwrap();
        limited += usize::from(r.status() == 429);
    }
    assert!(limited >= 1);
    let (text, s) = scrape(&base).await;
    assert!(value(&s, "labgate_rate_limited_total", &[("limit", "general")]) >= 1.0);
    assert!(
        value(&s, "labgate_http_requests_total", &[("route", "unmatched")]) >= 3.0,
        "an unknown path is counted under one label, not its own"
    );
    for needle in ["locked@lab.example", "127.77.0.9", "nothing-here"] {
        assert!(!text.contains(needle), "{needle} in the metrics");
    }
    assert_eq!(value(&s, "labgate_lockouts_total", &[]), 1.0);
    assert_eq!(
        value(&s, "labgate_logins_total", &[("outcome", "failure")]),
        6.0
    );
    assert_eq!(
        value(&s, "labgate_logins_total", &[("outcome", "success")]),
        0.0
    );
}
