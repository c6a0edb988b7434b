//! The appliance's keys in the database: token-signing keys, the data-encryption key and the
//! audit MAC key, each stored encrypted ("sealed") under the root key of the key file
//! (`store::keyfile`). Databases written before sealing existed are converted at their first
//! start, with the plaintext overwritten.

use std::path::Path;

use super::db::Db;
use crate::params;

use super::{Pool, StoreError, StoreResult, keyfile};
use crate::domain::crypto::DataKey;
use crate::domain::jwt::KeyMaterial;
use crate::domain::time;

/// The keys, opened.
pub struct Unsealed {
    pub signing: KeyMaterial,
    /// Signing keys retired by rotation, with when (their tokens may still be valid).
    pub retired: Vec<(String, Vec<u8>, crate::domain::time::Timestamp)>,
    pub data: DataKey,
    pub audit_mac: DataKey,
}

fn wrong_key() -> StoreError {
    StoreError::Invalid {
        field: "LABGATE_KEY_FILE".into(),
        message: "the key file does not open this database's keys (it belongs to another database)"
            .into(),
    }
}

fn open_blob(root: &DataKey, sealed: bool, blob: Vec<u8>) -> StoreResult<Vec<u8>> {
    if !sealed {
        return Ok(blob);
    }
    root.decrypt(&blob).ok_or_else(wrong_key)
}

/// Whether any key of the database is sealed (then only its own key file opens it).
pub fn any_sealed(conn: &Db) -> StoreResult<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM signing_keys WHERE sealed = 1)
             OR EXISTS(SELECT 1 FROM appliance_keys WHERE sealed = 1)",
        params![],
        |r| r.get(0),
    )
}

/// Seals every key still stored in plaintext (a database of an earlier labgate). The caller
/// runs this with `secure_delete` on, so the old pages are overwritten.
fn seal_plaintext(conn: &Db, root: &DataKey) -> StoreResult<usize> {
    let mut n = 0;
    let plain: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT kid, private_der FROM signing_keys WHERE sealed = 0")?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (kid, der) in plain {
        conn.execute(
            "UPDATE signing_keys SET private_der = ?2, sealed = 1 WHERE kid = ?1",
            params![kid, root.encrypt(&der)],
        )?;
        n += 1;
    }
    let plain: Vec<(String, Vec<u8>)> = conn
        .prepare("SELECT name, key FROM appliance_keys WHERE sealed = 0")?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    for (name, key) in plain {
        conn.execute(
            "UPDATE appliance_keys SET key = ?2, sealed = 1 WHERE name = ?1",
            params![name, root.encrypt(&key)],
        )?;
        n += 1;
    }
    Ok(n)
}

/// A signing key, created (sealed) when none exists.
fn ensure_signing(conn: &Db, root: &DataKey) -> StoreResult<()> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM signing_keys", params![], |r| r.get(0))?;
    if n == 0 {
        let m = KeyMaterial::generate();
        conn.execute(
            "INSERT INTO signing_keys (kid, private_der, public_raw, created_at, sealed) VALUES (?1, ?2, ?3, ?4, 1)",
            params![m.kid, root.encrypt(&m.private_der), m.public_raw, time::fmt(time::now())],
        )?;
    }
    Ok(())
}

/// The signing keys retired by rotation: kid, public key, when retired.
fn retired(conn: &Db) -> StoreResult<Vec<(String, Vec<u8>, crate::domain::time::Timestamp)>> {
    let rows: Vec<(String, Vec<u8>, String)> = conn
        .prepare(
            "SELECT kid, public_raw, retired_at FROM signing_keys WHERE retired_at IS NOT NULL",
        )?
        .query_map(params![], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, p, at)| Some((k, p, time::parse(&at)?)))
        .collect())
}

