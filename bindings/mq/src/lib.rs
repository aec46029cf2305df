//! `libshmring-mq`: the POSIX message-queue API with Linux's signatures
//! and semantics, on shmring's shared-memory queues (`shmring::mq`).
//!
//! Use it either way, without changing the program:
//! - linked: `cc app.c -lshmring-mq` (before `-lrt`/libc, which it
//!   overrides);
//! - preloaded: `LD_PRELOAD=libshmring-mq.so ./app`.
//!
//! A descriptor this library returns is a real file descriptor (a FIFO
//! that holds a byte while a message waits: `poll`, `select` and `epoll`
//! see it readable exactly then). The FIFO is kept only for queues whose
//! descriptors have been handed to `poll`, `ppoll`, `select`, `pselect`
//! or `epoll_ctl`, which this library sees first (`readiness.rs`): until
//! then a message costs no system call. Descriptors of kernel queues, and names
//! that exist as kernel queues, go to the C library's own functions, so
//! a process can use both (`docs/mq.md`, "Names").
//!
//! Why a call failed, in words: `shmring_mq_last_error()`
//! (`include/shmring-mq.h`).
#![allow(unsafe_code)]
// Every exported function is the C ABI of a POSIX function whose pointer
// arguments are the caller's to make valid, as in C; each documents it.
#![allow(clippy::missing_safety_doc)]

mod api;
mod kernel;
mod last_error;
mod notify;
mod readiness;
mod table;

pub use api::*;
pub use last_error::shmring_mq_last_error;
pub use readiness::*;
