//! Confinement of file-sink paths to the noise root: a sink names a path relative to the root
//! and must not be able to write anywhere else, neither lexically (`..`, absolute paths) nor
//! through symlinks that already exist under the root.
//!
//! The check is made at validation time and creates nothing. A symlink planted afterwards is
//! not seen, so the sink should still open the file with `O_NOFOLLOW` (or re-validate) if the
//! tree under the root is writable by anyone it does not trust.

use std::io::ErrorKind;
use std::path::{Component, Path, PathBuf};

/// Resolves a sink's relative `path` under the noise root `root`. Refuses (Err with a short
/// human message): empty path, absolute paths, any `..` component, NUL bytes, and paths that,
/// after resolving symlinks of the existing parts, lead outside `root` (e.g. a symlink inside
/// root pointing out). Creates nothing. Returns the absolute path to write to (root
/// canonicalized joined with the path).
///
/// A root that does not exist yet is accepted: its longest existing ancestor is canonicalized
/// and the missing rest appended, which is where the root will be once created. Since nothing
/// exists below a missing root, nothing there can escape. `.` components are dropped; a path
/// ending in `/` or naming an existing directory is refused, since a sink writes a file.
/// Existing symlinks are accepted when their target resolves inside the root; dangling ones are
/// refused, because writing through them would create their target wherever it points.
pub fn resolve_under(root: &Path, path: &str) -> Result<PathBuf, String> {
    if path.is_empty() {
        return Err("path is empty".into());
    }
    if path.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    let rel = Path::new(path);
    if rel.is_absolute() || rel.has_root() || path.starts_with('\\') {
        return Err(format!(
            "path {path:?} is absolute; give it relative to the tenant's noise directory"
        ));
    }
    if path.ends_with('/') {
        return Err(format!("path {path:?} names a directory, not a file"));
    }
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("path {path:?} contains '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!(
                    "path {path:?} is absolute; give it relative to the tenant's noise directory"
                ));
            }
        }
    }
    if parts.is_empty() {
        return Err(format!("path {path:?} names no file"));
    }

    let root = canonical_root(root)?;
    let mut here = root.clone();
    let last = parts.len() - 1;
    for (n, part) in parts.iter().enumerate() {
        here.push(part);
        match std::fs::symlink_metadata(&here) {
            Ok(_) => {
                let real = std::fs::canonicalize(&here).map_err(|e| {
                    format!("cannot resolve {}: {}", shown(&root, &here), error_text(&e))
                })?;
                if !real.starts_with(&root) {
                    return Err(format!(
                        "path {path:?} leads outside the tenant's noise directory (through {})",
                        shown(&root, &here)
                    ));
                }
                let is_dir = real.is_dir();
                if n == last && is_dir {
                    return Err(format!("path {path:?} names a directory, not a file"));
                }
                if n < last && !is_dir {
                    return Err(format!("{} is not a directory", shown(&root, &here)));
                }
            }
            // Nothing below a missing component exists either, so nothing there can escape.
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            Err(e) => {
                return Err(format!(
                    "cannot inspect {}: {}",
                    shown(&root, &here),
                    error_text(&e)
                ));
            }
        }
    }
    let mut out = root;
    out.extend(parts);
    Ok(out)
}

fn canonical_root(root: &Path) -> Result<PathBuf, String> {
    if root.as_os_str().is_empty() {
        return Err("noise root is empty".into());
    }
    match std::fs::canonicalize(root) {
        Ok(real) if real.is_dir() => Ok(real),
        Ok(_) => Err(format!("noise root {} is not a directory", root.display())),
        Err(e) if e.kind() == ErrorKind::NotFound => missing_root(root),
        Err(e) => Err(format!(
            "cannot resolve noise root {}: {}",
            root.display(),
            error_text(&e)
        )),
    }
}

/// Canonicalizes the longest existing ancestor of a root that does not exist yet.
fn missing_root(root: &Path) -> Result<PathBuf, String> {
    let abs = std::path::absolute(root).map_err(|e| {
        format!(
            "cannot resolve noise root {}: {}",
            root.display(),
            error_text(&e)
        )
    })?;
    for ancestor in abs.ancestors() {
        if std::fs::symlink_metadata(ancestor).is_err() {
            continue;
        }
        let real = std::fs::canonicalize(ancestor).map_err(|e| {
            format!(
                "cannot resolve {} (above the noise root): {}",
                ancestor.display(),
                error_text(&e)
            )
        })?;
        if !real.is_dir() {
            return Err(format!(
                "noise root {} lies under {}, which is not a directory",
                root.display(),
                ancestor.display()
            ));
        }
        let rest = abs.strip_prefix(ancestor).unwrap_or(Path::new(""));
        let mut out = real;
        for c in rest.components() {
            match c {
                Component::Normal(p) => out.push(p),
                Component::CurDir => {}
                _ => {
                    return Err(format!(
                        "noise root {} has '..' in a part that does not exist yet",
                        root.display()
                    ));
                }
            }
        }
        return Ok(out);
    }
    Err(format!("cannot resolve noise root {}", root.display()))
}

/// A location relative to the root, for messages that should not leak the whole tree.
fn shown(root: &Path, p: &Path) -> String {
    match p.strip_prefix(root) {
        Ok(rel) => format!("{:?}", rel.display().to_string()),
        Err(_) => format!("{:?}", p.display().to_string()),
    }
}

