//! Noise sinks, runs and schedules.

use super::db::{Db, Row};
use crate::params;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{StoreError, StoreResult, new_id, optional};
use crate::domain::time;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Sink {
    pub id: String,
    pub name: String,
    pub kind: String,
    /// kind-specific settings (path; host, port, protocol, format; url, batch_size)
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub config: serde_json::Map<String, Value>,
    pub created_at: String,
}

fn sink_row(r: &Row) -> StoreResult<Sink> {
    let cfg: String = r.get(3)?;
    Ok(Sink {
        id: r.get(0)?,
        name: r.get(1)?,
        kind: r.get(2)?,
        config: serde_json::from_str(&cfg).unwrap_or_default(),
        created_at: r.get(4)?,
    })
}

const SINK_COLS: &str = "id, name, kind, config, created_at";

fn named_conflict(what: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::Conflict(_) => {
            StoreError::Conflict(format!("A {what} with this name already exists."))
        }
        other => other,
    }
}

pub fn create_sink(
    conn: &Db,
    tenant_id: &str,
    name: &str,
    kind: &str,
    config: &serde_json::Map<String, Value>,
) -> StoreResult<Sink> {
    let s = Sink {
        id: new_id(),
        name: name.into(),
        kind: kind.into(),
        config: config.clone(),
        created_at: time::fmt(time::now()),
    };
    conn.execute(
        "INSERT INTO noise_sinks (id, tenant_id, name, kind, config, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![s.id, tenant_id, s.name, s.kind, Value::Object(s.config.clone()).to_string(), s.created_at],
    )
    .map_err(named_conflict("sink"))?;
    Ok(s)
}

pub fn sinks(conn: &Db, tenant_id: &str) -> StoreResult<Vec<Sink>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SINK_COLS} FROM noise_sinks WHERE tenant_id = ?1 ORDER BY created_at, rowid"
    ))?;
    let rows = st.query_map(params![tenant_id], sink_row)?;
    rows.collect::<Result<_, _>>()
}

/// A sink by id or name.
pub fn sink(conn: &Db, tenant_id: &str, id_or_name: &str) -> StoreResult<Option<Sink>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SINK_COLS} FROM noise_sinks WHERE tenant_id = ?1 AND (id = ?2 OR name = ?2) ORDER BY id = ?2 DESC LIMIT 1"
    ))?;
    optional(st.query_row(params![tenant_id, id_or_name], sink_row))
}

pub fn update_sink(
    conn: &Db,
    tenant_id: &str,
    id: &str,
    name: &str,
    kind: &str,
    config: &serde_json::Map<String, Value>,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_sinks SET name = ?3, kind = ?4, config = ?5 WHERE tenant_id = ?1 AND id = ?2",
        params![
            tenant_id,
            id,
            name,
            kind,
            Value::Object(config.clone()).to_string()
        ],
    )
    .map_err(named_conflict("sink"))?;
    Ok(())
}

pub fn sink_in_use(conn: &Db, id: &str) -> StoreResult<bool> {
    Ok(optional(conn.query_row(
        "SELECT 1 FROM noise_schedules WHERE sink_id = ?1 LIMIT 1",
        params![id],
        |_| Ok(()),
    ))?
    .is_some())
}

pub fn delete_sink(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "DELETE FROM noise_sinks WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_id, id],
    )? == 1)
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Run {
    pub id: String,
    pub profile: String,
    pub count: i64,
    pub seed: i64,
    pub sink: String,
    pub sink_id: String,
    pub status: String,
    pub events_sent: i64,
    pub trigger: String,
    pub schedule_id: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub error: Option<String>,
    #[serde(skip)]
    pub tenant_id: String,
}

const RUN_COLS: &str = "id, profile, count, seed, sink_name, sink_id, status, events_sent, trigger, schedule_id, created_at,
    started_at, finished_at, error, tenant_id";

fn run_row(r: &Row) -> StoreResult<Run> {
    Ok(Run {
        id: r.get(0)?,
        profile: r.get(1)?,
        count: r.get(2)?,
        seed: r.get(3)?,
        sink: r.get(4)?,
        sink_id: r.get(5)?,
        status: r.get(6)?,
        events_sent: r.get(7)?,
        trigger: r.get(8)?,
        schedule_id: r.get(9)?,
        created_at: r.get(10)?,
        started_at: r.get(11)?,
        finished_at: r.get(12)?,
        error: r.get(13)?,
        tenant_id: r.get(14)?,
    })
}

pub struct NewRun<'a> {
    pub tenant_id: &'a str,
    pub profile: &'a str,
    pub count: i64,
    pub seed: i64,
    pub sink: &'a Sink,
    pub trigger: &'a str,
    pub schedule_id: Option<&'a str>,
    pub created_by: &'a str,
    /// The node that runs it (SPEC §15): its owner, which keeps its lease.
    pub node: &'a str,
}

