//! Tenant settings: MFA policy, feature flags, password policy.

use serde::{Deserialize, Serialize};

use super::error::DomainError;

/// Whether a session's authentication methods (`amr`) include a second factor: an
/// authenticator code (`otp`) or a passkey (`hwk`). The one test every `require_mfa` rule uses.
pub fn has_second_factor(amr: &[String]) -> bool {
    amr.iter().any(|a| a == "otp" || a == "hwk")
}

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

    /// These settings with a patch applied: any subset of the keys, `features` merged key by
    /// key. The first value that is not allowed is the refusal.
    pub fn patched(
        mut self,
        patch: &serde_json::Map<String, serde_json::Value>,
    ) -> Result<Settings, DomainError> {
        use serde_json::Value;
        for (k, v) in patch {
            match k.as_str() {
                "require_mfa" => {
                    self.require_mfa =
                        serde_json::from_value::<RequireMfa>(v.clone()).map_err(|_| {
                            DomainError::validation("require_mfa", "must be off, admins or all")
                        })?
                }
                "password_min_length" => {
                    // A whole number, also when written as `16.0`.
                    let n = v
                        .as_u64()
                        .or_else(|| v.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as u64))
                        .filter(|n| (12..=256).contains(n))
                        .ok_or_else(|| {
                            DomainError::validation(
                                "password_min_length",
                                "must be a whole number from 12 to 256",
                            )
                        })?;
                    self.password_min_length = n as u32;
                }
                "features" => {
                    let Value::Object(f) = v else {
                        return Err(DomainError::validation("features", "must be an object"));
                    };
                    for (name, on) in f {
                        let field = format!("features.{name}");
                        let on = on.as_bool().ok_or_else(|| {
                            DomainError::validation(&field, "must be true or false")
                        })?;
                        match name.as_str() {
                            "exercises" => self.features.exercises = on,
                            "noise" => self.features.noise = on,
                            "api_keys" => self.features.api_keys = on,
                            _ => {
                                return Err(DomainError::validation(
                                    &field,
                                    "unknown feature (exercises, noise, api_keys)",
                                ));
                            }
                        }
                    }
                }
                other => return Err(DomainError::validation(other, "unknown setting")),
            }
        }
        Ok(self)
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
