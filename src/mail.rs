//! Outgoing mail (SPEC §12.2): through the relay of `LABGATE_SMTP_URL` when set (plain SMTP,
//! STARTTLS required, or TLS from the start, with SMTP AUTH only over TLS), otherwise one RFC 5322
//! `.eml` file per message in `LABGATE_MAIL_DIR`, where an operator of an air-gapped lab can pick
//! it up. A message the relay cannot take now is kept in `LABGATE_MAIL_DIR/queue/` and tried
//! again with backoff for 24 hours, then moved to `LABGATE_MAIL_DIR/failed/`: mail is never lost
//! because a relay was down.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use lettre::address::Envelope;
use lettre::message::Body;
use lettre::message::header::{ContentTransferEncoding, ContentType, MIME_VERSION_1_0};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Address, Message, SmtpTransport, Transport};
use serde::{Deserialize, Serialize};

/// How a relay is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    /// `smtp://host[:25]`: plain SMTP (a relay inside the lab).
    Plain,
    /// `smtp://host:587?tls=required`: STARTTLS, refused if the relay does not offer it.
    StartTls,
    /// `smtps://host[:465]`: TLS from the first byte.
    Wrapper,
}

/// The relay of `LABGATE_SMTP_URL`.
#[derive(Clone, PartialEq, Eq)]
pub struct Relay {
    pub host: String,
    pub port: u16,
    pub security: Security,
    /// `user:password@` for SMTP AUTH (never over plain SMTP).
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("auth", &self.credentials.as_ref().map(|(u, _)| u))
            .finish()
    }
}

impl Relay {
    /// Reads `smtp://[user:password@]host[:port][?tls=required]` or
    /// `smtps://[user:password@]host[:port]`. The error never repeats the URL (it may hold a
    /// password).
    pub fn parse(raw: &str) -> Result<Relay, String> {
        const FORMS: &str =
            "must be smtp://host[:port], smtp://host:587?tls=required or smtps://host[:465]";
        let url = url::Url::parse(raw.trim()).map_err(|_| FORMS.to_string())?;
        let (mut security, default_port) = match url.scheme() {
            "smtp" => (Security::Plain, 25),
            "smtps" => (Security::Wrapper, 465),
            _ => return Err(FORMS.into()),
        };
        for (k, v) in url.query_pairs() {
            match (k.as_ref(), v.as_ref(), security) {
                ("tls", "required", Security::Plain | Security::StartTls) => {
                    security = Security::StartTls
                }
                _ => {
                    return Err(format!(
                        "{FORMS} (the only option is tls=required, for smtp://)"
                    ));
                }
            }
        }
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(FORMS.into());
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| FORMS.to_string())?
            .trim_matches(['[', ']'])
            .to_string();
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| "the user name and password must be UTF-8".to_string())
        };
        let credentials = match (url.username(), url.password()) {
            ("", None) => None,
            (user, Some(pass)) if !user.is_empty() => Some((decode(user)?, decode(pass)?)),
            _ => return Err("SMTP AUTH needs both user and password (user:password@)".into()),
        };
        if credentials.is_some() && security == Security::Plain {
            return Err(
                "user:password@ needs TLS (smtp://...?tls=required or smtps://): SMTP AUTH is never sent in the clear"
                    .into(),
            );
        }
        Ok(Relay {
            host,
            port: url.port().unwrap_or(default_port),
            security,
            credentials,
        })
    }

    /// The transport to this relay, verifying its certificate against `trust`.
    fn transport(&self, trust: &crate::tls::Trust, hello: &str) -> Result<SmtpTransport, String> {
        let mut b = SmtpTransport::builder_dangerous(self.host.clone())
            .port(self.port)
            .hello_name(ClientId::Domain(hello.to_string()))
            .timeout(Some(Duration::from_secs(20)));
        if self.security != Security::Plain {
            let mut p =
                TlsParameters::builder(self.host.clone()).certificate_store(CertificateStore::None);
            for der in trust.anchors.iter() {
                // An anchor lettre cannot take is skipped, as the system's bundle's are.
                if let Ok(c) = Certificate::from_der(der.to_vec()) {
                    p = p.add_root_certificate(c);
                }
            }
            let params = p
                .build_rustls()
                .map_err(|e| format!("cannot set up TLS to the relay: {e}"))?;
            b = b.tls(match self.security {
                Security::StartTls => Tls::Required(params),
                _ => Tls::Wrapper(params),
            });
        }
        if let Some((user, pass)) = &self.credentials {
            b = b
                .credentials(Credentials::new(user.clone(), pass.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(b.build())
    }
}

/// What became of one message.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    /// Taken by the relay, or spooled (`via` says which).
    Delivered { via: String, attempts: u32 },
    /// Kept in the queue to be tried again.
    Queued { error: String },
    /// Never to be delivered: refused for good by the relay, or still not taken after 24 hours
    /// (kept in `failed/`), or not a message at all.
    Failed { error: String, attempts: u32 },
}

/// What a queued message is for, carried with it so its final outcome can be audited.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    pub tenant: Option<String>,
    pub kind: String,
}

