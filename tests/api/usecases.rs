//! The use cases on their own, without HTTP: a temp database, the real password workers, and a
//! fixed clock where a rule is about time.

use std::sync::Arc;

use labgate::app::signin::{self, LoginInput, Origin};
use labgate::app::{self, Actor, App, NoCache, PasswordWorkers};
use labgate::config::Config;
use labgate::domain::capability::{CapSet, Capability};
use labgate::domain::clock::FixedClock;
use labgate::domain::error::Code;
use labgate::domain::ids::{TenantId, UserId};
use labgate::store::audit::AuditEvent;

const PW: &str = "use case password 0123456789";

fn app_in(dir: &std::path::Path) -> App {
    let config = Config::for_dir(dir);
    let (pool, keys) = app::lifecycle::open(&config.db, &config.key_file).unwrap();
    App::new(
        pool,
        Arc::new(config),
        keys,
        Arc::new(NoCache),
        PasswordWorkers::new(1),
    )
}

/// A user of the default tenant with one role; their id and the tenant's.
fn user(app: &App, email: &str, role: &str) -> (UserId, TenantId) {
    let hash = labgate::domain::password::hash(PW);
    let (uid, _) =
        app::provision::provision_user(app, email, "", role, "default", Some(&hash)).unwrap();
    let tid = app::lifecycle::tenant_id(app, "default").unwrap();
    (uid, tid)
}

fn actor(tenant: &TenantId, user: &UserId, caps: &[Capability]) -> Actor {
    let mut set = CapSet::empty();
    for c in caps {
        set.insert(*c);
    }
    Actor {
        tenant: tenant.clone(),
        caps: set,
        user: Some(user.clone()),
        second_factor: false,
        template: AuditEvent {
            tenant_id: Some(tenant.as_str().to_string()),
            actor_type: "user".into(),
            actor_id: Some(user.as_str().to_string()),
            ..Default::default()
        },
    }
}

async fn login(
    app: &App,
    email: &str,
    password: &str,
) -> Result<(), labgate::domain::error::DomainError> {
    let input = LoginInput {
        email: email.into(),
        password: password.into(),
        totp_code: None,
        tenant: None,
    };
    signin::login(app, Origin::default(), input)
        .await
        .map(|_| ())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_backs_off_by_the_clock_and_doubles() {
    let dir = tempfile::tempdir().unwrap();
    // On a whole second: stored times keep whole seconds.
    let start = chrono::DateTime::from_timestamp(chrono::Utc::now().timestamp(), 0).unwrap();
    let clock = Arc::new(FixedClock::at(start));
    let app = app_in(dir.path()).with_clock(clock.clone());
    user(&app, "locked@lab.example", "viewer");
    let wrong = "a wrong password 0123456789";
    for _ in 0..4 {
        let e = login(&app, "locked@lab.example", wrong).await.unwrap_err();
        assert_eq!(e.code, Code::InvalidCredentials);
    }
    // The fifth failure sets a lock of one minute.
    login(&app, "locked@lab.example", wrong).await.unwrap_err();
    let e = login(&app, "locked@lab.example", PW).await.unwrap_err();
    assert_eq!(e.code, Code::AccountLocked, "even the right password waits");
    assert_eq!(e.retry_after, Some(60));
    clock.advance(std::time::Duration::from_secs(30));
    let e = login(&app, "locked@lab.example", PW).await.unwrap_err();
    assert_eq!(e.retry_after, Some(30), "the wait is counted on the clock");
    // A minute on, one more failure locks for twice as long.
    clock.advance(std::time::Duration::from_secs(31));
    login(&app, "locked@lab.example", wrong).await.unwrap_err();
    let e = login(&app, "locked@lab.example", PW).await.unwrap_err();
    assert_eq!((e.code, e.retry_after), (Code::AccountLocked, Some(120)));
    // Past it, the right password signs in.
    clock.advance(std::time::Duration::from_secs(121));
    login(&app, "locked@lab.example", PW).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_admin_cannot_be_disabled() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path());
    let (admin, tenant) = user(&app, "admin@lab.example", "admin");
    // Holding everything the admin holds: only the keep-an-admin rule stands in the way.
    let me = actor(&tenant, &admin, &Capability::ALL);
    let change = app::users::MemberChange {
        status: Some(app::users::Status::Disabled),
        ..Default::default()
    };
    let e = app::users::change_member(&app, me.clone(), admin.clone(), change)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::Conflict, "{}", e.message);
    let m = app::users::member(&app, &me, admin).await.unwrap();
    assert_eq!(m.status, "active", "nothing changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_role_may_grant_only_what_its_maker_holds() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path());
    let (uid, tenant) = user(&app, "lead@lab.example", "admin");
    // Holding admin.users alone: a role with manage_api_keys is beyond reach.
    let me = actor(&tenant, &uid, &[Capability::AdminUsers]);
    let mut caps = CapSet::empty();
    caps.insert(Capability::ManageApiKeys);
    let e = app::admin::create_role(&app, me.clone(), "keys", caps)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::MissingCapability);
    assert!(e.message.contains("manage_api_keys"), "{}", e.message);
    let roles = app::admin::roles(&app, &me).await.unwrap();
    assert!(roles.iter().all(|r| r.name != "keys"), "no role was made");
    // What it holds it may grant.
    let mut own = CapSet::empty();
    own.insert(Capability::AdminUsers);
    let r = app::admin::create_role(&app, me, "helpers", own)
        .await
        .unwrap();
    assert_eq!(r.permissions, vec!["admin.users".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_feed_sends_each_event_once_whatever_order_they_are_published_in() {
    use labgate::store::events::Event;
    let dir = tempfile::tempdir().unwrap();
    let app = app_in(dir.path());
    let (uid, tenant) = user(&app, "watcher@lab.example", "viewer");
    let me = actor(&tenant, &uid, &[]);
    let mut feed = app::platform::feed(&app, &me, None).await.unwrap();
    let ev = |id: i64| Event {
        id,
        kind: "test.event".into(),
        data: serde_json::json!({}),
        created_at: String::new(),
        tenant_id: Some(tenant.as_str().to_string()),
    };
    // 11 is published before 10 (two commits answered at once), then 11 again.
    for id in [1_000_011, 1_000_010, 1_000_011, 1_000_012] {
        app.events.publish(ev(id));
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(feed.next().await.unwrap().id);
    }
    assert_eq!(got, vec![1_000_011, 1_000_010, 1_000_012]);
}
