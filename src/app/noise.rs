//! Noise (SPEC §6.2): sinks, runs and schedules of a tenant. Changes need
//! `manage_noise_logs` (or, for a run, the dispatch token); reads are open to any caller of the
//! tenant. What a sink's settings and a profile's name may be is the lab's to say: the caller
//! passes the validated sink settings and the lab's profile check in.

use serde_json::{Map, Value, json};

use super::{Actor, App, AppResult};
use crate::domain::error::DomainError;
use crate::domain::ids::display_name;
use crate::domain::{cron, time};
use crate::store::noise::{self, NewRun, Run, Schedule, Sink};
use crate::store::{StoreError, audit, events};

/// A sink's validated settings: its kind and their stored form.
pub struct SinkSettings {
    pub kind: &'static str,
    pub config: Map<String, Value>,
}

fn tenant(actor: &Actor) -> String {
    actor.tenant.as_str().to_string()
}

pub async fn sinks(app: &App, actor: &Actor) -> AppResult<Vec<Sink>> {
    let tid = tenant(actor);
    Ok(app.read(move |c| noise::sinks(c, &tid)).await?)
}

/// One sink, by id or name.
pub async fn sink(app: &App, actor: &Actor, id_or_name: String) -> AppResult<Sink> {
    let tid = tenant(actor);
    app.read(move |c| noise::sink(c, &tid, &id_or_name))
        .await?
        .ok_or_else(DomainError::not_found)
}

pub async fn create_sink(app: &App, actor: Actor, name: &str, s: SinkSettings) -> AppResult<Sink> {
    let name = display_name("name", name)?;
    let tid = tenant(&actor);
    let details = json!({"name": name, "kind": s.kind, "settings": s.config});
    let mut ev = actor.event("noise.sink.create", String::new(), details);
    app.write(move |tx, _| {
        let sink = noise::create_sink(tx, &tid, &name, s.kind, &s.config)?;
        ev.target = Some(format!("sink:{}", sink.id));
        audit::append(tx, &ev)?;
        Ok(sink)
    })
    .await
}

/// Changes the sink found by `current` (looked up by id or name) to `name` and `s`.
pub async fn update_sink(
    app: &App,
    actor: Actor,
    current: Sink,
    name: Option<&str>,
    s: SinkSettings,
) -> AppResult<Sink> {
    let name = match name {
        Some(n) => display_name("name", n)?,
        None => current.name,
    };
    let (tid, id) = (tenant(&actor), current.id);
    let details = json!({"name": name, "kind": s.kind, "settings": s.config});
    let ev = actor.event("noise.sink.update", format!("sink:{id}"), details);
    app.write(move |tx, _| {
        noise::update_sink(tx, &tid, &id, &name, s.kind, &s.config)?;
        audit::append(tx, &ev)?;
        noise::sink(tx, &tid, &id)?.ok_or(StoreError::NotFound)
    })
    .await
}

/// Deletes a sink (by id) that no schedule uses.
pub async fn delete_sink(app: &App, actor: Actor, id: String) -> AppResult<()> {
    let tid = tenant(&actor);
    let ev = actor.event("noise.sink.delete", format!("sink:{id}"), json!({}));
    app.change(move |tx, _| {
        let s = noise::sink(tx, &tid, &id)?
            .filter(|s| s.id == id)
            .ok_or(StoreError::NotFound)?;
        if noise::sink_in_use(tx, &s.id)? {
            let e = "A schedule uses this sink; change or delete the schedule first.";
            return Err(DomainError::conflict(e).into());
        }
        noise::delete_sink(tx, &tid, &s.id)?;
        audit::append(tx, &ev)?;
        Ok(())
    })
    .await
}

/// What a run is to be.
pub struct RunRequest {
    pub profile: String,
    pub count: u64,
    /// Sink name or id (`default` when none is named).
    pub sink: Option<String>,
    pub seed: Option<u64>,
    /// `api` or `dispatch`.
    pub trigger: &'static str,
}

