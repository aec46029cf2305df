//! POSIX (`mq_overview(7)`) and System V (`sysvipc(7)`) message queues,
//! which rustix does not wrap: the other file of the crate with unsafe
//! code, each call a thin libc wrapper that checks its return value.
#![allow(unsafe_code)]

use crate::Result;
use crate::traffic::{Rx, Tx};
use std::ffi::CString;
use std::io;

/// An open POSIX message queue descriptor, closed on drop.
#[derive(Debug)]
pub struct PosixQueue {
    mqd: libc::mqd_t,
    buf: Vec<u8>,
}

impl PosixQueue {
    /// `mq_open(name, O_CREAT | O_EXCL | O_RDWR, 0600, {maxmsg, msgsize})`.
    pub fn create(name: &str, max_messages: i64, message_size: usize) -> io::Result<PosixQueue> {
        let cname = CString::new(name)?;
        // SAFETY: mq_attr is plain data; all-zero is a valid value.
        let mut attr: libc::mq_attr = unsafe { std::mem::zeroed() };
        attr.mq_maxmsg = max_messages;
        attr.mq_msgsize = message_size as i64;
        // SAFETY: `cname` is NUL-terminated and outlives the call; the
        // variadic mode and attribute pointer are what O_CREAT expects.
        let mqd = unsafe {
            libc::mq_open(
                cname.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_RDWR | libc::O_CLOEXEC,
                0o600 as libc::mode_t,
                &mut attr as *mut libc::mq_attr,
            )
        };
        PosixQueue::checked(mqd, message_size)
    }

    /// `mq_open(name, O_RDWR)`.
    pub fn open(name: &str, message_size: usize) -> io::Result<PosixQueue> {
        let cname = CString::new(name)?;
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        let mqd = unsafe { libc::mq_open(cname.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        PosixQueue::checked(mqd, message_size)
    }

    fn checked(mqd: libc::mqd_t, message_size: usize) -> io::Result<PosixQueue> {
        if mqd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(PosixQueue {
            mqd,
            buf: vec![0; message_size],
        })
    }

    /// `mq_unlink(name)`.
    pub fn unlink(name: &str) -> io::Result<()> {
        let cname = CString::new(name)?;
        // SAFETY: `cname` is NUL-terminated and outlives the call.
        if unsafe { libc::mq_unlink(cname.as_ptr()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl Drop for PosixQueue {
    fn drop(&mut self) {
        // SAFETY: `mqd` came from a successful mq_open and is closed once.
        unsafe { libc::mq_close(self.mqd) };
    }
}

impl Tx for PosixQueue {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        loop {
            // SAFETY: the pointer and length describe `msg`.
            let rc = unsafe { libc::mq_send(self.mqd, msg.as_ptr().cast(), msg.len(), 0) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(format!("mq_send: {err}").into());
            }
        }
    }
}

impl Rx for PosixQueue {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        loop {
            // SAFETY: the pointer and length describe `buf`, which is at
            // least the queue's message size (mq_receive requires that).
            let n = unsafe {
                libc::mq_receive(
                    self.mqd,
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    std::ptr::null_mut(),
                )
            };
            if n >= 0 {
                return Ok(f(&self.buf[..n as usize]));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(format!("mq_receive: {err}").into());
            }
        }
    }
}

/// One direction of a System V message queue: messages of one `mtype`.
#[derive(Debug)]
pub struct SysvQueue {
    id: i32,
    mtype: i64,
    /// `struct msgbuf`: the `long mtype` followed by the text.
    buf: Vec<u8>,
}

const MTYPE_LEN: usize = std::mem::size_of::<libc::c_long>();

impl SysvQueue {
    /// `msgget(IPC_PRIVATE, IPC_CREAT | 0600)`: a new queue's id.
    pub fn create_id() -> io::Result<i32> {
        // SAFETY: no pointers are passed.
        let id = unsafe { libc::msgget(libc::IPC_PRIVATE, libc::IPC_CREAT | 0o600) };
        if id < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(id)
    }

    /// `msgctl(id, IPC_RMID)`: removes the queue (blocked callers get EIDRM).
    pub fn remove_id(id: i32) -> io::Result<()> {
        // SAFETY: IPC_RMID ignores the buffer argument.
        if unsafe { libc::msgctl(id, libc::IPC_RMID, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The direction of queue `id` carrying messages of type `mtype`.
    pub fn new(id: i32, mtype: i64, message_size: usize) -> SysvQueue {
        let mut buf = vec![0; MTYPE_LEN + message_size];
        buf[..MTYPE_LEN].copy_from_slice(&(mtype as libc::c_long).to_ne_bytes());
        SysvQueue { id, mtype, buf }
    }
}

impl Tx for SysvQueue {
    fn send(&mut self, msg: &[u8]) -> Result<()> {
        if msg.len() > self.buf.len() - MTYPE_LEN {
            return Err("message larger than the queue's buffer".into());
        }
        // msgsnd takes the type and the text in one buffer: one copy here.
        self.buf[MTYPE_LEN..MTYPE_LEN + msg.len()].copy_from_slice(msg);
        loop {
            // SAFETY: `buf` holds the mtype and `msg.len()` bytes of text.
            let rc = unsafe { libc::msgsnd(self.id, self.buf.as_ptr().cast(), msg.len(), 0) };
            if rc == 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(format!("msgsnd: {err}").into());
            }
        }
    }
}

impl Rx for SysvQueue {
    fn recv<T>(&mut self, f: impl FnOnce(&[u8]) -> T) -> Result<T> {
        let capacity = self.buf.len() - MTYPE_LEN;
        loop {
            // SAFETY: `buf` has room for the mtype and `capacity` bytes.
            let n = unsafe {
                libc::msgrcv(
                    self.id,
                    self.buf.as_mut_ptr().cast(),
                    capacity,
                    self.mtype,
                    0,
                )
            };
            if n >= 0 {
                return Ok(f(&self.buf[MTYPE_LEN..MTYPE_LEN + n as usize]));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(format!("msgrcv: {err}").into());
            }
        }
    }
}
