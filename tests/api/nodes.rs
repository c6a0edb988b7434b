//! Several `labgate serve` processes on one PostgreSQL database, with one key file, acting as
//! one appliance (SPEC §15). These run in the suite's PostgreSQL pass (LABGATE_TEST_POSTGRES).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::{Proc, first_admin, set_up, sign_in, start};

/// A new database and key file for two nodes: their `LABGATE_*` settings, named `a` and `b`.
struct Pair {
    dir: tempfile::TempDir,
    db: String,
}

impl Pair {
    fn new() -> Option<Pair> {
        let db = postgres_database()?;
        Some(Pair {
            dir: tempfile::tempdir().unwrap(),
            db,
        })
    }

    fn node(&self, name: &str) -> Proc {
        let key = self.dir.path().join("labgate.key");
        let own = self.dir.path().join(name);
        std::fs::create_dir_all(&own).unwrap();
        start(
            &own,
            &[
                ("LABGATE_DB", &self.db),
                ("LABGATE_KEY_FILE", key.to_str().unwrap()),
                ("LABGATE_NODE_ID", name),
            ],
        )
    }
}

/// Two nodes on a new database, its first admin signed in through A: the pair, the nodes, a
/// client and the admin's access token.
async fn two_nodes() -> Option<(Pair, Proc, Proc, reqwest::Client, String)> {
    let pair = Pair::new()?;
    let (a, b) = (pair.node("a"), pair.node("b"));
    let client = reqwest::Client::new();
    let admin = first_admin(&a, &client).await;
    let jwt = admin["token"].as_str().unwrap().to_string();
    Some((pair, a, b, client, jwt))
}

