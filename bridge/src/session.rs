//! The bridge's zenoh session: its configuration from the bridge's, and
//! what it is linked to (counted as connects, disconnects, reconnects).

use crate::config::BridgeConfig;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use zenoh::Wait;

const BLOCK_WAIT: &str = "transport/link/tx/queue/congestion_control/block/wait_before_close";
const ZENOH_BLOCK_WAIT_DEFAULT: &str = "5000000";
/// A day, in microseconds.
const BRIDGE_BLOCK_WAIT_US: i64 = 86_400_000_000;

/// zenoh's configuration for `config`: zenoh's own file first, then the
/// settings the bridge names.
pub(crate) fn zenoh_config(config: &BridgeConfig) -> Result<zenoh::Config, String> {
    let mut z = match &config.zenoh_config {
        Some(path) => zenoh::Config::from_file(path)
            .map_err(|e| format!("zenoh configuration {}: {e}", path.display()))?,
        None => zenoh::Config::default(),
    };
    let mut set = |key: &str, value: serde_json::Value| {
        z.insert_json5(key, &value.to_string())
            .map_err(|e| format!("zenoh setting {key} = {value}: {e}"))
    };
    set("mode", config.mode.as_str().into())?;
    if !config.connect.is_empty() {
        set("connect/endpoints", config.connect.clone().into())?;
    }
    if !config.listen.is_empty() {
        set("listen/endpoints", config.listen.clone().into())?;
    }
    if !config.scouting {
        set("scouting/multicast/enabled", false.into())?;
    }
    // zenoh closes a link whose lossless (Block) sender has waited 5 s for
    // room: a consumer that pauses longer would cost a lossless route
    // everything in flight. The bridge waits as long as its ring does;
    // dead peers are still found by the link lease and by TCP. A value
    // set in zenoh's own file is kept.
    let patience = z.get_json(BLOCK_WAIT).unwrap_or_default();
    if patience == ZENOH_BLOCK_WAIT_DEFAULT {
        z.insert_json5(BLOCK_WAIT, &BRIDGE_BLOCK_WAIT_US.to_string())
            .map_err(|e| format!("zenoh setting {BLOCK_WAIT}: {e}"))?;
    }
    Ok(z)
}

/// What the session is linked to, polled: the set of peers and routers,
/// and how often a link came up or went down.
#[derive(Debug, Default)]
pub(crate) struct Links {
    now: std::sync::Mutex<BTreeSet<String>>,
    pub connects: AtomicU64,
    pub disconnects: AtomicU64,
    pub reconnects: AtomicU64,
}

impl Links {
    /// Compares the session's links with the last look and counts the
    /// difference. A far bridge that restarts has a new zenoh id: one
    /// disconnect, then one reconnect.
    pub fn look(&self, session: &zenoh::Session) {
        let info = session.info();
        let linked: BTreeSet<String> = info
            .peers_zid()
            .wait()
            .chain(info.routers_zid().wait())
            .map(|z| z.to_string())
            .collect();
        let mut now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        // Downs first: a far bridge replaced between two looks is a
        // reconnect.
        for down in now.difference(&linked) {
            tracing::warn!(node = %down, "zenoh link down");
            self.disconnects.fetch_add(1, Relaxed);
        }
        for up in linked.difference(&now) {
            tracing::info!(node = %up, "zenoh link up");
            self.connects.fetch_add(1, Relaxed);
            if self.disconnects.load(Relaxed) > 0 {
                self.reconnects.fetch_add(1, Relaxed);
            }
        }
        *now = linked;
    }

    pub fn linked(&self) -> Vec<String> {
        let now = self.now.lock().unwrap_or_else(|p| p.into_inner());
        now.iter().cloned().collect()
    }
}
