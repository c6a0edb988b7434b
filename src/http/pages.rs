//! The browser side: the sign-in page, the console for the signed-in user, their assets, and
//! the Swagger UI playground, all served from the binary (the lab is air-gapped: no CDN).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::AppState;
use super::auth;
use crate::domain::settings::Module;

const LOGIN_HTML: &str = include_str!("pages/login.html");
const CONSOLE_HTML: &str = include_str!("pages/console.html");
const LOGIN_JS: &str = include_str!("pages/login.js");
const CONSOLE_JS: &str = include_str!("pages/console.js");
const CSS: &str = include_str!("pages/labgate.css");
const FORGOT_HTML: &str = include_str!("pages/forgot.html");
const RESET_HTML: &str = include_str!("pages/reset.html");
const INVITE_HTML: &str = include_str!("pages/invite.html");
const ACCOUNT_JS: &str = include_str!("pages/account.js");
const PASSKEY_JS: &str = include_str!("pages/passkey.js");
const UI_JS: &str = include_str!("pages/ui.js");

/// Pages run only their own scripts and styles, embed nothing and are embedded nowhere.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The template with each `{{key}}` replaced by its value, in one pass: a value is never read
/// again, so one holding `{{...}}` stays as it is.
fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(i) = rest.find("{{") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let known = after.find("}}").and_then(|j| {
            let key = &after[..j];
            values.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v, j))
        });
        match known {
            Some((v, j)) => {
                out.push_str(v);
                rest = &after[j + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn page(html: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// `GET /login`: email and password, then the TOTP step when needed. `?rd=` names where to go
/// after signing in; it is kept (in the page, escaped) only when its host is one of
/// `LABGATE_FORWARD_AUTH_HOSTS`, so the page never sends anyone to a host it was not told of.
pub async fn login(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let rd = serde_urlencoded::from_str::<Vec<(String, String)>>(req.query_string())
        .ok()
        .and_then(|q| q.into_iter().find(|(k, _)| k == "rd"))
        .and_then(|(_, v)| state.config.forward_return(&v));
    let html = match rd {
        Some(url) => LOGIN_HTML.replacen(
            "<body class=\"narrow\">",
            &format!("<body class=\"narrow\" data-rd=\"{}\">", escape(&url)),
            1,
        ),
        None => LOGIN_HTML.to_string(),
    };
    page(html)
}

/// `GET /forgot-password`: asks for a reset link (linked from the sign-in page).
pub async fn forgot_password() -> HttpResponse {
    page(FORGOT_HTML.to_string())
}

/// `GET /reset-password`: the mailed link's page (`#token=` stays in the browser); sets a new
/// password with the token.
pub async fn reset_password() -> HttpResponse {
    page(RESET_HTML.to_string())
}

/// `GET /invite`: the invitation link's page; accepts it with a name and a password.
pub async fn invite() -> HttpResponse {
    page(INVITE_HTML.to_string())
}

/// `GET /` and `GET /console`: the signed-in user's console; without a session, the sign-in
/// page (the browser keeps the address fragment across the redirect, so the sign-in returns to
/// the view asked for). A session that a `require_mfa: "all"` policy confines to its own
/// account still gets the console, showing only the account view and how to enroll, instead
/// of being sent back to the sign-in page.
pub async fn console(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    use actix_web::HttpMessage;
    let to_login = || {
        HttpResponse::SeeOther()
            .insert_header((header::LOCATION, "/login"))
            .finish()
    };
    let (caller, confined) = match auth::authenticate(&req, &state).await {
        Ok(c) => (c, false),
        Err(e) if e.code == crate::domain::error::Code::MfaRequired => {
            // The policy refused after identifying the caller, and kept it on the request.
            match req.extensions().get::<auth::Caller>().cloned() {
                Some(c) => (c, true),
                None => return to_login(),
            }
        }
        Err(_) => return to_login(),
    };
    let Some(user) = caller.user.clone() else {
        return to_login();
    };
    let blocked = caller.mfa_blocked.names();
    let usable: Vec<&str> = if confined {
        Vec::new()
    } else {
        caller
            .caps
            .names()
            .into_iter()
            .filter(|c| !blocked.contains(c))
            .collect()
    };
    let gate = if confined {
        "all"
    } else if !blocked.is_empty() {
        "admins"
    } else {
        ""
    };
    // The modules the tenant has turned off: their views say so instead of failing.
    let off: Vec<&str> = match auth::tenant_settings(&state, &caller.tenant.id).await {
        Ok(s) => [
            (Module::Exercises, "exercises"),
            (Module::Noise, "noise"),
            (Module::ApiKeys, "api_keys"),
        ]
        .into_iter()
        .filter(|(m, _)| !s.features.enabled(*m))
        .map(|(_, n)| n)
        .collect(),
        Err(_) => Vec::new(),
    };
    let name = if user.name.is_empty() {
        &user.email
    } else {
        &user.name
    };
    let html = fill(
        CONSOLE_HTML,
        &[
            ("caps", &escape(&usable.join(","))),
            ("gate", gate),
            ("off", &off.join(",")),
            ("user_id", &escape(&user.user_id)),
            ("tenant_id", &escape(&caller.tenant.id)),
            ("name", &escape(name)),
            ("email", &escape(&user.email)),
            ("tenant", &escape(&caller.tenant.slug)),
            ("mfa_on", if user.mfa_enabled { "true" } else { "false" }),
        ],
    );
    page(html)
}

/// An asset's entity tag: a digest of the bytes built into this binary, so a browser keeps
/// its copy until an upgrade changes it (computed once per asset).
fn etag(name: &'static str, body: &'static [u8]) -> String {
    use sha2::{Digest, Sha256};
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static TAGS: OnceLock<Mutex<HashMap<&'static str, String>>> = OnceLock::new();
    let mut tags = TAGS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    tags.entry(name)
        .or_insert_with(|| {
            let d = Sha256::digest(body);
            let hex: String = d[..12].iter().map(|b| format!("{b:02x}")).collect();
            format!("\"{hex}\"")
        })
        .clone()
}

/// Assets are cacheable: every answer carries its tag, and a browser asking again with that
/// tag (`If-None-Match`) gets 304 and no body. `no-cache` makes it ask each time, which costs
/// a round trip of headers, never the file again.
fn cached(
    req: &HttpRequest,
    name: &'static str,
    body: &'static [u8],
    variant: &str,
) -> Result<String, HttpResponse> {
    let tag = format!("\"{}-{variant}\"", etag(name, body).trim_matches('"'));
    let matches = req
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == tag || t == "*");
    if matches {
        return Err(HttpResponse::NotModified()
            .insert_header((header::ETAG, tag))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .insert_header((header::VARY, "Accept-Encoding"))
            .finish());
    }
    Ok(tag)
}

/// `GET /assets/{name}`: the pages' own scripts and stylesheet.
pub async fn asset(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let (name, body, ctype): (&'static str, &'static str, _) = match name.as_str() {
        "login.js" => ("login.js", LOGIN_JS, "text/javascript; charset=utf-8"),
        "console.js" => ("console.js", CONSOLE_JS, "text/javascript; charset=utf-8"),
        "account.js" => ("account.js", ACCOUNT_JS, "text/javascript; charset=utf-8"),
        "passkey.js" => ("passkey.js", PASSKEY_JS, "text/javascript; charset=utf-8"),
        "ui.js" => ("ui.js", UI_JS, "text/javascript; charset=utf-8"),
        "labgate.css" => ("labgate.css", CSS, "text/css; charset=utf-8"),
        _ => return HttpResponse::NotFound().finish(),
    };
    let tag = match cached(&req, name, body.as_bytes(), "id") {
        Ok(tag) => tag,
        Err(not_modified) => return not_modified,
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag))
        .body(body)
}

/// `GET /api-playground` without the trailing slash.
pub async fn playground_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect()
        .insert_header((header::LOCATION, "/api-playground/"))
        .finish()
}

const SWAGGER_HTML: &str = include_str!("pages/playground.html");
const SWAGGER_INIT: &str = include_str!("pages/playground.js");
const SWAGGER_BUNDLE_GZ: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui-bundle.js.gz"));
const SWAGGER_CSS_GZ: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/swagger-ui.css.gz"));
const SWAGGER_LICENSE: &str = concat!(
    include_str!(concat!(env!("OUT_DIR"), "/swagger-ui-NOTICE")),
    "\n",
    include_str!(concat!(env!("OUT_DIR"), "/swagger-ui-LICENSE"))
);

/// The playground's policy: Swagger UI sets inline styles on its elements, and the "Try it
/// out" requests go to this server only.
const SWAGGER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Whether the client takes gzip: an explicit `gzip` entry decides over `*`.
fn accepts_gzip(req: &HttpRequest) -> bool {
    // (coding, accepted) for each listed coding; an explicit `gzip` entry decides over `*`.
    let listed: Vec<(String, bool)> = req
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|e| {
            let mut parts = e.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name, !refused)
        })
        .collect();
    match listed.iter().find(|(n, _)| n == "gzip") {
        Some((_, ok)) => *ok,
        None => listed.iter().any(|(n, ok)| n == "*" && *ok),
    }
}

