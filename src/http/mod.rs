//! The HTTP server: the App (middleware order, route table under /api and /api/v1, OpenAPI)
//! and its start and stop.

pub mod auth;
pub mod cache;
pub mod error;
pub mod extract;
pub mod fold;
pub mod middleware;
pub mod openapi;
pub mod pages;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod table;

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};

pub use state::AppState;

/// Builds the App around a shared state; used by `serve` and by the tests alike.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(web::PayloadConfig::new(extract::BODY_LIMIT))
        .wrap(actix_web::middleware::from_fn(middleware::pipeline))
        .route("/api-docs/openapi.json", web::get().to(openapi::document))
        .route("/login", web::get().to(pages::login))
        .route("/forgot-password", web::get().to(pages::forgot_password))
        .route("/reset-password", web::get().to(pages::reset_password))
        .route("/invite", web::get().to(pages::invite))
        .route("/", web::get().to(pages::console))
        .route("/console", web::get().to(pages::console))
        .route("/assets/{name}", web::get().to(pages::asset))
        .route("/api-playground", web::get().to(pages::playground_redirect))
        .route(
            "/api-playground/{file:.*}",
            web::get().to(pages::playground),
        )
        // /api/v1 first: the /api scope would otherwise claim /api/v1/... and answer 404.
        .service(web::scope("/api/v1").configure(table::configure))
        .service(web::scope("/api").configure(table::configure))
        .default_service(web::to(not_found))
}

async fn not_found() -> Result<actix_web::HttpResponse, error::ApiError> {
    Err(error::ApiError::not_found())
}

/// A bound, not yet running server.
pub struct Bound {
    pub server: Server,
    pub addr: SocketAddr,
}

/// Binds the listener and builds the server; the caller awaits (or spawns) `server`.
pub fn bind(state: web::Data<AppState>, workers: usize) -> std::io::Result<Bound> {
    let listener = TcpListener::bind(state.config.listen)?;
    let addr = listener.local_addr()?;
    let _ = state.app.listening.set(addr);
    listen_to_other_nodes(&state);
    let st = state.clone();
    let server = HttpServer::new(move || app(st.clone()))
        .workers(workers.max(1))
        // SIGTERM is handled by `serve` (drain noise runs too); in-flight requests get 5 s.
        .disable_signals()
        .shutdown_timeout(5)
        .max_connection_rate(4096);
    let server = match &state.tls {
        // HTTPS only: the port speaks nothing else.
        Some(served) => server.listen_rustls_0_23(listener, served.server_config())?,
        None => server.listen(listener)?,
    };
    Ok(Bound {
        server: server.run(),
        addr,
    })
}

/// On PostgreSQL, what other nodes' commits change reaches this node's caches at once (their
/// notices), and everything cached is dropped when the notices' connection was lost. The
/// listener ends with the server.
fn listen_to_other_nodes(state: &web::Data<AppState>) {
    let Some(target) = state
        .config
        .db
        .to_str()
        .filter(|d| crate::store::pg::is_url(d))
        .and_then(|d| crate::store::pg::Target::parse(d).ok())
    else {
        return;
    };
    let weak = std::sync::Arc::downgrade(&state.clone().into_inner());
    crate::store::pg::listen(
        target,
        std::sync::Arc::new(move |notice| {
            let Some(state) = weak.upgrade() else {
                return false;
            };
            match notice {
                crate::store::pg::Notice::Changed(payload) => state.app.changed_elsewhere(payload),
                crate::store::pg::Notice::Event(payload) => state.app.event_elsewhere(payload),
                crate::store::pg::Notice::Lost => state.app.changed_outside(),
                crate::store::pg::Notice::Tick => {}
            }
            !state.shutting_down()
        }),
    );
}

/// The second listener of `LABGATE_METRICS_LISTEN` (SPEC §14): `GET /metrics` and nothing
/// else, without credentials (bind it where only the scraper reaches), on one worker. Counting
/// starts here: a server without the listener counts nothing.
pub fn bind_metrics(state: web::Data<AppState>, addr: SocketAddr) -> std::io::Result<Bound> {
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    state.app.metrics.enable(table::metric_routes());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .route("/metrics", web::get().to(metrics))
            .default_service(web::to(|| async {
                actix_web::HttpResponse::NotFound().finish()
            }))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .listen(listener)?
    .run();
    Ok(Bound { server, addr })
}

async fn metrics(state: web::Data<AppState>) -> actix_web::HttpResponse {
    let text = crate::app::platform::metrics(&state.app).await;
    actix_web::HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .body(text)
}
