//! `cargo bench -p shmring-broker`: what opening a segment through the
//! broker costs. A real `shmringd` on a private socket; the clients are
//! threads of this process.
//!
//! - connect + open: a new connection (hello included), the open request,
//!   the descriptor received, its seals and size checked, the ring mapped
//!   and validated; p50 and p99.
//! - open on a connection: the same without connecting.
//! - opens per second: many clients, each on its own connection, opening
//!   and dropping the ring in a loop.
//!
//! `SHMRING_BENCH_QUICK=1` measures for a fraction of the time.

use hdrhistogram::Histogram;
use shmring::broker::{BrokerClient, CreateOptions};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CLIENTS: usize = 16;

struct Daemon {
    child: Child,
    dir: PathBuf,
    socket: PathBuf,
}

impl Daemon {
    fn start() -> Result<Daemon, String> {
        let dir = std::env::temp_dir().join(format!("shmring-bench-broker-{}", std::process::id()));
        let socket = dir.join("broker.sock");
        let config = dir.with_extension("toml");
        std::fs::write(&config, "[limits]\nconnections = 256\n").map_err(|e| e.to_string())?;
        let child = Command::new(env!("CARGO_BIN_EXE_shmringd"))
            .arg("--socket")
            .arg(&socket)
            .arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start shmringd: {e}"))?;
        let daemon = Daemon { child, dir, socket };
        let deadline = Instant::now() + Duration::from_secs(5);
        while BrokerClient::connect_to(&daemon.socket).is_err() {
            if Instant::now() > deadline {
                return Err("shmringd did not come up within 5 s".into());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = std::fs::remove_file(config);
        Ok(daemon)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.child.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid bounds")
}

fn timed(
    how_long: Duration,
    mut once: impl FnMut() -> Result<(), String>,
) -> Result<Histogram<u64>, String> {
    let mut h = histogram();
    let until = Instant::now() + how_long;
    while h.len() < 100 || Instant::now() < until {
        let start = Instant::now();
        once()?;
        h.saturating_record(start.elapsed().as_nanos() as u64);
    }
    Ok(h)
}

fn opens_per_second(socket: &Path, name: &str, how_long: Duration) -> Result<f64, String> {
    let until = Instant::now() + how_long;
    let started = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (socket, name) = (socket.to_path_buf(), name.to_string());
            std::thread::spawn(move || -> Result<u64, String> {
                let mut client = BrokerClient::connect_to(&socket).map_err(|e| e.to_string())?;
                let mut opens = 0;
                while Instant::now() < until {
                    drop(client.open_spsc(&name).map_err(|e| e.to_string())?);
                    opens += 1;
                }
                Ok(opens)
            })
        })
        .collect();
    let mut total = 0;
    for t in threads {
        total += t.join().map_err(|_| "a client thread panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

fn nanos(ns: u64) -> String {
    shmring::human::Duration::from_nanos(ns).to_string()
}

fn main() -> Result<(), String> {
    let quick = std::env::var("SHMRING_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let span = Duration::from_millis(if quick { 200 } else { 2000 });
    let daemon = Daemon::start()?;
    let name = format!("bench-open-{}", std::process::id());
    let mut admin = BrokerClient::connect_to(&daemon.socket).map_err(|e| e.to_string())?;
    admin
        .create(&name, &CreateOptions::spsc(1 << 16))
        .map_err(|e| e.to_string())?;

    eprintln!("[broker 1/3] connect + open …");
    let connect_open = timed(span, || {
        let mut client = BrokerClient::connect_to(&daemon.socket).map_err(|e| e.to_string())?;
        drop(client.open_spsc(&name).map_err(|e| e.to_string())?);
        Ok(())
    })?;
    eprintln!("[broker 2/3] open on a connection …");
    let mut client = BrokerClient::connect_to(&daemon.socket).map_err(|e| e.to_string())?;
    let open = timed(span, || {
        drop(client.open_spsc(&name).map_err(|e| e.to_string())?);
        Ok(())
    })?;
    eprintln!("[broker 3/3] {CLIENTS} clients opening in a loop …");
    let rate = opens_per_second(&daemon.socket, &name, span)?;
    admin.unlink(&name).map_err(|e| e.to_string())?;
    drop(daemon);

    let mut table = String::from(
        "| opening a 64 KiB SPSC segment through shmringd | p50 | p99 | samples |\n|---|---:|---:|---:|\n",
    );
    for (label, h) in [
        ("connect + hello + open + fd + seals + map", &connect_open),
        ("open + fd + seals + map, on a connection", &open),
    ] {
        let _ = writeln!(
            table,
            "| {label} | {} | {} | {} |",
            nanos(h.value_at_quantile(0.5)),
            nanos(h.value_at_quantile(0.99)),
            h.len()
        );
    }
    let _ = writeln!(
        table,
        "\n{CLIENTS} clients, each on its own connection: {}",
        shmring::human::Rate::per_second(rate).unit("opens")
    );
    println!("{table}");
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|t| t.join("shmring-bench")))
        .unwrap_or_else(|| PathBuf::from("target/shmring-bench"));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    std::fs::write(dir.join("broker.md"), &table).map_err(|e| e.to_string())?;
    Ok(())
}
