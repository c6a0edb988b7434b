//! The binary itself: configuration errors, provisioning commands, schema versions.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::PASSWORD;

fn labgate(db: &std::path::Path) -> Command {
    let mut c = crate::helpers::labgate_command();
    c.env("LABGATE_DB", db).env_remove("RUST_LOG");
    c
}

#[test]
fn bad_settings_stop_the_start_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    for (var, value) in [
        ("JWT_EXPIRES_IN", "abc"),
        ("LABGATE_TRUSTED_PROXIES", "10.0.0.0/40"),
        ("LABGATE_NOISE_DISPATCH_TOKEN", "too-short"),
        ("LABGATE_RATE_LIMIT_PER_MINUTE", "-3"),
        ("BREAK_GLASS_CAPABILITIES", "*"),
        ("LABGATE_LISTEN", "0.0.0.0:8080"),
    ] {
        let out = labgate(&db).env(var, value).output().unwrap();
        assert!(!out.status.success(), "{var}={value} accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(var), "{err}");
    }
    assert!(
        !db.exists(),
        "nothing is created before the settings are valid"
    );
}

#[test]
fn user_create_reads_the_password_from_stdin_and_adds_memberships() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    let out = labgate(&db)
        .args([
            "tenant",
            "create",
            "--slug",
            "red",
            "--name",
            "Red team range",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tenant_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(uuid::Uuid::parse_str(&tenant_id).is_ok());

    let create = |tenant: &str, role: &str, pw: &str| {
        let mut child = labgate(&db)
            .args([
                "user",
                "create",
                "--email",
                "ops@lab.example",
                "--role",
                role,
                "--tenant",
                tenant,
                "--password-stdin",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{pw}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = create("default", "admin", PASSWORD);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let out = create("red", "operator", "another password entirely");
    assert!(out.status.success());
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        said.contains("already has an account") && said.contains("password was kept"),
        "the unused password is named: {said}"
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        id,
        "same user"
    );

    let pool = labgate::store::open(&db).unwrap();
    let lease = pool.get().unwrap();
    let conn = lease.db();
    let tenants = labgate::store::tenants::for_user(&conn, &id).unwrap();
    assert_eq!(
        tenants.iter().map(|t| t.slug.as_str()).collect::<Vec<_>>(),
        ["default", "red"]
    );
    let u = labgate::store::users::get(&conn, &id).unwrap().unwrap();
    assert!(
        labgate::domain::password::verify(PASSWORD, u.password_hash.as_deref().unwrap()),
        "password kept"
    );
    let p = labgate::store::users::principal(&conn, &id, &tenant_id)
        .unwrap()
        .unwrap();
    assert_eq!(p.roles, ["operator"]);

    // failures: one line on stderr, non-zero exit
    let out = create("default", "no-such-role", PASSWORD);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8(out.stderr).unwrap().lines().count(), 1);
    let out = create("nowhere", "admin", PASSWORD);
    assert!(!out.status.success());
    let mut short = labgate(&db);
    short.args([
        "user",
        "create",
        "--email",
        "new@lab.example",
        "--password-stdin",
    ]);
    let mut child = short
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"short\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("password"));
}

#[test]
fn migrate_creates_the_schema_and_a_newer_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let out = labgate(&db).arg("migrate").output().unwrap();
    assert!(out.status.success());
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let v: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, labgate::store::SCHEMA_VERSION);
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    let before = std::fs::read(&db).unwrap();
    let out = labgate(&db).arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr).unwrap().contains("newer"));
    let out = labgate(&db)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "serve refuses it too");
    assert_eq!(std::fs::read(&db).unwrap(), before, "never modified");
}

#[test]
fn audit_verify_detects_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    for slug in ["one", "two", "three"] {
        assert!(
            labgate(&db)
                .args(["tenant", "create", "--slug", slug, "--name", slug])
                .output()
                .unwrap()
                .status
                .success()
        );
    }
    let out = labgate(&db).args(["audit", "verify"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout).unwrap().contains("4 records"),
        "the chain's start and three tenants"
    );

    let conn = rusqlite::Connection::open(&db).unwrap();
    let second: String = conn
        .query_row(
            "SELECT id FROM audit_log ORDER BY seq LIMIT 1 OFFSET 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    conn.execute(
        "UPDATE audit_log SET details = '{\"slug\":\"evil\"}' WHERE id = ?1",
        [&second],
    )
    .unwrap();
    let out = labgate(&db).args(["audit", "verify"]).output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr).unwrap().contains(&second),
        "names the first bad record"
    );
}

#[test]
fn audit_verify_detects_removed_and_reordered_records() {
    for tamper in [
        "DELETE FROM audit_log WHERE seq = 2",
        "UPDATE audit_log SET seq = seq + 100 WHERE seq = 1",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("a.db");
        for slug in ["one", "two", "three"] {
            assert!(
                labgate(&db)
                    .args(["tenant", "create", "--slug", slug, "--name", slug])
                    .output()
                    .unwrap()
                    .status
                    .success()
            );
        }
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(tamper).unwrap();
        drop(conn);
        let out = labgate(&db).args(["audit", "verify"]).output().unwrap();
        assert!(!out.status.success(), "{tamper} went unnoticed");
        assert!(
            String::from_utf8(out.stderr)
                .unwrap()
                .contains("audit chain broken")
        );
    }
}