pub fn create_run(conn: &Db, n: NewRun) -> StoreResult<Run> {
    let id = new_id();
    conn.execute(
        &format!(
            "INSERT INTO noise_runs (id, tenant_id, profile, count, seed, sink_id, sink_name, status, trigger, schedule_id, created_by, created_at, node, heartbeat_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'queued', ?8, ?9, ?10, ?11, ?12, {})",
            // The lease starts by the database's clock on PostgreSQL (`heartbeat`).
            conn.pick("?11", super::pg::NOW_TEXT)
        ),
        params![id, n.tenant_id, n.profile, n.count, n.seed, n.sink.id, n.sink.name, n.trigger, n.schedule_id, n.created_by, time::fmt(time::now()), n.node],
    )?;
    run(conn, n.tenant_id, &id)?.ok_or(StoreError::NotFound)
}

pub fn run(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<Option<Run>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM noise_runs WHERE tenant_id = ?1 AND id = ?2"
    ))?;
    optional(st.query_row(params![tenant_id, id], run_row))
}

pub fn runs(conn: &Db, tenant_id: &str, limit: u32, offset: u64) -> StoreResult<(Vec<Run>, u64)> {
    let total: i64 = conn.query_row(
        "SELECT COUNT(*) FROM noise_runs WHERE tenant_id = ?1",
        params![tenant_id],
        |r| r.get(0),
    )?;
    let mut st = conn.prepare_cached(&format!(
        "SELECT {RUN_COLS} FROM noise_runs WHERE tenant_id = ?1 ORDER BY created_at DESC, rowid DESC LIMIT ?2 OFFSET ?3"
    ))?;
    let rows = st
        .query_map(params![tenant_id, limit, offset as i64], run_row)?
        .collect::<Result<_, _>>()?;
    Ok((rows, total as u64))
}

pub fn runs_since(conn: &Db, tenant_id: &str, since: &str) -> StoreResult<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM noise_runs WHERE tenant_id = ?1 AND created_at >= ?2",
        params![tenant_id, since],
        |r| r.get(0),
    )
}

pub fn mark_running(conn: &Db, id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_runs SET status = 'running', started_at = ?2 WHERE id = ?1 AND status = 'queued'",
        params![id, time::fmt(time::now())],
    )?;
    Ok(())
}

pub fn progress(conn: &Db, id: &str, sent: i64) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_runs SET events_sent = ?2 WHERE id = ?1",
        params![id, sent],
    )?;
    Ok(())
}

pub fn finish(conn: &Db, id: &str, sent: i64, error: Option<&str>) -> StoreResult<Option<Run>> {
    let status = if error.is_some() {
        "failed"
    } else {
        "succeeded"
    };
    let mut st = conn.prepare_cached(&format!(
        "UPDATE noise_runs SET status = ?2, events_sent = ?3, error = ?4, finished_at = ?5,
                started_at = COALESCE(started_at, ?5)
         WHERE id = ?1 AND status IN ('queued', 'running') RETURNING {RUN_COLS}"
    ))?;
    optional(st.query_row(
        params![id, status, sent, error, time::fmt(time::now())],
        run_row,
    ))
}

/// Runs left queued or running by a previous process (it stopped before they finished).
/// Fails the runs a stopped server left unfinished: on SQLite every one (one server per file);
/// on PostgreSQL only `node`'s own (and those of no node), the others belong to nodes still
/// running (`fail_abandoned` takes care of those whose node died).
pub fn fail_unfinished(conn: &Db, node: &str, reason: &str) -> StoreResult<usize> {
    conn.execute(
        conn.pick(
            "UPDATE noise_runs SET status = 'failed', error = ?1, finished_at = ?2 WHERE status IN ('queued', 'running')",
            "UPDATE noise_runs SET status = 'failed', error = ?1, finished_at = ?2
              WHERE status IN ('queued', 'running') AND (node IS NULL OR node = ?3)",
        ),
        conn.pick_params(
            params![reason, time::fmt(time::now())],
            params![reason, time::fmt(time::now()), node],
        ),
    )
}

/// (PostgreSQL) `node` is alive: its unfinished runs' lease runs on from the database's now.
pub fn heartbeat(conn: &Db, node: &str) -> StoreResult<usize> {
    conn.execute(
        &format!(
            "UPDATE noise_runs SET heartbeat_at = {} WHERE node = ?1 AND status IN ('queued', 'running')",
            super::pg::NOW_TEXT
        ),
        params![node],
    )
}

