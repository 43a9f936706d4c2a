//! Key epochs at the gateway: it holds a member identity, so the group manager's rekey messages
//! reach it like any member, and it follows the group into each new epoch with the same rules as
//! `meshseal open` (the previous epoch accepted through the grace period, removed members
//! refused from the rekey on).
//!
//! The identity and the durable record of the epoch live outside this crate (the command line
//! keeps them in a member state directory, as `meshseal open` does); the [`Verifier`] reaches
//! them through [`Rekeyer`]. Order matters for crashes: the rekeyer makes the new epoch durable
//! *before* it returns, and only then does the verifier switch keys, so a gateway restarted at
//! any point resumes in the epoch whose frames it may already have delivered.
//!
//! [`Verifier`]: crate::verifier::Verifier

use meshseal::{AeadBackend, Error, GroupKeys};

/// What an applied rekey message changed.
pub struct EpochChange<A: AeadBackend> {
    /// The new epoch's keys.
    pub keys: GroupKeys<A>,
    /// Until when (Unix seconds) the replaced epoch's frames stay accepted; `None` ends it at
    /// once.
    pub grace_until: Option<u64>,
    /// Members the rekey removed: their frames are refused from now on.
    pub removed: Vec<u32>,
}

/// A gateway's member identity: opens the rekey messages addressed to it.
pub trait Rekeyer<A: AeadBackend> {
    /// Verifies and applies the rekey message `msg` (decrypted in place) at `now` (Unix
    /// seconds). On success the new epoch is durable when this returns.
    ///
    /// Refusals are the core's: [`Error::UnknownSender`] for a message to another member,
    /// [`Error::Replay`] for an epoch not newer than the current one, [`Error::BadTag`],
    /// [`Error::Malformed`]; [`Error::CounterStore`] when the new epoch could not be made
    /// durable (then nothing changed).
    fn apply(&mut self, msg: &mut [u8], now: u64) -> Result<EpochChange<A>, Error>;
}

/// The current time in Unix seconds (the clock grace periods are written in).
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
