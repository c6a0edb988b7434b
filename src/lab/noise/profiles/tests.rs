//! The generator's promises: determinism, realism, bounds.

use super::*;
use chrono::TimeZone;
use std::collections::HashSet;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 20, 30, 45)
        .single()
        .expect("valid time")
}

const SPAN: Duration = Duration::from_secs(3_600);

fn run(profile: &str, seed: u64, count: u64) -> Vec<Event> {
    generator(profile, seed, count, start(), SPAN)
        .expect("known profile")
        .collect()
}

fn names() -> impl Iterator<Item = &'static str> {
    PROFILES.iter().map(|p| p.name)
}

#[test]
fn catalogue() {
    for name in ["web-access", "auth", "dns", "windows-security", "firewall"] {
        assert!(exists(name), "{name}");
    }
    assert!(!exists("nope"));
    assert!(!exists(""));
    assert!(generator("nope", 1, 10, start(), SPAN).is_none());
    for p in PROFILES {
        assert!(!p.description.is_empty());
    }
}

#[test]
fn exact_counts() {
    for name in names() {
        for count in [0u64, 1, 7, 5_000] {
            let g = generator(name, 9, count, start(), SPAN).expect("known");
            assert_eq!(g.remaining(), count);
            assert_eq!(g.size_hint(), (count as usize, Some(count as usize)));
            let events: Vec<Event> = g.collect();
            assert_eq!(events.len() as u64, count, "{name} {count}");
            assert!(events.iter().all(|e| e.profile == name));
        }
    }
}

#[test]
fn same_seed_same_events_other_seed_different() {
    for name in names() {
        let a = run(name, 42, 3_000);
        let b = run(name, 42, 3_000);
        assert_eq!(a, b, "{name}");
        let c = run(name, 43, 3_000);
        let differing = a
            .iter()
            .zip(&c)
            .filter(|(x, y)| x.message != y.message)
            .count();
        assert!(differing > 2_000, "{name}: only {differing} differ");
        // A different count changes timestamps, not the content.
        let d = run(name, 42, 1_000);
        for (x, y) in a.iter().zip(&d) {
            assert_eq!(
                (&x.host, x.app, x.severity, &x.fields),
                (&y.host, y.app, y.severity, &y.fields),
                "{name}"
            );
            if name != "web-access" && name != "windows-security" {
                assert_eq!(x.message, y.message, "{name}");
            }
        }
    }
}

#[test]
fn timestamps_spread_over_span() {
    let end = start() + TimeDelta::seconds(3_600);
    for name in names() {
        let events = run(name, 5, 10_000);
        assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        assert!(
            events
                .iter()
                .all(|e| e.timestamp >= start() && e.timestamp <= end)
        );
        // Evenly: the first and last tenth each hold about a tenth of the events.
        let tenth = start() + TimeDelta::seconds(360);
        let early = events.iter().filter(|e| e.timestamp < tenth).count();
        assert!((900..=1_100).contains(&early), "{early}");
    }
    // Time depends only on (i, count, start, span, seed), not on the profile.
    let times = |p: &str| -> Vec<_> { run(p, 5, 500).iter().map(|e| e.timestamp).collect() };
    assert_eq!(times("dns"), times("firewall"));
    assert_ne!(
        times("dns"),
        run("dns", 6, 500)
            .iter()
            .map(|e| e.timestamp)
            .collect::<Vec<_>>()
    );
}

#[test]
fn timestamp_edge_cases() {
    let one: Vec<Event> = generator("dns", 1, 1, start(), Duration::ZERO)
        .expect("known")
        .collect();
    assert_eq!(one[0].timestamp, start());
    let huge: Vec<Event> = generator("firewall", 1, 50, start(), Duration::MAX)
        .expect("known")
        .collect();
    assert_eq!(huge.len(), 50);
    assert!(huge.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    let late: Vec<Event> = generator(
        "auth",
        1,
        20,
        DateTime::<Utc>::MAX_UTC,
        Duration::from_secs(86_400),
    )
    .expect("known")
    .collect();
    assert!(late.iter().all(|e| e.timestamp == DateTime::<Utc>::MAX_UTC));
}

#[test]
fn huge_counts_and_spans_do_not_overflow() {
    for name in names() {
        let g = generator(name, 3, u64::MAX, start(), Duration::MAX).expect("known");
        assert_eq!(g.remaining(), u64::MAX);
        let events: Vec<Event> = g.take(3_000).collect();
        assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
    }
}

fn is_lab_or_doc(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_multicast()
        || (a, b, c) == (192, 0, 2)
        || (a, b, c) == (198, 51, 100)
        || (a, b, c) == (203, 0, 113)
}

#[test]
fn addresses_are_private_or_documentation() {
    for name in names() {
        for e in run(name, 77, 5_000) {
            let map = e.fields_map();
            for key in ["src_ip", "dst_ip"] {
                if let Some(v) = map.get(key) {
                    let ip: Ipv4Addr = v.as_str().and_then(|s| s.parse().ok()).expect("ipv4");
                    assert!(is_lab_or_doc(ip), "{name} {key} {ip}");
                }
            }
            if let Some(port) = map.get("src_port").and_then(|v| v.as_u64()) {
                assert!(port <= 65_535);
            }
        }
    }
}

/// Combined Log Format, parsed strictly by hand.
struct Clf<'a> {
    ip: &'a str,
    user: &'a str,
    time: &'a str,
    method: &'a str,
    path: &'a str,
    proto: &'a str,
    status: u16,
    bytes: u64,
    referrer: &'a str,
    ua: &'a str,
}

