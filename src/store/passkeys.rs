//! Passkeys (SPEC §16.1): each user's WebAuthn credentials, and the ceremonies between a
//! `start` and its `finish`. A credential row holds only public material (the public key, the
//! sign counter, the credential id), as webauthn-rs serializes it.

use super::db::{Db, Row};
use crate::params;
use serde::Serialize;
use utoipa::ToSchema;

use super::{StoreResult, new_id, optional};
use crate::domain::time::{self, Timestamp};

/// A passkey as its owner sees it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

/// A stored passkey with what verifying an assertion needs.
#[derive(Debug, Clone)]
pub struct Stored {
    pub id: String,
    pub user_id: String,
    /// The webauthn-rs `Passkey`, as JSON.
    pub credential: String,
}

/// Pending ceremonies of each purpose kept at most (a flood of unauthenticated sign-in starts
/// cannot grow the table past this, nor push out registrations; the oldest go first).
pub const CEREMONIES_MAX: i64 = 10_000;

pub fn insert(
    conn: &Db,
    user_id: &str,
    credential_id: &str,
    name: &str,
    credential: &str,
    now: Timestamp,
) -> StoreResult<PasskeyInfo> {
    let id = new_id();
    let created_at = time::fmt(now);
    conn.execute(
        "INSERT INTO passkeys (id, user_id, credential_id, name, credential, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, user_id, credential_id, name, credential, created_at],
    )?;
    Ok(PasskeyInfo {
        id,
        name: name.to_string(),
        created_at,
        last_used_at: None,
    })
}

pub fn credential_id_taken(conn: &Db, credential_id: &str) -> StoreResult<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM passkeys WHERE credential_id = ?1)",
        params![credential_id],
        |r| r.get(0),
    )
}

pub fn list(conn: &Db, user_id: &str) -> StoreResult<Vec<PasskeyInfo>> {
    let mut st = conn.prepare(
        "SELECT id, name, created_at, last_used_at FROM passkeys WHERE user_id = ?1
         ORDER BY created_at, id",
    )?;
    let rows = st.query_map(params![user_id], |r| {
        Ok(PasskeyInfo {
            id: r.get(0)?,
            name: r.get(1)?,
            created_at: r.get(2)?,
            last_used_at: r.get(3)?,
        })
    })?;
    rows.collect::<Result<_, _>>()
}

/// A user's credentials, for the allow list of a sign-in and the exclude list of a
/// registration.
pub fn credentials(conn: &Db, user_id: &str) -> StoreResult<Vec<Stored>> {
    let mut st = conn
        .prepare("SELECT id, user_id, credential FROM passkeys WHERE user_id = ?1 ORDER BY id")?;
    let rows = st.query_map(params![user_id], stored)?;
    rows.collect::<Result<_, _>>()
}

pub fn by_credential_id(conn: &Db, credential_id: &str) -> StoreResult<Option<Stored>> {
    optional(conn.query_row(
        "SELECT id, user_id, credential FROM passkeys WHERE credential_id = ?1",
        params![credential_id],
        stored,
    ))
}

fn stored(r: &Row) -> StoreResult<Stored> {
    Ok(Stored {
        id: r.get(0)?,
        user_id: r.get(1)?,
        credential: r.get(2)?,
    })
}

pub fn has_any(conn: &Db, user_id: &str) -> StoreResult<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM passkeys WHERE user_id = ?1)",
        params![user_id],
        |r| r.get(0),
    )
}

/// After a verified assertion: the new counter (and backup state), and when; only over the
/// record the assertion was verified against (false when it changed or went meanwhile).
pub fn used(
    conn: &Db,
    id: &str,
    verified: &str,
    credential: &str,
    now: Timestamp,
) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE passkeys SET credential = ?3, last_used_at = ?4 WHERE id = ?1 AND credential = ?2",
        params![id, verified, credential, time::fmt(now)],
    )?;
    Ok(n == 1)
}

/// Removes one of the user's own passkeys and answers its name; None when the user has none
/// of that id (another person's is not theirs to remove).
pub fn delete(conn: &Db, user_id: &str, id: &str) -> StoreResult<Option<String>> {
    optional(conn.query_row(
        "DELETE FROM passkeys WHERE id = ?1 AND user_id = ?2 RETURNING name",
        params![id, user_id],
        |r| r.get(0),
    ))
}

/// Removes all of a user's passkeys (`labgate user reset-mfa`) and answers how many.
pub fn delete_all(conn: &Db, user_id: &str) -> StoreResult<usize> {
    conn.execute("DELETE FROM passkeys WHERE user_id = ?1", params![user_id])
}

/// A ceremony in progress.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub user_id: Option<String>,
    /// The webauthn-rs state and what the finish needs besides (JSON).
    pub data: String,
}

/// Keeps a ceremony until `expires_at`; expired ones are dropped first, and the oldest beyond
/// `CEREMONIES_MAX` of its purpose. A user's earlier registration is replaced by a new one.
pub fn begin(
    conn: &Db,
    purpose: &str,
    user_id: Option<&str>,
    data: &str,
    now: Timestamp,
    expires_at: Timestamp,
) -> StoreResult<String> {
    conn.execute(
        "DELETE FROM passkey_ceremonies WHERE expires_at <= ?1",
        params![time::fmt(now)],
    )?;
    if purpose == "register"
        && let Some(u) = user_id
    {
        conn.execute(
            "DELETE FROM passkey_ceremonies WHERE purpose = 'register' AND user_id = ?1",
            params![u],
        )?;
    }
    conn.execute(
        "DELETE FROM passkey_ceremonies WHERE id IN (
            SELECT id FROM passkey_ceremonies WHERE purpose = ?1
            ORDER BY expires_at DESC LIMIT 9223372036854775807 OFFSET ?2)",
        params![purpose, CEREMONIES_MAX - 1],
    )?;
    let id = new_id();
    conn.execute(
        "INSERT INTO passkey_ceremonies (id, purpose, user_id, data, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, purpose, user_id, data, time::fmt(expires_at)],
    )?;
    Ok(id)
}

/// Takes (spends) a ceremony: by id for a sign-in, by user for a registration. An expired one
/// is spent and not returned.
pub fn take(
    conn: &Db,
    purpose: &str,
    id: Option<&str>,
    user_id: Option<&str>,
    now: Timestamp,
) -> StoreResult<Option<Ceremony>> {
    let row: Option<(Option<String>, String, String)> = optional(conn.query_row(
        "DELETE FROM passkey_ceremonies WHERE purpose = ?1
           AND (?2 IS NULL OR id = ?2) AND (?3 IS NULL OR user_id = ?3)
           AND (?2 IS NOT NULL OR ?3 IS NOT NULL)
         RETURNING user_id, data, expires_at",
        params![purpose, id, user_id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    ))?;
    Ok(row.and_then(|(user_id, data, expires_at)| {
        time::parse(&expires_at)
            .is_some_and(|e| e > now)
            .then_some(Ceremony { user_id, data })
    }))
}
