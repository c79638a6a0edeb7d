//! Compiles each program set of [`SETS`] from `c_reference/` with the Makefile's flags into
//! `OUT_DIR/<set>/{echo_server,tcp_client,http_get}`, and writes their places to
//! `OUT_DIR/sets.rs` for `src/lib.rs`. The same compile line as `make c`, so `cargo test`
//! needs no `make` first.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The three programs; each set has a main `<program>.c` for each.
const PROGRAMS: &[&str] = &["echo_server", "tcp_client", "http_get"];

/// One build of the three programs. Paths are relative to `c_reference/`.
struct Set {
    /// Its name in `IMPL=` and in the test names (`SCENARIO::NAME`).
    name: &'static str,
    /// Where the mains (`<program>.c`) are.
    mains: &'static str,
    /// The files every program links besides its main.
    library: &'static [&'static str],
    /// `-I` directories, searched in this order.
    include: &'static [&'static str],
    /// Whether `TCP_CHAPTER_BUFFER_SIZE` (make BUFFER_SIZE=N) reaches it as -DBUFFER_SIZE.
    takes_buffer_size: bool,
}

/// The program sets, in the order the suite lists them (`IMPL=all`, `make compare` columns):
/// the chapter's code as printed (its functions in `c_reference/chapter/`, with its own mains
/// and our helpers that are not chapter functions), then ours.
const SETS: &[Set] = &[
    Set {
        name: "chapter",
        mains: "chapter",
        library: &[
            "chapter/server.c",
            "chapter/client.c",
            "chapter/http.c",
            "relay.c",
            "util.c",
        ],
        include: &["chapter", "."],
        // As printed, its server.c defines BUFFER_SIZE itself (make builds it the same way).
        takes_buffer_size: false,
    },
    Set {
        name: "c",
        mains: ".",
        library: &["server.c", "client.c", "http.c", "relay.c", "util.c"],
        include: &["."],
        takes_buffer_size: true,
    },
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../c_reference");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    // A directory here means every file under it (cargo compares modification times).
    println!("cargo:rerun-if-changed={}", root.display());
    // The Makefile's BUFFER_SIZE (make BUFFER_SIZE=N) reaches cargo as this variable; the
    // Rust port reads the same one at compile time.
    println!("cargo:rerun-if-env-changed=TCP_CHAPTER_BUFFER_SIZE");
    let buffer_size = std::env::var("TCP_CHAPTER_BUFFER_SIZE")
        .ok()
        .filter(|s| !s.is_empty());

    let mut sets_rs = String::from("/// The program sets built by build.rs, in its order.\n");
    writeln!(sets_rs, "pub const SETS: &[ProgramSet] = &[").unwrap();
    for set in SETS {
        let dir = out.join(set.name);
        build_set(set, &root, &out, &dir, buffer_size.as_deref());
        writeln!(
            sets_rs,
            "    ProgramSet {{ name: {:?}, dir: {:?} }},",
            set.name,
            dir.to_str().expect("OUT_DIR is UTF-8")
        )
        .unwrap();
    }
    writeln!(sets_rs, "];").unwrap();
    writeln!(sets_rs, "/// The programs of every set.").unwrap();
    writeln!(sets_rs, "pub const PROGRAMS: &[&str] = &{PROGRAMS:?};").unwrap();
    std::fs::write(out.join("sets.rs"), sets_rs).expect("write sets.rs");
}

/// Compiles every file of `set` once (objects in `OUT_DIR/obj-<set>`), then links each
/// program into `dir`.
fn build_set(set: &Set, root: &Path, out: &Path, dir: &Path, buffer_size: Option<&str>) {
    let mut build = cc::Build::new();
    // The Makefile's CFLAGS (-std=c11 -Wall -Wextra -Werror -O2 -g), whatever the cargo
    // profile, through cc's own switches: `warnings(false)` would add `-w`, which silences
    // every warning (and so -Werror) wherever it stands on the command line.
    build
        .std("c11")
        .warnings(true) // -Wall
        .extra_warnings(true) // -Wextra
        .warnings_into_errors(true) // -Werror
        .opt_level(2)
        .debug(true)
        .out_dir(out.join(format!("obj-{}", set.name)));
    for inc in set.include {
        build.include(root.join(inc));
    }
    if let Some(size) = buffer_size.filter(|_| set.takes_buffer_size) {
        build.define("BUFFER_SIZE", size);
    }
    let mains: Vec<PathBuf> = PROGRAMS
        .iter()
        .map(|p| root.join(set.mains).join(format!("{p}.c")))
        .collect();
    build.files(&mains);
    build.files(set.library.iter().map(|f| root.join(f)));
    let objects = build.compile_intermediates();
    let (main_objs, lib_objs) = objects.split_at(PROGRAMS.len());

    std::fs::create_dir_all(dir).expect("create the set's directory");
    let compiler = build.get_compiler();
    for (program, main_obj) in PROGRAMS.iter().zip(main_objs) {
        let exe = dir.join(program);
        let mut link: Command = compiler.to_command();
        link.arg("-o").arg(&exe).arg(main_obj).args(lib_objs);
        let status = link
            .status()
            .unwrap_or_else(|e| panic!("cannot run the C compiler to link {program}: {e}"));
        assert!(
            status.success(),
            "linking {} failed: {link:?}",
            exe.display()
        );
    }
}
