//! The crate's one error type.

use std::fmt;

/// Why a cost computation, profile or measurement failed. Its `Display` is the message the
/// `meshseal` command prints.
#[derive(Debug)]
pub enum CostError {
    /// An option out of range or an unknown profile name.
    Usage(String),
    /// Reading or writing a file, starting a tool or binding a socket.
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A radio, battery or crypto profile that does not parse.
    Profile(String),
    /// A recorded baseline that does not parse, or one that cannot be encoded.
    Results(String),
    /// A live measurement that did not go as expected (timeout, tool failure, unexpected
    /// traffic through the relay).
    Measure(String),
    /// The core refused while sealing frames for the comparison.
    Core(&'static str, meshseal::Error),
    /// The plot could not be drawn.
    Plot(String),
}

impl CostError {
    /// An I/O error while doing `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CostError::Io {
            context: context.into(),
            source,
        }
    }
}

impl fmt::Display for CostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CostError::Io { context, source } => write!(f, "{context}: {source}"),
            CostError::Core(what, e) => write!(f, "{what}: {e}"),
            CostError::Usage(m)
            | CostError::Profile(m)
            | CostError::Results(m)
            | CostError::Measure(m)
            | CostError::Plot(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CostError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
