//! The token-signing keys.

use rusqlite::{Connection, params};

use super::StoreResult;
use crate::domain::jwt::KeyMaterial;
use crate::domain::time;

/// Creates a signing key when none exists.
pub fn ensure(conn: &Connection) -> StoreResult<()> {
    let n: i64 = conn.query_row("SELECT COUNT(*) FROM signing_keys", [], |r| r.get(0))?;
    if n == 0 {
        let m = KeyMaterial::generate();
        conn.execute(
            "INSERT INTO signing_keys (kid, private_der, public_raw, created_at) VALUES (?1, ?2, ?3, ?4)",
            params![m.kid, m.private_der, m.public_raw, time::fmt(time::now())],
        )?;
    }
    Ok(())
}

/// The newest signing key.
pub fn current(conn: &Connection) -> StoreResult<KeyMaterial> {
    Ok(conn.query_row(
        "SELECT kid, private_der, public_raw FROM signing_keys ORDER BY created_at DESC, kid LIMIT 1",
        [],
        |r| Ok(KeyMaterial { kid: r.get(0)?, private_der: r.get(1)?, public_raw: r.get(2)? }),
    )?)
}

/// The appliance data-encryption key, created on first use.
pub fn data_key(conn: &Connection) -> StoreResult<crate::domain::crypto::DataKey> {
    use crate::domain::crypto::DataKey;
    let existing: Option<Vec<u8>> = super::optional(conn.query_row(
        "SELECT key FROM appliance_keys WHERE name = 'data'",
        [],
        |r| r.get(0),
    ))?;
    if let Some(k) = existing.as_deref().and_then(DataKey::from_bytes) {
        return Ok(k);
    }
    let k = DataKey::generate();
    conn.execute(
        "INSERT INTO appliance_keys (name, key, created_at) VALUES ('data', ?1, ?2)",
        params![k.bytes(), time::fmt(time::now())],
    )?;
    Ok(k)
}
