//! Every setting of the server: its environment variable, its default and its validation.
//!
//! clap reads the raw strings (flag or environment variable); `Config::from_args` turns them into
//! typed values and refuses the start with one line naming the variable when one is wrong, so the
//! server never starts half-configured.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;

use crate::domain::capability::{CapSet, Capability};
use crate::domain::duration::parse_duration;

impl ServeArgs {
    /// Parses `args` with every environment lookup switched off: the defaults and the given
    /// flags only. Tests use it, so the caller's environment cannot leak in.
    pub fn parse_without_env(args: &[&str]) -> Result<ServeArgs, clap::Error> {
        use clap::{Args, FromArgMatches};
        let cmd = ServeArgs::augment_args(clap::Command::new("labgate"))
            .mut_args(|a| a.env(None::<&'static str>));
        let m = cmd.try_get_matches_from(std::iter::once("labgate").chain(args.iter().copied()))?;
        ServeArgs::from_arg_matches(&m)
    }

    /// Parses the settings from `lookup` (a variable's value by name) instead of the process
    /// environment: `labgate check --env-file` reads a file as systemd's `EnvironmentFile=`
    /// would, over the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<ServeArgs, clap::Error> {
        use clap::{Args, FromArgMatches};
        let cmd = ServeArgs::augment_args(clap::Command::new("labgate"));
        let mut argv = vec!["labgate".to_string()];
        for a in cmd.get_arguments() {
            let (Some(env), Some(long)) = (a.get_env(), a.get_long()) else {
                continue;
            };
            if let Some(v) = lookup(&env.to_string_lossy()) {
                argv.push(format!("--{long}={v}"));
            }
        }
        let m = cmd
            .mut_args(|a| a.env(None::<&'static str>))
            .try_get_matches_from(argv)?;
        ServeArgs::from_arg_matches(&m)
    }

    /// The defaults, ignoring the environment.
    pub fn defaults() -> ServeArgs {
        ServeArgs::parse_without_env(&[]).expect("the defaults parse")
    }
}

/// Raw server settings as given on the command line or in the environment.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// address:port to bind
    #[arg(long, env = "LABGATE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// `development` or `production`
    #[arg(long = "env", env = "LABGATE_ENV", default_value = "development")]
    pub environment: String,
    /// access-token lifetime (90s, 15m, 12h, 7d)
    #[arg(long, env = "JWT_EXPIRES_IN", default_value = "15m")]
    pub jwt_expires_in: String,
    /// refresh-token and login-session absolute lifetime
    #[arg(long, env = "JWT_REFRESH_EXPIRES_IN", default_value = "7d")]
    pub jwt_refresh_expires_in: String,
    /// a login session unused this long ends
    #[arg(long, env = "LABGATE_SESSION_IDLE", default_value = "8h")]
    pub session_idle: String,
    /// general per-IP requests per minute; 0 turns the general limit off
    #[arg(long, env = "LABGATE_RATE_LIMIT_PER_MINUTE", default_value = "100")]
    pub rate_limit_per_minute: String,
    /// comma-separated CIDRs whose X-Forwarded-For is believed
    #[arg(long, env = "LABGATE_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// comma-separated CIDRs noise sinks may reach (empty: any address not refused anyway)
    #[arg(long, env = "LABGATE_SINK_NETWORKS", default_value = "")]
    pub sink_networks: String,
    /// base URL used in mailed links (default http://<listen>)
    #[arg(long, env = "LABGATE_PUBLIC_URL", default_value = "")]
    pub public_url: String,
    /// directory where outgoing mail is spooled as .eml files when no SMTP is set
    #[arg(long, env = "LABGATE_MAIL_DIR", default_value = "./mail-outbox")]
    pub mail_dir: PathBuf,
    /// sender of labgate's mail (default labgate@<host of LABGATE_PUBLIC_URL>)
    #[arg(long, env = "LABGATE_MAIL_FROM", default_value = "")]
    pub mail_from: String,
    /// PEM bundle of extra CAs (the lab's own) trusted beside the system's for every outgoing
    /// TLS connection: SMTP, HTTPS sinks, syslog over TLS, audit forwarding
    #[arg(long, env = "LABGATE_CA_FILE", default_value = "")]
    pub ca_file: String,
    /// comma-separated host names the sign-in page may return to (`/login?rd=`), for tools
    /// behind forward authentication (`GET /api/auth/verify`)
    #[arg(long, env = "LABGATE_FORWARD_AUTH_HOSTS", default_value = "")]
    pub forward_auth_hosts: String,
    /// domain the session cookie covers (e.g. lab.example), so tools on its hosts see it
    #[arg(long, env = "LABGATE_COOKIE_DOMAIN", default_value = "")]
    pub cookie_domain: String,
    /// syslog receiver every audit record is forwarded to, in order, at least once:
    /// udp://host:514, tcp://host:514 or tls://host:6514 (empty: none)
    #[arg(long, env = "LABGATE_AUDIT_FORWARD", default_value = "")]
    pub audit_forward: String,
    /// SMTP relay: smtp://host[:25], smtp://host:587?tls=required (STARTTLS) or
    /// smtps://host[:465], with user:password@ over TLS only (environment only: it may carry a
    /// password)
    #[arg(
        long,
        env = "LABGATE_SMTP_URL",
        default_value = "",
        hide = true,
        hide_env_values = true
    )]
    pub smtp_url: String,
    /// a file holding LABGATE_SMTP_URL
    #[arg(long, env = "LABGATE_SMTP_URL_FILE")]
    pub smtp_url_file: Option<PathBuf>,
    /// shared bearer token for POST /api/noise/run only (32+ characters; empty disables)
    #[arg(
        long,
        env = "LABGATE_NOISE_DISPATCH_TOKEN",
        default_value = "",
        hide = true,
        hide_env_values = true
    )]
    pub noise_dispatch_token: String,
    /// a file holding LABGATE_NOISE_DISPATCH_TOKEN
    #[arg(long, env = "LABGATE_NOISE_DISPATCH_TOKEN_FILE")]
    pub noise_dispatch_token_file: Option<PathBuf>,
    /// tenant slug that dispatch-token runs belong to
    #[arg(long, env = "LABGATE_NOISE_DISPATCH_TENANT", default_value = "default")]
    pub noise_dispatch_tenant: String,
    /// root directory for file noise sinks; each tenant writes under its own `<slug>/` in it
    #[arg(long, env = "LABGATE_NOISE_DIR", default_value = "./noise")]
    pub noise_dir: PathBuf,
    /// directory of scheduled verified backups (empty: none are taken)
    #[arg(long, env = "LABGATE_BACKUP_DIR", default_value = "")]
    pub backup_dir: String,
    /// when scheduled backups are taken (5-field cron, UTC)
    #[arg(long, env = "LABGATE_BACKUP_SCHEDULE", default_value = "0 3 * * *")]
    pub backup_schedule: String,
    /// how many scheduled backups are kept (older ones are removed)
    #[arg(long, env = "LABGATE_BACKUP_KEEP", default_value = "7")]
    pub backup_keep: String,
    /// PEM certificate chain; with LABGATE_TLS_KEY, labgate serves HTTPS only
    #[arg(long, env = "LABGATE_TLS_CERT", default_value = "")]
    pub tls_cert: String,
    /// PEM private key of LABGATE_TLS_CERT (PKCS#8, RSA or EC)
    #[arg(long, env = "LABGATE_TLS_KEY", default_value = "")]
    pub tls_key: String,
    /// address:port of the Prometheus listener serving GET /metrics (empty: none)
    #[arg(long, env = "LABGATE_METRICS_LISTEN", default_value = "")]
    pub metrics_listen: String,
    /// `text` (without timestamps when journald captures the output) or `json`
    #[arg(long, env = "LABGATE_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// this node's name among several on one PostgreSQL database (default: host name and port)
    #[arg(long, env = "LABGATE_NODE_ID", default_value = "")]
    pub node_id: String,
    /// legacy global API key (empty disables)
    #[arg(
        long,
        env = "LABGATE_GLOBAL_API_KEY",
        default_value = "",
        hide = true,
        hide_env_values = true
    )]
    pub global_api_key: String,
    /// a file holding LABGATE_GLOBAL_API_KEY
    #[arg(long, env = "LABGATE_GLOBAL_API_KEY_FILE")]
    pub global_api_key_file: Option<PathBuf>,
    /// role the global key acts with (always viewer in production)
    #[arg(long, env = "LABGATE_GLOBAL_API_KEY_ROLE", default_value = "viewer")]
    pub global_api_key_role: String,
    /// master key switch (break-glass)
    #[arg(long, env = "BREAK_GLASS_ENABLED", default_value = "false")]
    pub break_glass_enabled: String,
    /// the master key (32+ characters when break-glass is enabled)
    #[arg(
        long,
        env = "MASTER_KEY",
        default_value = "",
        hide = true,
        hide_env_values = true
    )]
    pub master_key: String,
    /// a file holding MASTER_KEY
    #[arg(long, env = "MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// how long after start the master key is accepted
    #[arg(long, env = "BREAK_GLASS_TTL", default_value = "60m")]
    pub break_glass_ttl: String,
    /// capabilities of the master key (never `*`)
    #[arg(
        long,
        env = "BREAK_GLASS_CAPABILITIES",
        default_value = "admin.users,admin.settings,audit.read"
    )]
    pub break_glass_capabilities: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

