//! Several `labgate serve` processes on one PostgreSQL database, with one key file, acting as
//! one appliance (SPEC §15). These run in the suite's PostgreSQL pass (LABGATE_TEST_POSTGRES).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;
use crate::process::{Proc, first_admin, start};

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
    let res = client
        .post(b.url("/api/setup"))
        .json(&json!({"setup_token": token, "email": "ops@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let again = client
        .post(a.url("/api/setup"))
        .json(&json!({"setup_token": token, "email": "x@lab.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(again.status().is_client_error(), "{}", again.status());
    // A node restarted under its own name never prints a token once someone is set up.
    drop(a);
    let a = pair.node("a");
    assert!(a.setup_token().is_none());
}

#[tokio::test]
async fn a_revocation_on_one_node_is_refused_on_the_other_within_a_second() {
    let Some(pair) = Pair::new() else {
        return;
    };
    let a = pair.node("a");
    let b = pair.node("b");
    let client = reqwest::Client::new();
    let admin = first_admin(&a, &client).await;
    let jwt = admin["token"].as_str().unwrap().to_string();

    // A token made on A, used (and so cached) on B, revoked on A.
    let made = json_of(
        client
            .post(a.url("/api/tokens"))
            .bearer_auth(&jwt)
            .json(&json!({"name": "ci", "expires_in": "30d"}))
            .send()
            .await
            .unwrap(),
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
    let res = client
        .post(b.url("/api/admin/users"))
        .bearer_auth(&jwt)
        .json(&json!({"email": "dev@lab.example", "name": "Dev", "password": PASSWORD, "roles": ["viewer"]}))
        .send()
        .await
        .unwrap();
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
    let res = client
        .patch(b.url(&format!("/api/admin/users/{}", dev["id"].as_str().unwrap())))
        .bearer_auth(&jwt)
        .json(&json!({"status": "disabled"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let lag = within(async || me(&a).await.unwrap().status() == 401).await;
    println!("user disabled on B, refused on A after {lag:?}");
    assert!(lag < Duration::from_secs(1), "{lag:?}");
}
