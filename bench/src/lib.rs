//! Shared helpers for the benchmarks, the seeded capture generator behind `spanwatch-gen`, and
//! the scenario evaluation behind `spanwatch-eval`.

pub mod eval;
pub mod gen;
