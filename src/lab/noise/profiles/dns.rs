//! dns: BIND query-log lines with their answers.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsData {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
    /// Domain names (CNAME, PTR) and presentation-format rdata (MX, SRV, TXT).
    Text(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DnsAnswer {
    pub rtype: &'static str,
    pub ttl: u32,
    pub data: DnsData,
}

/// One query; BIND's query log line only shows the question, so the answer the resolver
/// gave lives here.
#[derive(Debug, Clone, PartialEq)]
pub struct DnsFields {
    pub client_ip: Ipv4Addr,
    pub client_port: u16,
    pub server_ip: Ipv4Addr,
    pub qname: Cow<'static, str>,
    pub qtype: &'static str,
    /// BIND's flag column, e.g. "+E(0)K".
    pub flags: &'static str,
    pub rcode: &'static str,
    pub answers: Vec<DnsAnswer>,
    /// BIND's per-client object address ("client @0x7f...").
    pub client_object: u64,
}

impl DnsFields {
    pub(in crate::lab::noise) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.ip("src_ip", self.client_ip);
        o.uint("src_port", u64::from(self.client_port));
        o.ip("dst_ip", self.server_ip);
        o.uint("dst_port", 53);
        o.str(
            "transport",
            if self.flags.contains('T') {
                "tcp"
            } else {
                "udp"
            },
        );
        o.str("qname", &self.qname);
        o.str("qclass", "IN");
        o.str("qtype", self.qtype);
        o.str("flags", self.flags);
        o.str("rcode", self.rcode);
        o.key("answers");
        o.out.put_byte(b'[');
        for (n, a) in self.answers.iter().enumerate() {
            if n > 0 {
                o.out.put_byte(b',');
            }
            let mut ao = JsonObj::open(&mut *o.out);
            ao.str("type", a.rtype);
            ao.uint("ttl", u64::from(a.ttl));
            match a.data {
                DnsData::V4(ip) => ao.ip("data", ip),
                DnsData::V6(ip) => {
                    ao.key("data");
                    let mut s = String::with_capacity(40);
                    use std::fmt::Write as _;
                    let _ = write!(s, "{ip}");
                    put_json_str(ao.out, &s);
                }
                DnsData::Text(t) => ao.str("data", t),
            }
            ao.close();
        }
        o.out.put_byte(b']');
    }

    /// `client @0x7f.. 10.20.1.31#53412 (name): query: name IN A +E(0)K (10.0.0.53)`
    pub(super) fn render<B: Buf>(&self, out: &mut B) {
        out.put("client @0x");
        put_hex(out, self.client_object);
        out.put_byte(b' ');
        put_ipv4(out, self.client_ip);
        out.put_byte(b'#');
        put_u64(out, u64::from(self.client_port));
        out.put(" (");
        out.put(&self.qname);
        out.put("): query: ");
        out.put(&self.qname);
        out.put(" IN ");
        out.put(self.qtype);
        out.put_byte(b' ');
        out.put(self.flags);
        out.put(" (");
        put_ipv4(out, self.server_ip);
        out.put_byte(b')');
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Rec {
    /// Internal host, with an IPv6 (ULA) address or not.
    Host(Ipv4Addr, bool),
    /// Internal alias to a host.
    Alias(&'static str, Ipv4Addr),
    /// Public name: peer number, and whether it has IPv6.
    Public(u64, bool),
    /// Public alias (CDN style): target and peer number.
    PublicAlias(&'static str, u64),
    Nx,
    Srv(&'static str, &'static str),
    Mx(&'static str),
    Txt(&'static str),
}

pub(super) const DOMAINS: Table<(&str, Rec), 35> = Table::new([
    (
        (
            "intranet.lab.internal",
            Rec::Alias("web-lb.lab.internal", WEB_LB),
        ),
        60,
    ),
    (
        (
            "wiki.lab.internal",
            Rec::Alias("web-lb.lab.internal", WEB_LB),
        ),
        25,
    ),
    (
        (
            "git.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 4, 40), false),
        ),
        20,
    ),
    (
        (
            "dc01.corp.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 0, 0, 10), true),
        ),
        25,
    ),
    (
        (
            "dc02.corp.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 0, 0, 11), true),
        ),
        12,
    ),
    (("fs01.corp.lab.internal", Rec::Host(FS_IP, true)), 18),
    (
        (
            "_ldap._tcp.dc._msdcs.corp.lab.internal",
            Rec::Srv(
                "0 100 389 dc01.corp.lab.internal.",
                "0 100 389 dc02.corp.lab.internal.",
            ),
        ),
        20,
    ),
    (
        (
            "_kerberos._tcp.corp.lab.internal",
            Rec::Srv(
                "0 100 88 dc01.corp.lab.internal.",
                "0 100 88 dc02.corp.lab.internal.",
            ),
        ),
        10,
    ),
    (("wpad.corp.lab.internal", Rec::Nx), 15),
    (("wpad.lab.internal", Rec::Nx), 6),
    (
        (
            "proxy.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 6, 8), false),
        ),
        10,
    ),
    (("ntp.lab.internal", Rec::Host(NTP_IP, false)), 6),
    (
        (
            "mail.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 30, 7, 25), false),
        ),
        5,
    ),
    (
        (
            "printer-2f.lab.internal",
            Rec::Host(Ipv4Addr::new(10, 20, 9, 40), false),
        ),
        3,
    ),
    (("corp.lab.internal", Rec::Mx("10 mail.lab.internal.")), 4),
    (
        (
            "lab.internal",
            Rec::Txt("\"v=spf1 mx ip4:10.30.7.25 -all\""),
        ),
        2,
    ),
    (
        (
            "_dmarc.lab.internal",
            Rec::Txt("\"v=DMARC1; p=quarantine; rua=mailto:dmarc@lab.internal\""),
        ),
        1,
    ),
    (("www.google.com", Rec::Public(1, true)), 30),
    (("www.google.com.corp.lab.internal", Rec::Nx), 8),
    (
        (
            "login.microsoftonline.com",
            Rec::PublicAlias("login.mso.msidentity.com", 2),
        ),
        25,
    ),
    (
        (
            "outlook.office365.com",
            Rec::PublicAlias("outlook.ha.office365.com", 3),
        ),
        20,
    ),
    (
        (
            "teams.microsoft.com",
            Rec::PublicAlias("teams.office.com", 4),
        ),
        15,
    ),
    (("github.com", Rec::Public(5, false)), 10),
    (("api.github.com", Rec::Public(6, false)), 6),
    (
        (
            "time.windows.com",
            Rec::PublicAlias("twc.trafficmanager.net", 7),
        ),
        5,
    ),
    (
        (
            "ocsp.digicert.com",
            Rec::PublicAlias("ocsp.edge.digicert.com", 8),
        ),
        10,
    ),
    (
        (
            "deb.debian.org",
            Rec::PublicAlias("debian.map.fastlydns.net", 9),
        ),
        4,
    ),
    (("security.ubuntu.com", Rec::Public(10, true)), 3),
    (("connectivity-check.ubuntu.com", Rec::Public(11, true)), 4),
    (
        (
            "detectportal.firefox.com",
            Rec::PublicAlias("detectportal.prod.mozaws.net", 12),
        ),
        5,
    ),
    (("update.googleapis.com", Rec::Public(13, true)), 4),
    (("pypi.org", Rec::Public(14, true)), 2),
    (("crates.io", Rec::Public(15, false)), 1),
    (
        (
            "www.wikipedia.org",
            Rec::PublicAlias("dyna.wikimedia.org", 16),
        ),
        3,
    ),
    (("github.com.lab.internal", Rec::Nx), 3),
]);

pub(super) const ADDR_QTYPES: Table<&str, 2> = Table::new([("A", 64), ("AAAA", 36)]);
pub(super) const ALIAS_QTYPES: Table<&str, 3> = Table::new([("A", 60), ("AAAA", 34), ("CNAME", 3)]);
pub(super) const DNS_FLAGS: Table<&str, 6> = Table::new([
    ("+E(0)K", 70),
    ("+E(0)", 12),
    ("+", 6),
    ("+E(0)DK", 5),
    ("+E(0)TK", 3),
    ("+E(0)V", 4),
]);

#[derive(Debug, Clone, Copy)]
pub(super) struct DnsClient {
    pub(super) ip: Ipv4Addr,
    pub(super) windows: bool,
}

#[derive(Debug)]
pub(super) struct DnsGen {
    pub(super) clients: Vec<DnsClient>,
}

pub(super) fn ula(ip: Ipv4Addr) -> Ipv6Addr {
    let [_, b, c, d] = ip.octets();
    Ipv6Addr::new(
        0xfd12,
        0x3456,
        0x789a,
        u16::from(b),
        0,
        0,
        u16::from(c),
        u16::from(d),
    )
}

pub(super) fn public_ip6(k: u64) -> Ipv6Addr {
    Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x10 + (k % 200) as u16,
        0,
        0,
        0,
        0,
        0x10 + (k % 4000) as u16,
    )
}

impl DnsGen {
    pub(super) fn new(rng: &mut R) -> Self {
        let mut clients = Vec::with_capacity(80);
        for i in 0..PEOPLE.len() {
            clients.push(DnsClient {
                ip: ws_ip(i),
                windows: true,
            });
        }
        for s in &WIN_SERVERS[2..] {
            clients.push(DnsClient {
                ip: s.3,
                windows: true,
            });
        }
        for s in &LINUX_SERVERS {
            clients.push(DnsClient {
                ip: s.1,
                windows: false,
            });
        }
        for last in 11..=13 {
            clients.push(DnsClient {
                ip: Ipv4Addr::new(10, 30, 0, last),
                windows: false,
            });
        }
        for _ in 0..40 {
            let ip = office_ip(rng);
            clients.push(DnsClient { ip, windows: true });
        }
        for i in (1..clients.len()).rev() {
            let j = rng.index(i + 1);
            clients.swap(i, j);
        }
        DnsGen { clients }
    }

    pub(super) fn make(&mut self, rng: &mut R) -> Made {
        let client = self.clients[rng.skewed(self.clients.len())];
        let (server_host, server_ip) = *rng.pick(&RESOLVERS);
        let client_port = if client.windows {
            rng.port_windows()
        } else {
            rng.port_linux()
        };
        let mut answers = Vec::new();
        let mut rcode = "NOERROR";
        let (qname, qtype): (Cow<'static, str>, &'static str) = if rng.chance(0.09) {
            // Reverse lookups: known hosts resolve, VPN pool addresses have no PTR.
            let (ip, name) = if rng.chance(0.8) {
                let w = rng.index(PEOPLE.len());
                (ws_ip(w), Some(WS_FQDN[w]))
            } else {
                (vpn_ip(rng), None)
            };
            match name {
                Some(n) => answers.push(DnsAnswer {
                    rtype: "PTR",
                    ttl: 1200,
                    data: DnsData::Text(n),
                }),
                None => rcode = "NXDOMAIN",
            }
            let [a, b, c, d] = ip.octets();
            let mut q = String::with_capacity(32);
            for octet in [d, c, b, a] {
                put_u64(&mut q, u64::from(octet));
                q.push('.');
            }
            q.push_str("in-addr.arpa");
            (Cow::Owned(q), "PTR")
        } else {
            let (name, rec) = *rng.pick(&DOMAINS);
            let public_ttl = rng.between(20, 300) as u32;
            let qtype = match rec {
                Rec::Alias(..) | Rec::PublicAlias(..) => *rng.pick(&ALIAS_QTYPES),
                Rec::Srv(..) => "SRV",
                Rec::Mx(_) => "MX",
                Rec::Txt(_) => "TXT",
                _ => *rng.pick(&ADDR_QTYPES),
            };
            let v6 = qtype == "AAAA";
            match rec {
                Rec::Host(ip, has6) => {
                    if !v6 {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: 3600,
                            data: DnsData::V4(ip),
                        });
                    } else if has6 {
                        answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: 3600,
                            data: DnsData::V6(ula(ip)),
                        });
                    }
                }
                Rec::Alias(target, ip) => {
                    answers.push(DnsAnswer {
                        rtype: "CNAME",
                        ttl: 3600,
                        data: DnsData::Text(target),
                    });
                    if qtype == "A" {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: 300,
                            data: DnsData::V4(ip),
                        });
                    }
                }
                Rec::Public(k, has6) => {
                    if !v6 {
                        answers.push(DnsAnswer {
                            rtype: "A",
                            ttl: public_ttl,
                            data: DnsData::V4(public_ip(k)),
                        });
                    } else if has6 {
                        answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: public_ttl,
                            data: DnsData::V6(public_ip6(k)),
                        });
                    }
                }
                Rec::PublicAlias(target, k) => {
                    answers.push(DnsAnswer {
                        rtype: "CNAME",
                        ttl: public_ttl.max(60),
                        data: DnsData::Text(target),
                    });
                    match qtype {
                        "A" => {
                            for n in 0..1 + rng.below(2) {
                                answers.push(DnsAnswer {
                                    rtype: "A",
                                    ttl: public_ttl.min(60),
                                    data: DnsData::V4(public_ip(k + 16 * n)),
                                });
                            }
                        }
                        "AAAA" => answers.push(DnsAnswer {
                            rtype: "AAAA",
                            ttl: public_ttl.min(60),
                            data: DnsData::V6(public_ip6(k)),
                        }),
                        _ => {}
                    }
                }
                Rec::Nx => rcode = "NXDOMAIN",
                Rec::Srv(a, b) => {
                    for t in [a, b] {
                        answers.push(DnsAnswer {
                            rtype: "SRV",
                            ttl: 600,
                            data: DnsData::Text(t),
                        });
                    }
                }
                Rec::Mx(t) => answers.push(DnsAnswer {
                    rtype: "MX",
                    ttl: 3600,
                    data: DnsData::Text(t),
                }),
                Rec::Txt(t) => answers.push(DnsAnswer {
                    rtype: "TXT",
                    ttl: 3600,
                    data: DnsData::Text(t),
                }),
            }
            if matches!(rec, Rec::Public(..) | Rec::PublicAlias(..)) && rng.chance(0.003) {
                answers.clear();
                rcode = "SERVFAIL";
            }
            (Cow::Borrowed(name), qtype)
        };
        let flags = *rng.pick(&DNS_FLAGS);
        let f = DnsFields {
            client_ip: client.ip,
            client_port,
            server_ip,
            qname,
            qtype,
            flags,
            rcode,
            answers,
            client_object: 0x7f00_0000_0000 | (rng.below(1 << 40) & !0xf),
        };
        let mut message = String::with_capacity(160);
        f.render(&mut message);
        Made {
            host: server_host,
            app: "named",
            severity: 6,
            message,
            fields: Fields::Dns(f),
        }
    }
}
