//! Roles of a tenant: the built-ins (read-only) and custom ones.

use super::db::{Db, Row};
use crate::params;
use serde::Serialize;

use super::{StoreError, StoreResult, new_id, optional};
use crate::domain::capability::CapSet;
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub permissions: Vec<String>,
    pub builtin: bool,
}

fn row(r: &Row) -> StoreResult<Role> {
    Ok(Role {
        id: r.get(0)?,
        name: r.get(1)?,
        permissions: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or_default(),
        builtin: r.get(3)?,
    })
}

pub fn list(conn: &Db, tenant_id: &str) -> StoreResult<Vec<Role>> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, permissions, builtin FROM roles WHERE tenant_id = ?1 ORDER BY builtin DESC, created_at, name",
    )?;
    let rows = st.query_map(params![tenant_id], row)?;
    rows.collect::<Result<_, _>>()
}

pub fn get(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<Option<Role>> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, permissions, builtin FROM roles WHERE tenant_id = ?1 AND id = ?2",
    )?;
    optional(st.query_row(params![tenant_id, id], row))
}

fn conflict(e: StoreError) -> StoreError {
    match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict("a role with this name already exists in this tenant".into())
        }
        other => other,
    }
}

pub fn create(conn: &Db, tenant_id: &str, name: &str, caps: CapSet) -> StoreResult<Role> {
    let id = new_id();
    conn.execute(
        "INSERT INTO roles (id, tenant_id, name, permissions, builtin, created_at) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
        params![id, tenant_id, name, serde_json::to_string(&caps.names()).unwrap(), time::fmt(time::now())],
    )
    .map_err(conflict)?;
    Ok(Role {
        id,
        name: name.into(),
        permissions: caps.names().into_iter().map(String::from).collect(),
        builtin: false,
    })
}

pub fn update(
    conn: &Db,
    tenant_id: &str,
    id: &str,
    name: Option<&str>,
    caps: Option<CapSet>,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE roles SET name = COALESCE(?3, name), permissions = COALESCE(?4, permissions)
         WHERE tenant_id = ?1 AND id = ?2 AND builtin = 0",
        params![
            tenant_id,
            id,
            name,
            caps.map(|c| serde_json::to_string(&c.names()).unwrap())
        ],
    )
    .map_err(conflict)?;
    Ok(())
}

pub fn in_use(conn: &Db, id: &str) -> StoreResult<bool> {
    Ok(optional(conn.query_row(
        "SELECT 1 FROM membership_roles WHERE role_id = ?1 LIMIT 1",
        params![id],
        |_| Ok(()),
    ))?
    .is_some())
}

pub fn delete(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM roles WHERE tenant_id = ?1 AND id = ?2 AND builtin = 0",
        params![tenant_id, id],
    )?;
    Ok(())
}

/// The capabilities a role (by name) of a tenant grants; none for an unknown role.
pub fn caps_by_name(conn: &Db, tenant_id: &str, name: &str) -> StoreResult<CapSet> {
    let perms: Option<String> = super::optional(conn.query_row(
        "SELECT permissions FROM roles WHERE tenant_id = ?1 AND name = ?2",
        params![tenant_id, name],
        |row| row.get(0),
    ))?;
    let names: Vec<String> = perms
        .and_then(|p| serde_json::from_str(&p).ok())
        .unwrap_or_default();
    Ok(names
        .iter()
        .filter_map(|n| crate::domain::capability::Capability::parse(n))
        .collect())
}
