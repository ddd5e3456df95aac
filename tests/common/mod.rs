//! Helpers shared by the end-to-end tests: the binary under test, the
//! public captures, scratch folders.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `spanwatch` binary built for this test run.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_spanwatch"))
}

/// `../shared/pcaps` next to the checkout, or `None` with a visible SKIP
/// line when it is absent.
pub fn shared_pcaps() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/pcaps");
    if p.join("MANIFEST.md").exists() {
        Some(p)
    } else {
        eprintln!("SKIP: ../shared/pcaps is absent; the real-capture tests did not run");
        None
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A fresh scratch folder, unique to this test process and `name`.
pub fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("spanwatch-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