/// A message in `queue/` (or `failed/`): its envelope and text, and its history.
#[derive(Debug, Serialize, Deserialize)]
struct Queued {
    meta: Meta,
    from: String,
    to: String,
    queued_at: DateTime<Utc>,
    next_at: DateTime<Utc>,
    attempts: u32,
    last_error: String,
    message: String,
}

/// How long a queued message is tried for.
pub const QUEUE_LIFETIME: chrono::Duration = chrono::Duration::hours(24);

/// How many messages may wait at once; past it a new message fails at once (audited), so a
/// relay that is down cannot make the queue fill the disk.
pub const QUEUE_MAX: usize = 10_000;

/// How long a message given up stays in `failed/`.
pub const FAILED_KEPT: chrono::Duration = chrono::Duration::days(30);

/// A message's first attempt holds it this long before a retry pass may take it.
const IN_FLIGHT: chrono::Duration = chrono::Duration::minutes(5);

/// The wait after the `attempts`-th failed try: a minute, doubling, at most an hour.
pub fn backoff(attempts: u32) -> chrono::Duration {
    chrono::Duration::seconds((60i64 << attempts.saturating_sub(1).min(6)).min(3600))
}

#[derive(Clone)]
pub struct Mailer {
    dir: PathBuf,
    from: Address,
    transport: Option<SmtpTransport>,
}

impl Mailer {
    /// `from` is `LABGATE_MAIL_FROM`; `relay` the parsed `LABGATE_SMTP_URL`.
    pub fn new(
        dir: PathBuf,
        relay: Option<&Relay>,
        from: &str,
        trust: &crate::tls::Trust,
    ) -> Result<Mailer, String> {
        let from: Address = from
            .parse()
            .map_err(|_| format!("{from:?} is not a mail address"))?;
        if from.domain().starts_with('[') {
            return Err(format!(
                "{from} is an address literal; the sender must be at a domain name"
            ));
        }
        let hello = from.domain().to_string();
        let transport = relay.map(|r| r.transport(trust, &hello)).transpose()?;
        Ok(Mailer {
            dir,
            from,
            transport,
        })
    }

    fn queue_dir(&self) -> PathBuf {
        self.dir.join("queue")
    }

    fn failed_dir(&self) -> PathBuf {
        self.dir.join("failed")
    }

