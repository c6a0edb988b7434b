//! Outgoing connections against real peers (SPEC §12.2): SMTP relays over STARTTLS and TLS
//! with AUTH, the mail queue, HTTPS collectors, syslog over TLS and paced UDP, every certificate
//! verified against the system's CAs and `LABGATE_CA_FILE`.

use std::net::{TcpListener, UdpSocket};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::lab::{run, sink};
use crate::peers::*;
use labgate::mail::Relay;
use labgate::tls::Trust;

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn forgot(app: &TestApp, email: &str) {
    let res = app
        .post_json("/api/auth/forgot-password", json!({"email": email}))
        .await;
    assert_eq!(res.status(), 202);
}

async fn wait_audit(app: &TestApp, action: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let a = app.audit(action);
        if a.len() >= n {
            return a;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no {n} {action} records: {:?}", app.audit(action));
}

/// The messages in the queue, as stored.
fn queue(app: &TestApp) -> Vec<Value> {
    std::fs::read_dir(app.state.config.mail_dir.join("queue"))
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "json").then_some(())?;
            serde_json::from_slice(&std::fs::read(p).ok()?).ok()
        })
        .collect()
}

/// Waits until `n` messages are queued and their first attempt is over.
async fn wait_queued(app: &TestApp, n: usize) {
    for _ in 0..200 {
        let q = queue(app);
        if q.len() >= n && q.iter().all(|m| m["attempts"].as_u64() >= Some(1)) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{n} messages were not queued");
}

fn received(peer: SmtpPeer) -> Received {
    peer.next().expect("a message at the relay")
}

#[tokio::test]
async fn mail_goes_over_starttls_with_auth_and_carries_every_header() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let peer = SmtpPeer::start(SmtpMode::StartTls, Some(&ca), Some(("ops", "s3cret pass")));
    let (port, ca_file) = (peer.port, ca.ca_file.clone());
    let app = spawn_with(move |c| {
        c.smtp = Some(
            Relay::parse(&format!(
                "smtp://ops:s3cret%20pass@localhost:{port}?tls=required"
            ))
            .unwrap(),
        );
        c.trust = Trust::load(Some(&ca_file)).unwrap();
        c.mail_from = "lab-ops@lab.example".into();
    })
    .await;
    app.user_with_role("tls@lab.example", "viewer", "default");
    forgot(&app, "tls@lab.example").await;
    let m = tokio::task::spawn_blocking(move || received(peer))
        .await
        .unwrap();
    assert!(m.tls, "the message crossed TLS");
    assert_eq!(m.user.as_deref(), Some("ops"), "AUTH was used");
    assert_eq!(m.from, "lab-ops@lab.example");
    assert_eq!(m.to, ["tls@lab.example"]);
    for h in [
        "From: labgate <lab-ops@lab.example>\r\n",
        "To: tls@lab.example\r\n",
        "Subject: labgate password reset\r\n",
        "Date: ",
        "Message-ID: <",
        "MIME-Version: 1.0\r\n",
        "Content-Type: text/plain; charset=utf-8\r\n",
    ] {
        assert!(m.data.contains(h), "{h:?} in {}", m.data);
    }
    assert!(
        m.data.contains("@lab.example>\r\n"),
        "Message-ID at the sender's domain"
    );
    assert!(m.data.contains("/reset-password#token=lgx_"));
    let rec = &wait_audit(&app, "mail.send", 1).await[0];
    assert_eq!(rec["outcome"], "success");
    assert_eq!(rec["details"]["via"], "smtp");
    assert!(!rec.to_string().contains("s3cret"), "{rec}");
}

#[tokio::test]
async fn smtps_delivers_with_tls_from_the_first_byte() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let peer = SmtpPeer::start(SmtpMode::Wrapper, Some(&ca), Some(("ops", "pw")));
    let (port, ca_file) = (peer.port, ca.ca_file.clone());
    let app = spawn_with(move |c| {
        c.smtp = Some(Relay::parse(&format!("smtps://ops:pw@127.0.0.1:{port}")).unwrap());
        c.trust = Trust::load(Some(&ca_file)).unwrap();
    })
    .await;
    app.user_with_role("wrap@lab.example", "viewer", "default");
    forgot(&app, "wrap@lab.example").await;
    let m = tokio::task::spawn_blocking(move || received(peer))
        .await
        .unwrap();
    assert!(m.tls && m.user.as_deref() == Some("ops"), "{m:?}");
    // The default sender when the public URL names an address, not a domain.
    assert_eq!(m.from, "labgate@localhost");
}

