//! The chapter's C programs, compiled from `c_reference/` by this crate's build script with
//! the Makefile's flags, for the black-box suite and the stress test: `cargo test` builds
//! them itself, no `make` first. A test-only crate (a dev-dependency of `tcp-chapter`).

use std::path::{Path, PathBuf};

/// One build of the three programs (`echo_server`, `tcp_client`, `http_get`).
#[derive(Clone, Copy, Debug)]
pub struct ProgramSet {
    /// `c` (or another set's name): `IMPL=` and the test names use it.
    pub name: &'static str,
    /// The directory holding the programs (under cargo's `OUT_DIR`).
    pub dir: &'static str,
}

impl ProgramSet {
    /// Path of one of the set's programs.
    pub fn program(&self, program: &str) -> PathBuf {
        Path::new(self.dir).join(program)
    }
}

include!(concat!(env!("OUT_DIR"), "/sets.rs"));

/// The set called `name`, if the build has it.
pub fn set(name: &str) -> Option<&'static ProgramSet> {
    SETS.iter().find(|s| s.name == name)
}
