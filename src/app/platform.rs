//! The lab at a glance (SPEC §7): a tenant's summary, and its platform events, as a list or
//! as a live feed resumed from the last event a client saw.

use std::sync::Arc;

use tokio::sync::broadcast;

use super::{Actor, App, AppResult};
use crate::domain::time;
use crate::store::events::{self, Event};
use crate::store::{exercises, noise};

/// What `GET /platform-status` sums up for a tenant.
pub struct Summary {
    pub exercises_running: i64,
    pub noise_runs_24h: i64,
    pub schedules_enabled: i64,
    pub next_run_at: Option<String>,
}

pub async fn summary(app: &App, actor: &Actor) -> AppResult<Summary> {
    let tid = actor.tenant.as_str().to_string();
    let since = time::fmt(app.now() - chrono::Duration::hours(24));
    Ok(app
        .read(move |c| {
            let (enabled, next) = noise::schedule_summary(c, &tid)?;
            Ok(Summary {
                exercises_running: exercises::count_running(c, &tid)?,
                noise_runs_24h: noise::runs_since(c, &tid, &since)?,
                schedules_enabled: enabled,
                next_run_at: next,
            })
        })
        .await?)
}

/// A page of the tenant's events after `since_id`, newest first, and how many there are.
pub async fn events(
    app: &App,
    actor: &Actor,
    since_id: i64,
    limit: u32,
    offset: u64,
) -> AppResult<(Vec<Event>, u64)> {
    let tid = actor.tenant.as_str().to_string();
    Ok(app
        .read(move |c| events::page(c, &tid, since_id, limit, offset))
        .await?)
}

/// A live feed of one tenant's events: first those after the point it resumes from, then each
/// new one once (by id).
pub struct Feed {
    pub backlog: std::collections::VecDeque<Event>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    pub last_id: i64,
    pub tenant: String,
}

impl Feed {
    /// The next event of the feed's tenant; `None` when the feed fell behind or the hub
    /// closed (the client resumes from its last id).
    pub async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.backlog.pop_front() {
            self.last_id = self.last_id.max(e.id);
            return Some(e);
        }
        loop {
            match self.rx.recv().await {
                Ok(e)
                    if e.tenant_id.as_deref() == Some(self.tenant.as_str())
                        && e.id > self.last_id =>
                {
                    self.last_id = e.id;
                    return Some((*e).clone());
                }
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}

/// Most events a resumed feed replays.
const BACKLOG_MAX: u32 = 10_000;

/// Opens a feed resuming after event `resume`, or from now. It subscribes before reading the
/// backlog, so nothing falls between the two.
pub async fn feed(app: &App, actor: &Actor, resume: Option<i64>) -> AppResult<Feed> {
    let rx = app.events.subscribe();
    let tid = actor.tenant.as_str().to_string();
    let t = tid.clone();
    let (backlog, last_id) = match resume {
        Some(id) => (
            app.read(move |c| events::after(c, &t, id, BACKLOG_MAX))
                .await?,
            id,
        ),
        None => {
            let newest = app.read(move |c| events::page(c, &t, 0, 1, 0)).await?.0;
            (vec![], newest.first().map(|e| e.id).unwrap_or(0))
        }
    };
    Ok(Feed {
        backlog: backlog.into(),
        rx,
        last_id,
        tenant: tid,
    })
}

/// Whether the database answers and what is written now would last: the file is still the
/// one opened, present and writable, and a read succeeds. The reason when not.
pub async fn database_check(app: &App) -> Result<(), String> {
    if let Some(why) = app.pool.file_problem() {
        return Err(why);
    }
    app.read(crate::store::probe)
        .await
        .map_err(|e| e.to_string())
}
