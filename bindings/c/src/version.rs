//! `shmring_version()`: the version of the library loaded at run time.
//!
//! The header's macros give the version a program was compiled against:
//!
//! | macro                   | value                                         |
//! |-------------------------|-----------------------------------------------|
//! | `SHMRING_VERSION_MAJOR` | major number                                  |
//! | `SHMRING_VERSION_MINOR` | minor number                                  |
//! | `SHMRING_VERSION_PATCH` | patch number                                  |
//! | `SHMRING_VERSION`       | `"MAJOR.MINOR.PATCH"`, as `shmring_version()` |
//!
//! cbindgen copies no string constants, so the macros are written in
//! `cbindgen.toml` (`after_includes`); `tests/version.rs` checks that the
//! header's macros are the package version and that a C program sees
//! `shmring_version()` equal to `SHMRING_VERSION`.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` on the exported function

use std::ffi::{CStr, c_char};

/// The package version, NUL-terminated, as `shmring_version` returns it.
const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(version) => version,
        Err(_) => panic!("the package version holds a NUL byte"),
    };

/// The version of the loaded library, "MAJOR.MINOR.PATCH" (a static
/// string, never NULL). Equal to `SHMRING_VERSION` when the program runs
/// with the library version it was compiled against.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_version() -> *const c_char {
    VERSION.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shmring_version_is_the_package_version() {
        // SAFETY: `shmring_version` returns a pointer to a static
        // NUL-terminated string.
        let version = unsafe { CStr::from_ptr(shmring_version()) };
        assert_eq!(version.to_str(), Ok(env!("CARGO_PKG_VERSION")));
    }
}