fn parse_clf(line: &str) -> Option<Clf<'_>> {
    let (ip, rest) = line.split_once(" - ")?;
    let (user, rest) = rest.split_once(" [")?;
    let (time, rest) = rest.split_once("] \"")?;
    let (request, rest) = rest.split_once("\" ")?;
    let mut req = request.split(' ');
    let (method, path, proto) = (req.next()?, req.next()?, req.next()?);
    if req.next().is_some() {
        return None;
    }
    let (status, rest) = rest.split_once(' ')?;
    let (bytes, rest) = rest.split_once(" \"")?;
    let (referrer, rest) = rest.split_once("\" \"")?;
    let ua = rest.strip_suffix('"')?;
    Some(Clf {
        ip,
        user,
        time,
        method,
        path,
        proto,
        status: status.parse().ok()?,
        bytes: bytes.parse().ok()?,
        referrer,
        ua,
    })
}

#[test]
fn web_access_is_combined_log_format() {
    let events = run("web-access", 11, 20_000);
    let mut statuses = std::collections::HashMap::<u16, usize>::new();
    for e in &events {
        let c = parse_clf(&e.message).unwrap_or_else(|| panic!("not CLF: {}", e.message));
        let Fields::Web(f) = &e.fields else {
            panic!("wrong fields")
        };
        assert_eq!(c.ip.parse::<Ipv4Addr>().ok(), Some(f.src_ip));
        assert!(is_lab_or_doc(f.src_ip));
        assert_eq!(c.user, f.user.unwrap_or("-"));
        let t = DateTime::parse_from_str(c.time, "%d/%b/%Y:%H:%M:%S %z").expect("clf time");
        assert_eq!(t.timestamp(), e.timestamp.timestamp());
        assert!(["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"].contains(&c.method));
        assert!(c.path.starts_with('/'));
        assert_eq!(c.path, f.path);
        assert!(c.proto == "HTTP/1.1" || c.proto == "HTTP/2.0");
        assert_eq!((c.status, c.bytes), (f.status, f.bytes));
        assert_eq!(c.referrer, f.referrer.unwrap_or("-"));
        assert_eq!(c.ua, f.user_agent);
        assert!(e.host.starts_with("web-0") && e.host.ends_with(".lab.internal"));
        assert_eq!(e.app, "nginx");
        *statuses.entry(c.status).or_default() += 1;
    }
    let n = events.len();
    let share = |s: u16| statuses.get(&s).copied().unwrap_or(0) as f64 / n as f64;
    assert!(share(200) > 0.6, "{statuses:?}");
    assert!(share(304) > 0.02 && share(404) > 0.005, "{statuses:?}");
    assert!(share(500) > 0.0 && share(500) < 0.01, "{statuses:?}");
    let uas: HashSet<&str> = events
        .iter()
        .filter_map(|e| match &e.fields {
            Fields::Web(f) => Some(f.user_agent),
            _ => None,
        })
        .collect();
    assert!(uas.len() >= 8);
}

