//! Every system call the library makes, as safe functions over owned or
//! borrowed file descriptors. Nothing outside `sys/` talks to the kernel.

// Under loom doorbells live on the heap (`wait/doorbell.rs`).
#[cfg_attr(shmring_loom, allow(dead_code))]
pub(crate) mod bell;
#[cfg(not(shmring_loom))]
pub(crate) mod futex;
// Under loom the fences are plain SeqCst fences (`sync.rs`).
#[cfg_attr(shmring_loom, allow(dead_code))]
pub(crate) mod membarrier;
pub(crate) mod ofd_lock;
#[cfg(not(shmring_loom))]
pub(crate) mod peercred;
pub(crate) mod process;
#[cfg(not(shmring_loom))]
pub(crate) mod queue_dir;
pub(crate) mod shm;
#[cfg(not(shmring_loom))]
pub(crate) mod thread;
