//! The route table: one row per route, carrying everything labgate knows about it: method,
//! path, handler, which API-key service reaches it, the feature module that can switch it off,
//! its rate limit, whether answers are `no-store`, whether it is public, and its OpenAPI
//! operation id. The router, the pipeline (limits, cache headers), the authenticator (key scope,
//! feature flags, the MFA policy's open routes) and the API document all read this table; none
//! keeps a list of its own.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::http::Method;
use actix_web::{HttpMessage, web};

use super::routes::{
    account, admin, admin_users, api_keys, audit, auth, exercises, noise, passkeys, platform,
    security, setup, status, tokens,
};
use crate::domain::api_key::Service;
use crate::domain::settings::Module;

/// Which API keys reach a route (SPEC §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyReach {
    /// Keys get 404, as if the route did not exist.
    Never,
    /// Any valid key (`/api/ping`, `/api/auth/me`).
    Any,
    /// Keys holding this service.
    Service(Service),
}

/// The rate limit a route counts against (SPEC §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    General,
    Login,
    ChangePassword,
    MfaValidate,
    ForgotPassword,
    Invite,
    ResetPassword,
    Setup,
    Exempt,
}

impl Limit {
    /// The `limit` label of `labgate_rate_limited_total`.
    pub fn name(self) -> &'static str {
        match self {
            Limit::General => "general",
            Limit::Login => "login",
            Limit::ChangePassword => "change_password",
            Limit::MfaValidate => "mfa_validate",
            Limit::ForgotPassword => "forgot_password",
            Limit::Invite => "invite",
            Limit::ResetPassword => "reset_password",
            Limit::Setup => "setup",
            Limit::Exempt => "exempt",
        }
    }
}

pub struct Row {
    pub method: Method,
    /// Relative to `/api` (and `/api/v1`).
    pub path: &'static str,
    /// Attaches the handler to a route of the right method.
    pub handler: fn(actix_web::Route) -> actix_web::Route,
    /// `module_fn`, unique: the OpenAPI operation id.
    pub operation_id: &'static str,
    pub keys: KeyReach,
    pub module: Option<Module>,
    pub limit: Limit,
    /// `Cache-Control: no-store` on every answer (credentials, tokens, keys).
    pub no_store: bool,
    /// No credential needed (`security: []` in the document).
    pub public: bool,
    /// Reachable by a session without a second factor under `require_mfa: all`.
    pub mfa_open: bool,
}

impl Row {
    fn new(
        method: Method,
        path: &'static str,
        handler: fn(actix_web::Route) -> actix_web::Route,
        operation_id: &'static str,
    ) -> Row {
        // Families share their rules; a row may still say otherwise below.
        let under = |p: &str| path == p || path.starts_with(&format!("{p}/"));
        let keys = if under("/sessions") {
            KeyReach::Service(Service::Exercises)
        } else if under("/noise") {
            KeyReach::Service(Service::Noise)
        } else if under("/platform-status") {
            KeyReach::Service(Service::PlatformStatus)
        } else if under("/admin/audit") {
            KeyReach::Service(Service::Audit)
        } else if under("/admin/users") || under("/admin/roles") || under("/admin/invitations") {
            KeyReach::Service(Service::Users)
        } else if under("/admin/settings") || under("/admin/security") {
            KeyReach::Service(Service::Settings)
        } else {
            KeyReach::Never
        };
        let module = if under("/sessions") {
            Some(Module::Exercises)
        } else if under("/noise") {
            Some(Module::Noise)
        } else if under("/api-keys") {
            Some(Module::ApiKeys)
        } else {
            None
        };
        let no_store = no_store_path(path);
        Row {
            method,
            path,
            handler,
            operation_id,
            keys,
            module,
            limit: Limit::General,
            no_store,
            public: false,
            mfa_open: under("/auth") || path == "/ping" || path == "/health",
        }
    }
    fn limit(mut self, l: Limit) -> Row {
        self.limit = l;
        self
    }
    fn public(mut self) -> Row {
        self.public = true;
        self
    }
    fn keys(mut self, k: KeyReach) -> Row {
        self.keys = k;
        self
    }
    /// The method in the document and the router (`get`, `post`, ...).
    pub fn method_name(&self) -> &'static str {
        match self.method {
            Method::GET => "get",
            Method::POST => "post",
            Method::PUT => "put",
            Method::PATCH => "patch",
            Method::DELETE => "delete",
            _ => "other",
        }
    }
}

