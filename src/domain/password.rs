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

/// The working memory of one argon2 computation (19 MiB at the parameters above), allocated
/// once by a hashing worker and reused for every hash it computes.
pub struct Memory(Vec<argon2::Block>);

impl Memory {
    pub fn new() -> Memory {
        let n = argon().params().block_count();
        Memory(vec![argon2::Block::default(); n])
    }

    /// The first `n` blocks, grown (once) for a stored hash of larger parameters.
    fn blocks(&mut self, n: usize) -> &mut [argon2::Block] {
        if self.0.len() < n {
            self.0.resize(n, argon2::Block::default());
        }
        &mut self.0[..n]
    }
}

impl Default for Memory {
    fn default() -> Memory {
        Memory::new()
    }
}

/// `hash`, computed in `mem` instead of freshly allocated memory.
pub fn hash_in(password: &str, mem: &mut Memory) -> String {
    let salt = SaltString::generate(&mut OsRng);
    let a = argon();
    let mut raw = [0u8; 64];
    let salt_bytes = salt
        .as_salt()
        .decode_b64(&mut raw)
        .expect("a generated salt decodes");
    let mut out = [0u8; 32];
    let n = a.params().block_count();
    a.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, mem.blocks(n))
        .expect("argon2 hashing with valid parameters");
    let output = argon2::password_hash::Output::new(&out).expect("a 32-byte output");
    PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: argon2::password_hash::ParamsString::try_from(a.params())
            .expect("valid parameters"),
        salt: Some(salt.as_salt()),
        hash: Some(output),
    }
    .to_string()
}

/// `verify`, computed in `mem`: the stored hash's own parameters, its output compared in
/// constant time; a malformed stored hash is a mismatch, never a pass.
pub fn verify_in(password: &str, phc: &str, mem: &mut Memory) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(alg) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    // A stored hash whose parameters would need more than 64 MiB is not one labgate wrote.
    if params.block_count() > 65536 || expected.len() > 64 {
        return false;
    }
    let mut raw = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
        return false;
    };
    let n = params.block_count();
    let a = Argon2::new(alg, version, params);
    let mut out = vec![0u8; expected.len()];
    if a.hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut out, mem.blocks(n))
        .is_err()
    {
        return false;
    }
    argon2::password_hash::Output::new(&out).is_ok_and(|o| o == expected)
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
    fn hashing_in_reused_memory_matches_the_library() {
        let mut mem = Memory::new();
        let h = hash_in("correct horse battery", &mut mem);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // each side verifies the other's hashes
        assert!(verify("correct horse battery", &h));
        assert!(verify_in("correct horse battery", &h, &mut mem));
        assert!(!verify_in("wrong horse battery", &h, &mut mem));
        let lib = hash("another passphrase");
        assert!(verify_in("another passphrase", &lib, &mut mem));
        assert!(!verify_in("x", "not a phc string", &mut mem));
        // a hash of other parameters still verifies, in memory grown for it
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8192, 1, 1, None).unwrap(),
        )
        .hash_password(b"older", &SaltString::generate(&mut OsRng))
        .unwrap()
        .to_string();
        assert!(verify_in("older", &other, &mut mem));
        assert!(!verify_in("newer", &other, &mut mem));
    }

    #[test]
    fn policy_bounds() {
        assert!(check_policy("short", 12).is_err());
        assert!(check_policy(&"x".repeat(12), 12).is_ok());
        assert!(check_policy(&"x".repeat(257), 12).is_err());
        assert!(check_policy(&"x".repeat(13), 16).is_err());
    }
}
