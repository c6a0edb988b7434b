//! The audit log (capability `audit.read`): list with filters, and a streamed export.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;

use super::actor;
use crate::app::audit::{self as audit_app, EXPORT_PAGE, Query};
use crate::http::AppState;
use crate::http::auth::{AuditRead, Caller, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Meta, Page, filters, paged};
use crate::store::audit::{AuditRecord, Filter};

/// The filters of the query string, and `format`.
fn filter(
    caller: &Caller,
    meta: &Meta,
    req: &HttpRequest,
) -> Result<(Filter, Option<String>), ApiError> {
    let (mut q, mut format) = (Query::default(), None);
    for (k, v) in filters(req.query_string()) {
        match k.as_str() {
            "actor" => q.actor = Some(v),
            "action" => q.action = Some(v),
            "outcome" => q.outcome = Some(v),
            "since" => q.since = Some(v),
            "until" => q.until = Some(v),
            "format" => format = Some(v),
            _ => {}
        }
    }
    let default = caller.tenant.slug == "default";
    Ok((audit_app::filter(&actor(caller, meta), default, q)?, format))
}

/// The audit log of the caller's tenant, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "audit",
    params(("actor" = Option<String>, Query), ("action" = Option<String>, Query), ("outcome" = Option<String>, Query),
           ("since" = Option<String>, Query), ("until" = Option<String>, Query), ("page" = Option<u64>, Query), ("limit" = Option<u32>, Query)),
    responses((status = 200, description = "records", body = [AuditRecord])))]
pub async fn list(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AuditRead>,
    meta: Meta,
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let (f, _) = filter(&caller, &meta, &req)?;
    let (rows, total) = audit_app::list(&state.app, f, page.limit, page.offset()).await?;
    Ok(paged(&req, page, total, rows))
}

fn csv_field(s: &str) -> String {
    // Quote everything, double quotes inside, and defuse spreadsheet formulas.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    format!("\"{}\"", s.replace('"', "\"\""))
}

fn csv_line(r: &AuditRecord) -> String {
    let o = |v: &Option<String>| v.clone().unwrap_or_default();
    [
        r.id.clone(),
        r.ts.clone(),
        o(&r.tenant_id),
        r.actor_type.clone(),
        o(&r.actor_id),
        r.action.clone(),
        o(&r.target),
        r.outcome.clone(),
        o(&r.ip),
        o(&r.user_agent),
        o(&r.request_id),
        r.details.to_string(),
    ]
    .iter()
    .map(|f| csv_field(f))
    .collect::<Vec<_>>()
    .join(",")
        + "\n"
}

/// Streamed export (`format=jsonl` or `csv`) with the same filters as the list.
#[utoipa::path(get, path = "/api/admin/audit/export", tag = "audit",
    params(("format" = Option<String>, Query, description = "jsonl (default) or csv")),
    responses((status = 200, description = "JSON lines or CSV")))]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AuditRead>,
    meta: Meta,
) -> Result<HttpResponse, ApiError> {
    let (f, format) = filter(&caller, &meta, &req)?;
    let csv = match format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "must be jsonl or csv")),
    };
    let (ctype, ext) = if csv {
        ("text/csv; charset=utf-8", "csv")
    } else {
        ("application/x-ndjson", "jsonl")
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"audit.{ext}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(export_stream(state.app.clone(), f, csv)))
}

/// The export's body: a page of records at a time, read only when the client has taken the
/// one before, so a connection is held just for a page's query (never while a slow or stalled
/// client reads) and memory holds one page.
fn export_stream(
    app: crate::app::App,
    f: Filter,
    csv: bool,
) -> impl futures_util::Stream<Item = Result<web::Bytes, std::io::Error>> {
    struct Cursor {
        before: Option<i64>,
        first: bool,
        done: bool,
    }
    let start = Cursor {
        before: None,
        first: true,
        done: false,
    };
    stream::unfold(start, move |mut cur| {
        let (app, f) = (app.clone(), f.clone());
        async move {
            if cur.done {
                return None;
            }
            let page = match audit_app::export_page(&app, f, cur.before).await {
                Ok(p) => p,
                Err(e) => {
                    log::error!("audit export failed: {e}");
                    cur.done = true;
                    return Some((Err(std::io::Error::other("export failed")), cur));
                }
            };
            let mut buf = String::new();
            if cur.first && csv {
                buf.push_str("id,ts,tenant_id,actor_type,actor_id,action,target,outcome,ip,user_agent,request_id,details\n");
            }
            cur.first = false;
            cur.done = page.len() < EXPORT_PAGE;
            for (seq, r) in page {
                cur.before = Some(seq);
                if csv {
                    buf.push_str(&csv_line(&r));
                } else {
                    buf.push_str(&serde_json::to_string(&r).unwrap_or_default());
                    buf.push('\n');
                }
            }
            Some((Ok(web::Bytes::from(buf)), cur))
        }
    })
}
