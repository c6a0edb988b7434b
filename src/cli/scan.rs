//! `labgate scan`: labgate secrets found in files (SPEC §16.3), offline, for an air-gapped lab
//! that cannot use an online scanner. A candidate is a known prefix and 38 base62 characters
//! at a word boundary; only one whose checksum matches is a find. The secret itself is never
//! printed: its kind, its first 8 characters and its state.

use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use super::admin::{Target, app, existing};
use crate::app::leaks;
use crate::store::audit::{AuditEvent, Outcome};

/// Files larger than this are skipped (named on standard error): secrets live in text.
const MAX_FILE: u64 = 64 << 20;

/// One find: where, and the candidate.
struct Hit {
    place: String,
    secret: String,
}

/// Every well-formed labgate secret in `line`.
fn candidates(line: &str) -> Vec<String> {
    let b = line.as_bytes();
    let mut out = vec![];
    let mut i = 0;
    while i + 42 <= b.len() {
        let starts = b[i] == b'l'
            && b[i + 1] == b'g'
            && matches!(b[i + 2], b'p' | b'k' | b'r' | b's' | b'x')
            && b[i + 3] == b'_'
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric());
        if starts {
            let body = &b[i + 4..i + 42];
            let after = b.get(i + 42);
            if body.iter().all(u8::is_ascii_alphanumeric)
                && !after.is_some_and(u8::is_ascii_alphanumeric)
            {
                let s = &line[i..i + 42];
                if leaks::recognise(s).is_some() {
                    out.push(s.to_string());
                    i += 42;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn scan_reader(name: &str, r: impl Read, hits: &mut Vec<Hit>) {
    let mut r = std::io::BufReader::new(r);
    let mut buf = Vec::new();
    let mut n = 0usize;
    loop {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                eprintln!("labgate: {name}: {e}");
                break;
            }
        }
        n += 1;
        let line = String::from_utf8_lossy(&buf);
        for secret in candidates(&line) {
            hits.push(Hit {
                place: format!("{name}:{n}"),
                secret,
            });
        }
    }
}

/// Files under `p`, depth first in name order; symbolic links are not followed (no loops, no
/// leaving the tree).
fn walk(p: &Path, out: &mut Vec<PathBuf>) {
    let Ok(meta) = std::fs::symlink_metadata(p) else {
        eprintln!("labgate: {}: cannot be read", p.display());
        return;
    };
    if meta.is_dir() {
        let Ok(rd) = std::fs::read_dir(p) else {
            eprintln!("labgate: {}: cannot be read", p.display());
            return;
        };
        let mut entries: Vec<PathBuf> = rd.filter_map(Result::ok).map(|e| e.path()).collect();
        entries.sort();
        for e in entries {
            walk(&e, out);
        }
    } else if meta.is_file() {
        if meta.len() > MAX_FILE {
            eprintln!("labgate: {}: larger than 64 MiB, skipped", p.display());
        } else {
            out.push(p.to_path_buf());
        }
    }
}

/// Runs the scan; the exit code is 1 when an active secret was found.
pub fn run(t: &Target, paths: &[PathBuf], revoke: bool) -> i32 {
    if let Err(e) = existing(t) {
        eprintln!("labgate: {e}");
        return 2;
    }
    let mut hits = Vec::new();
    if paths.is_empty() {
        scan_reader("<stdin>", std::io::stdin().lock(), &mut hits);
    } else {
        let mut files = Vec::new();
        for p in paths {
            walk(p, &mut files);
        }
        for f in files {
            match std::fs::File::open(&f) {
                Ok(file) => scan_reader(&f.display().to_string(), file, &mut hits),
                Err(e) => eprintln!("labgate: {}: {e}", f.display()),
            }
        }
    }
    let app = match app(t) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("labgate: {e}");
            return 2;
        }
    };
    let secrets: Vec<String> = hits.iter().map(|h| h.secret.clone()).collect();
    let by = AuditEvent {
        actor_type: "system".into(),
        actor_id: Some("cli".into()),
        outcome: Outcome::Success,
        ..Default::default()
    };
    let source = if paths.is_empty() {
        "labgate scan (standard input)".to_string()
    } else {
        format!(
            "labgate scan {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" ")
        )
    };
    let findings = match leaks::report_blocking(&app, &by, &secrets, &source, revoke, false) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("labgate: {}", e.message);
            return 2;
        }
    };
    let mut active = false;
    for (hit, f) in hits.iter().zip(&findings) {
        active |= f.state == leaks::State::Active;
        let state = if f.revoked_now {
            "revoked"
        } else {
            f.state.as_str()
        };
        println!(
            "{} {} {} {state}",
            hit.place,
            f.kind.unwrap_or("-"),
            f.prefix
        );
    }
    i32::from(active)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::token::{Kind, generate};

    #[test]
    fn candidates_are_well_formed_secrets_at_word_boundaries() {
        let t = generate(Kind::Pat);
        let s = t.expose();
        assert_eq!(candidates(&format!("TOKEN={s}\n")), [s]);
        assert_eq!(candidates(&format!("\"{s}\",'{s}'")), [s, s]);
        // Glued to more characters, it is something else.
        assert!(candidates(&format!("x{s}")).is_empty());
        assert!(candidates(&format!("{s}x")).is_empty());
        // A typo breaks the checksum; a look-alike of the right shape is not one.
        let mut typo = s.to_string();
        typo.replace_range(10..11, if &s[10..11] == "a" { "b" } else { "a" });
        assert!(candidates(&typo).is_empty());
        assert!(candidates(&format!("lgp_{}", "A".repeat(38))).is_empty());
        assert!(candidates("lgq_abc").is_empty());
    }
}