fn check_count(count: u64) -> Result<i64, DomainError> {
    if !(1..=1_000_000).contains(&count) {
        return Err(DomainError::validation("count", "must be 1-1000000"));
    }
    Ok(count as i64)
}

/// Queues a run, audited and announced; the caller hands it to the lab's runner.
pub async fn queue_run(app: &App, actor: Actor, r: RunRequest) -> AppResult<Run> {
    let count = check_count(r.count)?;
    let seed = r.seed.unwrap_or_else(rand::random) as i64;
    let sink_ref = r.sink.unwrap_or_else(|| "default".into());
    let (tid, by) = (
        tenant(&actor),
        actor.template.actor_id.clone().unwrap_or_default(),
    );
    let node = app.config.node.clone();
    let (profile, trigger) = (r.profile, r.trigger);
    let details = json!({"profile": profile, "count": count, "sink": sink_ref, "trigger": trigger});
    let mut ev = actor.event("noise.run", String::new(), details);
    let (run, event) = app
        .change(move |tx, _| {
            let Some(sink) = noise::sink(tx, &tid, &sink_ref)? else {
                let e = DomainError::validation("sink", format!("no sink {sink_ref:?} in this tenant"));
                return Err(e.into());
            };
            let new = NewRun {
                tenant_id: &tid,
                profile: &profile,
                count,
                seed,
                sink: &sink,
                trigger,
                schedule_id: None,
                created_by: &by,
                node: &node,
            };
            let run = noise::create_run(tx, new)?;
            ev.target = Some(format!("noise_run:{}", run.id));
            audit::append(tx, &ev)?;
            let data = json!({"run_id": run.id, "profile": run.profile, "count": run.count, "trigger": trigger});
            let e = events::emit(tx, Some(&tid), "noise.run.queued", &data)?;
            Ok((run, e))
        })
        .await?;
    app.events.publish(event);
    Ok(run)
}

/// A page of the tenant's runs, newest first, and how many there are.
pub async fn runs(app: &App, actor: &Actor, limit: u32, offset: u64) -> AppResult<(Vec<Run>, u64)> {
    let tid = tenant(actor);
    Ok(app
        .read(move |c| noise::runs(c, &tid, limit, offset))
        .await?)
}

pub async fn run(app: &App, actor: &Actor, id: String) -> AppResult<Run> {
    let tid = tenant(actor);
    app.read(move |c| noise::run(c, &tid, &id))
        .await?
        .ok_or_else(DomainError::not_found)
}

/// A schedule's fields as given (all present to create one; any subset to change one).
#[derive(Default)]
pub struct ScheduleInput {
    pub name: Option<String>,
    pub cron: Option<String>,
    pub profile: Option<String>,
    pub count: Option<u64>,
    pub sink: Option<String>,
    pub enabled: Option<bool>,
    /// `skip` or `run_once`
    pub misfire: Option<String>,
}

/// A schedule with `b` applied and checked, and its next time computed.
async fn complete(
    app: &App,
    tenant_id: &str,
    mut s: Schedule,
    b: ScheduleInput,
    profile_exists: fn(&str) -> bool,
) -> AppResult<Schedule> {
    if let Some(n) = b.name {
        s.name = display_name("name", &n)?;
    }
    if let Some(c) = b.cron {
        s.cron = c.trim().to_string();
    }
    let parsed = cron::parse(&s.cron).map_err(|m| DomainError::validation("cron", m))?;
    if let Some(p) = b.profile {
        s.profile = p;
    }
    if !profile_exists(&s.profile) {
        return Err(DomainError::validation("profile", "unknown profile"));
    }
    if let Some(c) = b.count {
        s.count = check_count(c)?;
    }
    if let Some(m) = b.misfire {
        if m != "skip" && m != "run_once" {
            return Err(DomainError::validation(
                "misfire",
                "must be skip or run_once",
            ));
        }
        s.misfire = m;
    }
    if let Some(e) = b.enabled {
        s.enabled = e;
    }
    if let Some(sink) = b.sink {
        let tid = tenant_id.to_string();
        let found = app.read(move |c| noise::sink(c, &tid, &sink)).await?;
        let found =
            found.ok_or_else(|| DomainError::validation("sink", "no such sink in this tenant"))?;
        s.sink_id = found.id;
        s.sink = found.name;
    }
    s.next_run_at = if s.enabled {
        cron::next_after(&parsed, app.now()).map(time::fmt)
    } else {
        None
    };
    Ok(s)
}

