//! SPEC §13.1: the keys live outside the database, and everything labgate writes is private.

use std::os::unix::fs::PermissionsExt;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

fn mode(p: &std::path::Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn the_database_alone_reveals_no_key_and_every_file_is_private() {
    if crate::helpers::on_postgres() {
        return; // SQLite's files; PostgreSQL holds the same sealed keys (its own test)
    }
    let app = spawn_app().await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/api-keys",
            &admin.jwt,
            json!({"name": "siem", "services": {"audit": "read"}}),
        )
        .await;
    let key = res.json::<Value>().await.unwrap()["key"]
        .as_str()
        .unwrap()
        .to_string();
    // a reset link spooled as mail
    app.post_json(
        "/api/auth/forgot-password",
        json!({"email": admin.body["user"]["email"]}),
    )
    .await;
    app.mails(1).await;

    // what someone with a copy of the database file (and sqlite3) finds
    let conn = rusqlite::Connection::open(app.dir.path().join("labgate.db")).unwrap();
    let blobs: Vec<(String, Vec<u8>, bool)> = conn
        .prepare("SELECT name, key, sealed FROM appliance_keys")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(blobs.iter().any(|(n, _, _)| n == "data"));
    for (name, blob, sealed) in &blobs {
        assert!(sealed, "{name} is stored in plaintext");
        assert!(
            labgate::domain::crypto::DataKey::from_bytes(blob).is_none(),
            "{name} is a usable key as stored"
        );
    }
    let (der, sealed): (Vec<u8>, bool) = conn
        .query_row("SELECT private_der, sealed FROM signing_keys", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(sealed);
    use ed25519_dalek::pkcs8::DecodePrivateKey;
    assert!(ed25519_dalek::SigningKey::from_pkcs8_der(&der).is_err());
    let secret_enc: Vec<u8> = conn
        .query_row("SELECT key_enc FROM api_keys", [], |r| r.get(0))
        .unwrap_or_default();
    assert!(!String::from_utf8_lossy(&secret_enc).contains(&key));

    // every file labgate wrote is its owner's alone, whatever the umask
    let dir = app.dir.path();
    for f in [
        "labgate.db",
        "labgate.db-wal",
        "labgate.db-shm",
        "labgate.db.key",
    ] {
        let p = dir.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    let mail_dir = &app.state.config.mail_dir;
    assert_eq!(mode(mail_dir), 0o700);
    for e in std::fs::read_dir(mail_dir).unwrap() {
        assert_eq!(mode(&e.unwrap().path()), 0o600);
    }
}
