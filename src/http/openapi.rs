//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use std::sync::OnceLock;

use actix_web::http::Method;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::table::{Row, table};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::routes::{
    account, admin, admin_users, api_keys, audit, auth, exercises, noise, passkeys, platform,
    security, setup, status, tokens,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "labgate", description = "Access layer and control API of the security-lab appliance. Every route is also served under /api/v1."),
    paths(
        status::health, status::ping, setup::setup,
        auth::login, auth::refresh, auth::logout, auth::me, auth::public_key, auth::verify,
        tokens::create, tokens::list, tokens::revoke, audit::list, audit::export,
        account::mfa_setup, account::mfa_validate, account::mfa_disable, account::mfa_recovery_codes, account::change_password,
        account::forgot_password, account::reset_password, account::my_sessions, account::end_my_session,
        account::my_tenants, account::switch_tenant, account::accept_invitation, account::verify_email,
        passkeys::register_start, passkeys::register_finish, passkeys::list, passkeys::remove,
        passkeys::login_start, passkeys::login_finish,
        admin_users::list, admin_users::create, admin_users::get, admin_users::update, admin_users::delete,
        admin_users::reset_password, admin_users::sessions_list, admin_users::sessions_end,
        admin::roles_list, admin::roles_create, admin::roles_get, admin::roles_update, admin::roles_delete,
        admin::invitations_list, admin::invite, admin::invitations_revoke, admin::settings_get, admin::settings_put,
        security::leaked, security::allow_list, security::allow_add, security::allow_remove,
        security::block_list, security::block_add, security::block_remove,
        exercises::start, exercises::end, exercises::list,
        noise::profiles, noise::sinks_list, noise::sinks_create, noise::sinks_get, noise::sinks_update, noise::sinks_delete,
        noise::run, noise::runs_list, noise::runs_get,
        noise::schedules_list, noise::schedules_create, noise::schedules_get, noise::schedules_update, noise::schedules_delete,
        platform::status, platform::events,
        api_keys::create, api_keys::list, api_keys::get, api_keys::update, api_keys::delete,
        api_keys::reveal, api_keys::share, api_keys::unshare,
    ),
    components(schemas(auth::LoginRequest, auth::LoginAnswer, auth::UserView, auth::RefreshRequest, auth::Me,
                        setup::SetupRequest, super::error::FieldErrorDoc, super::error::ErrorBody,
                        tokens::CreateToken, crate::store::tokens::TokenInfo,
                        api_keys::CreateKey, api_keys::UpdateKey, api_keys::ShareKey, crate::store::api_keys::KeyInfo, crate::store::audit::AuditRecord,
                        account::MfaValidate, account::MfaDisable, account::RecoveryCodes, account::ChangePassword, account::ForgotPassword,
                        account::ResetPassword, account::SwitchTenant, account::AcceptInvitation,
                        passkeys::RegisterStart, passkeys::LoginStartRequest, passkeys::LoginFinishRequest, crate::store::passkeys::PasskeyInfo,
                        admin_users::CreateUser, admin_users::UpdateUser, admin_users::AdminReset, crate::store::users::Member,
                        admin::RoleBody, admin::InviteBody, crate::store::roles::Role, crate::store::invitations::Invitation,
                        crate::domain::settings::Settings, security::NewRule, security::LeakReport, security::LeakResults, crate::app::leaks::Finding, crate::app::leaks::State, crate::store::ip_rules::IpRule,
                        exercises::StartExercise, crate::store::exercises::Exercise, noise::RunRequest, noise::ScheduleBody,
                        crate::store::noise::Sink, crate::store::noise::Run, crate::store::noise::Schedule, crate::store::events::Event)),
    modifiers(&Security),
)]
pub struct ApiDoc;

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let c = doc.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT or lgk_ key")
                    .build(),
            ),
        );
        c.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))),
        );
        c.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("labgate_session"))),
        );
        doc.security = Some(vec![
            utoipa::openapi::security::SecurityRequirement::new("bearer", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("api_key", Vec::<String>::new()),
            utoipa::openapi::security::SecurityRequirement::new("session", Vec::<String>::new()),
        ]);
    }
}

/// The document served: the handlers' annotations completed from the route table (operation
/// ids, `security: []` on public routes, the error answers each route can give, lists in their
/// `{data, meta}` envelope). Built once.
pub fn document_json() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
        complete(doc)
    })
}

pub async fn document() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(document_json())
}

const ERROR_REF: &str = "#/components/schemas/Error";

