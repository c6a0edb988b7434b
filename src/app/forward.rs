//! Audit forwarding to a SIEM (SPEC §12.3): every audit record, in order, as an RFC 5424
//! message to the syslog receiver of `LABGATE_AUDIT_FORWARD` (UDP, TCP with octet counting, or
//! TLS as RFC 5425). The position already delivered is kept in the database, so records written
//! while the receiver was away are sent when it is back: at least once. Forwarding runs on its
//! own task and reads committed records; it never slows or fails a request.

use std::io::Write;
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use serde_json::json;

use super::App;
use crate::store::{self, audit};

/// How many records one pass sends at most.
pub const BATCH: usize = 500;

const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// The receiver of `LABGATE_AUDIT_FORWARD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub transport: Transport,
    pub host: String,
    pub port: u16,
    /// The URL as configured: the key of the delivered position.
    pub url: String,
}

impl Target {
    /// `udp://host[:514]`, `tcp://host[:514]` or `tls://host[:6514]`.
    pub fn parse(raw: &str) -> Result<Target, String> {
        const FORMS: &str = "must be udp://host:514, tcp://host:514 or tls://host:6514";
        let url = url::Url::parse(raw.trim()).map_err(|_| FORMS.to_string())?;
        let (transport, default) = match url.scheme() {
            "udp" => (Transport::Udp, 514),
            "tcp" => (Transport::Tcp, 514),
            "tls" => (Transport::Tls, 6514),
            _ => return Err(FORMS.into()),
        };
        if !matches!(url.path(), "" | "/")
            || url.query().is_some()
            || url.fragment().is_some()
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(FORMS.into());
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| FORMS.to_string())?
            .trim_matches(['[', ']'])
            .to_string();
        Ok(Target {
            transport,
            port: url.port().unwrap_or(default),
            host,
            url: raw.trim().to_string(),
        })
    }
}

/// An open connection to the receiver.
enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<crate::tls::ClientStream>),
}

impl Conn {
    /// Whether the receiver still holds the connection open; what it sent is read and
    /// discarded (so closing never resets the connection under records not yet read).
    fn open(&mut self) -> bool {
        match self {
            Conn::Udp(_) => true,
            Conn::Tls(s) => crate::tls::drain(s),
            Conn::Tcp(tcp) => {
                use std::io::Read;
                if tcp.set_nonblocking(true).is_err() {
                    return false;
                }
                let mut b = [0u8; 4096];
                let open = loop {
                    match tcp.read(&mut b) {
                        Ok(0) => break false,
                        Ok(_) => continue,
                        Err(e) => break e.kind() == std::io::ErrorKind::WouldBlock,
                    }
                };
                open && tcp.set_nonblocking(false).is_ok()
            }
        }
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        if let Conn::Tls(s) = self {
            crate::tls::close(s);
        } else if let Conn::Tcp(t) = self {
            let _ = t.shutdown(std::net::Shutdown::Write);
        }
    }
}

/// The forwarder's state between passes: the connection, kept open while it works, and how
/// far it has written into it.
pub struct Forwarder {
    pub target: Target,
    conn: Option<Conn>,
    /// The last record written into the open TCP or TLS connection but not yet confirmed: a
    /// write only means the kernel took the bytes. It is confirmed (stored as the delivered
    /// position) by the next pass that finds the connection still open; a connection found
    /// closed sends again from the stored position, so a receiver that restarted gets the
    /// records it may have lost.
    written: Option<i64>,
}

/// The largest datagram forwarded whole; a larger record is sent without its details.
const UDP_MAX: usize = 8192;

impl Forwarder {
    pub fn new(target: Target) -> Forwarder {
        Forwarder {
            target,
            conn: None,
            written: None,
        }
    }