/// The signing keys as the server uses them: the current one, and those retired within
/// `window` (the longest token lifetime and the leeway), whose tokens may still be valid.
pub fn signing_keys(
    keys: &Unsealed,
    window: std::time::Duration,
    issuer: &str,
) -> crate::domain::jwt::Keys {
    let retired: Vec<crate::domain::jwt::Retired> = keys
        .retired
        .iter()
        .map(|(kid, public_raw, at)| crate::domain::jwt::Retired {
            kid: kid.clone(),
            public_raw: public_raw.clone(),
            until: time::plus(*at, window).timestamp(),
        })
        .collect();
    crate::domain::jwt::Keys::with_retired(&keys.signing, &retired, issuer)
}

/// Makes a new signing key current, retiring the one before (`labgate keys rotate-signing`);
/// keys retired longer than `window` ago are deleted (no token of theirs is still valid).
/// Audited; returns the new key's id.
pub fn rotate_signing(
    pool: &Pool,
    key_file: &Path,
    window: std::time::Duration,
) -> Result<String, String> {
    let root = keyfile::read(key_file)?
        .ok_or_else(|| format!("LABGATE_KEY_FILE: {} is missing", key_file.display()))?;
    let now = time::now();
    let m = KeyMaterial::generate();
    let kid = m.kid.clone();
    super::write_blocking(pool, |tx| {
        let old: Option<String> = super::optional(tx.query_row(
            "SELECT kid FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC LIMIT 1",
            params![],
            |r| r.get(0),
        ))?;
        tx.execute(
            "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL",
            params![time::fmt(now)],
        )?;
        let cutoff = time::fmt(now - chrono::Duration::from_std(window).unwrap_or_default());
        let dropped = tx.execute(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < ?1",
            params![cutoff],
        )?;
        tx.execute(
            "INSERT INTO signing_keys (kid, private_der, public_raw, created_at, sealed) VALUES (?1, ?2, ?3, ?4, 1)",
            params![m.kid, root.encrypt(&m.private_der), m.public_raw, time::fmt(now)],
        )?;
        super::audit::append(
            tx,
            &super::audit::AuditEvent {
                actor_type: "system".into(),
                actor_id: Some("cli".into()),
                action: "keys.rotate_signing".into(),
                target: Some(m.kid.clone()),
                details: serde_json::json!({"retired": old, "deleted": dropped}),
                ..Default::default()
            },
        )?;
        super::bump_epoch(tx)
    })
    .map_err(|e| format!("cannot rotate the signing key: {e}"))?;
    Ok(kid)
}

/// Reads the signing keys again (after a rotation by the CLI), opened with the key file.
pub fn reload(pool: &Pool, key_file: &Path) -> Result<Unsealed, String> {
    let root = keyfile::read(key_file)?
        .ok_or_else(|| format!("LABGATE_KEY_FILE: {} is missing", key_file.display()))?;
    let lease = pool
        .get()
        .map_err(|e| format!("cannot open database: {e}"))?;
    let conn = lease.db();
    let load = || -> StoreResult<Unsealed> {
        Ok(Unsealed {
            signing: current(&conn, &root)?,
            retired: retired(&conn)?,
            data: named_existing(&conn, &root, "data")?,
            audit_mac: named_existing(&conn, &root, "audit_mac")?,
        })
    };
    load().map_err(|e| format!("cannot open the keys: {e}"))
}

fn named_existing(conn: &Db, root: &DataKey, name: &str) -> StoreResult<DataKey> {
    let (blob, sealed): (Vec<u8>, bool) = conn.query_row(
        "SELECT key, sealed FROM appliance_keys WHERE name = ?1",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    let raw = open_blob(root, sealed, blob)?;
    DataKey::from_bytes(&raw).ok_or_else(wrong_key)
}

/// The newest signing key, opened.
fn current(conn: &Db, root: &DataKey) -> StoreResult<KeyMaterial> {
    let (kid, der, public_raw, sealed): (String, Vec<u8>, Vec<u8>, bool) = conn.query_row(
        "SELECT kid, private_der, public_raw, sealed FROM signing_keys
          WHERE retired_at IS NULL ORDER BY created_at DESC, kid LIMIT 1",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    Ok(KeyMaterial {
        kid,
        private_der: open_blob(root, sealed, der)?,
        public_raw,
    })
}

