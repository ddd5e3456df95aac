//! Seeded pseudo-random numbers whose sequence never changes.
//!
//! References: S. Vigna, "Further scramblings of Marsaglia's xorshift generators" (SplitMix64 as a
//! seeder) and D. Blackman & S. Vigna, "Scrambled linear pseudorandom number generators"
//! (xoshiro256**). Both algorithms are fixed bit for bit, and this module only uses integer
//! arithmetic and IEEE-754 `+ - * /` (which are exactly rounded everywhere), so one seed gives
//! the same stream on every platform and in every future version of this crate. That is what
//! makes a generated capture byte-identical forever.

/// SplitMix64: a 64-bit counter passed through a mixing function. Used to expand one seed into
/// xoshiro state and to hash small keys (addresses, names) into stable per-key properties.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// Starts the sequence at `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.state)
    }
}

/// The SplitMix64 output function: a bijective 64-bit mixer, used as a stable hash.
pub fn mix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// xoshiro256**: the generator every actor draws from.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// Seeds the four state words from SplitMix64(`seed`). Four consecutive SplitMix64 outputs
    /// are never all zero (the mixer is a bijection of distinct counters), so the state is valid.
    pub fn new(seed: u64) -> Self {
        let mut sm = SplitMix64::new(seed);
        Rng {
            s: [sm.next_u64(), sm.next_u64(), sm.next_u64(), sm.next_u64()],
        }
    }

    /// A child generator seeded from this one: actors get their own stream, so adding an actor
    /// to a scenario does not change what the others draw.
    pub fn fork(&mut self) -> Rng {
        Rng::new(self.next_u64())
    }

    /// The next 64-bit output.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// The high 32 bits of the next output.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A 16-bit value.
    pub fn next_u16(&mut self) -> u16 {
        (self.next_u64() >> 48) as u16
    }

    /// Uniform in `0..n` (multiply-high; the bias is below 2^-40 for the ranges used here).
    /// Returns 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`; returns `lo` when `hi <= lo`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Exponentially distributed with the given mean (Poisson inter-arrival times).
    pub fn exp(&mut self, mean: f64) -> f64 {
        // 1 - unit is in (0, 1], so the logarithm is finite.
        -mean * ln(1.0 - self.unit())
    }

    /// `base` moved by up to ±`pct` percent, uniformly.
    pub fn jitter(&mut self, base: u64, pct: u64) -> u64 {
        let spread = base.saturating_mul(pct) / 100;
        base.saturating_sub(spread) + self.below(spread.saturating_mul(2).saturating_add(1))
    }

    /// Log-uniform-ish in `lo..hi`: an octave `[lo·2^k, lo·2^(k+1))` is chosen uniformly, then a
    /// value uniformly inside it (clamped to `hi`). Heavy-tailed sizes without floating point.
    pub fn log_uniform(&mut self, lo: u64, hi: u64) -> u64 {
        let lo = lo.max(1);
        if hi <= lo {
            return lo;
        }
        let mut octaves = 0u64;
        while octaves < 63 && (lo << (octaves + 1)) <= hi {
            octaves += 1;
        }
        let k = self.below(octaves.max(1));
        let start = lo << k;
        (start + self.below(start)).min(hi)
    }

    /// One element of a non-empty slice.
    ///
    /// # Panics
    /// Panics on an empty slice (a programming error: every table here is a non-empty const).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Index chosen by integer weights (at least one weight must be non-zero).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
        let mut x = self.below(total);
        for (i, &w) in weights.iter().enumerate() {
            if x < u64::from(w) {
                return i;
            }
            x -= u64::from(w);
        }
        weights.len().saturating_sub(1)
    }

    /// Fills `buf` with random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        let mut chunks = buf.chunks_exact_mut(8);
        for chunk in &mut chunks {
            chunk.copy_from_slice(&self.next_u64().to_le_bytes());
        }
        let rest = chunks.into_remainder();
        if !rest.is_empty() {
            let bytes = self.next_u64().to_le_bytes();
            rest.copy_from_slice(&bytes[..rest.len()]);
        }
    }

    /// `n` random bytes.
    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        self.fill(&mut v);
        v
    }
}

/// Natural logarithm of `x > 0` using only exactly-rounded operations, so it gives the same bits
/// on every platform (the platform `ln` may differ by an ulp between C libraries).
pub fn ln(x: f64) -> f64 {
    if x <= 0.0 || !x.is_finite() {
        return f64::NEG_INFINITY;
    }
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000F_FFFF_FFFF_FFFF) | (1023u64 << 52));
    if e == -1023 {
        // Subnormal: scale up first.
        return ln(x * (1u64 << 54) as f64) - 54.0 * std::f64::consts::LN_2;
    }
    if m > std::f64::consts::SQRT_2 {
        m /= 2.0;
        e += 1;
    }
    // ln m = 2·atanh(s), s = (m-1)/(m+1), |s| <= 0.172: the series converges fast.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut term = s;
    let mut sum = 0.0;
    let mut k = 1.0;
    while k < 40.0 {
        sum += term / k;
        term *= s2;
        k += 2.0;
    }
    e as f64 * std::f64::consts::LN_2 + 2.0 * sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix64_matches_reference_outputs_for_seed_zero() {
        // First outputs of the reference SplitMix64 with state 0.
        let mut sm = SplitMix64::new(0);
        assert_eq!(sm.next_u64(), 0xE220_A839_7B1D_CDAF);
        assert_eq!(sm.next_u64(), 0x6E78_9E6A_A1B9_65F4);
        assert_eq!(sm.next_u64(), 0x06C4_5D18_8009_454F);
    }

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::new(42);
            (0..8).map(|_| r.next_u64()).collect()
        };
        let c: Vec<u64> = {
            let mut r = Rng::new(43);
            (0..8).map(|_| r.next_u64()).collect()
        };
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn ln_agrees_with_platform_ln_to_a_few_ulps() {
        for &x in &[
            1e-300, 1e-16, 0.001, 0.25, 0.5, 0.7, 0.9, 1.0, 1.5, 10.0, 1e10,
        ] {
            let ours = ln(x);
            let theirs = f64::ln(x);
            assert!(
                (ours - theirs).abs() <= 4.0 * f64::EPSILON * theirs.abs().max(1.0),
                "{x}"
            );
        }
    }

    #[test]
    fn ranges_stay_inside_their_bounds() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let v = r.range(10, 20);
            assert!((10..=20).contains(&v));
            let l = r.log_uniform(1000, 4_000_000);
            assert!((1000..=4_000_000).contains(&l));
            let j = r.jitter(1000, 10);
            assert!((900..=1100).contains(&j));
        }
        assert_eq!(r.below(0), 0);
    }
}
