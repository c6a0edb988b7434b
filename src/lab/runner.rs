//! Runs noise in the background: one blocking task per run generates the events and feeds
//! them to the sink in batches, records progress about once a second, and finishes the run as
//! `succeeded` or `failed` with the reason. A failing sink fails its run and nothing else.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use std::sync::Arc;

use serde_json::json;

use super::noise::generator;
use super::sinks::SinkSpec;
use crate::app::App;
use crate::domain::time;
use crate::store::noise::{self, Run};
use crate::store::{self, events};

#[derive(Default)]
pub struct Runner {
    /// Set on shutdown once the grace period is over: runs still going stop and fail.
    pub stopping: AtomicBool,
    active: AtomicUsize,
}

impl Runner {
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// The nominal time the events of a run are spread over: ten milliseconds an event (a busy
/// network's pace), at most an hour, starting at the run's start.
fn span(count: i64) -> Duration {
    Duration::from_millis((count.max(1) as u64).saturating_mul(10)).min(Duration::from_secs(3600))
}

/// Starts a queued run in the background.
pub fn start(app: App, runner: Arc<Runner>, run: Run) {
    runner.active.fetch_add(1, Ordering::SeqCst);
    tokio::task::spawn_blocking(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            execute(&app, &runner, &run)
        }));
        let (sent, error) = match result {
            Ok(r) => r,
            Err(_) => (0, Some("the run stopped unexpectedly".to_string())),
        };
        finish(&app, &run, sent, error.as_deref());
        runner.active.fetch_sub(1, Ordering::SeqCst);
    });
}

fn tenant_slug(state: &App, tenant_id: &str) -> Option<String> {
    let lease = state.pool.get().ok()?;
    crate::store::tenants::find(&lease.db(), tenant_id)
        .ok()
        .flatten()
        .map(|t| t.slug)
}

fn execute(state: &App, runner: &Runner, run: &Run) -> (i64, Option<String>) {
    let pool = &state.pool;
    // The run's start is an event too, so a console shows "running" as it happens.
    let sink = match crate::store::write_blocking(pool, |tx| {
        noise::mark_running(tx, &run.id)?;
        let ev = events::emit(
            tx,
            Some(&run.tenant_id),
            "noise.run.started",
            &json!({"run_id": run.id, "profile": run.profile, "count": run.count}),
        )?;
        Ok((noise::sink(tx, &run.tenant_id, &run.sink_id)?, ev))
    })
    .map_err(|e| e.to_string())
    {
        Ok((Some(s), ev)) => {
            state.events.publish(ev);
            s
        }
        Ok((None, ev)) => {
            state.events.publish(ev);
            return (0, Some("the sink no longer exists".into()));
        }
        Err(e) => return (0, Some(format!("database unavailable: {e}"))),
    };
    let Some(slug) = tenant_slug(state, &run.tenant_id) else {
        return (0, Some("the run's tenant no longer exists".into()));
    };
    let root = state.config.noise_dir_of(&slug);
    let spec = match SinkSpec::parse(&sink.kind, &sink.config, &root) {
        Ok(s) => s,
        Err((field, msg)) => {
            return (
                0,
                Some(format!("sink settings are invalid: {field}: {msg}")),
            );
        }
    };
    let mut writer = match spec.open(&root, &state.destinations(), &state.config.trust) {
        Ok(w) => w,
        Err(e) => return (0, Some(e)),
    };
    let Some(mut events) = generator(
        &run.profile,
        run.seed as u64,
        run.count as u64,
        time::now(),
        span(run.count),
    ) else {
        return (0, Some(format!("unknown profile {:?}", run.profile)));
    };
    let batch_size = spec.batch();
    let mut batch = Vec::with_capacity(batch_size.min(4096));
    let mut sent: i64 = 0;
    let mut last_progress = Instant::now();
    loop {
        batch.clear();
        batch.extend(events.by_ref().take(batch_size));
        if batch.is_empty() {
            break;
        }
        if runner.stopping.load(Ordering::SeqCst) {
            let _ = writer.finish();
            return (
                sent,
                Some("the server shut down before the run finished".into()),
            );
        }
        if let Err(e) = writer.send(&batch) {
            return (sent + writer.partly_sent() as i64, Some(e));
        }
        sent += batch.len() as i64;
        state
            .metrics
            .noise_events(&run.profile, &sink.kind, batch.len() as u64);
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            let _ = crate::store::write_blocking(pool, |tx| noise::progress(tx, &run.id, sent));
        }
    }
    match writer.finish() {
        Ok(()) => (sent, None),
        Err(e) => (sent, Some(e)),
    }
}

fn finish(state: &App, run: &Run, sent: i64, error: Option<&str>) {
    if let Some(e) = error {
        log::warn!("noise run {} failed: {e}", run.id);
    }
    let out = store::write_blocking(&state.pool, |tx| {
        let Some(done) = noise::finish(tx, &run.id, sent, error)? else {
            return Ok(None);
        };
        let ev = events::emit(
            tx,
            Some(&run.tenant_id),
            "noise.run.finished",
            &json!({"run_id": done.id, "status": done.status, "events_sent": done.events_sent, "error": done.error}),
        )?;
        Ok(Some(ev))
    });
    match out {
        Ok(Some(ev)) => state.events.publish(ev),
        Ok(None) => {}
        Err(e) => log::error!("could not record the end of noise run {}: {e}", run.id),
    }
}

/// Shutdown: waits up to `grace` for running runs, then stops the rest (they are marked
/// failed with the reason) and waits briefly for them to record it.
pub async fn drain(app: &App, runner: &Runner, grace: Duration) {
    let deadline = Instant::now() + grace;
    while runner.active() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    runner.stopping.store(true, Ordering::SeqCst);
    let deadline = Instant::now() + Duration::from_secs(1);
    while runner.active() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pool = app.pool.clone();
    let node = app.config.node.clone();
    let _ = tokio::task::spawn_blocking(move || {
        store::write_blocking(&pool, |tx| {
            noise::fail_unfinished(tx, &node, "the server shut down before the run finished")
        })
    })
    .await;
}