#[test]
fn reset_mfa_removes_the_enrollment_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("m.db");
    let mut child = labgate(&db)
        .args([
            "user",
            "create",
            "--email",
            "phone@lab.example",
            "--role",
            "admin",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE users SET totp_secret = x'00', totp_last_step = 5",
        [],
    )
    .unwrap();
    drop(conn);
    let out = labgate(&db)
        .args(["user", "reset-mfa", "--email", "phone@lab.example"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let (secret, step): (Option<Vec<u8>>, Option<i64>) = conn
        .query_row("SELECT totp_secret, totp_last_step FROM users", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert!(secret.is_none() && step.is_none());
    let resets = || -> i64 {
        conn.query_row(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'user.mfa_reset'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(resets(), 1);
    // Again, with nothing enrolled: said so, and nothing changes (no second record).
    let out = labgate(&db)
        .args(["user", "reset-mfa", "--email", "phone@lab.example"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let said = String::from_utf8(out.stdout).unwrap();
    assert!(
        said.contains("has no MFA enrollment and no passkey: nothing changed"),
        "{said}"
    );
    assert_eq!(resets(), 1);
    let out = labgate(&db)
        .args(["user", "reset-mfa", "--email", "nobody@lab.example"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn a_dispatch_token_for_a_tenant_that_does_not_exist_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("d.db");
    let out = labgate(&db)
        .env("LABGATE_LISTEN", "127.0.0.1:0")
        .env(
            "LABGATE_NOISE_DISPATCH_TOKEN",
            "dispatch-token-0123456789abcdefghijkl",
        )
        .env("LABGATE_NOISE_DISPATCH_TENANT", "no-such-tenant")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("LABGATE_NOISE_DISPATCH_TENANT"), "{err}");
    assert!(err.contains("no-such-tenant"), "{err}");
}

#[test]
fn a_version_1_database_is_upgraded_in_place_and_its_keys_sealed() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("v1.db");
    let key_file = dir.path().join("v1.db.key");
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(
        labgate(&db)
            .args(["tenant", "create", "--slug", "red", "--name", "Red"])
            .output()
            .unwrap()
            .status
            .success()
    );
    // What version 1 looked like: keys in plaintext beside the data, tokens without factors,
    // an audit chain of plain SHA-256 links and no head file, file sinks named under the shared
    // noise root, and no key file.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DELETE FROM audit_log;
             UPDATE noise_sinks SET config = '{\"path\":\"red.jsonl\"}'
               WHERE name = 'default' AND tenant_id = (SELECT id FROM tenants WHERE slug = 'red');
             INSERT INTO noise_sinks (id, tenant_id, name, kind, config, created_at)
               SELECT 's-logs', id, 'logs', 'file', '{\"path\":\"red/logs/x.jsonl\"}', '2026-01-01T00:00:00Z'
               FROM tenants WHERE slug = 'red';",
        )
        .unwrap();
        forge_append(&conn, "tenant.create", serde_json::json!({"slug": "red"}));
        forge_append(&conn, "user.create", serde_json::json!({}));
        std::fs::remove_file(dir.path().join("v1.db.audit-head")).unwrap();
    }
    let data_key = labgate::domain::crypto::DataKey::generate();
    let signing = labgate::domain::jwt::KeyMaterial::generate();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "DELETE FROM signing_keys; DELETE FROM appliance_keys;
             ALTER TABLE signing_keys DROP COLUMN sealed;
             ALTER TABLE signing_keys DROP COLUMN retired_at;
             ALTER TABLE appliance_keys DROP COLUMN sealed;
             INSERT INTO users (id, email, email_norm, created_at) VALUES ('u1', 'old@lab.example', 'old@lab.example', '2026-01-01T00:00:00Z');
             INSERT INTO personal_tokens (id, user_id, tenant_id, name, token_hash, prefix, created_at)
               SELECT 't1', 'u1', id, 'old', 'h', 'lgp_x', '2026-01-01T00:00:00Z' FROM tenants WHERE slug = 'default';
             ALTER TABLE personal_tokens DROP COLUMN amr;
             DROP TABLE audit_forward;
             ALTER TABLE personal_tokens DROP COLUMN expiry_noticed_at;
             ALTER TABLE api_keys DROP COLUMN expiry_noticed_at;
             DROP TABLE passkey_ceremonies;
             DROP TABLE passkeys;
             ALTER TABLE noise_runs DROP COLUMN node;
             ALTER TABLE noise_runs DROP COLUMN heartbeat_at;
             PRAGMA user_version = 1;",
        )
        .unwrap();
        conn.execute(
            "INSERT INTO appliance_keys (name, key, created_at) VALUES ('data', ?1, '2026-01-01T00:00:00Z')",
            [data_key.bytes()],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES (?1, ?2, ?3, '2026-01-01T00:00:00Z')",
            rusqlite::params![signing.kid, signing.private_der, signing.public_raw],
        )
        .unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
    }
    std::fs::remove_file(&key_file).unwrap();
    let contains = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    assert!(contains(&std::fs::read(&db).unwrap(), data_key.bytes()));

    // `labgate check` (the unit's ExecStartPre) lets the start that migrates it go ahead,
    // and changes nothing itself.
    let before = std::fs::read(&db).unwrap();
    let out = labgate(&db).arg("check").output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("is at schema version 1: the next start migrates it"),
        "{said}"
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "check changed the database"
    );
    assert!(!key_file.exists(), "check made a key file");

    let out = labgate(&db).arg("migrate").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, labgate::store::SCHEMA_VERSION);
    let amr: String = conn
        .query_row("SELECT amr FROM personal_tokens WHERE id = 't1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(
        amr, r#"["pwd"]"#,
        "the old token keeps its row, as password only"
    );
    // a new key file, private; every key sealed; the plaintext gone from the file and its log
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let unsealed: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM signing_keys WHERE sealed = 0) + (SELECT count(*) FROM appliance_keys WHERE sealed = 0)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(unsealed, 0);
    drop(conn);
    for f in [db.clone(), dir.path().join("v1.db-wal")] {
        if let Ok(bytes) = std::fs::read(&f) {
            assert!(
                !contains(&bytes, data_key.bytes()),
                "plaintext key left in {}",
                f.display()
            );
            assert!(
                !contains(&bytes, &signing.private_der),
                "plaintext key left in {}",
                f.display()
            );
        }
    }
    // file sinks name paths in their tenant's own directory
    let conn = rusqlite::Connection::open(&db).unwrap();
    let paths: Vec<String> = conn
        .prepare("SELECT json_extract(s.config, '$.path') FROM noise_sinks s JOIN tenants t ON t.id = s.tenant_id WHERE t.slug = 'red' ORDER BY s.name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(paths, ["default.jsonl", "logs/x.jsonl"]);
    drop(conn);
    // the old chain still verifies, and the head it lacked is recorded as missing
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(said.contains("3 records"), "{said}");
    let conn = rusqlite::Connection::open(&db).unwrap();
    let last: String = conn
        .query_row(
            "SELECT action FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last, "audit.head_missing");
    drop(conn);
    // and the same data key still opens: the database works with its new key file
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn a_database_without_its_key_file_or_with_another_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("k.db");
    let out = labgate(&db)
        .args(["tenant", "create", "--slug", "red", "--name", "Red"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key_file = dir.path().join("k.db.key");
    let original = std::fs::read(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    for args in [
        &["migrate"][..],
        &["tenant", "create", "--slug", "blue", "--name", "B"],
        &["--listen", "127.0.0.1:0"],
    ] {
        let out = labgate(&db).args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} ran without the key file");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("LABGATE_KEY_FILE"), "{err}");
    }
    assert!(!key_file.exists(), "no new key was made over existing data");
    // a copy of the database with another appliance's key file
    let other = tempfile::tempdir().unwrap();
    let other_db = other.path().join("o.db");
    assert!(
        labgate(&other_db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    std::fs::copy(other.path().join("o.db.key"), &key_file).unwrap();
    let out = labgate(&db).arg("migrate").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("LABGATE_KEY_FILE")
    );
    // with its own key file back, it opens
    std::fs::write(&key_file, original).unwrap();
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    // LABGATE_KEY_FILE names it elsewhere
    let moved = dir.path().join("elsewhere.key");
    std::fs::rename(&key_file, &moved).unwrap();
    let out = labgate(&db)
        .env("LABGATE_KEY_FILE", &moved)
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Three tenants created through the CLI: four audit records (the chain's start and one a
/// tenant), anchored.
fn three_records() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.db");
    for slug in ["one", "two", "three"] {
        let out = labgate(&db)
            .args(["tenant", "create", "--slug", slug, "--name", slug])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    (dir, db)
}

/// The audit MAC key of a database, opened with its key file (what only the key file's holder
/// can do).
fn audit_key(db: &std::path::Path) -> labgate::domain::crypto::DataKey {
    let mut kf = db.as_os_str().to_os_string();
    kf.push(".key");
    let (_, keys) = labgate::store::keys::open_database(db, std::path::Path::new(&kf)).unwrap();
    keys.audit_mac
}

/// Recomputes every record's links: without a key as someone who can edit the database (but
/// not read the key file) could, or with the audit key (a test's own setup).
fn recompute_chain(conn: &rusqlite::Connection, key: Option<&labgate::domain::crypto::DataKey>) {
    let rows = labgate::store::audit::all_records(&labgate::store::Db::sqlite(conn, None)).unwrap();
    let mut prev = labgate::store::audit::GENESIS.to_string();
    for (seq, rec) in rows {
        let hash = match key {
            Some(k) => labgate::store::audit::record_link(k, &prev, &rec),
            None => labgate::store::audit::chain_hash(&prev, &rec),
        };
        conn.execute(
            "UPDATE audit_log SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![prev, hash, seq],
        )
        .unwrap();
        prev = hash;
    }
}

fn verify(db: &std::path::Path) -> (bool, String) {
    let out = labgate(db).args(["audit", "verify"]).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout),
    )
}

#[test]
fn audit_verify_catches_a_chain_cut_at_its_end_emptied_or_rewritten() {
    // untouched: it passes
    let (_d, db) = three_records();
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(said.contains("4 records"), "{said}");
    assert!(said.contains("anchored at"), "{said}");
    // the last record removed
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
        .unwrap();
    drop(conn);
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.contains("removed at the end"), "{said}");

    // every record removed
    let (_d, db) = three_records();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM audit_log")
        .unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.contains("every record was removed"), "{said}");

    // a rewritten chain whose hashes were all recomputed: it walks, but its end is not the
    // anchored one
    let (_d, db) = three_records();
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch("UPDATE audit_log SET details = '{\"slug\":\"evil\"}' WHERE seq = 2")
            .unwrap();
        recompute_chain(&conn, None);
    }
    let (ok, said) = verify(&db);
    assert!(!ok, "a recomputed chain went unnoticed");
    assert!(said.contains("rewritten"), "{said}");

    // a missing or forged head file
    let (d, db) = three_records();
    let head = d.path().join("a.db.audit-head");
    let original = std::fs::read_to_string(&head).unwrap();
    std::fs::remove_file(&head).unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.contains("missing"), "{said}");
    let parts: Vec<&str> = original.split_whitespace().collect();
    std::fs::write(&head, format!("2 {} {} {}\n", parts[1], parts[2], parts[3])).unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.contains("not authentic"), "{said}");
    // --head names another file
    std::fs::write(d.path().join("copy"), &original).unwrap();
    let out = labgate(&db)
        .args(["audit", "verify", "--head"])
        .arg(d.path().join("copy"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn audit_prune_leaves_a_chain_that_still_verifies() {
    // two old records and two new ones (their times set back, the chain made whole again
    // with the key)
    let (_d, db) = three_records();
    let key = audit_key(&db);
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(
            "UPDATE audit_log SET ts = '2020-01-01T00:00:00Z' WHERE seq IN (SELECT seq FROM audit_log ORDER BY seq LIMIT 2)",
        )
        .unwrap();
        recompute_chain(&conn, Some(&key));
    }
    let out = labgate(&db)
        .args(["audit", "prune", "--before", "2021-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 2"));
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(
        said.contains("3 records"),
        "the kept records and the checkpoint: {said}"
    );
    // records after the prune keep the chain going
    let out = labgate(&db)
        .args(["tenant", "create", "--slug", "four", "--name", "four"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    // removing the first kept record is still caught
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM audit_log WHERE seq = (SELECT min(seq) FROM audit_log)")
        .unwrap();
    assert!(!verify(&db).0);
    // everything pruned: the checkpoint alone verifies
    let (_d, db) = three_records();
    let out = labgate(&db)
        .args(["audit", "prune", "--before", "2999-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(
        !labgate(&db)
            .args(["audit", "prune", "--before", "yesterday"])
            .output()
            .unwrap()
            .status
            .success()
    );
}

#[test]
fn a_later_write_does_not_bless_a_tampered_chain() {
    for tamper in [
        "DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
        "DELETE FROM audit_log",
        "UPDATE audit_log SET details = '{\"slug\":\"evil\"}' WHERE seq = 2",
    ] {
        let (_d, db) = three_records();
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(tamper).unwrap();
        if tamper.starts_with("UPDATE") {
            recompute_chain(&conn, None);
        }
        drop(conn);
        // any command that writes (here a new tenant) anchors the head again
        let out = labgate(&db)
            .args(["tenant", "create", "--slug", "later", "--name", "later"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let (ok, said) = verify(&db);
        assert!(!ok, "{tamper} was blessed by the next anchor: {said}");
    }
}

/// A record as the database holds it, read back for forging.
fn record_at(conn: &rusqlite::Connection, seq: i64) -> labgate::store::audit::AuditRecord {
    labgate::store::audit::all_records(&labgate::store::Db::sqlite(conn, None))
        .unwrap()
        .into_iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, r)| r)
        .expect("a record at that sequence number")
}

/// Appends a record with a plain SHA-256 link, as someone without the key file would.
fn forge_append(conn: &rusqlite::Connection, action: &str, details: serde_json::Value) {
    let prev: String = conn
        .query_row(
            "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .unwrap_or_else(|_| labgate::store::audit::GENESIS.to_string());
    let rec = labgate::store::audit::AuditRecord {
        id: uuid::Uuid::new_v4().to_string(),
        ts: "2026-01-01T00:00:00Z".into(),
        tenant_id: None,
        actor_type: "system".into(),
        actor_id: Some("cli".into()),
        action: action.into(),
        target: None,
        outcome: "success".into(),
        ip: None,
        user_agent: None,
        request_id: None,
        details,
    };
    let hash = labgate::store::audit::chain_hash(&prev, &rec);
    conn.execute(
        "INSERT INTO audit_log (id, ts, actor_type, actor_id, action, outcome, details, prev_hash, hash)
         VALUES (?1, ?2, 'system', 'cli', ?3, 'success', ?4, ?5, ?6)",
        rusqlite::params![rec.id, rec.ts, action, rec.details.to_string(), prev, hash],
    )
    .unwrap();
}

#[test]
fn a_record_written_without_the_key_file_is_caught() {
    // appended at the end, where no anchor covers it yet
    let (_d, db) = three_records();
    let conn = rusqlite::Connection::open(&db).unwrap();
    forge_append(
        &conn,
        "tenant.create",
        serde_json::json!({"slug": "forged"}),
    );
    drop(conn);
    let (ok, said) = verify(&db);
    assert!(!ok, "an unkeyed record passed: {said}");
    assert!(said.contains("not sealed under the audit key"), "{said}");
    // a later write does not bless it either
    assert!(
        labgate(&db)
            .args(["tenant", "create", "--slug", "later", "--name", "later"])
            .output()
            .unwrap()
            .status
            .success()
    );
    assert!(!verify(&db).0);
}

#[test]
fn a_forged_prune_checkpoint_cannot_cut_the_start_of_the_chain() {
    // The first records removed, and a checkpoint that says the chain resumes after them.
    let (_d, db) = three_records();
    let conn = rusqlite::Connection::open(&db).unwrap();
    let third = record_at(&conn, 3);
    let third_prev: String = conn
        .query_row("SELECT prev_hash FROM audit_log WHERE seq = 3", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(third.action, "tenant.create");
    conn.execute("DELETE FROM audit_log WHERE seq < 3", [])
        .unwrap();
    forge_append(
        &conn,
        "audit.prune",
        serde_json::json!({"before": "2026-01-01T00:00:00Z", "removed": 2,
                           "resume_seq": 3, "resume_prev_hash": third_prev}),
    );
    drop(conn);
    let (ok, said) = verify(&db);
    assert!(!ok, "a forged checkpoint was trusted: {said}");
    assert!(said.contains("audit chain broken"), "{said}");
}

#[test]
fn a_new_database_starts_its_chain_and_verify_never_makes_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("n.db");
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(said.contains("1 records"), "the chain's start: {said}");
    // The chain deleted whole and the file made again by hand: still caught.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM audit_log")
        .unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok);
    assert!(said.contains("every record was removed"), "{said}");

    let nowhere = dir.path().join("typo.db");
    let (ok, said) = verify(&nowhere);
    assert!(!ok);
    assert!(said.contains("does not exist"), "{said}");
    assert!(!nowhere.exists(), "verify made a database");
    assert!(
        !dir.path().join("typo.db.key").exists(),
        "verify made a key file"
    );
}

#[test]
fn a_key_file_others_can_read_is_closed() {
    use std::os::unix::fs::PermissionsExt;
    let (d, db) = three_records();
    let kf = d.path().join("a.db.key");
    std::fs::set_permissions(&kf, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = labgate(&db).args(["audit", "verify"]).output().unwrap();
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("readable by others"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mode = std::fs::metadata(&kf).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[test]
fn a_planted_plaintext_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("p.db");
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute(
            "UPDATE appliance_keys SET key = ?1, sealed = 0 WHERE name = 'audit_mac'",
            [vec![7u8; 32]],
        )
        .unwrap();
    let out = labgate(&db).args(["audit", "verify"]).output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("LABGATE_KEY_FILE") && err.contains("not sealed"),
        "{err}"
    );
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn run_err(c: &mut Command) -> String {
    let out = c.output().unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8(out.stderr).unwrap()
}

fn slugs(db: &std::path::Path) -> Vec<String> {
    rusqlite::Connection::open(db)
        .unwrap()
        .prepare("SELECT slug FROM tenants ORDER BY slug")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_backup_is_verified_stands_alone_with_its_key_file_and_restores() {
    use std::os::unix::fs::PermissionsExt;
    let (d, db) = three_records();
    let key_file = d.path().join("a.db.key");
    let copy = d.path().join("backups").join("b.db");
    let said = run_ok(labgate(&db).args(["backup", "--to"]).arg(&copy));
    assert!(
        said.contains("verified") && said.contains("4 tenants"),
        "{said}"
    );
    assert!(said.contains("key file"), "{said}");
    for f in [copy.clone(), d.path().join("backups/b.db.audit-head")] {
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o777,
            0o600,
            "{}",
            f.display()
        );
    }
    assert_eq!(
        std::fs::metadata(d.path().join("backups"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    // never over an existing file
    let err = run_err(labgate(&db).args(["backup", "--to"]).arg(&copy));
    assert!(err.contains("never overwrites"), "{err}");
    // the copy verifies on its own, with the key file
    let said = run_ok(
        labgate(&copy)
            .env("LABGATE_KEY_FILE", &key_file)
            .args(["audit", "verify"]),
    );
    assert!(said.contains("intact"), "{said}");

    // a change after the backup, then the restore: the change is gone, the old file kept
    run_ok(labgate(&db).args(["tenant", "create", "--slug", "after", "--name", "after"]));
    assert!(slugs(&db).contains(&"after".to_string()));
    let said = run_ok(labgate(&db).args(["restore", "--from"]).arg(&copy));
    assert!(said.contains("restored"), "{said}");
    assert!(!slugs(&db).contains(&"after".to_string()));
    let kept = d.path().join("a.db.before-restore");
    assert!(slugs(&kept).contains(&"after".to_string()));
    assert_eq!(
        std::fs::metadata(&db).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let (ok, said) = verify(&db);
    assert!(ok, "the restored database verifies: {said}");
    // a second restore would lose the kept file: refused
    let err = run_err(labgate(&db).args(["restore", "--from"]).arg(&copy));
    assert!(err.contains("before-restore"), "{err}");
}

#[test]
fn a_backup_that_does_not_check_out_is_never_restored() {
    let (d, db) = three_records();
    let copy = d.path().join("b.db");
    run_ok(labgate(&db).args(["backup", "--to"]).arg(&copy));
    let before = std::fs::read(&db).unwrap();
    // another appliance's key file does not open it
    let other = tempfile::tempdir().unwrap();
    let odb = other.path().join("o.db");
    run_ok(labgate(&odb).arg("migrate"));
    let err = run_err(
        labgate(&db)
            .env("LABGATE_KEY_FILE", other.path().join("o.db.key"))
            .args(["restore", "--from"])
            .arg(&copy),
    );
    assert!(err.contains("LABGATE_KEY_FILE"), "{err}");
    // an altered record in the copy
    rusqlite::Connection::open(&copy)
        .unwrap()
        .execute_batch("UPDATE audit_log SET details = '{\"slug\":\"evil\"}' WHERE seq = 2")
        .unwrap();
    let err = run_err(labgate(&db).args(["restore", "--from"]).arg(&copy));
    assert!(err.contains("audit chain"), "{err}");
    // no such file
    let err = run_err(
        labgate(&db)
            .args(["restore", "--from"])
            .arg(d.path().join("none.db")),
    );
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(
        std::fs::read(&db).unwrap(),
        before,
        "the database was not touched"
    );
    assert!(!d.path().join("a.db.before-restore").exists());
}

#[test]
fn a_trigger_planted_in_the_database_stops_every_write_and_fails_verify() {
    for trigger in [
        // drops every audit record as it is written
        "CREATE TRIGGER quiet BEFORE INSERT ON audit_log BEGIN SELECT RAISE(IGNORE); END;",
        // would have labgate compute the key's link over a rewritten record
        "CREATE TRIGGER forge AFTER INSERT ON audit_log BEGIN UPDATE audit_log SET target = 'x', hash = labgate_audit_link(NEW.prev_hash, 'x') WHERE seq = NEW.seq; END;",
    ] {
        let (_d, db) = three_records();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(trigger)
            .unwrap();
        let err = run_err(labgate(&db).args(["tenant", "create", "--slug", "x", "--name", "x"]));
        assert!(err.contains("schema was altered"), "{err}");
        let (ok, said) = verify(&db);
        assert!(!ok);
        assert!(said.contains("trigger"), "{said}");
        assert!(!slugs(&db).contains(&"x".to_string()));
    }
}

#[test]
fn an_old_head_put_back_over_a_cut_chain_is_caught() {
    let (d, db) = three_records();
    let head = d.path().join("a.db.audit-head");
    let old = std::fs::read(&head).unwrap();
    run_ok(labgate(&db).args(["tenant", "create", "--slug", "four", "--name", "four"]));
    // the new record removed and the head of before it put back
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)")
        .unwrap();
    std::fs::write(&head, &old).unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok, "{said}");
    assert!(said.contains("removed at the end"), "{said}");
    // and a later write does not re-sign it
    run_ok(labgate(&db).args(["tenant", "create", "--slug", "five", "--name", "five"]));
    assert!(!verify(&db).0);
}

#[test]
fn a_corrupt_head_is_recorded_as_lost_before_it_is_written_anew() {
    let (d, db) = three_records();
    let head = d.path().join("a.db.audit-head");
    std::fs::write(&head, "1 00 1700000000 00\n").unwrap();
    run_ok(labgate(&db).args(["tenant", "create", "--slug", "four", "--name", "four"]));
    let (ok, said) = verify(&db);
    assert!(ok, "{said}");
    assert!(
        said.contains("found missing or not authentic"),
        "verify says the head was lost: {said}"
    );
    let reason: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT json_extract(details, '$.reason') FROM audit_log WHERE action = 'audit.head_missing'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(reason, "not authentic");
}

#[test]
fn a_database_whose_keys_were_removed_is_refused_not_given_new_ones() {
    let (_d, db) = three_records();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("DELETE FROM appliance_keys; DELETE FROM signing_keys;")
        .unwrap();
    let err = run_err(labgate(&db).args(["tenant", "create", "--slug", "x", "--name", "x"]));
    assert!(err.contains("LABGATE_KEY_FILE"), "{err}");
    let keys: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT count(*) FROM appliance_keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 0, "no new key was made");
}

#[test]
fn schema_rows_that_hide_a_trigger_or_alter_the_audit_table_are_refused() {
    let tricks = [
        // a trigger whose schema row says it is something else
        "PRAGMA writable_schema = ON;
         INSERT INTO sqlite_master VALUES ('TRIGGER', 'hide', 'audit_log', 0,
           'CREATE TRIGGER hide BEFORE INSERT ON audit_log BEGIN SELECT RAISE(IGNORE); END');
         PRAGMA writable_schema = OFF;",
        // ... or says it is a table, the trigger behind a comment
        "PRAGMA writable_schema = ON;
         INSERT INTO sqlite_master VALUES ('table', 'hide2', 'audit_log', 0,
           '/* a table */ CREATE TRIGGER hide2 BEFORE INSERT ON audit_log BEGIN SELECT RAISE(IGNORE); END');
         PRAGMA writable_schema = OFF;",
        // the audit table redefined to drop records that lack a field
        "PRAGMA writable_schema = ON;
         UPDATE sqlite_master SET sql = replace(sql, 'user_agent  TEXT', 'user_agent  TEXT NOT NULL ON CONFLICT IGNORE')
           WHERE name = 'audit_log';
         PRAGMA writable_schema = OFF;",
    ];
    for trick in tricks {
        let (_d, db) = three_records();
        {
            let conn = rusqlite::Connection::open(&db).unwrap();
            let v: i64 = conn
                .query_row("PRAGMA schema_version", [], |r| r.get(0))
                .unwrap();
            conn.execute_batch(trick).unwrap();
            conn.execute_batch(&format!("PRAGMA schema_version = {}", v + 1))
                .unwrap();
        }
        // refused by labgate, or (a trigger posing as a table) by SQLite itself
        let err = run_err(labgate(&db).args(["tenant", "create", "--slug", "x", "--name", "x"]));
        assert!(
            err.contains("schema was altered") || err.contains("malformed database schema"),
            "{trick}: {err}"
        );
        let (ok, said) = verify(&db);
        assert!(!ok, "{trick}: {said}");
    }
}

#[test]
fn a_database_deleted_or_emptied_beside_its_head_is_not_started_over() {
    let (d, db) = three_records();
    let head = d.path().join("a.db.audit-head");
    let anchored = std::fs::read(&head).unwrap();
    std::fs::write(&db, b"").unwrap();
    let (ok, said) = verify(&db);
    assert!(!ok, "{said}");
    assert!(said.contains("every record was removed"), "{said}");
    for cmd in [
        vec!["migrate"],
        vec!["tenant", "create", "--slug", "x", "--name", "x"],
    ] {
        let err = run_err(labgate(&db).args(&cmd));
        assert!(err.contains("anchors the audit trail"), "{err}");
    }
    std::fs::remove_file(&db).unwrap();
    let err = run_err(labgate(&db).arg("migrate"));
    assert!(err.contains("restore it"), "{err}");
    assert_eq!(
        std::fs::read(&head).unwrap(),
        anchored,
        "the head was not overwritten"
    );
    assert!(!db.exists(), "no new database was made");
}

#[test]
fn an_index_planted_on_the_audit_table_is_refused() {
    for planted in [
        // an index whose expression fails for some records: their writes fail
        "CREATE INDEX audit_log_x ON audit_log(json(target)) WHERE action = 'access.denied'",
        // the shipped index redefined to leave records out of the list and export
        "DROP INDEX audit_log_tenant; CREATE INDEX audit_log_tenant ON audit_log(tenant_id, seq) WHERE action <> 'access.denied'",
    ] {
        let (_d, db) = three_records();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(planted)
            .unwrap();
        let err = run_err(labgate(&db).args(["tenant", "create", "--slug", "x", "--name", "x"]));
        assert!(err.contains("schema was altered"), "{planted}: {err}");
        assert!(!verify(&db).0, "{planted}");
    }
}

#[test]
fn another_sqlite_file_in_place_of_the_database_is_not_started_over() {
    let (d, db) = three_records();
    std::fs::remove_file(&db).unwrap();
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch("CREATE TABLE j (x); DROP TABLE j;")
        .unwrap();
    let err = run_err(labgate(&db).arg("migrate"));
    assert!(err.contains("anchors the audit trail"), "{err}");
    let _ = d;
}

#[test]
fn secrets_are_refused_as_flags_and_read_from_their_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    // On the command line any user of the machine could read them.
    for args in [
        vec!["--master-key", "m-0123456789abcdef0123456789abcdef"],
        vec!["serve", "--global-api-key", "g-0123456789abcdef"],
        vec![
            "--noise-dispatch-token",
            "d-0123456789abcdef0123456789abcdef",
        ],
        vec!["serve", "--smtp-url", "smtp://u:p@127.0.0.1:25"],
    ] {
        let out = labgate(&db).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} accepted");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains("not accepted on the command line"), "{err}");
        assert!(
            !err.contains("0123456789abcdef"),
            "the refusal repeats no secret: {err}"
        );
    }
    // A server option before `serve` would not be used: refused rather than ignored.
    let out = labgate(&db)
        .args(["--env", "production", "serve"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("--env goes after `serve`"), "{err}");
    assert!(!db.exists());
    // From a file: read and judged like the variable itself.
    let short = dir.path().join("dispatch");
    std::fs::write(&short, "too-short\n").unwrap();
    let out = labgate(&db)
        .env("LABGATE_NOISE_DISPATCH_TOKEN_FILE", &short)
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.status.success() && err.contains("LABGATE_NOISE_DISPATCH_TOKEN"),
        "{err}"
    );
    let out = labgate(&db)
        .env("LABGATE_NOISE_DISPATCH_TOKEN_FILE", &short)
        .env("LABGATE_NOISE_DISPATCH_TOKEN", "x")
        .output()
        .unwrap();
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("both set"), "{err}");
    let key = dir.path().join("master");
    std::fs::write(&key, "m-0123456789abcdef0123456789abcdef\n").unwrap();
    let mut args = labgate::config::ServeArgs::defaults();
    args.break_glass_enabled = "true".into();
    args.master_key_file = Some(key);
    let config = labgate::config::Config::from_args(db.clone(), &args).unwrap();
    assert_eq!(
        config.master_key.as_deref(),
        Some("m-0123456789abcdef0123456789abcdef"),
        "the file's line, without its newline"
    );
}

/// `labgate check` as the unit's `ExecStartPre` runs it, and by hand with `--env-file`.
#[test]
fn check_names_each_problem_on_its_own_line_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("lab.db");
    let run = |c: &mut Command| {
        let out = c.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // A new install: nothing yet, and that is fine; nothing is created by looking.
    let (code, out, err) = run(labgate(&db).arg("check"));
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("does not exist yet: the first start creates it"),
        "{out}"
    );
    assert!(!db.exists() && !dir.path().join("lab.db.key").exists());

    // An environment file the way the package ships it: comments, export, quotes.
    let env = dir.path().join("labgate.env");
    // `labgate check --env-file` over a file holding `text`.
    let with_env = |text: &str| {
        std::fs::write(&env, text).unwrap();
        run(labgate(&db).arg("check").arg("--env-file").arg(&env))
    };
    let (code, _, err) = with_env(
        "# settings\n\nLABGATE_LISTEN=0.0.0.0:8080\nexport LABGATE_LOG_FORMAT=\"xml\"\nLABGATE_MAIL_DIR='/nonexistent/deeper/mail'\n",
    );
    assert_eq!(code, Some(1));
    let problems: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("labgate check: "))
        .collect();
    assert_eq!(
        problems.len(),
        1,
        "config stops at its first bad setting: {err}"
    );
    assert!(problems[0].contains("LABGATE_PUBLIC_URL"), "{err}");
    let (code, _, err) = with_env(
        "LABGATE_MAIL_DIR='/nonexistent/deeper/mail'\nLABGATE_NOISE_DIR=/proc/labgate-noise\n",
    );
    assert_eq!(code, Some(1));
    assert!(
        err.contains("labgate check: LABGATE_MAIL_DIR: /nonexistent/deeper/mail does not exist"),
        "{err}"
    );
    assert!(err.contains("labgate check: LABGATE_NOISE_DIR: "), "{err}");
    assert!(err.contains("labgate: 2 problems"), "{err}");
    let (code, _, err) = with_env("LABGATE_LISTEN 8080\n");
    assert_eq!(code, Some(1));
    assert!(err.contains("line 1: not NAME=value"), "{err}");

    // A listen address already taken.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run(labgate(&db).arg("check").env("LABGATE_LISTEN", &addr));
    assert_eq!(code, Some(1));
    assert!(
        err.contains(&format!("LABGATE_LISTEN: {addr} cannot be bound")),
        "{err}"
    );
    drop(taken);

    // An existing database opens with its key file; without it, the start would be refused.
    assert!(
        labgate(&db)
            .arg("migrate")
            .output()
            .unwrap()
            .status
            .success()
    );
    let (code, out, _) = run(labgate(&db).arg("check"));
    assert_eq!(code, Some(0));
    assert!(out.contains("opens with the key file"), "{out}");
    let key = dir.path().join("lab.db.key");
    let kept = dir.path().join("elsewhere.key");
    std::fs::rename(&key, &kept).unwrap();
    let (code, _, err) = run(labgate(&db).arg("check"));
    assert_eq!(code, Some(1));
    assert!(
        err.contains("LABGATE_KEY_FILE") && err.contains("is missing"),
        "{err}"
    );
    assert!(!key.exists(), "check never makes a key");
    // The key file named in the environment file is the one used.
    let (code, out, err) = with_env(&format!("LABGATE_KEY_FILE={}\n", kept.display()));
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(&kept.display().to_string()), "{out}");
}

#[test]
fn commands_name_a_database_they_create_and_refuse_one_that_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    let out = labgate(&db).arg("migrate").output().unwrap();
    assert!(out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("created database {}", db.display())),
        "{err}"
    );
    let again = labgate(&db).arg("migrate").output().unwrap();
    assert!(!String::from_utf8_lossy(&again.stderr).contains("created"));
    let missing = dir.path().join("typo.db");
    for args in [
        vec!["user", "reset-mfa", "--email", "a@lab.example"],
        vec!["audit", "prune", "--before", "2026-01-01T00:00:00Z"],
        vec!["keys", "rotate-signing"],
        vec!["backup", "--to", "/tmp/never-made.db"],
        vec!["audit", "verify"],
    ] {
        let out = labgate(&missing).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(&format!("database {} does not exist", missing.display())),
            "{args:?}: {err}"
        );
        assert!(!missing.exists(), "{args:?} made a database");
    }
}
