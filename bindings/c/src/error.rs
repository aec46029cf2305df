//! Error codes, `shmring_strerror`, and the thread-local last-error
//! message.
#![allow(unsafe_code)] // `#[unsafe(no_mangle)]` on the exported functions

use shmring_core::broker::BrokerError;
use shmring_core::{AttachError, OpenError, RecvStop, SendStop};
use std::borrow::Cow;
use std::cell::RefCell;
use std::ffi::{CStr, CString, c_char, c_int};

/// Status codes. Every function returns `SHMRING_OK` (0) or one of the
/// negative codes below, as an `int` (the `*_fd` functions return a
/// descriptor, >= 0, instead of `SHMRING_OK`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum shmring_error {
    /// Success.
    SHMRING_OK = 0,
    /// An argument is invalid: a NULL pointer, a zero size, a value out
    /// of range.
    SHMRING_E_INVALID = -1,
    /// The handle is not open: closed already, never returned by an open
    /// function, or a handle of another type. Detected reliably (handles
    /// carry a generation number); the stale handle is never dereferenced.
    SHMRING_E_BAD_HANDLE = -2,
    /// A live process holds the role (producer, consumer, publisher)
    /// already; or an exclusive handle was caught in use by another thread
    /// (best-effort detection of a misuse, see the thread rules).
    SHMRING_E_BUSY = -3,
    /// The call is not allowed in the handle's current state: commit
    /// without a reservation, release without a peeked message, send while
    /// a reservation is open, receive while a message is peeked.
    SHMRING_E_STATE = -4,
    /// No room in the ring now (`try_send`, `reserve` with timeout 0).
    SHMRING_E_FULL = -5,
    /// No message now (`try_recv`, `peek` with timeout 0).
    SHMRING_E_EMPTY = -6,
    /// The timeout expired.
    SHMRING_E_TIMEOUT = -7,
    /// The other side is gone: sending, no receiver will ever read;
    /// receiving, every sender is gone and the ring is drained (end of file).
    SHMRING_E_DISCONNECTED = -8,
    /// The message is longer than the ring's maximum message size.
    SHMRING_E_TOO_LARGE = -9,
    /// The caller's buffer is smaller than the message. The length needed
    /// is stored in `*len`; the message is not lost (see the receive
    /// functions).
    SHMRING_E_BUFFER_TOO_SMALL = -10,
    /// No segment has this name.
    SHMRING_E_NOT_FOUND = -11,
    /// A segment with this name exists already.
    SHMRING_E_EXISTS = -12,
    /// The segment's owner and mode do not allow this; or, connecting, the
    /// client refused the broker: its daemon runs as another user (not
    /// this one, not root, not `$SHMRING_DAEMON_UID`) or the default
    /// socket path's directory could have been planted by another user
    /// (see docs/security.md).
    SHMRING_E_PERMISSION = -13,
    /// Not a valid segment name (1 to 250 bytes, no '/' except one
    /// leading) or not valid UTF-8.
    SHMRING_E_BAD_NAME = -14,
    /// The ring geometry is not allowed (capacity, message size, slots,
    /// priorities); the last-error message says what to fix.
    SHMRING_E_BAD_CONFIG = -15,
    /// The segment holds another kind of ring or an incompatible layout
    /// version, or the broker speaks another protocol version.
    SHMRING_E_INCOMPATIBLE = -16,
    /// The ring's shared memory is not valid (a peer wrote garbage).
    SHMRING_E_CORRUPT = -17,
    /// A limit was reached: no space in /dev/shm, a broker limit, 32
    /// endpoints per MPMC side, every subscriber entry of a
    /// publish/subscribe ring taken, or the handle table is full.
    SHMRING_E_LIMIT = -18,
    /// No broker listens at the socket path.
    SHMRING_E_NO_BROKER = -19,
    /// The broker refused the request or broke the protocol.
    SHMRING_E_BROKER = -20,
    /// Another operating-system error.
    SHMRING_E_IO = -21,
    /// A bug inside the library: a Rust panic was caught at the boundary.
    /// The handle used may be in an unspecified (but memory-safe) state.
    SHMRING_E_INTERNAL = -22,
    /// A lossy publish/subscribe ring overwrote messages this subscriber
    /// had not read; `shmring_subscriber_missed` says how many in all.
    /// The next receive goes on with the oldest message still there.
    SHMRING_E_LAGGED = -23,
}