#[tokio::test]
async fn a_relay_without_starttls_or_with_an_untrusted_certificate_gets_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    // tls=required, but the relay does not offer STARTTLS.
    let plain = SmtpPeer::start(SmtpMode::Plain, None, None);
    let port = plain.port;
    let app = spawn_with(move |c| {
        c.smtp = Some(Relay::parse(&format!("smtp://localhost:{port}?tls=required")).unwrap())
    })
    .await;
    app.user_with_role("nostls@lab.example", "viewer", "default");
    forgot(&app, "nostls@lab.example").await;
    wait_queued(&app, 1).await;
    assert!(plain.rx.try_recv().is_err(), "nothing sent in the clear");

    // STARTTLS offered, but by a certificate of a CA this server does not trust.
    let tls = SmtpPeer::start(SmtpMode::StartTls, Some(&ca), None);
    let port = tls.port;
    let app = spawn_with(move |c| {
        c.smtp = Some(Relay::parse(&format!("smtp://localhost:{port}?tls=required")).unwrap())
    })
    .await;
    app.user_with_role("untrusted@lab.example", "viewer", "default");
    forgot(&app, "untrusted@lab.example").await;
    wait_queued(&app, 1).await;
    assert!(
        tls.rx.try_recv().is_err(),
        "nothing sent to an untrusted relay"
    );
    let q = std::fs::read_dir(app.state.config.mail_dir.join("queue"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let entry: Value = serde_json::from_slice(&std::fs::read(q).unwrap()).unwrap();
    assert!(
        entry["last_error"].as_str().unwrap().contains("TLS"),
        "{entry}"
    );
}

#[test]
fn smtp_auth_over_plain_smtp_stops_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = labgate_command()
        .current_dir(dir.path())
        .env("LABGATE_SMTP_URL", "smtp://ops:hunter2-secret@relay.lab:25")
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LABGATE_SMTP_URL"), "{err}");
    assert!(err.contains("never sent in the clear"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is not repeated: {err}"
    );
    // A CA file that holds no certificate stops the start too, naming its variable.
    std::fs::write(dir.path().join("empty.pem"), "not a certificate\n").unwrap();
    let out = labgate_command()
        .current_dir(dir.path())
        .env("LABGATE_CA_FILE", dir.path().join("empty.pem"))
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("LABGATE_CA_FILE"), "{err}");
    // Nor does PEM whose contents are no certificate (the system's CAs do not hide it).
    std::fs::write(
        dir.path().join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let out = labgate_command()
        .current_dir(dir.path())
        .env("LABGATE_CA_FILE", dir.path().join("bad.pem"))
        .arg("check")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("LABGATE_CA_FILE") && err.contains("trust anchor"),
        "{err}"
    );
}

