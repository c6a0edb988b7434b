//! The in-process scheduler: fires each enabled schedule at its cron times, never overlapping
//! a schedule with itself, and handles times missed while the server was down by the
//! schedule's `misfire` rule. State lives in SQLite, so changes apply without a restart and
//! survive one. `tick` and `catch_up` take the time as an argument, so tests drive them with
//! any clock.

use std::time::Duration;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::json;

use super::runner::Runner;
use crate::app::App;
use crate::domain::settings::{Module, Settings};
use crate::domain::{cron, time};
use crate::store::audit::{self, AuditEvent, Outcome};
use crate::store::noise::{self, NewRun, Run};
use crate::store::{self, StoreResult, events, tenants};

fn next(expr: &str, after: DateTime<Utc>) -> Option<String> {
    cron::parse(expr)
        .ok()
        .and_then(|c| cron::next_after(&c, after))
        .map(time::fmt)
}

/// On start: schedules whose time passed while the server was down fire once (`run_once`,
/// left due for the first tick) or not at all (`skip`, moved to their next time).
pub fn catch_up(state: &App, now: DateTime<Utc>) -> StoreResult<Vec<events::Event>> {
    store::write_blocking(&state.pool, |tx| {
        store::pg::lock_scheduler(tx)?;
        let mut emitted = vec![];
        for s in noise::due(tx, &time::fmt(now))? {
            if s.misfire == "skip" {
                noise::set_next(tx, &s.id, next(&s.cron, now).as_deref())?;
                emitted.push(events::emit(
                    tx,
                    Some(&s.tenant_id),
                    "schedule.skipped",
                    &json!({"schedule_id": s.id, "reason": "missed while the server was down", "missed_at": s.next_run_at}),
                )?);
            }
        }
        Ok(emitted)
    })
}

/// Fires every schedule due at `now`; returns the runs to start. A schedule whose previous run
/// is unfinished is skipped (and the skip recorded).
pub fn tick(state: &App, now: DateTime<Utc>) -> StoreResult<(Vec<Run>, Vec<events::Event>)> {
    store::write_blocking(&state.pool, |tx| {
        // Every node ticks; one at a time, each seeing what the one before moved, so a
        // schedule fires once per time across them (SPEC §15).
        store::pg::lock_scheduler(tx)?;
        let mut runs = vec![];
        let mut emitted = vec![];
        let at = time::fmt(now);
        for s in noise::due(tx, &at)? {
            let following = next(&s.cron, now);
            // A tenant that switched noise off keeps its schedules, but they do not fire: each
            // time is recorded as skipped (SPEC §7.5).
            let settings = Settings::from_json(&tenants::settings(tx, &s.tenant_id)?);
            if !settings.features.enabled(Module::Noise) {
                let why =
                    json!({"reason": "the noise module is disabled", "missed_at": s.next_run_at});
                emitted.push(skip(tx, &s, following.as_deref(), why, "module_disabled")?);
                continue;
            }
            let busy = match &s.last_run_id {
                Some(id) => noise::unfinished(tx, id)?,
                None => false,
            };
            if busy {
                let why =
                    json!({"reason": "the previous run has not finished", "run_id": s.last_run_id});
                emitted.push(skip(tx, &s, following.as_deref(), why, "overlap")?);
                continue;
            }
            let Some(sink) = noise::sink(tx, &s.tenant_id, &s.sink_id)? else {
                noise::set_next(tx, &s.id, following.as_deref())?;
                continue;
            };
            let run = noise::create_run(
                tx,
                NewRun {
                    tenant_id: &s.tenant_id,
                    profile: &s.profile,
                    count: s.count,
                    seed: rand::random::<i64>(),
                    sink: &sink,
                    trigger: "schedule",
                    schedule_id: Some(&s.id),
                    created_by: "scheduler",
                    node: &state.config.node,
                },
            )?;
            noise::fired(tx, &s.id, &at, &run.id, following.as_deref())?;
            emitted.push(events::emit(
                tx,
                Some(&s.tenant_id),
                "schedule.fired",
                &json!({"schedule_id": s.id, "run_id": run.id}),
            )?);
            emitted.push(events::emit(tx, Some(&s.tenant_id), "noise.run.queued", &json!({"run_id": run.id, "profile": run.profile, "count": run.count, "trigger": "schedule"}))?);
            audit::append(
                tx,
                &scheduler_event(
                    &s.tenant_id,
                    "noise.schedule.fire",
                    &s.id,
                    json!({"run_id": run.id}),
                ),
            )?;
            runs.push(run);
        }
        Ok((runs, emitted))
    })
}

