//! EdDSA (Ed25519) access tokens: signing, verification with the algorithm pinned, the JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const AUDIENCE: &str = "labgate";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_S: i64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub tid: String,
    pub sid: String,
    pub amr: Vec<String>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
}

impl Claims {
    /// The time checks done on every request, also for claims taken from the cache.
    pub fn time_check(&self, now: i64) -> Result<(), JwtError> {
        time_check(self.exp, self.nbf, now)
    }
}

/// `exp` and `nbf` against `now`, with the leeway (also run on cached claims).
pub fn time_check(exp: i64, nbf: i64, now: i64) -> Result<(), JwtError> {
    if now > exp + LEEWAY_S {
        return Err(JwtError::Expired);
    }
    if now + LEEWAY_S < nbf {
        return Err(JwtError::Invalid);
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    Expired,
    Invalid,
}

/// Raw key material as stored in the database.
pub struct KeyMaterial {
    pub kid: String,
    pub private_der: Vec<u8>,
    pub public_raw: Vec<u8>,
}

impl KeyMaterial {
    pub fn generate() -> KeyMaterial {
        let sk = SigningKey::generate(&mut rand::rngs::OsRng);
        let der = sk.to_pkcs8_der().expect("ed25519 key encodes as PKCS#8");
        let public_raw = sk.verifying_key().to_bytes().to_vec();
        let kid = crate::domain::token::hex(&Sha256::digest(&public_raw)[..8]);
        KeyMaterial {
            kid,
            private_der: der.as_bytes().to_vec(),
            public_raw,
        }
    }
}

/// A signing key retired by rotation: its tokens still verify, and the JWKS publishes it, until
/// `until` (Unix seconds: its retirement plus the longest token lifetime and the leeway).
pub struct Retired {
    pub kid: String,
    pub public_raw: Vec<u8>,
    pub until: i64,
}

struct Verifier {
    kid: String,
    decoding: DecodingKey,
    public_raw: Vec<u8>,
    /// `None` for the current key.
    until: Option<i64>,
}

/// The current signing key and every key whose tokens may still be valid.
pub struct Keys {
    kid: String,
    issuer: String,
    encoding: EncodingKey,
    verifiers: Vec<Verifier>,
    validation: Validation,
}

impl Keys {
    pub fn new(m: &KeyMaterial, issuer: &str) -> Keys {
        Keys::with_retired(m, &[], issuer)
    }

    pub fn with_retired(m: &KeyMaterial, retired: &[Retired], issuer: &str) -> Keys {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_S as u64;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        let mut verifiers = vec![Verifier {
            kid: m.kid.clone(),
            decoding: DecodingKey::from_ed_der(&m.public_raw),
            public_raw: m.public_raw.clone(),
            until: None,
        }];
        verifiers.extend(retired.iter().filter(|r| r.kid != m.kid).map(|r| Verifier {
            kid: r.kid.clone(),
            decoding: DecodingKey::from_ed_der(&r.public_raw),
            public_raw: r.public_raw.clone(),
            until: Some(r.until),
        }));
        Keys {
            kid: m.kid.clone(),
            issuer: issuer.to_string(),
            encoding: EncodingKey::from_ed_der(&m.private_der),
            verifiers,
            validation,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("signing with a valid Ed25519 key")
    }

    /// The keys in use at `now`: the current one and retired ones still within their window.
    fn live(&self, now: i64) -> impl Iterator<Item = &Verifier> {
        self.verifiers
            .iter()
            .filter(move |v| v.until.is_none_or(|u| now <= u))
    }

    /// Full verification: signature with the algorithm pinned to EdDSA, kid, iss, aud, exp, nbf.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        let now = chrono::Utc::now().timestamp();
        let Some(v) = self
            .live(now)
            .find(|v| header.kid.as_deref() == Some(v.kid.as_str()))
        else {
            return Err(JwtError::Invalid);
        };
        if header.alg != Algorithm::EdDSA {
            return Err(JwtError::Invalid);
        }
        match jsonwebtoken::decode::<Claims>(token, &v.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(JwtError::Expired)
            }
            Err(_) => Err(JwtError::Invalid),
        }
    }

    /// The claims of a token that is authentic but expired (the signature, issuer and audience
    /// checked, not `exp`): who presented it, for the audit record of its refusal.
    pub fn expired_claims(&self, token: &str) -> Option<Claims> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        let now = chrono::Utc::now().timestamp();
        let v = self
            .live(now)
            .find(|v| header.kid.as_deref() == Some(v.kid.as_str()))?;
        if header.alg != Algorithm::EdDSA {
            return None;
        }
        let mut validation = self.validation.clone();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Claims>(token, &v.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }

    pub fn jwks(&self) -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        let keys: Vec<serde_json::Value> = self
            .live(now)
            .map(|v| {
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "kid": v.kid,
                    "x": URL_SAFE_NO_PAD.encode(&v.public_raw), "alg": "EdDSA", "use": "sig"
                })
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }
}