/// (PostgreSQL) Fails the unfinished runs of other nodes whose last heartbeat is older than
/// `lease_s` seconds by the database's clock (their node died): the failed runs, as (tenant,
/// run, node, events sent).
pub fn fail_abandoned(
    conn: &Db,
    node: &str,
    lease_s: i64,
) -> StoreResult<Vec<(String, String, String, i64)>> {
    conn.query_map(
        &format!(
            "UPDATE noise_runs SET status = 'failed', finished_at = {now},
                    error = 'the node running it (' || node || ') stopped answering'
              WHERE status IN ('queued', 'running') AND node IS NOT NULL AND node <> ?1
                AND heartbeat_at < to_char((now() - make_interval(secs => ?2)) AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')
              RETURNING tenant_id, id, node, events_sent",
            now = super::pg::NOW_TEXT
        ),
        params![node, lease_s as f64],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )
}

pub fn unfinished(conn: &Db, id: &str) -> StoreResult<bool> {
    Ok(optional(conn.query_row(
        "SELECT 1 FROM noise_runs WHERE id = ?1 AND status IN ('queued', 'running')",
        params![id],
        |_| Ok(()),
    ))?
    .is_some())
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Schedule {
    pub id: String,
    pub name: String,
    pub cron: String,
    pub profile: String,
    pub count: i64,
    pub sink: String,
    pub sink_id: String,
    pub enabled: bool,
    pub misfire: String,
    pub next_run_at: Option<String>,
    pub last_run_at: Option<String>,
    pub last_run_id: Option<String>,
    pub created_at: String,
    #[serde(skip)]
    pub tenant_id: String,
}

const SCHED_COLS: &str = "s.id, s.name, s.cron, s.profile, s.count, COALESCE(k.name, ''), s.sink_id, s.enabled, s.misfire,
    s.next_run_at, s.last_run_at, s.last_run_id, s.created_at, s.tenant_id";

fn sched_row(r: &Row) -> StoreResult<Schedule> {
    Ok(Schedule {
        id: r.get(0)?,
        name: r.get(1)?,
        cron: r.get(2)?,
        profile: r.get(3)?,
        count: r.get(4)?,
        sink: r.get(5)?,
        sink_id: r.get(6)?,
        enabled: r.get(7)?,
        misfire: r.get(8)?,
        next_run_at: r.get(9)?,
        last_run_at: r.get(10)?,
        last_run_id: r.get(11)?,
        created_at: r.get(12)?,
        tenant_id: r.get(13)?,
    })
}

const SCHED_FROM: &str = "FROM noise_schedules s LEFT JOIN noise_sinks k ON k.id = s.sink_id";

pub fn create_schedule(conn: &Db, tenant_id: &str, s: &Schedule) -> StoreResult<Schedule> {
    let id = new_id();
    conn.execute(
        "INSERT INTO noise_schedules (id, tenant_id, name, cron, profile, count, sink_id, enabled, misfire, next_run_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![id, tenant_id, s.name, s.cron, s.profile, s.count, s.sink_id, s.enabled, s.misfire, s.next_run_at, time::fmt(time::now())],
    )
    .map_err(named_conflict("schedule"))?;
    schedule(conn, tenant_id, &id)?.ok_or(StoreError::NotFound)
}

pub fn update_schedule(conn: &Db, tenant_id: &str, s: &Schedule) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_schedules SET name = ?3, cron = ?4, profile = ?5, count = ?6, sink_id = ?7, enabled = ?8, misfire = ?9, next_run_at = ?10
         WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_id, s.id, s.name, s.cron, s.profile, s.count, s.sink_id, s.enabled, s.misfire, s.next_run_at],
    )
    .map_err(named_conflict("schedule"))?;
    Ok(())
}

pub fn schedule(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<Option<Schedule>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SCHED_COLS} {SCHED_FROM} WHERE s.tenant_id = ?1 AND s.id = ?2"
    ))?;
    optional(st.query_row(params![tenant_id, id], sched_row))
}

pub fn schedules(conn: &Db, tenant_id: &str) -> StoreResult<Vec<Schedule>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SCHED_COLS} {SCHED_FROM} WHERE s.tenant_id = ?1 ORDER BY s.created_at, s.rowid"
    ))?;
    let rows = st.query_map(params![tenant_id], sched_row)?;
    rows.collect::<Result<_, _>>()
}

pub fn delete_schedule(conn: &Db, tenant_id: &str, id: &str) -> StoreResult<bool> {
    Ok(conn.execute(
        "DELETE FROM noise_schedules WHERE tenant_id = ?1 AND id = ?2",
        params![tenant_id, id],
    )? == 1)
}

/// Enabled schedules due at `now` (any tenant): the scheduler's work list.
pub fn due(conn: &Db, now: &str) -> StoreResult<Vec<Schedule>> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {SCHED_COLS} {SCHED_FROM} WHERE s.enabled = 1 AND s.next_run_at IS NOT NULL AND s.next_run_at <= ?1 ORDER BY s.next_run_at"
    ))?;
    let rows = st.query_map(params![now], sched_row)?;
    rows.collect::<Result<_, _>>()
}

pub fn set_next(conn: &Db, id: &str, next: Option<&str>) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_schedules SET next_run_at = ?2 WHERE id = ?1",
        params![id, next],
    )?;
    Ok(())
}

pub fn fired(conn: &Db, id: &str, at: &str, run_id: &str, next: Option<&str>) -> StoreResult<()> {
    conn.execute(
        "UPDATE noise_schedules SET last_run_at = ?2, last_run_id = ?3, next_run_at = ?4 WHERE id = ?1",
        params![id, at, run_id, next],
    )?;
    Ok(())
}

/// Enabled schedules of a tenant and the soonest next run.
pub fn schedule_summary(conn: &Db, tenant_id: &str) -> StoreResult<(i64, Option<String>)> {
    conn.query_row(
        "SELECT COUNT(*), MIN(next_run_at) FROM noise_schedules WHERE tenant_id = ?1 AND enabled = 1",
        params![tenant_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
