//! What a bridge runs: its routes, its zenoh session's settings, where its
//! rings come from. Read from a TOML file and from flags (flags add to the
//! file); checked before anything is opened.

use crate::args::{ModeArg, RunArgs};
use clap::Parser;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A whole bridge's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeConfig {
    /// zenoh mode.
    pub mode: ZenohMode,
    /// Endpoints to connect to.
    pub connect: Vec<String>,
    /// Endpoints to listen on.
    pub listen: Vec<String>,
    /// Multicast scouting on (zenoh's default) or off.
    pub scouting: bool,
    /// zenoh's own JSON5 configuration file, applied first.
    pub zenoh_config: Option<PathBuf>,
    /// Where rings are opened.
    pub rings: RingSource,
    /// The routes, in the order given (files first, then flags).
    pub routes: Vec<Route>,
    /// Where the counters are written, if anywhere.
    pub status_file: Option<PathBuf>,
    /// How often they are written.
    pub status_interval: Duration,
}

/// zenoh's session mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ZenohMode {
    /// Direct links to other peers.
    Peer,
    /// Everything through a router.
    Client,
}

impl ZenohMode {
    /// The name zenoh's configuration uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ZenohMode::Peer => "peer",
            ZenohMode::Client => "client",
        }
    }
}

/// Where the bridge opens its rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RingSource {
    /// POSIX shared memory by name (`/dev/shm`), no daemon.
    Named,
    /// Through the broker, at its default socket or at this one.
    Broker(Option<PathBuf>),
}

/// Which way a route carries messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Local ring to zenoh.
    Out,
    /// zenoh to local ring.
    In,
}

impl Direction {
    /// `out` or `in`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Out => "out",
            Direction::In => "in",
        }
    }
}

/// One ring joined to one key expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// Which way.
    pub direction: Direction,
    /// The local ring's name.
    pub ring: String,
    /// The zenoh key expression (a wildcard is allowed for an in route).
    pub key: String,
    /// Drop and count instead of waiting: an out route publishes with
    /// zenoh's `Drop` congestion control and takes messages even when no
    /// subscriber matches; an in route drops a sample when the ring is
    /// full or has no receiver.
    pub lossy: bool,
    /// zenoh's express flag: each sample leaves at once, unbatched.
    pub express: bool,
}

/// A configuration that cannot be run.
#[derive(Debug)]
pub enum ConfigError {
    /// The command line did not parse (clap's message).
    Args(String),
    /// The file could not be read.
    Read(PathBuf, std::io::Error),
    /// The file is not valid TOML of the expected shape.
    Parse(PathBuf, String),
    /// A route is not valid.
    Route(String, String),
    /// Something else is not valid.
    Invalid(String),
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigError::Args(m) => write!(f, "{m}"),
            ConfigError::Read(p, e) => write!(f, "cannot read {}: {e}", p.display()),
            ConfigError::Parse(p, m) => write!(f, "{}: {m}", p.display()),
            ConfigError::Route(spec, m) => write!(f, "route {spec:?}: {m}"),
            ConfigError::Invalid(m) => write!(f, "{m}"),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The file's shape (docs/bridge.md has an example).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileConfig {
    mode: Option<ZenohMode>,
    #[serde(default)]
    connect: Vec<String>,
    #[serde(default)]
    listen: Vec<String>,
    scouting: Option<bool>,
    zenoh_config: Option<PathBuf>,
    broker: Option<bool>,
    broker_socket: Option<PathBuf>,
    status: Option<PathBuf>,
    status_interval_ms: Option<u64>,
    #[serde(default)]
    out: Vec<FileRoute>,
    #[serde(default, rename = "in")]
    in_: Vec<FileRoute>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRoute {
    ring: String,
    key: String,
    #[serde(default)]
    lossy: bool,
    #[serde(default)]
    express: bool,
}

/// Status files are rewritten at most this often.
const MIN_STATUS_INTERVAL: Duration = Duration::from_millis(10);
const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(1);

impl BridgeConfig {
    /// Parses the flags of `shmring-bridge run` (without `run`), reading
    /// the `--config` file they name.
    pub fn from_args<S: AsRef<str>>(args: &[S]) -> Result<BridgeConfig, ConfigError> {
        let parsed = RunArgs::try_parse_from(args.iter().map(|a| a.as_ref()))
            .map_err(|e| ConfigError::Args(e.to_string()))?;
        BridgeConfig::from_run_args(&parsed)
    }

