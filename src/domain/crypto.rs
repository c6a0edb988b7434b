//! Encryption at rest for secrets that must be revealed again (API keys, TOTP secrets):
//! XChaCha20-Poly1305 with a random nonce per value, under the appliance key.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// The appliance's data-encryption key. Never printed.
#[derive(Clone)]
pub struct DataKey([u8; 32]);

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

impl DataKey {
    pub fn generate() -> DataKey {
        let mut k = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut k);
        DataKey(k)
    }

    pub fn from_bytes(b: &[u8]) -> Option<DataKey> {
        b.try_into().ok().map(DataKey)
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// nonce (24 bytes) || ciphertext+tag
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let mut nonce = [0u8; 24];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(&XNonce::from(nonce), plaintext)
            .expect("encryption does not fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn decrypt(&self, data: &[u8]) -> Option<Vec<u8>> {
        if data.len() < 24 {
            return None;
        }
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce: [u8; 24] = data[..24].try_into().ok()?;
        cipher.decrypt(&XNonce::from(nonce), &data[24..]).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let k = DataKey::generate();
        let mut ct = k.encrypt(b"lgk_secret");
        assert_eq!(k.decrypt(&ct).unwrap(), b"lgk_secret");
        ct[30] ^= 1;
        assert!(k.decrypt(&ct).is_none());
        assert!(DataKey::generate().decrypt(&k.encrypt(b"x")).is_none());
    }
}
