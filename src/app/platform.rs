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
/// new one once (by id). Events committed at nearly the same time can be published in another
/// order than their ids (two requests answered from one group commit, a noise run's thread):
/// each is still sent once, whatever its place.
pub struct Feed {
    pub backlog: std::collections::VecDeque<Event>,
    pub rx: broadcast::Receiver<Arc<Event>>,
    /// Events up to this id were all sent or are too old to come now.
    floor: i64,
    /// Ids above `floor` already sent (bounded: the oldest become the floor).
    sent: std::collections::BTreeSet<i64>,
    pub tenant: String,
}

/// How many recent ids a feed remembers to send each event once.
const SENT_MAX: usize = 4096;

impl Feed {
    fn fresh(&mut self, id: i64) -> bool {
        if id <= self.floor || !self.sent.insert(id) {
            return false;
        }
        while self.sent.len() > SENT_MAX {
            if let Some(old) = self.sent.pop_first() {
                self.floor = old;
            }
        }
        true
    }

    /// The next event of the feed's tenant; `None` when the feed fell behind or the hub
    /// closed (the client resumes from its last id).
    pub async fn next(&mut self) -> Option<Event> {
        while let Some(e) = self.backlog.pop_front() {
            if self.fresh(e.id) {
                return Some(e);
            }
        }
        loop {
            match self.rx.recv().await {
                Ok(e) if e.tenant_id.as_deref() == Some(self.tenant.as_str()) => {
                    if self.fresh(e.id) {
                        return Some((*e).clone());
                    }
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
        floor: last_id,
        sent: Default::default(),
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

/// The Prometheus exposition of `GET /metrics` (SPEC §14): the counters, and the audit chain's
/// last sequence number read now (left out when the database cannot answer).
pub async fn metrics(app: &App) -> String {
    let seq = app
        .read(crate::store::audit::head)
        .await
        .ok()
        .map(|(seq, _)| seq.max(0) as u64);
    app.metrics.render(seq)
}
