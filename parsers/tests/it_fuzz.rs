//! Stable-toolchain fuzz smoke for the TLS, SMTP and DNS parsers: every
//! seed in `fuzz/corpus/{tls,smtp,dns}` and deterministic mutations of it
//! (bit flips, truncations, byte insertions, splices) go through each
//! module's `fuzz` entry, which asserts the invariants (consumed <= input,
//! no stall, bounds respected, MIME summary independent of chunking).
//! `cargo fuzz run tls|smtp|dns` runs the same entries under libFuzzer.

use std::path::PathBuf;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn seeds(proto: &str) -> Vec<Vec<u8>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(proto);
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            (p.display().to_string(), std::fs::read(&p).unwrap())
        })
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no seeds in {}", dir.display());
    v.into_iter().map(|(_, b)| b).collect()
}

fn mutate(rng: &mut Rng, seed: &[u8], other: &[u8]) -> Vec<u8> {
    let mut b = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(6) {
            0 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] ^= 1 << rng.below(8);
            }
            1 if !b.is_empty() => {
                let i = rng.below(b.len());
                b[i] = [0x00, 0xff, 0x7f, 0x80, b'\n', b'.', 0xc0][rng.below(7)];
            }
            2 => b.truncate(rng.below(b.len() + 1)),
            3 => {
                let i = rng.below(b.len() + 1);
                let n = 1 + rng.below(8);
                let fill: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, fill);
            }
            4 if !other.is_empty() => {
                let i = rng.below(b.len() + 1);
                let s = rng.below(other.len());
                let e = (s + 1 + rng.below(256)).min(other.len());
                b.splice(i..i, other[s..e].iter().copied());
            }
            _ => {
                let i = rng.below(b.len() + 1);
                b.drain(i..(i + rng.below(16)).min(b.len()));
            }
        }
    }
    b
}

/// `SPANWATCH_FUZZ_ROUNDS=N` multiplies the rounds (longer local runs).
fn smoke(proto: &str, f: fn(&[u8]), rounds: usize) {
    let scale: usize = std::env::var("SPANWATCH_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let rounds = rounds.saturating_mul(scale);
    let seeds = seeds(proto);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ proto.len() as u64);
    for s in &seeds {
        f(s);
    }
    for i in 0..rounds {
        let a = &seeds[i % seeds.len()];
        let b = &seeds[rng.below(seeds.len())];
        let m = mutate(&mut rng, a, b);
        f(&m);
    }
    // Edge inputs.
    for e in [&[][..], &[0x16], &[0x16, 0x03], b"\r\n.\r\n", &[0xff; 64]] {
        f(e);
    }
}

#[test]
fn tls_fuzz_smoke_over_seeds_and_mutations() {
    smoke("tls", spanwatch_parsers::tls::fuzz, 1500);
}

#[test]
fn smtp_fuzz_smoke_over_seeds_and_mutations() {
    smoke("smtp", spanwatch_parsers::smtp::fuzz, 600);
}

#[test]
fn dns_fuzz_smoke_over_seeds_and_mutations() {
    smoke("dns", spanwatch_parsers::dns::fuzz, 4000);
}
