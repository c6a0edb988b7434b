//! Noise sinks: validation of their settings, and the writers that deliver events to a file
//! under `LABGATE_NOISE_DIR`, a syslog receiver (UDP, or TCP with RFC 6587 octet counting) or
//! an HTTP endpoint (JSON arrays in batches).

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;
use std::time::Instant;

use serde_json::{Map, Value, json};

use super::noise::{Event, SyslogFormat, resolve_under, write_octet_counted, write_syslog};
use crate::domain::net::Destinations;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The host and port an `http://` or `https://` URL names (port 80 or 443 when none), read as
/// the HTTP client reads it (the `url` crate), or `None` when malformed.
fn url_host_port(url: &str) -> Option<(String, u16)> {
    let u = url::Url::parse(url).ok()?;
    if !matches!(u.scheme(), "http" | "https") {
        return None;
    }
    let host = u.host_str()?.trim_matches(['[', ']']).to_string();
    Some((host, u.port_or_known_default()?))
}

/// Whether a host that is not a standard address literal would still be read as one by the
/// resolver (`inet_aton` forms: fewer parts, octal, hex, one 32-bit number). No top-level
/// domain is numeric, so a last label of digits (or `0x` and hex digits) marks one.
fn numeric_host(host: &str) -> bool {
    let last = host.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let hex = last
        .strip_prefix("0x")
        .or_else(|| last.strip_prefix("0X"))
        .is_some_and(|h| h.chars().all(|c| c.is_ascii_hexdigit()));
    hex || (!last.is_empty() && last.chars().all(|c| c.is_ascii_digit()))
}

/// Resolves a destination and checks the address it connects to (SPEC §12.2: names are
/// checked when the run connects, so a name that later points elsewhere is caught). Errors
/// carry no operating-system text.
fn resolve_checked(
    host: &str,
    port: u16,
    policy: &Destinations,
) -> Result<Vec<std::net::SocketAddr>, String> {
    let addrs: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| {
            log::warn!("sink host {host}: {e}");
            format!("the sink's host {host} cannot be resolved")
        })?
        .collect();
    if addrs.is_empty() {
        return Err(format!("the sink's host {host} has no address"));
    }
    for a in &addrs {
        policy
            .allows(*a)
            .map_err(|why| format!("the sink's destination {a} is refused: {why}"))?;
    }
    Ok(addrs)
}

/// A sink's validated settings.
#[derive(Debug, Clone, PartialEq)]
pub enum SinkSpec {
    File {
        path: String,
    },
    Syslog {
        host: String,
        port: u16,
        transport: Transport,
        format: SyslogFormat,
        /// Events a second at most (`None`: as fast as the receiver takes them).
        max_rate: Option<u32>,
    },
    Http {
        url: String,
        batch_size: usize,
    },
}

/// How a syslog sink reaches its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    /// RFC 6587 octet counting.
    Tcp,
    /// RFC 5425: TLS, octet counting.
    Tls,
}

impl Transport {
    fn name(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// The pace of a UDP sink when none is set: what a stock receiver's socket buffer keeps up with.
pub const UDP_DEFAULT_RATE: u32 = 10_000;

/// Why settings were refused: the field and a message, for a 400 naming it.
pub type Invalid = (String, String);

fn bad(field: &str, msg: impl Into<String>) -> Invalid {
    (field.to_string(), msg.into())
}

fn str_field<'a>(m: &'a Map<String, Value>, k: &str) -> Result<Option<&'a str>, Invalid> {
    match m.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(k, "must be a string")),
    }
}

