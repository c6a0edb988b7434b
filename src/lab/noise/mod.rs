//! Synthetic, benign log traffic ("noise") for the lab. `profiles` holds the seeded generators
//! for a few well-known log sources (web access, sshd/PAM, DNS query log, Windows Security
//! auditing, firewall) over one small, consistent fake network; this file holds the [`Event`]
//! they produce and its JSON-lines form; `format` frames events as syslog and `path` confines
//! file-sink paths to the noise root.
//!
//! Hot-path text (messages, JSON) is written by hand into reusable buffers rather than through
//! `serde_json::Value` or `format!`, because the generator has to sustain well over a million
//! events per second on one core.

pub mod format;
pub mod path;
pub mod profiles;

use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};

pub use format::{SyslogFormat, octet_counted, syslog_line, write_octet_counted, write_syslog};
pub use path::resolve_under;
pub use profiles::{
    Account, AuthFields, AuthKind, DnsAnswer, DnsData, DnsFields, Fingerprint, FwFields, Generator,
    PROFILES, ProcessInfo, ProfileInfo, Sid, WebFields, WinFields, exists, generator,
};

/// One generated log record.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp: DateTime<Utc>,
    pub profile: &'static str,
    /// The host that "logged" it, e.g. "web-02.lab.internal".
    pub host: String,
    /// Syslog APP-NAME, e.g. "nginx", "sshd", "named".
    pub app: &'static str,
    /// Syslog severity 0..=7.
    pub severity: u8,
    /// The log line itself; for windows-security a compact JSON object.
    pub message: String,
    /// Structured fields. Typed per profile instead of a `serde_json::Map` so that generating
    /// an event costs no per-field allocation; [`Event::fields_map`] gives the dynamic view.
    pub fields: Fields,
}

/// The structured side of an event, one variant per profile.
#[derive(Debug, Clone, PartialEq)]
pub enum Fields {
    Web(WebFields),
    Auth(AuthFields),
    Dns(DnsFields),
    /// Boxed: a Windows record carries far more fields than the other profiles.
    Windows(Box<WinFields>),
    Firewall(FwFields),
}

impl Fields {
    /// The fields as one JSON object (snake_case keys).
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_to(out);
    }

    fn write_to<B: Buf>(&self, out: &mut B) {
        let mut o = JsonObj::open(out);
        match self {
            Fields::Web(f) => f.write_fields(&mut o),
            Fields::Auth(f) => f.write_fields(&mut o),
            Fields::Dns(f) => f.write_fields(&mut o),
            Fields::Windows(f) => f.write_fields(&mut o),
            Fields::Firewall(f) => f.write_fields(&mut o),
        }
        o.close();
    }
}

impl Event {
    /// One JSON object, no trailing newline:
    /// `{"timestamp":"2026-01-01T20:30:45.123Z","profile":..,"host":..,"app":..,"severity":..,
    /// "message":..,"fields":{..}}`. Fields are nested rather than flattened so that a field
    /// can never collide with the envelope (web requests have their own notion of "host").
    pub fn write_json(&self, out: &mut Vec<u8>) {
        self.write_to(out);
    }

    /// [`Event::write_json`] into a fresh string.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(self.message.len() * 2 + 256);
        self.write_to(&mut s);
        s
    }

    /// The structured fields as a dynamic JSON map, for callers off the hot path.
    pub fn fields_map(&self) -> serde_json::Map<String, serde_json::Value> {
        let mut buf = Vec::with_capacity(256);
        self.fields.write_json(&mut buf);
        serde_json::from_slice(&buf).unwrap_or_default()
    }

    fn write_to<B: Buf>(&self, out: &mut B) {
        let mut o = JsonObj::open(out);
        o.key("timestamp");
        o.out.put_byte(b'"');
        put_rfc3339_ms(o.out, &self.timestamp);
        o.out.put_byte(b'"');
        o.str("profile", self.profile);
        o.str("host", &self.host);
        o.str("app", self.app);
        o.uint("severity", u64::from(self.severity));
        o.str("message", &self.message);
        o.key("fields");
        self.fields.write_to(o.out);
        o.close();
    }
}

/// Append-only text sink shared by the message builders (String) and the JSON writers
/// (Vec<u8>), so one set of formatting helpers serves both without UTF-8 re-validation.
trait Buf {
    fn put(&mut self, s: &str);
    /// `b` must be ASCII.
    fn put_byte(&mut self, b: u8);
    /// `bytes` must be ASCII.
    fn put_ascii(&mut self, bytes: &[u8]);
    /// Two ASCII bytes; one fixed-size store instead of a memcpy call on the escape path.
    fn put_pair(&mut self, a: u8, b: u8);
}

