//! Asymmetric memory barriers with `membarrier(2)`.
//!
//! Every process that attaches to a ring registers for
//! `MEMBARRIER_CMD_GLOBAL_EXPEDITED`. A side that is about to sleep issues
//! that command: the kernel then runs a full barrier on every CPU that is
//! executing a registered process, which lets the senders' fast path use a
//! compiler fence where it would otherwise need an `mfence` per message.
//! Where the kernel (or a seccomp filter) refuses, both paths fall back to
//! `fence(SeqCst)`. See `sync.rs` for the pairing.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use rustix::thread::{MembarrierCommand, membarrier};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering, fence};

static REGISTER: Once = Once::new();
/// True once this process is registered, so its fast path may rely on
/// other processes' heavy barriers. Written once under `REGISTER`.
static REGISTERED: AtomicBool = AtomicBool::new(false);

/// Registers this process for global expedited barriers
/// (`membarrier(MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED)`, membarrier(2)).
/// Idempotent; called whenever a ring endpoint attaches.
pub(crate) fn register() {
    REGISTER.call_once(|| {
        let ok = membarrier(MembarrierCommand::RegisterGlobalExpedited).is_ok()
            && membarrier(MembarrierCommand::GlobalExpedited).is_ok();
        // Relaxed: `Once` orders this store before every later
        // `call_once` return, and readers that race with it merely take
        // the always-correct `fence(SeqCst)` path.
        REGISTERED.store(ok, Ordering::Relaxed);
    });
}

/// Whether this process may use compiler-only fences on its fast path.
#[inline(always)]
pub(crate) fn asymmetric_fences_enabled() -> bool {
    REGISTERED.load(Ordering::Relaxed)
}

/// Full barrier on this CPU and on every CPU running a registered process
/// (`membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)`). Returns false when the
/// kernel refused: the caller must then not rely on other processes'
/// light fences and has to poll instead of sleeping indefinitely.
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    membarrier(MembarrierCommand::GlobalExpedited).is_ok()
}