#[test]
fn auth_has_the_classic_lines() {
    let events = run("auth", 3, 20_000);
    let has = |needle: &str| events.iter().any(|e| e.message.contains(needle));
    for needle in [
        "Accepted publickey for ",
        "Accepted password for ",
        "Failed password for invalid user ",
        "Invalid user ",
        "pam_unix(sshd:session): session opened for user ",
        "pam_unix(sshd:session): session closed for user ",
        "pam_unix(sshd:auth): authentication failure;",
        "New session ",
        "Removed session ",
        " : TTY=pts/",
        "pam_unix(sudo:session): session opened for user root(uid=0) by ",
        "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)",
        ") CMD (",
    ] {
        assert!(has(needle), "missing {needle:?}");
    }
    for e in &events {
        assert!(!e.message.contains('\n'));
        if let Some(rest) = e.message.strip_prefix("Accepted ") {
            // Accepted (password|publickey) for USER from IP port N ssh2[: KEY SHA256:..]
            let (method, rest) = rest.split_once(" for ").expect("for");
            assert!(method == "password" || method == "publickey");
            let (_user, rest) = rest.split_once(" from ").expect("from");
            let (ip, rest) = rest.split_once(" port ").expect("port");
            assert!(is_lab_or_doc(ip.parse().expect("ip")));
            let (port, tail) = rest.split_once(" ssh2").expect("ssh2");
            let port: u16 = port.parse().expect("port number");
            assert!(port >= 32_768);
            assert_eq!(method == "publickey", tail.contains(" SHA256:"), "{tail}");
            assert_eq!(e.app, "sshd");
        }
    }
    // Every opened sshd session on a host/pid is closed later, or still open at the end.
    let opened = events
        .iter()
        .filter(|e| {
            e.message
                .starts_with("pam_unix(sshd:session): session opened")
        })
        .count();
    let closed = events
        .iter()
        .filter(|e| {
            e.message
                .starts_with("pam_unix(sshd:session): session closed")
        })
        .count();
    assert!(
        closed <= opened && closed * 10 >= opened * 7,
        "{opened} {closed}"
    );
}

#[test]
fn dns_queries_and_answers() {
    let events = run("dns", 8, 20_000);
    let mut qtypes = HashSet::new();
    let mut answer_types = HashSet::new();
    let mut rcodes = HashSet::new();
    for e in &events {
        let Fields::Dns(f) = &e.fields else {
            panic!("wrong fields")
        };
        assert!(e.message.starts_with("client @0x7f"), "{}", e.message);
        let expect = format!("): query: {} IN {} {} (", f.qname, f.qtype, f.flags);
        assert!(e.message.contains(&expect), "{}", e.message);
        assert!(e.host.starts_with("ns") && e.app == "named");
        qtypes.insert(f.qtype);
        rcodes.insert(f.rcode);
        if f.rcode == "NXDOMAIN" {
            assert!(f.answers.is_empty());
        }
        if f.qtype == "PTR" {
            assert!(f.qname.ends_with(".in-addr.arpa"));
        }
        for a in &f.answers {
            answer_types.insert(a.rtype);
        }
    }
    for t in ["A", "AAAA", "MX", "TXT", "PTR", "SRV", "CNAME"] {
        assert!(qtypes.contains(t), "qtype {t}");
    }
    for t in ["A", "AAAA", "CNAME", "MX", "TXT", "PTR"] {
        assert!(answer_types.contains(t), "answer {t}");
    }
    assert!(rcodes.contains("NOERROR") && rcodes.contains("NXDOMAIN"));
}

#[test]
fn windows_security_is_json_with_the_usual_ids() {
    let events = run("windows-security", 21, 20_000);
    let mut ids = HashSet::new();
    let mut last_record = std::collections::HashMap::new();
    for e in &events {
        let v: serde_json::Value = serde_json::from_str(&e.message).expect("message is JSON");
        let id = v["EventID"].as_u64().expect("EventID");
        assert!([4624, 4625, 4688, 4634, 4672].contains(&id), "{id}");
        ids.insert(id);
        assert_eq!(v["Computer"].as_str(), Some(e.host.as_str()));
        assert_eq!(v["Channel"], "Security");
        assert_eq!(e.app, "Microsoft-Windows-Security-Auditing");
        let record = v["EventRecordID"].as_u64().expect("record id");
        if let Some(prev) = last_record.insert(e.host.clone(), record) {
            assert_eq!(record, prev + 1, "record ids per computer are consecutive");
        }
        match id {
            4624 => {
                assert!(v["LogonType"].as_u64().is_some());
                for k in [
                    "TargetUserName",
                    "TargetDomainName",
                    "IpAddress",
                    "TargetLogonId",
                ] {
                    assert!(v[k].is_string(), "{k}");
                }
            }
            4625 => {
                assert!(v["Status"].as_str().is_some_and(|s| s.starts_with("0xc")));
                assert!(v["SubStatus"].as_str().is_some_and(|s| s.starts_with("0x")));
                assert!(v["TargetUserName"].is_string() && v["IpAddress"].is_string());
                assert_eq!(v["Keywords"], "Audit Failure");
            }
            4688 => {
                for k in ["NewProcessName", "CommandLine", "ParentProcessName"] {
                    assert!(v[k].as_str().is_some_and(|s| !s.is_empty()), "{k}");
                }
            }
            4634 => assert!(v["TargetLogonId"].is_string()),
            _ => assert!(v["PrivilegeList"].is_string()),
        }
    }
    assert_eq!(ids.len(), 5, "{ids:?}");
    // Logoffs refer to logon ids issued earlier on the same computer.
    let mut issued = HashSet::new();
    for e in &events {
        let Fields::Windows(f) = &e.fields else {
            panic!("wrong fields")
        };
        match f.event_id {
            4624 => {
                issued.insert((f.computer, f.target.logon_id));
            }
            4634 => assert!(issued.contains(&(f.computer, f.target.logon_id))),
            _ => {}
        }
    }
}

