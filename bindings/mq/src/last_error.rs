//! The calling thread's last error, in words, and `errno`.

use std::cell::RefCell;
use std::ffi::{CString, c_char};

thread_local! {
    static LAST: RefCell<CString> = RefCell::new(CString::default());
}

/// Sets `errno` to `errno` and the thread's last error to `why`; returns
/// -1 for the caller to return.
pub(crate) fn fail(errno: i32, why: &str) -> i32 {
    LAST.with(|last| {
        *last.borrow_mut() = CString::new(why).unwrap_or_default();
    });
    // SAFETY: `__errno_location` returns the calling thread's errno slot.
    unsafe { *libc::__errno_location() = errno };
    -1
}

/// Why the calling thread's last failed `mq_*` call of this library
/// failed, in words ("" if none yet). The string belongs to the thread
/// and stays valid until its next failing call.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_mq_last_error() -> *const c_char {
    LAST.with(|last| last.borrow().as_ptr())
}
