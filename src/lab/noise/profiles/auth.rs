//! auth: sshd, PAM, systemd-logind, sudo and cron records.

use super::*;

/// Which auth line an event is; it decides the wording, APP-NAME and severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthKind {
    Accepted,
    FailedPassword,
    InvalidUser,
    ConnectionClosedPreauth,
    PamCheckPass,
    PamAuthFailure,
    SessionOpened,
    SessionClosed,
    ReceivedDisconnect,
    Disconnected,
    LogindNewSession,
    LogindLoggedOut,
    LogindRemoved,
    SudoCommand,
    SudoSessionOpened,
    SudoSessionClosed,
    CronSessionOpened,
    CronCommand,
    CronSessionClosed,
}

impl AuthKind {
    pub fn name(self) -> &'static str {
        match self {
            AuthKind::Accepted => "ssh_accepted",
            AuthKind::FailedPassword => "ssh_failed_password",
            AuthKind::InvalidUser => "ssh_invalid_user",
            AuthKind::ConnectionClosedPreauth => "ssh_closed_preauth",
            AuthKind::PamCheckPass => "pam_check_pass",
            AuthKind::PamAuthFailure => "pam_auth_failure",
            AuthKind::SessionOpened => "ssh_session_opened",
            AuthKind::SessionClosed => "ssh_session_closed",
            AuthKind::ReceivedDisconnect => "ssh_received_disconnect",
            AuthKind::Disconnected => "ssh_disconnected",
            AuthKind::LogindNewSession => "logind_new_session",
            AuthKind::LogindLoggedOut => "logind_logged_out",
            AuthKind::LogindRemoved => "logind_removed_session",
            AuthKind::SudoCommand => "sudo_command",
            AuthKind::SudoSessionOpened => "sudo_session_opened",
            AuthKind::SudoSessionClosed => "sudo_session_closed",
            AuthKind::CronSessionOpened => "cron_session_opened",
            AuthKind::CronCommand => "cron_command",
            AuthKind::CronSessionClosed => "cron_session_closed",
        }
    }

    pub fn app(self) -> &'static str {
        match self {
            AuthKind::LogindNewSession | AuthKind::LogindLoggedOut | AuthKind::LogindRemoved => {
                "systemd-logind"
            }
            AuthKind::SudoCommand | AuthKind::SudoSessionOpened | AuthKind::SudoSessionClosed => {
                "sudo"
            }
            AuthKind::CronSessionOpened | AuthKind::CronCommand | AuthKind::CronSessionClosed => {
                "CRON"
            }
            _ => "sshd",
        }
    }

    /// As the daemons log them: PAM failures and sudo commands at notice, the rest at info.
    pub fn severity(self) -> u8 {
        match self {
            AuthKind::PamAuthFailure | AuthKind::PamCheckPass | AuthKind::SudoCommand => 5,
            _ => 6,
        }
    }

    pub fn outcome(self) -> &'static str {
        match self {
            AuthKind::Accepted => "success",
            AuthKind::FailedPassword
            | AuthKind::InvalidUser
            | AuthKind::PamAuthFailure
            | AuthKind::PamCheckPass
            | AuthKind::ConnectionClosedPreauth => "failure",
            _ => "info",
        }
    }
}

/// An SSH host-key style fingerprint, rendered as 43 base64 characters from the seed value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Fingerprint(pub u64);

