//! Grant and reach (SPEC §8 "Reach", §4.4): no caller, whatever its credential, gains through
//! another account or key a capability it does not hold itself.
//!
//! - **Grant**: a role, invitation or membership may hand out only capabilities the caller holds.
//! - **Reach over a member**: changing a member's roles or status, removing them, resetting their
//!   password or ending their sessions needs every capability that member holds there; a reset
//!   answered in the response (which opens the whole account) needs it in every tenant of theirs.
//! - **Reach over a key**: revealing, sharing, editing or deleting an API key needs every
//!   capability its services grant.
//!
//! `held` is always what the caller can use right now: its capabilities less any held back by
//! the MFA policy.

use super::capability::{CapSet, Capability};
use super::error::{Code, DomainError};

fn missing(cap: Capability, what: &str) -> DomainError {
    DomainError::new(
        Code::MissingCapability,
        format!(
            "{what} needs the capability {}, which you do not hold.",
            cap.as_str()
        ),
    )
}

/// A grant of `granted` by a caller holding `held`.
pub fn grant(held: CapSet, granted: CapSet) -> Result<(), DomainError> {
    match held.first_missing(granted) {
        None => Ok(()),
        Some(c) => Err(missing(c, "Granting this")),
    }
}

/// An action on a member holding `target`, by a caller holding `held`.
pub fn over_member(held: CapSet, target: CapSet) -> Result<(), DomainError> {
    match held.first_missing(target) {
        None => Ok(()),
        Some(c) => Err(missing(c, "Acting on a member who holds it")),
    }
}

/// An action on an API key whose services grant `key`, by a caller holding `held`.
pub fn over_key(held: CapSet, key: CapSet) -> Result<(), DomainError> {
    match held.first_missing(key) {
        None => Ok(()),
        Some(c) => Err(missing(c, "Acting on a key that grants it")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(c: &[Capability]) -> CapSet {
        c.iter().copied().collect()
    }

    #[test]
    fn helpdesk_cannot_reach_an_admin() {
        let helpdesk = set(&[Capability::AdminUsers]);
        let e = over_member(helpdesk, CapSet::all()).unwrap_err();
        assert_eq!(e.code, Code::MissingCapability);
        assert!(e.message.contains("manage_exercises"), "{}", e.message);
    }

    #[test]
    fn helpdesk_reaches_a_viewer_and_itself() {
        let helpdesk = set(&[Capability::AdminUsers]);
        over_member(helpdesk, CapSet::empty()).unwrap();
        over_member(helpdesk, helpdesk).unwrap();
    }

    #[test]
    fn keys_and_grants_follow_the_same_rule() {
        let keys_only = set(&[Capability::ManageApiKeys]);
        assert!(over_key(keys_only, set(&[Capability::AdminUsers])).is_err());
        over_key(keys_only, CapSet::empty()).unwrap();
        assert!(grant(keys_only, set(&[Capability::AuditRead])).is_err());
        grant(CapSet::all(), CapSet::all()).unwrap();
    }
}
