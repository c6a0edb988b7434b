//! Platform events of a tenant, kept for the SSE stream's resume and the JSON list.

use super::db::{Db, Row};
use crate::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::StoreResult;
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Event {
    pub id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    #[schema(value_type = Object)]
    pub data: Value,
    pub created_at: String,
    #[serde(skip)]
    pub tenant_id: Option<String>,
}

/// Records an event; call inside the write transaction of the change it reports.
pub fn emit(conn: &Db, tenant_id: Option<&str>, kind: &str, data: &Value) -> StoreResult<Event> {
    let now = time::fmt(time::now());
    let id: i64 = conn.query_row(
        "INSERT INTO events (tenant_id, type, data, created_at) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        params![tenant_id, kind, data.to_string(), now],
        |r| r.get(0),
    )?;
    if conn.engine() == super::Engine::Postgres {
        // The other nodes' subscribers get it too, at commit (SPEC §15).
        let notice = Notice {
            origin: super::pg::origin().to_string(),
            id,
            kind: kind.to_string(),
            data: data.clone(),
            created_at: now.clone(),
            tenant_id: tenant_id.map(str::to_string),
        };
        let text = serde_json::to_string(&notice).unwrap_or_default();
        // Past what NOTIFY carries, the others read it from the table by its id.
        let text = if text.len() > super::pg::NOTICE_MAX {
            serde_json::json!({"origin": notice.origin, "id": id}).to_string()
        } else {
            text
        };
        super::pg::notify_on(conn, super::pg::EVENTS_CHANNEL, &text)?;
    }
    Ok(Event {
        id,
        kind: kind.to_string(),
        data: data.clone(),
        created_at: now,
        tenant_id: tenant_id.map(str::to_string),
    })
}

/// An event as the other nodes receive it: the event, and the process that raised it; an event
/// too large for a notice comes as its id alone.
#[derive(Serialize, Deserialize)]
struct Notice {
    origin: String,
    id: i64,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    data: Value,
    #[serde(default)]
    created_at: String,
    #[serde(default)]
    tenant_id: Option<String>,
}

/// What another process's event notice holds: the event, or its id when it was too large to
/// carry (`Err`, read it with `get`). `None` for this process's own (published already) and
/// for what is not understood.
pub fn from_notice(payload: &str) -> Option<Result<Event, i64>> {
    let n = serde_json::from_str::<Notice>(payload).ok()?;
    if n.origin == super::pg::origin() {
        return None;
    }
    if n.kind.is_empty() {
        return Some(Err(n.id));
    }
    Some(Ok(Event {
        id: n.id,
        kind: n.kind,
        data: n.data,
        created_at: n.created_at,
        tenant_id: n.tenant_id,
    }))
}

/// One event by its id.
pub fn get(conn: &Db, id: i64) -> StoreResult<Option<Event>> {
    super::optional(conn.query_row(
        "SELECT id, type, data, created_at, tenant_id FROM events WHERE id = ?1",
        params![id],
        row,
    ))
}

fn row(r: &Row) -> StoreResult<Event> {
    Ok(Event {
        id: r.get(0)?,
        kind: r.get(1)?,
        data: serde_json::from_str(&r.get::<_, String>(2)?).unwrap_or(Value::Null),
        created_at: r.get(3)?,
        tenant_id: r.get(4)?,
    })
}

/// Events of a tenant after `since_id`, oldest first (for SSE resume).
pub fn after(conn: &Db, tenant_id: &str, since_id: i64, limit: u32) -> StoreResult<Vec<Event>> {
    let mut st = conn.prepare_cached(
        "SELECT id, type, data, created_at, tenant_id FROM events WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    )?;
    let rows = st.query_map(params![tenant_id, since_id, limit], row)?;
    rows.collect::<Result<_, _>>()
}

/// A page of a tenant's events, newest first, optionally only those after `since_id`.
pub fn page(
    conn: &Db,
    tenant_id: &str,
    since_id: i64,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<Event>, u64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM events WHERE tenant_id = ?1 AND id > ?2",
        params![tenant_id, since_id],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(
        "SELECT id, type, data, created_at, tenant_id FROM events WHERE tenant_id = ?1 AND id > ?2
         ORDER BY id DESC LIMIT ?3 OFFSET ?4",
    )?;
    let rows = st
        .query_map(params![tenant_id, since_id, limit, offset as i64], row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}
