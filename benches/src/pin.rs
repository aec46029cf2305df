//! Pinning the two sides of a row to two different cores, so that a
//! message really crosses between caches and the scheduler cannot put both
//! on one core (which would measure context switches instead).

use rustix::thread::{CpuSet, sched_getaffinity, sched_setaffinity};

/// The two CPUs the benchmark uses: the first two this process may run
/// on. `None` when only one is available (then nothing is pinned).
pub fn cpu_pair() -> Option<(usize, usize)> {
    let set = sched_getaffinity(None).ok()?;
    let mut allowed = (0..CpuSet::MAX_CPU).filter(|&cpu| set.is_set(cpu));
    Some((allowed.next()?, allowed.next()?))
}

/// Pins the calling thread to `cpu`; a failure only costs precision, so
/// it is reported on stderr and the run goes on.
pub fn pin_current_thread(cpu: usize) {
    let mut set = CpuSet::new();
    set.set(cpu);
    if let Err(err) = sched_setaffinity(None, &set) {
        eprintln!("warning: cannot pin to CPU {cpu}: {err}");
    }
}