pub async fn schedules(app: &App, actor: &Actor) -> AppResult<Vec<Schedule>> {
    let tid = tenant(actor);
    Ok(app.read(move |c| noise::schedules(c, &tid)).await?)
}

pub async fn schedule(app: &App, actor: &Actor, id: String) -> AppResult<Schedule> {
    let tid = tenant(actor);
    app.read(move |c| noise::schedule(c, &tid, &id))
        .await?
        .ok_or_else(DomainError::not_found)
}

/// Creates a schedule (every field but `sink`, `enabled` and `misfire` is required).
pub async fn create_schedule(
    app: &App,
    actor: Actor,
    mut b: ScheduleInput,
    profile_exists: fn(&str) -> bool,
) -> AppResult<Schedule> {
    for (field, missing) in [
        ("name", b.name.is_none()),
        ("cron", b.cron.is_none()),
        ("profile", b.profile.is_none()),
        ("count", b.count.is_none()),
    ] {
        if missing {
            return Err(DomainError::validation(field, "is required"));
        }
    }
    b.sink.get_or_insert_with(|| "default".into());
    let tid = tenant(&actor);
    let blank = Schedule {
        id: String::new(),
        name: String::new(),
        cron: String::new(),
        profile: String::new(),
        count: 0,
        sink: String::new(),
        sink_id: String::new(),
        enabled: true,
        misfire: "skip".into(),
        next_run_at: None,
        last_run_at: None,
        last_run_id: None,
        created_at: String::new(),
        tenant_id: tid.clone(),
    };
    let s = complete(app, &tid, blank, b, profile_exists).await?;
    let details = json!({"name": s.name, "cron": s.cron, "profile": s.profile, "count": s.count});
    let mut ev = actor.event("noise.schedule.create", String::new(), details);
    app.write(move |tx, _| {
        let c = noise::create_schedule(tx, &tid, &s)?;
        ev.target = Some(format!("schedule:{}", c.id));
        audit::append(tx, &ev)?;
        Ok(c)
    })
    .await
}

/// Changes a schedule; it applies from the scheduler's next tick.
pub async fn update_schedule(
    app: &App,
    actor: Actor,
    id: String,
    b: ScheduleInput,
    profile_exists: fn(&str) -> bool,
) -> AppResult<Schedule> {
    let current = schedule(app, &actor, id.clone()).await?;
    let tid = tenant(&actor);
    let s = complete(app, &tid, current, b, profile_exists).await?;
    let details = json!({"name": s.name, "cron": s.cron, "enabled": s.enabled});
    let ev = actor.event("noise.schedule.update", format!("schedule:{id}"), details);
    app.write(move |tx, _| {
        noise::update_schedule(tx, &tid, &s)?;
        audit::append(tx, &ev)?;
        noise::schedule(tx, &tid, &id)?.ok_or(StoreError::NotFound)
    })
    .await
}

pub async fn delete_schedule(app: &App, actor: Actor, id: String) -> AppResult<()> {
    let tid = tenant(&actor);
    let ev = actor.event("noise.schedule.delete", format!("schedule:{id}"), json!({}));
    app.write(move |tx, _| {
        if !noise::delete_schedule(tx, &tid, &id)? {
            return Err(StoreError::NotFound);
        }
        audit::append(tx, &ev).map(|_| ())
    })
    .await
}