/// How log lines are written (SPEC §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The machine's host name (`localhost` when it has none that reads).
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// Validated settings. Secrets are kept out of `Debug`.
#[derive(Clone)]
pub struct Config {
    pub db: PathBuf,
    /// The root key's file (SPEC §13.1): `LABGATE_KEY_FILE`, or `<db>.key`.
    pub key_file: PathBuf,
    pub listen: SocketAddr,
    pub environment: Environment,
    pub jwt_ttl: Duration,
    pub refresh_ttl: Duration,
    pub session_idle: Duration,
    pub rate_limit_per_minute: u32,
    pub trusted_proxies: Vec<IpNet>,
    /// `LABGATE_SINK_NETWORKS`: when set, the only networks sinks may reach.
    pub sink_networks: Vec<IpNet>,
    pub public_url: String,
    pub mail_dir: PathBuf,
    /// `LABGATE_SMTP_URL`, parsed (SPEC §12.2).
    pub smtp: Option<crate::mail::Relay>,
    /// `LABGATE_MAIL_FROM`, or `labgate@<public host>`.
    pub mail_from: String,
    /// `LABGATE_FORWARD_AUTH_HOSTS` (SPEC §16.2), lowercase.
    pub forward_auth_hosts: Vec<String>,
    /// `LABGATE_COOKIE_DOMAIN`: the session cookie's `Domain`.
    pub cookie_domain: Option<String>,
    /// `LABGATE_AUDIT_FORWARD` (SPEC §12.3).
    pub audit_forward: Option<crate::app::forward::Target>,
    /// The trust anchors of outgoing TLS: the system's and `LABGATE_CA_FILE`'s.
    pub trust: crate::tls::Trust,
    pub noise_dispatch_token: Option<String>,
    pub noise_dispatch_tenant: String,
    pub noise_dir: PathBuf,
    pub global_api_key: Option<String>,
    pub global_api_key_role: String,
    pub break_glass_enabled: bool,
    pub master_key: Option<String>,
    pub break_glass_ttl: Duration,
    pub break_glass_capabilities: CapSet,
    /// `LABGATE_BACKUP_DIR`, `LABGATE_BACKUP_SCHEDULE`, `LABGATE_BACKUP_KEEP` (SPEC §13.3).
    pub backups: Option<Backups>,
    /// `LABGATE_METRICS_LISTEN` (SPEC §14).
    pub metrics_listen: Option<SocketAddr>,
    /// `LABGATE_TLS_CERT` and `LABGATE_TLS_KEY` (SPEC §12.1): HTTPS only when set.
    pub tls: Option<crate::tls::TlsFiles>,
    pub log_format: LogFormat,
    /// This server's name among the nodes of one database (SPEC §15): `LABGATE_NODE_ID`, or
    /// `<host name>:<port>`.
    pub node: String,
}

