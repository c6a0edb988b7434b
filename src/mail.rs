//! Outgoing mail: through `LABGATE_SMTP_URL` when set, otherwise one RFC 5322 `.eml` file per
//! message in `LABGATE_MAIL_DIR`, where an operator of an air-gapped lab can pick it up.

use std::path::PathBuf;

use lettre::message::header::ContentType;
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
            .body(body.to_string())
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
                std::fs::create_dir_all(&self.dir)
                    .map_err(|e| format!("cannot create mail directory: {e}"))?;
                let name = format!(
                    "{}-{}.eml",
                    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
                    uuid::Uuid::new_v4().simple()
                );
                let path = self.dir.join(&name);
                std::fs::write(&path, msg.formatted())
                    .map_err(|e| format!("cannot spool mail: {e}"))?;
                Ok(format!("spool:{name}"))
            }
        }
    }
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