    /// The configuration `args` describe, with its `--config` file read.
    pub fn from_run_args(args: &RunArgs) -> Result<BridgeConfig, ConfigError> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let mut routes = Vec::new();
        for (list, direction) in [(&file.out, Direction::Out), (&file.in_, Direction::In)] {
            for r in list {
                let route = Route {
                    direction,
                    ring: r.ring.clone(),
                    key: r.key.clone(),
                    lossy: r.lossy,
                    express: r.express,
                };
                route
                    .check()
                    .map_err(|m| ConfigError::Route(route.to_string(), m))?;
                routes.push(route);
            }
        }
        for spec in &args.out_routes {
            routes.push(Route::parse(Direction::Out, spec)?);
        }
        for spec in &args.in_routes {
            routes.push(Route::parse(Direction::In, spec)?);
        }
        let mode = match args.mode {
            Some(ModeArg::Peer) => ZenohMode::Peer,
            Some(ModeArg::Client) => ZenohMode::Client,
            None => file.mode.unwrap_or(ZenohMode::Peer),
        };
        let rings = match (
            &args.broker_socket,
            args.broker,
            &file.broker_socket,
            file.broker,
        ) {
            (Some(socket), _, _, _) => RingSource::Broker(Some(socket.clone())),
            (None, true, socket, _) => RingSource::Broker(socket.clone()),
            (None, false, Some(socket), _) => RingSource::Broker(Some(socket.clone())),
            (None, false, None, Some(true)) => RingSource::Broker(None),
            (None, false, None, _) => RingSource::Named,
        };
        let status_interval = args
            .status_interval_ms
            .or(file.status_interval_ms)
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_STATUS_INTERVAL)
            .max(MIN_STATUS_INTERVAL);
        let config = BridgeConfig {
            mode,
            connect: file
                .connect
                .into_iter()
                .chain(args.connect.clone())
                .collect(),
            listen: file.listen.into_iter().chain(args.listen.clone()).collect(),
            scouting: !args.no_scouting && file.scouting.unwrap_or(true),
            zenoh_config: args.zenoh_config.clone().or(file.zenoh_config),
            rings,
            routes,
            status_file: args.status.clone().or(file.status),
            status_interval,
        };
        config.check()?;
        Ok(config)
    }

    /// What a bridge could not run with, found before anything is opened.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.routes.is_empty() {
            return Err(ConfigError::Invalid(
                "no routes: give --out RING=KEY or --in KEY=RING (or a --config file)".into(),
            ));
        }
        if self.mode == ZenohMode::Client && self.connect.is_empty() && !self.scouting {
            return Err(ConfigError::Invalid(
                "client mode needs a router: --connect ENDPOINT (or scouting)".into(),
            ));
        }
        for route in &self.routes {
            route
                .check()
                .map_err(|m| ConfigError::Route(route.to_string(), m))?;
        }
        // Two out routes on one key would interleave two sequences on it,
        // which a receiving bridge tells apart; two in routes into one ring
        // would need the ring's sending side twice, which only an MPMC
        // ring has. Both are allowed; the same route twice is a mistake.
        for (i, a) in self.routes.iter().enumerate() {
            if self.routes[..i].contains(a) {
                return Err(ConfigError::Route(a.to_string(), "given twice".into()));
            }
        }
        Ok(())
    }
}

fn read_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.to_owned(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path.to_owned(), e.to_string()))
}

impl Route {
    /// Parses `RING=KEY[?OPTS]` (out) or `KEY=RING[?OPTS]` (in). A ring
    /// name never holds `=` and a key expression never holds `?`, so the
    /// split is unambiguous even for keys that hold `=`.
    pub fn parse(direction: Direction, spec: &str) -> Result<Route, ConfigError> {
        let bad = |m: &str| ConfigError::Route(spec.to_owned(), m.to_owned());
        let (pair, options) = match spec.split_once('?') {
            Some((pair, options)) => (pair, Some(options)),
            None => (spec, None),
        };
        let (ring, key) = match direction {
            Direction::Out => pair.split_once('='),
            Direction::In => pair.rsplit_once('=').map(|(key, ring)| (ring, key)),
        }
        .ok_or_else(|| {
            bad(match direction {
                Direction::Out => "expected RING=KEY",
                Direction::In => "expected KEY=RING",
            })
        })?;
        let mut route = Route {
            direction,
            ring: ring.to_owned(),
            key: key.to_owned(),
            lossy: false,
            express: false,
        };
        for option in options.into_iter().flat_map(|o| o.split(',')) {
            match option.trim() {
                "lossy" => route.lossy = true,
                "lossless" => route.lossy = false,
                "express" => route.express = true,
                "" => {}
                other => {
                    return Err(bad(&format!(
                        "unknown option {other:?} (known: lossy, lossless, express)"
                    )));
                }
            }
        }
        route.check().map_err(|m| bad(&m))?;
        Ok(route)
    }

