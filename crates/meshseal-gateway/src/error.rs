//! The gateway's error type: configuration, I/O and store failures (never a frame refusal,
//! which is a [`meshseal::Error`] counted in the statistics).

use std::fmt;

/// Why the gateway or load generator could not start or continue.
#[derive(Debug)]
#[non_exhaustive]
pub enum GatewayError {
    /// A setting is out of range or contradicts another.
    Config(String),
    /// A socket or file operation failed.
    Io(String, std::io::Error),
    /// The embedded store failed.
    Redb(String),
    /// The Redis store failed or its state is not what this gateway expects.
    Redis(String),
}

impl GatewayError {
    pub(crate) fn io(what: impl Into<String>, e: std::io::Error) -> Self {
        GatewayError::Io(what.into(), e)
    }
}

impl fmt::Display for GatewayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GatewayError::Config(m) => write!(f, "{m}"),
            GatewayError::Io(m, e) => write!(f, "{m}: {e}"),
            GatewayError::Redb(m) => write!(f, "replay store: {m}"),
            GatewayError::Redis(m) => write!(f, "redis store: {m}"),
        }
    }
}

impl std::error::Error for GatewayError {}
