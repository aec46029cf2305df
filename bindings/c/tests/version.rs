//! The version seen from C: the header's `SHMRING_VERSION*` macros are
//! the package version (they are written in `cbindgen.toml`, which
//! cbindgen copies into the header), and a C program compiled against the
//! header and linked with the library in `target/<profile>/` finds
//! `shmring_version()` equal to `SHMRING_VERSION` (`examples/cmake/installed.c`,
//! which also sends a message through a ring). The library's SONAME is the
//! one `cargo cinstall` gives the installed library.

use std::path::Path;
use std::process::{Command, Stdio};

#[path = "support/library.rs"]
mod library;

/// The value of `#define NAME VALUE` in the committed header.
fn define(header: &str, name: &str) -> String {
    let prefix = format!("#define {name} ");
    let mut values = header
        .lines()
        .filter_map(|l| l.strip_prefix(prefix.as_str()));
    let value = values
        .next()
        .unwrap_or_else(|| panic!("include/shmring.h defines no {name}"));
    assert!(values.next().is_none(), "{name} defined twice");
    value.trim().to_owned()
}

#[test]
fn header_macros_are_the_package_version() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/shmring.h");
    let header = std::fs::read_to_string(path).expect("read include/shmring.h");
    assert_eq!(
        define(&header, "SHMRING_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MAJOR")
    );
    assert_eq!(
        define(&header, "SHMRING_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_MINOR")
    );
    assert_eq!(
        define(&header, "SHMRING_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION_PATCH")
    );
    assert_eq!(
        define(&header, "SHMRING_VERSION"),
        format!("\"{}\"", env!("CARGO_PKG_VERSION")),
        "bump the version macros in bindings/c/cbindgen.toml with the package version, \
         then regenerate the header: SHMRING_BLESS=1 cargo test -p shmring-c --test header"
    );
}

/// cargo-c's SONAME suffix for the package version: `0.0.PATCH`,
/// `0.MINOR`, or `MAJOR`.
fn sover() -> String {
    match (
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
    ) {
        ("0", "0") => format!("0.0.{}", env!("CARGO_PKG_VERSION_PATCH")),
        ("0", minor) => format!("0.{minor}"),
        (major, _) => major.to_owned(),
    }
}

#[test]
fn c_program_sees_the_library_version_and_the_soname() {
    let lib = library::lib_dir();
    let soname = format!("libshmring.so.{}", sover());
    // The SONAME (readelf is part of binutils, beside the C compiler).
    if let Ok(out) = Command::new("readelf")
        .arg("-d")
        .arg(lib.join("libshmring.so"))
        .output()
    {
        let dynamic = String::from_utf8_lossy(&out.stdout);
        assert!(
            dynamic.contains(&format!("Library soname: [{soname}]")),
            "{dynamic}"
        );
    }
    // build.rs made the SONAME a link to the library.
    assert_eq!(
        std::fs::read_link(lib.join(&soname)).expect("SONAME link beside the library"),
        Path::new("libshmring.so")
    );

    let dir = lib
        .join("version-test")
        .join(std::process::id().to_string());
    std::fs::create_dir_all(&dir).expect("build directory");
    let exe = dir.join("installed");
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .args([
            "-Wall",
            "-Wextra",
            "-Werror",
            "-std=c11",
            "-D_POSIX_C_SOURCE=200809L",
        ])
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg(crate_dir.join("examples/cmake/installed.c"))
        .arg("-L")
        .arg(lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-lshmring", "-o"])
        .arg(&exe)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
    assert!(
        out.status.success(),
        "compiling installed.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe)
        .stdin(Stdio::null())
        .output()
        .expect("run installed");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        run.status.success(),
        "installed failed:\n{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        stdout.contains(&format!("shmring header {version} "))
            && stdout.contains(&format!("library {version}\n")),
        "{stdout}"
    );
    assert!(
        stdout.contains("round trip through shmring-installed-"),
        "{stdout}"
    );
}
