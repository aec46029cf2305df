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

#[path = "../build_support.rs"]
mod build_support;

use build_support::{link, sover};
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../build_support.rs");
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
