//! Consistent copies of the database (SPEC §13.3): SQLite's online backup into a new file,
//! taken in one step under one read snapshot while the server keeps serving.

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::db::Db;
use crate::params;

use super::{Conns, Pool, StoreError, StoreResult, keyfile};

/// Copies the database into `to`, a file that must not exist (a backup never overwrites
/// one); created 0600 and synced to disk.
pub fn copy(pool: &Pool, to: &Path) -> StoreResult<()> {
    if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        keyfile::private_dir(dir).map_err(|e| StoreError::Unavailable(e.to_string()))?;
    }
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(to)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => StoreError::Invalid {
                field: "--to".into(),
                message: format!("{} exists; a backup never overwrites a file", to.display()),
            },
            _ => StoreError::Unavailable(format!("cannot create {}: {e}", to.display())),
        })?;
    let out = (|| -> StoreResult<()> {
        let Conns::Lite(lite) = &pool.conns else {
            return Err(StoreError::Invalid {
                field: "LABGATE_DB".into(),
                message: "a PostgreSQL database is backed up with pg_dump (see README), not labgate backup".into(),
            });
        };
        let src = lite.get()?;
        let mut dst = rusqlite::Connection::open(to)?;
        {
            let b = rusqlite::backup::Backup::new(&src, &mut dst)?;
            // All pages in one step: one snapshot, so writes meanwhile cannot restart it.
            b.step(-1)?;
        }
        // The copy stands alone: no log beside it.
        dst.execute_batch("PRAGMA journal_mode = DELETE;")?;
        drop(dst);
        std::fs::File::open(to)
            .and_then(|f| f.sync_all())
            .and_then(|_| keyfile::sync_dir(to))
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    })();
    if out.is_err() {
        let _ = std::fs::remove_file(to);
    }
    out
}

/// SQLite's own check of the file: `Ok(())`, or what it found.
pub fn integrity(conn: &Db) -> StoreResult<Result<(), String>> {
    if conn.sqlite_conn().is_none() {
        // PostgreSQL checks its pages itself (and with data checksums, when the cluster has them).
        return Ok(Ok(()));
    }
    let rows: Vec<String> = conn
        .prepare("PRAGMA integrity_check")?
        .query_map(params![], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    Ok(if rows == ["ok"] {
        Ok(())
    } else {
        Err(rows.join("; "))
    })
}

/// What a copy holds, for the operator.
pub fn counts(conn: &Db) -> StoreResult<(i64, i64, i64)> {
    conn.query_row(
        "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM users),
                (SELECT count(*) FROM audit_log)",
        params![],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )
}
