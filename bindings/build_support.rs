//! What both C libraries' build scripts share (`#[path]`-included by
//! `bindings/c/build.rs` and `bindings/mq/build.rs`): the SONAME version
//! as cargo-c computes it, and the links that make in-tree builds carry
//! the installed names.

use std::path::Path;

/// The SONAME's version suffix, as cargo-c computes it from the package
/// version: `0.0.PATCH` before 0.1, `0.MINOR` before 1.0, then `MAJOR`.
pub fn sover() -> String {
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
pub fn link(dir: &Path, name: &str, target: &str) {
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
