//! The simulator's randomness and clock text: a small seeded generator
//! (SplitMix64, so a test replays a server's evolution exactly) and Unix
//! times printed the way x2goserver prints session times.

/// SplitMix64: fast, small state, good enough to spread a simulation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn seeded(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator seeded from the operating system (a fixed one if that fails).
    pub fn from_entropy() -> Rng {
        let mut b = [0u8; 8];
        match getrandom::getrandom(&mut b) {
            Ok(()) => Rng(u64::from_le_bytes(b)),
            Err(_) => Rng(0x5EED),
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of `items` (which must not be empty).
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// `unix` seconds as x2goserver prints a session's times
/// (`YYYY-MM-DDTHH:MM:SS`; the simulated servers' local time is UTC).
pub fn x2go_time(unix: i64) -> String {
    let (days, secs) = (unix.div_euclid(86_400), unix.rem_euclid(86_400));
    // The civil date of a day number (H. Hinnant's days_from_civil inverse).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_its_sequence() {
        let (mut a, mut b) = (Rng::seeded(7), Rng::seeded(7));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::seeded(8).next_u64(), xs[0]);
        let mut r = Rng::seeded(1);
        for _ in 0..1000 {
            assert!(r.below(6) < 6);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert_eq!(r.below(0), 0);
    }

    #[test]
    fn times_are_printed_as_x2goserver_prints_them() {
        assert_eq!(x2go_time(1_795_995_008), "2026-11-29T23:30:08");
        assert_eq!(x2go_time(0), "1970-01-01T00:00:00");
        assert_eq!(x2go_time(951_782_400 + 3661), "2000-02-29T01:01:01");
        assert_eq!(x2go_time(-1), "1969-12-31T23:59:59");
    }
}
