//! Typed identifiers: a `TenantId` cannot be passed where a `UserId` is expected, so argument
//! order mistakes (`member(tenant, user)` beside `is_member(user, tenant)`) do not compile.
//! Each wraps the UUID text the database and the wire use.

use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Wraps an id read from the database or a route path (unchecked: a malformed id
            /// simply matches nothing).
            pub fn from_raw(s: impl Into<String>) -> Self {
                $name(s.into())
            }
            /// A fresh random id.
            pub fn generate() -> Self {
                $name(uuid::Uuid::new_v4().to_string())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    )*};
}

id_type!(
    /// A tenant.
    TenantId,
    /// A user (appliance-wide; memberships tie it to tenants).
    UserId,
    /// A login session.
    SessionId,
    /// An organization API key.
    KeyId,
);

/// An email address as SPEC §3.2 allows it: a bare `local@domain`, never a display name, a
/// comment, a quoted local part or an address list, so the address shown is the one mail goes
/// to. The local part is a dot-atom; the domain is dot-separated labels of letters, digits and
/// hyphens, with at least one dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(s: &str) -> Result<Email, &'static str> {
        let e = s.trim();
        if e.len() > 254 {
            return Err("invalid email format");
        }
        let Some((local, domain)) = e.split_once('@') else {
            return Err("invalid email format");
        };
        let atom = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(atom));
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let domain_ok = domain.contains('.') && domain.split('.').all(label_ok);
        if local_ok && domain_ok {
            Ok(Email(e.to_string()))
        } else {
            Err("invalid email format")
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A display name of a token, key, sink, schedule or exercise: 1-100 printable characters,
/// not blank, trimmed.
pub fn display_name(field: &str, name: &str) -> Result<String, super::error::DomainError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 100 || n.chars().any(char::is_control) {
        return Err(super::error::DomainError::validation(
            field,
            "must be 1-100 printable characters",
        ));
    }
    Ok(n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_bare_addresses_are_emails() {
        for ok in ["ops@lab.example", "a.b+tag@sub.lab-1.example", " x@y.io "] {
            assert!(Email::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "\"a@lab.test\" <x@evil.test>",
            "\"a@lab.test\"<x@evil.test>",
            "Alice <a@lab.test>",
            "a@lab.test (comment)",
            "a@lab.test,b@lab.test",
            "a@b@lab.test",
            "a..b@lab.test",
            ".a@lab.test",
            "a@lab",
            "a@-lab.test",
            "a@lab..test",
            "@lab.test",
            "a@",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }
}
