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
        let scheme = if state.tls.is_some() { "https" } else { "http" };
        log::info!(
            "labgate {} listening on {scheme}://{}",
            env!("CARGO_PKG_VERSION"),
            bound.addr
        );
        if let Some(tls) = &state.tls {
            log::info!("TLS certificate {} in service", tls.fingerprint());
        }
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
        actix_web::rt::spawn(expiry_notices(state.app.clone()));
        if let Some(t) = state.app.config.audit_forward.clone() {
            actix_web::rt::spawn(crate::app::forward::run(state.app.clone(), t));
        }
        if state.app.config.smtp.is_some() {
            actix_web::rt::spawn(retry_mail(state.app.clone()));
        } else if state.app.mailer.queued() > 0 {
            log::warn!(
                "{} messages wait in {} but LABGATE_SMTP_URL is not set: they are not sent",
                state.app.mailer.queued(),
                state.app.config.mail_dir.join("queue").display()
            );
        }
        if let Some(b) = state.config.backups.clone() {
            actix_web::rt::spawn(scheduled_backups(state.app.clone(), b));
        }
        actix_web::rt::spawn(flush_folds(state.clone()));
        // Every signal is listened for before systemd hears "ready": a reload or a stop sent
        // from then on is never met by the default action (which would end the process).
        let mut signals = Signals::new().map_err(|e| format!("cannot listen for signals: {e}"))?;
        // systemd (Type=notify): ready once the listeners take connections.
        notify(&[sd_notify::NotifyState::Ready]);
        if let Some(interval) = watchdog_interval() {
            // A probe at most every half interval, however long the last one took to time out.
            actix_web::rt::spawn(watchdog(bound.addr, interval / 4, state.tls.is_some()));
        }
        while signals.next().await == Signal::Reload {
            let mut reloading = vec![sd_notify::NotifyState::Reloading];
            reloading.extend(sd_notify::NotifyState::monotonic_usec_now().ok());
            notify(&reloading);
            reload(&state).await;
            notify(&[sd_notify::NotifyState::Ready]);
        }
        notify(&[sd_notify::NotifyState::Stopping]);
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
                // A rotated signing key is among the changes a command can make.
                read_again(&state).await;
            }
            seen = Some(n);
        }
    }
}

#[derive(PartialEq, Eq)]
enum Signal {
    Stop,
    Reload,
}

/// SIGTERM or SIGINT stop the server; SIGHUP (`systemctl reload`) reloads it. The streams live
/// as long as the server: a signal that arrives while a reload runs waits for the next call.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop,
            _ = self.int.recv() => Signal::Stop,
            _ = self.hup.recv() => Signal::Reload,
        }
    }
}

/// Tells systemd about the service's state; nothing happens outside a `Type=notify` unit.
fn notify(state: &[sd_notify::NotifyState]) {
    if let Err(e) = sd_notify::notify(false, state) {
        log::warn!("cannot notify systemd: {e}");
    }
}

/// What SIGHUP reloads: everything the server holds from the database in memory (caches,
/// the signing keys), as after a change made by a command.
async fn reload(state: &web::Data<AppState>) {
    if let Some(tls) = &state.tls {
        // A pair that does not load keeps the one in service: one line says why.
        match tls.reload() {
            Ok(fp) => log::info!("reload: TLS certificate {fp} in service"),
            Err(e) => log::error!("reload: the TLS certificate in service is kept: {e}"),
        }
    }
    log::info!("reload: caches dropped, signing keys read again");
    read_again(state).await;
}

/// Drops every cache and reads the signing keys again.
async fn read_again(state: &web::Data<AppState>) {
    state.app.changed_outside();
    let st = state.clone();
    match tokio::task::spawn_blocking(move || st.reload_signing()).await {
        Ok(Err(e)) => log::error!("cannot reload the signing keys: {e}"),
        Err(e) => log::error!("cannot reload the signing keys: {e}"),
        Ok(Ok(())) => {}
    }
}

/// `WatchdogSec=` as systemd passes it: `WATCHDOG_USEC`, for this process when
/// `WATCHDOG_PID` names one (sd_watchdog_enabled(3)).
fn watchdog_interval() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}

/// The systemd watchdog: a request to the server's own listener (accepted, routed and
/// answered by a worker, like any other) every quarter of the watchdog interval; only an answer keeps
/// systemd from restarting the service. Any HTTP status counts: a server that answers 503
/// because its database is gone is failing closed, not wedged. On an HTTPS port the plain
/// request is answered by a worker's TLS layer with an alert record (type 21), which proves the
/// same: accepted and handled.
async fn watchdog(addr: std::net::SocketAddr, every: Duration, tls: bool) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let every = every.max(Duration::from_secs(1));
    let target = match addr.ip() {
        ip if ip.is_unspecified() && addr.is_ipv4() => {
            std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()))
        }
        ip if ip.is_unspecified() => {
            std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    loop {
        let probe = async {
            let mut s = tokio::net::TcpStream::connect(target).await?;
            s.write_all(
                b"GET /api/health HTTP/1.1\r\nHost: localhost\r\nX-Correlation-Id: systemd-watchdog\r\nConnection: close\r\n\r\n",
            )
            .await?;
            if tls {
                let mut first = [0u8; 1];
                s.read_exact(&mut first).await?;
                return Ok::<bool, std::io::Error>(first[0] == 21);
            }
            let mut head = [0u8; 12];
            s.read_exact(&mut head).await?;
            Ok::<bool, std::io::Error>(head.starts_with(b"HTTP/1.1 "))
        };
        match tokio::time::timeout(every, probe).await {
            Ok(Ok(true)) => notify(&[sd_notify::NotifyState::Watchdog]),
            Ok(Ok(false)) => log::warn!("watchdog: the server's answer was not HTTP"),
            Ok(Err(e)) => log::warn!("watchdog: the server did not answer: {e}"),
            Err(_) => log::warn!("watchdog: the server did not answer within {every:?}"),
        }
        tokio::time::sleep(every).await;
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

/// Tells owners of tokens and keys that expire within 7 days, checked every 10 minutes.
async fn expiry_notices(app: crate::app::App) {
    while !app.shutting_down() {
        let a = app.clone();
        match tokio::task::spawn_blocking(move || crate::app::leaks::notify_expiring(&a)).await {
            Ok(Err(e)) => log::warn!("expiry notices: {}", e.message),
            Err(e) => log::warn!("expiry notices: {e}"),
            Ok(Ok(_)) => {}
        }
        tokio::time::sleep(Duration::from_secs(600)).await;
    }
}

/// Tries the mail queue again every 15 seconds (each message waits out its own backoff).
async fn retry_mail(app: crate::app::App) {
    while !app.shutting_down() {
        let a = app.clone();
        let _ = tokio::task::spawn_blocking(move || a.retry_mail()).await;
        tokio::time::sleep(Duration::from_secs(15)).await;
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
