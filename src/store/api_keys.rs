//! Organization API keys and their shares.

use std::collections::BTreeMap;

use super::db::{Db, Row};
use crate::params;
use serde::{Deserialize, Serialize};

use super::{StoreError, StoreResult, new_id, optional};
use crate::domain::crypto::DataKey;
use crate::domain::time::{self, Timestamp};
use crate::domain::token::{self, Kind, Secret};

pub use crate::domain::api_key::Access;

/// A key as listed (never the secret).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyInfo {
    pub id: String,
    pub name: String,
    pub prefix: String,
    /// `{"<service>": "read" | "write"}`
    #[schema(value_type = Object)]
    pub services: BTreeMap<String, Access>,
    pub allowed_subnets: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub created_by: Option<String>,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub last_used_at: Option<String>,
    pub last_used_ip: Option<String>,
    pub shared_with: Vec<String>,
}

/// What the authenticator needs about a presented key.
#[derive(Debug, Clone)]
pub struct KeyState {
    pub id: String,
    pub tenant_id: String,
    pub services: BTreeMap<String, Access>,
    pub allowed_subnets: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub expires_at: Option<Timestamp>,
    pub deleted: bool,
}

pub struct NewKey<'a> {
    pub tenant_id: &'a str,
    pub name: &'a str,
    pub services: &'a BTreeMap<String, Access>,
    pub allowed_subnets: &'a [String],
    pub allowed_origins: &'a [String],
    pub expires_at: Option<Timestamp>,
    pub created_by: Option<&'a str>,
}

fn j<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

fn from_j<T: for<'de> Deserialize<'de> + Default>(s: &str) -> T {
    serde_json::from_str(s).unwrap_or_default()
}

pub fn create(conn: &Db, key: &DataKey, k: NewKey) -> StoreResult<(KeyInfo, Secret)> {
    let secret = token::generate(Kind::ApiKey);
    let id = new_id();
    let now = time::fmt(time::now());
    conn.execute(
        "INSERT INTO api_keys (id, tenant_id, name, key_hash, key_enc, prefix, services, allowed_subnets, allowed_origins,
                               created_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            id,
            k.tenant_id,
            k.name,
            token::hash(secret.expose()),
            key.encrypt(secret.expose().as_bytes()),
            token::display_prefix(secret.expose()),
            j(k.services),
            j(&k.allowed_subnets),
            j(&k.allowed_origins),
            k.created_by,
            now,
            k.expires_at.map(time::fmt),
        ],
    )?;
    let info = get(conn, k.tenant_id, &id)?.ok_or(StoreError::NotFound)?;
    Ok((info, secret))
}

const INFO_COLS: &str = "id, name, prefix, services, allowed_subnets, allowed_origins, created_by, created_at, expires_at,
    last_used_at, last_used_ip,
    (SELECT COALESCE(json_group_array(user_id), '[]') FROM api_key_shares s WHERE s.key_id = api_keys.id)";

fn info_row(r: &Row) -> StoreResult<KeyInfo> {
    Ok(KeyInfo {
        id: r.get(0)?,
        name: r.get(1)?,
        prefix: r.get(2)?,
        services: from_j(&r.get::<_, String>(3)?),
        allowed_subnets: from_j(&r.get::<_, String>(4)?),
        allowed_origins: from_j(&r.get::<_, String>(5)?),
        created_by: r.get(6)?,
        created_at: r.get(7)?,
        expires_at: r.get(8)?,
        last_used_at: r.get(9)?,
        last_used_ip: r.get(10)?,
        shared_with: from_j(&r.get::<_, String>(11)?),
    })
}

pub fn get(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<Option<KeyInfo>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {INFO_COLS} FROM api_keys WHERE id = ?1 AND tenant_id = ?2 AND deleted_at IS NULL"
    ))?;
    optional(st.query_row(params![id, tenant_id], info_row))
}