    /// Sends (or spools, or queues) one plain-text message. Blocking: call off the async
    /// workers. Errors name what failed but never carry the message body (it holds tokens).
    pub fn send(
        &self,
        to: &str,
        subject: &str,
        body: &str,
        meta: Meta,
        now: DateTime<Utc>,
    ) -> Sent {
        let failed = |error: String| Sent::Failed { error, attempts: 0 };
        let Ok(rcpt) = to.parse::<Address>() else {
            return failed("recipient address is not valid for mail".into());
        };
        let body = match eight_bit(body) {
            Ok(b) => b,
            Err(e) => return failed(e),
        };
        let id = format!("<{}@{}>", uuid::Uuid::new_v4().simple(), self.from.domain());
        let envelope = match Envelope::new(Some(self.from.clone()), vec![rcpt.clone()]) {
            Ok(e) => e,
            Err(e) => return failed(format!("cannot address the message: {e}")),
        };
        let msg = Message::builder()
            .envelope(envelope)
            .from(lettre::message::Mailbox::new(
                Some("labgate".into()),
                self.from.clone(),
            ))
            .to(lettre::message::Mailbox::new(None, rcpt.clone()))
            .subject(subject)
            .date(now.into())
            .message_id(Some(id))
            .header(MIME_VERSION_1_0)
            .header(ContentType::TEXT_PLAIN)
            // 8bit keeps links readable in a spooled .eml (quoted-printable would split them).
            .body(body);
        let msg = match msg {
            Ok(m) => m,
            Err(e) => return failed(format!("cannot build message: {e}")),
        };
        let text = msg.formatted();
        let Some(transport) = &self.transport else {
            return match self.spool(&text) {
                Ok(name) => Sent::Delivered {
                    via: format!("spool:{name}"),
                    attempts: 1,
                },
                Err(e) => failed(e),
            };
        };
        if self.queued() >= QUEUE_MAX {
            return failed(format!(
                "the mail queue holds {QUEUE_MAX} messages already (is the relay down?)"
            ));
        }
        let mut q = Queued {
            meta,
            from: self.from.to_string(),
            to: rcpt.to_string(),
            queued_at: now,
            // Not taken by a retry pass while this first attempt runs.
            next_at: now + IN_FLIGHT,
            attempts: 0,
            last_error: String::new(),
            // formatted() is UTF-8 text: the body is 8bit UTF-8 and headers are encoded.
            message: String::from_utf8_lossy(&text).into_owned(),
        };
        // Kept before it is tried: a stop or a crash during the attempt loses nothing (at
        // worst the message is sent twice).
        let file = self.queue_dir().join(format!(
            "{}-{}.json",
            now.format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        ));
        if let Err(e) = write_json(&file, &q) {
            log::error!("cannot keep a mail in {}: {e}", file.display());
            return failed("the message could not be queued".into());
        }
        self.attempt(transport, &mut q, Some(&file), now)
    }

    /// One try of the queued message `q` (kept as `file`): removed when delivered, rewritten
    /// with its next time on a passing failure, moved to `failed/` when it never will be.
    fn attempt(
        &self,
        transport: &SmtpTransport,
        q: &mut Queued,
        file: Option<&Path>,
        now: DateTime<Utc>,
    ) -> Sent {
        q.attempts += 1;
        let envelope = match (q.from.parse::<Address>(), q.to.parse::<Address>()) {
            (Ok(f), Ok(t)) => Envelope::new(Some(f), vec![t]),
            _ => return self.give_up(q, file, "the queued message's envelope is not valid".into()),
        };
        let err = match envelope {
            Ok(env) => match transport.send_raw(&env, q.message.as_bytes()) {
                Ok(_) => {
                    if let Some(f) = file
                        && let Err(e) = std::fs::remove_file(f)
                    {
                        log::error!("a delivered mail stays in {}: {e}", f.display());
                    }
                    return Sent::Delivered {
                        via: "smtp".into(),
                        attempts: q.attempts,
                    };
                }
                // Only a refused mailbox (550-553) is final: a 5xx to the greeting, AUTH or
                // STARTTLS is the relay's settings, which are fixed while the message waits.
                Err(e) if e.is_permanent() && permanent_code(&e) => {
                    let code = e.status().map(|c| c.to_string()).unwrap_or_default();
                    return self.give_up(
                        q,
                        file,
                        format!("the relay refused the recipient ({code})"),
                    );
                }
                Err(e) => describe(&e),
            },
            Err(e) => return self.give_up(q, file, format!("cannot address the message: {e}")),
        };
        q.last_error = err.clone();
        if now - q.queued_at >= QUEUE_LIFETIME {
            return self.give_up(
                q,
                file,
                format!("not delivered within 24 hours; last error: {err}"),
            );
        }
        q.next_at = now + backoff(q.attempts);
        let name = file.map(Path::to_path_buf).unwrap_or_else(|| {
            self.queue_dir().join(format!(
                "{}-{}.json",
                q.queued_at.format("%Y%m%dT%H%M%S%.3fZ"),
                uuid::Uuid::new_v4().simple()
            ))
        });
        match write_json(&name, q) {
            Ok(()) => Sent::Queued { error: err },
            Err(e) => {
                log::error!("cannot keep a mail in {}: {e}", name.display());
                Sent::Failed {
                    error: format!("{err}; and it could not be queued"),
                    attempts: q.attempts,
                }
            }
        }
    }

