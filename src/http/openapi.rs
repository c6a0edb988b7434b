//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use std::sync::OnceLock;

use actix_web::http::Method;
use serde_json::{Value, json};
use utoipa::OpenApi;

use super::table::{Row, table};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::routes::{
    account, admin, admin_users, api_keys, audit, auth, exercises, noise, platform, security,
    setup, status, tokens,
};

#[derive(OpenApi)]
#[openapi(
    info(title = "labgate", description = "Access layer and control API of the security-lab appliance. Every route is also served under /api/v1."),
    paths(
        status::health, status::ping, setup::setup,
        auth::login, auth::refresh, auth::logout, auth::me, auth::public_key,
        tokens::create, tokens::list, tokens::revoke, audit::list, audit::export,
        account::mfa_setup, account::mfa_validate, account::mfa_disable, account::change_password,
        account::forgot_password, account::reset_password, account::my_sessions, account::end_my_session,
        account::my_tenants, account::switch_tenant, account::accept_invitation, account::verify_email,
        admin_users::list, admin_users::create, admin_users::get, admin_users::update, admin_users::delete,
        admin_users::reset_password, admin_users::sessions_list, admin_users::sessions_end,
        admin::roles_list, admin::roles_create, admin::roles_get, admin::roles_update, admin::roles_delete,
        admin::invitations_list, admin::invite, admin::invitations_revoke, admin::settings_get, admin::settings_put,
        security::allow_list, security::allow_add, security::allow_remove,
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
                        account::MfaValidate, account::MfaDisable, account::ChangePassword, account::ForgotPassword,
                        account::ResetPassword, account::SwitchTenant, account::AcceptInvitation,
                        admin_users::CreateUser, admin_users::UpdateUser, admin_users::AdminReset, crate::store::users::Member,
                        admin::RoleBody, admin::InviteBody, crate::store::roles::Role, crate::store::invitations::Invitation,
                        crate::domain::settings::Settings, security::NewRule, crate::store::ip_rules::IpRule,
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
        "auth_login" | "account_mfa_validate" | "account_mfa_disable"
    ) {
        v.push("423");
    }
    if row.operation_id == "setup_setup" {
        v.push("410");
    }
    v.extend(["429", "503"]);
    v
}

fn complete(mut doc: Value) -> Value {
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