fn error_response(status: &str) -> Value {
    let description = match status {
        "400" => {
            "malformed JSON, invalid parameter or validation error (VALIDATION_ERROR), credential in URL (CREDENTIAL_IN_URL)"
        }
        "401" => "no, invalid, expired or revoked credential",
        "403" => "authenticated but not allowed",
        "404" => {
            "no such resource in the caller's tenant, or an API key not scoped to this service"
        }
        "409" => "conflict with existing data",
        "410" => "gone",
        "413" => "body over 1 MiB (PAYLOAD_TOO_LARGE)",
        "415" => "body without a JSON content type (UNSUPPORTED_MEDIA_TYPE)",
        "423" => "account temporarily locked after failed sign-ins (ACCOUNT_LOCKED)",
        "429" => "rate limit exceeded (RATE_LIMITED)",
        "503" => "the database cannot be reached (DB_UNAVAILABLE)",
        _ => "error",
    };
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": ERROR_REF}}}})
}

/// The error statuses a route can answer, from what the table says of it.
fn error_statuses(row: &Row, has_body: bool) -> Vec<&'static str> {
    if row.operation_id == "status_health" {
        return vec!["400", "429"];
    }
    let mut v = vec!["400"];
    if row.operation_id != "auth_public_key" {
        v.extend(["401", "403"]);
    }
    if !row.public || row.path.contains('{') {
        v.push("404");
    }
    if row.method != Method::GET {
        v.push("409");
    }
    if has_body {
        v.extend(["413", "415"]);
    }
    if matches!(
        row.operation_id,
        "auth_login" | "account_mfa_validate" | "account_mfa_disable" | "passkeys_login_finish"
    ) {
        v.push("423");
    }
    if row.operation_id == "setup_setup" {
        v.push("410");
    }
    v.extend(["429", "503"]);
    v
}

/// Printable text of 1-100 characters, not blank: what `domain::ids::display_name` accepts.
const NAME: &str = r"^[^\u0000-\u001f\u007f-\u009f]*[^\s\u0000-\u001f\u007f-\u009f][^\u0000-\u001f\u007f-\u009f]*$";
/// A role name: 1-64 letters, digits, `-`, `_`, `.`.
const ROLE_NAME: &str = r"^[A-Za-z0-9._-]{1,64}$";
/// A bare email address (`domain::ids::Email`).
const EMAIL: &str = r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$";
/// A network, `10.20.0.0/16` or `2001:db8::/32` (an address alone is one host).
const CIDR: &str = r"^(((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(/(3[0-2]|[12]?[0-9]))?|[0-9a-fA-F:]*:[0-9a-fA-F:]*(/(12[0-8]|1[01][0-9]|[1-9]?[0-9]))?)$";
/// An `lgx_`, `lgr_` ... token's shape (the checksum is checked by the server).
const TOKEN: &str = r"^lg[a-z]_[0-9A-Za-z]{38}$";