impl SinkSpec {
    /// Validates `kind` and its fields (unknown fields are refused).
    pub fn parse(
        kind: &str,
        m: &Map<String, Value>,
        noise_dir: &Path,
    ) -> Result<SinkSpec, Invalid> {
        let allowed: &[&str] = match kind {
            "file" => &["path"],
            "syslog" => &["host", "port", "protocol", "format", "max_rate"],
            "http" => &["url", "batch_size"],
            _ => return Err(bad("kind", "must be file, syslog or http")),
        };
        if let Some(k) = m.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(bad(k, format!("not a setting of a {kind} sink")));
        }
        match kind {
            "file" => {
                let path = str_field(m, "path")?.ok_or_else(|| bad("path", "is required"))?;
                resolve_under(noise_dir, path).map_err(|e| bad("path", e))?;
                Ok(SinkSpec::File {
                    path: path.to_string(),
                })
            }
            "syslog" => {
                let host = str_field(m, "host")?.ok_or_else(|| bad("host", "is required"))?;
                if host.is_empty()
                    || host.len() > 253
                    || host
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
                {
                    return Err(bad("host", "must be a host name or address"));
                }
                let transport = match str_field(m, "protocol")?.unwrap_or("udp") {
                    "udp" => Transport::Udp,
                    "tcp" => Transport::Tcp,
                    "tls" => Transport::Tls,
                    _ => return Err(bad("protocol", "must be udp, tcp or tls")),
                };
                let port = match m.get("port") {
                    None | Some(Value::Null) if transport == Transport::Tls => 6514,
                    None | Some(Value::Null) => 514,
                    Some(v) => v
                        .as_u64()
                        .filter(|p| (1..=65535).contains(p))
                        .ok_or_else(|| bad("port", "must be 1-65535"))?,
                };
                let max_rate = match m.get("max_rate") {
                    None | Some(Value::Null) => {
                        (transport == Transport::Udp).then_some(UDP_DEFAULT_RATE)
                    }
                    Some(v) => Some(
                        v.as_u64()
                            .filter(|r| (1..=10_000_000).contains(r))
                            .ok_or_else(|| bad("max_rate", "must be 1-10000000 events a second"))?
                            as u32,
                    ),
                };
                let format = match str_field(m, "format")?.unwrap_or("rfc5424") {
                    "rfc5424" => SyslogFormat::Rfc5424,
                    "rfc3164" => SyslogFormat::Rfc3164,
                    _ => return Err(bad("format", "must be rfc5424 or rfc3164")),
                };
                Ok(SinkSpec::Syslog {
                    host: host.to_string(),
                    port: port as u16,
                    transport,
                    format,
                    max_rate,
                })
            }
            _ => {
                let url = str_field(m, "url")?.ok_or_else(|| bad("url", "is required"))?;
                if url.len() > 2048 {
                    return Err(bad("url", "must be at most 2048 characters"));
                }
                let rest = url
                    .strip_prefix("https://")
                    .or_else(|| url.strip_prefix("http://"))
                    .ok_or_else(|| bad("url", "must be an http:// or https:// URL"))?;
                let authority = rest.split('/').next().unwrap_or("");
                if authority.contains('@') {
                    return Err(bad("url", "must not carry credentials (user:password@)"));
                }
                if rest.is_empty()
                    || rest.starts_with('/')
                    || url.chars().any(|c| c.is_whitespace() || c.is_control())
                {
                    return Err(bad("url", "must be an http:// or https:// URL with a host"));
                }
                let batch_size = match m.get("batch_size") {
                    None | Some(Value::Null) => 500,
                    Some(v) => v
                        .as_u64()
                        .filter(|b| (1..=10_000).contains(b))
                        .ok_or_else(|| bad("batch_size", "must be 1-10000"))?
                        as usize,
                };
                Ok(SinkSpec::Http {
                    url: url.to_string(),
                    batch_size,
                })
            }
        }
    }

    /// At save time: a literal address in a refused range is refused (400 naming the field);
    /// names are checked when a run connects.
    pub fn check_destination(&self, policy: &Destinations) -> Result<(), Invalid> {
        let (field, host, port) = match self {
            SinkSpec::File { .. } => return Ok(()),
            SinkSpec::Syslog { host, port, .. } => ("host", host.clone(), *port),
            SinkSpec::Http { url, .. } => {
                let (h, p) = url_host_port(url)
                    .ok_or_else(|| bad("url", "must be an http:// or https:// URL with a host"))?;
                ("url", h, p)
            }
        };
        if let Ok(ip) = host.parse::<std::net::IpAddr>() {
            policy
                .allows(std::net::SocketAddr::new(ip, port))
                .map_err(|why| bad(field, why))?;
        } else if numeric_host(&host) {
            // `127.1`, `2130706433` or `0x7f.0.0.1` are addresses to the resolver, not names:
            // only the standard forms are accepted, so the check above sees every literal.
            return Err(bad(
                field,
                "an IPv4 address must be written as four decimal numbers (a.b.c.d)",
            ));
        }
        Ok(())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SinkSpec::File { .. } => "file",
            SinkSpec::Syslog { .. } => "syslog",
            SinkSpec::Http { .. } => "http",
        }
    }

    /// The stored (and shown) settings.
    pub fn config(&self) -> Map<String, Value> {
        let v = match self {
            SinkSpec::File { path } => json!({"path": path}),
            SinkSpec::Syslog {
                host,
                port,
                transport,
                format,
                max_rate,
            } => json!({
                "host": host, "port": port, "protocol": transport.name(),
                "format": if *format == SyslogFormat::Rfc5424 { "rfc5424" } else { "rfc3164" },
                "max_rate": max_rate,
            }),
            SinkSpec::Http { url, batch_size } => json!({"url": url, "batch_size": batch_size}),
        };
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    /// How many events to hand the writer at a time.
    pub fn batch(&self) -> usize {
        match self {
            SinkSpec::Http { batch_size, .. } => *batch_size,
            _ => 4096,
        }
    }

    pub fn open(
        &self,
        noise_dir: &Path,
        policy: &Destinations,
        trust: &crate::tls::Trust,
    ) -> Result<Box<dyn SinkWriter>, String> {
        match self {
            SinkSpec::File { path } => {
                // Resolved again at run time: the tree may have changed since validation.
                let full: PathBuf = resolve_under(noise_dir, path)?;
                if let Some(parent) = full.parent() {
                    // The tenant's directory and those under it only its owner may enter.
                    crate::store::keyfile::private_dir(parent).map_err(|e| {
                        log::warn!("sink directory {}: {e}", parent.display());
                        "cannot create the sink's directory".to_string()
                    })?;
                }
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .custom_flags(libc::O_NOFOLLOW)
                    .open(&full)
                    .map_err(|e| {
                        log::warn!("sink file {}: {e}", full.display());
                        "cannot open the sink file".to_string()
                    })?;
                Ok(Box::new(FileWriter {
                    f,
                    buf: Vec::with_capacity(1 << 20),
                }))
            }
            SinkSpec::Syslog {
                host,
                port,
                transport,
                format,
                max_rate,
            } => {
                let addr = resolve_checked(host, *port, policy)?[0];
                let pace = Pace::new(*max_rate);
                if *transport == Transport::Udp {
                    let bind = if addr.is_ipv6() {
                        "[::]:0"
                    } else {
                        "0.0.0.0:0"
                    };
                    let s = UdpSocket::bind(bind)
                        .map_err(|_| "cannot open a UDP socket".to_string())?;
                    s.connect(addr).map_err(|_| {
                        format!("the syslog receiver {addr} cannot be reached over UDP")
                    })?;
                    return Ok(Box::new(UdpSyslog {
                        s,
                        format: *format,
                        line: Vec::new(),
                        pace,
                        sent: 0,
                    }));
                }
                let over = if *transport == Transport::Tls {
                    "TLS"
                } else {
                    "TCP"
                };
                let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| {
                    log::warn!("syslog {over} connect to {addr}: {e}");
                    format!("the syslog receiver {addr} could not be reached over {over}")
                })?;
                tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
                tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
                let s = if *transport == Transport::Tls {
                    // The certificate must name the host the sink was given.
                    Stream::Tls(Box::new(crate::tls::connect(trust, host, tcp)?))
                } else {
                    Stream::Tcp(tcp)
                };
                Ok(Box::new(StreamSyslog {
                    s,
                    over,
                    format: *format,
                    buf: Vec::new(),
                    line: Vec::new(),
                    pace,
                }))
            }
            SinkSpec::Http { url, .. } => {
                let policy = policy.clone();
                let refused = std::sync::Arc::new(std::sync::Mutex::new(None));
                let why = refused.clone();
                Ok(Box::new(HttpWriter {
                    refused,
                    url: url.clone(),
                    agent: ureq::AgentBuilder::new()
                        .tls_config(trust.client_with_alpn(&[b"http/1.1"]))
                        .timeout(IO_TIMEOUT)
                        .redirects(0)
                        // Every connection's address is checked, so a name resolving somewhere
                        // refused (or changing to) is caught where it connects.
                        .resolver(
                            move |netloc: &str| -> std::io::Result<Vec<std::net::SocketAddr>> {
                                let (host, port) = netloc
                                    .rsplit_once(':')
                                    .and_then(|(h, p)| {
                                        Some((h.trim_matches(['[', ']']), p.parse().ok()?))
                                    })
                                    .ok_or_else(|| std::io::Error::other("malformed address"))?;
                                resolve_checked(host, port, &policy).map_err(|e| {
                                    *why.lock().unwrap_or_else(|p| p.into_inner()) =
                                        Some(e.clone());
                                    std::io::Error::other(e)
                                })
                            },
                        )
                        .build(),
                    buf: Vec::new(),
                }))
            }
        }
    }
}