/// `Cache-Control: no-store` for a path relative to `/api`: credentials, tokens and keys (also
/// for a path of those families that matches no route).
pub fn no_store_path(rel: &str) -> bool {
    ["/auth", "/tokens", "/api-keys", "/setup"]
        .iter()
        .any(|p| rel == *p || rel.starts_with(&format!("{p}/")))
}

macro_rules! row {
    ($m:ident $path:literal => $module:ident :: $f:ident) => {
        Row::new(
            Method::$m,
            $path,
            |r| r.to($module::$f),
            concat!(stringify!($module), "_", stringify!($f)),
        )
    };
}

fn build() -> Vec<Row> {
    use KeyReach::Any;
    use Limit::*;
    vec![
        row!(GET "/health" => status::health).public().limit(Exempt),
        row!(GET "/ping" => status::ping).keys(Any),
        row!(POST "/setup" => setup::setup).public().limit(Setup),
        row!(POST "/auth/login" => auth::login)
            .public()
            .limit(Login),
        row!(POST "/auth/refresh" => auth::refresh).public(),
        row!(POST "/auth/logout" => auth::logout),
        row!(GET "/auth/me" => auth::me).keys(Any),
        row!(GET "/auth/public-key" => auth::public_key).public(),
        row!(POST "/auth/mfa/setup" => account::mfa_setup),
        row!(POST "/auth/mfa/validate" => account::mfa_validate).limit(MfaValidate),
        row!(POST "/auth/mfa/disable" => account::mfa_disable),
        row!(POST "/auth/mfa/recovery-codes" => account::mfa_recovery_codes).limit(MfaValidate),
        row!(POST "/auth/change-password" => account::change_password).limit(ChangePassword),
        row!(POST "/auth/forgot-password" => account::forgot_password)
            .public()
            .limit(ForgotPassword),
        row!(POST "/auth/reset-password" => account::reset_password)
            .public()
            .limit(ResetPassword),
        row!(GET "/auth/sessions" => account::my_sessions),
        row!(DELETE "/auth/sessions/{id}" => account::end_my_session),
        row!(GET "/auth/tenants" => account::my_tenants),
        row!(POST "/auth/switch-tenant" => account::switch_tenant),
        row!(POST "/auth/invite" => account::accept_invitation)
            .public()
            .limit(Invite),
        row!(GET "/auth/verify-email" => account::verify_email).public(),
        row!(GET "/auth/verify" => auth::verify),
        row!(POST "/auth/passkeys/register/start" => passkeys::register_start),
        row!(POST "/auth/passkeys/register/finish" => passkeys::register_finish),
        row!(GET "/auth/passkeys" => passkeys::list),
        row!(DELETE "/auth/passkeys/{id}" => passkeys::remove),
        // A passkey sign-in counts once against the login limit, at its finish, like a
        // password sign-in; its start only hands out a challenge.
        row!(POST "/auth/passkeys/login/start" => passkeys::login_start).public(),
        row!(POST "/auth/passkeys/login/finish" => passkeys::login_finish)
            .public()
            .limit(Login),
        row!(GET "/admin/users" => admin_users::list),
        row!(POST "/admin/users" => admin_users::create),
        row!(GET "/admin/users/{id}" => admin_users::get),
        row!(PATCH "/admin/users/{id}" => admin_users::update),
        row!(DELETE "/admin/users/{id}" => admin_users::delete),
        row!(POST "/admin/users/{id}/reset-password" => admin_users::reset_password),
        row!(GET "/admin/sessions" => admin_users::sessions_list),
        row!(DELETE "/admin/sessions/{id}" => admin_users::sessions_end),
        row!(GET "/admin/roles" => admin::roles_list),
        row!(POST "/admin/roles" => admin::roles_create),
        row!(GET "/admin/roles/{id}" => admin::roles_get),
        row!(PUT "/admin/roles/{id}" => admin::roles_update),
        row!(DELETE "/admin/roles/{id}" => admin::roles_delete),
        row!(GET "/admin/invitations" => admin::invitations_list),
        row!(POST "/admin/invitations" => admin::invite),
        row!(DELETE "/admin/invitations/{id}" => admin::invitations_revoke),
        row!(GET "/admin/settings" => admin::settings_get),
        row!(PUT "/admin/settings" => admin::settings_put),
        row!(POST "/admin/security/leaked-credentials" => security::leaked),
        row!(GET "/admin/security/ip-allowlist" => security::allow_list),
        row!(POST "/admin/security/ip-allowlist" => security::allow_add),
        row!(DELETE "/admin/security/ip-allowlist/{id}" => security::allow_remove),
        row!(GET "/admin/security/ip-blocklist" => security::block_list),
        row!(POST "/admin/security/ip-blocklist" => security::block_add),
        row!(DELETE "/admin/security/ip-blocklist/{id}" => security::block_remove),
        row!(POST "/sessions/start" => exercises::start),
        row!(DELETE "/sessions" => exercises::end),
        row!(GET "/sessions" => exercises::list),
        row!(GET "/noise/profiles" => noise::profiles),
        row!(GET "/noise/sinks" => noise::sinks_list),
        row!(POST "/noise/sinks" => noise::sinks_create),
        row!(GET "/noise/sinks/{id}" => noise::sinks_get),
        row!(PATCH "/noise/sinks/{id}" => noise::sinks_update),
        row!(DELETE "/noise/sinks/{id}" => noise::sinks_delete),
        row!(POST "/noise/run" => noise::run),
        row!(GET "/noise/runs" => noise::runs_list),
        row!(GET "/noise/runs/{id}" => noise::runs_get),
        row!(GET "/noise/schedules" => noise::schedules_list),
        row!(POST "/noise/schedules" => noise::schedules_create),
        row!(GET "/noise/schedules/{id}" => noise::schedules_get),
        row!(PATCH "/noise/schedules/{id}" => noise::schedules_update),
        row!(DELETE "/noise/schedules/{id}" => noise::schedules_delete),
        row!(GET "/platform-status" => platform::status),
        row!(GET "/platform-status/events" => platform::events).limit(Exempt),
        row!(GET "/admin/audit" => audit::list),
        row!(GET "/admin/audit/export" => audit::export),
        row!(POST "/tokens" => tokens::create),
        row!(GET "/tokens" => tokens::list),
        row!(DELETE "/tokens/{id}" => tokens::revoke),
        row!(POST "/api-keys" => api_keys::create),
        row!(GET "/api-keys" => api_keys::list),
        row!(GET "/api-keys/{id}" => api_keys::get),
        row!(PATCH "/api-keys/{id}" => api_keys::update),
        row!(DELETE "/api-keys/{id}" => api_keys::delete),
        row!(GET "/api-keys/{id}/secret" => api_keys::reveal),
        row!(POST "/api-keys/{id}/shares" => api_keys::share),
        row!(DELETE "/api-keys/{id}/shares/{user_id}" => api_keys::unshare),
    ]
}

