//! The second process of a benchmark row (not a user-facing tool).
//!
//! ```text
//! shmring-bench-peer echo|sink|subscribe MECHANISM SIZE SPEC REPORT-FILE CPU|-
//! ```
//! Attaches its side of the mechanism, prints `ready` on stderr, runs the
//! echo or sink loop until the bench sends STOP (`subscribe`: reads a
//! publish/subscribe ring until its publisher has gone), and writes what
//! it measured to REPORT-FILE as JSON.

use shmring_benches::Result;
use shmring_benches::fanout;
use shmring_benches::link::{self, Driver, Ends};
use shmring_benches::mechanism::Mechanism;
use shmring_benches::peer::{READY, Role, write_report};
use shmring_benches::pin::pin_current_thread;
use shmring_benches::traffic::{self, Rx, Tx};

struct Echo;
struct Sink;

impl Driver for Echo {
    type Out = Vec<traffic::LatencyRun>;
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
        let (Some(mut tx), Some(mut rx)) = (ends.tx, ends.rx) else {
            return Err("echo needs both directions".into());
        };
        eprintln!("{READY}");
        traffic::echo(&mut tx, &mut rx)
    }
}

impl Driver for Sink {
    type Out = Vec<traffic::ThroughputRun>;
    fn drive<T: Tx, R: Rx>(self, ends: Ends<T, R>) -> Result<Self::Out> {
        let Some(mut rx) = ends.rx else {
            return Err("sink needs the receiving direction".into());
        };
        eprintln!("{READY}");
        traffic::sink(&mut rx)
    }
}

fn main() {
    if let Err(err) = run() {
        eprintln!("{err}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    // A bench that dies (or is interrupted) must not leave a peer
    // spinning on a core forever.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [role, mechanism, size, spec, report, cpu] = args.as_slice() else {
        return Err(
            "usage: shmring-bench-peer echo|sink|subscribe MECHANISM SIZE SPEC REPORT CPU|-".into(),
        );
    };
    let role = Role::from_key(role).ok_or_else(|| format!("unknown role {role}"))?;
    let mechanism =
        Mechanism::from_key(mechanism).ok_or_else(|| format!("unknown mechanism {mechanism}"))?;
    let size: usize = size.parse()?;
    if cpu != "-" {
        pin_current_thread(cpu.parse()?);
    }
    let attach = || link::attach(mechanism, size, role.pattern(), spec);
    match role {
        Role::Echo => write_report(report, &attach()?.drive(Echo)?),
        Role::Sink => write_report(report, &attach()?.drive(Sink)?),
        Role::Subscribe => write_report(report, &fanout::subscribe(spec, size)?),
    }
}
