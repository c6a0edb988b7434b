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

/// The active signing key and its verification key.
pub struct Keys {
    kid: String,
    issuer: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_raw: Vec<u8>,
    validation: Validation,
}

impl Keys {
    pub fn new(m: &KeyMaterial, issuer: &str) -> Keys {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.leeway = LEEWAY_S as u64;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Keys {
            kid: m.kid.clone(),
            issuer: issuer.to_string(),
            encoding: EncodingKey::from_ed_der(&m.private_der),
            decoding: DecodingKey::from_ed_der(&m.public_raw),
            public_raw: m.public_raw.clone(),
            validation,
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn sign(&self, claims: &Claims) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .expect("signing with a valid Ed25519 key")
    }

    /// Full verification: signature with the algorithm pinned to EdDSA, kid, iss, aud, exp, nbf.
    pub fn verify(&self, token: &str) -> Result<Claims, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Invalid)?;
        if header.alg != Algorithm::EdDSA || header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(JwtError::Invalid);
        }
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), jsonwebtoken::errors::ErrorKind::ExpiredSignature) => {
                Err(JwtError::Expired)
            }
            Err(_) => Err(JwtError::Invalid),
        }
    }

    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "kid": self.kid,
            "x": URL_SAFE_NO_PAD.encode(&self.public_raw), "alg": "EdDSA", "use": "sig"
        }]})
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
        let wrong_iss = Keys::new(&KeyMaterial::generate(), "http://y");
        let t2 = wrong_iss.sign(&claims(now));
        assert_eq!(
            wrong_iss.verify(&t2),
            Err(JwtError::Invalid),
            "issuer is checked"
        );
    }
}
