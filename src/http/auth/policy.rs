//! Tenant policies applied to every authenticated caller: feature flags, the MFA requirement
//! of login sessions, and the source-IP allow and block lists.

use std::sync::Arc;

use actix_web::{HttpRequest, web};

use super::{AuthMethod, Caller};
use crate::domain::capability::Capability;
use crate::domain::error::Code;
use crate::domain::settings::{Module, RequireMfa, Settings};
use crate::http::AppState;
use crate::http::error::ApiError;
use crate::http::extract::client_ip;
use crate::http::table::Matched;

pub async fn tenant_settings(
    state: &web::Data<AppState>,
    tenant_id: &str,
) -> Result<Arc<Settings>, ApiError> {
    let key = tenant_id.to_string();
    if let Some(s) = state.auth.settings.get(&key) {
        return Ok(s);
    }
    let g = state.auth.settings.generation();
    let t = key.clone();
    let s = Arc::new(crate::app::credentials::settings(&state.app, t).await?);
    state.auth.settings.insert_if(g, key, s.clone());
    Ok(s)
}

pub use crate::domain::net::IpLists;

pub async fn ip_lists(
    state: &web::Data<AppState>,
    tenant_id: &str,
) -> Result<Arc<IpLists>, ApiError> {
    let key = tenant_id.to_string();
    if let Some(l) = state.auth.ip_lists.get(&key) {
        return Ok(l);
    }
    let g = state.auth.ip_lists.generation();
    let t = key.clone();
    let l = Arc::new(crate::app::credentials::ip_lists(&state.app, t).await?);
    state.auth.ip_lists.insert_if(g, key, l.clone());
    Ok(l)
}

/// The tenant's policies as they apply to one caller: settings, IP lists, and the caller with
/// the capabilities an MFA policy holds back. Cached with the caller on the warm path.
pub(super) async fn derive(
    state: &web::Data<AppState>,
    caller: Caller,
) -> Result<(Caller, Arc<Settings>, Arc<IpLists>), ApiError> {
    let settings = tenant_settings(state, &caller.tenant.id).await?;
    let lists = ip_lists(state, &caller.tenant.id).await?;
    // A personal access token carries the factors of the session that made it (SPEC §5).
    let session_bound = matches!(
        caller.method,
        AuthMethod::Session | AuthMethod::Jwt | AuthMethod::Pat
    );
    let caller = if session_bound
        && settings.require_mfa == RequireMfa::Admins
        && !crate::domain::settings::has_second_factor(&caller.amr)
    {
        let mut info = caller.into_info();
        info.mfa_blocked.insert(Capability::AdminUsers);
        info.mfa_blocked.insert(Capability::AdminSettings);
        Caller::new(info)
    } else {
        caller
    };
    Ok((caller, settings, lists))
}

/// The per-request part: feature flags by route, the `all` MFA policy by route, and the IP
/// lists by client address.
pub(super) fn gate(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    settings: &Settings,
    lists: &IpLists,
) -> Result<(), ApiError> {
    let route = Matched::of(req).path_row();
    // A disabled module's routes are refused, and so are its credentials: with `api_keys`
    // off, the tenant's keys stop working everywhere (SPEC §7.5).
    let key_module = (caller.method == AuthMethod::ApiKey).then_some(Module::ApiKeys);
    let refused_module = [route.and_then(|r| r.module), key_module]
        .into_iter()
        .flatten()
        .find(|m| !settings.features.enabled(*m));
    if let Some(module) = refused_module {
        let name = module.name();
        let mut e = ApiError::forbidden(
            Code::ModuleDisabled,
            format!("The {name} module is disabled for this tenant."),
        );
        e.extra = Some(("moduleId", name.to_string()));
        req_caller(req, caller);
        return Err(e);
    }
    // The master key is the appliance's break-glass credential, not the tenant's: the tenant's
    // own lists cannot lock it out.
    if caller.method != AuthMethod::Master && !(lists.allow.is_empty() && lists.block.is_empty()) {
        let ip = client_ip(req, state);
        if !ip.is_some_and(|ip| lists.permits(ip)) {
            req_caller(req, caller);
            return Err(ApiError::forbidden(
                Code::SourceIpNotAllowed,
                "This tenant's credentials may not be used from this address.",
            ));
        }
    }
    // A personal access token carries the factors of the session that made it (SPEC §5).
    let session_bound = matches!(
        caller.method,
        AuthMethod::Session | AuthMethod::Jwt | AuthMethod::Pat
    );
    if session_bound
        && settings.require_mfa == RequireMfa::All
        && !crate::domain::settings::has_second_factor(&caller.amr)
        && !route.is_some_and(|r| r.mfa_open)
    {
        req_caller(req, caller);
        return Err(ApiError::forbidden(
            Code::MfaRequired,
            "This tenant requires MFA: enroll at /api/auth/mfa/setup and sign in again with a second factor.",
        ));
    }
    Ok(())
}

/// Keeps the identified caller on the request so the refusal is audited with its identity.
fn req_caller(req: &HttpRequest, caller: &Caller) {
    use actix_web::HttpMessage;
    req.extensions_mut().insert(caller.clone());
}
