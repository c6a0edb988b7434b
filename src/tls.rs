//! HTTPS (SPEC §12.1): the certificate and key of `LABGATE_TLS_CERT` / `LABGATE_TLS_KEY`, loaded
//! and checked (the key must match the certificate), served by rustls with the ring provider
//! (TLS 1.2 and 1.3, HTTP/2 and HTTP/1.1 by ALPN), and swapped on SIGHUP without dropping a
//! connection: a pair that does not load keeps the one in service.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// The two files of the server's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The one crypto provider of every TLS connection labgate makes or takes.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// SHA-256 of a certificate, as `AB:CD:...` (what browsers and `openssl x509 -fingerprint`
/// show).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn read(var: &str, path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{var}: cannot read {}: {e}", path.display()))
}

/// Loads the pair; every error is one line naming the variable at fault.
pub fn load(files: &TlsFiles) -> Result<Arc<CertifiedKey>, String> {
    let cert_pem = read("LABGATE_TLS_CERT", &files.cert)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| {
            format!(
                "LABGATE_TLS_CERT: {} is not a PEM certificate chain: {e}",
                files.cert.display()
            )
        })?;
    if chain.is_empty() {
        return Err(format!(
            "LABGATE_TLS_CERT: {} holds no certificate",
            files.cert.display()
        ));
    }
    let key_pem = read("LABGATE_TLS_KEY", &files.key)?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|_| {
        format!(
            "LABGATE_TLS_KEY: {} is not a PEM private key (PKCS#8, RSA or EC)",
            files.key.display()
        )
    })?;
    let signing = provider().key_provider.load_private_key(key).map_err(|e| {
        format!(
            "LABGATE_TLS_KEY: {} cannot be used: {e}",
            files.key.display()
        )
    })?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| {
        format!(
            "LABGATE_TLS_KEY: {} does not match the certificate in {}",
            files.key.display(),
            files.cert.display()
        )
    })?;
    Ok(Arc::new(certified))
}

/// The certificate in service, swapped whole on reload: a handshake takes the one current when
/// it starts, connections already open keep theirs.
#[derive(Debug)]
pub struct Served {
    files: TlsFiles,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Served {
    pub fn new(files: TlsFiles) -> Result<Served, String> {
        let current = RwLock::new(load(&files)?);
        Ok(Served { files, current })
    }

    /// The fingerprint of the certificate in service.
    pub fn fingerprint(&self) -> String {
        let c = self.current.read().unwrap_or_else(|p| p.into_inner());
        fingerprint(c.cert.first().map(|c| c.as_ref()).unwrap_or_default())
    }

    /// Reads the files again; on any error the pair in service stays and the error is returned.
    pub fn reload(&self) -> Result<String, String> {
        let next = load(&self.files)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = next;
        Ok(self.fingerprint())
    }

    /// The server side of rustls: TLS 1.3 and 1.2, `h2` then `http/1.1`.
    pub fn server_config(self: &Arc<Self>) -> rustls::ServerConfig {
        let mut c = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        c.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        c
    }
}

impl ResolvesServerCert for Served {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        )
    }
}

/// What `labgate cert generate` wrote.
pub struct Generated {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub fingerprint: String,
}

/// A self-signed certificate (ECDSA P-256) for `hosts` (names or IP addresses), valid `days`
/// from now, written as `labgate.crt` (0644) and `labgate.key` (0600) in `dir`; never over an
/// existing file.
pub fn generate(hosts: &[String], days: u32, dir: &Path) -> Result<Generated, String> {
    if hosts.is_empty() {
        return Err("--host: name at least one host name or address".into());
    }
    if !(1..=3650).contains(&days) {
        return Err("--days: must be from 1 to 3650".into());
    }
    let (cert, key) = (dir.join("labgate.crt"), dir.join("labgate.key"));
    for p in [&cert, &key] {
        if p.exists() {
            return Err(format!(
                "{} exists; a certificate is never overwritten",
                p.display()
            ));
        }
    }
    let mut params =
        rcgen::CertificateParams::new(hosts.to_vec()).map_err(|e| format!("--host: {e}"))?;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, hosts[0].clone());
    params.distinguished_name = dn;
    let now = chrono::Utc::now();
    let until = now + chrono::Duration::days(i64::from(days));
    use chrono::Datelike;
    params.not_before = rcgen::date_time_ymd(now.year(), now.month() as u8, now.day() as u8);
    params.not_after = rcgen::date_time_ymd(until.year(), until.month() as u8, until.day() as u8);
    let pair = rcgen::KeyPair::generate().map_err(|e| format!("cannot make a key: {e}"))?;
    let signed = params
        .self_signed(&pair)
        .map_err(|e| format!("cannot sign the certificate: {e}"))?;
    std::fs::create_dir_all(dir).map_err(|e| format!("--out: {}: {e}", dir.display()))?;
    crate::store::keyfile::write_whole(
        &key,
        pair.serialize_pem().as_bytes(),
        crate::store::keyfile::Place::New,
    )
    .map_err(|e| format!("cannot write {}: {e}", key.display()))?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&cert)
            .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
        f.write_all(signed.pem().as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", cert.display()))?;
    }
    Ok(Generated {
        fingerprint: fingerprint(signed.der()),
        cert,
        key,
    })
}