/// Moves a schedule to its next time without firing it: the skip is a platform event (with
/// `why`) and an audit record (with `reason`).
fn skip(
    tx: &crate::store::Db,
    s: &noise::Schedule,
    following: Option<&str>,
    mut why: serde_json::Value,
    reason: &str,
) -> StoreResult<events::Event> {
    noise::set_next(tx, &s.id, following)?;
    why["schedule_id"] = json!(s.id);
    let ev = events::emit(tx, Some(&s.tenant_id), "schedule.skipped", &why)?;
    let rec = scheduler_event(
        &s.tenant_id,
        "noise.schedule.skip",
        &s.id,
        json!({"reason": reason}),
    );
    audit::append(tx, &rec)?;
    Ok(ev)
}

fn scheduler_event(
    tenant: &str,
    action: &str,
    schedule_id: &str,
    details: serde_json::Value,
) -> AuditEvent {
    AuditEvent {
        tenant_id: Some(tenant.to_string()),
        actor_type: "system".into(),
        actor_id: Some("scheduler".into()),
        action: action.into(),
        target: Some(format!("schedule:{schedule_id}")),
        outcome: Outcome::Success,
        details,
        ..Default::default()
    }
}

/// How often a node renews the leases of its runs (PostgreSQL), in seconds.
const LEASE_EVERY_S: i64 = 5;
/// A run whose node has not renewed its lease for this long is failed by another node: its
/// node died (SPEC §15: within a minute).
const LEASE_S: i64 = 20;

/// Several nodes on PostgreSQL: renews this node's runs' leases, and fails the runs of nodes
/// that stopped renewing theirs (announced like any failed run).
pub fn leases(app: &App) -> StoreResult<()> {
    let node = app.config.node.clone();
    let emitted = store::write_blocking(&app.pool, |tx| {
        noise::heartbeat(tx, &node)?;
        let mut emitted = vec![];
        for (tenant, run, dead, sent) in noise::fail_abandoned(tx, &node, LEASE_S)? {
            log::warn!("noise run {run} failed: its node {dead} stopped answering");
            let error = format!("the node running it ({dead}) stopped answering");
            emitted.push(events::emit(
                tx,
                Some(&tenant),
                "noise.run.finished",
                &json!({"run_id": run, "status": "failed", "events_sent": sent, "error": error}),
            )?);
        }
        Ok(emitted)
    })?;
    for e in emitted {
        app.events.publish(e);
    }
    Ok(())
}

/// One tick with its side effects: events published, runs started.
pub fn tick_and_start(
    app: &App,
    runner: &Arc<Runner>,
    now: DateTime<Utc>,
) -> StoreResult<Vec<Run>> {
    let (runs, emitted) = tick(app, now)?;
    for e in emitted {
        app.events.publish(e);
    }
    for r in &runs {
        super::runner::start(app.clone(), runner.clone(), r.clone());
    }
    Ok(runs)
}

/// The scheduler loop: catch up once, then tick every second until shutdown.
pub async fn run(app: App, runner: Arc<Runner>) {
    let s = app.clone();
    match tokio::task::spawn_blocking(move || catch_up(&s, time::now())).await {
        Ok(Ok(emitted)) => emitted.into_iter().for_each(|e| app.events.publish(e)),
        Ok(Err(e)) => log::error!("scheduler catch-up failed: {e}"),
        Err(e) => log::error!("scheduler catch-up failed: {e}"),
    }
    let mut renewed = std::time::Instant::now();
    loop {
        let ms = 1000 - (time::now().timestamp_subsec_millis() as u64 % 1000);
        tokio::time::sleep(Duration::from_millis(ms.max(1))).await;
        if runner.stopping.load(std::sync::atomic::Ordering::SeqCst) || app.shutting_down() {
            break;
        }
        if app.pool.engine() == store::Engine::Postgres
            && renewed.elapsed() >= Duration::from_secs(LEASE_EVERY_S as u64)
        {
            renewed = std::time::Instant::now();
            let a = app.clone();
            if let Ok(Err(e)) = tokio::task::spawn_blocking(move || leases(&a)).await {
                log::warn!("the runs' leases were not renewed: {e}");
            }
        }
        let (s, r) = (app.clone(), runner.clone());
        if let Ok(Err(e)) =
            tokio::task::spawn_blocking(move || tick_and_start(&s, &r, time::now())).await
        {
            log::error!("scheduler tick failed (will retry): {e}");
        }
    }
}
