//! A process-shared, robust `pthread_mutex_t` in shared memory
//! (pthread_mutexattr_setpshared(3), pthread_mutexattr_setrobust(3)).
//!
//! Robust means the kernel stands in for a holder that dies: the dying
//! thread's robust list (set_robust_list(2)) names the mutexes it holds,
//! and at its exit the kernel marks each "owner died" and wakes a
//! waiter, whose lock then returns `EOWNERDEAD`. The kernel walks the
//! dying thread's own list and matches its own thread id in the word, so
//! this works across PID namespaces, behind `hidepid`, and between uids,
//! where a pid read from shared memory says nothing.
//!
//! Used only on rare or bounded paths (the POSIX message queue's list
//! updates), never to wait for a message: waiting is on futexes.
#![allow(unsafe_code)]
// The C mutex lives in shared memory that loom never models: std's cell.
#![allow(clippy::disallowed_types)]

use rustix::io::Errno;
use std::cell::UnsafeCell;

/// Bytes the mutex takes in shared memory (`sizeof(pthread_mutex_t)`).
pub(crate) const SIZE: usize = std::mem::size_of::<libc::pthread_mutex_t>();

/// A `pthread_mutex_t` somewhere in a shared mapping.
#[repr(transparent)]
pub(crate) struct RobustMutex(UnsafeCell<libc::pthread_mutex_t>);

// SAFETY: a process-shared pthread mutex is made to be used from many
// threads (and processes) at once; all access goes through the pthread
// functions, which synchronise internally.
unsafe impl Sync for RobustMutex {}

impl std::fmt::Debug for RobustMutex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RobustMutex")
    }
}

/// How [`RobustMutex::lock`] got the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Locked {
    /// The usual case: the data it guards is as the last holder left it.
    Clean,
    /// The last holder died holding it: the data may be half-updated and
    /// must be repaired before [`RobustMutex::mark_consistent`].
    OwnerDied,
}

/// Failed `trylock`s before [`RobustMutex::lock`] sleeps: a few
/// microseconds, longer than any hold of the queue's mutex.
const SPIN_TRIES: u32 = 200;

fn check(rc: libc::c_int) -> Result<(), Errno> {
    if rc == 0 {
        Ok(())
    } else {
        Err(Errno::from_raw_os_error(rc))
    }
}

impl RobustMutex {
    /// The mutex at `ptr`.
    ///
    /// # Safety
    /// - `ptr` is aligned for `pthread_mutex_t` and valid for [`SIZE`]
    ///   bytes of reads and writes for `'a`;
    /// - those bytes are used only as this mutex by every process that
    ///   maps them.
    pub(crate) unsafe fn at<'a>(ptr: *mut u8) -> &'a RobustMutex {
        // SAFETY: the caller vouches for alignment, size and lifetime;
        // `RobustMutex` is a transparent wrapper around the C type.
        unsafe { &*ptr.cast::<RobustMutex>() }
    }

    /// Initialises the mutex: process-shared and robust. Only the
    /// creator of the memory calls it, before anyone else can see it.
    pub(crate) fn init(&self) -> Result<(), Errno> {
        let mut attr = std::mem::MaybeUninit::<libc::pthread_mutexattr_t>::uninit();
        // SAFETY: `attr` is initialised by `pthread_mutexattr_init` before
        // any other use and destroyed at the end; the mutex storage is
        // valid (constructor contract) and nobody else uses it yet.
        unsafe {
            check(libc::pthread_mutexattr_init(attr.as_mut_ptr()))?;
            let result = (|| {
                check(libc::pthread_mutexattr_setpshared(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_PROCESS_SHARED,
                ))?;
                check(libc::pthread_mutexattr_setrobust(
                    attr.as_mut_ptr(),
                    libc::PTHREAD_MUTEX_ROBUST,
                ))?;
                check(libc::pthread_mutex_init(self.0.get(), attr.as_ptr()))
            })();
            libc::pthread_mutexattr_destroy(attr.as_mut_ptr());
            result
        }
    }

