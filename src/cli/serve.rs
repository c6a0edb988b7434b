//! `labgate serve`: validate the settings, open the database, print the setup token while no
//! user exists, and run until SIGTERM (graceful: in-flight requests finish, exit 0).

use std::path::PathBuf;

use actix_web::web;

use crate::config::{Config, ServeArgs};
use crate::http::{self, AppState};

pub fn run(db: PathBuf, args: &ServeArgs) -> Result<(), String> {
    let config = Config::from_args(db, args)?;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let state = AppState::build(config)?;
    if let Some(token) = http::routes::setup::issue_setup_token(&state.pool)
        .map_err(|e| format!("cannot issue setup token: {e}"))?
    {
        // Printed once, to stderr only: it is the key to the first admin account.
        eprintln!("setup token: {token}");
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    actix_web::rt::System::new().block_on(async move {
        let bound = http::bind(web::Data::new(state), workers)
            .map_err(|e| format!("LABGATE_LISTEN: cannot bind: {e}"))?;
        log::info!(
            "labgate {} listening on http://{}",
            env!("CARGO_PKG_VERSION"),
            bound.addr
        );
        bound
            .server
            .await
            .map_err(|e| format!("server failed: {e}"))
    })
}
