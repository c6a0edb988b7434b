//! Typed identifiers: a `TenantId` cannot be passed where a `UserId` is expected, so argument
//! order mistakes (`member(tenant, user)` beside `is_member(user, tenant)`) do not compile.
//! Each wraps the UUID text the database and the wire use.

use std::fmt;

macro_rules! id_type {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