    /// Takes the mutex, waiting while another thread holds it, until the
    /// realtime clock reaches `deadline` (`None`: for ever; then
    /// `ETIMEDOUT`, pthread_mutex_timedlock(3)): a holder that is stopped,
    /// or a peer that wrote "locked" into the mutex, cannot make a timed
    /// call overrun its deadline. `Err` also if the mutex is unusable: a
    /// holder died and the one who got `OwnerDied` unlocked without
    /// [`mark_consistent`](Self::mark_consistent) (`ENOTRECOVERABLE`), or
    /// a peer overwrote it with garbage.
    pub(crate) fn lock_until(
        &self,
        deadline: Option<std::time::SystemTime>,
    ) -> Result<Locked, Errno> {
        // glibc's robust mutexes never spin: a contended lock sleeps in
        // the kernel at once, which costs two system calls and a wake-up
        // for a hold of a few hundred nanoseconds. Try a while first.
        for _ in 0..SPIN_TRIES {
            // SAFETY: the storage is a valid mutex (constructor contract).
            match unsafe { libc::pthread_mutex_trylock(self.0.get()) } {
                0 => return Ok(Locked::Clean),
                libc::EOWNERDEAD => return Ok(Locked::OwnerDied),
                libc::EBUSY => {
                    for _ in 0..16 {
                        std::hint::spin_loop();
                    }
                }
                e => return Err(Errno::from_raw_os_error(e)),
            }
        }
        let rc = match deadline {
            // SAFETY: the storage is a valid mutex (constructor contract).
            None => unsafe { libc::pthread_mutex_lock(self.0.get()) },
            Some(deadline) => {
                let since = deadline
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap_or_default();
                let ts = libc::timespec {
                    tv_sec: since.as_secs().min(i64::MAX as u64) as libc::time_t,
                    tv_nsec: libc::c_long::from(since.subsec_nanos() as i32),
                };
                // SAFETY: a valid mutex and a valid, borrowed timespec.
                unsafe { libc::pthread_mutex_timedlock(self.0.get(), &ts) }
            }
        };
        match rc {
            0 => Ok(Locked::Clean),
            libc::EOWNERDEAD => Ok(Locked::OwnerDied),
            e => Err(Errno::from_raw_os_error(e)),
        }
    }

    /// Tells the mutex that the data a dead holder left has been
    /// repaired; only after an [`Locked::OwnerDied`] lock, before unlock.
    pub(crate) fn mark_consistent(&self) -> Result<(), Errno> {
        // SAFETY: the storage is a valid mutex, held by this thread.
        check(unsafe { libc::pthread_mutex_consistent(self.0.get()) })
    }

    /// Releases the mutex this thread holds.
    pub(crate) fn unlock(&self) {
        // SAFETY: the storage is a valid mutex, held by this thread (every
        // caller pairs it with a successful `lock`). An error (EPERM: not
        // the holder) cannot happen then and has nobody to go to.
        unsafe { libc::pthread_mutex_unlock(self.0.get()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_that_dies_hands_over_a_lock_that_says_so() {
        let mut map = memmap2::MmapOptions::new().len(4096).map_anon().unwrap();
        let ptr = map.as_mut_ptr();
        // SAFETY: the mapping is page-aligned, 4096 bytes, used only here.
        let mutex = unsafe { RobustMutex::at(ptr) };
        mutex.init().unwrap();
        assert_eq!(mutex.lock_until(None), Ok(Locked::Clean));
        mutex.unlock();
        // A thread that exits holding the lock: the kernel's robust-list
        // walk at its exit marks the owner dead.
        let addr = ptr as usize;
        std::thread::spawn(move || {
            // SAFETY: as above; the mapping outlives the thread (joined).
            let m = unsafe { RobustMutex::at(addr as *mut u8) };
            assert_eq!(m.lock_until(None), Ok(Locked::Clean));
        })
        .join()
        .unwrap();
        assert_eq!(mutex.lock_until(None), Ok(Locked::OwnerDied));
        mutex.mark_consistent().unwrap();
        mutex.unlock();
        assert_eq!(mutex.lock_until(None), Ok(Locked::Clean));
        mutex.unlock();
        drop(map);
    }
}
