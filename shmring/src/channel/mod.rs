//! The public handles: what applications hold and call.

pub(crate) mod error;
pub(crate) mod role;
pub(crate) mod spsc;