/// Delivers events; `send` may buffer, `finish` flushes.
pub trait SinkWriter: Send {
    fn send(&mut self, batch: &[Event]) -> Result<(), String>;
    /// How many events of the batch whose `send` failed were delivered all the same (a UDP
    /// sink sends event by event; the others deliver a batch whole or not at all).
    fn partly_sent(&self) -> usize {
        0
    }
    fn finish(&mut self) -> Result<(), String>;
}

struct FileWriter {
    f: std::fs::File,
    buf: Vec<u8>,
}

impl SinkWriter for FileWriter {
    fn send(&mut self, batch: &[Event]) -> Result<(), String> {
        for e in batch {
            e.write_json(&mut self.buf);
            self.buf.push(b'\n');
        }
        if self.buf.len() >= 1 << 20 {
            self.f
                .write_all(&self.buf)
                .map_err(|_| "writing the sink file failed".to_string())?;
            self.buf.clear();
        }
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.f
            .write_all(&self.buf)
            .map_err(|_| "writing the sink file failed".to_string())?;
        self.buf.clear();
        self.f
            .flush()
            .map_err(|_| "writing the sink file failed".to_string())
    }
}

/// Keeps a sink at or under its events a second: after each event, a writer ahead of its
/// schedule waits until the schedule catches up (checked every few events, so the wait is not
/// one system call an event).
struct Pace {
    rate: Option<u32>,
    start: Instant,
    sent: u64,
}

