//! The OpenAPI 3.1 document, generated from the handlers' annotations.

use utoipa::OpenApi;
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

pub async fn document() -> actix_web::HttpResponse {
    actix_web::HttpResponse::Ok().json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails when a registered route is missing from the document.
    #[test]
    fn every_registered_route_is_documented() {
        let doc = ApiDoc::openapi();
        let json = serde_json::to_value(&doc).unwrap();
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
}
