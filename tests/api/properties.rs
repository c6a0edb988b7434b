//! Property tests: the parsers that see untrusted input never panic and keep their promises.

use labgate::domain::{cron, duration, jwt, net, token};
use labgate::http::extract::parse_json;
use proptest::prelude::*;

#[derive(serde::Deserialize, Debug)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Body {
    email: String,
    password: String,
    count: Option<u64>,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_bodies_never_panic_and_errors_carry_the_spec_code(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(e) = parse_json::<Body>(&bytes) {
            prop_assert_eq!(e.status.as_u16(), 400);
            prop_assert_eq!(e.code.as_str(), "VALIDATION_ERROR");
            prop_assert!(e.details.is_some());
        }
    }

    #[test]
    fn json_shaped_bodies_never_panic(s in "\\{(\"[a-z]{0,8}\":(\"[^\"]{0,20}\"|[0-9eE.+-]{1,30}|null|true|\\[\\]|\\{\\}),?){0,6}\\}") {
        let _ = parse_json::<Body>(s.as_bytes());
    }

    #[test]
    fn tokens_with_any_change_fail_the_checksum(pos in 4usize..42, c in "[A-Za-z0-9]") {
        let t = token::generate(token::Kind::Pat);
        let mut chars: Vec<char> = t.expose().chars().collect();
        let replacement = c.chars().next().unwrap();
        prop_assume!(chars[pos] != replacement);
        chars[pos] = replacement;
        let changed: String = chars.into_iter().collect();
        prop_assert!(!token::well_formed(token::Kind::Pat, &changed));
    }

    #[test]
    fn arbitrary_strings_never_panic_the_parsers(s in "\\PC{0,64}") {
        let _ = token::well_formed(token::Kind::ApiKey, &s);
        let _ = token::kind_of(&s);
        let _ = duration::parse_duration(&s);
        let _ = net::parse_cidr(&s);
        let _ = cron::parse(&s);
        let _ = jwt::looks_like_jwt(&s);
        let _ = labgate::http::extract::canonical_path(&s);
    }

    #[test]
    fn durations_round_trip(n in 1u64..100_000, unit in prop::sample::select(vec!['s', 'm', 'h', 'd'])) {
        let mult = match unit { 's' => 1, 'm' => 60, 'h' => 3600, _ => 86400 };
        let parsed = duration::parse_duration(&format!("{n}{unit}"));
        if n * mult <= 10 * 366 * 86400 {
            prop_assert_eq!(parsed, Some(std::time::Duration::from_secs(n * mult)));
        } else {
            prop_assert_eq!(parsed, None);
        }
    }

    #[test]
    fn an_address_is_inside_its_own_network(a in any::<u32>(), prefix in 0u8..=32) {
        let ip = std::net::Ipv4Addr::from(a);
        let net = ipnet::Ipv4Net::new(ip, prefix).unwrap().trunc();
        let parsed = net::parse_cidr(&net.to_string()).unwrap();
        prop_assert!(net::contains_any(&[parsed], std::net::IpAddr::V4(ip)));
    }
}
