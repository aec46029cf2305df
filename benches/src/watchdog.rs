//! A row that stops making progress (a peer that crashed where the
//! mechanism cannot notice, like a message queue) must not hang
//! `cargo bench`: past its limit, the watchdog kills the peer, removes
//! what would keep a blocked call waiting, and ends the bench with an
//! error naming the row.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Armed {
    row: String,
    deadline: Instant,
    peer_pid: Option<u32>,
    sysv_ids: Vec<i32>,
    tags: Vec<String>,
}

/// Shared by the bench thread and the watching thread.
#[derive(Debug, Clone, Default)]
pub struct Watchdog {
    armed: Arc<Mutex<Option<Armed>>>,
}

impl Watchdog {
    /// Starts the watching thread.
    pub fn start() -> Watchdog {
        let dog = Watchdog::default();
        let armed = dog.armed.clone();
        std::thread::spawn(move || {
            loop {
                std::thread::sleep(Duration::from_millis(100));
                let guard = armed.lock().unwrap_or_else(|e| e.into_inner());
                if let Some(a) = guard.as_ref().filter(|a| Instant::now() > a.deadline) {
                    eprintln!(
                        "\nrow '{}' is hung (no result within its limit); stopping",
                        a.row
                    );
                    if let Some(pid) = a
                        .peer_pid
                        .and_then(|p| rustix::process::Pid::from_raw(p as i32))
                    {
                        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                    }
                    for &id in &a.sysv_ids {
                        let _ = crate::link::kernel_queues::SysvQueue::remove_id(id);
                    }
                    crate::link::Cleanup::remove_files_of(&a.tags);
                    std::process::exit(3);
                }
            }
        });
        dog
    }

    /// Watches a row for `limit` from now.
    pub fn arm(&self, row: &str, limit: Duration) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = Some(Armed {
            row: row.to_string(),
            deadline: Instant::now() + limit,
            peer_pid: None,
            sysv_ids: Vec::new(),
            tags: Vec::new(),
        });
    }

    /// What to kill and remove if the armed row hangs: the peer, System V
    /// queues, the files of the row tags (iceoryx2's).
    pub fn track(&self, peer_pid: u32, sysv_ids: &[i32], tags: Vec<String>) {
        if let Some(a) = self
            .armed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            a.peer_pid = Some(peer_pid);
            a.sysv_ids = sysv_ids.to_vec();
            a.tags = tags;
        }
    }

    /// The row ended.
    pub fn disarm(&self) {
        *self.armed.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
