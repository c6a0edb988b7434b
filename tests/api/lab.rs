//! The lab control plane: exercise sessions, noise runs into real sinks, the scheduler, the
//! platform status and its event stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

/// Polls a noise run until it has ended (the run happens on another thread).
pub(crate) async fn wait_run(app: &TestApp, jwt: &str, id: &str) -> Value {
    for _ in 0..200 {
        let r: Value = app
            .get_bearer(&format!("/api/noise/runs/{id}"), jwt)
            .await
            .json()
            .await
            .unwrap();
        if r["status"] == "succeeded" || r["status"] == "failed" {
            return r;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("run {id} did not finish");
}

pub(crate) async fn run(app: &TestApp, jwt: &str, body: Value) -> Value {
    let res = app
        .send_json(Method::POST, "/api/noise/run", jwt, body)
        .await;
    assert_eq!(res.status(), 202, "{:?}", res.text().await);
    let q: Value = res.json().await.unwrap();
    assert_eq!(q["status"], "queued");
    wait_run(app, jwt, q["id"].as_str().unwrap()).await
}

pub(crate) async fn sink(app: &TestApp, jwt: &str, body: Value) -> Value {
    let res = app
        .send_json(Method::POST, "/api/noise/sinks", jwt, body)
        .await;
    assert_eq!(res.status(), 201, "{:?}", res.text().await);
    res.json().await.unwrap()
}

#[tokio::test]
async fn exercise_sessions_start_end_and_list() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    let start = |name: &str| {
        app.send_json(
            Method::POST,
            "/api/sessions/start",
            &admin.jwt,
            json!({"name": name, "scenario": "phishing"}),
        )
    };
    let res = start("blue-monday").await;
    assert_eq!(res.status(), 201);
    let ex: Value = res.json().await.unwrap();
    assert_eq!(ex["status"], "running");
    assert_eq!(ex["started_by"], admin.body["user"]["id"]);
    assert_error(start("blue-monday").await, 409, "CONFLICT").await;
    start("second").await;
    let running: Value = app
        .get_bearer("/api/sessions?status=running", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(running["meta"]["total"], 2);
    assert_error(
        app.get_bearer("/api/sessions?status=paused", &admin.jwt)
            .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;

    // another tenant neither sees nor ends them
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let theirs: Value = app
        .get_bearer("/api/sessions", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["meta"]["total"], 0);
    let res = app
        .client
        .delete(app.url(&format!("/api/sessions?id={}", ex["id"].as_str().unwrap())))
        .bearer_auth(&red.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ended": 0}));

    // viewers may list but not start or end
    app.user_with_role("v@lab.example", "viewer", "default");
    let v = app.login("v@lab.example").await;
    assert_eq!(app.get_bearer("/api/sessions", &v.jwt).await.status(), 200);
    let b = assert_error(
        app.send_json(
            Method::POST,
            "/api/sessions/start",
            &v.jwt,
            json!({"name": "x"}),
        )
        .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
    assert!(b["message"].as_str().unwrap().contains("manage_exercises"));

    let res = app
        .client
        .delete(app.url(&format!("/api/sessions?id={}", ex["id"].as_str().unwrap())))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ended": 1}));
    let res = app
        .client
        .delete(app.url("/api/sessions"))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.json::<Value>().await.unwrap(), json!({"ended": 1}));
    assert_eq!(
        start("blue-monday").await.status(),
        201,
        "the name is free once ended"
    );
    assert_eq!(app.audit("exercise.start").len(), 3);
    let events: Value = app
        .get_bearer("/api/platform-status/events", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = events["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "exercise.started",
            "exercise.ended",
            "exercise.ended",
            "exercise.started",
            "exercise.started"
        ]
    );
}

#[tokio::test]
async fn file_runs_are_reproducible_by_seed() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let profiles: Value = app
        .get_bearer("/api/noise/profiles", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = profiles["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in ["web-access", "auth", "dns", "windows-security", "firewall"] {
        assert!(names.contains(&p), "{p}");
    }
    let sinks: Value = app
        .get_bearer("/api/noise/sinks", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sinks["data"][0]["name"], "default");
    assert_eq!(sinks["data"][0]["path"], "default.jsonl");
    sink(
        &app,
        &admin.jwt,
        json!({"name": "copy", "kind": "file", "path": "logs/copy.jsonl"}),
    )
    .await;
    for profile in ["web-access", "windows-security"] {
        let a = run(
            &app,
            &admin.jwt,
            json!({"profile": profile, "count": 200, "seed": 42}),
        )
        .await;
        assert_eq!(a["status"], "succeeded", "{a}");
        assert_eq!(a["events_sent"], 200);
        assert_eq!(a["trigger"], "api");
        assert_eq!(a["sink"], "default");
        let b = run(
            &app,
            &admin.jwt,
            json!({"profile": profile, "count": 200, "seed": 42, "sink": "copy"}),
        )
        .await;
        assert_eq!(b["status"], "succeeded");
        let read = |f: &str| -> Vec<Value> {
            std::fs::read_to_string(app.state.config.noise_dir_of("default").join(f))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let (x, y) = (read("default.jsonl"), read("logs/copy.jsonl"));
        // messages carry their timestamps; everything else must match exactly
        let strip = |v: &[Value]| {
            v.iter()
                .map(|e| {
                    (
                        e["host"].clone(),
                        e["app"].clone(),
                        e["severity"].clone(),
                        e["fields"].clone(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let same = strip(&x[x.len() - 200..]) == strip(&y[y.len() - 200..]);
        assert!(same, "same seed, same events");
        assert!(
            x[x.len() - 200..]
                .iter()
                .all(|e| e["profile"] == profile && e["timestamp"].is_string())
        );
        // the tenant's directory, those under it and the files are its owner's alone
        use std::os::unix::fs::PermissionsExt;
        let mode =
            |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let own = app.state.config.noise_dir_of("default");
        assert_eq!(mode(own.clone()), 0o700);
        assert_eq!(mode(own.join("logs")), 0o700);
        assert_eq!(mode(own.join("default.jsonl")), 0o600);
        assert_eq!(mode(own.join("logs/copy.jsonl")), 0o600);
        std::fs::remove_file(own.join("default.jsonl")).unwrap();
        std::fs::remove_file(own.join("logs/copy.jsonl")).unwrap();
    }
    let c = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 50, "seed": 1}),
    )
    .await;
    let d = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 50, "seed": 2}),
    )
    .await;
    assert_eq!(
        (c["status"].as_str(), d["status"].as_str()),
        (Some("succeeded"), Some("succeeded"))
    );
    let lines: Vec<Value> = std::fs::read_to_string(
        app.state
            .config
            .noise_dir_of("default")
            .join("default.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str(l).unwrap())
    .collect();
    let differ = lines[..50].iter().map(|e| &e["fields"]).collect::<Vec<_>>()
        != lines[50..].iter().map(|e| &e["fields"]).collect::<Vec<_>>();
    assert!(differ, "another seed, other events");
}

#[tokio::test]
async fn run_and_sink_validation() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let post = |b: Value| app.send_json(Method::POST, "/api/noise/run", &admin.jwt, b);
    assert_error(
        post(json!({"profile": "chess", "count": 1})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        post(json!({"profile": "dns", "count": 0})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        post(json!({"profile": "dns", "count": 1000001})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        post(json!({"profile": "dns", "count": 1, "sink": "nope"})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let mk = |b: Value| app.send_json(Method::POST, "/api/noise/sinks", &admin.jwt, b);
    // another tenant's directory beside this one's, and links out of this one's
    let own = app.state.config.noise_dir_of("default");
    std::fs::create_dir_all(&own).unwrap();
    std::fs::create_dir_all(app.state.config.noise_dir_of("red")).unwrap();
    std::fs::write(
        app.state.config.noise_dir_of("red").join("secret.jsonl"),
        "x",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc", own.join("escape")).unwrap();
    std::os::unix::fs::symlink("../red", own.join("neighbour")).unwrap();
    for path in [
        "../outside.jsonl",
        "/etc/passwd",
        "a/../../b",
        "escape/passwd",
        "../red/x.jsonl",
        "neighbour/x.jsonl",
        "default/",
        "",
    ] {
        let b = assert_error(
            mk(json!({"name": "bad", "kind": "file", "path": path})).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(b["details"][0]["field"], "path", "{path}");
    }
    // Whether a file of another tenant exists does not show: the same answer for one that
    // exists and one that does not.
    let probe_path = |dir: &str, f: &str| -> &'static str {
        Box::leak(format!("{dir}/{f}.jsonl").into_boxed_str())
    };
    let probe = |p: &'static str| {
        let mk = &mk;
        async move {
            assert_error(
                mk(json!({"name": "bad", "kind": "file", "path": p})).await,
                400,
                "VALIDATION_ERROR",
            )
            .await["details"][0]["message"]
                .clone()
        }
    };
    for through in ["../red", "neighbour"] {
        let there = probe_path(through, "secret");
        let not_there = probe_path(through, "nothing");
        assert_eq!(
            probe(there).await.as_str().unwrap().replace("secret", "F"),
            probe(not_there)
                .await
                .as_str()
                .unwrap()
                .replace("nothing", "F")
        );
    }
    // names that were another tenant's under the shared root are this tenant's own now
    for path in ["red.jsonl", "red/x.jsonl", "defaultx.jsonl"] {
        let res =
            mk(json!({"name": format!("ok-{}", path.len()), "kind": "file", "path": path})).await;
        assert_eq!(res.status(), 201, "{path}");
    }
    assert_error(
        mk(json!({"name": "bad", "kind": "syslog", "host": "127.0.0.1", "port": 70000})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        mk(json!({"name": "bad", "kind": "http", "url": "http://x", "batch_size": 10001})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_error(
        mk(json!({"name": "default", "kind": "file", "path": "default.other.jsonl"})).await,
        409,
        "CONFLICT",
    )
    .await;
    // viewers read, never change
    app.user_with_role("v@lab.example", "viewer", "default");
    let v = app.login("v@lab.example").await;
    assert_eq!(
        app.get_bearer("/api/noise/sinks", &v.jwt).await.status(),
        200
    );
    assert_error(
        app.send_json(
            Method::POST,
            "/api/noise/run",
            &v.jwt,
            json!({"profile": "dns", "count": 1}),
        )
        .await,
        403,
        "MISSING_CAPABILITY",
    )
    .await;
}

#[tokio::test]
async fn syslog_udp_and_tcp_sinks_receive_framed_events() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let port = udp.local_addr().unwrap().port();
    sink(&app, &admin.jwt, json!({"name": "udp", "kind": "syslog", "host": "127.0.0.1", "port": port, "protocol": "udp", "format": "rfc5424"})).await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "auth", "count": 50, "sink": "udp", "seed": 7}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let mut buf = [0u8; 65536];
    for _ in 0..50 {
        let n = udp.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        let (pri, rest) = msg.strip_prefix('<').unwrap().split_once('>').unwrap();
        assert!(pri.parse::<u8>().unwrap() < 192);
        assert!(rest.starts_with("1 20"), "{msg}");
        assert!(!msg.contains('\n'));
    }

    let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = tcp.local_addr().unwrap().port();
    let reader = std::thread::spawn(move || {
        let (s, _) = tcp.accept().unwrap();
        let mut data = vec![];
        BufReader::new(s).read_to_end(&mut data).unwrap();
        data
    });
    sink(&app, &admin.jwt, json!({"name": "tcp", "kind": "syslog", "host": "127.0.0.1", "port": port, "protocol": "tcp", "format": "rfc3164"})).await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "firewall", "count": 40, "sink": "tcp"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let data = reader.join().unwrap();
    // RFC 6587 octet counting: "<len> <msg>" repeated
    let mut rest = &data[..];
    let mut frames = 0;
    while !rest.is_empty() {
        let sp = rest.iter().position(|b| *b == b' ').unwrap();
        let len: usize = std::str::from_utf8(&rest[..sp]).unwrap().parse().unwrap();
        let msg = std::str::from_utf8(&rest[sp + 1..sp + 1 + len]).unwrap();
        assert!(msg.starts_with('<'), "{msg}");
        let after_pri = msg.split_once('>').unwrap().1;
        assert!(
            after_pri.chars().take(3).all(|c| c.is_ascii_alphabetic()),
            "RFC 3164 month first: {msg}"
        );
        rest = &rest[sp + 1 + len..];
        frames += 1;
    }
    assert_eq!(frames, 40);
}

/// A tiny HTTP receiver: answers `status` and hands back the bodies it got.
fn http_receiver(status: u16, expect: usize) -> (u16, std::thread::JoinHandle<Vec<Value>>) {
    http_answers(vec![status; expect])
}

/// An HTTP receiver that answers one request per status given, in order.
fn http_answers(statuses: Vec<u16>) -> (u16, std::thread::JoinHandle<Vec<Value>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let mut bodies = vec![];
        for status in statuses {
            let (s, _) = l.accept().unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut len = 0;
            loop {
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                if line == "\r\n" || line.is_empty() {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            r.read_exact(&mut body).unwrap();
            bodies.push(serde_json::from_slice(&body).unwrap());
            let mut s = s;
            write!(
                s,
                "HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
        }
        bodies
    });
    (port, h)
}

#[tokio::test]
async fn http_sinks_post_batches_and_failures_fail_the_run() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (port, h) = http_receiver(200, 3);
    sink(&app, &admin.jwt, json!({"name": "siem", "kind": "http", "url": format!("http://127.0.0.1:{port}/ingest"), "batch_size": 10})).await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 25, "sink": "siem"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let bodies = h.join().unwrap();
    assert_eq!(
        bodies
            .iter()
            .map(|b| b.as_array().unwrap().len())
            .collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert!(bodies[0][0]["fields"].is_object());

    // a receiver that keeps failing gets the first try and three retries, then the run fails
    // saying why
    let (port, h) = http_receiver(500, 4);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "broken", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 5, "sink": "broken"}),
    )
    .await;
    assert_eq!(r["status"], "failed");
    assert!(r["error"].as_str().unwrap().contains("500"), "{r}");
    assert_eq!(h.join().unwrap().len(), 4, "four tries of the same batch");

    // one that is briefly away gets the batch on the next try
    let (port, h) = http_answers(vec![503, 200]);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "flaky", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 5, "sink": "flaky"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["events_sent"], 5);
    assert_eq!(h.join().unwrap().len(), 2);

    // a redirect delivered nothing (and is never followed)
    let (port, h) = http_answers(vec![302]);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "moved", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 5, "sink": "moved"}),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("302"), "{r}");
    assert_eq!(r["events_sent"], 0);
    h.join().unwrap();

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    sink(&app, &admin.jwt, json!({"name": "gone", "kind": "syslog", "host": "127.0.0.1", "port": closed, "protocol": "tcp"})).await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "auth", "count": 5, "sink": "gone"}),
    )
    .await;
    assert_eq!(r["status"], "failed");
    let error = r["error"].as_str().unwrap();
    assert!(error.contains("could not be reached"), "{r}");
    assert!(
        !error.contains("os error") && !error.contains("refused"),
        "no OS text: {r}"
    );
    assert_eq!(
        app.client
            .get(app.url("/api/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn dispatch_token_runs_in_its_tenant_only_on_its_route() {
    let token = "dispatch-token-0123456789abcdefghijklmnop";
    let app = spawn_with(|c| c.noise_dispatch_token = Some(token.into())).await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/noise/run",
            token,
            json!({"profile": "firewall", "count": 10}),
        )
        .await;
    assert_eq!(res.status(), 202);
    let id = res.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = wait_run(&app, &admin.jwt, &id).await;
    assert_eq!(r["trigger"], "dispatch");
    assert_eq!(r["status"], "succeeded");
    assert_eq!(app.audit("noise.run")[0]["actor_id"], "dispatch");
    assert_error(
        app.get_bearer("/api/noise/runs", token).await,
        401,
        "INVALID_TOKEN",
    )
    .await;
    assert_error(
        app.send_json(
            Method::POST,
            "/api/sessions/start",
            token,
            json!({"name": "x"}),
        )
        .await,
        401,
        "INVALID_TOKEN",
    )
    .await;
}

#[tokio::test]
async fn api_keys_on_the_noise_service() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let mk = |svc: Value| {
        app.send_json(
            Method::POST,
            "/api/api-keys",
            &admin.jwt,
            json!({"name": "k", "services": svc}),
        )
    };
    let read: Value = mk(json!({"noise": "read"})).await.json().await.unwrap();
    let write: Value = mk(json!({"noise": "write"})).await.json().await.unwrap();
    let (r, w) = (
        read["key"].as_str().unwrap(),
        write["key"].as_str().unwrap(),
    );
    assert_eq!(app.get_bearer("/api/noise/runs", r).await.status(), 200);
    assert_error(
        app.send_json(
            Method::POST,
            "/api/noise/run",
            r,
            json!({"profile": "dns", "count": 1}),
        )
        .await,
        403,
        "READ_ONLY_KEY",
    )
    .await;
    assert_eq!(
        app.send_json(
            Method::POST,
            "/api/noise/run",
            w,
            json!({"profile": "dns", "count": 1})
        )
        .await
        .status(),
        202
    );
    assert_error(app.get_bearer("/api/sessions", w).await, 404, "NOT_FOUND").await;
}

#[tokio::test]
async fn schedules_fire_on_time_never_overlap_and_follow_misfire_rules() {
    use labgate::lab::scheduler;
    let app = spawn_app().await;
    let admin = app.admin().await;
    let mk = |b: Value| app.send_json(Method::POST, "/api/noise/schedules", &admin.jwt, b);
    let b = assert_error(
        mk(json!({"name": "s", "cron": "61 * * * *", "profile": "dns", "count": 5})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(b["details"][0]["field"], "cron");
    assert_error(
        mk(json!({"name": "s", "cron": "* * * *", "profile": "dns", "count": 5})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    let res = mk(json!({"name": "every5", "cron": "*/5 * * * *", "profile": "dns", "count": 5, "misfire": "run_once"})).await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.unwrap();
    assert_eq!(s["enabled"], true);
    assert_eq!(s["sink"], "default");
    let next = chrono::DateTime::parse_from_rfc3339(s["next_run_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(next.timestamp() % 300, 0);
    let id = s["id"].as_str().unwrap().to_string();

    // not due yet: nothing fires
    assert!(
        scheduler::tick_and_start(
            &app.state.app,
            &app.state.runner,
            next - chrono::Duration::seconds(1)
        )
        .unwrap()
        .is_empty()
    );
    // due: one run, trigger schedule
    let runs = scheduler::tick_and_start(&app.state.app, &app.state.runner, next).unwrap();
    assert_eq!(runs.len(), 1);
    let r = wait_run(&app, &admin.jwt, &runs[0].id).await;
    assert_eq!(r["trigger"], "schedule");
    assert_eq!(r["schedule_id"], id.as_str());
    let s: Value = app
        .get_bearer(&format!("/api/noise/schedules/{id}"), &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["last_run_id"], runs[0].id.as_str());
    let next2 = chrono::DateTime::parse_from_rfc3339(s["next_run_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    assert_eq!(next2, next + chrono::Duration::minutes(5));

    // the previous run still going: the firing is skipped and recorded
    app.sql(&format!(
        "UPDATE noise_runs SET status = 'running' WHERE id = '{}'",
        runs[0].id
    ));
    assert!(
        scheduler::tick_and_start(&app.state.app, &app.state.runner, next2)
            .unwrap()
            .is_empty()
    );
    let skipped: Value = app
        .get_bearer("/api/platform-status/events", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(skipped["data"][0]["type"], "schedule.skipped");
    app.sql(&format!(
        "UPDATE noise_runs SET status = 'succeeded' WHERE id = '{}'",
        runs[0].id
    ));

    // downtime: run_once fires once however many times were missed; skip fires none
    let s2: Value = mk(json!({"name": "skipper", "cron": "*/5 * * * *", "profile": "auth", "count": 3, "misfire": "skip"})).await.json().await.unwrap();
    let later = next2 + chrono::Duration::hours(2);
    scheduler::catch_up(&app.state.app, later).unwrap();
    let fired = scheduler::tick_and_start(&app.state.app, &app.state.runner, later).unwrap();
    assert_eq!(fired.len(), 1, "run_once fires once, skip not at all");
    assert_eq!(fired[0].schedule_id.as_deref(), Some(id.as_str()));
    let s2: Value = app
        .get_bearer(
            &format!("/api/noise/schedules/{}", s2["id"].as_str().unwrap()),
            &admin.jwt,
        )
        .await
        .json()
        .await
        .unwrap();
    let later_s = later.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        s2["next_run_at"].as_str().unwrap() > later_s.as_str(),
        "skip moved past the downtime"
    );
    assert!(s2["last_run_id"].is_null());
    wait_run(&app, &admin.jwt, &fired[0].id).await;

    // disabled: never fires; the sink in use cannot be deleted; deleted: gone
    let res = app
        .send_json(
            Method::PATCH,
            &format!("/api/noise/schedules/{id}"),
            &admin.jwt,
            json!({"enabled": false}),
        )
        .await;
    assert_eq!(
        res.json::<Value>().await.unwrap()["next_run_at"],
        Value::Null
    );
    assert!(
        scheduler::tick_and_start(
            &app.state.app,
            &app.state.runner,
            later + chrono::Duration::hours(1)
        )
        .unwrap()
        .iter()
        .all(|r| r.schedule_id.as_deref() != Some(id.as_str()))
    );
    let sinks: Value = app
        .get_bearer("/api/noise/sinks", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let default_id = sinks["data"][0]["id"].as_str().unwrap();
    assert_error(
        app.client
            .delete(app.url(&format!("/api/noise/sinks/{default_id}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap(),
        409,
        "CONFLICT",
    )
    .await;
    assert_eq!(
        app.client
            .delete(app.url(&format!("/api/noise/schedules/{id}")))
            .bearer_auth(&admin.jwt)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    // two fires of the deleted schedule, one of "skipper" in the last tick
    assert_eq!(app.audit("noise.schedule.fire").len(), 3);
}

async fn next_frame(res: &mut reqwest::Response, buf: &mut String) -> String {
    loop {
        if let Some(i) = buf.find("\n\n") {
            let frame = buf[..i].to_string();
            buf.drain(..i + 2);
            return frame;
        }
        let chunk = tokio::time::timeout(Duration::from_secs(5), res.chunk())
            .await
            .expect("a frame in time")
            .unwrap()
            .expect("stream open");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

#[tokio::test]
async fn events_stream_live_and_resume_with_last_event_id() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let mut res = app
        .client
        .get(app.url("/api/platform-status/events"))
        .bearer_auth(&admin.jwt)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    // another tenant's event is not delivered; ours are
    app.send_json(
        Method::POST,
        "/api/sessions/start",
        &red.jwt,
        json!({"name": "theirs"}),
    )
    .await;
    app.send_json(
        Method::POST,
        "/api/sessions/start",
        &admin.jwt,
        json!({"name": "ours"}),
    )
    .await;
    let mut buf = String::new();
    let frame = next_frame(&mut res, &mut buf).await;
    assert!(frame.contains("event: exercise.started"), "{frame}");
    assert!(frame.contains("\"name\":\"ours\""), "{frame}");
    let first_id: i64 = frame
        .lines()
        .find_map(|l| l.strip_prefix("id: "))
        .unwrap()
        .parse()
        .unwrap();
    drop(res);

    // missed while disconnected, then resumed
    app.client
        .delete(app.url("/api/sessions"))
        .bearer_auth(&admin.jwt)
        .send()
        .await
        .unwrap();
    app.send_json(
        Method::POST,
        "/api/sessions/start",
        &admin.jwt,
        json!({"name": "again"}),
    )
    .await;
    let mut res = app
        .client
        .get(app.url("/api/platform-status/events"))
        .bearer_auth(&admin.jwt)
        .header("accept", "text/event-stream")
        .header("last-event-id", first_id.to_string())
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    let a = next_frame(&mut res, &mut buf).await;
    let b = next_frame(&mut res, &mut buf).await;
    assert!(a.contains("event: exercise.ended"), "{a}");
    assert!(
        b.contains("event: exercise.started") && b.contains("again"),
        "{b}"
    );
    // the JSON list, newest first, since_id
    let list: Value = app
        .get_bearer(
            &format!("/api/platform-status/events?since_id={first_id}"),
            &admin.jwt,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["meta"]["total"], 2);
    assert_eq!(list["data"][0]["type"], "exercise.started");
    assert!(list["data"][0]["id"].as_i64().unwrap() > list["data"][1]["id"].as_i64().unwrap());
}

#[tokio::test]
async fn platform_status_and_the_noise_module_switch() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    app.send_json(
        Method::POST,
        "/api/sessions/start",
        &admin.jwt,
        json!({"name": "one"}),
    )
    .await;
    run(&app, &admin.jwt, json!({"profile": "dns", "count": 3})).await;
    app.send_json(
        Method::POST,
        "/api/noise/schedules",
        &admin.jwt,
        json!({"name": "h", "cron": "0 * * * *", "profile": "dns", "count": 5}),
    )
    .await;
    let s: Value = app
        .get_bearer("/api/platform-status", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(s["exercises_running"], 1);
    assert_eq!(s["noise_runs_24h"], 1);
    assert_eq!(s["schedules"]["enabled"], 1);
    assert!(
        s["schedules"]["next_run_at"]
            .as_str()
            .unwrap()
            .ends_with(":00:00Z")
    );
    assert!(s["version"].is_string() && s["uptime_s"].is_u64());
    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"features": {"noise": false, "exercises": false}}),
    )
    .await;
    let b = assert_error(
        app.get_bearer("/api/noise/runs", &admin.jwt).await,
        403,
        "MODULE_DISABLED",
    )
    .await;
    assert_eq!(b["moduleId"], "noise");
    let b = assert_error(
        app.get_bearer("/api/sessions", &admin.jwt).await,
        403,
        "MODULE_DISABLED",
    )
    .await;
    assert_eq!(b["moduleId"], "exercises");
}

#[tokio::test]
async fn other_tenants_runs_sinks_and_schedules_answer_404() {
    let app = spawn_app().await;
    app.tenant("red");
    let admin = app.admin().await;
    app.user_with_role("red@lab.example", "admin", "red");
    let red = app.login("red@lab.example").await;
    let r = run(&app, &admin.jwt, json!({"profile": "dns", "count": 2})).await;
    let s: Value = app
        .send_json(
            Method::POST,
            "/api/noise/schedules",
            &admin.jwt,
            json!({"name": "h", "cron": "0 * * * *", "profile": "dns", "count": 5}),
        )
        .await
        .json()
        .await
        .unwrap();
    let sinks: Value = app
        .get_bearer("/api/noise/sinks", &admin.jwt)
        .await
        .json()
        .await
        .unwrap();
    let sink_id = sinks["data"][0]["id"].as_str().unwrap();
    for p in [
        format!("/api/noise/runs/{}", r["id"].as_str().unwrap()),
        format!("/api/noise/schedules/{}", s["id"].as_str().unwrap()),
        format!("/api/noise/sinks/{sink_id}"),
    ] {
        assert_error(app.get_bearer(&p, &red.jwt).await, 404, "NOT_FOUND").await;
        if !p.contains("/runs/") {
            assert_error(
                app.client
                    .delete(app.url(&p))
                    .bearer_auth(&red.jwt)
                    .send()
                    .await
                    .unwrap(),
                404,
                "NOT_FOUND",
            )
            .await;
            assert_error(
                app.send_json(Method::PATCH, &p, &red.jwt, json!({"name": "mine"}))
                    .await,
                404,
                "NOT_FOUND",
            )
            .await;
        }
    }
    let theirs: Value = app
        .get_bearer("/api/noise/sinks", &red.jwt)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        theirs["data"][0]["path"], "default.jsonl",
        "each tenant has its own default sink, in its own directory"
    );
    let res = app
        .send_json(
            Method::POST,
            "/api/noise/run",
            &red.jwt,
            json!({"profile": "dns", "count": 1, "sink": sink_id}),
        )
        .await;
    assert_error(res, 400, "VALIDATION_ERROR").await;
}

#[tokio::test]
async fn a_disabled_noise_module_keeps_its_schedules_from_firing() {
    use labgate::lab::scheduler;
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/noise/schedules",
            &admin.jwt,
            json!({"name": "hourly", "cron": "0 * * * *", "profile": "dns", "count": 5}),
        )
        .await;
    let s: Value = res.json().await.unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(s["next_run_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let res = app
        .send_json(
            Method::PUT,
            "/api/admin/settings",
            &admin.jwt,
            json!({"features": {"noise": false}}),
        )
        .await;
    assert_eq!(res.status(), 200);
    let runs = scheduler::tick_and_start(&app.state.app, &app.state.runner, next).unwrap();
    assert!(runs.is_empty(), "no run while noise is off");
    let skips = app.audit("noise.schedule.skip");
    assert_eq!(skips.len(), 1);
    assert_eq!(skips[0]["details"]["reason"], "module_disabled");
    let n: i64 = app.value("SELECT count(*) FROM noise_runs");
    assert_eq!(n, 0);
    // switched back on, the next time fires
    app.send_json(
        Method::PUT,
        "/api/admin/settings",
        &admin.jwt,
        json!({"features": {"noise": true}}),
    )
    .await;
    let later = next + chrono::Duration::hours(1);
    let runs = scheduler::tick_and_start(&app.state.app, &app.state.runner, later).unwrap();
    assert_eq!(runs.len(), 1);
}

#[tokio::test]
async fn sinks_cannot_reach_metadata_addresses_labgate_itself_or_outside_the_sink_networks() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let make = |b: Value| app.send_json(Method::POST, "/api/noise/sinks", &admin.jwt, b);
    // literal refused addresses are refused when saved, naming the field
    let b = assert_error(
        make(json!({"name": "meta", "kind": "http", "url": "http://169.254.169.254/latest/meta-data"})).await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(b["details"][0]["field"], "url");
    // and so are the forms the resolver reads as addresses (127.0.0.1 and 169.254.169.254
    // written otherwise)
    for host in [
        "169.254.169.254",
        "0.0.0.0",
        "224.0.0.251",
        "fe80::1",
        "127.1",
        "2130706433",
        "0x7f.0.0.1",
        "0xa9fea9fe",
        "169.254.43518",
        "0177.0.0.1",
    ] {
        let b = assert_error(
            make(json!({"name": "x", "kind": "syslog", "host": host, "port": 514})).await,
            400,
            "VALIDATION_ERROR",
        )
        .await;
        assert_eq!(b["details"][0]["field"], "host", "{host}");
    }
    // labgate's own address: a name is checked when the run connects
    let own = app.base.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let res = make(json!({"name": "self", "kind": "http", "url": format!("http://localhost:{own}/api/health")})).await;
    assert_eq!(res.status(), 201, "a name is accepted when saved");
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "auth", "count": 5, "sink": "self"}),
    )
    .await;
    assert_eq!(r["status"], "failed");
    assert!(
        r["error"].as_str().unwrap().contains("labgate itself"),
        "{r}"
    );
}

#[tokio::test]
async fn sink_networks_are_the_only_networks_sinks_reach() {
    let app = spawn_with(|c| {
        c.sink_networks = vec![labgate::domain::net::parse_cidr("10.0.0.0/8").unwrap()];
    })
    .await;
    let admin = app.admin().await;
    let b = assert_error(
        app.send_json(
            Method::POST,
            "/api/noise/sinks",
            &admin.jwt,
            json!({"name": "lo", "kind": "syslog", "host": "127.0.0.1", "port": 514}),
        )
        .await,
        400,
        "VALIDATION_ERROR",
    )
    .await;
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .contains("LABGATE_SINK_NETWORKS"),
        "{b}"
    );
    // a name that resolves outside them fails its run, saying why
    let res = app
        .send_json(
            Method::POST,
            "/api/noise/sinks",
            &admin.jwt,
            json!({"name": "named", "kind": "syslog", "host": "localhost", "port": 514}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "auth", "count": 5, "sink": "named"}),
    )
    .await;
    assert_eq!(r["status"], "failed");
    assert!(
        r["error"]
            .as_str()
            .unwrap()
            .contains("LABGATE_SINK_NETWORKS"),
        "{r}"
    );
}

#[tokio::test]
async fn event_streams_are_released_when_their_clients_go_away() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let before = app.state.events.listeners();
    let mut open = vec![];
    for _ in 0..20 {
        let res = app
            .client
            .get(app.url("/api/platform-status/events"))
            .bearer_auth(&admin.jwt)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        open.push(res);
    }
    assert_eq!(app.state.events.listeners(), before + 20);
    let started = std::time::Instant::now();
    drop(open);
    while app.state.events.listeners() > before {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(12),
            "{} streams still held after their clients left",
            app.state.events.listeners() - before
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    eprintln!("released in {:?}", started.elapsed());
}
