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
