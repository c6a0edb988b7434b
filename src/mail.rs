//! Outgoing mail: through `LABGATE_SMTP_URL` when set, otherwise one RFC 5322 `.eml` file per
//! message in `LABGATE_MAIL_DIR`, where an operator of an air-gapped lab can pick it up.

use std::path::PathBuf;

use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType};
use lettre::{Message, SmtpTransport, Transport};

#[derive(Clone)]
pub struct Mailer {
    dir: PathBuf,
    smtp: Option<String>,
    from: String,
}

impl Mailer {
    pub fn new(dir: PathBuf, smtp: Option<String>) -> Mailer {
        Mailer {
            dir,
            smtp,
            from: "labgate <labgate@localhost>".into(),
        }
    }

    /// Sends (or spools) one plain-text message. Blocking: call off the async workers.
    /// The error names what failed but never carries the message body (it holds tokens).
    pub fn send(&self, to: &str, subject: &str, body: &str) -> Result<String, String> {
        let msg = Message::builder()
            .from(self.from.parse().map_err(|e| format!("bad sender: {e}"))?)
            .to(to
                .parse()
                .map_err(|_| "recipient address is not valid for mail".to_string())?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            // 8bit keeps links readable in a spooled .eml (quoted-printable would split them).
            .body(eight_bit(body)?)
            .map_err(|e| format!("cannot build message: {e}"))?;
        match &self.smtp {
            Some(url) => {
                let (host, port) =
                    smtp_host_port(url).ok_or("LABGATE_SMTP_URL is not smtp://host[:port]")?;
                // Lab relays are internal; plain SMTP keeps the binary free of a TLS stack.
                let transport = SmtpTransport::builder_dangerous(host)
                    .port(port)
                    .timeout(Some(std::time::Duration::from_secs(10)))
                    .build();
                transport
                    .send(&msg)
                    .map_err(|e| format!("SMTP delivery failed: {e}"))?;
                Ok("smtp".into())
            }
            None => {
                // Spooled mail carries live reset links: only labgate's user may read it.
                crate::store::keyfile::private_dir(&self.dir)
                    .map_err(|e| format!("cannot create mail directory: {e}"))?;
                // A sequence number keeps names in sending order; writing under a temporary
                // name and renaming means a pickup script never sees half a message.
                static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let name = format!(
                    "{}-{seq:06}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                    uuid::Uuid::new_v4().simple()
                );
                let tmp = self.dir.join(format!(".{name}.tmp"));
                write_private(&tmp, &msg.formatted())
                    .map_err(|e| format!("cannot spool mail: {e}"))?;
                std::fs::rename(&tmp, self.dir.join(&name))
                    .map_err(|e| format!("cannot spool mail: {e}"))?;
                Ok(format!("spool:{name}"))
            }
        }
    }
}

/// Writes a new file readable by its owner only (0600), whatever the umask.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// The body as 8bit text with CRLF line ends. Every line labgate writes is far below the
/// 998-octet limit; a longer one is refused rather than sent malformed.
fn eight_bit(body: &str) -> Result<Body, String> {
    let crlf = body.replace("\r\n", "\n").replace('\n', "\r\n");
    if crlf.split("\r\n").any(|l| l.len() > 998) || crlf.contains('\0') {
        return Err("message line too long for mail".into());
    }
    Ok(Body::dangerous_pre_encoded(
        crlf.into_bytes(),
        ContentTransferEncoding::EightBit,
    ))
}

/// `smtp://host[:port]` -> (host, port), port 25 by default.
pub fn smtp_host_port(url: &str) -> Option<(String, u16)> {
    let rest = url.strip_prefix("smtp://")?.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (rest, 25),
    };
    (!host.is_empty() && !host.contains(['/', '@', ' '])).then(|| (host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spooled_mail_is_readable_rfc5322() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mailer::new(dir.path().to_path_buf(), None);
        let link = format!(
            "http://lab.example/reset-password#token=lgx_{}",
            "A".repeat(38)
        );
        let via = m
            .send("ops@lab.example", "subject", &format!("Open:\n\n{link}\n"))
            .unwrap();
        assert!(via.starts_with("spool:"));
        let f = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(f).unwrap();
        assert!(text.contains("To: ops@lab.example"));
        assert!(text.contains(&link), "{text}");
        assert!(text.contains("Date: "));
    }
}
