//! Where the C libraries are, brought up to date first.
//!
//! `cargo test` and `cargo bench` build a `cdylib`/`staticlib` crate's
//! unit tests but not the libraries themselves (integration tests cannot
//! link them), so a fresh clone would have none and an old build a stale
//! one. The first caller therefore runs `cargo build -p <package> --lib`
//! for the same target directory and profile as the running test binary
//! (`$CARGO`, which cargo sets for the tests it runs; nested cargo works
//! because cargo releases its build lock before running tests). Usually
//! only the library itself is compiled.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `target/<profile>`: the directory holding `libshmring.so`,
/// `libshmring.a` and `shmring.pc`, up to date with the sources.
#[allow(dead_code)]
pub fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        build(
            "shmring-c",
            &["libshmring.so", "libshmring.a", "shmring.pc"],
        )
    })
}

/// `target/<profile>`, with `package`'s library built in it and `files`
/// checked to be there.
pub fn build(package: &str, files: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/<test binary>
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary in target/<profile>/deps")
        .to_path_buf();
    let target_dir = profile_dir.parent().expect("target directory");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-p", package, "--lib", "--target-dir"])
        .arg(target_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let mut child = cmd.spawn().expect("run cargo build");
    let mut stderr = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    // Generous: on a busy 2-core CI machine a cold build takes minutes.
    let deadline = Instant::now() + Duration::from_secs(1200);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for cargo") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("cargo build -p {package} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = reader.join().unwrap_or_default();
    assert!(status.success(), "cargo build -p {package} failed:\n{log}");
    for file in files {
        assert!(
            profile_dir.join(file).exists(),
            "{} is missing after cargo build",
            profile_dir.join(file).display()
        );
    }
    profile_dir
}