#[tokio::test]
async fn a_relay_refusing_the_login_keeps_the_message_queued() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let peer = SmtpPeer::start(
        SmtpMode::StartTls,
        Some(&ca),
        Some(("ops", "the new password")),
    );
    let (port, ca_file) = (peer.port, ca.ca_file.clone());
    let app = spawn_with(move |c| {
        c.smtp = Some(
            Relay::parse(&format!(
                "smtp://ops:the%20old%20password@localhost:{port}?tls=required"
            ))
            .unwrap(),
        );
        c.trust = Trust::load(Some(&ca_file)).unwrap();
    })
    .await;
    app.user_with_role("rotated@lab.example", "viewer", "default");
    forgot(&app, "rotated@lab.example").await;
    // A 535 is the relay's settings, fixed while the message waits: not a final refusal.
    for _ in 0..200 {
        let q = app.state.config.mail_dir.join("queue");
        let attempted = std::fs::read_dir(&q).into_iter().flatten().any(|e| {
            std::fs::read(e.unwrap().path())
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["attempts"] == 1)
        });
        if attempted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let q = std::fs::read_dir(app.state.config.mail_dir.join("queue"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let entry: Value = serde_json::from_slice(&std::fs::read(q).unwrap()).unwrap();
    assert_eq!(entry["attempts"], 1, "{entry}");
    assert!(
        entry["last_error"].as_str().unwrap().contains("535"),
        "{entry}"
    );
    assert!(app.audit("mail.send").is_empty(), "no final outcome");
    assert!(peer.rx.try_recv().is_err());
}

#[tokio::test]
async fn mail_waits_in_the_queue_while_the_relay_is_down_and_is_delivered_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let port = closed_port();
    let ca_file = ca.ca_file.clone();
    let (app, clock) = spawn_with_clock(move |c| {
        c.smtp = Some(Relay::parse(&format!("smtp://localhost:{port}?tls=required")).unwrap());
        c.trust = Trust::load(Some(&ca_file)).unwrap();
    })
    .await;
    let admin = app.admin().await;
    let res = app
        .send_json(
            Method::POST,
            "/api/admin/invitations",
            &admin.jwt,
            json!({"email": "late@lab.example", "roles": ["viewer"]}),
        )
        .await;
    assert_eq!(
        res.status(),
        201,
        "the invitation exists whatever the relay does"
    );
    wait_queued(&app, 1).await;
    assert!(app.audit("mail.send").is_empty(), "no final outcome yet");
    let queue = app.state.config.mail_dir.join("queue");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&queue).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // The relay comes back on the same port; the message waits out its backoff first.
    let peer = SmtpPeer::on(
        TcpListener::bind(("127.0.0.1", port)).unwrap(),
        SmtpMode::StartTls,
        Some(&ca),
        None,
    );
    let a = app.state.app.clone();
    tokio::task::spawn_blocking(move || a.retry_mail())
        .await
        .unwrap();
    assert_eq!(app.state.app.mailer.queued(), 1, "not due yet");
    clock.advance(Duration::from_secs(61));
    let a = app.state.app.clone();
    tokio::task::spawn_blocking(move || a.retry_mail())
        .await
        .unwrap();
    let m = tokio::task::spawn_blocking(move || received(peer))
        .await
        .unwrap();
    assert!(m.data.contains("/invite#token=lgx_"), "{}", m.data);
    assert_eq!(app.state.app.mailer.queued(), 0);
    let rec = &wait_audit(&app, "mail.send", 1).await[0];
    assert_eq!(rec["outcome"], "success", "{rec}");
    assert_eq!(rec["details"]["attempts"], 2);
    assert_eq!(rec["details"]["kind"], "invitation");
}

#[tokio::test]
async fn mail_not_delivered_in_24_hours_moves_to_failed_and_is_audited() {
    let port = closed_port();
    let (app, clock) = spawn_with_clock(move |c| {
        c.smtp = Some(Relay::parse(&format!("smtp://127.0.0.1:{port}")).unwrap())
    })
    .await;
    let start = labgate::domain::clock::Clock::now(&*clock);
    app.user_with_role("never@lab.example", "viewer", "default");
    forgot(&app, "never@lab.example").await;
    wait_queued(&app, 1).await;
    let mut tried = 1;
    for hours in [1, 5, 12, 25] {
        clock.set(start + chrono::Duration::hours(hours));
        let a = app.state.app.clone();
        tokio::task::spawn_blocking(move || a.retry_mail())
            .await
            .unwrap();
        if hours < 24 {
            assert_eq!(
                app.state.app.mailer.queued(),
                1,
                "still queued after {hours} h"
            );
            assert!(app.audit("mail.send").is_empty());
            tried += 1;
            assert_eq!(
                queue(&app)[0]["attempts"],
                tried,
                "tried again after {hours} h"
            );
        }
    }
    assert_eq!(app.state.app.mailer.queued(), 0);
    let failed: Vec<_> = std::fs::read_dir(app.state.config.mail_dir.join("failed"))
        .unwrap()
        .collect();
    assert_eq!(failed.len(), 1, "kept in failed/");
    let rec = &wait_audit(&app, "mail.send", 1).await[0];
    assert_eq!(rec["outcome"], "failure");
    let error = rec["details"]["error"].as_str().unwrap();
    assert!(error.contains("24 hours"), "{rec}");
    assert!(!error.contains("os error"), "{rec}");
    assert!(!rec.to_string().contains("lgx_"), "no token in the record");
}

