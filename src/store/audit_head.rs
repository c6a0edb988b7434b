//! The audit chain's anchor outside the database (SPEC §13.2): the head (last sequence number
//! and hash), MACed with the audit MAC key, written to `<database file>.audit-head` at least
//! once a second and at shutdown. Someone who can edit the database but not read the key file
//! cannot cut the chain at its end, delete it whole, or rewrite it with recomputed hashes
//! without `labgate audit verify` noticing.

use std::path::{Path, PathBuf};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::domain::crypto::DataKey;

/// `<file>.audit-head`: the head of a SQLite database file (or of a backup).
pub fn beside(file: &Path) -> PathBuf {
    let mut s = file.as_os_str().to_os_string();
    s.push(".audit-head");
    PathBuf::from(s)
}

/// Where the head of the database `LABGATE_DB` names is kept: beside a SQLite file; on
/// PostgreSQL at `LABGATE_AUDIT_HEAD` (a path on each node), or nowhere when that is unset
/// (audit forwarding is then the outside anchor).
pub fn default_path(db: &Path) -> Option<PathBuf> {
    if super::pg::is_postgres(db) {
        return std::env::var_os("LABGATE_AUDIT_HEAD")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
    }
    Some(beside(db))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub seq: i64,
    pub hash: String,
    /// When the head was anchored (Unix seconds), MACed with it: `audit verify` shows its age,
    /// so an old head put back over a cut chain shows as old. `None` in heads of the first
    /// format, which had no time.
    pub at: Option<i64>,
    mac: String,
}

fn mac_of(key: &DataKey, seq: i64, hash: &str, at: Option<i64>) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key.bytes()).expect("any key length");
    match at {
        Some(at) => m.update(format!("labgate audit head v2\n{seq}\n{hash}\n{at}\n").as_bytes()),
        None => m.update(format!("labgate audit head v1\n{seq}\n{hash}\n").as_bytes()),
    }
    m
}

impl Head {
    pub fn new(key: &DataKey, seq: i64, hash: &str, at: i64) -> Head {
        let mac =
            crate::domain::token::hex(&mac_of(key, seq, hash, Some(at)).finalize().into_bytes());
        Head {
            seq,
            hash: hash.to_string(),
            at: Some(at),
            mac,
        }
    }

    /// Whether the MAC is the audit key's (compared in constant time).
    pub fn authentic(&self, key: &DataKey) -> bool {
        let Ok(raw) = (0..self.mac.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(self.mac.get(i..i + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
        else {
            return false;
        };
        mac_of(key, self.seq, &self.hash, self.at)
            .verify_slice(&raw)
            .is_ok()
    }
}

/// Writes the head atomically (a temporary file of this writer's own renamed over the old
/// one, then the directory synced), 0600. Several writers (the server and a CLI command) never
/// share a temporary file.
pub fn write(path: &Path, head: &Head) -> std::io::Result<()> {
    let at = head.at.map(|a| format!(" {a}")).unwrap_or_default();
    let text = format!("{} {}{at} {}\n", head.seq, head.hash, head.mac);
    crate::store::keyfile::write_whole(path, text.as_bytes(), crate::store::keyfile::Place::Replace)
}

/// Reads the head; `Ok(None)` when the file does not exist.
pub fn read(path: &Path) -> Result<Option<Head>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let parts: Vec<&str> = text.split_whitespace().collect();
    let bad = || format!("{} is not an audit head file", path.display());
    let (seq, hash, at, mac) = match parts.as_slice() {
        [seq, hash, at, mac] => (seq, hash, Some(at.parse().map_err(|_| bad())?), mac),
        [seq, hash, mac] => (seq, hash, None, mac),
        _ => return Err(bad()),
    };
    Ok(Some(Head {
        seq: seq.parse().map_err(|_| bad())?,
        hash: hash.to_string(),
        at,
        mac: mac.to_string(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_verifies_only_with_its_key_and_its_values() {
        let k = DataKey::generate();
        let h = Head::new(&k, 7, "abc", 1_700_000_000);
        assert!(h.authentic(&k));
        assert!(!h.authentic(&DataKey::generate()));
        let mut forged = h.clone();
        forged.seq = 3;
        assert!(!forged.authentic(&k));
        let mut older = h.clone();
        older.at = Some(1_600_000_000);
        assert!(!older.authentic(&k), "the time is MACed too");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.audit-head");
        write(&p, &h).unwrap();
        assert_eq!(read(&p).unwrap(), Some(h));
    }
}