    /// Moves a message that will never be delivered to `failed/` (an operator may still read
    /// and forward it) and says why.
    fn give_up(&self, q: &mut Queued, file: Option<&Path>, error: String) -> Sent {
        q.last_error = error.clone();
        let name = self.failed_dir().join(
            file.and_then(Path::file_name)
                .map(PathBuf::from)
                .unwrap_or_else(|| format!("{}.json", uuid::Uuid::new_v4().simple()).into()),
        );
        if let Err(e) = write_json(&name, q) {
            log::error!("cannot keep a failed mail in {}: {e}", name.display());
        } else if let Some(f) = file {
            let _ = std::fs::remove_file(f);
        }
        Sent::Failed {
            error,
            attempts: q.attempts,
        }
    }

    /// Tries every queued message that is due at `now`, oldest first, and says what became of
    /// each (those tried again later are left out). Nothing to do without a relay.
    pub fn retry_due(&self, now: DateTime<Utc>) -> Vec<(Meta, String, Sent)> {
        let Some(transport) = &self.transport else {
            return vec![];
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.queue_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        let mut out = vec![];
        for f in files {
            let Some(mut q) = std::fs::read(&f)
                .ok()
                .and_then(|b| serde_json::from_slice::<Queued>(&b).ok())
            else {
                log::error!("{} is not a queued message; left where it is", f.display());
                continue;
            };
            if q.next_at > now {
                continue;
            }
            let sent = self.attempt(transport, &mut q, Some(&f), now);
            if matches!(sent, Sent::Queued { .. }) {
                // The relay is away: the others wait for the next pass rather than each
                // waiting out its own timeout now.
                break;
            }
            out.push((q.meta.clone(), q.to.clone(), sent));
        }
        self.prune_failed(now);
        out
    }

    /// Removes messages given up more than `FAILED_KEPT` ago: `failed/` does not grow without
    /// end, and what is in it holds links long expired.
    fn prune_failed(&self, now: DateTime<Utc>) {
        let Ok(d) = std::fs::read_dir(self.failed_dir()) else {
            return;
        };
        let cutoff = std::time::SystemTime::from(now - FAILED_KEPT);
        for e in d.filter_map(Result::ok) {
            if e.metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < cutoff)
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// How many messages wait in the queue.
    pub fn queued(&self) -> usize {
        std::fs::read_dir(self.queue_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Writes a spooled `.eml`; returns its name.
    fn spool(&self, text: &[u8]) -> Result<String, String> {
        // Spooled mail carries live reset links: only labgate's user may read it.
        crate::store::keyfile::private_dir(&self.dir)
            .map_err(|e| format!("cannot create mail directory: {e}"))?;
        // A sequence number keeps names in sending order; writing under a temporary name and
        // renaming means a pickup script never sees half a message.
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!(
            "{}-{seq:06}-{}.eml",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ"),
            uuid::Uuid::new_v4().simple()
        );
        let tmp = self.dir.join(format!(".{name}.tmp"));
        write_private(&tmp, text).map_err(|e| format!("cannot spool mail: {e}"))?;
        std::fs::rename(&tmp, self.dir.join(&name))
            .map_err(|e| format!("cannot spool mail: {e}"))?;
        Ok(name)
    }
}

/// Whether a relay's 5xx refuses the recipient (550-553), not the relay's own settings.
fn permanent_code(e: &lettre::transport::smtp::Error) -> bool {
    e.status()
        .is_some_and(|c| matches!(c.to_string().as_str(), "550" | "551" | "552" | "553"))
}

/// A relay's passing failure in words: the reply code, never the reply's text (a relay may echo
/// the message, links and all), and no operating-system text.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    if let Some(why) = crate::tls::refused_certificate(e) {
        format!(
            "TLS with the relay failed: its certificate is not trusted ({why}; see LABGATE_CA_FILE)"
        )
    } else if let Some(code) = e.status() {
        format!("the relay answered {code}")
    } else if e.is_tls() {
        "TLS with the relay failed (is its certificate trusted? see LABGATE_CA_FILE)".into()
    } else if e.is_timeout() {
        "the relay did not answer in time".into()
    } else if e.is_client() {
        // lettre's own refusals, such as a relay that does not offer STARTTLS.
        log::warn!("SMTP: {e}");
        "the relay does not offer what LABGATE_SMTP_URL requires (STARTTLS, AUTH)".into()
    } else {
        log::warn!("SMTP: {e}");
        "the relay could not be reached".into()
    }
}

/// Writes `q` as `path` (0600, in a 0700 directory), whole or not at all.
fn write_json(path: &Path, q: &Queued) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    if let Some(top) = dir.parent() {
        crate::store::keyfile::private_dir(top)?;
    }
    crate::store::keyfile::private_dir(dir)?;
    let tmp = dir.join(format!(".{}.tmp", uuid::Uuid::new_v4().simple()));
    write_private(&tmp, &serde_json::to_vec(q).map_err(std::io::Error::other)?)?;
    std::fs::rename(&tmp, path)
}

/// Writes a new file readable by its owner only (0600), whatever the umask.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
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

/// The sender when `LABGATE_MAIL_FROM` is not set: `labgate@<host of the public URL>`, or
/// `labgate@localhost` when that host is an IP address (mail headers name domains; an
/// appliance reached by address sets `LABGATE_MAIL_FROM`).
pub fn default_from(public_url: &str) -> String {
    let host = url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host().map(|h| h.to_owned()));
    match host {
        Some(url::Host::Domain(d)) => format!("labgate@{d}"),
        _ => "labgate@localhost".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trust() -> crate::tls::Trust {
        crate::tls::Trust::load(None).unwrap()
    }

    #[test]
    fn spooled_mail_is_readable_rfc5322() {
        let dir = tempfile::tempdir().unwrap();
        let m = Mailer::new(
            dir.path().to_path_buf(),
            None,
            "labgate@lab.example",
            &trust(),
        )
        .unwrap();
        let link = format!(
            "http://lab.example/reset-password#token=lgx_{}",
            "A".repeat(38)
        );
        let sent = m.send(
            "ops@lab.example",
            "subject",
            &format!("Open:\n\n{link}\n"),
            Meta::default(),
            Utc::now(),
        );
        assert!(
            matches!(&sent, Sent::Delivered { via, .. } if via.starts_with("spool:")),
            "{sent:?}"
        );
        let f = std::fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let text = std::fs::read_to_string(f).unwrap();
        for h in [
            "To: ops@lab.example",
            "From: labgate <labgate@lab.example>",
            "Subject: subject",
            "Date: ",
            "Message-ID: <",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
        ] {
            assert!(text.contains(h), "{h} in {text}");
        }
        assert!(text.contains("@lab.example>\r\n"), "{text}");
        assert!(text.contains(&link), "{text}");
    }

    #[test]
    fn an_address_literal_sender_is_refused_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let e = Mailer::new(dir.path().into(), None, "labgate@[127.0.0.1]", &trust())
            .err()
            .unwrap();
        assert!(e.contains("domain name"), "{e}");
    }

