//! The root key (SPEC §13.1): one 32-byte key outside the database, in the key file, under
//! which the token-signing keys, the data-encryption key and the audit MAC key are stored
//! encrypted in the database. A copy of the database alone (a stolen disk, a backup) reveals no
//! API key, no TOTP secret, and cannot sign a token.
//!
//! The file is created 0600, never overwritten, and a database whose keys are sealed is never
//! given a new root key: without its key file it is refused.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;

use crate::domain::crypto::DataKey;

const HEADER: &str = "labgate root key v1";

/// Where the key file is: `LABGATE_KEY_FILE` when set; else `$CREDENTIALS_DIRECTORY/labgate.key`
/// when systemd handed one over; else beside the database (`<db>.key`).
pub fn default_path(db: &Path, configured: Option<&Path>) -> PathBuf {
    if let Some(p) = configured {
        return p.to_path_buf();
    }
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let p = Path::new(&dir).join("labgate.key");
        if p.exists() {
            return p;
        }
    }
    if super::pg::is_postgres(db) {
        // No default beside a database that is not a file: `open_database` asks for one.
        return PathBuf::new();
    }
    let mut s = db.as_os_str().to_os_string();
    s.push(".key");
    PathBuf::from(s)
}

/// Reads the root key; `Ok(None)` when the file does not exist.
pub fn read(path: &Path) -> Result<Option<DataKey>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(format!(
                "LABGATE_KEY_FILE: cannot read {}: {e}",
                path.display()
            ));
        }
    };
    // A root key others could read may already be copied: say so loudly, and close it.
    if let Ok(m) = std::fs::metadata(path)
        && m.permissions().mode() & 0o077 != 0
    {
        log::warn!(
            "LABGATE_KEY_FILE: {} was readable by others (mode {:o}); restricting it to 0600. Treat its key as exposed",
            path.display(),
            m.permissions().mode() & 0o777
        );
        let _ = restrict(path);
    }
    let mut lines = text.lines();
    let bad = || {
        format!(
            "LABGATE_KEY_FILE: {} is not a labgate key file",
            path.display()
        )
    };
    if lines.next().map(str::trim) != Some(HEADER) {
        return Err(bad());
    }
    let b64 = lines.next().map(str::trim).ok_or_else(bad)?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad())?;
    DataKey::from_bytes(&raw).map(Some).ok_or_else(bad)
}

/// Creates a new key file with a fresh root key, mode 0600 (its directory 0700 when created
/// here); refuses to replace an existing file.
pub fn create(path: &Path) -> Result<DataKey, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        private_dir(dir)
            .map_err(|e| format!("LABGATE_KEY_FILE: cannot create {}: {e}", dir.display()))?;
    }
    let key = DataKey::generate();
    let text = format!(
        "{HEADER}\n{}\n",
        base64::engine::general_purpose::STANDARD.encode(key.bytes())
    );
    // Written whole and linked into place (a link never replaces an existing file): a crash
    // leaves either no key file or a complete one, never a torn file that would refuse every
    // later start.
    let out = write_whole(path, text.as_bytes(), Place::New);
    out.map_err(|e| format!("LABGATE_KEY_FILE: cannot create {}: {e}", path.display()))?;
    Ok(key)
}

/// How `write_whole` puts its file in place.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Never over an existing file (a hard link, which fails when the name exists).
    New,
    /// Over the old file, atomically (a rename).
    Replace,
}

/// Writes `bytes` to `path` whole: to a temporary file of this process's own (0600, never
/// shared with another writer), synced, put in place, and the directory synced, so a crash
/// leaves the old file or the new one, never a torn one.
pub fn write_whole(path: &Path, bytes: &[u8], place: Place) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_os_string();
    tmp.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        crate::store::new_id()
    ));
    let tmp = PathBuf::from(tmp);
    let out = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        match place {
            Place::New => std::fs::hard_link(&tmp, path)?,
            Place::Replace => std::fs::rename(&tmp, path)?,
        }
        sync_dir(path)
    })();
    let _ = std::fs::remove_file(&tmp);
    out
}

/// Syncs the directory holding `path`, so a file just created or renamed there survives a
/// power loss.
pub fn sync_dir(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// A directory only labgate's user may enter.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Restricts an existing file to its owner (0600); a missing file is fine.
pub fn restrict(path: &Path) -> std::io::Result<()> {
    match std::fs::metadata(path) {
        Ok(m) if m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_file_is_private_and_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub").join("x.db.key");
        let k = create(&p).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let dmode = std::fs::metadata(p.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode, 0o700);
        assert_eq!(read(&p).unwrap().unwrap().bytes(), k.bytes());
        assert!(
            create(&p).is_err(),
            "an existing key file is never replaced"
        );
        std::fs::write(&p, "something else\n").unwrap();
        assert!(read(&p).is_err());
        assert!(read(&dir.path().join("none")).unwrap().is_none());
    }
}
