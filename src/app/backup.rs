//! Backup and restore (SPEC §13.3): verified copies taken while the server runs, each with its
//! own anchored audit head so it verifies on its own; restore of a checked copy; scheduled
//! backups with rotation.

use std::path::{Path, PathBuf};

use super::App;
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::audit_head::{self, Head};
use crate::store::{self, Pool, backup};

/// What a verified copy holds.
#[derive(Debug)]
pub struct Summary {
    pub path: PathBuf,
    pub bytes: u64,
    pub tenants: i64,
    pub users: i64,
    pub audit_records: i64,
}

/// What `copy_database` copied.
pub struct Copied {
    pub tables: usize,
    pub rows: u64,
    pub audit_records: u64,
    pub head_seq: i64,
}

/// Copies the appliance of `from` (opened with `key_file`) into `to`, a new database on
/// either engine, then verifies the copy: every table's rows counted on both sides, the copy's
/// audit chain walked under the audit key, its end the source's. A SQLite copy gets its
/// anchored head beside it (as a backup does). A copy that fails is removed (a SQLite file) or
/// left without rows (PostgreSQL: the transaction is rolled back).
pub fn copy_database(from: &Path, key_file: &Path, to: &Path) -> Result<Copied, String> {
    use crate::store::copy;
    if store::shown(from) == store::shown(to) {
        return Err("--to is the database copied".into());
    }
    let to_pg = store::pg::is_postgres(to);
    let new = if to_pg {
        // New: no schema yet, or a schema without keys (what a copy that failed leaves).
        store::schema_version_of(to).map_err(|e| format!("--to: {e}"))? == 0 || {
            let pool = store::open(to).map_err(|e| format!("--to: {e}"))?;
            store::run_blocking(&pool, |db| copy::count(db, "appliance_keys"))
                .map_err(|e| format!("--to: {e}"))?
                == 0
        }
    } else {
        std::fs::metadata(to).map(|m| m.len() == 0).unwrap_or(true)
    };
    if !new {
        return Err(format!(
            "--to: {} holds a database already; a copy goes into a new one",
            store::shown(to)
        ));
    }
    let (source, keys) = store::keys::open_database(from, key_file)?;
    let out = (|| -> Result<Copied, String> {
        let target = store::open_keyed(to, &keys.audit_mac)
            .map_err(|e| format!("--to: cannot open {}: {e}", store::shown(to)))?;
        store::migrate(&target).map_err(|e| format!("--to: {e}"))?;
        let tables = copy::tables().map_err(|e| e.to_string())?;
        let lease = source.get().map_err(|e| e.to_string())?;
        let src = lease.db();
        // Every table read in one snapshot of the source.
        src.execute_batch(src.pick("BEGIN", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"))
            .map_err(|e| e.to_string())?;
        let rows = store::write_blocking(&target, |tx| {
            // The new schema's own first rows (its default tenant) give way to the source's.
            for t in tables.iter().rev() {
                tx.execute(&format!("DELETE FROM {}", t.name), crate::params![])?;
            }
            let mut rows = 0;
            for t in &tables {
                rows += copy::table(&src, tx, t)?;
            }
            copy::continue_sequences(tx)?;
            Ok(rows)
        })
        .map_err(|e| format!("cannot copy: {e}"));
        let _ = src.execute_batch("COMMIT");
        let rows = rows?;
        let lease_to = target.get().map_err(|e| e.to_string())?;
        let dst = lease_to.db();
        for t in &tables {
            let (a, b) = (
                copy::count(&src, &t.name).map_err(|e| e.to_string())?,
                copy::count(&dst, &t.name).map_err(|e| e.to_string())?,
            );
            if a != b {
                return Err(format!(
                    "the copy does not verify: {} has {a} rows in the source, {b} in the copy",
                    t.name
                ));
            }
        }
        let walk = audit::verify(&dst)
            .map_err(|e| e.to_string())?
            .map_err(|bad| format!("the copy's audit chain does not verify: {bad}"))?;
        if walk.head != audit::head(&src).map_err(|e| e.to_string())? {
            return Err("the copy's audit chain does not end where the source's does".into());
        }
        if !to_pg && walk.head.0 > 0 {
            let head = Head::new(
                &keys.audit_mac,
                walk.head.0,
                &walk.head.1,
                chrono::Utc::now().timestamp(),
            );
            audit_head::write(&head_of(to), &head)
                .map_err(|e| format!("cannot write {}: {e}", head_of(to).display()))?;
        }
        Ok(Copied {
            tables: tables.len(),
            rows,
            audit_records: walk.records,
            head_seq: walk.head.0,
        })
    })();
    if out.is_err() && !to_pg {
        let _ = std::fs::remove_file(to);
        for suffix in ["-wal", "-shm"] {
            let mut p = to.as_os_str().to_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(PathBuf::from(p));
        }
    }
    out
}

/// `FILE.audit-head`: where a copy's own head lives.
pub fn head_of(file: &Path) -> PathBuf {
    audit_head::beside(file)
}

/// Checks a copy: SQLite's integrity check and the whole audit chain. Returns the chain's end.
fn check(pool: &Pool) -> Result<(i64, String, crate::store::audit::Walk), String> {
    let lease = pool
        .get()
        .map_err(|e| format!("cannot open the copy: {e}"))?;
    let conn = lease.db();
    backup::integrity(&conn)
        .map_err(|e| e.to_string())?
        .map_err(|why| format!("the copy fails SQLite's integrity check: {why}"))?;
    let walk = audit::verify(&conn)
        .map_err(|e| e.to_string())?
        .map_err(|bad| format!("the copy's audit chain is broken: {bad}"))?;
    Ok((walk.head.0, walk.head.1.clone(), walk))
}

/// `labgate backup --to FILE`: a consistent copy, checked, with its own head beside it
/// (`FILE.audit-head`). Never overwrites a file; a copy that fails its checks is removed.
pub fn backup(app: &App, to: &Path) -> Result<Summary, String> {
    let head_path = head_of(to);
    if head_path.exists() {
        return Err(format!(
            "{} exists; a backup never overwrites a file",
            head_path.display()
        ));
    }
    backup::copy(&app.pool, to).map_err(|e| match e {
        store::StoreError::Invalid { message, .. } => message,
        other => format!("cannot copy the database: {other}"),
    })?;
    let out = (|| {
        let copy = store::open_keyed(to, &app.audit_mac)
            .map_err(|e| format!("cannot open the copy: {e}"))?;
        let (seq, hash, walk) = check(&copy)?;
        // The copy's chain is the live one up to where the copy ends: it agrees with the head
        // the live database anchored (when that lies within the copy).
        if let Some(live_head) = audit_head::default_path(&app.config.db)
            && let Ok(Some(live)) = audit_head::read(&live_head)
            && live.authentic(&app.audit_mac)
            && live.seq <= seq
            && walk.hash_at(live.seq) != Some(live.hash.as_str())
        {
            return Err(
                "the copy's audit chain is not the one anchored for the live database".into(),
            );
        }
        if seq > 0 {
            let head = Head::new(&app.audit_mac, seq, &hash, app.now().timestamp());
            audit_head::write(&head_path, &head)
                .map_err(|e| format!("cannot write {}: {e}", head_path.display()))?;
        }
        let lease = copy.get().map_err(|e| e.to_string())?;
        let conn = lease.db();
        let (tenants, users, audit_records) = backup::counts(&conn).map_err(|e| e.to_string())?;
        Ok(Summary {
            path: to.to_path_buf(),
            bytes: std::fs::metadata(to).map(|m| m.len()).unwrap_or(0),
            tenants,
            users,
            audit_records,
        })
    })();
    if out.is_err() {
        let _ = std::fs::remove_file(to);
        let _ = std::fs::remove_file(&head_path);
    }
    out
}

/// Checks a backup before it is restored: its keys open with the key file, SQLite's integrity
/// check passes, and its audit chain verifies against its own head.
pub fn check_backup(from: &Path, key_file: &Path) -> Result<Summary, String> {
    if !from.is_file() {
        return Err(format!("{} does not exist", from.display()));
    }
    let bare = store::open(from).map_err(|e| format!("cannot open {}: {e}", from.display()))?;
    {
        let lease = bare.get().map_err(|e| e.to_string())?;
        let conn = lease.db();
        if !store::keys::any_sealed(&conn).map_err(|e| e.to_string())? {
            return Err(format!(
                "{} holds no keys sealed under a key file: not a labgate backup",
                from.display()
            ));
        }
    }
    let keys = store::keys::unseal(&bare, from, key_file, false)?;
    drop(bare);
    let pool = store::open_keyed(from, &keys.audit_mac).map_err(|e| e.to_string())?;
    check(&pool)?;
    super::audit::verify_chain(&pool, &keys.audit_mac, Some(&head_of(from)))
        .map_err(|e| format!("the backup does not verify: {e}"))?;
    let lease = pool.get().map_err(|e| e.to_string())?;
    let conn = lease.db();
    let (tenants, users, audit_records) = backup::counts(&conn).map_err(|e| e.to_string())?;
    Ok(Summary {
        path: from.to_path_buf(),
        bytes: std::fs::metadata(from).map(|m| m.len()).unwrap_or(0),
        tenants,
        users,
        audit_records,
    })
}

/// One scheduled backup into `dir` (`labgate-<time>.db`), audited either way, then rotation:
/// only the newest `keep` backups (and their heads) are kept.
pub fn scheduled(app: &App, dir: &Path, keep: usize) -> Result<Summary, String> {
    let name = format!("labgate-{}.db", app.now().format("%Y%m%dT%H%M%SZ"));
    let result = backup(app, &dir.join(&name));
    let ev = AuditEvent {
        actor_type: "system".into(),
        actor_id: Some("scheduler".into()),
        action: "backup.create".into(),
        target: Some(name.clone()),
        outcome: if result.is_ok() {
            Outcome::Success
        } else {
            Outcome::Failure
        },
        details: match &result {
            Ok(s) => serde_json::json!({"bytes": s.bytes, "audit_records": s.audit_records}),
            Err(e) => serde_json::json!({"error": e}),
        },
        ..Default::default()
    };
    app.write_blocking(move |tx, _| Ok(audit::append(tx, &ev)?))
        .map_err(|e| e.message)?;
    if result.is_ok() {
        rotate(dir, keep);
    }
    result
}

/// Removes all but the newest `keep` scheduled backups in `dir`.
fn rotate(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("labgate-") && n.ends_with(".db"))
        .collect();
    // The names hold the time in a sortable form.
    names.sort();
    let excess = names.len().saturating_sub(keep.max(1));
    for n in &names[..excess] {
        let p = dir.join(n);
        let _ = std::fs::remove_file(&p);
        let _ = std::fs::remove_file(head_of(&p));
    }
}

/// `labgate restore --from FILE`: checks the backup, refuses while a server uses the
/// database, keeps the database it replaces as `<db>.before-restore` (with its head), and
/// installs the copy and its head.
pub fn restore(db: &Path, key_file: &Path, from: &Path) -> Result<Summary, String> {
    let summary = check_backup(from, key_file)?;
    let _lock = store::lock_for_server(db).map_err(|e| format!("{e}; stop it before restoring"))?;
    let with = |p: &Path, suffix: &str| {
        let mut s = p.as_os_str().to_os_string();
        s.push(suffix);
        PathBuf::from(s)
    };
    let before = with(db, ".before-restore");
    if before.exists() {
        return Err(format!(
            "{} exists from an earlier restore; move it away first",
            before.display()
        ));
    }
    let io = |what: &str, e: std::io::Error| format!("cannot {what}: {e}");
    if db.exists() {
        // Everything of the old database into its main file first, so the kept copy is whole.
        if let Ok(c) = rusqlite::Connection::open(db) {
            let _ = c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
        }
        std::fs::rename(db, &before).map_err(|e| io("keep the old database", e))?;
        let old_head = audit_head::beside(db);
        if old_head.exists() {
            std::fs::rename(&old_head, head_of(&before))
                .map_err(|e| io("keep the old audit head", e))?;
        }
        for s in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with(db, s));
        }
    }
    install(from, db).map_err(|e| io("install the backup", e))?;
    let head = head_of(from);
    if head.exists() {
        install(&head, &audit_head::beside(db))
            .map_err(|e| io("install the backup's audit head", e))?;
    }
    Ok(summary)
}

/// Copies `from` to `to` whole (a temporary file renamed into place), 0600, synced.
fn install(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp = to.as_os_str().to_os_string();
    tmp.push(format!(".{}.restore", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let out = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        std::io::copy(&mut std::fs::File::open(from)?, &mut f)?;
        f.sync_all()?;
        std::fs::rename(&tmp, to)?;
        crate::store::keyfile::sync_dir(to)
    })();
    if out.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    out
}