#[tokio::test]
async fn https_sinks_verify_the_collector_against_the_lab_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let ca_file = ca.ca_file.clone();
    let app = spawn_with(move |c| c.trust = Trust::load(Some(&ca_file)).unwrap()).await;
    let admin = app.admin().await;
    let (port, h) = collector(Some(&ca), vec![(200, ""), (202, "")]);
    sink(&app, &admin.jwt, json!({"name": "hec", "kind": "http", "url": format!("https://localhost:{port}/services/collector"), "batch_size": 10})).await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "web-access", "count": 15, "sink": "hec"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["events_sent"], 15);
    let sizes: Vec<usize> = h
        .join()
        .unwrap()
        .iter()
        .map(|b| b.as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [10, 5]);

    // The same collector's certificate, to a server that does not trust the lab CA.
    let plain = spawn_app().await;
    let admin = plain.admin().await;
    let (port, h) = collector(Some(&ca), vec![(200, "")]);
    sink(
        &plain,
        &admin.jwt,
        json!({"name": "hec", "kind": "http", "url": format!("https://localhost:{port}/")}),
    )
    .await;
    let r = run(
        &plain,
        &admin.jwt,
        json!({"profile": "web-access", "count": 3, "sink": "hec"}),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["events_sent"], 0);
    assert!(r["error"].as_str().unwrap().contains("not trusted"), "{r}");
    drop(h);
}

#[tokio::test]
async fn http_sinks_retry_5xx_and_honour_retry_after() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    // A 429 asking for three seconds (the backoff would wait half a second), then a 503, then
    // the delivery.
    let (port, h) = collector(None, vec![(429, "Retry-After: 3"), (503, ""), (200, "")]);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "busy", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let t = Instant::now();
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 4, "sink": "busy"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["events_sent"], 4);
    assert!(
        t.elapsed() >= Duration::from_secs(1),
        "Retry-After waited for"
    );
    assert_eq!(h.join().unwrap().len(), 3, "the same batch three times");

    // Four 500s: the first try and three retries, then the run fails.
    let (port, h) = collector(None, vec![(500, ""); 4]);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "down", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 4, "sink": "down"}),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(r["events_sent"], 0, "only acknowledged events count");
    assert!(r["error"].as_str().unwrap().contains("500"), "{r}");
    assert_eq!(h.join().unwrap().len(), 4);

    // A 400 is not retried.
    let (port, h) = collector(None, vec![(400, "")]);
    sink(
        &app,
        &admin.jwt,
        json!({"name": "bad", "kind": "http", "url": format!("http://127.0.0.1:{port}/")}),
    )
    .await;
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "dns", "count": 4, "sink": "bad"}),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert_eq!(h.join().unwrap().len(), 1);
}

#[tokio::test]
async fn syslog_over_tls_is_octet_counted_rfc5424() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let ca_file = ca.ca_file.clone();
    let app = spawn_with(move |c| c.trust = Trust::load(Some(&ca_file)).unwrap()).await;
    let admin = app.admin().await;
    let peer = SyslogPeer::start(Some(&ca));
    let s = sink(&app, &admin.jwt, json!({"name": "siem", "kind": "syslog", "host": "localhost", "port": peer.port, "protocol": "tls"})).await;
    assert_eq!(s["protocol"], "tls", "{s}");
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "auth", "count": 30, "sink": "siem"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    let frames = tokio::task::spawn_blocking(move || peer.wait(30))
        .await
        .unwrap();
    assert_eq!(frames.len(), 30);
    for f in &frames {
        // <PRI>1 TIMESTAMP HOST APP ...
        assert!(f.starts_with('<') && f.contains(">1 "), "{f}");
    }

    // Without the lab CA, the receiver's certificate is refused before anything is sent.
    let plain = spawn_app().await;
    let admin = plain.admin().await;
    let peer = SyslogPeer::start(Some(&ca));
    sink(&plain, &admin.jwt, json!({"name": "siem", "kind": "syslog", "host": "localhost", "port": peer.port, "protocol": "tls"})).await;
    let r = run(
        &plain,
        &admin.jwt,
        json!({"profile": "auth", "count": 5, "sink": "siem"}),
    )
    .await;
    assert_eq!(r["status"], "failed", "{r}");
    assert!(r["error"].as_str().unwrap().contains("not trusted"), "{r}");
    assert!(peer.frames.lock().unwrap().is_empty());

    // The default ports and paces, as stored.
    let s = sink(
        &plain,
        &admin.jwt,
        json!({"name": "d1", "kind": "syslog", "host": "localhost", "protocol": "tls"}),
    )
    .await;
    assert_eq!(
        (s["port"].as_u64(), s["max_rate"].as_u64()),
        (Some(6514), None),
        "{s}"
    );
    let s = sink(
        &plain,
        &admin.jwt,
        json!({"name": "d2", "kind": "syslog", "host": "localhost"}),
    )
    .await;
    assert_eq!(
        (s["port"].as_u64(), s["max_rate"].as_u64()),
        (Some(514), Some(10_000)),
        "{s}"
    );
    let res = plain
        .send_json(
            Method::POST,
            "/api/noise/sinks",
            &admin.jwt,
            json!({"name": "d3", "kind": "syslog", "host": "localhost", "max_rate": 0}),
        )
        .await;
    let body = assert_error(res, 400, "VALIDATION_ERROR").await;
    assert_eq!(body["details"][0]["field"], "max_rate", "{body}");
}

