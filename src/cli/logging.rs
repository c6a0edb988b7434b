//! The server's log lines (SPEC §14): text (without timestamps when journald, which stamps
//! every line itself, captures the output) or one JSON object a line. `RUST_LOG` filters both.

use std::io::Write;

use log::kv::{Error, Key, Value, VisitSource};

use crate::config::LogFormat;

/// Installs the logger of `labgate serve`.
pub fn init(format: LogFormat) {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    match format {
        LogFormat::Json => {
            b.format(|buf, record| {
                let mut line = serde_json::Map::new();
                line.insert(
                    "ts".into(),
                    chrono::Utc::now()
                        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                        .into(),
                );
                line.insert("level".into(), record.level().as_str().into());
                line.insert("msg".into(), record.args().to_string().into());
                let _ = record.key_values().visit(&mut Fields(&mut line));
                writeln!(buf, "{}", serde_json::Value::Object(line))
            });
        }
        LogFormat::Text => {
            if to_journal() {
                b.format_timestamp(None);
            }
        }
    }
    b.init();
}

/// Whether standard error is the journal's stream: systemd names it in `JOURNAL_STREAM`
/// (`device:inode`), which a child started with the variable but another stderr must not
/// trust (sd_journal_stream_fd(3)).
fn to_journal() -> bool {
    use std::os::unix::fs::MetadataExt;
    let Some(named) = std::env::var("JOURNAL_STREAM").ok() else {
        return false;
    };
    let Ok(m) = std::fs::metadata("/proc/self/fd/2") else {
        return false;
    };
    named == format!("{}:{}", m.dev(), m.ino())
}

/// Copies a record's key-values into the JSON line: whole numbers and decimals as numbers,
/// everything else as text.
struct Fields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), Error> {
        let v = if let Some(n) = value.to_u64() {
            n.into()
        } else if let Some(n) = value.to_i64() {
            n.into()
        } else if let Some(f) = value.to_f64() {
            serde_json::Number::from_f64(f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null)
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_string(), v);
        Ok(())
    }
}
