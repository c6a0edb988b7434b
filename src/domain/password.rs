//! Password policy and argon2id hashing (OWASP minimum: m=19456 KiB, t=2, p=1).
//!
//! Hashing is CPU-heavy by design; callers run it through `PasswordHasher` in `http`, which
//! keeps it off the actix workers and bounded to one hash per core.

use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_LEN: usize = 12;
pub const MAX_LEN: usize = 256;

fn argon() -> Argon2<'static> {
    let params = Params::new(19456, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Checks length in characters against the policy (`min` may be raised per tenant).
pub fn check_policy(password: &str, min: usize) -> Result<(), String> {
    let n = password.chars().count();
    let min = min.max(MIN_LEN);
    if n < min {
        return Err(format!("must be at least {min} characters"));
    }
    if n > MAX_LEN {
        return Err(format!("must be at most {MAX_LEN} characters"));
    }
    Ok(())
}

pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing with valid parameters")
        .to_string()
}

/// Verifies against a PHC string; a malformed stored hash is a mismatch, never a pass.
pub fn verify(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => argon()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password, verified against when the email is unknown so that
/// "no such user" costs the same time as "wrong password".
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        hash(crate::domain::token::generate(crate::domain::token::Kind::OneTime).expose())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_with_owasp_params() {
        let h = hash("correct horse battery");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("wrong horse battery", &h));
        assert!(!verify("x", "not a phc string"));
    }

    #[test]
    fn policy_bounds() {
        assert!(check_policy("short", 12).is_err());
        assert!(check_policy(&"x".repeat(12), 12).is_ok());
        assert!(check_policy(&"x".repeat(257), 12).is_err());
        assert!(check_policy(&"x".repeat(13), 16).is_err());
    }
}