/// The constraints the server enforces on request fields, stated in the document: for each
/// schema, each property's extra keywords (merged over what the types give).
fn field_rules() -> Vec<(&'static str, &'static str, Value)> {
    let text = |min: u64, max: u64| json!({"minLength": min, "maxLength": max});
    let name = json!({"pattern": NAME, "maxLength": 100});
    let password = json!({"minLength": 12, "maxLength": 256});
    let email = json!({"pattern": EMAIL, "maxLength": 254});
    let roles = json!({"minItems": 1, "items": {"pattern": ROLE_NAME}});
    let caps = json!({"items": {"enum": ["manage_exercises", "manage_noise_logs", "manage_api_keys", "admin.users", "admin.settings", "audit.read"]}});
    let count = json!({"minimum": 1, "maximum": 1_000_000});
    let profile = json!({"enum": ["web-access", "auth", "dns", "windows-security", "firewall"]});
    vec![
        ("LoginRequest", "email", text(1, 254)),
        ("LoginRequest", "password", text(1, 256)),
        ("LoginRequest", "totp_code", text(1, 64)),
        ("SetupRequest", "setup_token", json!({"pattern": TOKEN})),
        ("SetupRequest", "email", email.clone()),
        ("SetupRequest", "password", password.clone()),
        ("SetupRequest", "name", name.clone()),
        ("RefreshRequest", "refresh_token", json!({"pattern": TOKEN})),
        ("CreateToken", "name", name.clone()),
        (
            "CreateToken",
            "expires_in",
            json!({"enum": ["15d", "30d", "90d", "1y", "2y", "never"]}),
        ),
        ("CreateKey", "name", name.clone()),
        (
            "CreateKey",
            "services",
            json!({"type": "object", "minProperties": 1, "additionalProperties": false,
            "properties": {"exercises": {"enum": ["read", "write"]}, "noise": {"enum": ["read", "write"]},
                           "platform-status": {"enum": ["read", "write"]}, "audit": {"enum": ["read", "write"]},
                           "users": {"enum": ["read", "write"]}, "settings": {"enum": ["read", "write"]}}}),
        ),
        ("CreateKey", "expires_at", json!({"format": "date-time"})),
        (
            "CreateKey",
            "allowed_subnets",
            json!({"items": {"pattern": CIDR}}),
        ),
        (
            "CreateKey",
            "allowed_origins",
            json!({"items": {"pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"}}),
        ),
        ("UpdateKey", "name", name.clone()),
        (
            "UpdateKey",
            "allowed_subnets",
            json!({"items": {"pattern": CIDR}}),
        ),
        (
            "UpdateKey",
            "allowed_origins",
            json!({"items": {"pattern": r"^https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?$"}}),
        ),
        (
            "UpdateKey",
            "services",
            json!({"type": ["object", "null"], "minProperties": 1, "additionalProperties": false,
            "properties": {"exercises": {"enum": ["read", "write"]}, "noise": {"enum": ["read", "write"]},
                           "platform-status": {"enum": ["read", "write"]}, "audit": {"enum": ["read", "write"]},
                           "users": {"enum": ["read", "write"]}, "settings": {"enum": ["read", "write"]}}}),
        ),
        (
            "UpdateKey",
            "expires_at",
            json!({"type": "null", "description": "refused: a key's expiry can never be changed"}),
        ),
        ("ShareKey", "user_id", json!({"format": "uuid"})),
        ("MfaValidate", "code", text(1, 64)),
        ("RecoveryCodes", "code", text(1, 64)),
        ("MfaValidate", "mfa_token", json!({"pattern": TOKEN})),
        ("RegisterStart", "name", name.clone()),
        ("LoginStartRequest", "email", text(1, 254)),
        ("LoginStartRequest", "mfa_token", json!({"pattern": TOKEN})),
        ("LoginStartRequest", "tenant", text(1, 100)),
        ("MfaDisable", "password", text(1, 256)),
        ("MfaDisable", "code", text(1, 64)),
        ("ChangePassword", "current_password", text(1, 256)),
        ("ChangePassword", "new_password", password.clone()),
        ("ForgotPassword", "email", text(1, 254)),
        ("ResetPassword", "token", json!({"pattern": TOKEN})),
        ("ResetPassword", "new_password", password.clone()),
        ("SwitchTenant", "tenant", text(1, 100)),
        ("AcceptInvitation", "token", json!({"pattern": TOKEN})),
        ("AcceptInvitation", "name", name.clone()),
        ("AcceptInvitation", "password", password.clone()),
        ("CreateUser", "email", email.clone()),
        (
            "CreateUser",
            "name",
            json!({"maxLength": 200, "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*$"}),
        ),
        ("CreateUser", "password", password.clone()),
        ("CreateUser", "roles", roles.clone()),
        (
            "UpdateUser",
            "name",
            json!({"maxLength": 200, "pattern": r"^[^\u0000-\u001f\u007f-\u009f]*$"}),
        ),
        (
            "UpdateUser",
            "status",
            json!({"enum": ["active", "disabled", null]}),
        ),
        ("UpdateUser", "roles", roles.clone()),
        (
            "AdminReset",
            "deliver",
            json!({"enum": ["mail", "response", null]}),
        ),
        ("InviteBody", "email", email),
        ("InviteBody", "roles", roles),
        ("RoleBody", "name", json!({"pattern": ROLE_NAME})),
        ("RoleBody", "permissions", caps),
        ("NewRule", "cidr", json!({"pattern": CIDR})),
        ("NewRule", "note", text(0, 500)),
        ("StartExercise", "name", name.clone()),
        ("StartExercise", "scenario", text(0, 500)),
        ("RunRequest", "profile", profile.clone()),
        ("RunRequest", "count", count.clone()),
        ("RunRequest", "sink", text(1, 100)),
        ("ScheduleBody", "name", name),
        ("ScheduleBody", "profile", profile),
        ("ScheduleBody", "count", count),
        (
            "ScheduleBody",
            "misfire",
            json!({"enum": ["skip", "run_once", null]}),
        ),
        ("ScheduleBody", "sink", text(1, 100)),
    ]
}