/// A compressed asset as the client takes it: the stored gzip bytes when it accepts gzip (every
/// browser does), else unpacked once and kept.
fn gzipped(
    req: &HttpRequest,
    name: &'static str,
    gz: &'static [u8],
    plain: &'static std::sync::OnceLock<Vec<u8>>,
    ctype: &str,
) -> HttpResponse {
    let takes_gzip = accepts_gzip(req);
    // Each encoding is its own representation, with its own tag.
    let tag = match cached(req, name, gz, if takes_gzip { "gz" } else { "id" }) {
        Ok(tag) => tag,
        Err(not_modified) => return not_modified,
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag))
        .insert_header((header::VARY, "Accept-Encoding"));
    if takes_gzip {
        res.insert_header((header::CONTENT_ENCODING, "gzip"));
        return res.body(gz);
    }
    let body = plain.get_or_init(|| {
        use std::io::Read;
        let mut out = Vec::new();
        // Compressed by the build from a known archive: it unpacks.
        let _ = flate2::read::GzDecoder::new(gz).read_to_end(&mut out);
        out
    });
    res.body(body.as_slice())
}

/// `GET /api-playground/{file}`: Swagger UI from the binary, reading the generated document;
/// "Authorize" takes a token.
pub async fn playground(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    static BUNDLE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    static CSS: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let (name, body, ctype): (&'static str, &'static [u8], &str) = match file.as_str() {
        "" | "index.html" => {
            return HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CONTENT_SECURITY_POLICY, SWAGGER_CSP))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(SWAGGER_HTML);
        }
        "swagger-initializer.js" => (
            "swagger-initializer.js",
            SWAGGER_INIT.as_bytes(),
            "text/javascript; charset=utf-8",
        ),
        "swagger-ui-bundle.js" => {
            let js = "text/javascript; charset=utf-8";
            return gzipped(&req, "swagger-ui-bundle.js", SWAGGER_BUNDLE_GZ, &BUNDLE, js);
        }
        "swagger-ui.css" => {
            let css = "text/css; charset=utf-8";
            return gzipped(&req, "swagger-ui.css", SWAGGER_CSS_GZ, &CSS, css);
        }
        "LICENSE" => (
            "LICENSE",
            SWAGGER_LICENSE.as_bytes(),
            "text/plain; charset=utf-8",
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    let tag = match cached(&req, name, body, "id") {
        Ok(tag) => tag,
        Err(not_modified) => return not_modified,
    };
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, ctype))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::ETAG, tag))
        .body(body)
}
