//! API-key services and access (SPEC §4.4), and what a key's grant amounts to in capabilities,
//! which the reach rule compares against.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::capability::{CapSet, Capability};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    Read,
    Write,
}

/// The services of an API key (SPEC §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Exercises,
    Noise,
    PlatformStatus,
    Audit,
    Users,
    Settings,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Exercises,
        Service::Noise,
        Service::PlatformStatus,
        Service::Audit,
        Service::Users,
        Service::Settings,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Service::Exercises => "exercises",
            Service::Noise => "noise",
            Service::PlatformStatus => "platform-status",
            Service::Audit => "audit",
            Service::Users => "users",
            Service::Settings => "settings",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|v| v.name() == s)
    }

    /// The capability a key with this service acts with (limited to GET/HEAD for `read`).
    pub fn capability(self) -> Option<Capability> {
        match self {
            Service::Exercises => Some(Capability::ManageExercises),
            Service::Noise => Some(Capability::ManageNoiseLogs),
            Service::PlatformStatus => None,
            Service::Audit => Some(Capability::AuditRead),
            Service::Users => Some(Capability::AdminUsers),
            Service::Settings => Some(Capability::AdminSettings),
        }
    }

    /// What a creator must hold to grant `access` on this service: what it could do itself.
    pub fn needed_to_grant(self, access: Access) -> Option<Capability> {
        match (self, access) {
            (Service::Exercises | Service::Noise | Service::PlatformStatus, Access::Read) => None,
            _ => self.capability(),
        }
    }
}

/// Every capability a key with these services acts with (what its holder could do with it):
/// what reveal, share, edit and delete must reach. Unknown stored names grant nothing.
pub fn grants(services: &BTreeMap<String, Access>) -> CapSet {
    services
        .iter()
        .filter_map(|(name, access)| Service::parse(name)?.needed_to_grant(*access))
        .collect()
}

/// The capabilities a key with these services holds for granting and reaching: those of its
/// `write` services, and `audit.read` (which is all the `audit` service is). A `read` service
/// only lets the key read.
pub fn held(services: &BTreeMap<String, Access>) -> CapSet {
    services
        .iter()
        .filter_map(|(name, access)| {
            let svc = Service::parse(name)?;
            match (svc, access) {
                (_, Access::Write) | (Service::Audit, Access::Read) => svc.capability(),
                _ => None,
            }
        })
        .collect()
}

/// A key's services: at least one, each known, and each grantable by the creator (`held`):
/// what it could do itself (SPEC §4.4).
pub fn check_services(
    held: CapSet,
    services: &BTreeMap<String, Access>,
) -> Result<(), super::error::DomainError> {
    use super::error::{Code, DomainError};
    if services.is_empty() {
        return Err(DomainError::validation(
            "services",
            "name at least one service",
        ));
    }
    for (name, access) in services {
        let svc = Service::parse(name).ok_or_else(|| {
            DomainError::validation(
                &format!("services.{name}"),
                "unknown service (exercises, noise, platform-status, audit, users, settings)",
            )
        })?;
        if let Some(cap) = svc.needed_to_grant(*access)
            && !held.contains(cap)
        {
            let how = if *access == Access::Write {
                "write"
            } else {
                "read"
            };
            return Err(DomainError::new(
                Code::MissingCapability,
                format!(
                    "Granting {name}:{how} requires the capability {}.",
                    cap.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// A key's allowed subnets: CIDRs, in their canonical form.
pub fn check_subnets(subnets: &[String]) -> Result<Vec<String>, super::error::DomainError> {
    subnets
        .iter()
        .map(|s| {
            super::net::parse_cidr(s)
                .map(|n| n.to_string())
                .ok_or_else(|| {
                    super::error::DomainError::validation(
                        "allowed_subnets",
                        format!("invalid CIDR {s:?}"),
                    )
                })
        })
        .collect()
}

/// A key's allowed origins: `scheme://host[:port]`, http or https, no path, never a wildcard.
pub fn check_origins(origins: &[String]) -> Result<Vec<String>, super::error::DomainError> {
    origins
        .iter()
        .map(|o| {
            let bad = || {
                super::error::DomainError::validation(
                    "allowed_origins",
                    format!("{o:?} is not an origin like https://soc.lab"),
                )
            };
            let rest = o
                .strip_prefix("https://")
                .or_else(|| o.strip_prefix("http://"))
                .ok_or_else(bad)?;
            if rest.is_empty()
                || rest.contains(['/', '*', '?', '#', '@', ' '])
                || rest.chars().any(char::is_control)
            {
                return Err(bad());
            }
            Ok(o.to_ascii_lowercase())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_on_open_services_grants_nothing_write_on_users_grants_admin_users() {
        let mut s = BTreeMap::new();
        s.insert("exercises".to_string(), Access::Read);
        assert_eq!(grants(&s), CapSet::empty());
        s.insert("users".to_string(), Access::Write);
        assert!(grants(&s).contains(Capability::AdminUsers));
        s.insert("audit".to_string(), Access::Read);
        assert!(grants(&s).contains(Capability::AuditRead));
    }

    #[test]
    fn a_key_holds_only_what_it_may_write_and_audit_reads() {
        let mut s = BTreeMap::new();
        s.insert("exercises".to_string(), Access::Read);
        s.insert("settings".to_string(), Access::Read);
        s.insert("audit".to_string(), Access::Read);
        s.insert("users".to_string(), Access::Write);
        let h = held(&s);
        assert!(h.contains(Capability::AdminUsers));
        assert!(h.contains(Capability::AuditRead));
        assert!(!h.contains(Capability::ManageExercises));
        assert!(!h.contains(Capability::AdminSettings));
    }
}