/// Merges `extra` into `target` key by key (objects recursively).
fn merge(target: &mut Value, extra: &Value) {
    match (target, extra) {
        (Value::Object(t), Value::Object(e)) => {
            for (k, v) in e {
                match t.get_mut(k) {
                    Some(tv) if tv.is_object() && v.is_object() => merge(tv, v),
                    _ => {
                        t.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (t, e) => *t = e.clone(),
    }
}

/// A filter's schema: its values, or empty (`name=` means no filter, `http::extract::filters`).
fn blank_or(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "string", "maxLength": 0}]})
}

/// Query parameters whose values the server restricts: (path, name, schema).
fn query_rules() -> Vec<(&'static str, &'static str, Value)> {
    let mut rules = filter_rules();
    for r in &mut rules {
        r.2 = blank_or(r.2.take());
    }
    rules.extend([
        (
            "/api/sessions",
            "id",
            json!({"type": "string", "format": "uuid"}),
        ),
        (
            "/api/auth/verify-email",
            "t",
            json!({"type": "string", "pattern": TOKEN}),
        ),
    ]);
    rules
}

/// The filters of list routes and what each takes when it is not empty.
fn filter_rules() -> Vec<(&'static str, &'static str, Value)> {
    let time = json!({"type": "string", "format": "date-time"});
    vec![
        (
            "/api/admin/users",
            "status",
            json!({"type": "string", "enum": ["active", "disabled"]}),
        ),
        (
            "/api/sessions",
            "status",
            json!({"type": "string", "enum": ["running", "ended"]}),
        ),
        (
            "/api/admin/audit",
            "outcome",
            json!({"type": "string", "enum": ["success", "failure", "denied"]}),
        ),
        ("/api/admin/audit", "since", time.clone()),
        ("/api/admin/audit", "until", time.clone()),
        (
            "/api/admin/audit/export",
            "outcome",
            json!({"type": "string", "enum": ["success", "failure", "denied"]}),
        ),
        ("/api/admin/audit/export", "since", time.clone()),
        ("/api/admin/audit/export", "until", time),
        (
            "/api/admin/audit/export",
            "format",
            json!({"type": "string", "enum": ["jsonl", "csv"]}),
        ),
    ]
}

/// Operations whose body is optional (`OptionalJson`).
const OPTIONAL_BODIES: [(&str, &str); 3] = [
    ("/api/auth/refresh", "post"),
    ("/api/auth/passkeys/login/start", "post"),
    ("/api/admin/users/{id}/reset-password", "post"),
];

/// Creation bodies share their type with the change that follows (`RoleBody`, `ScheduleBody`,
/// every field optional); the document states what creating requires.
fn creation_schemas(doc: &mut Value) {
    for (path, base, create, required) in [
        ("/api/admin/roles", "RoleBody", "CreateRole", &["name"][..]),
        (
            "/api/noise/schedules",
            "ScheduleBody",
            "CreateSchedule",
            &["name", "cron", "profile", "count"][..],
        ),
    ] {
        let mut schema = doc["components"]["schemas"][base].clone();
        for field in required {
            let prop = &mut schema["properties"][*field];
            if let Some(types) = prop.get("type").and_then(Value::as_array) {
                let t: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
                prop["type"] = t.first().cloned().unwrap_or(json!("string"));
            }
            if let Some(e) = prop.get_mut("enum").and_then(Value::as_array_mut) {
                e.retain(|v| !v.is_null());
            }
        }
        schema["required"] = json!(required);
        doc["components"]["schemas"][create] = schema;
        if let Some(op) = doc["paths"].get_mut(path).and_then(|p| p.get_mut("post")) {
            op["requestBody"]["content"]["application/json"]["schema"] =
                json!({"$ref": format!("#/components/schemas/{create}")});
        }
    }
}

/// The settings document PUT accepts: any subset of its fields (SPEC §8).
fn settings_body() -> Value {
    json!({
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "require_mfa": {"type": "string", "enum": ["off", "admins", "all"]},
            "password_min_length": {"type": "integer", "minimum": 12, "maximum": 256},
            "features": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "exercises": {"type": "boolean"},
                    "noise": {"type": "boolean"},
                    "api_keys": {"type": "boolean"},
                },
            },
        },
    })
}

