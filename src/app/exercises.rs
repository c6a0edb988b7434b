//! Exercise sessions (SPEC §6): started and ended with `manage_exercises`, listed by any caller
//! of the tenant; each change is audited and announced on the platform event stream.

use serde_json::json;

use super::{Actor, App, AppResult};
use crate::domain::error::DomainError;
use crate::domain::ids::display_name;
use crate::store::exercises::{self, Exercise};
use crate::store::{audit, events};

/// Which sessions a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Running,
    Ended,
}

impl Status {
    pub fn parse(s: &str) -> Result<Status, DomainError> {
        match s {
            "running" => Ok(Status::Running),
            "ended" => Ok(Status::Ended),
            _ => Err(DomainError::validation(
                "status",
                "must be running or ended",
            )),
        }
    }
    fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Ended => "ended",
        }
    }
}

/// Starts a session; a running one of the same name is a conflict.
pub async fn start(
    app: &App,
    actor: Actor,
    name: &str,
    scenario: Option<&str>,
) -> AppResult<Exercise> {
    let name = display_name("name", name)?;
    let scenario = scenario.map(|s| display_name("scenario", s)).transpose()?;
    let tid = actor.tenant.as_str().to_string();
    let by = actor.template.actor_id.clone().unwrap_or_default();
    let details = json!({"name": name, "scenario": scenario});
    let mut ev = actor.event("exercise.start", String::new(), details);
    let (ex, event) = app
        .write(move |tx, _| {
            let ex = exercises::start(tx, &tid, &name, scenario.as_deref(), &by)?;
            ev.target = Some(format!("exercise:{}", ex.id));
            audit::append(tx, &ev)?;
            let data = serde_json::to_value(&ex).unwrap_or_default();
            let e = events::emit(tx, Some(&tid), "exercise.started", &data)?;
            Ok((ex, e))
        })
        .await?;
    app.events.publish(event);
    Ok(ex)
}

/// Ends every running session of the tenant, or only the one named; answers how many ended.
pub async fn end(app: &App, actor: Actor, id: Option<String>) -> AppResult<usize> {
    if let Some(i) = &id
        && uuid::Uuid::parse_str(i).is_err()
    {
        return Err(DomainError::validation("id", "must be a UUID"));
    }
    let tid = actor.tenant.as_str().to_string();
    let by = actor.template.actor_id.clone().unwrap_or_default();
    let target = id
        .as_ref()
        .map_or("exercise:*".into(), |i| format!("exercise:{i}"));
    let mut ev = actor.event("exercise.end", target, json!({}));
    let emitted = app
        .write(move |tx, _| {
            let ended = exercises::end(tx, &tid, id.as_deref(), &by)?;
            ev.details = json!({"ended": ended.iter().map(|e| &e.id).collect::<Vec<_>>()});
            audit::append(tx, &ev)?;
            ended
                .iter()
                .map(|e| {
                    let data = serde_json::to_value(e).unwrap_or_default();
                    events::emit(tx, Some(&tid), "exercise.ended", &data)
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let n = emitted.len();
    for e in emitted {
        app.events.publish(e);
    }
    Ok(n)
}

/// A page of the tenant's sessions, and how many match.
pub async fn list(
    app: &App,
    actor: &Actor,
    status: Option<Status>,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<Exercise>, u64)> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| exercises::list(c, &tid, status.map(Status::as_str), limit, offset))
        .await?)
}