    fn check(&self) -> Result<(), String> {
        if self.ring.is_empty() {
            return Err("the ring name is empty".into());
        }
        if self.ring.contains(['/', '=', '?']) || self.ring.chars().any(char::is_whitespace) {
            return Err(format!("{:?} is not a ring name", self.ring));
        }
        let key = zenoh::key_expr::KeyExpr::try_from(self.key.as_str())
            .map_err(|e| format!("{:?} is not a zenoh key expression: {e}", self.key))?;
        if self.direction == Direction::Out && key.is_wild() {
            // A publication names one key; wildcards are for subscribers.
            return Err(format!(
                "{:?}: an out route publishes on one key, without wildcards",
                self.key
            ));
        }
        Ok(())
    }
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.direction {
            Direction::Out => write!(f, "{} -> {}", self.ring, self.key),
            Direction::In => write!(f, "{} -> {}", self.key, self.ring),
        }?;
        match (self.lossy, self.express) {
            (false, false) => Ok(()),
            (true, false) => write!(f, " (lossy)"),
            (false, true) => write!(f, " (express)"),
            (true, true) => write!(f, " (lossy, express)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_split_where_names_cannot_hold_the_separator() {
        let out = Route::parse(Direction::Out, "prices=desk/a=b?express,lossy").unwrap();
        assert_eq!(
            (out.ring.as_str(), out.key.as_str()),
            ("prices", "desk/a=b")
        );
        assert!(out.lossy && out.express);
        let into = Route::parse(Direction::In, "desk/a=b=orders").unwrap();
        assert_eq!(
            (into.ring.as_str(), into.key.as_str()),
            ("orders", "desk/a=b")
        );
        assert!(!into.lossy && !into.express);
        let wild = Route::parse(Direction::In, "sensors/**=all").unwrap();
        assert_eq!(wild.key, "sensors/**");
    }

    #[test]
    fn bad_routes_are_refused_with_a_reason() {
        for (direction, spec, why) in [
            (Direction::Out, "no-separator", "expected RING=KEY"),
            (Direction::Out, "=desk/a", "ring name is empty"),
            (Direction::Out, "r=desk/*", "without wildcards"),
            (Direction::Out, "r=desk//a", "key expression"),
            (Direction::In, "desk/a=r?fast", "unknown option"),
            (Direction::In, "desk/a=a/b", "not a ring name"),
        ] {
            let e = Route::parse(direction, spec).unwrap_err().to_string();
            assert!(e.contains(why), "{spec}: {e}");
        }
    }

    #[test]
    fn flags_add_to_the_file_and_replace_its_single_settings() {
        let dir = std::env::temp_dir().join(format!("bridge-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bridge.toml");
        std::fs::write(
            &file,
            r#"
mode = "client"
connect = ["tcp/10.0.0.1:7447"]
scouting = false
broker = true
status = "/run/a.json"

[[out]]
ring = "prices"
key = "desk/prices"
express = true

[[in]]
key = "desk/orders"
ring = "orders"
lossy = true
"#,
        )
        .unwrap();
        let config = BridgeConfig::from_args(&[
            "--config",
            file.to_str().unwrap(),
            "--mode",
            "peer",
            "--connect",
            "tcp/10.0.0.2:7447",
            "--out",
            "fills=desk/fills",
            "--status-interval-ms",
            "0",
        ])
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(config.mode, ZenohMode::Peer);
        assert_eq!(config.connect, ["tcp/10.0.0.1:7447", "tcp/10.0.0.2:7447"]);
        assert!(!config.scouting);
        assert_eq!(config.rings, RingSource::Broker(None));
        assert_eq!(config.status_file, Some(PathBuf::from("/run/a.json")));
        assert_eq!(config.status_interval, MIN_STATUS_INTERVAL);
        let routes: Vec<String> = config.routes.iter().map(Route::to_string).collect();
        assert_eq!(
            routes,
            [
                "prices -> desk/prices (express)",
                "desk/orders -> orders (lossy)",
                "fills -> desk/fills"
            ]
        );
    }

    #[test]
    fn a_file_with_an_unknown_setting_or_no_routes_is_refused() {
        let dir = std::env::temp_dir().join(format!("bridge-config-bad-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bridge.toml");
        std::fs::write(&file, "listen = [\"tcp/0.0.0.0:1\"]\nlissen = []\n").unwrap();
        let e = BridgeConfig::from_args(&["--config", file.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("lissen"), "{e}");
        std::fs::write(&file, "listen = [\"tcp/0.0.0.0:1\"]\n").unwrap();
        let e = BridgeConfig::from_args(&["--config", file.to_str().unwrap()]).unwrap_err();
        assert!(e.to_string().contains("no routes"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let e = BridgeConfig::from_args(&["--config", "/nonexistent/bridge.toml"]).unwrap_err();
        assert!(e.to_string().contains("cannot read"), "{e}");
    }
}
