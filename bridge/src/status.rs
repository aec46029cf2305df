//! The status file: a bridge's counters as one line of JSON, replaced
//! whole (written beside, then renamed) so a reader never sees half of it.

use crate::counters::BridgeStatus;
use std::path::Path;

/// Writes `status` to `path` atomically.
pub fn write(path: &Path, status: &BridgeStatus) -> std::io::Result<()> {
    let mut beside = path.as_os_str().to_owned();
    beside.push(format!(".{}.tmp", std::process::id()));
    let beside = std::path::PathBuf::from(beside);
    std::fs::write(&beside, status.to_json() + "\n")?;
    std::fs::rename(&beside, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&beside);
    })
}

/// Reads a status file.
pub fn read(path: &Path) -> Result<BridgeStatus, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    BridgeStatus::from_json(&text)
        .map_err(|e| format!("{} is not a bridge status file: {e}", path.display()))
}
