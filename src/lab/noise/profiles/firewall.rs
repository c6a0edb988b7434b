//! firewall: allow/deny connection records.

use super::*;

#[derive(Debug, Clone, PartialEq)]
pub struct FwFields {
    /// "allow" or "deny".
    pub action: &'static str,
    pub rule_id: u32,
    pub rule_label: &'static str,
    /// "in" or "out", relative to `interface`.
    pub direction: &'static str,
    pub interface: &'static str,
    /// "tcp", "udp" or "icmp".
    pub proto: &'static str,
    pub src_ip: Ipv4Addr,
    pub src_port: Option<u16>,
    pub dst_ip: Ipv4Addr,
    pub dst_port: Option<u16>,
    pub bytes: u64,
    pub packets: u64,
    pub duration_ms: u64,
}

impl FwFields {
    pub(in crate::lab::noise) fn write_fields<B: Buf>(&self, o: &mut JsonObj<'_, B>) {
        o.str("action", self.action);
        o.uint("rule_id", u64::from(self.rule_id));
        o.str("rule_label", self.rule_label);
        o.str("direction", self.direction);
        o.str("interface", self.interface);
        o.str("proto", self.proto);
        o.ip("src_ip", self.src_ip);
        if let Some(p) = self.src_port {
            o.uint("src_port", u64::from(p));
        }
        o.ip("dst_ip", self.dst_ip);
        if let Some(p) = self.dst_port {
            o.uint("dst_port", u64::from(p));
        }
        o.uint("bytes", self.bytes);
        o.uint("packets", self.packets);
        o.uint("duration_ms", self.duration_ms);
    }

    pub(super) fn put_endpoint<B: Buf>(out: &mut B, ip: Ipv4Addr, port: Option<u16>) {
        put_ipv4(out, ip);
        if let Some(p) = port {
            out.put_byte(b':');
            put_u64(out, u64::from(p));
        }
    }