/// A named appliance key (`data`, `audit_mac`), created (sealed) on first use.
fn named(conn: &Db, root: &DataKey, name: &str) -> StoreResult<DataKey> {
    let existing: Option<(Vec<u8>, bool)> = super::optional(conn.query_row(
        "SELECT key, sealed FROM appliance_keys WHERE name = ?1",
        params![name],
        |r| Ok((r.get(0)?, r.get(1)?)),
    ))?;
    if let Some((blob, sealed)) = existing {
        let raw = open_blob(root, sealed, blob)?;
        return DataKey::from_bytes(&raw).ok_or_else(wrong_key);
    }
    let k = DataKey::generate();
    conn.execute(
        "INSERT INTO appliance_keys (name, key, created_at, sealed) VALUES (?1, ?2, ?3, 1)",
        params![name, root.encrypt(k.bytes()), time::fmt(time::now())],
    )?;
    Ok(k)
}

/// Opens (and, on a database that has none yet, creates) the appliance's keys with the key
/// file at `key_file`:
/// - a key file that exists opens the keys, or the start is refused (it belongs elsewhere);
/// - no key file and sealed keys: refused, never replaced by a new key;
/// - no key file and no sealed key (a new database, or one from before sealing): a new key file
///   is made, and plaintext keys are sealed and overwritten.
/// - a key file that exists beside a database that is not new but holds no key: refused (its
///   keys were removed; new ones would leave its sealed secrets unreadable).
pub fn unseal(pool: &Pool, db: &Path, key_file: &Path, new_db: bool) -> Result<Unsealed, String> {
    let fail = |e: StoreError| match e {
        StoreError::Invalid { field, message } => {
            format!("{field}: {} ({message})", key_file.display())
        }
        other => format!("cannot open the keys of {}: {other}", super::shown(db)),
    };
    let lease = pool
        .get()
        .map_err(|e| format!("cannot open database: {e}"))?;
    let conn = lease.db();
    let (root, existed) = match keyfile::read(key_file)? {
        Some(k) => (k, true),
        None if any_sealed(&conn).map_err(fail)? => {
            return Err(format!(
                "LABGATE_KEY_FILE: {} is missing; the keys of database {} are sealed under it. Restore the key file (labgate never makes a new key over existing data)",
                key_file.display(),
                super::shown(db)
            ));
        }
        None => (keyfile::create(key_file)?, false),
    };
    // With a key file that existed already, the database's keys were sealed under it before:
    // a key stored in plaintext, or one missing beside others, was put there by someone else.
    // Only a database with no keys at all (new) gets keys made under an existing file.
    if existed {
        let (plain, present): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM signing_keys WHERE sealed = 0)
                      + (SELECT count(*) FROM appliance_keys WHERE sealed = 0),
                        (SELECT count(*) FROM signing_keys) + (SELECT count(*) FROM appliance_keys)",
                params![],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| format!("cannot open database: {e}"))?;
        let names: i64 = conn
            .query_row(
                "SELECT count(*) FROM appliance_keys WHERE name IN ('data', 'audit_mac')",
                params![],
                |r| r.get(0),
            )
            .map_err(|e| format!("cannot open database: {e}"))?;
        // A database that is not new and holds no key had its keys removed: new ones would
        // leave every sealed secret unreadable and re-sign its audit chain.
        if plain > 0 || (present > 0 && names < 2) || (present == 0 && !new_db) {
            return Err(format!(
                "LABGATE_KEY_FILE: database {} holds keys that were not sealed under {} (a key in plaintext or missing): refusing to start",
                super::shown(db),
                key_file.display()
            ));
        }
    }
    drop(lease);
    let (keys, converted) = super::write_blocking(pool, |tx| {
        // SQLite: the pages that held plaintext keys are overwritten as they are freed.
        let secure = |on: bool| match tx.sqlite_conn() {
            Some(c) => c.execute_batch(if on {
                "PRAGMA secure_delete = ON"
            } else {
                "PRAGMA secure_delete = OFF"
            }),
            None => Ok(()),
        };
        secure(true)?;
        // Nodes starting together on one new database make one set of keys.
        super::pg::lock_setup(tx)?;
        let out = (|| -> StoreResult<(Unsealed, usize)> {
            let converted = seal_plaintext(tx, &root)?;
            ensure_signing(tx, &root)?;
            let keys = Unsealed {
                signing: current(tx, &root)?,
                retired: retired(tx)?,
                data: named(tx, &root, "data")?,
                audit_mac: named(tx, &root, "audit_mac")?,
            };
            Ok((keys, converted))
        })();
        let _ = secure(false);
        out
    })
    .map_err(fail)?;
    if converted > 0 {
        // The pages that held the plaintext were overwritten; the log that still has copies of
        // them is folded into the database and emptied.
        let emptied = super::checkpoint(pool).map_err(|e| format!("cannot open database: {e}"))?;
        if !emptied {
            return Err(format!(
                "the plaintext keys of {} were sealed, but another process holds the database open, so the log that still holds them could not be emptied; stop it and start again",
                super::shown(db)
            ));
        }
        log::info!(
            "sealed {converted} plaintext keys under {}",
            key_file.display()
        );
    }
    Ok(keys)
}

