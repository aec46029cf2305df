//! Async endpoints on tokio (feature `tokio`).