/// Every route, built once.
pub fn table() -> &'static [Row] {
    static TABLE: OnceLock<Vec<Row>> = OnceLock::new();
    TABLE.get_or_init(build)
}

/// The rows of each path, for matching a request path to its routes.
struct Index {
    exact: HashMap<&'static str, Vec<&'static Row>>,
    /// Paths with `{param}` segments, split.
    patterned: Vec<(Vec<&'static str>, Vec<&'static Row>)>,
}

fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut exact: HashMap<&'static str, Vec<&'static Row>> = HashMap::new();
        let mut patterned: Vec<(Vec<&'static str>, Vec<&'static Row>)> = Vec::new();
        for r in table() {
            if r.path.contains('{') {
                let segs: Vec<&'static str> = r.path.split('/').collect();
                match patterned.iter_mut().find(|(s, _)| *s == segs) {
                    Some((_, rows)) => rows.push(r),
                    None => patterned.push((segs, vec![r])),
                }
            } else {
                exact.entry(r.path).or_default().push(r);
            }
        }
        Index { exact, patterned }
    })
}

/// The routes of a request, found once by the pipeline and kept in its extensions.
#[derive(Clone, Copy)]
pub struct Matched {
    /// Every route of the request's path (any method); empty for an unknown path.
    pub at_path: &'static [&'static Row],
    /// The route of the request's method (`HEAD` finds `GET`).
    pub row: Option<&'static Row>,
    /// The path is under `/api` (or `/api/v1`).
    pub api: bool,
    /// Answers carry `Cache-Control: no-store`.
    pub no_store: bool,
}

