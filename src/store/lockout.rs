//! Failed-login counting per email (existing or not, so a lockout reveals nothing): after 5
//! consecutive failures the email is locked for 1 minute, doubling with each further failure up
//! to 15 minutes. A success resets the count.

use super::db::Db;
use crate::params;

use super::{StoreResult, optional};
use crate::domain::time::{self, Timestamp};

pub const THRESHOLD: i64 = 5;
const MAX_LOCK_S: i64 = 15 * 60;

/// When the email is locked now, until when.
pub fn locked_until(conn: &Db, email_norm: &str, now: Timestamp) -> StoreResult<Option<Timestamp>> {
    let until: Option<Option<String>> = optional(conn.query_row(
        "SELECT locked_until FROM login_failures WHERE email_norm = ?1",
        params![email_norm],
        |r| r.get(0),
    ))?;
    Ok(until
        .flatten()
        .as_deref()
        .and_then(time::parse)
        .filter(|u| *u > now))
}

/// Counts a failed sign-in attempt: `Err(until)` while locked; otherwise the consecutive
/// failures so far, this one included. From the fifth on, the lock is set at once (1 minute,
/// doubling to 15); a success then clears it with `reset`.
pub fn begin_attempt(
    conn: &Db,
    email_norm: &str,
    now: Timestamp,
) -> StoreResult<Result<i64, Timestamp>> {
    if let Some(until) = locked_until(conn, email_norm, now)? {
        return Ok(Err(until));
    }
    let failures: i64 = conn.query_row(
        "INSERT INTO login_failures (email_norm, failures, updated_at) VALUES (?1, 1, ?2)
         ON CONFLICT(email_norm) DO UPDATE SET failures = login_failures.failures + 1, updated_at = ?2
         RETURNING failures",
        params![email_norm, time::fmt(now)],
        |r| r.get(0),
    )?;
    if failures >= THRESHOLD {
        let secs = (60i64 << (failures - THRESHOLD).min(10)).min(MAX_LOCK_S);
        conn.execute(
            "UPDATE login_failures SET locked_until = ?2 WHERE email_norm = ?1",
            params![email_norm, time::fmt(now + chrono::Duration::seconds(secs))],
        )?;
    }
    Ok(Ok(failures))
}

pub fn reset(conn: &Db, email_norm: &str) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM login_failures WHERE email_norm = ?1",
        params![email_norm],
    )?;
    Ok(())
}