impl Buf for Vec<u8> {
    fn put(&mut self, s: &str) {
        self.extend_from_slice(s.as_bytes());
    }
    fn put_byte(&mut self, b: u8) {
        self.push(b);
    }
    fn put_ascii(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    fn put_pair(&mut self, a: u8, b: u8) {
        self.extend_from_slice(&[a, b]);
    }
}

impl Buf for String {
    fn put(&mut self, s: &str) {
        self.push_str(s);
    }
    fn put_byte(&mut self, b: u8) {
        self.push(char::from(b));
    }
    fn put_ascii(&mut self, bytes: &[u8]) {
        // Short pieces (numbers, escapes) are cheaper pushed than validated.
        if bytes.len() <= 8 {
            self.extend(bytes.iter().map(|&b| char::from(b)));
        } else if let Ok(s) = std::str::from_utf8(bytes) {
            self.push_str(s);
        }
    }
    fn put_pair(&mut self, a: u8, b: u8) {
        self.push(char::from(a));
        self.push(char::from(b));
    }
}

fn put_u64<B: Buf>(out: &mut B, mut n: u64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_ascii(&buf[i..]);
}

/// Lowercase hex without prefix, the way Windows prints logon ids and NTSTATUS codes.
fn put_hex<B: Buf>(out: &mut B, mut n: u64) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = HEX[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 || i == 0 {
            break;
        }
    }
    out.put_ascii(&buf[i..]);
}

fn put_ipv4<B: Buf>(out: &mut B, ip: Ipv4Addr) {
    let [a, b, c, d] = ip.octets();
    put_u64(out, u64::from(a));
    out.put_byte(b'.');
    put_u64(out, u64::from(b));
    out.put_byte(b'.');
    put_u64(out, u64::from(c));
    out.put_byte(b'.');
    put_u64(out, u64::from(d));
}

/// A JSON string literal with RFC 8259 escaping. Clean stretches are skipped eight bytes at a
/// time and copied whole, since escapes are rare in most log text.
fn put_json_str<B: Buf>(out: &mut B, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.put_byte(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let hits = escape_mask(load_word(bytes, i));
        if hits == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is a real hit (see `escape_mask`), never padding.
        i += (hits.trailing_zeros() / 8) as usize;
        let Some(&b) = bytes.get(i) else { break };
        // Every escaped byte is ASCII, so both ends of the run are char boundaries.
        if start < i
            && let Some(run) = s.get(start..i)
        {
            out.put(run);
        }
        let code = ESCAPE_CODE[usize::from(b)];
        if code == b'u' {
            out.put_ascii(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]);
        } else {
            out.put_pair(b'\\', code);
        }
        i += 1;
        start = i;
    }
    if let Some(run) = s.get(start..) {
        out.put(run);
    }
    out.put_byte(b'"');
}

/// Eight bytes from `i` as a little-endian word, padded past the end with a byte that never
/// needs escaping. Tails are assembled in registers: a byte-wise copy into a stack buffer
/// followed by a word load stalls on store forwarding.
fn load_word(bytes: &[u8], i: usize) -> u64 {
    const PAD: u64 = 0x6161_6161_6161_6161;
    if let Some(Ok(word)) = bytes.get(i..i + 8).map(<[u8; 8]>::try_from) {
        return u64::from_le_bytes(word);
    }
    let rem = bytes.len().saturating_sub(i).min(7);
    if rem == 0 {
        return PAD;
    }
    let pad = PAD << (8 * rem);
    if bytes.len() >= 8 {
        // Reuse the string's last eight bytes and shift the wanted tail down.
        let last = bytes.len() - 8;
        if let Some(Ok(word)) = bytes.get(last..).map(<[u8; 8]>::try_from) {
            return (u64::from_le_bytes(word) >> (8 * (8 - rem))) | pad;
        }
    }
    let mut word = pad;
    for (k, &b) in bytes
        .get(i..)
        .unwrap_or_default()
        .iter()
        .take(7)
        .enumerate()
    {
        word |= u64::from(b) << (8 * k);
    }
    word
}

/// The character after the backslash for each byte that needs escaping.
const ESCAPE_CODE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = b'u';
        b += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// High bit set in each byte of `x` (little-endian) that may need escaping: a control