/// A short reason for the caller, never the operating system's own text (which can say more
/// about the machine than the caller should learn); that goes to the log.
fn error_text(e: &std::io::Error) -> String {
    match e.kind() {
        ErrorKind::PermissionDenied => "permission denied".into(),
        ErrorKind::NotFound => "it does not exist (dangling symlink?)".into(),
        _ => {
            log::warn!("noise path: {e}");
            "it cannot be read".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("noise");
        fs::create_dir_all(root.join("logs")).expect("mkdir");
        (dir, root)
    }

    #[test]
    fn plain_relative_paths_resolve_under_the_canonical_root() {
        let (_dir, root) = setup();
        let canon = fs::canonicalize(&root).expect("canon");
        assert_eq!(resolve_under(&root, "a.log"), Ok(canon.join("a.log")));
        assert_eq!(
            resolve_under(&root, "logs/web.jsonl"),
            Ok(canon.join("logs/web.jsonl"))
        );
        assert_eq!(
            resolve_under(&root, "./logs/./x.log"),
            Ok(canon.join("logs/x.log"))
        );
        // Missing intermediate directories are fine: nothing is created.
        assert_eq!(
            resolve_under(&root, "new/deeper/x.log"),
            Ok(canon.join("new/deeper/x.log"))
        );
        assert!(!root.join("new").exists());
        // An existing file may be appended to.
        fs::write(root.join("logs/old.log"), "x").expect("write");
        assert_eq!(
            resolve_under(&root, "logs/old.log"),
            Ok(canon.join("logs/old.log"))
        );
    }

    #[test]
    fn lexical_refusals() {
        let (_dir, root) = setup();
        for bad in [
            "",
            "/etc/passwd",
            "/",
            "..",
            "../x.log",
            "logs/../../x.log",
            "logs/..",
            "a/../b.log",
            "x\0.log",
            ".",
            "./",
            "logs/",
        ] {
            let r = resolve_under(&root, bad);
            assert!(r.is_err(), "{bad:?} accepted: {r:?}");
            let msg = r.err().unwrap_or_default();
            assert!(!msg.is_empty() && msg.len() < 200, "{msg}");
        }
        assert!(
            resolve_under(&root, "../x")
                .err()
                .unwrap_or_default()
                .contains("'..'")
        );
        assert!(
            resolve_under(&root, "/x")
                .err()
                .unwrap_or_default()
                .contains("absolute")
        );
    }

    #[test]
    fn existing_directory_is_not_a_file() {
        let (_dir, root) = setup();
        assert!(resolve_under(&root, "logs").is_err());
        fs::write(root.join("file"), "x").expect("write");
        assert!(resolve_under(&root, "file/x.log").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_that_escape_are_refused() {
        use std::os::unix::fs::symlink;
        let (dir, root) = setup();
        let outside = dir.path().join("outside");
        fs::create_dir_all(&outside).expect("mkdir");
        fs::write(outside.join("secret"), "x").expect("write");

        symlink(&outside, root.join("out_dir")).expect("symlink");
        symlink(outside.join("secret"), root.join("out_file")).expect("symlink");
        symlink("../outside", root.join("logs/rel_out")).expect("symlink");
        symlink(outside.join("nothing-yet"), root.join("dangling")).expect("symlink");

        for bad in [
            "out_dir/x.log",
            "out_file",
            "logs/rel_out/x.log",
            "dangling",
            "out_dir/deeper/x.log",
        ] {
            let r = resolve_under(&root, bad);
            assert!(r.is_err(), "{bad:?} accepted: {r:?}");
        }
        let msg = resolve_under(&root, "out_dir/x.log")
            .err()
            .unwrap_or_default();
        assert!(
            msg.contains("outside the tenant's noise directory"),
            "{msg}"
        );
        assert!(!outside.join("nothing-yet").exists());

        // A symlink that stays inside the root is fine; the returned path goes through it.
        symlink(root.join("logs"), root.join("current")).expect("symlink");
        let canon = fs::canonicalize(&root).expect("canon");
        assert_eq!(
            resolve_under(&root, "current/x.log"),
            Ok(canon.join("current/x.log"))
        );
    }

    #[cfg(unix)]
    #[test]
    fn root_given_through_a_symlink_or_missing() {
        use std::os::unix::fs::symlink;
        let (dir, root) = setup();
        let alias = dir.path().join("alias");
        symlink(&root, &alias).expect("symlink");
        let canon = fs::canonicalize(&root).expect("canon");
        assert_eq!(resolve_under(&alias, "a.log"), Ok(canon.join("a.log")));

        let missing = alias.join("not/yet");
        assert_eq!(
            resolve_under(&missing, "a.log"),
            Ok(canon.join("not/yet/a.log"))
        );
        assert!(!root.join("not").exists());

        fs::write(dir.path().join("plainfile"), "x").expect("write");
        assert!(resolve_under(&dir.path().join("plainfile"), "a.log").is_err());
        assert!(resolve_under(&dir.path().join("plainfile/sub"), "a.log").is_err());
        assert!(resolve_under(Path::new(""), "a.log").is_err());
    }
}
