//! Tenant settings: MFA policy, feature flags, password policy.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RequireMfa {
    #[default]
    Off,
    Admins,
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Features {
    pub exercises: bool,
    pub noise: bool,
    pub api_keys: bool,
}

impl Default for Features {
    fn default() -> Self {
        Features {
            exercises: true,
            noise: true,
            api_keys: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Settings {
    #[serde(default)]
    pub require_mfa: RequireMfa,
    #[serde(default)]
    pub features: Features,
    #[serde(default = "default_min")]
    pub password_min_length: u32,
}

fn default_min() -> u32 {
    12
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            require_mfa: RequireMfa::Off,
            features: Features::default(),
            password_min_length: 12,
        }
    }
}

impl Settings {
    pub fn from_json(v: &serde_json::Value) -> Settings {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }
}

/// The feature module a route belongs to, if any.
pub fn module_of(canonical_path: &str) -> Option<&'static str> {
    let under = |p: &str| canonical_path == p || canonical_path.starts_with(&format!("{p}/"));
    if under("/api/sessions") {
        Some("exercises")
    } else if under("/api/noise") {
        Some("noise")
    } else if under("/api/api-keys") {
        Some("api_keys")
    } else {
        None
    }
}

impl Features {
    pub fn enabled(&self, module: &str) -> bool {
        match module {
            "exercises" => self.exercises,
            "noise" => self.noise,
            "api_keys" => self.api_keys,
            _ => true,
        }
    }
}