/// character, '"' or '\\'. SWAR "has less than" and "has zero byte" tests: a byte can be
/// flagged falsely only above a real hit (borrows run upwards), so the lowest flag is exact.
const fn escape_mask(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let ctl = x.wrapping_sub(ONES * 0x20) & !x;
    let q = x ^ (ONES * b'"' as u64);
    let q = q.wrapping_sub(ONES) & !q;
    let bs = x ^ (ONES * b'\\' as u64);
    let bs = bs.wrapping_sub(ONES) & !bs;
    (ctl | q | bs) & HIGH
}

/// Writer for one JSON object; keys are trusted literals and are not escaped.
struct JsonObj<'a, B: Buf> {
    out: &'a mut B,
    first: bool,
}

impl<'a, B: Buf> JsonObj<'a, B> {
    fn open(out: &'a mut B) -> Self {
        out.put_byte(b'{');
        JsonObj { out, first: true }
    }

    fn key(&mut self, k: &str) {
        if !self.first {
            self.out.put_byte(b',');
        }
        self.first = false;
        self.out.put_byte(b'"');
        self.out.put(k);
        self.out.put_ascii(b"\":");
    }

    fn str(&mut self, k: &str, v: &str) {
        self.key(k);
        put_json_str(self.out, v);
    }

    fn opt_str(&mut self, k: &str, v: Option<&str>) {
        match v {
            Some(v) => self.str(k, v),
            None => {
                self.key(k);
                self.out.put_ascii(b"null");
            }
        }
    }

    fn uint(&mut self, k: &str, v: u64) {
        self.key(k);
        put_u64(self.out, v);
    }

    fn boolean(&mut self, k: &str, v: bool) {
        self.key(k);
        self.out.put(if v { "true" } else { "false" });
    }

    fn ip(&mut self, k: &str, ip: Ipv4Addr) {
        self.key(k);
        self.out.put_byte(b'"');
        put_ipv4(self.out, ip);
        self.out.put_byte(b'"');
    }

    fn hex(&mut self, k: &str, v: u64) {
        self.key(k);
        self.out.put_ascii(b"\"0x");
        put_hex(self.out, v);
        self.out.put_byte(b'"');
    }

    fn close(self) {
        self.out.put_byte(b'}');
    }
}

/// Broken-down UTC time. Years outside 0..=9999 are clamped so every format keeps its width.
struct Civil {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    milli: u32,
}

fn civil(ts: &DateTime<Utc>) -> Civil {
    let secs = ts.timestamp();
    // Leap seconds show up as nanos >= 1e9; keep the field three digits wide.
    let milli = ts.timestamp_subsec_millis().min(999);
    let (y, month, day) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400) as u32;
    if y < 0 {
        return Civil {
            year: 0,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            milli: 0,
        };
    }
    if y > 9999 {
        return Civil {
            year: 9999,
            month: 12,
            day: 31,
            hour: 23,
            minute: 59,
            second: 59,
            milli: 999,
        };
    }
    Civil {
        year: y as u32,
        month,
        day,
        hour: sod / 3600,
        minute: sod / 60 % 60,
        second: sod % 60,
        milli,
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm);
/// far cheaper per event than going through chrono's calendar types.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

fn month_name(month: u32) -> &'static [u8; 3] {
    MONTHS[(month as usize + 11) % 12]
}