impl Matched {
    /// What holds for the path whatever the method (all rows of a path share these).
    pub fn path_row(&self) -> Option<&'static Row> {
        self.row.or_else(|| self.at_path.first().copied())
    }

    /// The match stored on the request by the pipeline (or found now).
    pub fn of(req: &actix_web::HttpRequest) -> Matched {
        if let Some(m) = req.extensions().get::<Matched>() {
            return *m;
        }
        find(req.method(), req.match_info().as_str())
    }
}

static EMPTY: [&Row; 0] = [];

/// Matches a (decoded) request path, `/api/...` or `/api/v1/...`, to its routes.
pub fn find(method: &Method, path: &str) -> Matched {
    let rel = path
        .strip_prefix("/api/v1")
        .filter(|r| r.is_empty() || r.starts_with('/'))
        .or_else(|| {
            path.strip_prefix("/api")
                .filter(|r| r.is_empty() || r.starts_with('/'))
        });
    let Some(rel) = rel else {
        return Matched {
            at_path: &EMPTY,
            row: None,
            api: false,
            no_store: false,
        };
    };
    let idx = index();
    let at_path: &'static [&'static Row] = match idx.exact.get(rel) {
        Some(rows) => rows,
        None => {
            let segs: Vec<&str> = rel.split('/').collect();
            idx.patterned
                .iter()
                .find(|(p, _)| {
                    p.len() == segs.len()
                        && p.iter().zip(&segs).all(|(p, s)| {
                            if p.starts_with('{') {
                                !s.is_empty()
                            } else {
                                p == s
                            }
                        })
                })
                .map(|(_, rows)| rows.as_slice())
                .unwrap_or(&EMPTY)
        }
    };
    let want = if *method == Method::HEAD {
        &Method::GET
    } else {
        method
    };
    Matched {
        at_path,
        row: at_path.iter().find(|r| r.method == *want).copied(),
        api: true,
        no_store: no_store_path(rel),
    }
}

/// Registers every route: the methods of one path form one resource, `HEAD` is answered on
/// every `GET`, and any other method answers 405 with `Allow`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    let mut paths: Vec<&'static str> = Vec::new();
    for r in table() {
        if !paths.contains(&r.path) {
            paths.push(r.path);
        }
    }
    for path in paths {
        let mut res = web::resource(path);
        let mut allow: Vec<&'static str> = Vec::new();
        for r in table().iter().filter(|r| r.path == path) {
            res = res.route((r.handler)(web::method(r.method.clone())));
            allow.push(r.method.as_str());
            if r.method == Method::GET {
                res = res.route((r.handler)(web::head()));
                allow.push("HEAD");
            }
        }
        let allow = allow.join(", ");
        res = res.default_service(web::to(move || {
            let allow = allow.clone();
            async move {
                let mut res =
                    actix_web::ResponseError::error_response(&super::error::ApiError::from_status(
                        actix_web::http::StatusCode::METHOD_NOT_ALLOWED,
                    ));
                if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&allow) {
                    res.headers_mut().insert(actix_web::http::header::ALLOW, v);
                }
                res
            }
        }));
        cfg.service(res);
    }
}

/// The `route` labels of `labgate_http_requests_total` that are not in the table: the pages,
/// the document, and everything no route matched.
const OTHER_ROUTES: [&str; 11] = [
    "/",
    "/console",
    "/login",
    "/forgot-password",
    "/reset-password",
    "/invite",
    "/assets/{name}",
    "/api-docs/openapi.json",
    "/api-playground",
    "/api-playground/{tail}",
    "unmatched",
];

/// Each table row's metric slot (rows of one path share it), then `OTHER_ROUTES`.
struct Slots {
    of_row: Vec<usize>,
    names: Vec<String>,
}

fn slots() -> &'static Slots {
    static SLOTS: OnceLock<Slots> = OnceLock::new();
    SLOTS.get_or_init(|| {
        let mut names: Vec<String> = Vec::new();
        let of_row = table()
            .iter()
            .map(|r| {
                let name = format!("/api{}", r.path);
                match names.iter().position(|n| *n == name) {
                    Some(i) => i,
                    None => {
                        names.push(name);
                        names.len() - 1
                    }
                }
            })
            .collect();
        names.extend(OTHER_ROUTES.iter().map(|s| s.to_string()));
        Slots { of_row, names }
    })
}