use shmring_error::*;

const ALL: [shmring_error; 24] = [
    SHMRING_OK,
    SHMRING_E_INVALID,
    SHMRING_E_BAD_HANDLE,
    SHMRING_E_BUSY,
    SHMRING_E_STATE,
    SHMRING_E_FULL,
    SHMRING_E_EMPTY,
    SHMRING_E_TIMEOUT,
    SHMRING_E_DISCONNECTED,
    SHMRING_E_TOO_LARGE,
    SHMRING_E_BUFFER_TOO_SMALL,
    SHMRING_E_NOT_FOUND,
    SHMRING_E_EXISTS,
    SHMRING_E_PERMISSION,
    SHMRING_E_BAD_NAME,
    SHMRING_E_BAD_CONFIG,
    SHMRING_E_INCOMPATIBLE,
    SHMRING_E_CORRUPT,
    SHMRING_E_LIMIT,
    SHMRING_E_NO_BROKER,
    SHMRING_E_BROKER,
    SHMRING_E_IO,
    SHMRING_E_INTERNAL,
    SHMRING_E_LAGGED,
];

impl shmring_error {
    /// The code as returned to C.
    pub fn code(self) -> c_int {
        self as c_int
    }

    /// The error with this code, if any.
    pub fn from_code(code: c_int) -> Option<shmring_error> {
        ALL.iter().copied().find(|e| e.code() == code)
    }

    /// The static description `shmring_strerror` returns.
    pub fn describe(self) -> &'static CStr {
        match self {
            SHMRING_OK => c"success",
            SHMRING_E_INVALID => {
                c"invalid argument (NULL pointer, zero size or value out of range)"
            }
            SHMRING_E_BAD_HANDLE => {
                c"not an open handle (closed, never opened, or of another type)"
            }
            SHMRING_E_BUSY => {
                c"busy (role held by a live process, or handle in use by another thread)"
            }
            SHMRING_E_STATE => c"not allowed in the handle's current state",
            SHMRING_E_FULL => c"the ring is full",
            SHMRING_E_EMPTY => c"the ring is empty",
            SHMRING_E_TIMEOUT => c"timed out",
            SHMRING_E_DISCONNECTED => c"the other side is gone",
            SHMRING_E_TOO_LARGE => c"message larger than the ring's maximum message size",
            SHMRING_E_BUFFER_TOO_SMALL => c"buffer too small for the message (it stays queued)",
            SHMRING_E_NOT_FOUND => c"no segment with this name",
            SHMRING_E_EXISTS => c"a segment with this name already exists",
            SHMRING_E_PERMISSION => c"permission denied",
            SHMRING_E_BAD_NAME => c"invalid segment name",
            SHMRING_E_BAD_CONFIG => c"invalid ring configuration",
            SHMRING_E_INCOMPATIBLE => c"incompatible ring kind, layout or protocol version",
            SHMRING_E_CORRUPT => c"the ring's shared memory is corrupt",
            SHMRING_E_LIMIT => c"a limit was reached",
            SHMRING_E_NO_BROKER => c"no broker at the socket path",
            SHMRING_E_BROKER => c"the broker refused the request",
            SHMRING_E_IO => c"operating-system error",
            SHMRING_E_INTERNAL => c"internal error (a bug in shmring; please report)",
            SHMRING_E_LAGGED => c"messages lost to a lossy publisher",
        }
    }
}

/// A failed call: the code returned and the detail kept for
/// `shmring_last_error`.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: shmring_error,
    pub(crate) detail: Cow<'static, str>,
}

impl Failure {
    pub(crate) fn new(code: shmring_error, detail: impl Into<Cow<'static, str>>) -> Failure {
        Failure {
            code,
            detail: detail.into(),
        }
    }
}