    /// `rule=110 action=allow dir=in iface=em1 proto=udp src=a:p dst=b:53 bytes=.. packets=..
    /// duration_ms=.. label="..."`
    pub(super) fn render<B: Buf>(&self, out: &mut B) {
        out.put("rule=");
        put_u64(out, u64::from(self.rule_id));
        out.put(" action=");
        out.put(self.action);
        out.put(" dir=");
        out.put(self.direction);
        out.put(" iface=");
        out.put(self.interface);
        out.put(" proto=");
        out.put(self.proto);
        out.put(" src=");
        Self::put_endpoint(out, self.src_ip, self.src_port);
        out.put(" dst=");
        Self::put_endpoint(out, self.dst_ip, self.dst_port);
        out.put(" bytes=");
        put_u64(out, self.bytes);
        out.put(" packets=");
        put_u64(out, self.packets);
        out.put(" duration_ms=");
        put_u64(out, self.duration_ms);
        out.put(" label=\"");
        out.put(self.rule_label);
        out.put_byte(b'"');
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Src {
    User,
    Vpn,
    Lab,
    App,
    Mon,
    Internet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dst {
    Internet,
    Dns,
    Ntp,
    Fs,
    Dc,
    Bastion,
    Db,
    Web,
    Servers,
    Broadcast,
    Ssdp,
    Mdns,
    Wan,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Traffic {
    Web,
    Dns,
    Ntp,
    Smb,
    Directory,
    Ssh,
    Db,
    Scrape,
    Ping,
    Probe,
    NetBios,
    Ssdp,
    Mdns,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Rule {
    pub(super) id: u32,
    pub(super) allow: bool,
    pub(super) dir: &'static str,
    pub(super) iface: &'static str,
    pub(super) proto: &'static str,
    pub(super) src: Src,
    pub(super) dst: Dst,
    pub(super) ports: &'static [u16],
    pub(super) label: &'static str,
    pub(super) traffic: Traffic,
}

pub(super) const fn rule(
    id: u32,
    allow: bool,
    (dir, iface, proto): (&'static str, &'static str, &'static str),
    (src, dst): (Src, Dst),
    ports: &'static [u16],
    label: &'static str,
    traffic: Traffic,
) -> Rule {
    Rule {
        id,
        allow,
        dir,
        iface,
        proto,
        src,
        dst,
        ports,
        label,
        traffic,
    }
}

// One rule per line reads like a firewall config; rustfmt would spread each over 15 lines.
#[rustfmt::skip]
pub(super) const RULES: Table<Rule, 20> = Table::new([
    (rule(100, true, ("out", "em0", "tcp"), (Src::User, Dst::Internet), &[443], "LAN to internet HTTPS", Traffic::Web), 300),
    (rule(101, true, ("out", "em0", "tcp"), (Src::User, Dst::Internet), &[80], "LAN to internet HTTP", Traffic::Web), 30),
    (rule(102, true, ("out", "em0", "udp"), (Src::User, Dst::Internet), &[443], "LAN to internet QUIC", Traffic::Web), 40),
    (rule(110, true, ("in", "em1", "udp"), (Src::User, Dst::Dns), &[53], "LAN to resolvers", Traffic::Dns), 180),
    (rule(111, true, ("in", "em1", "tcp"), (Src::User, Dst::Dns), &[53], "LAN to resolvers", Traffic::Dns), 4),
    (rule(120, true, ("in", "em1", "udp"), (Src::User, Dst::Ntp), &[123], "LAN to NTP", Traffic::Ntp), 20),
    (rule(130, true, ("in", "em1", "tcp"), (Src::User, Dst::Fs), &[445], "LAN to file server", Traffic::Smb), 60),
    (rule(131, true, ("in", "em1", "tcp"), (Src::User, Dst::Dc), &[88, 389, 445, 135, 636, 3268], "LAN to domain controllers", Traffic::Directory), 80),
    (rule(132, true, ("in", "em1", "udp"), (Src::User, Dst::Dc), &[88, 389], "LAN to domain controllers", Traffic::Directory), 20),
    (rule(140, true, ("in", "ovpns1", "tcp"), (Src::Vpn, Dst::Bastion), &[22], "VPN admins to bastion", Traffic::Ssh), 10),
    (rule(141, true, ("in", "em2", "tcp"), (Src::App, Dst::Db), &[5432], "app tier to database", Traffic::Db), 50),
    (rule(142, true, ("in", "em2", "tcp"), (Src::Mon, Dst::Servers), &[9100, 9113, 9187], "monitoring scrape", Traffic::Scrape), 40),
    (rule(150, true, ("in", "em1", "icmp"), (Src::User, Dst::Servers), &[], "LAN ICMP echo", Traffic::Ping), 10),
    (rule(160, true, ("in", "em1", "tcp"), (Src::User, Dst::Web), &[443], "LAN to intranet web", Traffic::Web), 70),
    (rule(161, true, ("in", "ovpns1", "tcp"), (Src::Vpn, Dst::Web), &[443], "VPN to intranet web", Traffic::Web), 20),
    (rule(900, false, ("in", "em1", "udp"), (Src::User, Dst::Broadcast), &[137, 138], "block NetBIOS broadcast", Traffic::NetBios), 40),
    (rule(901, false, ("in", "em1", "udp"), (Src::User, Dst::Ssdp), &[1900], "block SSDP", Traffic::Ssdp), 25),
    (rule(902, false, ("in", "em1", "udp"), (Src::User, Dst::Mdns), &[5353], "block mDNS", Traffic::Mdns), 20),
    (rule(910, false, ("in", "em3", "tcp"), (Src::Lab, Dst::Servers), &[22, 3389, 445], "lab to server VLAN", Traffic::Probe), 6),
    (rule(999, false, ("in", "em0", "tcp"), (Src::Internet, Dst::Wan), &[23, 445, 3389, 8080, 22, 5900], "default deny", Traffic::Probe), 25),
]);

/// Sizes of a refused TCP SYN: bare, Windows-style and Linux-style options.
pub(super) const SYN_SIZES: Table<u64, 3> = Table::new([(44, 2), (52, 3), (60, 5)]);

#[derive(Debug)]
pub(super) struct FwGen;

impl FwGen {
    pub(super) fn make(&mut self, rng: &mut R) -> Made {
        let r = *rng.pick(&RULES);
        let (src_ip, windows_src) = match r.src {
            Src::User => {
                if rng.chance(0.6) {
                    (ws_ip(rng.skewed(PEOPLE.len())), true)
                } else {
                    (office_ip(rng), true)
                }
            }
            Src::Vpn => (vpn_ip(rng), true),
            Src::Lab => (lab_ip(rng), false),
            Src::App => (LINUX_SERVERS[1 + rng.index(2)].1, false),
            Src::Mon => (MON_IP, false),
            Src::Internet => (public_ip(rng.between(100, 10_000)), false),
        };
        let dst_ip = match r.dst {
            Dst::Internet => public_ip(rng.skewed(400) as u64),
            Dst::Dns => rng.pick(&RESOLVERS).1,
            Dst::Ntp => NTP_IP,
            Dst::Fs => FS_IP,
            Dst::Dc => WIN_SERVERS[rng.index(2)].3,
            Dst::Bastion => LINUX_SERVERS[BASTION].1,
            Dst::Db => LINUX_SERVERS[DB_HOST].1,
            Dst::Web => WEB_LB,
            Dst::Servers => {
                let k = rng.index(LINUX_SERVERS.len() + WIN_SERVERS.len());
                match LINUX_SERVERS.get(k) {
                    Some(s) => s.1,
                    None => WIN_SERVERS[(k - LINUX_SERVERS.len()) % WIN_SERVERS.len()].3,
                }
            }
            Dst::Broadcast => {
                let [a, b, c, _] = src_ip.octets();
                Ipv4Addr::new(a, b, c, 255)
            }
            Dst::Ssdp => Ipv4Addr::new(239, 255, 255, 250),
            Dst::Mdns => Ipv4Addr::new(224, 0, 0, 251),
            Dst::Wan => WAN_IP,
        };
        let dst_port = if r.ports.is_empty() {
            None
        } else {
            r.ports.get(rng.index(r.ports.len())).copied()
        };
        let src_port = match (r.traffic, dst_port) {
            (Traffic::Ping, _) => None,
            (Traffic::NetBios | Traffic::Mdns, p) => p,
            _ if windows_src => Some(rng.port_windows()),
            (Traffic::Probe, _) => Some(rng.between(1_024, 65_535) as u16),
            _ => Some(rng.port_linux()),
        };
        let (bytes, packets, duration_ms) = match r.traffic {
            Traffic::Web => Self::flow(rng, (1_200, 4_000_000), (40, 120_000)),
            Traffic::Dns if r.proto == "tcp" => (
                rng.between(400, 3_000),
                rng.between(6, 10),
                rng.between(2, 80),
            ),
            Traffic::Dns => (rng.between(120, 420), 2, rng.between(1, 60)),
            Traffic::Ntp => (152, 2, rng.between(1, 20)),
            Traffic::Smb => Self::flow(rng, (2_000, 80_000_000), (200, 3_600_000)),
            // CLDAP/Kerberos over UDP: one small request and its answer.
            Traffic::Directory if r.proto == "udp" => {
                (rng.between(180, 1_400), 2, rng.between(1, 20))
            }
            Traffic::Directory => Self::flow(rng, (800, 60_000), (5, 2_000)),
            Traffic::Ssh => Self::flow(rng, (4_000, 6_000_000), (10_000, 10_800_000)),
            Traffic::Db => Self::flow(rng, (1_000, 20_000_000), (2, 600_000)),
            Traffic::Scrape => (
                rng.between(8_000, 90_000),
                rng.between(12, 80),
                rng.between(5, 300),
            ),
            Traffic::Ping => {
                let n = rng.between(1, 4);
                (n * 168, n * 2, n * 1_000)
            }
            Traffic::Probe => (*rng.pick(&SYN_SIZES), 1, 0),
            Traffic::NetBios if dst_port == Some(138) => (rng.between(229, 243), 1, 0),
            Traffic::NetBios => (92, 1, 0),
            Traffic::Ssdp => (rng.between(175, 210), 1, 0),
            Traffic::Mdns => (rng.between(60, 420), 1, 0),
        };
        let f = FwFields {
            action: if r.allow { "allow" } else { "deny" },
            rule_id: r.id,
            rule_label: r.label,
            direction: r.dir,
            interface: r.iface,
            proto: r.proto,
            src_ip,
            src_port,
            dst_ip,
            dst_port,
            bytes,
            packets,
            duration_ms,
        };
        let mut message = String::with_capacity(200);
        f.render(&mut message);
        Made {
            host: FIREWALL_HOST,
            app: "pf",
            severity: if r.allow { 6 } else { 4 },
            message,
            fields: Fields::Firewall(f),
        }
    }

    /// A finished connection: size and duration log-uniform, packets from a typical MSS mix.
    pub(super) fn flow(rng: &mut R, bytes: (u64, u64), dur: (u64, u64)) -> (u64, u64, u64) {
        let b = rng.log_uniform(bytes.0, bytes.1);
        let packets = (b / rng.between(600, 1_400)).max(4);
        (b, packets, rng.log_uniform(dur.0, dur.1))
    }
}
