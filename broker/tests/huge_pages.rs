//! Broker segments on huge pages (`CreateOptions::huge_pages`, `shmring
//! create --huge-pages`): refused with a clear error while no huge page
//! is free, and, where this test may reserve a few (root), laid out on
//! them, rounded up to whole pages and carrying messages. One test, so
//! that the two halves never see each other's reservation.

mod common;

use common::{Daemon, stdout};
use shmring::broker::{BrokerError, CreateOptions};
use shmring::prelude::*;

/// A field of /proc/meminfo (in kB for sizes, pages for counts).
fn meminfo(field: &str) -> Option<u64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

const NR_HUGEPAGES: &str = "/proc/sys/vm/nr_hugepages";

/// Puts `nr_hugepages` back on drop.
struct Reservation {
    before: String,
}

impl Reservation {
    /// Asks for `pages` huge pages; `None` if that cannot be done here
    /// (not root, no hugetlb, no memory for them).
    fn reserve(pages: u64) -> Option<Reservation> {
        let before = std::fs::read_to_string(NR_HUGEPAGES).ok()?;
        let had: u64 = before.trim().parse().ok()?;
        std::fs::write(NR_HUGEPAGES, format!("{}\n", had + pages)).ok()?;
        let guard = Reservation { before };
        (meminfo("HugePages_Free")? >= pages).then_some(guard)
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let _ = std::fs::write(NR_HUGEPAGES, &self.before);
    }
}

/// `KernelPageSize` (kB) of this process's mapping whose path contains
/// `needle`.
fn kernel_page_kb(needle: &str) -> Option<u64> {
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    let mut inside = false;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            inside = line.contains(needle);
        } else if inside && let Some(rest) = line.strip_prefix("KernelPageSize:") {
            return rest.split_whitespace().next()?.parse().ok();
        }
    }
    None
}

#[test]
fn huge_pages_are_refused_clearly_without_a_pool_and_used_with_one() {
    let Some(huge_kb) = meminfo("Hugepagesize") else {
        eprintln!("skipped: no hugetlb in this kernel");
        return;
    };
    let huge = huge_kb * 1024;
    let d = Daemon::start(None);
    let mut c = d.client();
    let options = CreateOptions::spsc(1 << 16).huge_pages(true);

    // An empty pool: a clear refusal, and nothing left behind.
    if meminfo("HugePages_Free") == Some(0) {
        match c.create("huge-refused", &options) {
            Err(BrokerError::NoSpace(why)) => {
                assert!(why.contains("/proc/sys/vm/nr_hugepages"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        assert!(c.list().unwrap().is_empty());
        let out = d.cli(
            &["create", "huge-cli", "--kind", "spsc", "--huge-pages"],
            b"",
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("nr_hugepages"), "{err}");
    } else {
        eprintln!("refusal half skipped: huge pages are free on this machine");
    }

    // A pool of a few pages, if this test may make one.
    let Some(_pool) = Reservation::reserve(4) else {
        eprintln!("success half skipped: could not reserve huge pages");
        return;
    };
    let info = c.create("huge-ok", &options).unwrap();
    // 768 + 64 KiB of ring + 256 of counters, rounded up to one whole huge page.
    assert_eq!(info.size, huge);
    let ring = c.open_spsc("huge-ok").unwrap();
    assert_eq!(ring.capacity(), 1 << 16);
    assert_eq!(
        kernel_page_kb("/memfd:shmring:huge-ok"),
        Some(huge_kb),
        "mapped on huge pages"
    );
    let (mut tx, mut rx) = (ring.producer().unwrap(), ring.consumer().unwrap());
    for i in 0..10_000u32 {
        tx.send(&i.to_le_bytes()).unwrap();
        assert_eq!(&*rx.recv().unwrap(), &i.to_le_bytes());
    }
    drop((tx, rx, ring));
    // Another client, prefaulting and locking its mapping, attaches too
    // (the consumer has gone: the message stays in the ring).
    let mut other = d.client().with_prefault(true).with_lock_memory(true);
    let mut producer = other.producer("huge-ok").unwrap();
    assert!(matches!(
        producer.try_send(b"on huge pages"),
        Err(shmring::TrySendError::Disconnected(_))
    ));
    drop(producer);
    let out = d.cli(
        &["create", "huge-cli", "--kind", "mpmc", "--huge-pages"],
        b"",
    );
    assert!(out.status.success(), "{out:?}");
    let size = c.stat("huge-cli").unwrap().size;
    assert!(size % huge == 0 && size > 0, "{size}");
    assert!(
        stdout(&out).contains(&shmring::human::Bytes(size).to_string()),
        "{}",
        stdout(&out)
    );
    for name in ["huge-ok", "huge-cli"] {
        c.unlink(name).unwrap();
    }
    assert!(c.list().unwrap().is_empty());
}
