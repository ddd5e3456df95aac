//! Stable-toolchain smoke run of the Modbus, SRTP and EGD fuzz entry points:
//! every committed seed in `fuzz/corpus/{modbus,srtp,egd}`, each of its
//! prefixes, deterministic byte mutations of it, and proptest's arbitrary
//! inputs. The entry points assert their own invariants (consumed within
//! the input, no stalled drive, every parsed slice inside the input, probe
//! consistent with parse); this file only feeds them.

use proptest::prelude::*;
use std::path::PathBuf;

type Target = fn(&[u8]);

const TARGETS: [(&str, Target); 3] = [
    ("modbus", spanwatch_parsers::modbus::fuzz),
    ("srtp", spanwatch_parsers::srtp::fuzz),
    ("egd", spanwatch_parsers::egd::fuzz),
];

fn seeds(proto: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(proto);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("dir entry").path();
            (
                path.display().to_string(),
                std::fs::read(&path).expect("seed"),
            )
        })
        .collect();
    out.sort();
    out
}

/// xorshift64*: a fixed, dependency-free mutation stream.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seed: &[u8]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] ^= 1 << rng.below(8);
            }
            1 if !v.is_empty() => {
                let i = rng.below(v.len());
                v[i] = [0x00, 0xFF, 0x7F, 0x80, 0x01][rng.below(5)];
            }
            2 => {
                let i = rng.below(v.len() + 1);
                v.insert(i, rng.next() as u8);
            }
            3 if !v.is_empty() => {
                let i = rng.below(v.len());
                v.remove(i);
            }
            _ => {
                // Splice a copy of a random window elsewhere (duplicated headers).
                if v.len() > 8 {
                    let a = rng.below(v.len() - 8);
                    let w = v[a..a + 8].to_vec();
                    let at = rng.below(v.len());
                    v.splice(at..at, w);
                }
            }
        }
    }
    v
}

#[test]
fn seeds_prefixes_and_mutations_keep_invariants() {
    let mut runs = 0usize;
    for (proto, target) in TARGETS {
        let seeds = seeds(proto);
        assert!(seeds.len() >= 3, "{proto}: a handful of seeds");
        let mut rng = Rng(0x5EED_0000 + proto.len() as u64);
        for (name, seed) in &seeds {
            for end in 0..=seed.len() {
                target(&seed[..end]);
                runs += 1;
            }
            for _ in 0..300 {
                let m = mutate(&mut rng, seed);
                target(&m);
                runs += 1;
            }
            let _ = name;
        }
    }
    assert!(runs > 5_000);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_keep_invariants(data in proptest::collection::vec(any::<u8>(), 0..600)) {
        for (_, target) in TARGETS {
            target(&data);
        }
    }

    #[test]
    fn mbap_shaped_bytes_keep_invariants(
        tid in any::<u16>(),
        len in 0u16..300,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut v = tid.to_be_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&len.to_be_bytes());
        v.extend_from_slice(&body);
        spanwatch_parsers::modbus::fuzz(&v);
    }

    #[test]
    fn srtp_shaped_bytes_keep_invariants(
        kind in 0u8..4,
        mailbox in prop_oneof![Just(0xC0u8), Just(0x80), Just(0xD4), Just(0x94), Just(0xD1), any::<u8>()],
        text_len in 0u16..200,
        rest in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut v = vec![0u8; 56];
        v[0] = kind;
        v[4..6].copy_from_slice(&text_len.to_le_bytes());
        v[31] = mailbox;
        v.extend_from_slice(&rest);
        spanwatch_parsers::srtp::fuzz(&v);
    }
}

/// A longer mutation run for when cargo-fuzz is not at hand:
/// `OT_GE_FUZZ_ITERS=1000000 cargo test --release -p spanwatch-parsers --test ot_ge_fuzz_smoke -- --ignored`.
/// Mutations compound: each round mutates the previous round's output
/// (reset to a seed every 64 rounds) so inputs drift far from the seeds.
#[test]
#[ignore = "long; run on demand"]
fn long_mutation_run() {
    let iters: usize = std::env::var("OT_GE_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    for (proto, target) in TARGETS {
        let seeds = seeds(proto);
        let mut rng = Rng(0xF0F0_1234 ^ iters as u64 ^ proto.len() as u64);
        let mut cur = Vec::new();
        for i in 0..iters {
            if i % 64 == 0 {
                cur = seeds[rng.below(seeds.len())].1.clone();
            }
            cur = mutate(&mut rng, &cur);
            cur.truncate(2048);
            target(&cur);
        }
    }
}
