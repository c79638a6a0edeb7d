//! Compiles the chapter's C library files (not the programs' mains) into `libchapter_c.a`,
//! which the twin tests link beside the Rust port.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../c_reference");
    let mut build = cc::Build::new();
    // The Makefile's flags, through cc's own switches (-std=c11 -Wall -Wextra -Werror):
    // `warnings(false)` would add `-w`, which silences every warning (and so -Werror) wherever
    // it stands on the command line. `_GNU_SOURCE=` (empty) rather than `-D_GNU_SOURCE`
    // (which means `1`): each .c file starts with `#define _GNU_SOURCE`, and a different
    // value would be a "redefined" warning, an error under -Werror.
    build
        .std("c11")
        .warnings(true) // -Wall
        .extra_warnings(true) // -Wextra
        .warnings_into_errors(true) // -Werror
        .define("_GNU_SOURCE", Some(""))
        .include(&root);
    // The Makefile's BUFFER_SIZE (make BUFFER_SIZE=N) reaches cargo as this variable, and
    // the Rust port reads the same one at compile time.
    println!("cargo:rerun-if-env-changed=TCP_CHAPTER_BUFFER_SIZE");
    if let Ok(size) = std::env::var("TCP_CHAPTER_BUFFER_SIZE")
        && !size.is_empty()
    {
        build.define("BUFFER_SIZE", size.as_str());
    }
    for f in ["server.c", "client.c", "http.c", "relay.c", "util.c"] {
        let path = root.join(f);
        println!("cargo:rerun-if-changed={}", path.display());
        build.file(path);
    }
    for h in ["server.h", "client.h", "http.h", "relay.h", "util.h"] {
        println!("cargo:rerun-if-changed={}", root.join(h).display());
    }
    build.compile("chapter_c");
}
