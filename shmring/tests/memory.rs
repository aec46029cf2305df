//! Prefaulting and locking a ring's pages at attach (`prefault`,
//! `lock_memory`): the mapping is resident (its `Rss` in
//! `/proc/self/smaps` is its size) or locked (`Locked`), an `mlock` the
//! limits refuse is a clear error that leaves nothing behind, and a ring
//! without the options maps only what it touches.

use shmring::prelude::*;
use shmring::{AnyRing, MpmcBuilder, OpenError, OpenMode, RingGeometry, SpscBuilder};
use std::process::Command;
use std::sync::Mutex;

static COUNTER: Mutex<u32> = Mutex::new(0);

/// A name unique to this process and call.
fn unique(what: &str) -> String {
    let mut n = COUNTER.lock().unwrap();
    *n += 1;
    format!("shmring-memory-{what}-{}-{n}", std::process::id())
}

/// Unlinks a name (and its doorbells) however the test ends.
struct Unlink(String);

impl Drop for Unlink {
    fn drop(&mut self) {
        let _ = shmring::unlink(&self.0);
    }
}

/// One mapping of this process as `/proc/self/smaps` describes it (kB;
/// `locked` is proportional to the mappings that share each page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Resident {
    size: u64,
    rss: u64,
    locked: u64,
}

/// Every mapping of `/dev/shm/NAME` in this process.
fn mappings_of(name: &str) -> Vec<Resident> {
    let path = format!("/dev/shm/{name}");
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
    let mut found = Vec::new();
    let mut current: Option<Resident> = None;
    let field = |line: &str, key: &str| -> Option<u64> {
        line.strip_prefix(key)?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    };
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            found.extend(current.take());
            if line.split_whitespace().nth(5) == Some(path.as_str()) {
                current = Some(Resident {
                    size: 0,
                    rss: 0,
                    locked: 0,
                });
            }
        } else if let Some(m) = current.as_mut() {
            if let Some(v) = field(line, "Size:") {
                m.size = v;
            } else if let Some(v) = field(line, "Rss:") {
                m.rss = v;
            } else if let Some(v) = field(line, "Locked:") {
                m.locked = v;
            }
        }
    }
    found.extend(current);
    found
}

#[test]
fn a_prefaulted_ring_is_resident_from_the_start() {
    let name = unique("prefault");
    let _gone = Unlink(name.clone());
    let capacity = 4 << 20;
    let plain = SpscBuilder::new().capacity(capacity).create(&name).unwrap();
    // Without the option: the header and control block, not the data.
    let [cold] = mappings_of(&name)[..] else {
        panic!("{:?}", mappings_of(&name))
    };
    assert!(cold.size >= capacity / 1024, "{cold:?}");
    assert!(cold.rss < cold.size / 4, "mapped without asking: {cold:?}");
    // Opened with it, by name: every page mapped at once.
    let warm = SpscBuilder::new().prefault(true).open(&name).unwrap();
    let maps = mappings_of(&name);
    assert_eq!(maps.len(), 2, "{maps:?}");
    assert!(
        maps.iter().any(|m| m.rss == m.size),
        "no resident mapping: {maps:?}"
    );
    // And the ring still works through it.
    let (mut tx, mut rx) = (warm.producer().unwrap(), plain.consumer().unwrap());
    tx.send(b"warm").unwrap();
    assert_eq!(&*rx.recv().unwrap(), b"warm");
    drop((tx, rx, warm, plain));
    shmring::unlink(&name).unwrap();
    assert!(mappings_of(&name).is_empty());

    // Created with it, of the other kind, through the run-time kind path.
    let name = unique("prefault-mpmc");
    let _gone_too = Unlink(name.clone());
    let builder = MpmcBuilder::new().prefault(true);
    let ring = AnyRing::open_with(
        &builder.geometry(RingGeometry::mpmc(4096, 256)),
        &name,
        OpenMode::Create,
    )
    .unwrap();
    let [m] = mappings_of(&name)[..] else {
        panic!("{:?}", mappings_of(&name))
    };
    assert_eq!(m.rss, m.size, "{m:?}");
    drop(ring);
    shmring::unlink(&name).unwrap();
}

