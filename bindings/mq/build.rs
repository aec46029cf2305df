//! The shared library's SONAME: `libshmring-mq.so`, the name C programs
//! link against and preload (Cargo names the file `libshmring_mq.so`).
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libshmring-mq.so");
}