/// The route labels, in slot order (`Metrics::enable`).
pub fn metric_routes() -> Vec<String> {
    slots().names.clone()
}

/// The route pattern of a metric slot (the `route` of metrics and JSON log lines).
pub fn metric_route(slot: usize) -> &'static str {
    slots().names.get(slot).map_or("unmatched", String::as_str)
}

/// The metric slot of an answered request: its route's pattern, never its raw path.
pub fn metric_slot(req: &actix_web::HttpRequest) -> usize {
    let s = slots();
    let other = |name: &str| {
        let at = OTHER_ROUTES.iter().position(|o| *o == name);
        s.names.len() - OTHER_ROUTES.len() + at.unwrap_or(OTHER_ROUTES.len() - 1)
    };
    let m = Matched::of(req);
    if m.api {
        return match m.path_row() {
            Some(r) => {
                // Rows live in one vector: a row's index is its offset in it.
                let at = (r as *const Row as usize - table().as_ptr() as usize)
                    / std::mem::size_of::<Row>();
                s.of_row
                    .get(at)
                    .copied()
                    .unwrap_or_else(|| other("unmatched"))
            }
            None => other("unmatched"),
        };
    }
    match req.match_pattern() {
        Some(p) if p.starts_with("/api-playground/") => other("/api-playground/{tail}"),
        Some(p) => other(&p),
        None => other("unmatched"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_limit_that_refuses_has_its_metric_label() {
        use Limit::*;
        for l in [
            General,
            Login,
            ChangePassword,
            MfaValidate,
            ForgotPassword,
            Invite,
            ResetPassword,
            Setup,
        ] {
            assert!(crate::metrics::RATE_LIMITS.contains(&l.name()), "{l:?}");
        }
    }

    #[test]
    fn every_route_has_one_metric_label_and_labels_are_unique() {
        let names = metric_routes();
        let unique: std::collections::HashSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        for (i, r) in table().iter().enumerate() {
            assert_eq!(names[slots().of_row[i]], format!("/api{}", r.path));
        }
        assert_eq!(metric_route(usize::MAX), "unmatched");
    }

    #[test]
    fn operation_ids_are_unique_and_every_path_is_found() {
        let mut ids = std::collections::HashSet::new();
        for r in table() {
            assert!(ids.insert(r.operation_id), "{} twice", r.operation_id);
            let concrete = r.path.replace("{id}", "x").replace("{user_id}", "y");
            for base in ["/api", "/api/v1"] {
                let m = find(&r.method, &format!("{base}{concrete}"));
                assert!(
                    m.row.is_some_and(|x| std::ptr::eq(x, r)),
                    "{} {base}{concrete} does not find its row",
                    r.method
                );
            }
        }
        assert!(find(&Method::GET, "/api/nope").at_path.is_empty());
        assert!(!find(&Method::GET, "/apix/health").api);
        assert!(find(&Method::HEAD, "/api/health").row.is_some());
        assert!(find(&Method::PUT, "/api/health").row.is_none());
    }

    #[test]
    fn families_carry_their_rules() {
        let row = |m: Method, p: &str| find(&m, p).row.unwrap();
        assert_eq!(
            row(Method::GET, "/api/admin/users").keys,
            KeyReach::Service(Service::Users)
        );
        assert_eq!(
            row(Method::GET, "/api/admin/sessions").keys,
            KeyReach::Never
        );
        assert_eq!(row(Method::GET, "/api/auth/me").keys, KeyReach::Any);
        assert_eq!(row(Method::GET, "/api/auth/sessions").keys, KeyReach::Never);
        assert_eq!(
            row(Method::POST, "/api/noise/run").module,
            Some(Module::Noise)
        );
        assert!(row(Method::GET, "/api/tokens").no_store);
        assert!(!row(Method::GET, "/api/health").no_store);
        assert_eq!(row(Method::POST, "/api/auth/login").limit, Limit::Login);
        assert!(row(Method::POST, "/api/auth/login").public);
        assert!(!row(Method::POST, "/api/auth/logout").public);
    }
}
