//! Exercise sessions.

use super::db::{Db, Row};
use crate::params;
use serde::Serialize;

use super::{StoreError, StoreResult, new_id};
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Exercise {
    pub id: String,
    pub name: String,
    pub scenario: Option<String>,
    pub status: String,
    pub started_by: Option<String>,
    pub started_at: String,
    pub ended_by: Option<String>,
    pub ended_at: Option<String>,
}

const COLS: &str = "id, name, scenario, status, started_by, started_at, ended_by, ended_at";

fn row(r: &Row) -> StoreResult<Exercise> {
    Ok(Exercise {
        id: r.get(0)?,
        name: r.get(1)?,
        scenario: r.get(2)?,
        status: r.get(3)?,
        started_by: r.get(4)?,
        started_at: r.get(5)?,
        ended_by: r.get(6)?,
        ended_at: r.get(7)?,
    })
}

/// Starts a session; a running one of the same name in the tenant is `Conflict`.
pub fn start(
    conn: &Db,
    tenant_id: &str,
    name: &str,
    scenario: Option<&str>,
    by: &str,
) -> StoreResult<Exercise> {
    let e = Exercise {
        id: new_id(),
        name: name.into(),
        scenario: scenario.map(str::to_string),
        status: "running".into(),
        started_by: Some(by.into()),
        started_at: time::fmt(time::now()),
        ended_by: None,
        ended_at: None,
    };
    conn.execute(
        "INSERT INTO exercise_sessions (id, tenant_id, name, scenario, status, started_by, started_at) VALUES (?1, ?2, ?3, ?4, 'running', ?5, ?6)",
        params![e.id, tenant_id, e.name, e.scenario, e.started_by, e.started_at],
    )
    .map_err(|err| match err {
        StoreError::Conflict(_) => StoreError::Conflict(format!("An exercise session named {name:?} is already running.")),
        other => other,
    })?;
    Ok(e)
}

/// Ends running sessions of the tenant (all, or one id); returns those ended.
pub fn end(conn: &Db, tenant_id: &str, id: Option<&str>, by: &str) -> StoreResult<Vec<Exercise>> {
    let mut st = conn.prepare_cached(&format!(
        "UPDATE exercise_sessions SET status = 'ended', ended_by = ?3, ended_at = ?4
         WHERE tenant_id = ?1 AND status = 'running' AND (?2 IS NULL OR id = ?2) RETURNING {COLS}"
    ))?;
    let rows = st.query_map(params![tenant_id, id, by, time::fmt(time::now())], row)?;
    rows.collect::<Result<_, _>>()
}

pub fn list(
    conn: &Db,
    tenant_id: &str,
    status: Option<&str>,
    limit: u32,
    offset: u64,
) -> StoreResult<(Vec<Exercise>, u64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM exercise_sessions WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2)",
        params![tenant_id, status],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM exercise_sessions WHERE tenant_id = ?1 AND (?2 IS NULL OR status = ?2)
         ORDER BY started_at DESC, rowid DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let rows = st
        .query_map(params![tenant_id, status, limit, offset as i64], row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}

pub fn count_running(conn: &Db, tenant_id: &str) -> StoreResult<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM exercise_sessions WHERE tenant_id = ?1 AND status = 'running'",
        params![tenant_id],
        |r| r.get(0),
    )
}
