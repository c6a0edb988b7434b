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

/// A feature module a tenant can switch off (SPEC §7.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Exercises,
    Noise,
    ApiKeys,
}

impl Module {
    /// The name in `features` and in `moduleId`.
    pub fn name(self) -> &'static str {
        match self {
            Module::Exercises => "exercises",
            Module::Noise => "noise",
            Module::ApiKeys => "api_keys",
        }
    }
}

impl Features {
    pub fn enabled(&self, module: Module) -> bool {
        match module {
            Module::Exercises => self.exercises,
            Module::Noise => self.noise,
            Module::ApiKeys => self.api_keys,
        }
    }
}
