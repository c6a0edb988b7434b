//! CIDR parsing and matching (ipnet), tolerant of bare addresses.

use std::net::IpAddr;

use ipnet::IpNet;

/// Parses `10.0.0.0/8`, `2001:db8::/32` or a bare address (a single-host network).
/// Host bits set (`10.0.0.1/8`) are refused: it is almost always a typo.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return (net.trunc() == net).then_some(net);
    }
    s.parse::<IpAddr>().ok().map(IpNet::from)
}

/// Normalises IPv4-mapped IPv6 addresses so `::ffff:10.0.0.1` matches `10.0.0.0/8`.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

pub fn contains_any(nets: &[IpNet], ip: IpAddr) -> bool {
    let ip = canonical(ip);
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_match_v4_and_v6() {
        let nets = vec![
            parse_cidr("10.20.0.0/16").unwrap(),
            parse_cidr("2001:db8::/32").unwrap(),
        ];
        assert!(contains_any(&nets, "10.20.3.4".parse().unwrap()));
        assert!(contains_any(&nets, "::ffff:10.20.3.4".parse().unwrap()));
        assert!(contains_any(&nets, "2001:db8::1".parse().unwrap()));
        assert!(!contains_any(&nets, "10.21.0.1".parse().unwrap()));
        assert!(!contains_any(&nets, "2001:db9::1".parse().unwrap()));
    }

    #[test]
    fn malformed_cidrs_are_refused() {
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "banana",
            "",
            "::/129",
            "1.2.3/24",
        ] {
            assert!(parse_cidr(bad).is_none(), "{bad}");
        }
        assert!(parse_cidr("127.0.0.1").is_some());
    }
}

/// A tenant's source-IP lists (SPEC §8): when the allow list is non-empty only its networks
/// may use the tenant's credentials and sign in; the block list is refused always.
#[derive(Debug, Default)]
pub struct IpLists {
    pub allow: Vec<ipnet::IpNet>,
    pub block: Vec<ipnet::IpNet>,
}

impl IpLists {
    /// From stored CIDR texts (an unparsable entry matches nothing).
    pub fn parse<S: AsRef<str>>(allow: &[S], block: &[S]) -> IpLists {
        let nets = |v: &[S]| v.iter().filter_map(|c| parse_cidr(c.as_ref())).collect();
        IpLists {
            allow: nets(allow),
            block: nets(block),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.block.is_empty()
    }

    pub fn permits(&self, ip: std::net::IpAddr) -> bool {
        (self.allow.is_empty() || contains_any(&self.allow, ip)) && !contains_any(&self.block, ip)
    }
}

/// Where noise sinks may send (SPEC §12.2): never labgate's own listening address, nor
/// link-local (cloud metadata lives there), unspecified or multicast addresses; and, when
/// `LABGATE_SINK_NETWORKS` is set, only into those networks.
#[derive(Debug, Clone)]
pub struct Destinations {
    pub own: std::net::SocketAddr,
    pub networks: Vec<IpNet>,
}

/// The IPv4 address an IPv6 address carries and can reach through a translator: IPv4-compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::/96`) and 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| {
        std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
    };
    if s[..6] == [0, 0, 0, 0, 0, 0] && (s[6], s[7]) != (0, 0) && (s[6], s[7]) != (0, 1) {
        return Some(v4(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return Some(v4(s[1], s[2]));
    }
    None
}

impl Destinations {
    /// `Err` says why `addr` may not be reached.
    pub fn allows(&self, addr: std::net::SocketAddr) -> Result<(), &'static str> {
        // An address that carries an IPv4 one is judged by the IPv4 one as well.
        if let IpAddr::V6(v6) = canonical(addr.ip())
            && let Some(v4) = embedded_v4(v6)
        {
            self.allows(std::net::SocketAddr::new(IpAddr::V4(v4), addr.port()))?;
        }
        let ip = canonical(addr.ip());
        let refused = match ip {
            IpAddr::V4(v4) => {
                v4.is_link_local() || v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()
            }
            IpAddr::V6(v6) => {
                v6.is_unspecified() || v6.is_multicast() || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
        if refused {
            return Err(
                "link-local, unspecified and multicast addresses are not sink destinations",
            );
        }
        let own_ip = canonical(self.own.ip());
        let same_host =
            ip == own_ip || own_ip.is_unspecified() || (ip.is_loopback() && own_ip.is_loopback());
        if addr.port() == self.own.port() && same_host {
            return Err("a sink may not point at labgate itself");
        }
        if !self.networks.is_empty() && !contains_any(&self.networks, ip) {
            return Err("the destination is outside LABGATE_SINK_NETWORKS");
        }
        Ok(())
    }
}

#[cfg(test)]
mod destination_tests {
    use super::*;

    #[test]
    fn metadata_own_port_and_outside_networks_are_refused() {
        let d = Destinations {
            own: "127.0.0.1:8080".parse().unwrap(),
            networks: vec![],
        };
        for bad in [
            "169.254.169.254:80",
            "0.0.0.0:514",
            "224.0.0.1:514",
            "[fe80::1]:514",
            "[::]:80",
            "127.0.0.1:8080",
            "127.0.0.2:8080",
            "[::ffff:169.254.169.254]:80",
            "[::169.254.169.254]:80",
            "[64:ff9b::a9fe:a9fe]:80",
            "[2002:a9fe:a9fe::1]:80",
        ] {
            assert!(d.allows(bad.parse().unwrap()).is_err(), "{bad}");
        }
        for ok in ["127.0.0.1:514", "10.20.0.5:514", "[2001:db8::1]:6514"] {
            assert!(d.allows(ok.parse().unwrap()).is_ok(), "{ok}");
        }
        let only = Destinations {
            own: "127.0.0.1:8080".parse().unwrap(),
            networks: vec![parse_cidr("10.0.0.0/8").unwrap()],
        };
        assert!(only.allows("10.1.2.3:514".parse().unwrap()).is_ok());
        assert!(only.allows("127.0.0.1:514".parse().unwrap()).is_err());
    }
}