/// A set of keys that a rotation can replace while the server runs (read on every sign and
/// verification: one uncontended lock and an `Arc` clone).
pub struct KeyRing(std::sync::RwLock<std::sync::Arc<Keys>>);

impl KeyRing {
    pub fn new(keys: Keys) -> KeyRing {
        KeyRing(std::sync::RwLock::new(std::sync::Arc::new(keys)))
    }

    pub fn get(&self) -> std::sync::Arc<Keys> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn replace(&self, keys: Keys) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = std::sync::Arc::new(keys);
    }
}

/// True when the value has the shape of a JWT (three dot-separated base64url parts).
pub fn looks_like_jwt(s: &str) -> bool {
    // One pass, no allocation: this runs on every bearer request.
    let mut dots = 0;
    let mut part_len = 0;
    for b in s.bytes() {
        if b == b'.' {
            if part_len == 0 {
                return false;
            }
            dots += 1;
            part_len = 0;
        } else if b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
            part_len += 1;
        } else {
            return false;
        }
    }
    dots == 2
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            iss: "http://x".into(),
            aud: AUDIENCE.into(),
            sub: "u".into(),
            tid: "t".into(),
            sid: "s".into(),
            amr: vec!["pwd".into()],
            iat: now,
            nbf: now,
            exp: now + 60,
        }
    }

    #[test]
    fn sign_and_verify_round_trip() {
        let keys = Keys::new(&KeyMaterial::generate(), "http://x");
        let now = chrono::Utc::now().timestamp();
        let t = keys.sign(&claims(now));
        assert!(looks_like_jwt(&t));
        assert_eq!(keys.verify(&t).unwrap(), claims(now));
        let other = Keys::new(&KeyMaterial::generate(), "http://x");
        assert_eq!(other.verify(&t), Err(JwtError::Invalid));
        let mut old = claims(now - 1000);
        old.exp = now - 100;
        assert_eq!(keys.verify(&keys.sign(&old)), Err(JwtError::Expired));
        assert_eq!(keys.expired_claims(&keys.sign(&old)), Some(old.clone()));
        assert_eq!(
            other.expired_claims(&keys.sign(&old)),
            None,
            "only authentic ones"
        );
        let wrong_iss = Keys::new(&KeyMaterial::generate(), "http://y");
        let t2 = wrong_iss.sign(&claims(now));
        assert_eq!(
            wrong_iss.verify(&t2),
            Err(JwtError::Invalid),
            "issuer is checked"
        );
    }

    #[test]
    fn a_retired_key_verifies_and_is_published_only_within_its_window() {
        let now = chrono::Utc::now().timestamp();
        let old = KeyMaterial::generate();
        let t = Keys::new(&old, "http://x").sign(&claims(now));
        let retired = |until| Retired {
            kid: old.kid.clone(),
            public_raw: old.public_raw.clone(),
            until,
        };
        let new = KeyMaterial::generate();
        let keys = Keys::with_retired(&new, &[retired(now + 60)], "http://x");
        assert_eq!(keys.verify(&t).unwrap(), claims(now));
        assert_eq!(keys.jwks()["keys"].as_array().unwrap().len(), 2);
        assert_eq!(
            keys.jwks()["keys"][0]["kid"],
            new.kid,
            "the current key first"
        );
        let past = Keys::with_retired(&new, &[retired(now - 1)], "http://x");
        assert_eq!(past.verify(&t), Err(JwtError::Invalid));
        assert_eq!(past.jwks()["keys"].as_array().unwrap().len(), 1);
    }
}