/// A UDP receiver with a small socket buffer (64 KiB) that reads as fast as it can until
/// `quiet` passes without a datagram; returns how many arrived.
fn udp_receiver() -> (u16, std::thread::JoinHandle<usize>) {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket2::SockRef::from(&s)
        .set_recv_buffer_size(64 * 1024)
        .unwrap();
    let port = s.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 65536];
        let mut n = 0;
        while s.recv(&mut buf).is_ok() {
            n += 1;
            // The reader does a little work a datagram, as a receiver parsing them would.
            std::hint::black_box(buf.iter().take(256).map(|b| *b as u32).sum::<u32>());
            if n == 1 {
                s.set_read_timeout(Some(Duration::from_millis(500)))
                    .unwrap();
            }
        }
        n
    });
    (port, h)
}

#[tokio::test]
async fn udp_sinks_are_paced_so_a_small_receiver_keeps_up() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let (port, h) = udp_receiver();
    let s = sink(
        &app,
        &admin.jwt,
        json!({"name": "udp", "kind": "syslog", "host": "127.0.0.1", "port": port}),
    )
    .await;
    assert_eq!(s["max_rate"], 10_000);
    let count = 15_000;
    let t = Instant::now();
    let r = run(
        &app,
        &admin.jwt,
        json!({"profile": "firewall", "count": count, "sink": "udp"}),
    )
    .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["events_sent"], count, "datagrams sent");
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "paced at 10,000 a second"
    );
    let got = h.join().unwrap();
    assert!(
        got as f64 >= count as f64 * 0.95,
        "{got} of {count} arrived (at most 5% may be lost)"
    );
}

/// The record a forwarded RFC 5424 frame carries, with its header's app-name and msgid.
fn forwarded(frame: &str) -> (String, String, Value) {
    let parts: Vec<&str> = frame.splitn(8, ' ').collect();
    assert!(
        parts[0].starts_with('<') && parts[0].ends_with(">1"),
        "{frame}"
    );
    assert_eq!(parts[6], "-", "no structured data: {frame}");
    (
        parts[3].to_string(),
        parts[5].to_string(),
        serde_json::from_str(parts[7]).unwrap(),
    )
}

