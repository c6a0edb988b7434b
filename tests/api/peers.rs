//! Real peers for the outgoing connections (SPEC §12.2, §12.3), on loopback: a lab CA made in
//! the test, an SMTP relay (the `mailin` state machine over plain TCP, STARTTLS or TLS from the
//! start, with AUTH), syslog receivers over TCP and TLS that parse octet counting, and an HTTPS
//! collector.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A lab CA and a server certificate it signed for `localhost` and `127.0.0.1`.
pub struct TestCa {
    /// The CA certificate as PEM, in a file (for `LABGATE_CA_FILE`).
    pub ca_file: PathBuf,
    pub server: Arc<rustls::ServerConfig>,
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

impl TestCa {
    pub fn new(dir: &Path) -> TestCa {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
        let ca_key = KeyPair::generate().unwrap();
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name
            .push(DnType::CommonName, "labgate test lab CA");
        let ca = p.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(p, ca_key);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let ca_file = dir.join("lab-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        let chain = vec![
            CertificateDer::from(leaf.der().to_vec()),
            CertificateDer::from(ca.der().to_vec()),
        ];
        let key = PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).unwrap();
        let server = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TestCa {
            ca_file,
            server: Arc::new(server),
        }
    }
}

/// Either side of a connection a peer serves: plain, or TLS once started.
enum Conn {
    Plain(BufReader<TcpStream>),
    Tls(Box<BufReader<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>>),
}

impl Conn {
    fn tls(s: TcpStream, config: &Arc<rustls::ServerConfig>) -> Option<Conn> {
        let conn = rustls::ServerConnection::new(config.clone()).ok()?;
        let mut st = rustls::StreamOwned::new(conn, s);
        while st.conn.is_handshaking() {
            st.conn.complete_io(&mut st.sock).ok()?;
        }
        Some(Conn::Tls(Box::new(BufReader::new(st))))
    }

    fn read_line(&mut self, buf: &mut Vec<u8>) -> usize {
        let r = match self {
            Conn::Plain(r) => r.read_until(b'\n', buf),
            Conn::Tls(r) => r.read_until(b'\n', buf),
        };
        r.unwrap_or(0)
    }

    fn write(&mut self, b: &[u8]) {
        let _ = match self {
            Conn::Plain(r) => r.get_mut().write_all(b),
            Conn::Tls(r) => r.get_mut().write_all(b).and_then(|_| r.get_mut().flush()),
        };
    }

    fn reader(&mut self) -> &mut dyn BufRead {
        match self {
            Conn::Plain(r) => r,
            Conn::Tls(r) => &mut **r,
        }
    }
}

/// How the relay is reached.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum SmtpMode {
    Plain,
    StartTls,
    Wrapper,
}

/// A message the relay took.
#[derive(Debug, Clone)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
    /// The user that authenticated, if any.
    pub user: Option<String>,
    /// Whether the message came over TLS.
    pub tls: bool,
}

struct Relay {
    tx: mpsc::Sender<Received>,
    tls: Arc<AtomicBool>,
    login: Option<(String, String)>,
    user: Option<String>,
    from: String,
    to: Vec<String>,
    data: Vec<u8>,
}

impl mailin::Handler for Relay {
    fn data_start(&mut self, _d: &str, from: &str, _8bit: bool, to: &[String]) -> mailin::Response {
        if self.login.is_some() && self.user.is_none() {
            return mailin::response::AUTHENTICATION_REQUIRED;
        }
        self.from = from.to_string();
        self.to = to.to_vec();
        self.data.clear();
        mailin::response::OK
    }
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }
    fn data_end(&mut self) -> mailin::Response {
        let _ = self.tx.send(Received {
            from: self.from.clone(),
            to: self.to.clone(),
            data: String::from_utf8_lossy(&self.data).into_owned(),
            user: self.user.clone(),
            tls: self.tls.load(Ordering::SeqCst),
        });
        mailin::response::OK
    }
    fn auth_plain(&mut self, _authz: &str, user: &str, pass: &str) -> mailin::Response {
        match &self.login {
            Some((u, p)) if u == user && p == pass => {
                self.user = Some(user.to_string());
                mailin::response::AUTH_OK
            }
            _ => mailin::response::INVALID_CREDENTIALS,
        }
    }
}

/// An SMTP relay on loopback; `login` makes AUTH required before DATA.
pub struct SmtpPeer {
    pub port: u16,
    pub rx: mpsc::Receiver<Received>,
}

impl SmtpPeer {
    pub fn start(mode: SmtpMode, ca: Option<&TestCa>, login: Option<(&str, &str)>) -> SmtpPeer {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), mode, ca, login)
    }

    /// The relay on a listener already bound (to come up on a port chosen before).
    pub fn on(
        l: TcpListener,
        mode: SmtpMode,
        ca: Option<&TestCa>,
        login: Option<(&str, &str)>,
    ) -> SmtpPeer {
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = mpsc::channel();
        let server = ca.map(|c| c.server.clone());
        let login = login.map(|(u, p)| (u.to_string(), p.to_string()));
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                let (tx, server, login) = (tx.clone(), server.clone(), login.clone());
                std::thread::spawn(move || serve_smtp(s, mode, server, login, tx));
            }
        });
        SmtpPeer { port, rx }
    }

    /// The next message, waiting up to 10 s.
    pub fn next(&self) -> Option<Received> {
        self.rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .ok()
    }
}