/// Opens the database for work: created and migrated as needed, its keys unsealed with the key
/// file, and a pool whose connections hold the audit MAC key (so they can append to the chain).
pub fn open_database(db: &Path, key_file: &Path) -> Result<(Pool, Unsealed), String> {
    let cannot = |e: StoreError| format!("cannot open database {}: {e}", super::shown(db));
    // A database that is not there (or empty) beside the head anchored for one means the one
    // that was here is gone: starting a new chain over it would erase its trail and overwrite
    // its head. Only an operator who restores it, or removes the head file, decides.
    let head = super::audit_head::default_path(db);
    let on_pg = super::pg::is_postgres(db);
    if on_pg && key_file.as_os_str().is_empty() {
        return Err(
            "LABGATE_KEY_FILE: on PostgreSQL the key file has no default path; name it (the same key file on every node)"
                .into(),
        );
    }
    let fresh = match std::fs::metadata(db) {
        _ if on_pg => super::schema_version_of(db).map_err(cannot)? == 0,
        Err(_) => true,
        Ok(m) if m.len() == 0 => true,
        // Any SQLite file that labgate never set up (its version 0) is new to labgate too.
        Ok(_) => {
            rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)))
                .is_ok_and(|v| v == 0)
        }
    };
    if fresh && let Some(head) = head.as_ref().filter(|h| h.exists()) {
        return Err(format!(
            "database {} is missing or empty, but {} anchors the audit trail of one that was there: restore it (`labgate restore`), or remove the head file to start a new database",
            super::shown(db),
            head.display()
        ));
    }
    let bare = super::open(db).map_err(cannot)?;
    let created = super::migrate(&bare)?;
    {
        let lease = bare
            .get()
            .map_err(|e| format!("cannot open database: {e}"))?;
        super::check_schema(&lease.db()).map_err(|e| match e {
            StoreError::Unavailable(why) => {
                format!("database {}: {why}; refusing to start", super::shown(db))
            }
            other => other.to_string(),
        })?;
    }
    let keys = unseal(&bare, db, key_file, created)?;
    drop(bare);
    let pool = super::open_keyed(db, &keys.audit_mac).map_err(cannot)?;
    if created {
        // A new database's chain starts with a record, anchored at once: the chain is never
        // legitimately empty, so a chain deleted whole cannot pass for a new one.
        let ev = super::audit::AuditEvent {
            actor_type: "system".into(),
            action: "audit.chain_start".into(),
            ..Default::default()
        };
        let rec = super::write_blocking(&pool, |tx| {
            super::audit::append(tx, &ev)?;
            super::audit::head(tx)
        })
        .map_err(cannot)?;
        let head =
            super::audit_head::Head::new(&keys.audit_mac, rec.0, &rec.1, time::now().timestamp());
        if let Some(path) = super::audit_head::default_path(db) {
            super::audit_head::write(&path, &head)
                .map_err(|e| format!("cannot write the audit head: {e}"))?;
        }
    }
    Ok((pool, keys))
}
