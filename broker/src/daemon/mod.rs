//! `shmringd`: files, segment table and event loop.

pub mod args;
pub mod closer;
pub mod runtime;
pub mod segments;
pub mod server;
pub mod systemd;

use crate::config::Config;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

/// Runs the daemon in the foreground until SIGTERM or SIGINT; removes its
/// socket and lock file on the way out. No systemd: see [`serve`].
pub fn run(socket: &Path, config: Config, config_path: Option<PathBuf>) -> Result<(), String> {
    serve(socket, None, config, config_path)
}

/// [`run`], as `shmringd` does it under systemd: with `systemd` (read by
/// [`systemd::Activation::from_env`]), serves on the socket systemd passed
/// if there is one (and then ignores `socket`, and leaves the socket file
/// in place at exit), and sends `READY=1`, `RELOADING=1`, `STOPPING=1`
/// and watchdog pings to `$NOTIFY_SOCKET` if it is set.
pub fn serve(
    socket: &Path,
    systemd: Option<systemd::Activation>,
    config: Config,
    config_path: Option<PathBuf>,
) -> Result<(), String> {
    raise_fd_limit();
    let (activated, notifier) = match systemd {
        Some(a) => (a.socket, Some(systemd::Notifier::new(a.watchdog))),
        None => (None, None),
    };
    let from_systemd = activated.is_some();
    let runtime = match activated {
        Some(activated) => runtime::Runtime::activated(activated)?,
        None => runtime::Runtime::start(socket, &config.modes)?,
    };
    let (stop, reload) = signal_pipes().map_err(|e| format!("signal handlers: {e}"))?;
    let listener = runtime
        .listener
        .try_clone()
        .map_err(|e| format!("listener: {e}"))?;
    let mut server = server::Server::new(listener, [stop, reload], config, config_path)
        .map_err(|e| format!("event loop: {e}"))?;
    tracing::info!(
        socket = %runtime.socket_path.display(),
        pid = std::process::id(),
        from_systemd,
        "shmringd ready"
    );
    if let Some(notifier) = notifier {
        let passed = if from_systemd {
            " (socket from systemd)"
        } else {
            ""
        };
        let status = format!("serving on {}{passed}", runtime.socket_path.display());
        server.notify_systemd(notifier, &status);
    }
    let result = server.run().map_err(|e| format!("event loop: {e}"));
    drop(server);
    runtime.cleanup();
    tracing::info!("stopped");
    result
}

/// Self-pipes: SIGTERM and SIGINT write to the first, SIGHUP to the
/// second; the event loop reads them like any other descriptor.
fn signal_pipes() -> std::io::Result<(UnixStream, UnixStream)> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let (stop_read, stop_write) = UnixStream::pair()?;
    let (reload_read, reload_write) = UnixStream::pair()?;
    signal_hook::low_level::pipe::register(SIGTERM, stop_write.try_clone()?)?;
    signal_hook::low_level::pipe::register(SIGINT, stop_write)?;
    signal_hook::low_level::pipe::register(SIGHUP, reload_write)?;
    Ok((stop_read, reload_read))
}

/// Serving a thousand clients needs more descriptors than the usual
/// soft limit of 1024: raise it to the hard limit.
fn raise_fd_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        limit.current = limit.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, limit) {
            tracing::warn!("raising the descriptor limit: {e}");
        }
    }
}

/// A daemon serving from a thread of this process (for `shmring demo`
/// and tests): the same event loop, stopped through its own pipe instead
/// of a signal.
#[derive(Debug)]
pub struct InProcess {
    stop: UnixStream,
    thread: Option<std::thread::JoinHandle<()>>,
    runtime: Option<runtime::Runtime>,
}

impl InProcess {
    /// Starts serving at `socket`.
    pub fn start(socket: &Path, config: Config) -> Result<InProcess, String> {
        let runtime = runtime::Runtime::start(socket, &config.modes)?;
        let (stop_read, stop) = UnixStream::pair().map_err(|e| e.to_string())?;
        let (reload_read, _reload) = UnixStream::pair().map_err(|e| e.to_string())?;
        let listener = runtime.listener.try_clone().map_err(|e| e.to_string())?;
        let mut server = server::Server::new(listener, [stop_read, reload_read], config, None)
            .map_err(|e| format!("event loop: {e}"))?;
        let thread = std::thread::Builder::new()
            .name("shmringd".into())
            .spawn(move || {
                if let Err(e) = server.run() {
                    tracing::error!("event loop: {e}");
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(InProcess {
            stop,
            thread: Some(thread),
            runtime: Some(runtime),
        })
    }

    /// Stops the loop, waits for it, removes the socket and lock file.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = (&self.stop).write_all(&[1]);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.cleanup();
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.shutdown();
    }
}
