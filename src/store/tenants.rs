//! Tenants, their built-in roles and their settings.

use super::db::{Db, Row};
use crate::params;
use serde::Serialize;

use super::{StoreError, StoreResult, new_id, optional};
use crate::domain::capability::builtin_roles;
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Tenant {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created_at: String,
}

fn row(r: &Row) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
    })
}

/// A slug is 1-63 characters of lower-case letters, digits and dashes, starting with a letter
/// or digit.
pub fn valid_slug(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}

pub const DEFAULT_SETTINGS: &str = r#"{"require_mfa":"off","features":{"exercises":true,"noise":true,"api_keys":true},"password_min_length":12}"#;

/// Creates a tenant with its built-in roles and default settings.
pub fn create(conn: &Db, slug: &str, name: &str) -> StoreResult<Tenant> {
    if !valid_slug(slug) {
        return Err(StoreError::Other(format!("invalid slug {slug:?}")));
    }
    let t = Tenant {
        id: new_id(),
        slug: slug.to_string(),
        name: name.to_string(),
        created_at: time::fmt(time::now()),
    };
    conn.execute(
        "INSERT INTO tenants (id, slug, name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![t.id, t.slug, t.name, t.created_at],
    )?;
    for (role, caps) in builtin_roles() {
        conn.execute(
            "INSERT INTO roles (id, tenant_id, name, permissions, builtin, created_at) VALUES (?1, ?2, ?3, ?4, 1, ?5)",
            params![new_id(), t.id, role, serde_json::to_string(&caps.names()).unwrap(), t.created_at],
        )?;
    }
    conn.execute(
        "INSERT INTO tenant_settings (tenant_id, settings) VALUES (?1, ?2)",
        params![t.id, DEFAULT_SETTINGS],
    )?;
    // Every tenant starts with a file sink `default` writing `default.jsonl` in the tenant's
    // own noise directory.
    let mut cfg = serde_json::Map::new();
    cfg.insert(
        "path".into(),
        serde_json::Value::String("default.jsonl".into()),
    );
    super::noise::create_sink(conn, &t.id, "default", "file", &cfg)?;
    Ok(t)
}

/// Finds a tenant by id or slug.
pub fn find(conn: &Db, id_or_slug: &str) -> StoreResult<Option<Tenant>> {
    let mut st = conn.prepare_cached(
        "SELECT id, slug, name, created_at FROM tenants WHERE id = ?1 OR slug = ?1 LIMIT 1",
    )?;
    optional(st.query_row(params![id_or_slug], row))
}

/// The tenants a user belongs to, oldest membership first.
pub fn for_user(conn: &Db, user_id: &str) -> StoreResult<Vec<Tenant>> {
    let mut st = conn.prepare_cached(
        "SELECT t.id, t.slug, t.name, t.created_at FROM tenants t JOIN memberships m ON m.tenant_id = t.id
         WHERE m.user_id = ?1 ORDER BY m.rowid",
    )?;
    let rows = st.query_map(params![user_id], row)?;
    rows.collect::<Result<_, _>>()
}

pub fn settings(conn: &Db, tenant_id: &str) -> StoreResult<serde_json::Value> {
    let raw: String = conn.query_row(
        "SELECT settings FROM tenant_settings WHERE tenant_id = ?1",
        params![tenant_id],
        |r| r.get(0),
    )?;
    serde_json::from_str(&raw).map_err(|e| StoreError::Other(e.to_string()))
}

pub fn save_settings(conn: &Db, tenant_id: &str, settings: &serde_json::Value) -> StoreResult<()> {
    conn.execute(
        "UPDATE tenant_settings SET settings = ?2 WHERE tenant_id = ?1",
        params![tenant_id, settings.to_string()],
    )?;
    Ok(())
}