/// A JSON request with the bearer token `jwt`.
async fn send(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    jwt: &str,
    body: Value,
) -> reqwest::Response {
    client
        .request(method, url)
        .bearer_auth(jwt)
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn json_of(res: reqwest::Response) -> Value {
    res.json().await.unwrap()
}

/// Asks `until` every few milliseconds (at most 5 s); how long it took to answer true.
async fn within(mut until: impl AsyncFnMut() -> bool) -> Duration {
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(5) {
        if until().await {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("not within 5 s");
}

#[tokio::test]
async fn two_nodes_issue_one_setup_token_and_name_their_engine_and_node() {
    let Some(pair) = Pair::new() else {
        return;
    };
    let a = pair.node("a");
    let b = pair.node("b");
    assert!(a.setup_token().is_some(), "the first node prints the token");
    assert!(
        b.logged("no setup token printed here: node a issued the database's one")
            .await,
        "the second says who has it"
    );
    assert!(b.setup_token().is_none());
    let client = reqwest::Client::new();
    for (p, name) in [(&a, "a"), (&b, "b")] {
        let h = json_of(client.get(p.url("/api/health")).send().await.unwrap()).await;
        assert_eq!(h["engine"], "postgres", "{h}");
        assert_eq!(h["node"], name, "{h}");
    }
    // The token works through the other node too, once.
    let token = a.setup_token().unwrap();
    assert_eq!(
        set_up(&b, &client, &token, "ops@lab.example")
            .await
            .status(),
        201
    );
    let again = set_up(&a, &client, &token, "x@lab.example").await;
    assert!(again.status().is_client_error(), "{}", again.status());
    // A node restarted under its own name never prints a token once someone is set up.
    drop(a);
    let a = pair.node("a");
    assert!(a.setup_token().is_none());
}

#[tokio::test]
async fn a_revocation_on_one_node_is_refused_on_the_other_within_a_second() {
    let Some((_pair, a, b, client, jwt)) = two_nodes().await else {
        return;
    };

    // A token made on A, used (and so cached) on B, revoked on A.
    let made = json_of(
        send(
            &client,
            reqwest::Method::POST,
            a.url("/api/tokens"),
            &jwt,
            json!({"name": "ci", "expires_in": "30d"}),
        )
        .await,
    )
    .await;
    let secret = made["token"].as_str().unwrap().to_string();
    let ping = |p: &Proc| {
        client
            .get(p.url("/api/ping"))
            .header("authorization", format!("token {secret}"))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(ping(&b).await.unwrap().status(), 200);
    }
    let res = client
        .delete(a.url(&format!("/api/tokens/{}", made["id"].as_str().unwrap())))
        .bearer_auth(&jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    assert_eq!(
        ping(&a).await.unwrap().status(),
        401,
        "at once where it was revoked"
    );
    let lag = within(async || ping(&b).await.unwrap().status() == 401).await;
    println!("token revoked on A, refused on B after {lag:?}");
    assert!(lag < Duration::from_secs(1), "{lag:?}");

    // A user disabled through B is refused on A, their session there included.
    let res = send(&client, reqwest::Method::POST, b.url("/api/admin/users"), &jwt, json!({"email": "dev@lab.example", "name": "Dev", "password": PASSWORD, "roles": ["viewer"]})).await;
    assert_eq!(res.status(), 201);
    let dev = json_of(res).await;
    let login = json_of(
        client
            .post(a.url("/api/auth/login"))
            .json(&json!({"email": "dev@lab.example", "password": PASSWORD}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let dev_jwt = login["token"].as_str().unwrap().to_string();
    let me = |p: &Proc| {
        client
            .get(p.url("/api/auth/me"))
            .bearer_auth(&dev_jwt)
            .send()
    };
    assert_eq!(me(&a).await.unwrap().status(), 200);
    let res = send(
        &client,
        reqwest::Method::PATCH,
        b.url(&format!("/api/admin/users/{}", dev["id"].as_str().unwrap())),
        &jwt,
        json!({"status": "disabled"}),
    )
    .await;
    assert_eq!(res.status(), 200);
    let lag = within(async || me(&a).await.unwrap().status() == 401).await;
    println!("user disabled on B, refused on A after {lag:?}");
    assert!(lag < Duration::from_secs(1), "{lag:?}");
}

/// A collector that takes connections and never answers: a run sending to it stays running.
fn silent_collector() -> (u16, std::net::TcpListener) {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let held = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut open = vec![];
        while let Ok((s, _)) = held.accept() {
            open.push(s);
        }
    });
    (port, l)
}

#[tokio::test]
async fn the_runs_of_a_node_killed_mid_run_are_failed_by_another_node() {
    let Some((pair, mut a, b, client, jwt)) = two_nodes().await else {
        return;
    };
    let (port, _collector) = silent_collector();
    let res = send(&client, reqwest::Method::POST, a.url("/api/noise/sinks"), &jwt, json!({"name": "held", "kind": "http", "url": format!("http://127.0.0.1:{port}/ingest"), "batch_size": 10})).await;
    assert_eq!(res.status(), 201);
    let res = send(
        &client,
        reqwest::Method::POST,
        a.url("/api/noise/run"),
        &jwt,
        json!({"profile": "dns", "count": 1000, "sink": "held"}),
    )
    .await;
    assert_eq!(res.status(), 202);
    let run = json_of(res).await;
    let id = run["id"].as_str().unwrap().to_string();
    let status = async |p: &Proc| {
        json_of(
            client
                .get(p.url(&format!("/api/noise/runs/{id}")))
                .bearer_auth(&jwt)
                .send()
                .await
                .unwrap(),
        )
        .await
    };
    within(async || status(&b).await["status"] == "running").await;
    // A second node starting meanwhile leaves A's run alone: it is A's.
    let c = pair.node("c");
    assert_eq!(status(&c).await["status"], "running");
    a.kill();
    let t0 = Instant::now();
    let failed = loop {
        let r = status(&b).await;
        if r["status"] == "failed" {
            break r;
        }
        assert!(t0.elapsed() < Duration::from_secs(60), "still {r}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    println!(
        "the run of a killed node was failed after {:?}",
        t0.elapsed()
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("(a) stopped answering"),
        "{failed}"
    );
}

#[tokio::test]
async fn a_schedule_fires_once_across_two_nodes_ticking_at_the_same_time() {
    use labgate::lab::scheduler;
    if !on_postgres() {
        return;
    }
    let a = spawn_app().await;
    let (db, key) = (a.state.config.db.clone(), a.state.config.key_file.clone());
    let b = spawn_with(move |c| {
        c.db = db;
        c.key_file = key;
        c.node = "b".into();
    })
    .await;
    assert_ne!(a.state.config.node, b.state.config.node);
    let admin = a.admin().await;
    let res = a
        .send_json(
            reqwest::Method::POST,
            "/api/noise/schedules",
            &admin.jwt,
            json!({"name": "minutely", "cron": "* * * * *", "profile": "dns", "count": 1}),
        )
        .await;
    assert_eq!(res.status(), 201);
    let s: Value = res.json().await.unwrap();
    let mut at = chrono::DateTime::parse_from_rfc3339(s["next_run_at"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    // Three times, each ticked by both nodes at once.
    for _ in 0..3 {
        let (x, y) = (a.state.app.clone(), b.state.app.clone());
        let fired = std::thread::scope(|s| {
            let one = s.spawn(|| scheduler::tick(&x, at).map(|r| (r.0.len(), r.1.len())));
            let two = s.spawn(|| scheduler::tick(&y, at).map(|r| (r.0.len(), r.1.len())));
            one.join().unwrap().unwrap().0 + two.join().unwrap().unwrap().0
        });
        assert_eq!(fired, 1, "one run for the time {at}");
        // (the run is not started here: finished, so the next time does not overlap it)
        a.sql("UPDATE noise_runs SET status = 'succeeded'");
        at += chrono::Duration::minutes(1);
    }
    assert_eq!(a.audit("noise.schedule.fire").len(), 3);
    assert!(a.db(|db| labgate::store::audit::verify(db).unwrap().is_ok()));
}

#[tokio::test]
async fn a_subscriber_on_one_node_sees_what_another_node_raised() {
    let Some((_pair, a, b, client, jwt)) = two_nodes().await else {
        return;
    };
    let mut stream = client
        .get(b.url("/api/platform-status/events"))
        .bearer_auth(&jwt)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let res = send(
        &client,
        reqwest::Method::POST,
        a.url("/api/sessions/start"),
        &jwt,
        json!({"name": "red team day"}),
    )
    .await;
    assert_eq!(res.status(), 201);
    let t0 = Instant::now();
    let mut seen = String::new();
    while !seen.contains("event: exercise.started") {
        let chunk = tokio::time::timeout(Duration::from_secs(5), stream.chunk())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    println!(
        "an event raised on A reached a subscriber on B after {:?}",
        t0.elapsed()
    );
    assert!(seen.contains("red team day"), "{seen}");
}

#[tokio::test]
async fn concurrent_writes_through_two_nodes_make_one_chain_that_verifies() {
    let Some((pair, a, b, client, jwt)) = two_nodes().await else {
        return;
    };
    let writes = (0..60).map(|i| {
        let (client, jwt) = (client.clone(), jwt.clone());
        let url = if i % 2 == 0 {
            a.url("/api/tokens")
        } else {
            b.url("/api/tokens")
        };
        async move {
            send(
                &client,
                reqwest::Method::POST,
                url,
                &jwt,
                json!({"name": format!("t{i}"), "expires_in": "30d"}),
            )
            .await
            .status()
        }
    });
    let answers = futures_util::future::join_all(writes).await;
    assert!(answers.iter().all(|s| s.as_u16() == 201), "{answers:?}");
    let out = labgate_command()
        .env("LABGATE_DB", &pair.db)
        .env("LABGATE_KEY_FILE", pair.dir.path().join("labgate.key"))
        .args(["audit", "verify"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: u64 = said
        .split_whitespace()
        .nth(3)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{said}"));
    // the chain's start, setup, sign-in and sixty token records at least, in one chain
    assert!(records >= 63, "{said}");
}

#[tokio::test]
async fn db_copy_takes_an_appliance_from_sqlite_to_postgres_and_back() {
    let Some(pg) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::new();
    let (sqlite, key) = (
        dir.path().join("labgate.db"),
        dir.path().join("labgate.db.key"),
    );
    // An appliance on SQLite, with a person and a token, stopped.
    let secret = {
        let p = start(dir.path(), &[]);
        let admin = first_admin(&p, &client).await;
        let made = json_of(
            send(
                &client,
                reqwest::Method::POST,
                p.url("/api/tokens"),
                admin["token"].as_str().unwrap(),
                json!({"name": "ci", "expires_in": "30d"}),
            )
            .await,
        )
        .await;
        made["token"].as_str().unwrap().to_string()
    };
    let copy = |from: &str, to: &str| {
        let out = labgate_command()
            .env("LABGATE_KEY_FILE", &key)
            .args(["db", "copy", "--from", from, "--to", to])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        (out.status.code(), said, err)
    };
    let (code, said, err) = copy(sqlite.to_str().unwrap(), &pg);
    assert_eq!(code, Some(0), "{said} {err}");
    assert!(said.contains("the chain verified"), "{said}");
    // The copy serves: the same person signs in, the same token works.
    let own = dir.path().join("node");
    std::fs::create_dir_all(&own).unwrap();
    let key_s = key.to_str().unwrap().to_string();
    let p = start(&own, &[("LABGATE_DB", &pg), ("LABGATE_KEY_FILE", &key_s)]);
    let res = client
        .get(p.url("/api/ping"))
        .header("authorization", format!("token {secret}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    sign_in(&p, &client).await;
    drop(p);
    // A copy never goes over a database.
    let (code, _, err) = copy(sqlite.to_str().unwrap(), &pg);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("holds a database already"), "{err}");
    // And back into a new SQLite file, which verifies on its own.
    let back = dir.path().join("back.db");
    let (code, said, err) = copy(&pg, back.to_str().unwrap());
    assert_eq!(code, Some(0), "{said} {err}");
    let out = labgate_command()
        .env("LABGATE_DB", &back)
        .env("LABGATE_KEY_FILE", &key)
        .args(["audit", "verify"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("its end anchored"));
}

#[tokio::test]
async fn postgres_over_tls_is_verified_against_the_lab_ca() {
    let (Some(db), Ok(ca)) = (
        postgres_database(),
        std::env::var("LABGATE_TEST_POSTGRES_CA"),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("labgate.key");
    let key_s = key.to_str().unwrap().to_string();
    let tls = format!("{db}?sslmode=verify-full");
    let migrate = |url: &str, ca: Option<&str>| {
        let mut cmd = labgate_command();
        cmd.env("LABGATE_DB", url)
            .env("LABGATE_KEY_FILE", &key)
            .arg("migrate");
        if let Some(ca) = ca {
            cmd.env("LABGATE_CA_FILE", ca);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // A server whose certificate nothing here vouches for is not spoken to.
    let (ok, said) = migrate(&tls, None);
    assert!(!ok, "{said}");
    assert!(
        said.contains("certificate") || said.contains("Certificate"),
        "{said}"
    );
    // A mode that would fall back to plaintext without a word is refused.
    let (ok, said) = migrate(&format!("{db}?sslmode=prefer"), Some(&ca));
    assert!(!ok && said.contains("sslmode=prefer"), "{said}");
    // With the lab's CA, every connection of the server is TLS.
    let (ok, said) = migrate(&tls, Some(&ca));
    assert!(ok, "{said}");
    let p = start(
        dir.path(),
        &[
            ("LABGATE_DB", &tls),
            ("LABGATE_KEY_FILE", &key_s),
            ("LABGATE_CA_FILE", &ca),
        ],
    );
    let h = json_of(reqwest::get(p.url("/api/health")).await.unwrap()).await;
    assert_eq!(h["engine"], "postgres", "{h}");
    let name = db.rsplit('/').next().unwrap().to_string();
    let admin = format!("{}/postgres", postgres_base().unwrap());
    let (all_tls, n): (bool, i64) = std::thread::spawn(move || {
        let pool = labgate::store::open(std::path::Path::new(&admin)).unwrap();
        let lease = pool.get().unwrap();
        lease
            .db()
            .query_row(
                "SELECT COALESCE(bool_and(s.ssl), false), COUNT(*) FROM pg_stat_ssl s
                   JOIN pg_stat_activity a USING (pid) WHERE a.datname = ?1",
                labgate::params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap()
    })
    .join()
    .unwrap();
    assert!(n >= 2 && all_tls, "{n} connections, all TLS: {all_tls}");
}
