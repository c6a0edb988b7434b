-- labgate schema, version 1.
-- Applied by the binary on first start (and by `labgate migrate`); later changes are ordered
-- migration steps keyed on PRAGMA user_version. Every tenant-owned table carries tenant_id.
-- Timestamps are RFC 3339 UTC strings; ids are UUIDv4 strings; secrets are stored as SHA-256 hex.

CREATE TABLE tenants (
    id          TEXT PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);

-- Per-tenant settings as one JSON document (require_mfa, features, password_min_length).
CREATE TABLE tenant_settings (
    tenant_id   TEXT PRIMARY KEY REFERENCES tenants(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL
);

CREATE TABLE users (
    id              TEXT PRIMARY KEY,
    email           TEXT NOT NULL,
    email_norm      TEXT NOT NULL UNIQUE,       -- lower-cased, for case-insensitive uniqueness
    name            TEXT NOT NULL DEFAULT '',
    password_hash   TEXT,                        -- argon2id PHC string
    status          TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    email_verified  INTEGER NOT NULL DEFAULT 0,
    totp_secret     TEXT,                        -- encrypted, confirmed enrollment
    totp_pending    TEXT,                        -- encrypted, enrollment awaiting confirmation
    totp_last_step  INTEGER,                     -- last accepted TOTP time step (replay guard)
    created_at      TEXT NOT NULL
);

CREATE TABLE roles (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    permissions TEXT NOT NULL,                   -- JSON array of capability names
    builtin     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE memberships (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX memberships_tenant ON memberships(tenant_id);

CREATE TABLE membership_roles (
    user_id     TEXT NOT NULL,
    tenant_id   TEXT NOT NULL,
    role_id     TEXT NOT NULL REFERENCES roles(id),
    PRIMARY KEY (user_id, tenant_id, role_id),
    FOREIGN KEY (user_id, tenant_id) REFERENCES memberships(user_id, tenant_id) ON DELETE CASCADE
);
CREATE INDEX membership_roles_role ON membership_roles(role_id);

-- A login session: one sign-in of one user into one tenant. Its JWTs, refresh tokens and
-- browser cookie all die with it.
CREATE TABLE login_sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    cookie_hash   TEXT NOT NULL UNIQUE,
    csrf_hash     TEXT NOT NULL,
    amr           TEXT NOT NULL,                 -- JSON array, e.g. ["pwd","otp"]
    ip            TEXT,
    user_agent    TEXT,
    created_at    TEXT NOT NULL,
    last_used_at  TEXT NOT NULL,
    expires_at    TEXT NOT NULL,                 -- absolute end (JWT_REFRESH_EXPIRES_IN)
    ended_at      TEXT,
    ended_reason  TEXT
);
CREATE INDEX login_sessions_user ON login_sessions(user_id);
CREATE INDEX login_sessions_tenant ON login_sessions(tenant_id);

CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES login_sessions(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    spent_at    TEXT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- One-time lgx_ tokens: setup, password reset, invitation, email verification, MFA login step.
CREATE TABLE one_time_tokens (
    token_hash  TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    user_id     TEXT REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   TEXT REFERENCES tenants(id) ON DELETE CASCADE,
    data        TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    revoked_at  TEXT
);

-- Ed25519 token-signing keys; the newest is used to sign, all are published in the JWKS.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    private_der  BLOB NOT NULL,                  -- PKCS#8
    public_raw   BLOB NOT NULL,                  -- 32 bytes
    created_at   TEXT NOT NULL,
    sealed       INTEGER NOT NULL DEFAULT 0,     -- 1: private_der is encrypted under the key file
    retired_at   TEXT                            -- set by `labgate keys rotate-signing`
);

-- Hash-chained audit trail (tenant_id NULL for events of no tenant).
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    ts          TEXT NOT NULL,
    tenant_id   TEXT,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT,
    action      TEXT NOT NULL,
    target      TEXT,
    outcome     TEXT NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
    ip          TEXT,
    user_agent  TEXT,
    request_id  TEXT,
    details     TEXT NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_tenant ON audit_log(tenant_id, seq);

-- How far audit forwarding (LABGATE_AUDIT_FORWARD) has delivered, per destination: records
-- after `seq` are sent when the receiver can be reached.
CREATE TABLE audit_forward (
    target      TEXT PRIMARY KEY,
    seq         INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Appliance-held secret keys (e.g. the key that encrypts API key secrets and TOTP secrets),
-- kept apart from the tables holding the ciphertext.
CREATE TABLE appliance_keys (
    name        TEXT PRIMARY KEY,                -- data, audit_mac
    key         BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    sealed      INTEGER NOT NULL DEFAULT 0       -- 1: key is encrypted under the key file
);

-- Personal access tokens: act as their user, in the tenant they were created in.
CREATE TABLE personal_tokens (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    prefix        TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    expires_at    TEXT,
    revoked_at    TEXT,
    last_used_at  TEXT,
    last_used_ip  TEXT,
    -- the factors of the login session that created the token (JSON array, e.g. ["pwd","otp"]):
    -- the MFA policy applies to the token exactly as to that session
    amr           TEXT NOT NULL DEFAULT '["pwd"]',
    -- when the owner was mailed that the token expires within 7 days
    expiry_noticed_at TEXT
);
CREATE INDEX personal_tokens_user ON personal_tokens(user_id, tenant_id);

-- Organization API keys: belong to a tenant, scoped to services.
CREATE TABLE api_keys (
    id               TEXT PRIMARY KEY,
    tenant_id        TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    key_hash         TEXT NOT NULL UNIQUE,
    key_enc          BLOB NOT NULL,              -- encrypted secret, for reveal
    prefix           TEXT NOT NULL,
    services         TEXT NOT NULL,              -- JSON {"service": "read"|"write"}
    allowed_subnets  TEXT NOT NULL DEFAULT '[]',
    allowed_origins  TEXT NOT NULL DEFAULT '[]',
    created_by       TEXT,
    created_at       TEXT NOT NULL,
    expires_at       TEXT,
    deleted_at       TEXT,
    last_used_at     TEXT,
    last_used_ip     TEXT,
    -- when the creator was mailed that the key expires within 7 days
    expiry_noticed_at TEXT
);
CREATE INDEX api_keys_tenant ON api_keys(tenant_id);

CREATE TABLE api_key_shares (
    key_id      TEXT NOT NULL REFERENCES api_keys(id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (key_id, user_id)
);

-- Platform events of a tenant (SSE and JSON list).
CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT,
    type        TEXT NOT NULL,
    data        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX events_tenant ON events(tenant_id, id);

-- MFA recovery codes, hashed, single use.
CREATE TABLE recovery_codes (
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash   TEXT NOT NULL,
    used_at     TEXT,
    PRIMARY KEY (user_id, code_hash)
);

-- Consecutive failed logins per email (existing or not), for lockout.
CREATE TABLE login_failures (
    email_norm    TEXT PRIMARY KEY,
    failures      INTEGER NOT NULL,
    locked_until  TEXT,
    updated_at    TEXT NOT NULL
);

CREATE TABLE invitations (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    roles        TEXT NOT NULL,                 -- JSON array of role names
    token_hash   TEXT NOT NULL UNIQUE,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    accepted_at  TEXT,
    revoked_at   TEXT
);
CREATE INDEX invitations_tenant ON invitations(tenant_id);

-- Per-tenant source-IP allow and block lists.
CREATE TABLE ip_rules (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    list        TEXT NOT NULL CHECK (list IN ('allow', 'block')),
    cidr        TEXT NOT NULL,
    note        TEXT NOT NULL DEFAULT '',
    created_by  TEXT,
    created_at  TEXT NOT NULL
);
CREATE INDEX ip_rules_tenant ON ip_rules(tenant_id, list);

-- Exercise sessions of a tenant.
CREATE TABLE exercise_sessions (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    scenario    TEXT,
    status      TEXT NOT NULL CHECK (status IN ('running', 'ended')),
    started_by  TEXT,
    started_at  TEXT NOT NULL,
    ended_by    TEXT,
    ended_at    TEXT
);
CREATE INDEX exercise_sessions_tenant ON exercise_sessions(tenant_id, status);
-- At most one running session of a name per tenant.
CREATE UNIQUE INDEX exercise_sessions_running_name ON exercise_sessions(tenant_id, name) WHERE status = 'running';

-- Noise sinks: where generated events go.
CREATE TABLE noise_sinks (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('file', 'syslog', 'http')),
    config      TEXT NOT NULL,                   -- JSON, kind-specific
    created_at  TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE noise_schedules (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    cron         TEXT NOT NULL,
    profile      TEXT NOT NULL,
    count        INTEGER NOT NULL,
    sink_id      TEXT NOT NULL REFERENCES noise_sinks(id),
    enabled      INTEGER NOT NULL DEFAULT 1,
    misfire      TEXT NOT NULL CHECK (misfire IN ('skip', 'run_once')),
    next_run_at  TEXT,
    last_run_at  TEXT,
    last_run_id  TEXT,
    created_at   TEXT NOT NULL,
    UNIQUE (tenant_id, name)
);

CREATE TABLE noise_runs (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    profile      TEXT NOT NULL,
    count        INTEGER NOT NULL,
    seed         INTEGER NOT NULL,
    sink_id      TEXT NOT NULL,
    sink_name    TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed')),
    events_sent  INTEGER NOT NULL DEFAULT 0,
    trigger      TEXT NOT NULL CHECK (trigger IN ('api', 'dispatch', 'schedule')),
    schedule_id  TEXT,
    created_by   TEXT,
    created_at   TEXT NOT NULL,
    started_at   TEXT,
    finished_at  TEXT,
    error        TEXT,
    node         TEXT,                         -- the node that runs it (schema 8)
    heartbeat_at TEXT                          -- its node's last sign of life (schema 8)
);
CREATE INDEX noise_runs_tenant ON noise_runs(tenant_id, created_at);
CREATE INDEX noise_runs_status ON noise_runs(status);

-- Bumped by every CLI command that changes users, tenants or credentials, so a running server
-- drops its caches and sees the change.
CREATE TABLE change_epoch (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    n   INTEGER NOT NULL
);
INSERT INTO change_epoch (id, n) VALUES (1, 0);

-- (Schema 7, from here to its end marker: the migration runs this part as it is.)
-- Passkeys (WebAuthn credentials): the public key and sign counter as webauthn-rs keeps them.
CREATE TABLE passkeys (
    id             TEXT PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    credential_id  TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    credential     TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    last_used_at   TEXT
);
CREATE INDEX passkeys_user ON passkeys(user_id);

-- A passkey ceremony between its start and its finish (minutes; spent by the finish).
CREATE TABLE passkey_ceremonies (
    id          TEXT PRIMARY KEY,
    purpose     TEXT NOT NULL,
    user_id     TEXT REFERENCES users(id) ON DELETE CASCADE,
    data        TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE INDEX passkey_ceremonies_user ON passkey_ceremonies(user_id, purpose);
-- (End of schema 7.)
