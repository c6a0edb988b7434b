//! The raw argon2id rate of one core at labgate's parameters, the reference of the login row
//! of `benches/storage.sh`: `cargo bench --bench argon -- <seconds>` prints hashes per second
//! (verifications of a stored hash, what a login costs, in one reused working memory).

use labgate::domain::password::{self, Memory};

fn main() {
    let secs: f64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(5.0);
    let stored = password::hash("bench password 0123456789");
    let mut mem = Memory::new();
    let start = std::time::Instant::now();
    let mut n = 0u64;
    while start.elapsed().as_secs_f64() < secs {
        assert!(password::verify_in(
            "bench password 0123456789",
            &stored,
            &mut mem
        ));
        n += 1;
    }
    println!("{:.1}", n as f64 / start.elapsed().as_secs_f64());
}
