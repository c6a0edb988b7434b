//! Per-tenant source-IP allow and block lists.

use super::db::Db;
use crate::params;
use serde::Serialize;

use super::{StoreResult, new_id};
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IpRule {
    pub id: String,
    pub cidr: String,
    pub note: String,
    pub created_by: Option<String>,
    pub created_at: String,
}

pub fn list(conn: &Db, tenant_id: &str, list: &str) -> StoreResult<Vec<IpRule>> {
    let mut st = conn.prepare_cached(
        "SELECT id, cidr, note, created_by, created_at FROM ip_rules WHERE tenant_id = ?1 AND list = ?2 ORDER BY created_at, rowid",
    )?;
    let rows = st.query_map(params![tenant_id, list], |r| {
        Ok(IpRule {
            id: r.get(0)?,
            cidr: r.get(1)?,
            note: r.get(2)?,
            created_by: r.get(3)?,
            created_at: r.get(4)?,
        })
    })?;
    rows.collect::<Result<_, _>>()
}

pub fn add(
    conn: &Db,
    tenant_id: &str,
    list: &str,
    cidr: &str,
    note: &str,
    by: &str,
) -> StoreResult<IpRule> {
    let r = IpRule {
        id: new_id(),
        cidr: cidr.into(),
        note: note.into(),
        created_by: Some(by.into()),
        created_at: time::fmt(time::now()),
    };
    conn.execute(
        "INSERT INTO ip_rules (id, tenant_id, list, cidr, note, created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![r.id, tenant_id, list, r.cidr, r.note, r.created_by, r.created_at],
    )?;
    Ok(r)
}

pub fn remove(conn: &Db, tenant_id: &str, list: &str, id: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "DELETE FROM ip_rules WHERE tenant_id = ?1 AND list = ?2 AND id = ?3",
        params![tenant_id, list, id],
    )? == 1)
}