#[test]
fn firewall_records() {
    let events = run("firewall", 4, 20_000);
    let mut actions = HashSet::new();
    for e in &events {
        let Fields::Firewall(f) = &e.fields else {
            panic!("wrong fields")
        };
        assert!(e.message.contains("action=allow") || e.message.contains("action=deny"));
        for part in ["rule=", " iface=", " proto=", " src=", " dst=", " bytes="] {
            assert!(e.message.contains(part), "{part} in {}", e.message);
        }
        assert!(
            e.message
                .contains(&format!("rule={} action={}", f.rule_id, f.action))
        );
        if f.proto == "icmp" {
            assert!(f.src_port.is_none() && f.dst_port.is_none());
        } else {
            assert!(f.src_port.is_some() && f.dst_port.is_some());
        }
        if f.action == "deny" {
            assert_eq!(f.packets, 1);
        }
        actions.insert(f.action);
    }
    assert_eq!(actions.len(), 2);
    let allows = events
        .iter()
        .filter(|e| matches!(&e.fields, Fields::Firewall(f) if f.action == "allow"))
        .count();
    assert!(allows * 10 > events.len() * 8, "mostly allows: {allows}");
}

#[test]
fn write_json_parses_with_fields() {
    let expected: [(&str, &[&str]); 5] = [
        (
            "web-access",
            &["src_ip", "method", "path", "status", "bytes", "user_agent"],
        ),
        ("auth", &["event", "outcome", "user", "pid"]),
        (
            "dns",
            &["src_ip", "dst_ip", "qname", "qtype", "rcode", "answers"],
        ),
        (
            "windows-security",
            &["event_id", "computer", "user", "domain"],
        ),
        (
            "firewall",
            &["action", "rule_id", "proto", "src_ip", "dst_ip", "bytes"],
        ),
    ];
    for (name, keys) in expected {
        let mut buf = Vec::new();
        for e in run(name, 13, 2_000) {
            buf.clear();
            e.write_json(&mut buf);
            assert!(!buf.contains(&b'\n'));
            let v: serde_json::Value = serde_json::from_slice(&buf).expect("valid JSON");
            let ts = v["timestamp"].as_str().expect("timestamp");
            assert_eq!(ts.len(), 24);
            let parsed = DateTime::parse_from_rfc3339(ts).expect("rfc3339");
            assert_eq!(parsed.timestamp_millis(), e.timestamp.timestamp_millis());
            assert_eq!(v["profile"], name);
            assert_eq!(v["host"], e.host.as_str());
            assert_eq!(v["app"], e.app);
            assert_eq!(v["severity"].as_u64(), Some(u64::from(e.severity)));
            assert_eq!(v["message"], e.message.as_str());
            let fields = v["fields"].as_object().expect("fields object");
            for k in keys {
                assert!(fields.contains_key(*k), "{name}: {k}");
            }
            assert_eq!(fields, &e.fields_map());
            assert_eq!(e.to_json().as_bytes(), buf.as_slice());
        }
    }
}

#[test]
#[ignore = "throughput measurement; run with --release -- --ignored --nocapture"]
fn throughput() {
    use std::time::Instant;
    const N: u64 = 1_000_000;
    for name in names() {
        let t0 = Instant::now();
        let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut total = 0usize;
        for e in generator(name, 1, N, start(), SPAN).expect("known") {
            e.write_json(&mut buf);
            buf.push(b'\n');
            // Like a buffered file sink: flush every ~1 MiB.
            if buf.len() >= 1 << 20 {
                total += buf.len();
                buf.clear();
            }
        }
        total += buf.len();
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{name:>17}: {:>9.0} events/s, {:>6.1} MB/s, {:.0} bytes/event",
            N as f64 / secs,
            total as f64 / secs / 1e6,
            total as f64 / N as f64
        );
    }
}
