//! Invitations to a tenant; the one-time token itself lives in `one_time_tokens`.

use super::db::{Db, Row};
use crate::params;
use serde::Serialize;

use super::{StoreResult, optional};
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub roles: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub expires_at: String,
    pub status: String,
}

fn row(r: &Row) -> StoreResult<Invitation> {
    let accepted: Option<String> = r.get(6)?;
    let revoked: Option<String> = r.get(7)?;
    let expires_at: String = r.get(5)?;
    let status = if accepted.is_some() {
        "accepted"
    } else if revoked.is_some() {
        "revoked"
    } else if time::parse(&expires_at).is_some_and(|e| e <= time::now()) {
        "expired"
    } else {
        "pending"
    };
    Ok(Invitation {
        id: r.get(0)?,
        email: r.get(1)?,
        roles: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        created_by: r.get(3)?,
        created_at: r.get(4)?,
        expires_at,
        status: status.into(),
    })
}

const COLS: &str = "id, email, roles, created_by, created_at, expires_at, accepted_at, revoked_at";

pub fn create(conn: &Db, inv: &Invitation, tenant_id: &str, token_hash: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO invitations (id, tenant_id, email, roles, token_hash, created_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            inv.id,
            tenant_id,
            inv.email,
            serde_json::to_string(&inv.roles).unwrap(),
            token_hash,
            inv.created_by,
            inv.created_at,
            inv.expires_at
        ],
    )?;
    Ok(())
}

pub fn list(
    conn: &Db,
    tenant_id: &str,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<Invitation>, u64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM invitations WHERE tenant_id = ?1",
        params![tenant_id],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM invitations WHERE tenant_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st
        .query_map(params![tenant_id, limit, offset as i64], row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}

pub fn by_token(conn: &Db, token_hash: &str) -> StoreResult<Option<(Invitation, String)>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS}, tenant_id FROM invitations WHERE token_hash = ?1"
    ))?;
    optional(st.query_row(params![token_hash], |r| Ok((row(r)?, r.get(8)?))))
}

/// Revokes a pending invitation and its token; false when there is none of that id.
pub fn revoke(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<bool> {
    let now = time::fmt(time::now());
    let hash: Option<String> = optional(conn.query_row(
        "UPDATE invitations SET revoked_at = ?3 WHERE tenant_id = ?1 AND id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL
         RETURNING token_hash",
        params![tenant_id, id, now],
        |r| r.get(0),
    ))?;
    match hash {
        Some(h) => {
            conn.execute(
                "UPDATE one_time_tokens SET revoked_at = ?2 WHERE token_hash = ?1",
                params![h, now],
            )?;
            Ok(true)
        }
        None => Ok(false),
    }
}

pub fn mark_accepted(conn: &Db, token_hash: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE invitations SET accepted_at = ?2 WHERE token_hash = ?1",
        params![token_hash, time::fmt(time::now())],
    )?;
    Ok(())
}