impl Fingerprint {
    pub(super) fn put<B: Buf>(self, out: &mut B) {
        const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut chars = [0u8; 43];
        let mut x = self.0;
        for (k, c) in chars.iter_mut().enumerate() {
            if k % 10 == 0 {
                x = splitmix64(x ^ k as u64);
            }
            *c = B64[(x & 63) as usize];
            x >>= 6;
        }
        out.put("SHA256:");
        out.put_ascii(&chars);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct AuthFields {
    pub kind: AuthKind,
    pub user: &'static str,
    pub uid: u32,
    pub invalid_user: bool,
    pub src_ip: Option<Ipv4Addr>,
    pub src_port: Option<u16>,
    /// "password" or "publickey".
    pub method: Option<&'static str>,
    /// Key type ("ED25519", "RSA", "ECDSA") and fingerprint for publickey logins.
    pub key: Option<(&'static str, Fingerprint)>,
    pub pid: u32,
    pub session: Option<u32>,
    pub tty: Option<u8>,
    pub command: Option<&'static str>,
}

impl AuthFields {
    pub(super) fn new(kind: AuthKind, user: &'static str, uid: u32, pid: u32) -> Self {
        AuthFields {
            kind,
            user,
            uid,
            invalid_user: false,
            src_ip: None,
            src_port: None,
            method: None,
            key: None,
            pid,
            session: None,
            tty: None,
            command: None,
        }
    }

    pub(super) fn with(mut self, kind: AuthKind) -> Self {
        self.kind = kind;
        self
    }

    pub(in crate::lab::noise) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.str("event", self.kind.name());
        o.str("outcome", self.kind.outcome());
        o.str("user", self.user);
        o.uint("uid", u64::from(self.uid));
        o.boolean("invalid_user", self.invalid_user);
        if let Some(ip) = self.src_ip {
            o.ip("src_ip", ip);
        }
        if let Some(port) = self.src_port {
            o.uint("src_port", u64::from(port));
        }
        if let Some(m) = self.method {
            o.str("auth_method", m);
        }
        if let Some((kind, fp)) = self.key {
            o.str("key_type", kind);
            o.key("key_fingerprint");
            o.out.put_byte(b'"');
            fp.put(o.out);
            o.out.put_byte(b'"');
        }
        o.uint("pid", u64::from(self.pid));
        if let Some(s) = self.session {
            o.uint("session_id", u64::from(s));
        }
        if let Some(t) = self.tty {
            o.key("tty");
            o.out.put("\"pts/");
            put_u64(o.out, u64::from(t));
            o.out.put_byte(b'"');
        }
        if let Some(c) = self.command {
            o.str("command", c);
        }
    }

    pub(super) fn put_from<B: Buf>(&self, out: &mut B, sep: &str) {
        if let Some(ip) = self.src_ip {
            out.put(sep);
            put_ipv4(out, ip);
        }
        out.put(" port ");
        put_u64(out, u64::from(self.src_port.unwrap_or(22)));
    }

    pub(super) fn render<B: Buf>(&self, out: &mut B) {
        let user = self.user;
        match self.kind {
            AuthKind::Accepted => {
                out.put("Accepted ");
                out.put(self.method.unwrap_or("password"));
                out.put(" for ");
                out.put(user);
                self.put_from(out, " from ");
                out.put(" ssh2");
                if let Some((kind, fp)) = self.key {
                    out.put(": ");
                    out.put(kind);
                    out.put_byte(b' ');
                    fp.put(out);
                }
            }
            AuthKind::FailedPassword => {
                out.put("Failed password for ");
                if self.invalid_user {
                    out.put("invalid user ");
                }
                out.put(user);
                self.put_from(out, " from ");
                out.put(" ssh2");
            }
            AuthKind::InvalidUser => {
                out.put("Invalid user ");
                out.put(user);
                self.put_from(out, " from ");
            }
            AuthKind::ConnectionClosedPreauth => {
                out.put("Connection closed by invalid user ");
                out.put(user);
                self.put_from(out, " ");
                out.put(" [preauth]");
            }
            AuthKind::PamCheckPass => out.put("pam_unix(sshd:auth): check pass; user unknown"),
            AuthKind::PamAuthFailure => {
                out.put(
                    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=",
                );
                if let Some(ip) = self.src_ip {
                    put_ipv4(out, ip);
                }
                if !self.invalid_user {
                    out.put("  user=");
                    out.put(user);
                }
            }
            AuthKind::SessionOpened | AuthKind::CronSessionOpened => {
                out.put(if self.kind == AuthKind::SessionOpened {
                    "pam_unix(sshd:session): session opened for user "
                } else {
                    "pam_unix(cron:session): session opened for user "
                });
                out.put(user);
                out.put("(uid=");
                put_u64(out, u64::from(self.uid));
                out.put(") by (uid=0)");
            }
            AuthKind::SessionClosed => {
                out.put("pam_unix(sshd:session): session closed for user ");
                out.put(user);
            }
            AuthKind::CronSessionClosed => {
                out.put("pam_unix(cron:session): session closed for user ");
                out.put(user);
            }
            AuthKind::ReceivedDisconnect => {
                out.put("Received disconnect from ");
                if let Some(ip) = self.src_ip {
                    put_ipv4(out, ip);
                }
                out.put(" port ");
                put_u64(out, u64::from(self.src_port.unwrap_or(22)));
                out.put(":11: disconnected by user");
            }
            AuthKind::Disconnected => {
                out.put("Disconnected from user ");
                out.put(user);
                self.put_from(out, " ");
            }
            AuthKind::LogindNewSession => {
                out.put("New session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put(" of user ");
                out.put(user);
                out.put_byte(b'.');
            }
            AuthKind::LogindLoggedOut => {
                out.put("Session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put(" logged out. Waiting for processes to exit.");
            }
            AuthKind::LogindRemoved => {
                out.put("Removed session ");
                put_u64(out, u64::from(self.session.unwrap_or(1)));
                out.put_byte(b'.');
            }
            AuthKind::SudoCommand => {
                out.put(user);
                out.put(" : TTY=pts/");
                put_u64(out, u64::from(self.tty.unwrap_or(0)));
                out.put(" ; PWD=/home/");
                out.put(user);
                out.put(" ; USER=root ; COMMAND=");
                out.put(self.command.unwrap_or("/usr/bin/true"));
            }
            AuthKind::SudoSessionOpened => {
                out.put("pam_unix(sudo:session): session opened for user root(uid=0) by ");
                out.put(user);
                out.put("(uid=");
                put_u64(out, u64::from(self.uid));
                out.put_byte(b')');
            }
            AuthKind::SudoSessionClosed => {
                out.put("pam_unix(sudo:session): session closed for user root");
            }
            AuthKind::CronCommand => {
                out.put_byte(b'(');
                out.put(user);
                out.put(") CMD (");
                out.put(self.command.unwrap_or(""));
                out.put_byte(b')');
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) struct SshUser {
    pub(super) name: &'static str,
    pub(super) uid: u32,
    /// Workstation index for people; service accounts come from the build server.
    pub(super) person: Option<usize>,
    pub(super) key_type: &'static str,
    pub(super) password_share: f64,
}

pub(super) const fn ssh_person(
    name: &'static str,
    person: usize,
    key_type: &'static str,
) -> SshUser {
    SshUser {
        name,
        uid: 1001 + person as u32,
        person: Some(person),
        key_type,
        password_share: 0.2,
    }
}

pub(super) const SSH_USERS: Table<SshUser, 7> = Table::new([
    (ssh_person("jsmith", 0, "ED25519"), 30),
    (ssh_person("apatel", 1, "RSA"), 20),
    (ssh_person("lchen", 3, "ED25519"), 18),
    (ssh_person("okowalski", 4, "ED25519"), 10),
    (ssh_person("dnguyen", 5, "ECDSA"), 12),
    (
        SshUser {
            name: "ansible",
            uid: 998,
            person: None,
            key_type: "ED25519",
            password_share: 0.0,
        },
        25,
    ),
    (
        SshUser {
            name: "deploy",
            uid: 997,
            person: None,
            key_type: "RSA",
            password_share: 0.0,
        },
        10,
    ),
]);

/// Names tried by mistake: typos, image defaults and tools' default accounts.
pub(super) const INVALID_USERS: Table<&str, 12> = Table::new([
    ("jsmtih", 8),
    ("apatle", 6),
    ("lchne", 5),
    ("ubuntu", 10),
    ("admin", 8),
    ("test", 6),
    ("user", 4),
    ("pi", 3),
    ("vagrant", 4),
    ("centos", 3),
    ("ec2-user", 4),
    ("postgres", 3),
]);

pub(super) const SUDO_COMMANDS: Table<&str, 10> = Table::new([
    ("/usr/bin/systemctl status nginx", 20),
    ("/usr/bin/systemctl restart nginx", 6),
    ("/usr/bin/journalctl -u nginx --since today", 10),
    ("/usr/bin/apt update", 8),
    ("/usr/bin/apt list --upgradable", 6),
    ("/usr/bin/tail -n 200 /var/log/syslog", 10),
    ("/usr/bin/docker ps", 8),
    ("/usr/bin/less /var/log/nginx/error.log", 6),
    ("/usr/bin/df -h", 8),
    ("/usr/bin/du -sh /var/lib/postgresql", 3),
]);

pub(super) const CRON_JOBS: Table<(&str, u32, &str), 6> = Table::new([
    (
        ("root", 0, "   cd / && run-parts --report /etc/cron.hourly"),
        25,
    ),
    (
        (
            "root",
            0,
            "command -v debian-sa1 > /dev/null && debian-sa1 1 1",
        ),
        40,
    ),
    (
        (
            "root",
            0,
            "/usr/local/sbin/node-exporter-textfile.sh > /dev/null 2>&1",
        ),
        20,
    ),
    (
        (
            "root",
            0,
            "test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
        ),
        4,
    ),
    (
        (
            "root",
            0,
            "[ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi",
        ),
        6,
    ),
    (("backup", 34, "/usr/local/bin/backup-rotate.sh --quiet"), 5),
]);

pub(super) const LINUX_HOST_WEIGHTS: Table<usize, 6> =
    Table::new([(0, 30), (1, 15), (2, 15), (3, 12), (4, 18), (5, 10)]);

#[derive(Debug, Clone, Copy)]
pub(super) enum AuthScenario {
    Login,
    Cron,
    Sudo,
    FailedThenLogin,
    InvalidUser,
}

pub(super) const AUTH_SCENARIOS: Table<AuthScenario, 5> = Table::new([
    (AuthScenario::Login, 26),
    (AuthScenario::Cron, 40),
    (AuthScenario::Sudo, 18),
    (AuthScenario::FailedThenLogin, 9),
    (AuthScenario::InvalidUser, 7),
]);

/// One SSH connection: server, client address and port, and the sshd child's pid.
#[derive(Debug, Clone, Copy)]
pub(super) struct Conn {
    pub(super) host: usize,
    pub(super) ip: Ipv4Addr,
    pub(super) port: u16,
    pub(super) pid: u32,
}

#[derive(Debug)]
pub(super) struct AuthGen {
    pub(super) queue: Queue<AuthFields>,
    pub(super) next_session: u32,
    pub(super) key_seed: u64,
}

impl AuthGen {
    pub(super) fn new(rng: &mut R) -> Self {
        AuthGen {
            queue: Queue::new(),
            next_session: rng.between(200, 9_000) as u32,
            key_seed: rng.0.next_u64(),
        }
    }

    pub(super) fn make(&mut self, rng: &mut R, i: u64) -> Made {
        let (host, f) = match self.queue.pop_due(i) {
            Some(p) => p,
            None => {
                self.scenario(rng, i);
                self.queue.pop_due(i).unwrap_or_else(|| {
                    (
                        BASTION,
                        AuthFields::new(AuthKind::CronCommand, "root", 0, 1),
                    )
                })
            }
        };
        let mut message = String::with_capacity(160);
        f.render(&mut message);
        Made {
            host: LINUX_SERVERS[host % LINUX_SERVERS.len()].0,
            app: f.kind.app(),
            severity: f.kind.severity(),
            message,
            fields: Fields::Auth(f),
        }
    }

    pub(super) fn pid(rng: &mut R) -> u32 {
        rng.between(1_200, 64_000) as u32
    }

    /// Where an SSH user connects from: their desk, the VPN, or the bastion.
    pub(super) fn source(rng: &mut R, user: &SshUser, host: usize) -> Ipv4Addr {
        match user.person {
            None => BUILD_IP,
            Some(p) => {
                let x = rng.unit();
                if x < 0.2 && host != BASTION {
                    LINUX_SERVERS[BASTION].1
                } else if x < 0.45 {
                    vpn_ip(rng)
                } else {
                    ws_ip(p)
                }
            }
        }
    }

    pub(super) fn scenario(&mut self, rng: &mut R, i: u64) {
        match *rng.pick(&AUTH_SCENARIOS) {
            AuthScenario::Login => {
                let user = *rng.pick(&SSH_USERS);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = Self::source(rng, &user, host);
                let port = rng.port_linux();
                let pid = Self::pid(rng);
                let method = if rng.chance(user.password_share) {
                    "password"
                } else {
                    "publickey"
                };
                let conn = Conn {
                    host,
                    ip,
                    port,
                    pid,
                };
                self.login(rng, i, conn, &user, method);
            }
            AuthScenario::FailedThenLogin => {
                let user = *rng.pick(&SSH_PEOPLE);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = Self::source(rng, &user, host);
                let port = rng.port_linux();
                let pid = Self::pid(rng);
                let mut f = AuthFields::new(AuthKind::PamAuthFailure, user.name, user.uid, pid);
                f.src_ip = Some(ip);
                f.src_port = Some(port);
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i.saturating_add(1), host, f.with(AuthKind::FailedPassword));
                if rng.chance(0.8) {
                    let due = i.saturating_add(rng.between(2, 6));
                    let conn = Conn {
                        host,
                        ip,
                        port,
                        pid,
                    };
                    self.login(rng, due, conn, &user, "password");
                }
            }
            AuthScenario::InvalidUser => {
                let name = *rng.pick(&INVALID_USERS);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let ip = if rng.chance(0.7) {
                    ws_ip(rng.index(PEOPLE.len()))
                } else {
                    lab_ip(rng)
                };
                let mut f = AuthFields::new(AuthKind::InvalidUser, name, 0, Self::pid(rng));
                f.invalid_user = true;
                f.src_ip = Some(ip);
                f.src_port = Some(rng.port_linux());
                self.queue.push(i, host, f.clone());
                self.queue.push(
                    i.saturating_add(1),
                    host,
                    f.clone().with(AuthKind::PamCheckPass),
                );
                self.queue.push(
                    i.saturating_add(1),
                    host,
                    f.clone().with(AuthKind::PamAuthFailure),
                );
                self.queue.push(
                    i.saturating_add(3),
                    host,
                    f.clone().with(AuthKind::FailedPassword),
                );
                self.queue.push(
                    i.saturating_add(4),
                    host,
                    f.with(AuthKind::ConnectionClosedPreauth),
                );
            }
            AuthScenario::Sudo => {
                let user = *rng.pick(&SSH_PEOPLE);
                let host = *rng.pick(&LINUX_HOST_WEIGHTS);
                let mut f =
                    AuthFields::new(AuthKind::SudoCommand, user.name, user.uid, Self::pid(rng));
                f.tty = Some(rng.below(4) as u8);
                f.command = Some(*rng.pick(&SUDO_COMMANDS));
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i, host, f.clone().with(AuthKind::SudoSessionOpened));
                let close = i.saturating_add(rng.between(1, 12));
                self.queue
                    .push(close, host, f.with(AuthKind::SudoSessionClosed));
            }
            AuthScenario::Cron => {
                let (user, uid, command) = *rng.pick(&CRON_JOBS);
                let host = if user == "backup" {
                    DB_HOST
                } else {
                    *rng.pick(&LINUX_HOST_WEIGHTS)
                };
                let mut f = AuthFields::new(AuthKind::CronSessionOpened, user, uid, Self::pid(rng));
                f.command = Some(command);
                self.queue.push(i, host, f.clone());
                self.queue
                    .push(i, host, f.clone().with(AuthKind::CronCommand));
                let close = i.saturating_add(rng.between(1, 3));
                self.queue
                    .push(close, host, f.with(AuthKind::CronSessionClosed));
            }
        }
    }

    /// A whole SSH session: accept, PAM and logind open, then after a while the disconnect
    /// and the matching closes, all on the sshd pid and source port of the login.
    pub(super) fn login(
        &mut self,
        rng: &mut R,
        due: u64,
        c: Conn,
        user: &SshUser,
        method: &'static str,
    ) {
        let Conn {
            host,
            ip,
            port,
            pid,
        } = c;
        let session = self.next_session;
        self.next_session = self.next_session.wrapping_add(1).max(1);
        let mut f = AuthFields::new(AuthKind::Accepted, user.name, user.uid, pid);
        f.src_ip = Some(ip);
        f.src_port = Some(port);
        f.session = Some(session);
        let mut accepted = f.clone();
        accepted.method = Some(method);
        if method == "publickey" {
            let fp = Fingerprint(splitmix64(self.key_seed ^ u64::from(user.uid)));
            accepted.key = Some((user.key_type, fp));
        }
        self.queue.push(due, host, accepted);
        self.queue.push(
            due.saturating_add(1),
            host,
            f.clone().with(AuthKind::SessionOpened),
        );
        self.queue.push(
            due.saturating_add(1),
            host,
            f.clone().with(AuthKind::LogindNewSession),
        );
        let end = due.saturating_add(rng.log_uniform(20, 4_000));
        self.queue
            .push(end, host, f.clone().with(AuthKind::ReceivedDisconnect));
        self.queue
            .push(end, host, f.clone().with(AuthKind::Disconnected));
        self.queue.push(
            end.saturating_add(1),
            host,
            f.clone().with(AuthKind::SessionClosed),
        );
        self.queue.push(
            end.saturating_add(1),
            host,
            f.clone().with(AuthKind::LogindLoggedOut),
        );
        self.queue
            .push(end.saturating_add(2), host, f.with(AuthKind::LogindRemoved));
    }
}

/// The people among the SSH users (sudo and password typos are a human thing).
pub(super) const SSH_PEOPLE: Table<SshUser, 5> = Table::new([
    SSH_USERS.entries[0],
    SSH_USERS.entries[1],
    SSH_USERS.entries[2],
    SSH_USERS.entries[3],
    SSH_USERS.entries[4],
]);
