//! Every system call the library makes, as safe functions over owned or
//! borrowed file descriptors. Nothing outside `sys/` talks to the kernel.

pub(crate) mod futex;
pub(crate) mod membarrier;
pub(crate) mod process;
pub(crate) mod shm;
