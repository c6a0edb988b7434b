//! `labgate serve`: validate the settings, open the database, print the setup token while no
//! user exists, and run until SIGTERM (graceful: in-flight requests finish, exit 0).

use std::path::PathBuf;

use actix_web::web;

use crate::config::{Config, ServeArgs};
use crate::http::{self, AppState};
use crate::lab::{runner, scheduler};
use std::sync::atomic::Ordering;
use std::time::Duration;

pub fn run(db: PathBuf, key_file: PathBuf, args: &ServeArgs) -> Result<(), String> {
    let mut config = Config::from_args(db, args)?;
    config.key_file = key_file;
    super::logging::init(config.log_format);
    // One server per database file: held until the process ends.
    let _lock = crate::app::lifecycle::lock_for_server(&config.db)?;
    let state = AppState::build(config)?;
    // The chain has a first record and an anchored head before the first request.
    // One that no longer continues from its anchored head is logged and left for
    // `labgate audit verify` to name; the server still starts.
    if let Err(e) = crate::app::audit::start(&state.app) {
        log::error!("the audit chain was not anchored at start: {}", e.message);
    }
    if let Some(token) = crate::app::setup::issue_setup_token(&state.app)
        .map_err(|e| format!("cannot issue setup token: {e}"))?
    {
        // Printed once, to stderr only: it is the key to the first admin account.
        eprintln!("setup token: {token}");
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // The change epoch as the server starts, read before the first request can be answered,
    // so a command run right after the start is seen as a change.
    let epoch = state.app.epoch_now();
    actix_web::rt::System::new().block_on(async move {
        let state = web::Data::new(state);
        let bound = http::bind(state.clone(), workers)
            .map_err(|e| format!("LABGATE_LISTEN: cannot bind: {e}"))?;
        log::info!(
            "labgate {} listening on http://{}",
            env!("CARGO_PKG_VERSION"),
            bound.addr
        );
        let handle = bound.server.handle();
        let server = actix_web::rt::spawn(bound.server);
        let metrics = match state.config.metrics_listen {
            Some(addr) => {
                let m = http::bind_metrics(state.clone(), addr)
                    .map_err(|e| format!("LABGATE_METRICS_LISTEN: cannot bind: {e}"))?;
                log::info!("metrics on http://{}/metrics", m.addr);
                let h = m.server.handle();
                actix_web::rt::spawn(m.server);
                Some(h)
            }
            None => None,
        };
        actix_web::rt::spawn(scheduler::run(state.app.clone(), state.runner.clone()));
        actix_web::rt::spawn(watch_cli_changes(state.clone(), epoch));
        actix_web::rt::spawn(anchor_audit(state.app.clone()));
        if let Some(b) = state.config.backups.clone() {
            actix_web::rt::spawn(scheduled_backups(state.app.clone(), b));
        }
        actix_web::rt::spawn(flush_folds(state.clone()));
        wait_for_signal().await;
        log::info!("shutting down: finishing requests in flight and noise runs");
        state.shutdown.store(true, Ordering::SeqCst);
        // Both within the 10 s systemd gives us: requests get 5 s, noise runs 6 s plus 1 s to
        // record how they ended.
        if let Some(m) = metrics {
            m.stop(false).await;
        }
        tokio::join!(
            handle.stop(true),
            runner::drain(&state.app, &state.runner, Duration::from_secs(6))
        );
        // Folded refusals still counted are written, and the last records anchored, before the
        // process ends.
        http::middleware::flush_folds(&state, true).await;
        let app = state.app.clone();
        let _ = tokio::task::spawn_blocking(move || {
            app.drain_writes(Duration::from_secs(2));
            app.flush_pending();
            app.pending_to_log();
        })
        .await;
        let app = state.app.clone();
        let _ = tokio::task::spawn_blocking(move || crate::app::audit::anchor(&app)).await;
        // A clean exit leaves no log behind: everything is in the database file.
        let app = state.app.clone();
        match tokio::task::spawn_blocking(move || app.checkpoint()).await {
            Ok(true) => {}
            _ => log::warn!("the write-ahead log could not be emptied at shutdown"),
        }
        match server.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(format!("server failed: {e}")),
            Err(e) => Err(format!("server failed: {e}")),
        }
    })
}

/// CLI commands (user create, reset-mfa, ...) change the database behind the server's back;
/// they bump an epoch, and the server drops its caches within a second of seeing it move.
async fn watch_cli_changes(state: web::Data<AppState>, seen: Option<i64>) {
    let mut seen = seen;
    while !state.shutting_down() {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if let Some(n) = state.app.epoch().await {
            if seen.is_some_and(|s| s != n) {
                log::info!("a command changed the database: caches dropped");
                state.app.changed_outside();
                // A rotated signing key is among the changes a command can make.
                let st = state.clone();
                match tokio::task::spawn_blocking(move || st.reload_signing()).await {
                    Ok(Err(e)) => log::error!("cannot reload the signing keys: {e}"),
                    Err(e) => log::error!("cannot reload the signing keys: {e}"),
                    Ok(Ok(())) => {}
                }
            }
            seen = Some(n);
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Anchors the audit chain's head outside the database once a second (SPEC §13.2).
async fn anchor_audit(app: crate::app::App) {
    loop {
        let a = app.clone();
        let _ = tokio::task::spawn_blocking(move || crate::app::audit::anchor(&a)).await;
        if app.shutting_down() {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Takes the scheduled backups (SPEC §13.3) at their cron times, verified, audited and
/// rotated. A time missed while the server was down is not made up.
async fn scheduled_backups(app: crate::app::App, b: crate::config::Backups) {
    let Ok(cron) = crate::domain::cron::parse(&b.schedule) else {
        return;
    };
    while !app.shutting_down() {
        let Some(next) = crate::domain::cron::next_after(&cron, app.now()) else {
            return;
        };
        // Woken at least every 30 s, so a shutdown or a changed clock is noticed.
        while app.now() < next && !app.shutting_down() {
            let left = (next - app.now()).to_std().unwrap_or_default();
            tokio::time::sleep(left.min(Duration::from_secs(30))).await;
        }
        if app.shutting_down() {
            return;
        }
        let (a, dir) = (app.clone(), b.dir.clone());
        match tokio::task::spawn_blocking(move || crate::app::backup::scheduled(&a, &dir, b.keep))
            .await
        {
            Ok(Ok(s)) => log::info!("scheduled backup {} taken and verified", s.path.display()),
            Ok(Err(e)) => log::error!("scheduled backup failed: {e}"),
            Err(e) => log::error!("scheduled backup failed: {e}"),
        }
    }
}

/// Writes the folded refusals of each minute once it is over.
async fn flush_folds(state: web::Data<AppState>) {
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        if state.shutting_down() {
            break;
        }
        http::middleware::flush_folds(&state, false).await;
        let app = state.app.clone();
        let _ = tokio::task::spawn_blocking(move || app.flush_pending()).await;
    }
}
