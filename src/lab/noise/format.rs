//! Syslog framing for noise events: RFC 5424 and RFC 3164 lines, and RFC 6587 octet counting
//! for TCP transport. One event is always one line: CR and LF in messages become spaces.

use super::{Buf, Event, put_rfc3164_ts, put_rfc3339_ms, put_u64};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SyslogFormat {
    Rfc5424,
    Rfc3164,
}

/// The facility a real deployment of each app logs under, so that relays filtering on
/// facility (auth vs. daemon vs. local*) treat the noise like the real thing; anything else
/// uses local0 (16).
pub fn facility(app: &str) -> u8 {
    match app {
        "sshd" | "systemd-logind" => 4, // auth
        "sudo" => 10,                   // authpriv
        "CRON" => 9,                    // cron
        "named" => 3,                   // daemon
        "nginx" => 23,                  // local7, nginx's default syslog facility
        _ => 16,                        // local0
    }
}

/// PRI = facility * 8 + severity (severity clamped to 0..=7).
pub fn pri(ev: &Event) -> u8 {
    facility(ev.app) * 8 + ev.severity.min(7)
}

/// The syslog message for an event.
/// RFC 5424: `<PRI>1 2026-01-01T20:30:45.123Z host app - - - message`
/// RFC 3164: `<PRI>Jan  1 20:30:45 host app: message`
pub fn syslog_line(ev: &Event, format: SyslogFormat) -> String {
    let mut s = String::with_capacity(ev.message.len() + ev.host.len() + 64);
    write_line(&mut s, ev, format);
    s
}

/// [`syslog_line`] appended to a byte buffer, for sinks that batch writes.
pub fn write_syslog(ev: &Event, format: SyslogFormat, out: &mut Vec<u8>) {
    write_line(out, ev, format);
}

/// RFC 6587 octet counting for TCP: `<len> <msg>` where len is the byte length of msg.
pub fn octet_counted(msg: &str) -> String {
    let mut s = String::with_capacity(msg.len() + 8);
    put_u64(&mut s, msg.len() as u64);
    s.push(' ');
    s.push_str(msg);
    s
}

/// [`octet_counted`] appended to a byte buffer.
pub fn write_octet_counted(msg: &[u8], out: &mut Vec<u8>) {
    put_u64(out, msg.len() as u64);
    out.push(b' ');
    out.extend_from_slice(msg);
}

fn write_line<B: Buf>(out: &mut B, ev: &Event, format: SyslogFormat) {
    out.put_byte(b'<');
    put_u64(out, u64::from(pri(ev)));
    out.put_byte(b'>');
    match format {
        SyslogFormat::Rfc5424 => {
            out.put("1 ");
            put_rfc3339_ms(out, &ev.timestamp);
            out.put_byte(b' ');
            put_token(out, &ev.host, 255);
            out.put_byte(b' ');
            put_token(out, ev.app, 48);
            out.put(" - - - ");
        }
        SyslogFormat::Rfc3164 => {
            put_rfc3164_ts(out, &ev.timestamp);
            out.put_byte(b' ');
            put_token(out, &ev.host, 255);
            out.put_byte(b' ');
            // RFC 3164 asks for a TAG of at most 32 characters, but receivers take longer
            // ones and cutting "Microsoft-Windows-Security-Auditing" would garble it; the
            // RFC 5424 APP-NAME limit of 48 applies instead.
            put_token(out, ev.app, 48);
            out.put(": ");
        }
    }
    put_single_line(out, &ev.message);
}

/// HOSTNAME and APP-NAME must be printable US-ASCII without spaces (RFC 5424 PRINTUSASCII);
/// anything else becomes '_', overlong values are cut, empty ones become the NILVALUE.
fn put_token<B: Buf>(out: &mut B, value: &str, max: usize) {
    if value.is_empty() {
        out.put_byte(b'-');
        return;
    }
    for c in value.chars().take(max) {
        if c.is_ascii_graphic() {
            out.put_byte(c as u8);
        } else {
            out.put_byte(b'_');
        }
    }
}