/// Scheduled backups: where, when, how many are kept.
#[derive(Debug, Clone)]
pub struct Backups {
    pub dir: PathBuf,
    pub schedule: String,
    pub keep: usize,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("db", &self.db)
            .field("listen", &self.listen)
            .field("environment", &self.environment)
            .finish_non_exhaustive()
    }
}

fn bad(var: &str, why: impl std::fmt::Display) -> String {
    format!("{var}: {why}")
}

fn duration(var: &str, raw: &str) -> Result<Duration, String> {
    parse_duration(raw).ok_or_else(|| {
        bad(
            var,
            format!("invalid duration {raw:?} (use a positive number with s, m, h or d, e.g. 15m)"),
        )
    })
}

/// A secret setting: from its variable, or from the file its `_FILE` variable names (one
/// line; a trailing newline is not part of it), never both. Secrets are never taken from the
/// command line, where `ps` shows them (`cli::refuse_secret_flags`).
fn secret(name: &str, value: &str, file: &Option<PathBuf>) -> Result<Option<String>, String> {
    let Some(path) = file else {
        return Ok(non_empty(value));
    };
    if !value.is_empty() {
        return Err(format!("{name} and {name}_FILE are both set; set one"));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{name}_FILE: cannot read {}: {e}", path.display()))?;
    let v = text.trim_end_matches(['\n', '\r']);
    if v.is_empty() {
        return Err(format!("{name}_FILE: {} is empty", path.display()));
    }
    Ok(Some(v.to_string()))
}

/// The settings that hold secrets: given in the environment or in a file, never as flags.
pub const SECRET_ARGS: [(&str, &str); 4] = [
    ("smtp_url", "LABGATE_SMTP_URL"),
    ("noise_dispatch_token", "LABGATE_NOISE_DISPATCH_TOKEN"),
    ("global_api_key", "LABGATE_GLOBAL_API_KEY"),
    ("master_key", "MASTER_KEY"),
];

fn non_empty(raw: &str) -> Option<String> {
    let t = raw.trim();
    (!t.is_empty()).then(|| t.to_string())
}

impl Config {
    /// How long a retired signing key's tokens may still be valid: the access-token lifetime
    /// and the clock leeway.
    pub fn signing_window(&self) -> Duration {
        self.jwt_ttl + Duration::from_secs(crate::domain::jwt::LEEWAY_S as u64)
    }

    /// The directory a tenant's file sinks write under (SPEC §7.2): `LABGATE_NOISE_DIR/<slug>/`.
    /// Slugs are lowercase letters, digits and hyphens, so one never names another's directory.
    pub fn noise_dir_of(&self, tenant_slug: &str) -> PathBuf {
        self.noise_dir.join(tenant_slug)
    }

    /// Where noise sinks may send (SPEC §12.2).
    pub fn destinations(&self) -> crate::domain::net::Destinations {
        crate::domain::net::Destinations {
            own: self.listen,
            networks: self.sink_networks.clone(),
        }
    }

    /// Validates raw settings; the error is one line naming the offending variable.
    pub fn from_args(db: PathBuf, a: &ServeArgs) -> Result<Config, String> {
        let listen: SocketAddr = a.listen.trim().parse().map_err(|_| {
            bad(
                "LABGATE_LISTEN",
                format!("invalid address:port {:?}", a.listen),
            )
        })?;
        let environment = match a.environment.trim() {
            "development" => Environment::Development,
            "production" => Environment::Production,
            other => {
                return Err(bad(
                    "LABGATE_ENV",
                    format!("must be development or production, not {other:?}"),
                ));
            }
        };
        let rate_limit_per_minute =
            a.rate_limit_per_minute.trim().parse::<u32>().map_err(|_| {
                bad(
                    "LABGATE_RATE_LIMIT_PER_MINUTE",
                    format!(
                        "must be a whole number 0 or more, not {:?}",
                        a.rate_limit_per_minute
                    ),
                )
            })?;
        let mut trusted_proxies = Vec::new();
        for part in a
            .trusted_proxies
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            trusted_proxies.push(crate::domain::net::parse_cidr(part).ok_or_else(|| {
                bad(
                    "LABGATE_TRUSTED_PROXIES",
                    format!("malformed CIDR {part:?}"),
                )
            })?);
        }
        let mut sink_networks = Vec::new();
        for part in a
            .sink_networks
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            sink_networks.push(
                crate::domain::net::parse_cidr(part).ok_or_else(|| {
                    bad("LABGATE_SINK_NETWORKS", format!("malformed CIDR {part:?}"))
                })?,
            );
        }
        let tls = match (non_empty(&a.tls_cert), non_empty(&a.tls_key)) {
            (None, None) => None,
            (Some(_), None) => {
                return Err(bad(
                    "LABGATE_TLS_KEY",
                    "must be set with LABGATE_TLS_CERT (the certificate's private key)",
                ));
            }
            (None, Some(_)) => {
                return Err(bad(
                    "LABGATE_TLS_CERT",
                    "must be set with LABGATE_TLS_KEY (the key's certificate chain)",
                ));
            }
            (Some(cert), Some(key)) => {
                let files = crate::tls::TlsFiles {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                };
                // Read now: a pair that does not load stops the start, naming the variable.
                crate::tls::load(&files)?;
                Some(files)
            }
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        let public_url = match non_empty(&a.public_url) {
            Some(u) => {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(bad(
                        "LABGATE_PUBLIC_URL",
                        "must start with http:// or https://",
                    ));
                }
                u.trim_end_matches('/').to_string()
            }
            // Mailed links and the token issuer would name an address nobody can reach.
            None if listen.ip().is_unspecified() => {
                return Err(bad(
                    "LABGATE_PUBLIC_URL",
                    "required when LABGATE_LISTEN is every address (0.0.0.0 or [::]): the URL people reach this server by",
                ));
            }
            None => format!("{scheme}://{listen}"),
        };
        let smtp = secret("LABGATE_SMTP_URL", &a.smtp_url, &a.smtp_url_file)?
            .map(|u| crate::mail::Relay::parse(&u).map_err(|e| bad("LABGATE_SMTP_URL", e)))
            .transpose()?;
        let trust = crate::tls::Trust::load(non_empty(&a.ca_file).map(PathBuf::from).as_deref())?;
        let mut forward_auth_hosts = Vec::new();
        for h in a
            .forward_auth_hosts
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
        {
            if h.contains(['/', ':', '@', ' ', '*']) && h.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad(
                    "LABGATE_FORWARD_AUTH_HOSTS",
                    format!("{h:?} is not a host name (no scheme, port, path or wildcard)"),
                ));
            }
            forward_auth_hosts.push(h);
        }
        let cookie_domain = match non_empty(&a.cookie_domain) {
            None => None,
            Some(d) => {
                let d = d.trim_start_matches('.').to_ascii_lowercase();
                let public_host = url::Url::parse(&public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
                    .unwrap_or_default();
                // A browser takes a cookie's Domain only from a host inside it.
                if d.is_empty()
                    || d.contains(['/', ':', ' '])
                    || !(public_host == d || public_host.ends_with(&format!(".{d}")))
                {
                    return Err(bad(
                        "LABGATE_COOKIE_DOMAIN",
                        format!(
                            "must be the domain of LABGATE_PUBLIC_URL's host ({public_host}) or one it is in"
                        ),
                    ));
                }
                Some(d)
            }
        };
        let audit_forward = non_empty(&a.audit_forward)
            .map(|u| {
                crate::app::forward::Target::parse(&u).map_err(|e| bad("LABGATE_AUDIT_FORWARD", e))
            })
            .transpose()?;
        let mail_from = match non_empty(&a.mail_from) {
            Some(f) => f,
            None => crate::mail::default_from(&public_url),
        };
        // Built once here so a sender that is no address, or a relay TLS cannot be set up for,
        // stops the start naming its variable.
        crate::mail::Mailer::new(a.mail_dir.clone(), None, &mail_from, &trust)
            .map_err(|e| bad("LABGATE_MAIL_FROM", e))?;
        crate::mail::Mailer::new(a.mail_dir.clone(), smtp.as_ref(), &mail_from, &trust)
            .map_err(|e| bad("LABGATE_SMTP_URL", e))?;
        let noise_dispatch_token = secret(
            "LABGATE_NOISE_DISPATCH_TOKEN",
            &a.noise_dispatch_token,
            &a.noise_dispatch_token_file,
        )?;
        if let Some(t) = &noise_dispatch_token
            && t.chars().count() < 32
        {
            return Err(bad(
                "LABGATE_NOISE_DISPATCH_TOKEN",
                "shorter than 32 characters; use a long random value",
            ));
        }
        let global_api_key = secret(
            "LABGATE_GLOBAL_API_KEY",
            &a.global_api_key,
            &a.global_api_key_file,
        )?;
        if let Some(k) = &global_api_key
            && k.chars().count() < 16
        {
            return Err(bad("LABGATE_GLOBAL_API_KEY", "shorter than 16 characters"));
        }
        let role = a.global_api_key_role.trim().to_string();
        if role.is_empty() {
            return Err(bad("LABGATE_GLOBAL_API_KEY_ROLE", "must name a role"));
        }
        let break_glass_enabled = match a.break_glass_enabled.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" | "" => false,
            other => {
                return Err(bad(
                    "BREAK_GLASS_ENABLED",
                    format!("must be true or false, not {other:?}"),
                ));
            }
        };
        let master_key = secret("MASTER_KEY", &a.master_key, &a.master_key_file)?;
        if break_glass_enabled {
            match &master_key {
                None => return Err(bad("MASTER_KEY", "required when BREAK_GLASS_ENABLED=true")),
                Some(k) if k.chars().count() < 32 => {
                    return Err(bad("MASTER_KEY", "shorter than 32 characters"));
                }
                _ => {}
            }
        }
        let break_glass_ttl = duration("BREAK_GLASS_TTL", &a.break_glass_ttl)?;
        let mut break_glass_capabilities = CapSet::empty();
        for part in a
            .break_glass_capabilities
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let cap = Capability::parse(part).ok_or_else(|| {
                bad(
                    "BREAK_GLASS_CAPABILITIES",
                    format!("unknown capability {part:?} (wildcards are refused)"),
                )
            })?;
            break_glass_capabilities.insert(cap);
        }
        let backups = match a.backup_dir.trim() {
            "" => None,
            dir => {
                crate::domain::cron::parse(&a.backup_schedule)
                    .map_err(|e| bad("LABGATE_BACKUP_SCHEDULE", e))?;
                let keep: usize = a
                    .backup_keep
                    .trim()
                    .parse()
                    .ok()
                    .filter(|k| (1..=1000).contains(k))
                    .ok_or_else(|| bad("LABGATE_BACKUP_KEEP", "must be a number from 1 to 1000"))?;
                Some(Backups {
                    dir: PathBuf::from(dir),
                    schedule: a.backup_schedule.trim().to_string(),
                    keep,
                })
            }
        };
        let metrics_listen = match a.metrics_listen.trim() {
            "" => None,
            raw => Some(raw.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "LABGATE_METRICS_LISTEN",
                    format!("invalid address:port {raw:?}"),
                )
            })?),
        };
        if metrics_listen.is_some_and(|m| m == listen && m.port() != 0) {
            return Err(bad(
                "LABGATE_METRICS_LISTEN",
                "must differ from LABGATE_LISTEN",
            ));
        }
        let log_format = match a.log_format.trim() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            other => {
                return Err(bad(
                    "LABGATE_LOG_FORMAT",
                    format!("must be text or json, not {other:?}"),
                ));
            }
        };
        let node = match a.node_id.trim() {
            "" => format!("{}:{}", host_name(), listen.port()),
            n if n.len() <= 64
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)) =>
            {
                n.to_string()
            }
            _ => {
                return Err(bad(
                    "LABGATE_NODE_ID",
                    "must be at most 64 letters, digits, '-', '_', '.' or ':'",
                ));
            }
        };
        Ok(Config {
            tls,
            metrics_listen,
            log_format,
            node,
            backups,
            key_file: crate::store::keyfile::default_path(&db, None),
            db,
            listen,
            environment,
            jwt_ttl: duration("JWT_EXPIRES_IN", &a.jwt_expires_in)?,
            refresh_ttl: duration("JWT_REFRESH_EXPIRES_IN", &a.jwt_refresh_expires_in)?,
            session_idle: duration("LABGATE_SESSION_IDLE", &a.session_idle)?,
            rate_limit_per_minute,
            trusted_proxies,
            sink_networks,
            public_url,
            mail_dir: a.mail_dir.clone(),
            smtp,
            mail_from,
            trust,
            audit_forward,
            forward_auth_hosts,
            cookie_domain,
            noise_dispatch_token,
            noise_dispatch_tenant: a.noise_dispatch_tenant.trim().to_string(),
            noise_dir: a.noise_dir.clone(),
            global_api_key,
            global_api_key_role: role,
            break_glass_enabled,
            master_key,
            break_glass_ttl,
            break_glass_capabilities,
        })
    }

    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// Where the sign-in page may send a user back to: `rd` when it is an absolute http(s) URL
    /// whose host is in `LABGATE_FORWARD_AUTH_HOSTS` (any port), as a normalized URL.
    pub fn forward_return(&self, rd: &str) -> Option<String> {
        let u = url::Url::parse(rd).ok()?;
        let host = u.host_str()?.trim_matches(['[', ']']).to_ascii_lowercase();
        (matches!(u.scheme(), "http" | "https")
            && u.username().is_empty()
            && u.password().is_none()
            && self.forward_auth_hosts.contains(&host))
        .then(|| u.to_string())
    }

    /// Cookies are `Secure` in production, when serving HTTPS, or when the public URL is https.
    pub fn secure_cookies(&self) -> bool {
        self.is_production() || self.tls.is_some() || self.public_url.starts_with("https://")
    }

    /// Settings for an isolated server on a random loopback port (tests, benchmarks).
    /// Settings for a server in `dir` (tests, benchmarks): the defaults, whatever the process
    /// environment says, with the general rate limit off and every path inside `dir`.
    pub fn for_dir(dir: &std::path::Path) -> Config {
        let raw = ServeArgs::defaults();
        let mut c =
            Config::from_args(dir.join("labgate.db"), &raw).expect("default settings are valid");
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.key_file = dir.join("labgate.db.key");
        // The general per-IP limit is off: a test or a benchmark sends far more than 100
        // requests a minute from one address. The auth-route limits stay.
        c.rate_limit_per_minute = 0;
        c.public_url = "http://127.0.0.1".into();
        c.mail_dir = dir.join("mail-outbox");
        c.noise_dir = dir.join("noise");
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(args: &[&str]) -> Result<Config, String> {
        let raw = ServeArgs::parse_without_env(args).unwrap();
        Config::from_args("x.db".into(), &raw)
    }

    #[test]
    fn defaults_are_valid() {
        let c = with(&[]).unwrap();
        assert_eq!(c.jwt_ttl, Duration::from_secs(900));
        assert_eq!(c.public_url, "http://127.0.0.1:8080");
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases: &[(&[&str], &str)] = &[
            (&["--jwt-expires-in", "abc"], "JWT_EXPIRES_IN"),
            (&["--session-idle=-5m"], "LABGATE_SESSION_IDLE"),
            (
                &["--trusted-proxies", "10.0.0.0/33"],
                "LABGATE_TRUSTED_PROXIES",
            ),
            (
                &["--noise-dispatch-token", "short"],
                "LABGATE_NOISE_DISPATCH_TOKEN",
            ),
            (
                &["--rate-limit-per-minute=-1"],
                "LABGATE_RATE_LIMIT_PER_MINUTE",
            ),
            (
                &["--break-glass-capabilities", "*"],
                "BREAK_GLASS_CAPABILITIES",
            ),
            (&["--break-glass-enabled", "true"], "MASTER_KEY"),
            (&["--listen", "nowhere"], "LABGATE_LISTEN"),
        ];
        for (args, var) in cases {
            let err = with(args)
                .err()
                .unwrap_or_else(|| panic!("{args:?} accepted"));
            assert!(err.starts_with(var), "{err}");
            assert!(!err.contains('\n'));
        }
    }
}