    fn connect(&self, trust: &crate::tls::Trust) -> Result<Conn, String> {
        let t = &self.target;
        let addr = (t.host.as_str(), t.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("the audit receiver's host {} cannot be resolved", t.host))?;
        if t.transport == Transport::Udp {
            let bind = if addr.is_ipv6() {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = UdpSocket::bind(bind).map_err(|_| "cannot open a UDP socket".to_string())?;
            s.connect(addr)
                .map_err(|_| format!("the audit receiver {addr} cannot be reached over UDP"))?;
            return Ok(Conn::Udp(s));
        }
        let tcp = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
            .map_err(|_| format!("the audit receiver {addr} could not be reached"))?;
        tcp.set_write_timeout(Some(IO_TIMEOUT)).ok();
        tcp.set_read_timeout(Some(IO_TIMEOUT)).ok();
        Ok(match t.transport {
            Transport::Tls => Conn::Tls(Box::new(crate::tls::connect(trust, &t.host, tcp)?)),
            _ => Conn::Tcp(tcp),
        })
    }

    /// Sends the records after the delivered position (at most `BATCH`). Returns how many
    /// were sent; on an error the connection is dropped and the next pass starts again from
    /// the stored position.
    pub fn pass(&mut self, app: &App) -> Result<usize, String> {
        let target = self.target.url.clone();
        if let Some(c) = &mut self.conn
            && !c.open()
        {
            // The receiver went away: what was written into that connection is sent again.
            self.conn = None;
            self.written = None;
        }
        if self.conn.is_some()
            && let Some(seq) = self.written.take()
        {
            self.confirm(app, &target, seq)?;
        }
        let records = {
            let lease = app
                .pool
                .get()
                .map_err(|e| format!("database unavailable: {e}"))?;
            let c = lease.db();
            let from = audit::forwarded(&c, &target).map_err(|e| e.to_string())?;
            audit::records_after(&c, from, BATCH).map_err(|e| e.to_string())?
        };
        let Some(last) = records.last().map(|(seq, _)| *seq) else {
            return Ok(0);
        };
        if self.conn.is_none() {
            self.conn = Some(self.connect(&app.config.trust)?);
        }
        let host = host_of(&app.config.public_url);
        let result = self.write(&records, &host);
        if let Err(e) = result {
            self.conn = None;
            self.written = None;
            return Err(e);
        }
        if matches!(self.conn, Some(Conn::Udp(_))) {
            // A datagram sent is all UDP can know.
            self.confirm(app, &target, last)?;
        } else {
            self.written = Some(last);
        }
        Ok(records.len())
    }

    fn confirm(&self, app: &App, target: &str, seq: i64) -> Result<(), String> {
        let now = app.now();
        store::write_blocking(&app.pool, |tx| audit::set_forwarded(tx, target, seq, now))
            .map_err(|e| format!("cannot record the forwarded position: {e}"))
    }

    fn write(&mut self, records: &[(i64, audit::AuditRecord)], host: &str) -> Result<(), String> {
        let conn = self.conn.as_mut().ok_or("not connected")?;
        let mut buf = Vec::new();
        let mut line = Vec::new();
        for (i, (seq, rec)) in records.iter().enumerate() {
            line.clear();
            message(*seq, rec, host, &mut line);
            match conn {
                Conn::Udp(s) => {
                    if line.len() > UDP_MAX {
                        let mut short = rec.clone();
                        short.details = json!({"truncated": true});
                        line.clear();
                        message(*seq, &short, host, &mut line);
                    }
                    s.send(&line)
                        .map_err(|_| "sending to the audit receiver over UDP failed".to_string())?;
                    // Paced at about 10,000 a second, as UDP sinks are, so a stock receiver
                    // keeps up.
                    if i % 100 == 99 {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                Conn::Tcp(_) | Conn::Tls(_) => {
                    buf.extend_from_slice(line.len().to_string().as_bytes());
                    buf.push(b' ');
                    buf.extend_from_slice(&line);
                }
            }
        }
        let w: &mut dyn Write = match conn {
            Conn::Udp(_) => return Ok(()),
            Conn::Tcp(t) => t,
            Conn::Tls(s) => &mut **s,
        };
        w.write_all(&buf)
            .and_then(|_| w.flush())
            .map_err(|_| "sending to the audit receiver failed".to_string())
    }
}

fn host_of(public_url: &str) -> String {
    url::Url::parse(public_url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "-".into())
}

/// One record as RFC 5424: facility 13 (log audit), severity info for a success and notice
/// otherwise, app-name `labgate`, msgid the action, and the record (with its sequence number)
/// as JSON in the message.
fn message(seq: i64, rec: &audit::AuditRecord, host: &str, out: &mut Vec<u8>) {
    let severity = if rec.outcome == "success" { 6 } else { 5 };
    // MSGID is 1-32 printable ASCII characters without spaces.
    let msgid: String = rec
        .action
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let mut body = serde_json::to_value(rec).unwrap_or_default();
    if let Some(m) = body.as_object_mut() {
        m.insert("seq".into(), json!(seq));
    }
    let _ = write!(
        out,
        "<{}>1 {} {} labgate {} {} - {}",
        13 * 8 + severity,
        rec.ts,
        if host.is_empty() { "-" } else { host },
        std::process::id(),
        if msgid.is_empty() { "-" } else { &msgid },
        body
    );
}

/// Forwards until shutdown: a pass a second while caught up, at once while behind, and with a
/// growing pause (up to 30 s) while the receiver cannot be reached, logged once per outage.
pub async fn run(app: App, target: Target) {
    let fwd = std::sync::Arc::new(std::sync::Mutex::new(Forwarder::new(target)));
    let mut pause = Duration::from_secs(1);
    let mut failing = false;
    loop {
        let (a, f) = (app.clone(), fwd.clone());
        let r = tokio::task::spawn_blocking(move || {
            f.lock().unwrap_or_else(|p| p.into_inner()).pass(&a)
        })
        .await
        .unwrap_or_else(|_| Err("the forwarding pass stopped unexpectedly".into()));
        if app.shutting_down() {
            return;
        }
        match r {
            Ok(n) => {
                if failing {
                    log::info!("audit forwarding resumed");
                    failing = false;
                }
                pause = Duration::from_secs(1);
                if n == BATCH {
                    continue;
                }
            }
            Err(e) => {
                if !failing {
                    log::warn!("audit forwarding paused: {e}");
                    failing = true;
                }
                pause = (pause * 2).min(Duration::from_secs(30));
            }
        }
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_take_three_forms() {
        let t = Target::parse("tls://siem.lab").unwrap();
        assert_eq!((t.transport, t.port), (Transport::Tls, 6514));
        let t = Target::parse("udp://10.0.0.5").unwrap();
        assert_eq!((t.transport, t.port), (Transport::Udp, 514));
        let t = Target::parse("tcp://[::1]:1514").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 1514));
        for bad in [
            "http://siem",
            "tcp://",
            "tcp://u:p@siem:514",
            "tls://siem/x",
            "siem:514",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
