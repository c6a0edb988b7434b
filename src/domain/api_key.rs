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