    #[test]
    fn relay_urls_take_the_three_forms_and_auth_only_over_tls() {
        let r = Relay::parse("smtp://relay.lab").unwrap();
        assert_eq!((r.port, r.security), (25, Security::Plain));
        let r = Relay::parse("smtp://ops%40lab:p%3Ass@relay.lab:587?tls=required").unwrap();
        assert_eq!((r.port, r.security), (587, Security::StartTls));
        assert_eq!(
            r.credentials,
            Some(("ops@lab".to_string(), "p:ss".to_string()))
        );
        assert!(!format!("{r:?}").contains("p:ss"), "no password in Debug");
        let r = Relay::parse("smtps://u:p@[::1]").unwrap();
        assert_eq!(
            (r.host.as_str(), r.port, r.security),
            ("::1", 465, Security::Wrapper)
        );
        for bad in [
            "smtp://u:secret@relay.lab",
            "smtp://relay.lab?tls=maybe",
            "smtps://relay.lab?tls=required",
            "http://relay.lab",
            "smtp://",
            "smtp://relay.lab/path",
            "smtp://u@relay.lab:587?tls=required",
        ] {
            let e = Relay::parse(bad).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
    }

    #[test]
    fn the_default_sender_is_at_the_public_host() {
        assert_eq!(
            default_from("https://lab.example:8443"),
            "labgate@lab.example"
        );
        assert_eq!(default_from("http://127.0.0.1:8080"), "labgate@localhost");
        for url in [
            "https://lab.example",
            "http://127.0.0.1:8080",
            "http://[::1]:80",
        ] {
            let a = default_from(url);
            assert!(a.parse::<Address>().is_ok(), "{a}");
        }
    }

    #[test]
    fn backoff_doubles_from_a_minute_to_an_hour() {
        let s: Vec<i64> = (1..=9).map(|n| backoff(n).num_seconds()).collect();
        assert_eq!(s, [60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    }
}
