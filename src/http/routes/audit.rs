//! The audit log (capability `audit.read`): list with filters, and a streamed export.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::stream;
use serde::Deserialize;

use crate::domain::time;
use crate::http::AppState;
use crate::http::auth::{AuditRead, Caller, Require};
use crate::http::error::ApiError;
use crate::http::extract::{Page, paged, url_pairs};
use crate::store::audit::{self, AuditRecord, Filter};
use crate::store::{self};

#[derive(Deserialize, Default)]
struct Query {
    actor: Option<String>,
    action: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    until: Option<String>,
    format: Option<String>,
}

fn filter(caller: &Caller, req: &HttpRequest) -> Result<(Filter, Option<String>), ApiError> {
    let mut q = Query::default();
    for (k, v) in url_pairs(req.query_string()) {
        match k.as_str() {
            "actor" => q.actor = Some(v),
            "action" => q.action = Some(v),
            "outcome" => q.outcome = Some(v),
            "since" => q.since = Some(v),
            "until" => q.until = Some(v),
            "format" => q.format = Some(v),
            _ => {}
        }
    }
    if let Some(o) = &q.outcome
        && !["success", "failure", "denied"].contains(&o.as_str())
    {
        return Err(ApiError::validation(
            "outcome",
            "must be success, failure or denied",
        ));
    }
    let ts = |field: &str, v: &Option<String>| -> Result<Option<String>, ApiError> {
        v.as_deref()
            .map(|s| {
                time::parse(s)
                    .map(time::fmt)
                    .ok_or_else(|| ApiError::validation(field, "must be an RFC 3339 time"))
            })
            .transpose()
    };
    Ok((
        Filter {
            tenant_id: caller.tenant.id.clone(),
            // Events of no tenant (unknown-email logins, setup, anonymous refusals) are shown
            // to the default tenant's auditors.
            include_null_tenant: caller.tenant.slug == "default",
            actor: q.actor,
            action: q.action,
            outcome: q.outcome,
            since: ts("since", &q.since)?,
            until: ts("until", &q.until)?,
        },
        q.format,
    ))
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
    page: Page,
) -> Result<HttpResponse, ApiError> {
    let (f, _) = filter(&caller, &req)?;
    let (rows, total) = store::run(&state.pool, move |c| {
        audit::list(c, &f, page.limit, page.offset())
    })
    .await?;
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

/// Records an export reads per query.
const EXPORT_PAGE: usize = 500;

/// Streamed export (`format=jsonl` or `csv`) with the same filters as the list.
#[utoipa::path(get, path = "/api/admin/audit/export", tag = "audit",
    params(("format" = Option<String>, Query, description = "jsonl (default) or csv")),
    responses((status = 200, description = "JSON lines or CSV")))]
pub async fn export(
    state: web::Data<AppState>,
    req: HttpRequest,
    Require(caller, ..): Require<AuditRead>,
) -> Result<HttpResponse, ApiError> {
    let (f, format) = filter(&caller, &req)?;
    let csv = match format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(_) => return Err(ApiError::validation("format", "must be jsonl or csv")),
    };
    // A page of records at a time, read only when the client has taken the one before: a
    // connection is held just for a page's query, never while a slow (or stalled) client
    // reads, so exports cannot starve the pool, and memory holds one page.
    struct Cursor {
        before: Option<i64>,
        first: bool,
        done: bool,
    }
    let pool = state.pool.clone();
    let start = Cursor {
        before: None,
        first: true,
        done: false,
    };
    let body = stream::unfold(start, move |mut cur| {
        let (pool, f) = (pool.clone(), f.clone());
        async move {
            if cur.done {
                return None;
            }
            let before = cur.before;
            let page = store::run(&pool, move |c| {
                audit::page_before(c, &f, before, EXPORT_PAGE)
            })
            .await;
            let page = match page {
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
            Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), cur))
        }
    });
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
        .streaming(body))
}