/// Where a system keeps its bundle of trusted CAs (Debian first); `SSL_CERT_FILE` wins.
const SYSTEM_BUNDLES: [&str; 4] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// The trust anchors of every outgoing TLS connection (SPEC §12.2): the system's bundle and the
/// lab's own CA of `LABGATE_CA_FILE`. Certificates are always verified: there is no way to make
/// a connection that is not.
#[derive(Clone)]
pub struct Trust {
    /// Every anchor, as DER (lettre takes them one by one).
    pub anchors: Arc<Vec<CertificateDer<'static>>>,
    /// A client configuration over those anchors (TLS 1.2 and 1.3, the ring provider).
    pub client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for Trust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Trust({} anchors)", self.anchors.len())
    }
}

impl Trust {
    /// The system's anchors and those of `ca_file`. A CA file that cannot be read or holds no
    /// certificate stops the start, naming `LABGATE_CA_FILE`; a system without a bundle trusts
    /// the CA file alone.
    pub fn load(ca_file: Option<&Path>) -> Result<Trust, String> {
        let mut roots = rustls::RootCertStore::empty();
        // Only what rustls takes as an anchor is kept: lettre is given the same list and
        // refuses the whole set over one it cannot take.
        let mut anchors: Vec<CertificateDer<'static>> = Vec::new();
        let mut take = |c: CertificateDer<'static>| {
            let ok = roots.add(c.clone()).is_ok();
            if ok {
                anchors.push(c);
            }
            ok
        };
        let system = std::env::var_os("SSL_CERT_FILE")
            .map(PathBuf::from)
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
            .find(|p| p.is_file());
        if let Some(p) = system
            && let Ok(pem) = std::fs::read(&p)
        {
            // A broken entry in the system's bundle skips that entry, not the bundle.
            for c in CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok) {
                take(c);
            }
        }
        if let Some(p) = ca_file {
            let pem = read("LABGATE_CA_FILE", p)?;
            let extra: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
                .collect::<Result<_, _>>()
                .map_err(|e| {
                    format!(
                        "LABGATE_CA_FILE: {} is not a PEM certificate bundle: {e}",
                        p.display()
                    )
                })?;
            if extra.is_empty() {
                return Err(format!(
                    "LABGATE_CA_FILE: {} holds no certificate",
                    p.display()
                ));
            }
            for (i, c) in extra.into_iter().enumerate() {
                if !take(c) {
                    return Err(format!(
                        "LABGATE_CA_FILE: certificate {} in {} cannot be a trust anchor",
                        i + 1,
                        p.display()
                    ));
                }
            }
        }
        let client = rustls::ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .expect("the ring provider supports TLS 1.2 and 1.3")
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Trust {
            anchors: Arc::new(anchors),
            client: Arc::new(client),
        })
    }

    /// The client configuration with ALPN set (HTTP/1.1 for sinks).
    pub fn client_with_alpn(&self, alpn: &[&[u8]]) -> Arc<rustls::ClientConfig> {
        let mut c = (*self.client).clone();
        c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Arc::new(c)
    }
}

/// A blocking TLS stream over TCP to `name` (verified against `trust`): syslog over TLS and
/// audit forwarding.
pub type ClientStream = rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>;

/// Connects TLS over an open TCP stream and completes the handshake, so a certificate that does
/// not verify fails here, not at the first write. The error carries no secret and no OS text.
pub fn connect(
    trust: &Trust,
    name: &str,
    tcp: std::net::TcpStream,
) -> Result<ClientStream, String> {
    let server = rustls_pki_types::ServerName::try_from(name.to_string())
        .map_err(|_| format!("{name} is not a host name or address TLS can verify"))?;
    let conn = rustls::ClientConnection::new(trust.client.clone(), server)
        .map_err(|e| format!("cannot start TLS: {e}"))?;
    let mut s = rustls::StreamOwned::new(conn, tcp);
    while s.conn.is_handshaking() {
        s.conn.complete_io(&mut s.sock).map_err(|e| {
            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                Some(rustls::Error::InvalidCertificate(why)) => {
                    format!("the certificate of {name} is not trusted: {why:?}")
                }
                Some(other) => format!("TLS with {name} failed: {other}"),
                None => format!("TLS with {name} failed: the connection was closed"),
            }
        })?;
    }
    Ok(s)
}

/// Whether an error, or one it was caused by, is rustls refusing the peer's certificate: what
/// a client says as "not trusted" (and does not retry), whichever crate's error wraps it.
pub fn refused_certificate(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let tls = err.downcast_ref::<rustls::Error>().or_else(|| {
            err.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        });
        if let Some(rustls::Error::InvalidCertificate(why)) = tls {
            return Some(format!("{why:?}"));
        }
        cur = err.source();
    }
    None
}

/// Reads what the peer sent without blocking (TLS 1.3 session tickets, alerts) and discards it;
/// says whether the connection is still open. A client that never reads would close its socket
/// with unread data, which makes the kernel send a reset that can destroy the last records the
/// receiver has not read yet.
pub fn drain(s: &mut ClientStream) -> bool {
    use std::io::Read;
    if s.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut open = true;
    loop {
        match s.conn.read_tls(&mut s.sock) {
            Ok(0) => {
                open = false;
                break;
            }
            Ok(_) => {
                if s.conn.process_new_packets().is_err() {
                    open = false;
                    break;
                }
                let mut sink = [0u8; 4096];
                while matches!(s.conn.reader().read(&mut sink), Ok(n) if n > 0) {}
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(_) => {
                open = false;
                break;
            }
        }
    }
    open && s.sock.set_nonblocking(false).is_ok()
}

/// Ends a TLS connection cleanly: what the peer sent is read, then `close_notify` is sent.
pub fn close(s: &mut ClientStream) {
    use std::io::Write;
    drain(s);
    s.conn.send_close_notify();
    let _ = s.flush();
    let _ = s.sock.shutdown(std::net::Shutdown::Write);
}