/// Shorthand for `Err(Failure::new(..))`.
pub(crate) fn fail<T>(code: shmring_error, detail: &'static str) -> Result<T, Failure> {
    Err(Failure::new(code, detail))
}

/// This thread's last failure: the detail as recorded (no allocation for
/// a static text, so polling with `try_recv` stays cheap) and the C string
/// made from it when `shmring_last_error` asks.
#[derive(Debug, Default)]
struct LastError {
    detail: Option<Cow<'static, str>>,
    c_string: Option<CString>,
}

thread_local! {
    static LAST_ERROR: RefCell<LastError> = const {
        RefCell::new(LastError {
            detail: None,
            c_string: None,
        })
    };
}

/// Records `failure` as this thread's last error and returns its code.
pub(crate) fn record(failure: Failure) -> c_int {
    let code = failure.code.code();
    // `try_with`: during thread teardown the slot may be gone already.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut last) = slot.try_borrow_mut() {
            last.detail = Some(failure.detail);
            last.c_string = None;
        }
    });
    code
}

/// A static, NUL-terminated description of `code` (never NULL; an unknown
/// code gets "unknown error code").
#[unsafe(no_mangle)]
pub extern "C" fn shmring_strerror(code: c_int) -> *const c_char {
    match shmring_error::from_code(code) {
        Some(e) => e.describe().as_ptr(),
        None => c"unknown error code".as_ptr(),
    }
}

/// Detail on the last failure of a shmring function in the calling
/// thread, e.g. "open \"orders\": no shared-memory segment with this
/// name". Never NULL; "" if nothing failed yet in this thread. Successful
/// calls do not clear it (like `errno`). The string stays valid until the
/// next shmring call in the same thread fails; copy it to keep it.
#[unsafe(no_mangle)]
pub extern "C" fn shmring_last_error() -> *const c_char {
    LAST_ERROR
        .try_with(|slot| {
            let Ok(mut last) = slot.try_borrow_mut() else {
                return c"".as_ptr();
            };
            if last.c_string.is_none() {
                let text = last.detail.as_deref().unwrap_or("");
                // A detail never holds NUL; if it did, cut it there.
                let text = text.split('\0').next().unwrap_or("");
                last.c_string = CString::new(text).ok();
            }
            // The CString's buffer lives in the thread-local until the
            // next failure of this thread replaces it.
            last.c_string.as_deref().unwrap_or(c"").as_ptr()
        })
        .unwrap_or(c"".as_ptr())
}

// ---- mapping the Rust errors onto codes -------------------------------

fn open_code(e: &OpenError) -> shmring_error {
    match e {
        OpenError::NotFound => SHMRING_E_NOT_FOUND,
        OpenError::AlreadyExists => SHMRING_E_EXISTS,
        OpenError::PermissionDenied => SHMRING_E_PERMISSION,
        OpenError::InvalidName => SHMRING_E_BAD_NAME,
        OpenError::InvalidConfig(_) => SHMRING_E_BAD_CONFIG,
        OpenError::VersionMismatch { .. } | OpenError::WrongKind { .. } => SHMRING_E_INCOMPATIBLE,
        OpenError::NotInitialized => SHMRING_E_TIMEOUT,
        OpenError::Corrupt(_) => SHMRING_E_CORRUPT,
        OpenError::NoSpace => SHMRING_E_LIMIT,
        _ => SHMRING_E_IO,
    }
}

fn attach_code(e: &AttachError) -> shmring_error {
    match e {
        AttachError::Busy { .. } => SHMRING_E_BUSY,
        AttachError::Corrupt(_) => SHMRING_E_CORRUPT,
        AttachError::TooManyEndpoints => SHMRING_E_LIMIT,
        _ => SHMRING_E_IO,
    }
}

pub(crate) fn open_failure(what: &str, name: &str, e: OpenError) -> Failure {
    Failure::new(open_code(&e), format!("{what} {name:?}: {e}"))
}