#[test]
fn a_locked_ring_is_locked_and_resident() {
    let name = unique("lock");
    let _gone = Unlink(name.clone());
    // Small enough for the usual 8 MiB `ulimit -l` without privileges.
    let ring = match SpscBuilder::new()
        .capacity(1 << 20)
        .lock_memory(true)
        .create(&name)
    {
        Ok(ring) => ring,
        Err(OpenError::MemoryLock(e)) => {
            eprintln!("skipped: this process may not lock 1 MiB ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let [m] = mappings_of(&name)[..] else {
        panic!("{:?}", mappings_of(&name))
    };
    assert_eq!(m.locked, m.size, "{m:?}");
    assert_eq!(m.rss, m.size, "{m:?}");
    let opened = SpscBuilder::new()
        .lock_memory(true)
        .prefault(true)
        .open(&name)
        .unwrap();
    // `Locked` is proportional: pages mapped twice count half in each.
    let maps = mappings_of(&name);
    let locked: u64 = maps.iter().map(|m| m.locked).sum();
    assert!(maps.len() == 2 && locked == m.size, "{maps:?}");
    drop((opened, ring));
    shmring::unlink(&name).unwrap();
}

/// Set in the child of [`an_mlock_the_limits_refuse_is_a_clear_error`]:
/// the name to try.
const CHILD_ENV: &str = "SHMRING_TEST_MLOCK_CHILD";
/// Printed by the child when it saw what it should.
const CHILD_OK: &str = "mlock-child: refused as expected";

#[test]
fn an_mlock_the_limits_refuse_is_a_clear_error() {
    let name = unique("mlock-refused");
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "mlock_refused_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &name)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(CHILD_OK), "{text}");
    // Nothing left behind: the name is gone (its doorbells go with it).
    assert!(matches!(
        SpscBuilder::new().open(&name),
        Err(OpenError::NotFound)
    ));
}

/// Runs only as the child above: lowers `RLIMIT_MEMLOCK` to one page,
/// drops root (whose `CAP_IPC_LOCK` ignores the limit) to `nobody` on
/// this thread, and asks for a locked ring of 1 MiB.
#[test]
fn mlock_refused_child() {
    let Ok(name) = std::env::var(CHILD_ENV) else {
        return;
    };
    use rustix::process::{Resource, Rlimit, setrlimit};
    let page = 4096;
    setrlimit(
        Resource::Memlock,
        Rlimit {
            current: Some(page),
            maximum: Some(page),
        },
    )
    .unwrap();
    let root = rustix::process::getuid().is_root();
    if root {
        // Per thread (the raw system call): this thread is the one that
        // maps and locks. Capabilities go with the root uid.
        let nobody = rustix::process::Uid::from_raw(65534);
        rustix::thread::set_thread_res_uid(nobody, nobody, nobody).unwrap();
    }
    let made = SpscBuilder::new()
        .capacity(1 << 20)
        .lock_memory(true)
        .mode(0o666)
        .create(&name);
    let err = match made {
        Err(e @ OpenError::MemoryLock(_)) => e,
        other => panic!("expected MemoryLock, got {other:?}"),
    };
    let text = err.to_string();
    assert!(
        text.contains("RLIMIT_MEMLOCK") && text.contains("mlock"),
        "{text}"
    );
    // The failed create removed its name and its doorbells.
    assert!(matches!(
        SpscBuilder::new().open(&name),
        Err(OpenError::NotFound)
    ));
    if root {
        let me = rustix::process::getuid().as_raw();
        assert_eq!(me, 65534);
        let leftovers: Vec<_> = std::fs::read_dir("/dev/shm")
            .unwrap()
            .flatten()
            .filter(|e| {
                use std::os::unix::fs::MetadataExt;
                e.metadata().is_ok_and(|m| m.uid() == me)
            })
            .map(|e| e.file_name())
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    }
    // Without the lock the same ring is made: only the lock was refused.
    let ring = SpscBuilder::new()
        .capacity(1 << 20)
        .prefault(true)
        .create(&name)
        .unwrap();
    drop(ring);
    shmring::unlink(&name).unwrap();
    println!("{CHILD_OK}");
}
