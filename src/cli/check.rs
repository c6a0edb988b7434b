//! `labgate check`: reads the configuration as `serve` would (the environment, or a file in
//! systemd's `EnvironmentFile=` form over it), then the directories, the listeners, the
//! database and its key file, and prints what is wrong, one line each. It changes nothing;
//! the unit runs it as `ExecStartPre`, so a bad setting is named before the server starts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::app::lifecycle;
use crate::config::{Config, ServeArgs};

/// The variables of an environment file: `NAME=value` lines, `#` comments and blank lines
/// skipped, an optional `export `, a value in single or double quotes taken as written.
pub fn read_env_file(path: &Path) -> Result<HashMap<String, String>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("--env-file: cannot read {}: {e}", path.display()))?;
    let mut vars = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let Some((name, value)) = line.split_once('=') else {
            return Err(format!(
                "--env-file: {} line {}: not NAME=value",
                path.display(),
                n + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "--env-file: {} line {}: {name:?} is not a variable name",
                path.display(),
                n + 1
            ));
        }
        let value = value.trim();
        let unquoted = ['"', '\'']
            .iter()
            .find_map(|q| value.strip_prefix(*q).and_then(|v| v.strip_suffix(*q)))
            .unwrap_or(value);
        vars.insert(name.to_string(), unquoted.to_string());
    }
    Ok(vars)
}

/// Where a directory setting is usable: it exists and takes files, or its parent does (the
/// server creates it).
fn usable_dir(var: &str, dir: &Path, problems: &mut Vec<String>) {
    let at = if dir.exists() {
        dir.to_path_buf()
    } else {
        let parent = std::path::absolute(dir)
            .ok()
            .and_then(|d| d.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        if !parent.exists() {
            problems.push(format!(
                "{var}: {} does not exist, nor does its parent {}",
                dir.display(),
                parent.display()
            ));
            return;
        }
        parent
    };
    if let Err(e) = lifecycle::writable_dir(&at) {
        problems.push(format!("{var}: {e}"));
    }
}

fn bindable(var: &str, addr: std::net::SocketAddr, problems: &mut Vec<String>) {
    if addr.port() == 0 {
        return;
    }
    if let Err(e) = std::net::TcpListener::bind(addr) {
        problems.push(format!(
            "{var}: {addr} cannot be bound: {e} (is labgate already running?)"
        ));
    }
}

/// Runs the checks; `db` is `--db` when given on the command line.
pub fn run(
    db: Option<&Path>,
    key_file: Option<&Path>,
    env_file: Option<&Path>,
) -> Result<(), String> {
    let file = match env_file {
        Some(p) => read_env_file(p)?,
        None => HashMap::new(),
    };
    let lookup = |name: &str| file.get(name).cloned().or_else(|| std::env::var(name).ok());
    let mut problems = Vec::new();
    let mut ok = Vec::new();
    let db = db
        .map(Path::to_path_buf)
        .or_else(|| lookup("LABGATE_DB").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("./labgate.db"));
    let named_key = key_file
        .map(Path::to_path_buf)
        .or_else(|| lookup("LABGATE_KEY_FILE").map(PathBuf::from));
    let key_file = lifecycle::default_key_file(&db, named_key.as_deref());
    let config = ServeArgs::from_lookup(lookup)
        .map_err(|e| e.to_string().lines().next().unwrap_or("").to_string())
        .and_then(|args| Config::from_args(db.clone(), &args));
    match config {
        Ok(config) => {
            ok.push(format!(
                "configuration: listening on {}, {} environment",
                config.listen,
                if config.is_production() {
                    "production"
                } else {
                    "development"
                }
            ));
            bindable("LABGATE_LISTEN", config.listen, &mut problems);
            if let Some(m) = config.metrics_listen {
                bindable("LABGATE_METRICS_LISTEN", m, &mut problems);
            }
            usable_dir("LABGATE_MAIL_DIR", &config.mail_dir, &mut problems);
            usable_dir("LABGATE_NOISE_DIR", &config.noise_dir, &mut problems);
            if let Some(b) = &config.backups {
                usable_dir("LABGATE_BACKUP_DIR", &b.dir, &mut problems);
            }
        }
        Err(e) => problems.push(e),
    }
    let checked = lifecycle::check_database(&db, &key_file);
    ok.extend(checked.ok);
    problems.extend(checked.problems);
    for line in &ok {
        println!("ok: {line}");
    }
    for line in &problems {
        eprintln!("labgate check: {line}");
    }
    match problems.len() {
        0 => Ok(()),
        1 => Err("1 problem: the server would not start as configured".into()),
        n => Err(format!(
            "{n} problems: the server would not start as configured"
        )),
    }
}