fn digits(dst: &mut [u8], mut n: u32) {
    for slot in dst.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

/// `2026-01-01T20:30:45.123Z`
fn put_rfc3339_ms<B: Buf>(out: &mut B, ts: &DateTime<Utc>) {
    let c = civil(ts);
    let mut b = *b"0000-00-00T00:00:00.000Z";
    digits(&mut b[0..4], c.year);
    digits(&mut b[5..7], c.month);
    digits(&mut b[8..10], c.day);
    digits(&mut b[11..13], c.hour);
    digits(&mut b[14..16], c.minute);
    digits(&mut b[17..19], c.second);
    digits(&mut b[20..23], c.milli);
    out.put_ascii(&b);
}

/// Common Log Format time: `01/Jan/2026:20:30:45 +0000`
fn put_clf<B: Buf>(out: &mut B, ts: &DateTime<Utc>) {
    let c = civil(ts);
    let mut b = *b"00/Mmm/0000:00:00:00 +0000";
    digits(&mut b[0..2], c.day);
    b[3..6].copy_from_slice(month_name(c.month));
    digits(&mut b[7..11], c.year);
    digits(&mut b[12..14], c.hour);
    digits(&mut b[15..17], c.minute);
    digits(&mut b[18..20], c.second);
    out.put_ascii(&b);
}

/// RFC 3164 TIMESTAMP: `Jan  1 20:30:45` (day space-padded).
fn put_rfc3164_ts<B: Buf>(out: &mut B, ts: &DateTime<Utc>) {
    let c = civil(ts);
    let mut b = *b"Mmm 00 00:00:00";
    b[0..3].copy_from_slice(month_name(c.month));
    digits(&mut b[4..6], c.day);
    if c.day < 10 {
        b[4] = b' ';
    }
    digits(&mut b[7..9], c.hour);
    digits(&mut b[10..12], c.minute);
    digits(&mut b[13..15], c.second);
    out.put_ascii(&b);
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn timestamp_formats_match_chrono() {
        let mut t = Utc
            .with_ymd_and_hms(1970, 1, 1, 0, 0, 0)
            .single()
            .expect("valid");
        // Steps of ~37.3 days plus odd seconds and millis walk across leap years and month ends.
        let step = chrono::TimeDelta::milliseconds(3_223_456_789);
        for _ in 0..700 {
            let mut a = String::new();
            put_rfc3339_ms(&mut a, &t);
            assert_eq!(a, t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string());
            let mut b = String::new();
            put_clf(&mut b, &t);
            assert_eq!(b, t.format("%d/%b/%Y:%H:%M:%S +0000").to_string());
            let mut c = String::new();
            put_rfc3164_ts(&mut c, &t);
            assert_eq!(c, t.format("%b %e %H:%M:%S").to_string());
            t += step;
        }
    }

    #[test]
    fn timestamps_out_of_range_are_clamped() {
        let mut s = String::new();
        put_rfc3339_ms(&mut s, &DateTime::<Utc>::MAX_UTC);
        assert_eq!(s, "9999-12-31T23:59:59.999Z");
        s.clear();
        put_rfc3339_ms(&mut s, &DateTime::<Utc>::MIN_UTC);
        assert_eq!(s, "0000-01-01T00:00:00.000Z");
    }

    #[test]
    fn json_strings_round_trip() {
        let cases = [
            "",
            "plain",
            "quote \" backslash \\ slash /",
            "ctl \u{0} \u{1} \u{8} \u{c} \u{1f} \t\r\n end",
            "utf-8: héllo wörld ✓ 日本 😀",
            "\\\\\"\"",
            "twelve bytes\"then a long clean stretch of text\\and more\u{7f}\u{80}",
            "é\"é\"é\"é\"é\"é\"é\"é\"é\"",
        ];
        for case in cases {
            let mut out = Vec::new();
            put_json_str(&mut out, case);
            let back: String = serde_json::from_slice(&out).expect("valid json string");
            assert_eq!(back, case);
            let mut s = String::new();
            put_json_str(&mut s, case);
            assert_eq!(s.as_bytes(), out.as_slice());
        }
    }

    #[test]
    fn escape_detection_is_exact_per_byte() {
        for b in 0u8..=255 {
            for pos in 0..8 {
                let mut w = [b'a'; 8];
                w[pos] = b;
                let expect = b < 0x20 || b == b'"' || b == b'\\';
                assert_eq!(
                    escape_mask(u64::from_le_bytes(w)) != 0,
                    expect,
                    "{b} at {pos}"
                );
            }
        }
        // Mixed words, including borrows across bytes, against the byte-wise answer.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bytes = x.to_le_bytes();
            let first = bytes
                .iter()
                .position(|&b| b < 0x20 || b == b'"' || b == b'\\');
            let mask = escape_mask(x);
            let got = (mask != 0).then(|| (mask.trailing_zeros() / 8) as usize);
            assert_eq!(got, first, "{x:#x}");
        }
    }

    #[test]
    fn escapes_at_every_position_and_length() {
        for len in 0..40 {
            for pos in 0..len {
                for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                    let mut text: String = "abcdefghijklmnopqrstuvwxyz0123456789ABCD"
                        .chars()
                        .take(len)
                        .collect();
                    text.replace_range(pos..pos + 1, &special.to_string());
                    let mut out = Vec::new();
                    put_json_str(&mut out, &text);
                    let back: String = serde_json::from_slice(&out).expect("valid");
                    assert_eq!(back, text);
                }
            }
        }
    }

    #[test]
    fn numbers_format() {
        for n in [0u64, 7, 10, 99, 1_000_000, u64::MAX] {
            let mut s = String::new();
            put_u64(&mut s, n);
            assert_eq!(s, n.to_string());
            let mut h = String::new();
            put_hex(&mut h, n);
            assert_eq!(h, format!("{n:x}"));
        }
        let mut s = String::new();
        put_ipv4(&mut s, Ipv4Addr::new(192, 168, 0, 255));
        assert_eq!(s, "192.168.0.255");
    }
}