fn constrain(doc: &mut Value) {
    if let Some(op) =
        doc.pointer_mut("/paths/~1api~1admin~1settings/put/requestBody/content/application~1json")
    {
        op["schema"] = settings_body();
    }
    for (path, name, schema) in query_rules() {
        let ops = doc["paths"].get_mut(path).and_then(Value::as_object_mut);
        for op in ops.into_iter().flat_map(|o| o.values_mut()) {
            let params = op.get_mut("parameters").and_then(Value::as_array_mut);
            for p in params.into_iter().flatten() {
                if p["name"] == name {
                    p["schema"] = schema.clone();
                }
            }
        }
    }
    for (path, method) in OPTIONAL_BODIES {
        if let Some(body) = doc.pointer_mut(&format!(
            "/paths/{}/{method}/requestBody",
            path.replace('/', "~1")
        )) {
            body["required"] = json!(false);
        }
    }
    for (schema, field, extra) in field_rules() {
        if let Some(p) =
            doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{field}"))
        {
            merge(p, &extra);
        }
    }
    // Paging everywhere it is documented.
    if let Some(paths) = doc["paths"].as_object_mut() {
        for item in paths.values_mut() {
            for op in item
                .as_object_mut()
                .into_iter()
                .flat_map(|o| o.values_mut())
            {
                let params = op.get_mut("parameters").and_then(Value::as_array_mut);
                for p in params.into_iter().flatten() {
                    match p["name"].as_str() {
                        Some("page") => {
                            p["schema"] = blank_or(
                                json!({"type": "integer", "minimum": 1, "maximum": 1_000_000_000}),
                            )
                        }
                        Some("limit") => {
                            p["schema"] =
                                blank_or(json!({"type": "integer", "minimum": 1, "maximum": 100}))
                        }
                        _ => {}
                    }
                }
            }
        }
    }
}

fn complete(mut doc: Value) -> Value {
    constrain(&mut doc);
    creation_schemas(&mut doc);
    for row in table() {
        let path = format!("/api{}", row.path);
        let Some(op) = doc["paths"]
            .get_mut(&path)
            .and_then(|p| p.get_mut(row.method_name()))
        else {
            continue;
        };
        op["operationId"] = json!(row.operation_id);
        if row.public {
            op["security"] = json!([]);
        }
        let has_body = op.get("requestBody").is_some();
        let responses = op["responses"].as_object_mut();
        let Some(responses) = responses else { continue };
        for status in error_statuses(row, has_body) {
            match responses.get_mut(status) {
                Some(r) if r.get("content").is_none() => {
                    r["content"] = error_response(status)["content"].clone();
                }
                Some(_) => {}
                None => {
                    responses.insert(status.to_string(), error_response(status));
                }
            }
        }
        // Lists travel in the SPEC's envelope.
        if let Some(schema) = responses
            .get_mut("200")
            .and_then(|r| r.pointer_mut("/content/application~1json/schema"))
            && schema.get("type") == Some(&json!("array"))
        {
            let items = schema.clone();
            *schema = json!({
                "type": "object",
                "required": ["data", "meta"],
                "properties": {"data": items, "meta": {"$ref": "#/components/schemas/PageMeta"}},
            });
        }
    }
    doc["components"]["schemas"]["PageMeta"] = json!({
        "type": "object",
        "required": ["total", "page", "limit", "totalPages"],
        "properties": {
            "total": {"type": "integer", "minimum": 0},
            "page": {"type": "integer", "minimum": 1},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100},
            "totalPages": {"type": "integer", "minimum": 0},
        },
    });
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a registered route is missing from the document.
    #[test]
    fn every_registered_route_is_documented() {
        let json = document_json();
        assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
        for r in super::super::table::table() {
            let path = format!("/api{}", r.path);
            let item = &json["paths"][&path];
            assert!(item.is_object(), "{path} is not in the OpenAPI document");
            assert!(
                item[r.method_name()].is_object(),
                "{} {path} is not in the OpenAPI document",
                r.method
            );
        }
    }

    #[test]
    fn operation_ids_are_unique_and_public_routes_need_no_credential() {
        let doc = document_json();
        let mut ids = std::collections::HashSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let id = op["operationId"].as_str().unwrap_or_default();
                assert!(ids.insert(id.to_string()), "{method} {path}: {id} twice");
                assert!(op["responses"]["503"].is_object() || path == "/api/health");
            }
        }
        let login = &doc["paths"]["/api/auth/login"]["post"];
        assert_eq!(login["security"], json!([]));
        assert_eq!(
            login["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            ERROR_REF
        );
        assert!(
            doc["paths"]["/api/auth/logout"]["post"]
                .get("security")
                .is_none()
        );
    }
}
