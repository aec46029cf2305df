//! `shmringd --config FILE`: limits and default modes, in TOML.
//!
//! ```toml
//! [limits]
//! segments_per_uid = 64
//! bytes_per_uid = 1073741824
//! max_segment_size = 268435456
//! connections = 4096
//! connections_per_uid = 1024
//! frame_size = 65536
//! handshake_timeout_ms = 2000
//!
//! [modes]
//! socket = 0o600      # TOML has octal integers
//! directory = 0o700
//! ```
//!
//! Every key is optional; a missing one keeps its default. SIGHUP reloads
//! `[limits]` (the modes apply when the socket is created).

use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// Limits the daemon enforces. Exceeding one is an error reply to that
/// request; a client that breaks the protocol is disconnected.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Segments one uid may own.
    pub segments_per_uid: u32,
    /// Bytes of segments one uid may own.
    pub bytes_per_uid: u64,
    /// Largest segment.
    pub max_segment_size: u64,
    /// Concurrent connections.
    pub connections: u32,
    /// Concurrent connections of one uid, so that one user cannot take
    /// every slot of [`connections`](Self::connections).
    pub connections_per_uid: u32,
    /// Largest request frame (header included), at most 64 KiB.
    pub frame_size: u32,
    /// Descriptors a request may carry. Requests never need one, so the
    /// only accepted value is 0; replies carry at most one.
    pub fds_per_message: u32,
    /// Time a new connection has to send its hello.
    pub handshake_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            segments_per_uid: 64,
            bytes_per_uid: 1 << 30,
            max_segment_size: 256 << 20,
            connections: 4096,
            connections_per_uid: 1024,
            frame_size: 64 * 1024,
            fds_per_message: 0,
            handshake_timeout_ms: 2000,
        }
    }
}

impl Limits {
    /// The handshake timeout as a duration.
    pub fn handshake_timeout(&self) -> Duration {
        Duration::from_millis(self.handshake_timeout_ms)
    }

    fn check(&self) -> Result<(), String> {
        let max = shmring::broker::protocol::MAX_FRAME_LEN as u32;
        let min = shmring::broker::protocol::HEADER_LEN as u32 + 512;
        if !(min..=max).contains(&self.frame_size) {
            return Err(format!("limits.frame_size must be {min} to {max}"));
        }
        if self.fds_per_message != 0 {
            return Err("limits.fds_per_message: requests carry no descriptors; use 0".into());
        }
        if self.connections == 0 {
            return Err("limits.connections must be at least 1".into());
        }
        if self.connections_per_uid == 0 {
            return Err("limits.connections_per_uid must be at least 1".into());
        }
        Ok(())
    }
}

/// Permission bits of what the daemon creates.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Modes {
    /// The socket (default 0600: only the daemon's user may connect; use
    /// 0660 or 0666 with `directory` to open it to others).
    pub socket: u32,
    /// The socket's directory when the daemon creates it (default 0700).
    pub directory: u32,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            socket: 0o600,
            directory: 0o700,
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Limits.
    pub limits: Limits,
    /// Modes.
    pub modes: Modes,
}

impl Config {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Config, String> {
        let config: Config = toml::from_str(text).map_err(|e| e.to_string())?;
        config.limits.check()?;
        if config.modes.socket > 0o777 || config.modes.directory > 0o777 {
            return Err("modes must be at most 0o777".into());
        }
        Ok(config)
    }

    /// Reads and parses a file.
    pub fn load(path: &Path) -> Result<Config, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_partial_files() {
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let c = Config::parse("[limits]\nsegments_per_uid = 3\n[modes]\nsocket = 0o666\n").unwrap();
        assert_eq!(c.limits.segments_per_uid, 3);
        assert_eq!(c.limits.connections, Limits::default().connections);
        assert_eq!(c.modes.socket, 0o666);
        assert!(Config::parse("[limits]\nbogus = 1\n").is_err());
        let c = Config::parse("[limits]\nconnections_per_uid = 8\n").unwrap();
        assert_eq!(c.limits.connections_per_uid, 8);
        assert!(Config::parse("[limits]\nconnections_per_uid = 0\n").is_err());
        assert!(Config::parse("[limits]\nframe_size = 10000000\n").is_err());
    }
}
