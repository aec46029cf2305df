//! Fault injection and soak for shmring (work in progress).