pub fn list(
    conn: &Db,
    tenant_id: &str,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<KeyInfo>, u64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM api_keys WHERE tenant_id = ?1 AND deleted_at IS NULL",
        params![tenant_id],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {INFO_COLS} FROM api_keys WHERE tenant_id = ?1 AND deleted_at IS NULL
         ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st
        .query_map(params![tenant_id, limit, offset as i64], info_row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}

pub fn find_by_hash(conn: &Db, hash: &str) -> StoreResult<Option<KeyState>> {
    let mut st = conn.prepare_cached(
        "SELECT id, tenant_id, services, allowed_subnets, allowed_origins, expires_at, deleted_at IS NOT NULL
         FROM api_keys WHERE key_hash = ?1",
    )?;
    optional(st.query_row(params![hash], |r| {
        let exp: Option<String> = r.get(5)?;
        Ok(KeyState {
            id: r.get(0)?,
            tenant_id: r.get(1)?,
            services: from_j(&r.get::<_, String>(2)?),
            allowed_subnets: from_j(&r.get::<_, String>(3)?),
            allowed_origins: from_j(&r.get::<_, String>(4)?),
            expires_at: exp.as_deref().and_then(time::parse),
            deleted: r.get(6)?,
        })
    }))
}

pub struct KeyChange {
    pub name: Option<String>,
    pub services: Option<BTreeMap<String, Access>>,
    pub allowed_subnets: Option<Vec<String>>,
    pub allowed_origins: Option<Vec<String>>,
}

pub fn update(conn: &Db, tenant_id: &str, id: &str, c: &KeyChange) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE api_keys SET name = COALESCE(?3, name), services = COALESCE(?4, services),
                allowed_subnets = COALESCE(?5, allowed_subnets), allowed_origins = COALESCE(?6, allowed_origins)
         WHERE id = ?1 AND tenant_id = ?2 AND deleted_at IS NULL",
        params![
            id,
            tenant_id,
            c.name,
            c.services.as_ref().map(j),
            c.allowed_subnets.as_ref().map(j),
            c.allowed_origins.as_ref().map(j)
        ],
    )?;
    Ok(n == 1)
}

pub fn delete(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<bool> {
    let n = conn.execute(
        "UPDATE api_keys SET deleted_at = ?3 WHERE id = ?1 AND tenant_id = ?2 AND deleted_at IS NULL",
        params![id, tenant_id, time::fmt(time::now())],
    )?;
    conn.execute("DELETE FROM api_key_shares WHERE key_id = ?1", params![id])?;
    Ok(n == 1)
}

/// The secret, decrypted.
pub fn reveal(conn: &Db, dk: &DataKey, tenant_id: &str, id: &str) -> StoreResult<Option<Secret>> {
    let enc: Option<Vec<u8>> = optional(conn.query_row(
        "SELECT key_enc FROM api_keys WHERE id = ?1 AND tenant_id = ?2 AND deleted_at IS NULL",
        params![id, tenant_id],
        |r| r.get(0),
    ))?;
    match enc {
        None => Ok(None),
        Some(e) => {
            let plain = dk
                .decrypt(&e)
                .ok_or_else(|| StoreError::Other("API key secret does not decrypt".into()))?;
            Ok(Some(Secret::new(
                String::from_utf8(plain).map_err(|e| StoreError::Other(e.to_string()))?,
            )))
        }
    }
}

pub fn is_shared_with(conn: &Db, id: &str, user_id: &str) -> StoreResult<bool> {
    Ok(optional(conn.query_row(
        "SELECT 1 FROM api_key_shares WHERE key_id = ?1 AND user_id = ?2",
        params![id, user_id],
        |_| Ok(()),
    ))?
    .is_some())
}

pub fn share(conn: &Db, id: &str, user_id: &str) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO api_key_shares (key_id, user_id, created_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![id, user_id, time::fmt(time::now())],
    )?;
    Ok(())
}

/// Ends every share of a key (its grant changed: what was handed over is not what it is now).
pub fn unshare_all(conn: &Db, id: &str) -> StoreResult<usize> {
    conn.execute("DELETE FROM api_key_shares WHERE key_id = ?1", params![id])
}

pub fn unshare(conn: &Db, id: &str, user_id: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "DELETE FROM api_key_shares WHERE key_id = ?1 AND user_id = ?2",
        params![id, user_id],
    )? == 1)
}

pub fn touch(conn: &Db, id: &str, at: Timestamp, ip: Option<&str>) -> StoreResult<()> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2, last_used_ip = ?3 WHERE id = ?1",
        params![id, time::fmt(at), ip],
    )?;
    Ok(())
}

/// Every origin some live key of the appliance allows (for CORS preflights).
pub fn all_origins(conn: &Db) -> StoreResult<Vec<String>> {
    let mut st = conn.prepare_cached(conn.pick(
        "SELECT DISTINCT value FROM api_keys, json_each(api_keys.allowed_origins)
         WHERE deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)",
        "SELECT DISTINCT value FROM api_keys,
                json_array_elements_text(api_keys.allowed_origins::json) AS o(value)
         WHERE deleted_at IS NULL AND (expires_at IS NULL OR expires_at > ?1)",
    ))?;
    let rows = st.query_map(params![time::fmt(time::now())], |r| r.get(0))?;
    rows.collect::<Result<_, _>>()
}