fn serve_smtp(
    s: TcpStream,
    mode: SmtpMode,
    server: Option<Arc<rustls::ServerConfig>>,
    login: Option<(String, String)>,
    tx: mpsc::Sender<Received>,
) {
    let tls = Arc::new(AtomicBool::new(mode == SmtpMode::Wrapper));
    let ip: IpAddr = s.peer_addr().unwrap().ip();
    let mut b = mailin::SessionBuilder::new("relay.lab");
    if mode == SmtpMode::StartTls {
        b.enable_start_tls();
    }
    if mode == SmtpMode::Wrapper {
        // The whole connection is TLS: AUTH is as safe as after STARTTLS.
        b.insecure_enable_plaintext_auth();
    }
    if login.is_some() {
        b.enable_auth(mailin::AuthMechanism::Plain);
    }
    let relay = Relay {
        tx,
        tls: tls.clone(),
        login,
        user: None,
        from: String::new(),
        to: vec![],
        data: vec![],
    };
    let mut session = b.build(ip, relay);
    let mut conn = match mode {
        SmtpMode::Wrapper => match Conn::tls(s, server.as_ref().unwrap()) {
            Some(c) => c,
            None => return,
        },
        _ => Conn::Plain(BufReader::new(s)),
    };
    conn.write(&session.greeting().buffer().unwrap());
    let mut line = Vec::new();
    loop {
        line.clear();
        if conn.read_line(&mut line) == 0 {
            return;
        }
        let res = session.process(&line);
        match res.action {
            mailin::Action::Reply => conn.write(&res.buffer().unwrap()),
            mailin::Action::Close => {
                conn.write(&res.buffer().unwrap());
                return;
            }
            mailin::Action::NoReply => {}
            mailin::Action::UpgradeTls => {
                conn.write(&res.buffer().unwrap());
                let Conn::Plain(r) = conn else { return };
                match Conn::tls(r.into_inner(), server.as_ref().unwrap()) {
                    Some(c) => conn = c,
                    None => return,
                }
                tls.store(true, Ordering::SeqCst);
                session.tls_active();
            }
        }
    }
}

/// A syslog receiver over TCP (or TLS with `ca`) that reads octet-counted frames (RFC 6587
/// §3.4.1, RFC 5425 §4.3) and collects each message.
pub struct SyslogPeer {
    pub port: u16,
    pub frames: Arc<Mutex<Vec<String>>>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl SyslogPeer {
    pub fn start(ca: Option<&TestCa>) -> SyslogPeer {
        Self::on(TcpListener::bind("127.0.0.1:0").unwrap(), ca)
    }

    pub fn on(l: TcpListener, ca: Option<&TestCa>) -> SyslogPeer {
        let port = l.local_addr().unwrap().port();
        let frames: Arc<Mutex<Vec<String>>> = Arc::default();
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let server = ca.map(|c| c.server.clone());
        let (out, held) = (frames.clone(), conns.clone());
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                if let Ok(c) = s.try_clone() {
                    held.lock().unwrap().push(c);
                }
                let (server, out) = (server.clone(), out.clone());
                std::thread::spawn(move || {
                    let mut conn = match &server {
                        Some(c) => match Conn::tls(s, c) {
                            Some(c) => c,
                            None => return,
                        },
                        None => Conn::Plain(BufReader::new(s)),
                    };
                    while let Some(frame) = read_frame(conn.reader()) {
                        out.lock().unwrap().push(frame);
                    }
                });
            }
        });
        SyslogPeer {
            port,
            frames,
            conns,
        }
    }

    /// Ends every connection, as a receiver that restarts does (what it has not read is lost).
    pub fn hang_up(&self) {
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    /// The messages received so far, once there are at least `n` (waiting up to 10 s).
    pub fn wait(&self, n: usize) -> Vec<String> {
        for _ in 0..200 {
            if self.frames.lock().unwrap().len() >= n {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        self.frames.lock().unwrap().clone()
    }
}

/// One octet-counted frame: `LEN SP MSG`; `None` at the end of the stream or on a malformed
/// frame (which the assertions then miss).
fn read_frame(r: &mut dyn BufRead) -> Option<String> {
    let mut len = Vec::new();
    r.read_until(b' ', &mut len).ok()?;
    let n: usize = std::str::from_utf8(len.strip_suffix(b" ")?)
        .ok()?
        .parse()
        .ok()?;
    let mut msg = vec![0; n];
    r.read_exact(&mut msg).ok()?;
    String::from_utf8(msg).ok()
}

/// An HTTP collector (HTTPS with `ca`) answering one request per `(status, extra header)`
/// given, in order; hands back the JSON bodies it was sent.
pub fn collector(
    ca: Option<&TestCa>,
    answers: Vec<(u16, &'static str)>,
) -> (u16, std::thread::JoinHandle<Vec<serde_json::Value>>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = ca.map(|c| c.server.clone());
    let h = std::thread::spawn(move || {
        let mut bodies = vec![];
        for (status, header) in answers {
            let (s, _) = l.accept().unwrap();
            let mut conn = match &server {
                Some(c) => match Conn::tls(s, c) {
                    Some(c) => c,
                    // A client that refused the certificate: nothing was sent.
                    None => continue,
                },
                None => Conn::Plain(BufReader::new(s)),
            };
            let mut len = 0;
            loop {
                let mut line = Vec::new();
                if conn.read_line(&mut line) == 0 || line == b"\r\n" {
                    break;
                }
                let line = String::from_utf8_lossy(&line).to_ascii_lowercase();
                if let Some(v) = line.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut body = vec![0; len];
            conn.reader().read_exact(&mut body).unwrap();
            bodies.push(serde_json::from_slice(&body).unwrap());
            let extra = if header.is_empty() {
                String::new()
            } else {
                format!("{header}\r\n")
            };
            conn.write(
                format!(
                    "HTTP/1.1 {status} X\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n"
                )
                .as_bytes(),
            );
        }
        bodies
    });
    (port, h)
}