fn put_single_line<B: Buf>(out: &mut B, msg: &str) {
    let mut start = 0;
    for (i, b) in msg.bytes().enumerate() {
        if b == b'\r' || b == b'\n' {
            if let Some(run) = msg.get(start..i) {
                out.put(run);
            }
            out.put_byte(b' ');
            start = i + 1;
        }
    }
    if let Some(run) = msg.get(start..) {
        out.put(run);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Fields, FwFields};
    use super::*;
    use chrono::{TimeZone, Utc};
    use std::net::Ipv4Addr;

    fn event(app: &'static str, severity: u8, host: &str, message: &str, day: u32) -> Event {
        let timestamp = Utc
            .with_ymd_and_hms(2026, 1, day, 20, 30, 45)
            .single()
            .expect("valid")
            + chrono::TimeDelta::milliseconds(123);
        Event {
            timestamp,
            profile: "firewall",
            host: host.to_owned(),
            app,
            severity,
            message: message.to_owned(),
            fields: Fields::Firewall(FwFields {
                action: "deny",
                rule_id: 900,
                rule_label: "block NetBIOS broadcast",
                direction: "in",
                interface: "em1",
                proto: "udp",
                src_ip: Ipv4Addr::new(10, 20, 1, 31),
                src_port: Some(137),
                dst_ip: Ipv4Addr::new(10, 20, 1, 255),
                dst_port: Some(137),
                bytes: 92,
                packets: 1,
                duration_ms: 0,
            }),
        }
    }

    #[test]
    fn rfc5424_shape() {
        let ev = event("pf", 4, "fw-01.lab.internal", "rule=900 action=deny", 1);
        assert_eq!(
            syslog_line(&ev, SyslogFormat::Rfc5424),
            "<132>1 2026-01-01T20:30:45.123Z fw-01.lab.internal pf - - - rule=900 action=deny"
        );
        let ev = event(
            "sshd",
            6,
            "bastion-01.lab.internal",
            "Accepted publickey",
            1,
        );
        assert_eq!(
            syslog_line(&ev, SyslogFormat::Rfc5424),
            "<38>1 2026-01-01T20:30:45.123Z bastion-01.lab.internal sshd - - - Accepted publickey"
        );
    }

    #[test]
    fn rfc3164_shape() {
        let ev = event("pf", 4, "fw-01.lab.internal", "rule=900 action=deny", 1);
        assert_eq!(
            syslog_line(&ev, SyslogFormat::Rfc3164),
            "<132>Jan  1 20:30:45 fw-01.lab.internal pf: rule=900 action=deny"
        );
        let ev = event("nginx", 6, "web-02.lab.internal", "GET /", 21);
        assert_eq!(
            syslog_line(&ev, SyslogFormat::Rfc3164),
            "<190>Jan 21 20:30:45 web-02.lab.internal nginx: GET /"
        );
    }

    #[test]
    fn one_event_one_line() {
        let ev = event("pf", 9, "bad host\n", "a\r\nb\nc\rd", 1);
        let line = syslog_line(&ev, SyslogFormat::Rfc5424);
        assert_eq!(
            line,
            "<135>1 2026-01-01T20:30:45.123Z bad_host_ pf - - - a  b c d"
        );
        assert!(!syslog_line(&ev, SyslogFormat::Rfc3164).contains(['\r', '\n']));
        let empty = event("", 6, "", "x", 1);
        assert_eq!(
            syslog_line(&empty, SyslogFormat::Rfc5424),
            "<134>1 2026-01-01T20:30:45.123Z - - - - - x"
        );
        let mut buf = Vec::new();
        write_syslog(&ev, SyslogFormat::Rfc5424, &mut buf);
        assert_eq!(buf, line.as_bytes());
    }

    #[test]
    fn octet_counting_counts_bytes() {
        assert_eq!(octet_counted(""), "0 ");
        assert_eq!(octet_counted("abc"), "3 abc");
        // "é" is two bytes, "✓" three, "😀" four.
        assert_eq!(octet_counted("héllo ✓ 😀"), "15 héllo ✓ 😀");
        let msg = "<134>1 2026-01-01T20:30:45.123Z h app - - - wörld";
        let framed = octet_counted(msg);
        let (len, rest) = framed.split_once(' ').expect("space");
        assert_eq!(len.parse::<usize>().ok(), Some(rest.len()));
        assert_eq!(rest, msg);
        let mut buf = Vec::new();
        write_octet_counted(msg.as_bytes(), &mut buf);
        assert_eq!(buf, framed.as_bytes());
    }

    #[test]
    fn generated_events_frame_cleanly() {
        for p in super::super::PROFILES {
            let start = Utc
                .with_ymd_and_hms(2026, 3, 5, 1, 2, 3)
                .single()
                .expect("valid");
            let g =
                super::super::generator(p.name, 1, 500, start, std::time::Duration::from_secs(60))
                    .expect("known");
            for ev in g {
                for format in [SyslogFormat::Rfc5424, SyslogFormat::Rfc3164] {
                    let line = syslog_line(&ev, format);
                    assert!(line.starts_with('<') && !line.contains(['\r', '\n']));
                    assert!(line.ends_with(&ev.message));
                }
            }
        }
    }
}
