//! Command line: `labgate [serve]`, `migrate`, `user create|reset-mfa`, `tenant create`,
//! `audit verify`. Every command takes `--db` / `LABGATE_DB` and creates the database with its
//! schema when it does not exist yet.

pub mod admin;
pub mod check;
pub mod logging;
pub mod scan;
pub mod serve;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::ServeArgs;

#[derive(Parser, Debug)]
#[command(
    name = "labgate",
    version = crate::metrics::version(),
    about = "Access layer and control API of the security-lab appliance.\n\nWith no subcommand, `labgate` runs `labgate serve`."
)]
pub struct Cli {
    /// SQLite database file (created with its schema on first use)
    #[arg(
        long,
        env = "LABGATE_DB",
        default_value = "./labgate.db",
        global = true
    )]
    pub db: PathBuf,
    /// the root key's file (default: the database path plus `.key`, or
    /// `$CREDENTIALS_DIRECTORY/labgate.key` under systemd); keep it apart from backups
    #[arg(long, env = "LABGATE_KEY_FILE", global = true)]
    pub key_file: Option<PathBuf>,
    /// The server's settings when no subcommand is given (`labgate serve --help` lists them);
    /// commands that need one of them (`keys rotate-signing`) read it from the environment.
    #[command(flatten, next_help_heading = "Server options (with no subcommand)")]
    pub serve: ServeArgs,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check the configuration, the database and the key file without changing anything
    ///
    /// Reads the settings as `serve` would (the environment, and with --env-file a file of
    /// NAME=value lines over it, as systemd's EnvironmentFile= does), tries the listen
    /// addresses and the directories, and opens the database's keys with the key file. Prints
    /// what is wrong, one line each; exit 0 when a server would start.
    Check {
        /// a file of NAME=value lines (e.g. /etc/labgate/labgate.env)
        #[arg(long)]
        env_file: Option<PathBuf>,
    },
    /// Run the server (the default)
    #[command(
        after_help = "Logging: RUST_LOG (default `info`) filters what is written to standard error."
    )]
    Serve(Box<ServeArgs>),
    /// Apply schema changes to the database, then exit
    Migrate,
    /// Manage users without the API (provisioning, recovery)
    #[command(subcommand)]
    User(UserCommand),
    /// Manage tenants
    #[command(subcommand)]
    Tenant(TenantCommand),
    /// Audit trail tools
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The appliance's keys
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Whole databases
    #[command(subcommand)]
    Db(DbCommand),
    /// TLS certificates
    #[command(subcommand)]
    Cert(CertCommand),
    /// Print the manual page labgate(1), in roff (the package installs it)
    #[command(hide = true)]
    Man,
    /// Find leaked labgate secrets in files, directories (recursively) or standard input
    ///
    /// Each find is one line, `<file>:<line> <kind> <prefix> <state>` (the first 8 characters,
    /// never the secret; state from the database: active, revoked, expired or unknown). Exits 1
    /// when an active secret was found, else 0. Works offline.
    Scan {
        /// revoke every active secret found (each audited as credential.leaked)
        #[arg(long)]
        revoke: bool,
        /// files or directories; standard input when none
        paths: Vec<PathBuf>,
    },
    /// Take a verified copy of the database while the server runs
    ///
    /// SQLite's online backup, checked (integrity and audit chain), with its own audit head as
    /// FILE.audit-head; never overwrites a file. Restoring it needs the key file too: keep the
    /// two apart.
    Backup {
        /// the new backup file
        #[arg(long)]
        to: PathBuf,
    },
    /// Install a backup (with the server stopped)
    ///
    /// The backup is checked first (its keys open with the key file, integrity, audit chain
    /// against FILE.audit-head); refused while a server uses the database; the replaced
    /// database is kept as <db>.before-restore.
    Restore {
        /// the backup file (its FILE.audit-head beside it)
        #[arg(long)]
        from: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum CertCommand {
    /// Write a self-signed certificate and key for an appliance's first boot
    ///
    /// ECDSA P-256, for every --host (names and IP addresses), written as labgate.crt (0644)
    /// and labgate.key (0600) in --out; never over an existing file. Prints the certificate's
    /// SHA-256 fingerprint (compare it with what a browser shows), then point LABGATE_TLS_CERT
    /// and LABGATE_TLS_KEY at the two files.
    Generate {
        /// a host name or IP address the certificate is for (repeat for more)
        #[arg(long = "host", required = true)]
        hosts: Vec<String>,
        /// how many days it is valid
        #[arg(long, default_value = "825")]
        days: u32,
        /// the directory the two files are written in
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Copy a whole appliance into a new database (SQLite to PostgreSQL, or back)
    ///
    /// Each side is a SQLite file or a postgres:// URL, as LABGATE_DB takes. The target must be
    /// new (a file that does not exist, or a PostgreSQL database without labgate's schema).
    /// Every table is copied row for row in one transaction, the audit chain included, and the
    /// copy is verified (its rows counted, its chain walked, its end the source's) before this
    /// answers. The keys stay sealed under the same key file (--key-file / LABGATE_KEY_FILE,
    /// default: the source's). Stop the servers on the source first, or what they write
    /// meanwhile is not in the copy.
    Copy {
        /// the database copied (default: LABGATE_DB)
        #[arg(long)]
        from: Option<PathBuf>,
        /// the new database
        #[arg(long)]
        to: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Make a new token-signing key current
    ///
    /// Tokens signed with the previous key stay valid, and the JWKS publishes it, until they
    /// expire (JWT_EXPIRES_IN and 30 s of leeway); a running server picks the new key up
    /// within a second. Audited.
    RotateSigning,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user (or add a membership to an existing one) and print its id
    Create {
        #[arg(long)]
        email: String,
        /// role in the tenant (admin, operator, analyst, viewer or a custom role)
        #[arg(long, default_value = "viewer")]
        role: String,
        /// tenant slug or id
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        name: Option<String>,
        /// read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factors (TOTP enrollment and passkeys, when a device is lost);
    /// every session of theirs ends
    ResetMfa {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum TenantCommand {
    /// Create a tenant with its built-in roles and print its id
    Create {
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Walk the hash chain and check its end against the anchored head; exits non-zero naming
    /// what was altered, inserted, removed (also at the end) or reordered
    Verify {
        /// the head file (default: the database path plus `.audit-head`)
        #[arg(long)]
        head: Option<PathBuf>,
    },
    /// Remove the records older than a time (RFC 3339), leaving a checkpoint so the rest verifies
    Prune {
        #[arg(long)]
        before: String,
    },
}

/// A secret given as a flag is refused: every user of the machine can read a command line.
fn refuse_secret_flags(m: &clap::ArgMatches) -> Result<(), String> {
    let mut levels = vec![m];
    if let Some(("serve", sub)) = m.subcommand() {
        // Server options before `serve` would be read and then not used: refused, not ignored.
        let given_before = m.ids().map(|id| id.as_str()).find(|id| {
            !["db", "key_file"].contains(id)
                && m.value_source(id) == Some(clap::parser::ValueSource::CommandLine)
        });
        if let Some(id) = given_before {
            use clap::CommandFactory;
            let flag = Cli::command()
                .get_arguments()
                .find(|a| a.get_id() == id)
                .and_then(|a| a.get_long().map(str::to_string))
                .unwrap_or_else(|| id.replace('_', "-"));
            return Err(format!(
                "--{flag} goes after `serve` (labgate serve --{flag} ...)"
            ));
        }
        levels.push(sub);
    }
    for level in levels {
        for (id, var) in crate::config::SECRET_ARGS {
            if level.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
                return Err(format!(
                    "--{} is not accepted on the command line, where other users can read it: set {var} (or {var}_FILE) in the environment",
                    id.replace('_', "-")
                ));
            }
        }
    }
    Ok(())
}

/// Runs the command line and returns the process exit code.
pub fn main() -> i32 {
    use clap::{CommandFactory, FromArgMatches};
    let matches = Cli::command().get_matches();
    if let Err(msg) = refuse_secret_flags(&matches) {
        eprintln!("labgate: {msg}");
        return 2;
    }
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    let target = admin::Target {
        key_file: crate::app::lifecycle::default_key_file(&cli.db, cli.key_file.as_deref()),
        db: cli.db.clone(),
    };
    if cli
        .command
        .as_ref()
        .is_some_and(|c| !matches!(c, Command::Serve(_)))
    {
        // Commands say only what goes wrong (warnings), on standard error.
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
            .format_timestamp(None)
            .init();
    }
    if let Some(Command::Scan { revoke, paths }) = &cli.command {
        return scan::run(&target, paths, *revoke);
    }
    if let Some(Command::Man) = &cli.command {
        let man = clap_mangen::Man::new(Cli::command());
        return match man.render(&mut std::io::stdout().lock()) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("labgate: {e}");
                1
            }
        };
    }
    let result = match cli.command {
        None => serve::run(cli.db, target.key_file.clone(), &cli.serve),
        Some(Command::Serve(args)) => serve::run(cli.db, target.key_file.clone(), &args),
        Some(Command::Migrate) => admin::migrate(&target),
        Some(Command::Check { env_file }) => {
            let given =
                |id: &str| matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine);
            check::run(
                given("db").then_some(cli.db.as_path()),
                given("key_file")
                    .then(|| cli.key_file.clone())
                    .flatten()
                    .as_deref(),
                env_file.as_deref(),
            )
        }
        Some(Command::User(UserCommand::Create {
            email,
            role,
            tenant,
            name,
            password_stdin,
        })) => admin::user_create(
            &target,
            &email,
            &role,
            &tenant,
            name.as_deref(),
            password_stdin,
        ),
        Some(Command::User(UserCommand::ResetMfa { email })) => {
            admin::user_reset_mfa(&target, &email)
        }
        Some(Command::Tenant(TenantCommand::Create { slug, name })) => {
            admin::tenant_create(&target, &slug, &name)
        }
        Some(Command::Audit(AuditCommand::Verify { head })) => {
            admin::audit_verify(&target, head.as_deref())
        }
        Some(Command::Audit(AuditCommand::Prune { before })) => {
            admin::audit_prune(&target, &before)
        }
        Some(Command::Cert(CertCommand::Generate { hosts, days, out })) => {
            crate::tls::generate(&hosts, days, &out).map(|g| {
                println!("certificate {}", g.cert.display());
                println!("key         {} (0600)", g.key.display());
                println!("SHA-256     {}", g.fingerprint);
            })
        }
        Some(Command::Backup { to }) => admin::backup(&target, &to),
        Some(Command::Restore { from }) => admin::restore(&target, &from),
        Some(Command::Keys(KeysCommand::RotateSigning)) => {
            admin::rotate_signing(&target, &cli.serve)
        }
        Some(Command::Db(DbCommand::Copy { from, to })) => {
            let from = from.clone().unwrap_or_else(|| cli.db.clone());
            let key_file = crate::app::lifecycle::default_key_file(&from, cli.key_file.as_deref());
            admin::copy(&admin::Target { db: from, key_file }, &to)
        }
        Some(Command::Scan { .. } | Command::Man) => Ok(()),
    };
    match result {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("labgate: {msg}");
            1
        }
    }
}
