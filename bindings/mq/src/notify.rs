//! `struct sigevent` to what a notification does in the registrant's
//! process: queue a signal (`SIGEV_SIGNAL`), start a thread running the
//! caller's function (`SIGEV_THREAD`), or nothing (`SIGEV_NONE`).

use shmring::mq::{Fired, NotifyAction};

/// The fields of glibc's `struct sigevent` this library reads (its
/// first 32 bytes on 64-bit Linux): `sigev_value` at 0, `sigev_signo` at
/// 8, `sigev_notify` at 12, and for `SIGEV_THREAD` the function at 16 and
/// the thread attributes at 24.
#[repr(C)]
pub(crate) struct SigEvent {
    value: usize,
    signo: libc::c_int,
    notify: libc::c_int,
    function: Option<extern "C" fn(usize)>,
    attributes: *const libc::pthread_attr_t,
}

/// Why a `struct sigevent` is refused: `EINVAL`, as Linux says.
pub(crate) struct Invalid(pub(crate) &'static str);

/// The signal numbers Linux accepts in a registration (0 to `_NSIG`,
/// where 0 registers but raises nothing).
fn acceptable_signal(signo: libc::c_int) -> bool {
    (0..=64).contains(&signo)
}

/// What to do when `event`'s registration fires.
///
/// # Safety
/// `event` points to a readable `struct sigevent`; for `SIGEV_THREAD`,
/// its attributes pointer is null or a valid `pthread_attr_t`.
pub(crate) unsafe fn action(event: *const SigEvent) -> Result<NotifyAction, Invalid> {
    // SAFETY: the caller's contract.
    let event = unsafe { &*event };
    let value = event.value;
    match event.notify {
        libc::SIGEV_NONE => Ok(Box::new(|_fired: Fired| {})),
        libc::SIGEV_SIGNAL => {
            let signo = event.signo;
            if !acceptable_signal(signo) {
                return Err(Invalid("not a signal number"));
            }
            Ok(Box::new(move |fired: Fired| {
                if signo != 0 {
                    let _ = shmring::mq::raise_notification(signo, value, fired);
                }
            }))
        }
        libc::SIGEV_THREAD => {
            let Some(function) = event.function else {
                return Err(Invalid("SIGEV_THREAD without a function"));
            };
            // The caller may destroy its attributes once registered: keep
            // what matters of them (the stack size) now.
            let stack_size = if event.attributes.is_null() {
                None
            } else {
                let mut size = 0usize;
                // SAFETY: a valid attributes object (contract); `size` is
                // a valid out-pointer.
                let rc = unsafe { libc::pthread_attr_getstacksize(event.attributes, &mut size) };
                (rc == 0).then_some(size)
            };
            Ok(Box::new(move |_fired: Fired| {
                start_thread(function, value, stack_size)
            }))
        }
        _ => Err(Invalid(
            "sigev_notify is not SIGEV_NONE, SIGEV_SIGNAL or SIGEV_THREAD",
        )),
    }
}

/// Starts the caller's notification function on a detached thread, as
/// glibc's `SIGEV_THREAD` does.
fn start_thread(function: extern "C" fn(usize), value: usize, stack_size: Option<usize>) {
    let mut builder = std::thread::Builder::new().name("mq-notify-fn".into());
    if let Some(size) = stack_size {
        builder = builder.stack_size(size);
    }
    let _ = builder.spawn(move || function(value));
}
