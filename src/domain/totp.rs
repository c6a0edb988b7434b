//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step either side) with replay
//! protection by time step, and recovery codes.

use rand::RngCore;
use totp_rs::{Algorithm, TOTP};

pub const STEP: u64 = 30;

/// A fresh 160-bit TOTP secret.
pub fn new_secret() -> Vec<u8> {
    let mut s = vec![0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut s);
    s
}

fn totp(secret: &[u8], account: &str) -> Option<TOTP> {
    // ':' separates issuer and account in otpauth labels; keep it out of the account.
    let account = account.replace(':', "_");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP,
        secret.to_vec(),
        Some("labgate".into()),
        account,
    )
    .ok()
}

pub fn base32(secret: &[u8]) -> String {
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, secret)
}

pub fn otpauth_url(secret: &[u8], account: &str) -> String {
    totp(secret, account)
        .map(|t| t.get_url())
        .unwrap_or_default()
}

/// The enrollment QR code as an SVG document, rendered in process (no external service).
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .build(),
        Err(_) => String::new(),
    }
}

/// The code for a time (tests and the console use it too).
pub fn code_at(secret: &[u8], unix: u64) -> String {
    totp(secret, "x")
        .map(|t| t.generate(unix))
        .unwrap_or_default()
}

/// Checks `code` at `now` (one step either side). Returns the matched time step when it is
/// newer than `last_step`: a code, or any code of an earlier step, is accepted once.
pub fn verify(secret: &[u8], code: &str, now: u64, last_step: Option<i64>) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = (now / STEP) as i64;
    let t = totp(secret, "x")?;
    let mut matched = None;
    for step in [current - 1, current, current + 1] {
        if step < 0 {
            continue;
        }
        let expected = t.generate(step as u64 * STEP);
        if super::token::ct_eq(&expected, code) {
            matched = Some(step);
        }
    }
    matched.filter(|s| last_step.is_none_or(|l| *s > l))
}

/// Ten recovery codes of 80 bits each (`xxxx-xxxx-xxxx-xxxx`, base32), so SHA-256 suffices to
/// store them.
pub fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut b = [0u8; 10];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let s = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &b).to_lowercase();
            format!("{}-{}-{}-{}", &s[0..4], &s[4..8], &s[8..12], &s[12..16])
        })
        .collect()
}

/// The stored form of a recovery code: normalised (case, dashes, spaces) then hashed.
pub fn recovery_hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase();
    super::token::hash(&norm)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_verify_once_per_step() {
        let s = new_secret();
        let now = 1_700_000_000;
        let c = code_at(&s, now);
        let step = verify(&s, &c, now, None).unwrap();
        assert_eq!(verify(&s, &c, now, Some(step)), None, "replay");
        let prev = code_at(&s, now - 30);
        assert_eq!(
            verify(&s, &prev, now, Some(step)),
            None,
            "earlier step after a later one"
        );
        assert!(verify(&s, &prev, now, None).is_some(), "one step of skew");
        assert_eq!(verify(&s, &code_at(&s, now - 90), now, None), None);
        assert_eq!(verify(&s, "12345", now, None), None);
    }

    #[test]
    fn recovery_codes_normalise() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(
            recovery_hash(&codes[0]),
            recovery_hash(&codes[0].to_uppercase().replace('-', " "))
        );
        assert!(
            otpauth_url(&new_secret(), "ops@lab.example")
                .starts_with("otpauth://totp/labgate:ops%40lab.example")
        );
        assert!(qr_svg("otpauth://totp/x").contains("<svg"));
    }
}
