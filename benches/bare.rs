//! The reference point of `benches/bench.sh`: a bare actix-web handler answering the same JSON
//! as `GET /api/health`, with nothing else in front of it.
//! Run by the script as `cargo bench --bench bare` with `BARE_LISTEN=127.0.0.1:<port>`.

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::var("BARE_LISTEN").unwrap_or_else(|_| "127.0.0.1:18182".into());
    HttpServer::new(|| {
        App::new().route(
            "/api/health",
            web::get().to(|| async {
                HttpResponse::Ok().json(serde_json::json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "database": "ok"}))
            }),
        )
    })
    .workers(1)
    .bind(addr)?
    .run()
    .await
}
