//! The shared library's SONAME, for in-tree builds: `libshmring-mq.so.0.MINOR`
//! (cargo-c's rule, see [`sover`]), the name the installed library has
//! (`make install-c`, which builds with the `capi` feature and lets
//! cargo-c set it). Cargo names the file `libshmring_mq.so`; programs link
//! with `-lshmring-mq` (a link `libshmring-mq.so` to it, which the tests
//! make) and find the SONAME at run time: this script makes
//! `target/<profile>/libshmring-mq.so.0.MINOR` a link to it as well.
//!
//! The directory is three levels above `OUT_DIR`
//! (`target/<profile>/build/shmring-mq-<hash>/out`).

use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var_os("CARGO_FEATURE_CAPI").is_some() {
        // cargo-c sets the same SONAME itself.
        return;
    }
    let soname = format!("libshmring-mq.so.{}", sover());
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,{soname}");
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    match out.ancestors().nth(3) {
        Some(dir) => link(dir, &soname, "libshmring_mq.so"),
        None => println!("cargo:warning=unexpected OUT_DIR layout; {soname} not linked"),
    }
}

/// The SONAME's version suffix, as cargo-c computes it from the package
/// version: `0.0.PATCH` before 0.1, `0.MINOR` before 1.0, then `MAJOR`.
fn sover() -> String {
    let part = |name: &str| std::env::var(name).expect("cargo sets the version parts");
    match (
        part("CARGO_PKG_VERSION_MAJOR").as_str(),
        part("CARGO_PKG_VERSION_MINOR"),
    ) {
        ("0", minor) if minor == "0" => format!("0.0.{}", part("CARGO_PKG_VERSION_PATCH")),
        ("0", minor) => format!("0.{minor}"),
        (major, _) => major.to_owned(),
    }
}

/// Makes `dir/name` a symbolic link to `target` (a file in `dir`, which
/// may not exist yet: the linker writes it after this script), unless it
/// is one already. Made under a temporary name and renamed over, so that
/// concurrent builds never see a half-made link.
fn link(dir: &Path, name: &str, target: &str) {
    let path = dir.join(name);
    if std::fs::read_link(&path).is_ok_and(|t| t == Path::new(target)) {
        return;
    }
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let made = std::os::unix::fs::symlink(target, &tmp).and_then(|()| std::fs::rename(&tmp, &path));
    if let Err(e) = made {
        let _ = std::fs::remove_file(&tmp);
        println!(
            "cargo:warning=could not link {} to {target}: {e}",
            path.display()
        );
    }
}
