//! The C API of shmring (work in progress).
