//! The one small fake network every profile draws from: people, workstations, servers, subnets.

use super::*;

pub(super) const AD_DOMAIN: &str = "CORP";
pub(super) const DOMAIN_SID: &str = "S-1-5-21-3623811015-3361044348-30300820";

/// People; person i sits at workstation i.
pub(super) const PEOPLE: [&str; 24] = [
    "jsmith",
    "apatel",
    "mgarcia",
    "lchen",
    "okowalski",
    "dnguyen",
    "ewilson",
    "rbrown",
    "sjohnson",
    "kmueller",
    "tanderson",
    "hkim",
    "vrossi",
    "bdavis",
    "nthompson",
    "jlee",
    "amartin",
    "pclark",
    "fwhite",
    "gharris",
    "ykato",
    "imorales",
    "cschmidt",
    "rsingh",
];

macro_rules! workstations {
    ($($n:literal),* $(,)?) => {
        pub(super) const WS_NAME: [&str; 24] = [$(concat!("WS-", $n)),*];
        pub(super) const WS_FQDN: [&str; 24] = [$(concat!("WS-", $n, ".corp.lab.internal")),*];
        pub(super) const WS_MACHINE: [&str; 24] = [$(concat!("WS-", $n, "$")),*];
    };
}
workstations!(
    "0101", "0102", "0103", "0104", "0105", "0106", "0107", "0108", "0109", "0110", "0111", "0112",
    "0113", "0114", "0115", "0116", "0117", "0118", "0119", "0120", "0121", "0122", "0123", "0124",
);

pub(super) fn ws_ip(i: usize) -> Ipv4Addr {
    let i = i % PEOPLE.len();
    Ipv4Addr::new(10, 20, 1 + (i / 16) as u8, 31 + (i % 16) as u8 * 6)
}

pub(super) const LINUX_SERVERS: [(&str, Ipv4Addr); 6] = [
    ("bastion-01.lab.internal", Ipv4Addr::new(10, 30, 1, 5)),
    ("app-01.lab.internal", Ipv4Addr::new(10, 30, 2, 11)),
    ("app-02.lab.internal", Ipv4Addr::new(10, 30, 2, 12)),
    ("db-01.lab.internal", Ipv4Addr::new(10, 30, 3, 21)),
    ("build-01.lab.internal", Ipv4Addr::new(10, 30, 4, 31)),
    ("mon-01.lab.internal", Ipv4Addr::new(10, 30, 5, 10)),
];
pub(super) const BASTION: usize = 0;
pub(super) const DB_HOST: usize = 3;
pub(super) const BUILD_IP: Ipv4Addr = Ipv4Addr::new(10, 30, 4, 31);
pub(super) const MON_IP: Ipv4Addr = Ipv4Addr::new(10, 30, 5, 10);

pub(super) const WEB_SERVERS: Table<&str, 3> = Table::new([
    ("web-01.lab.internal", 1),
    ("web-02.lab.internal", 1),
    ("web-03.lab.internal", 1),
]);
pub(super) const WEB_LB: Ipv4Addr = Ipv4Addr::new(10, 30, 0, 10);
pub(super) const WEB_VHOST: &str = "intranet.lab.internal";

pub(super) const RESOLVERS: Table<(&str, Ipv4Addr), 2> = Table::new([
    (("ns1.lab.internal", Ipv4Addr::new(10, 0, 0, 53)), 7),
    (("ns2.lab.internal", Ipv4Addr::new(10, 0, 0, 54)), 3),
]);
pub(super) const NTP_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 123);

/// Windows servers: FQDN, NetBIOS name, machine account, address.
pub(super) const WIN_SERVERS: [(&str, &str, &str, Ipv4Addr); 4] = [
    (
        "DC01.corp.lab.internal",
        "DC01",
        "DC01$",
        Ipv4Addr::new(10, 0, 0, 10),
    ),
    (
        "DC02.corp.lab.internal",
        "DC02",
        "DC02$",
        Ipv4Addr::new(10, 0, 0, 11),
    ),
    (
        "FS01.corp.lab.internal",
        "FS01",
        "FS01$",
        Ipv4Addr::new(10, 0, 0, 20),
    ),
    (
        "APP01.corp.lab.internal",
        "APP01",
        "APP01$",
        Ipv4Addr::new(10, 0, 0, 30),
    ),
];
pub(super) const FS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 20);
pub(super) const FIREWALL_HOST: &str = "fw-01.lab.internal";
pub(super) const WAN_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 2);

pub(super) fn office_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(10, 20, rng.between(3, 8) as u8, rng.between(20, 250) as u8)
}

pub(super) fn vpn_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(192, 168, 100, rng.between(10, 250) as u8)
}

pub(super) fn lab_ip(rng: &mut R) -> Ipv4Addr {
    Ipv4Addr::new(
        172,
        16,
        rng.between(10, 13) as u8,
        rng.between(10, 250) as u8,
    )
}

/// A stable "internet" address (documentation ranges) for public peer number k.
pub(super) fn public_ip(k: u64) -> Ipv4Addr {
    let host = 10 + (k % 240) as u8;
    match k % 3 {
        0 => Ipv4Addr::new(203, 0, 113, host),
        1 => Ipv4Addr::new(198, 51, 100, host),
        _ => Ipv4Addr::new(192, 0, 2, host),
    }
}