impl Pace {
    fn new(rate: Option<u32>) -> Pace {
        Pace {
            rate,
            start: Instant::now(),
            sent: 0,
        }
    }

    fn one(&mut self) {
        let Some(rate) = self.rate else { return };
        self.sent += 1;
        if !self.sent.is_multiple_of(16) {
            return;
        }
        let due = Duration::from_secs_f64(self.sent as f64 / f64::from(rate));
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

struct UdpSyslog {
    s: UdpSocket,
    format: SyslogFormat,
    line: Vec<u8>,
    pace: Pace,
    /// Datagrams of the current batch sent so far.
    sent: usize,
}

impl SinkWriter for UdpSyslog {
    fn send(&mut self, batch: &[Event]) -> Result<(), String> {
        self.sent = 0;
        for e in batch {
            self.line.clear();
            write_syslog(e, self.format, &mut self.line);
            self.s.send(&self.line).map_err(|e| {
                log::warn!("syslog UDP send: {e}");
                "sending to the syslog receiver over UDP failed".to_string()
            })?;
            self.sent += 1;
            self.pace.one();
        }
        Ok(())
    }
    fn partly_sent(&self) -> usize {
        self.sent
    }
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

/// A syslog sink's connection.
enum Stream {
    Tcp(TcpStream),
    Tls(Box<crate::tls::ClientStream>),
}

impl Stream {
    fn w(&mut self) -> &mut dyn Write {
        match self {
            Stream::Tcp(t) => t,
            Stream::Tls(s) => &mut **s,
        }
    }
}

/// Syslog over a stream (TCP, or TLS over TCP), framed by octet counting.
struct StreamSyslog {
    s: Stream,
    over: &'static str,
    format: SyslogFormat,
    buf: Vec<u8>,
    line: Vec<u8>,
    pace: Pace,
}

impl StreamSyslog {
    fn failed(&self, e: std::io::Error) -> String {
        log::warn!("syslog {} send: {e}", self.over);
        format!("sending to the syslog receiver over {} failed", self.over)
    }
}

impl SinkWriter for StreamSyslog {
    fn send(&mut self, batch: &[Event]) -> Result<(), String> {
        for e in batch {
            self.line.clear();
            write_syslog(e, self.format, &mut self.line);
            write_octet_counted(&self.line, &mut self.buf);
            if self.pace.rate.is_some() {
                // A paced stream writes event by event, so the pace is the receiver's too.
                self.s
                    .w()
                    .write_all(&self.buf)
                    .map_err(|e| self.failed(e))?;
                self.buf.clear();
                self.pace.one();
            }
        }
        self.s
            .w()
            .write_all(&self.buf)
            .map_err(|e| self.failed(e))?;
        self.buf.clear();
        Ok(())
    }
    fn finish(&mut self) -> Result<(), String> {
        self.s.w().flush().map_err(|e| self.failed(e))?;
        // A clean close: what the receiver sent is read first, so the kernel never answers
        // with a reset that could destroy events the receiver has not read yet.
        match &mut self.s {
            Stream::Tls(s) => crate::tls::close(s),
            Stream::Tcp(t) => {
                let _ = t.shutdown(std::net::Shutdown::Write);
            }
        }
        Ok(())
    }
}

/// The longest a 429's `Retry-After` is waited for: a run holds its sink connection meanwhile.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);

/// A `Retry-After` of seconds (RFC 9110 §10.2.3), at most `RETRY_AFTER_MAX`; the date form and
/// anything else fall back to the usual backoff.
fn retry_after(value: Option<&str>) -> Option<Duration> {
    let secs: u64 = value?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_MAX))
}

struct HttpWriter {
    /// Why the last connection's destination was refused, to say so instead of "unreachable".
    refused: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    url: String,
    agent: ureq::Agent,
    buf: Vec<u8>,
}

impl SinkWriter for HttpWriter {
    fn send(&mut self, batch: &[Event]) -> Result<(), String> {
        self.buf.clear();
        self.buf.push(b'[');
        for (i, e) in batch.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            e.write_json(&mut self.buf);
        }
        self.buf.push(b']');
        // A receiver that is briefly away (a refused connection, 429 or 5xx) is tried again up to
        // three times, half a second, one and two seconds later (a 429's Retry-After, up to
        // RETRY_AFTER_MAX, instead); anything else fails the run at once.
        let mut last = String::new();
        let mut wait = None;
        for backoff in [500, 1000, 2000, 0] {
            if let Some(w) = wait.take() {
                std::thread::sleep(w);
            }
            let fallback = Duration::from_millis(backoff);
            match self
                .agent
                .post(&self.url)
                .set("Content-Type", "application/json")
                .send_bytes(&self.buf)
            {
                // Only a 2xx is a delivery: a redirect (never followed) delivered nothing.
                Ok(r) if (200..300).contains(&r.status()) => return Ok(()),
                Ok(r) => return Err(format!("HTTP sink answered {} (not delivered)", r.status())),
                Err(ureq::Error::Status(429, r)) => {
                    last = "HTTP sink answered 429 (too many requests)".into();
                    wait = Some(retry_after(r.header("Retry-After")).unwrap_or(fallback));
                }
                Err(ureq::Error::Status(code, _)) if code >= 500 => {
                    last = format!("HTTP sink answered {code}");
                    wait = Some(fallback);
                }
                Err(ureq::Error::Status(code, _)) => {
                    return Err(format!("HTTP sink answered {code}"));
                }
                Err(e) => {
                    let refused = self
                        .refused
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    if let Some(why) = refused {
                        return Err(why);
                    }
                    // A certificate that is not trusted will not be trusted a second later.
                    if let Some(why) = crate::tls::refused_certificate(&e) {
                        return Err(format!(
                            "the HTTP sink's certificate is not trusted ({why}; see LABGATE_CA_FILE)"
                        ));
                    }
                    last = format!("HTTP sink unreachable: {}", e.kind());
                    wait = Some(fallback);
                }
            }
        }
        Err(format!("{last}, after 3 retries"))
    }
    fn finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_validate_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let m = |v: Value| v.as_object().unwrap().clone();
        let s = SinkSpec::parse(
            "syslog",
            &m(json!({"host": "127.0.0.1", "port": 514, "protocol": "tcp"})),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            SinkSpec::parse("syslog", &s.config(), dir.path()).unwrap(),
            s
        );
        assert_eq!(
            SinkSpec::parse("file", &m(json!({"path": "../x"})), dir.path())
                .unwrap_err()
                .0,
            "path"
        );
        assert_eq!(
            SinkSpec::parse("file", &m(json!({"path": "/etc/passwd"})), dir.path())
                .unwrap_err()
                .0,
            "path"
        );
        assert_eq!(
            SinkSpec::parse("http", &m(json!({"url": "ftp://x"})), dir.path())
                .unwrap_err()
                .0,
            "url"
        );
        let https = SinkSpec::parse(
            "http",
            &m(json!({"url": "https://hec.lab:8088/x"})),
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            SinkSpec::parse("http", &https.config(), dir.path()).unwrap(),
            https
        );
        assert_eq!(
            url_host_port("https://hec.lab/x"),
            Some(("hec.lab".into(), 443))
        );
        assert_eq!(
            SinkSpec::parse(
                "http",
                &m(json!({"url": "http://x", "batch_size": 0})),
                dir.path()
            )
            .unwrap_err()
            .0,
            "batch_size"
        );
        assert_eq!(
            SinkSpec::parse(
                "file",
                &m(json!({"path": "a.jsonl", "host": "x"})),
                dir.path()
            )
            .unwrap_err()
            .0,
            "host"
        );
        assert_eq!(
            SinkSpec::parse("ftp", &Map::new(), dir.path())
                .unwrap_err()
                .0,
            "kind"
        );
    }
}