pub(crate) fn attach_failure(what: &str, e: AttachError) -> Failure {
    Failure::new(attach_code(&e), format!("{what}: {e}"))
}

pub(crate) fn broker_failure(what: &str, e: BrokerError) -> Failure {
    let code = match &e {
        BrokerError::BrokerUnavailable(_) => SHMRING_E_NO_BROKER,
        BrokerError::ProtocolVersion(_) | BrokerError::WrongKind(_) => SHMRING_E_INCOMPATIBLE,
        BrokerError::PermissionDenied(_)
        | BrokerError::UntrustedDaemon { .. }
        | BrokerError::UntrustedSocketDir { .. } => SHMRING_E_PERMISSION,
        BrokerError::NotFound(_) => SHMRING_E_NOT_FOUND,
        BrokerError::AlreadyExists(_) => SHMRING_E_EXISTS,
        BrokerError::LimitExceeded(_) | BrokerError::NoSpace(_) => SHMRING_E_LIMIT,
        BrokerError::InvalidArgument(_) => SHMRING_E_BAD_CONFIG,
        BrokerError::Open(o) => open_code(o),
        BrokerError::Attach(a) => attach_code(a),
        BrokerError::Io(_) => SHMRING_E_IO,
        _ => SHMRING_E_BROKER,
    };
    Failure::new(code, format!("{what}: {e}"))
}

/// Why a send or a reservation did not happen, as a code. `Full` comes
/// only from a call that was not to wait, `Timeout` only from one with a
/// deadline, so the core's outcome says which code the caller expects.
pub(crate) fn send_failure(stop: SendStop) -> Failure {
    match stop {
        SendStop::Full => Failure::new(SHMRING_E_FULL, "the ring is full"),
        SendStop::Timeout => {
            Failure::new(SHMRING_E_TIMEOUT, "timed out waiting for room in the ring")
        }
        SendStop::Disconnected => {
            Failure::new(SHMRING_E_DISCONNECTED, "the receiving side is gone")
        }
        SendStop::TooLarge => Failure::new(
            SHMRING_E_TOO_LARGE,
            "the message is larger than the ring's maximum message size",
        ),
        SendStop::Corrupt(c) => Failure::new(SHMRING_E_CORRUPT, c.to_string()),
    }
}

/// Why no message was returned, as a code (`Empty` and `Timeout` as for
/// [`send_failure`]).
pub(crate) fn recv_failure(stop: RecvStop) -> Failure {
    match stop {
        RecvStop::Empty => Failure::new(SHMRING_E_EMPTY, "the ring is empty"),
        RecvStop::Timeout => Failure::new(SHMRING_E_TIMEOUT, "timed out waiting for a message"),
        RecvStop::Disconnected => Failure::new(
            SHMRING_E_DISCONNECTED,
            "the sending side is gone and the ring is drained",
        ),
        RecvStop::Corrupt(c) => Failure::new(SHMRING_E_CORRUPT, c.to_string()),
        RecvStop::Lagged(n) => Failure::new(
            SHMRING_E_LAGGED,
            format!("lost {n} messages to the publisher (the subscriber fell a ring behind)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_round_trips_and_has_a_description() {
        for e in ALL {
            assert_eq!(shmring_error::from_code(e.code()), Some(e));
            assert!(!e.describe().to_bytes().is_empty());
        }
        assert_eq!(shmring_error::from_code(1), None);
    }

    #[test]
    fn an_untrusted_broker_is_a_permission_error() {
        let daemon = BrokerError::UntrustedDaemon {
            path: "/tmp/x/broker.sock".into(),
            uid: 65534,
            pid: 1,
        };
        let dir = BrokerError::UntrustedSocketDir {
            path: "/tmp/x".into(),
            why: "is writable by group or others".into(),
        };
        for e in [daemon, dir] {
            let failure = broker_failure("connect", e);
            assert_eq!(failure.code, SHMRING_E_PERMISSION);
            assert!(failure.detail.contains("refusing"), "{}", failure.detail);
        }
    }
}
