//! The active attacker: what it can do to frames on the links it controls.

use std::fmt;
use std::str::FromStr;

/// One capability of the attacker on a controlled link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Attack {
    /// Lets the frame pass and injects a recorded copy later.
    Replay,
    /// Withholds the frame and delivers it several reporting intervals later.
    Delay,
    /// Flips one bit of the frame in flight.
    Tamper,
    /// Discards the frame.
    Drop,
    /// Injects a frame of random bytes under the origin's header.
    Forge,
    /// Holds the frame briefly so that the origin's next frame overtakes it.
    Reorder,
}

impl Attack {
    /// Every capability, in a stable order.
    pub const ALL: [Attack; 6] = [
        Attack::Replay,
        Attack::Delay,
        Attack::Tamper,
        Attack::Drop,
        Attack::Forge,
        Attack::Reorder,
    ];

    /// Stable snake_case name (command line and JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Attack::Replay => "replay",
            Attack::Delay => "delay",
            Attack::Tamper => "tamper",
            Attack::Drop => "drop",
            Attack::Forge => "forge",
            Attack::Reorder => "reorder",
        }
    }
}

impl fmt::Display for Attack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An attack name that is not one of [`Attack::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownAttack(pub String);

impl fmt::Display for UnknownAttack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown attack {:?} (known: ", self.0)?;
        for (i, a) in Attack::ALL.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(a.name())?;
        }
        f.write_str(")")
    }
}

impl std::error::Error for UnknownAttack {}

impl FromStr for Attack {
    type Err = UnknownAttack;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Attack::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| UnknownAttack(s.to_string()))
    }
}

/// Where a packet that reached the gateway came from: the honest origin or the attacker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provenance {
    /// Sealed by its origin and forwarded unchanged.
    Honest,
    /// Produced or altered by the attacker through this capability.
    Attacked(Attack),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for a in Attack::ALL {
            assert_eq!(a.name().parse::<Attack>(), Ok(a));
        }
        let e = "sniff".parse::<Attack>().unwrap_err();
        assert!(e.to_string().contains("replay, delay"));
    }
}
