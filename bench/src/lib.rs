//! Shared helpers for the benchmarks, and the seeded capture generator behind `spanwatch-gen`.

pub mod gen;
