//! Child programs of the C and C++ tests: unique names, spawning with
//! piped output, and a bounded wait that kills and reaps a late child.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A name unique to this test process and call: `prefix-PID-tag-N`.
pub fn unique(prefix: &str, tag: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let n = {
        let mut n = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
        *n += 1;
        *n
    };
    format!("{prefix}-{}-{tag}-{n}", std::process::id())
}

/// How a child ended, and what it printed.
#[derive(Debug)]
pub struct Finished {
    pub success: bool,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Spawns `cmd` with piped output and no input.
pub fn spawn(cmd: &mut Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

/// Waits for `child` at most `deadline`; kills and reaps it (and fails)
/// if it is late.
pub fn finish_within(mut child: Child, what: &str, deadline: Duration) -> Finished {
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Finished {
        success: status.success(),
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Fails with the child's output unless it exited successfully.
pub fn assert_ok(f: &Finished, what: &str) {
    assert!(
        f.success,
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        f.code, f.stdout, f.stderr
    );
}