#[tokio::test]
async fn audit_records_reach_the_siem_in_order_and_those_missed_arrive_when_it_is_back() {
    use labgate::app::forward::{Forwarder, Target};
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new(dir.path());
    let port = closed_port();
    let url = format!("tls://localhost:{port}");
    let (ca_file, u) = (ca.ca_file.clone(), url.clone());
    let app = spawn_with(move |c| {
        c.trust = Trust::load(Some(&ca_file)).unwrap();
        c.audit_forward = Some(Target::parse(&u).unwrap());
    })
    .await;
    app.admin().await;
    // Five records while the receiver is down.
    for _ in 0..5 {
        app.login_raw("ops@lab.example", "wrong password").await;
    }
    let total = app.db(|db| labgate::store::audit::all_records(db).unwrap().len());
    let mut fwd = Forwarder::new(Target::parse(&url).unwrap());
    let a = app.state.app.clone();
    let (mut fwd, r) = tokio::task::spawn_blocking(move || {
        let r = fwd.pass(&a);
        (fwd, r)
    })
    .await
    .unwrap();
    assert!(r.is_err(), "the receiver is down");

    let peer = SyslogPeer::on(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(&ca));
    let a = app.state.app.clone();
    let (mut fwd, r) = tokio::task::spawn_blocking(move || {
        let r = fwd.pass(&a);
        (fwd, r)
    })
    .await
    .unwrap();
    assert!(r.unwrap() >= total, "every record so far");
    // Records written after the first pass go with the next one, once (a refusal's record may
    // be written a moment after its answer: passes run until there is nothing left).
    app.login_raw("ops@lab.example", "wrong again").await;
    let a = app.state.app.clone();
    let more = tokio::task::spawn_blocking(move || {
        let mut more = 0;
        loop {
            match fwd.pass(&a).unwrap() {
                0 => return more,
                n => more += n,
            }
        }
    })
    .await
    .unwrap();
    assert!(more >= 1, "the later record went with a later pass");
    let stored = app.db(|db| labgate::store::audit::all_records(db).unwrap());
    let frames = tokio::task::spawn_blocking({
        let n = stored.len();
        move || peer.wait(n)
    })
    .await
    .unwrap();
    assert_eq!(
        frames.len(),
        stored.len(),
        "each record once: {frames:#?} {:#?}",
        stored
            .iter()
            .map(|(s, r)| (s, &r.action))
            .collect::<Vec<_>>()
    );
    for (frame, (seq, rec)) in frames.iter().zip(&stored) {
        let (app_name, msgid, body) = forwarded(frame);
        assert_eq!(app_name, "labgate");
        assert_eq!(msgid, rec.action, "{frame}");
        assert_eq!(body["id"], rec.id.as_str(), "in the chain's order");
        assert_eq!(body["seq"], *seq);
        let severity = if rec.outcome == "success" {
            "<110>"
        } else {
            "<109>"
        };
        assert!(frame.starts_with(severity), "{frame}");
    }
    assert!(
        stored
            .iter()
            .filter(|(_, r)| r.outcome != "success")
            .count()
            >= 5,
        "the failed sign-ins are among them"
    );
}

#[tokio::test]
async fn a_receiver_that_restarts_gets_the_last_batch_again() {
    use labgate::app::forward::{Forwarder, Target};
    let peer = SyslogPeer::start(None);
    let url = format!("tcp://127.0.0.1:{}", peer.port);
    let app = spawn_app().await;
    app.admin().await;
    async fn pass(app: &TestApp, mut fwd: Forwarder) -> (Forwarder, Result<usize, String>) {
        let a = app.state.app.clone();
        tokio::task::spawn_blocking(move || {
            let r = fwd.pass(&a);
            (fwd, r)
        })
        .await
        .unwrap()
    }
    let position = |app: &TestApp| app.db(|db| labgate::store::audit::forwarded(db, &url).unwrap());
    let (fwd, r) = pass(&app, Forwarder::new(Target::parse(&url).unwrap())).await;
    let first = r.unwrap();
    assert!(first >= 2);
    assert_eq!(
        position(&app),
        0,
        "written is not delivered until the connection holds"
    );
    // The receiver restarts (after reading the batch, so the count below is exact; one that
    // had not read it would have lost it, which is why it is sent again).
    let peer = tokio::task::spawn_blocking(move || {
        assert_eq!(peer.wait(first).len(), first);
        peer
    })
    .await
    .unwrap();
    peer.hang_up();
    let (fwd, r) = pass(&app, fwd).await;
    assert_eq!(r.unwrap(), first, "sent again on a new connection");
    let (_fwd, r) = pass(&app, fwd).await;
    assert_eq!(r.unwrap(), 0);
    assert_eq!(
        position(&app),
        first as i64,
        "confirmed once the new connection held"
    );
    let frames = tokio::task::spawn_blocking(move || peer.wait(2 * first))
        .await
        .unwrap();
    assert_eq!(
        frames.len(),
        2 * first,
        "at least once: twice here, never lost"
    );
}
