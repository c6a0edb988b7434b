//! The format of every secret labgate issues: `<prefix>_<32 base62><6 base62 CRC32>`.
//!
//! The checksum (CRC32 of the 32 random characters, as GitHub computes it over a token's random
//! part) lets a mistyped or truncated token be refused before any lookup, and lets secret
//! scanners recognise leaked ones. Only the SHA-256 of a token is ever stored.

use rand::Rng;
use rand::distributions::Alphanumeric;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

const RANDOM_LEN: usize = 32;
const CHECK_LEN: usize = 6;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// personal access token
    Pat,
    /// organization API key
    ApiKey,
    /// refresh token
    Refresh,
    /// browser session cookie value
    Session,
    /// one-time token (setup, reset, invitation, email verification, MFA step)
    OneTime,
}

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Pat => "lgp",
            Kind::ApiKey => "lgk",
            Kind::Refresh => "lgr",
            Kind::Session => "lgs",
            Kind::OneTime => "lgx",
        }
    }
}

/// A secret value: never printed by `Debug`, wiped from memory on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

fn checksum(random: &str) -> String {
    let crc = crc32fast::hash(random.as_bytes());
    format!("{:0>width$}", base62::encode(crc), width = CHECK_LEN)
}

/// A fresh token of `kind` from the OS CSPRNG.
pub fn generate(kind: Kind) -> Secret {
    let random: String = rand::rngs::OsRng
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let sum = checksum(&random);
    Secret(format!("{}_{random}{sum}", kind.prefix()))
}

/// A random alphanumeric string (CSRF values and other non-prefixed secrets).
pub fn random_string(len: usize) -> Secret {
    Secret(
        rand::rngs::OsRng
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect(),
    )
}

/// True when `token` has the shape of a `kind` token and its checksum matches.
pub fn well_formed(kind: Kind, token: &str) -> bool {
    let Some(body) = token
        .strip_prefix(kind.prefix())
        .and_then(|r| r.strip_prefix('_'))
    else {
        return false;
    };
    if body.len() != RANDOM_LEN + CHECK_LEN || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_LEN);
    bool::from(checksum(random).as_bytes().ct_eq(sum.as_bytes()))
}

/// Which kind a token claims to be by its prefix (not yet checked).
pub fn kind_of(token: &str) -> Option<Kind> {
    [
        Kind::Pat,
        Kind::ApiKey,
        Kind::Refresh,
        Kind::Session,
        Kind::OneTime,
    ]
    .into_iter()
    .find(|k| token.starts_with(k.prefix()) && token.as_bytes().get(3) == Some(&b'_'))
}

/// The stored form of a token: lower-case hex SHA-256.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// The displayable beginning of a token (`lgp_AbCd`), safe to list.
pub fn display_prefix(token: &str) -> String {
    token.chars().take(8).collect()
}

/// Constant-time comparison of two secrets.
pub fn ct_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_are_well_formed() {
        for kind in [
            Kind::Pat,
            Kind::ApiKey,
            Kind::Refresh,
            Kind::Session,
            Kind::OneTime,
        ] {
            let t = generate(kind);
            assert_eq!(t.expose().len(), 4 + 32 + 6);
            assert!(well_formed(kind, t.expose()));
            assert_eq!(kind_of(t.expose()), Some(kind));
        }
    }

    #[test]
    fn typos_and_truncation_fail_the_checksum() {
        let t = generate(Kind::Pat);
        let s = t.expose();
        assert!(!well_formed(Kind::Pat, &s[..s.len() - 1]));
        assert!(!well_formed(Kind::ApiKey, s));
        let mut chars: Vec<char> = s.chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let typo: String = chars.into_iter().collect();
        assert!(!well_formed(Kind::Pat, &typo));
        assert!(!well_formed(Kind::Pat, "lgp_"));
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let t = generate(Kind::Refresh);
        assert!(!format!("{t:?}").contains("lgr_"));
    }
}
