//! The one error enum of the protocol engine and the refusal statistics.
//!
//! Every way a frame can be refused, or a seal can fail, has its own variant with a stable
//! snake_case name ([`Error::reason`]) that tools print in JSON and that scripts match on.
//! Renaming a reason is a breaking change.

use core::fmt;

use crate::frame::WireError;

/// Why a frame was refused or could not be sealed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed frame (detail in the [`WireError`]).
    Malformed(WireError),
    /// The frame uses a version of the format this build does not speak.
    UnsupportedVersion,
    /// The frame's key epoch is not one the receiver holds keys for.
    UnknownEpoch,
    /// The sender id is not a member of the group.
    UnknownSender,
    /// The frame claims to come from the receiver itself (a reflected frame).
    Reflected,
    /// A truncated sequence number from a sender the receiver has no state for; only a
    /// full-length frame can be accepted until the receiver is in step again.
    Unsynchronized,
    /// The authentication tag did not verify: forged, corrupted, wrong key, or a wrong
    /// reconstruction of a truncated sequence number.
    BadTag,
    /// This sequence number was already accepted from this sender.
    Replay,
    /// The sequence number is older than the replay window can judge.
    TooOld,
    /// Under the strict order policy, a number below the highest accepted one, inside the
    /// window and never accepted (numbers already accepted are [`Error::Replay`]).
    OutOfOrder,
    /// The sender has used up its key budget or the 40-bit sequence space; the group must be
    /// rekeyed.
    CounterExhausted,
    /// The counter store failed to persist a reservation, so no new number may be used.
    CounterStore,
    /// The output buffer cannot hold the frame.
    BufferTooSmall,
    /// The payload exceeds what one frame may carry.
    PayloadTooLarge,
    /// A key, secret or configuration value is out of range.
    InvalidConfig,
    /// Authentic, but its freshness is unknown and the traffic class demands it; answer with
    /// a challenge.
    Stale,
    /// A response, challenge or echo the receiver did not ask for (no such request or
    /// challenge outstanding), or a plain frame where a response was expected.
    Unsolicited,
    /// Fragments of one message disagree (fragment count, lengths, an empty fragment before the
    /// last, a number below its index), or a fragment arrived twice.
    FragmentMismatch,
    /// A reassembled message would exceed the receiver's buffer.
    MessageTooLarge,
    /// A pairwise or signed frame from a sender the receiver holds no pairwise or verifying
    /// key for.
    UnknownKey,
    /// The sender's signature on a signed frame does not verify (the tag did: another member
    /// sealed it in the sender's name, or it was altered by a key holder).
    BadSignature,
    /// A plain group frame where the caller demands source authentication (pairwise or signed):
    /// any member could have sealed it.
    Unauthenticated,
    /// A later copy of a repeated frame this receiver already accepted, inside its announced
    /// copies and window: refused like a replay (the application acts once), but counted apart
    /// because it is expected traffic, not an attack.
    Duplicate,
    /// The sender's counter store holds no record: the identity never sealed (provision it
    /// explicitly) or lost its counter (it must re-join under a fresh id or a new epoch, never
    /// start again from 0).
    NoCounterRecord,
    /// The AEAD backend (a platform's crypto: PSA, a hardware engine) failed to seal, open or
    /// compute a header mask; nothing was released. Not a verdict on the frame.
    Backend,
}

impl Error {
    /// Every distinct reason, in the order of [`Error::index`].
    pub const ALL: [Error; 25] = [
        Error::Malformed(WireError::Truncated),
        Error::UnsupportedVersion,
        Error::UnknownEpoch,
        Error::UnknownSender,
        Error::Reflected,
        Error::Unsynchronized,
        Error::BadTag,
        Error::Replay,
        Error::TooOld,
        Error::OutOfOrder,
        Error::CounterExhausted,
        Error::CounterStore,
        Error::BufferTooSmall,
        Error::PayloadTooLarge,
        Error::InvalidConfig,
        Error::Stale,
        Error::Unsolicited,
        Error::FragmentMismatch,
        Error::MessageTooLarge,
        Error::UnknownKey,
        Error::BadSignature,
        Error::Unauthenticated,
        Error::Duplicate,
        Error::NoCounterRecord,
        Error::Backend,
    ];

    /// Number of distinct reasons (the length of the statistics table).
    pub const COUNT: usize = Self::ALL.len();

    /// Stable snake_case name, used in JSON output and logs.
    pub const fn reason(&self) -> &'static str {
        match self {
            Error::Malformed(_) => "malformed",
            Error::UnsupportedVersion => "unsupported_version",
            Error::UnknownEpoch => "unknown_epoch",
            Error::UnknownSender => "unknown_sender",
            Error::Reflected => "reflected",
            Error::Unsynchronized => "unsynchronized",
            Error::BadTag => "bad_tag",
            Error::Replay => "replay",
            Error::TooOld => "too_old",
            Error::OutOfOrder => "out_of_order",
            Error::CounterExhausted => "counter_exhausted",
            Error::CounterStore => "counter_store",
            Error::BufferTooSmall => "buffer_too_small",
            Error::PayloadTooLarge => "payload_too_large",
            Error::InvalidConfig => "invalid_config",
            Error::Stale => "stale",
            Error::Unsolicited => "unsolicited",
            Error::FragmentMismatch => "fragment_mismatch",
            Error::MessageTooLarge => "message_too_large",
            Error::UnknownKey => "unknown_key",
            Error::BadSignature => "bad_signature",
            Error::Unauthenticated => "unauthenticated",
            Error::Duplicate => "duplicate",
            Error::NoCounterRecord => "no_counter_record",
            Error::Backend => "backend",
        }
    }

    /// Position of this reason in [`Error::ALL`] and in the statistics table.
    pub const fn index(&self) -> usize {
        match self {
            Error::Malformed(_) => 0,
            Error::UnsupportedVersion => 1,
            Error::UnknownEpoch => 2,
            Error::UnknownSender => 3,
            Error::Reflected => 4,
            Error::Unsynchronized => 5,
            Error::BadTag => 6,
            Error::Replay => 7,
            Error::TooOld => 8,
            Error::OutOfOrder => 9,
            Error::CounterExhausted => 10,
            Error::CounterStore => 11,
            Error::BufferTooSmall => 12,
            Error::PayloadTooLarge => 13,
            Error::InvalidConfig => 14,
            Error::Stale => 15,
            Error::Unsolicited => 16,
            Error::FragmentMismatch => 17,
            Error::MessageTooLarge => 18,
            Error::UnknownKey => 19,
            Error::BadSignature => 20,
            Error::Unauthenticated => 21,
            Error::Duplicate => 22,
            Error::NoCounterRecord => 23,
            Error::Backend => 24,
        }
    }
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnsupportedVersion => Error::UnsupportedVersion,
            other => Error::Malformed(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Malformed(w) => return write!(f, "malformed frame: {w}"),
            Error::UnsupportedVersion => "unsupported frame version",
            Error::UnknownEpoch => "unknown key epoch",
            Error::UnknownSender => "sender is not a member of the group",
            Error::Reflected => "frame claims the receiver's own sender id",
            Error::Unsynchronized => {
                "truncated sequence number from a sender without state; waiting for a full-length frame"
            }
            Error::BadTag => "authentication tag does not verify",
            Error::Replay => "sequence number already accepted (replay)",
            Error::TooOld => "sequence number older than the replay window",
            Error::OutOfOrder => "sequence number not above the highest accepted (strict order)",
            Error::CounterExhausted => "sequence numbers exhausted; rekey required",
            Error::CounterStore => "counter reservation could not be persisted",
            Error::BufferTooSmall => "buffer too small for the frame",
            Error::PayloadTooLarge => "payload too large for one frame",
            Error::InvalidConfig => "invalid key or configuration",
            Error::Stale => "freshness unknown where the traffic class requires it; challenge the sender",
            Error::Unsolicited => "response, challenge or echo that nothing outstanding asked for",
            Error::FragmentMismatch => "fragments of one message disagree",
            Error::MessageTooLarge => "reassembled message exceeds the buffer",
            Error::UnknownKey => "no pairwise or verifying key for this sender",
            Error::BadSignature => "the sender's signature does not verify",
            Error::Unauthenticated => "group frame where source authentication is required",
            Error::Duplicate => "expected copy of a repeated frame already accepted",
            Error::NoCounterRecord => {
                "no counter record: provision the identity, or re-join under a fresh id or epoch"
            }
            Error::Backend => "the AEAD backend failed; nothing was released",
        };
        f.write_str(text)
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Counters kept by a [`crate::Recipient`].
///
/// Counters saturate instead of wrapping, so a long-running gateway never reports a small number
/// after an overflow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Frames accepted and delivered.
    pub accepted: u64,
    /// Accepted frames whose freshness could not be established (sender without verified state).
    pub unknown_freshness: u64,
    /// Sequence numbers skipped when a sender's highest number advanced by more than one.
    pub gaps: u64,
    /// Frames accepted out of order inside the window (they fill an earlier gap).
    pub late: u64,
    /// Peer states evicted from a full table.
    pub evicted: u64,
    refused: [u64; Error::COUNT],
}

impl Stats {
    /// How many times `reason` was returned.
    pub fn refused(&self, reason: Error) -> u64 {
        self.refused[reason.index()]
    }

    /// Total refusals of every reason.
    pub fn refused_total(&self) -> u64 {
        self.refused.iter().fold(0u64, |a, b| a.saturating_add(*b))
    }

    /// Frames that never arrived: numbers skipped minus the late arrivals that filled them.
    pub fn missing(&self) -> u64 {
        self.gaps.saturating_sub(self.late)
    }

    /// `(reason name, count)` for every reason, including zeros, in a stable order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Error::ALL
            .iter()
            .map(move |e| (e.reason(), self.refused[e.index()]))
    }
}

/// How a recipient records its verdicts: [`Stats`] with the `stats` feature, [`NoStats`]
/// without it (a device that reports no counters saves their RAM and code).
pub(crate) trait Tally: Default + core::fmt::Debug {
    /// An accepted frame: the numbers it skipped, whether it filled a gap, and whether its
    /// freshness is unknown.
    fn on_accepted(&mut self, gap: u64, late: bool, unknown_freshness: bool);
    /// A refused frame.
    fn on_refused(&mut self, e: Error);
    /// A peer state evicted from a full table.
    fn on_evicted(&mut self);
}

impl Tally for Stats {
    fn on_accepted(&mut self, gap: u64, late: bool, unknown_freshness: bool) {
        self.accepted = self.accepted.saturating_add(1);
        self.gaps = self.gaps.saturating_add(gap);
        self.late = self.late.saturating_add(u64::from(late));
        self.unknown_freshness = self
            .unknown_freshness
            .saturating_add(u64::from(unknown_freshness));
    }

    fn on_refused(&mut self, e: Error) {
        // Every reason has its slot; `get_mut` keeps a panic path out of the firmware.
        if let Some(slot) = self.refused.get_mut(e.index()) {
            *slot = slot.saturating_add(1);
        }
    }

    fn on_evicted(&mut self) {
        self.evicted = self.evicted.saturating_add(1);
    }
}

/// Counts nothing: the recipient's tally in a build without the `stats` feature.
#[cfg(not(feature = "stats"))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NoStats;

#[cfg(not(feature = "stats"))]
impl Tally for NoStats {
    fn on_accepted(&mut self, _: u64, _: bool, _: bool) {}
    fn on_refused(&mut self, _: Error) {}
    fn on_evicted(&mut self) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_distinct_and_indexed() {
        for (i, e) in Error::ALL.iter().enumerate() {
            assert_eq!(e.index(), i, "{e:?}");
            for other in &Error::ALL[i + 1..] {
                assert_ne!(e.reason(), other.reason());
            }
        }
    }

    #[test]
    fn stats_count_per_reason() {
        let mut s = Stats::default();
        s.on_refused(Error::Replay);
        s.on_refused(Error::Replay);
        s.on_refused(Error::BadTag);
        assert_eq!(s.refused(Error::Replay), 2);
        assert_eq!(s.refused(Error::BadTag), 1);
        assert_eq!(s.refused(Error::TooOld), 0);
        assert_eq!(s.refused_total(), 3);
        assert_eq!(s.iter().count(), Error::COUNT);
    }

    #[test]
    fn tally_records_what_stats_report() {
        let mut s = Stats::default();
        Tally::on_accepted(&mut s, 3, false, true);
        Tally::on_accepted(&mut s, 0, true, false);
        Tally::on_refused(&mut s, Error::Replay);
        Tally::on_evicted(&mut s);
        assert_eq!((s.accepted, s.gaps, s.late, s.missing()), (2, 3, 1, 2));
        assert_eq!((s.unknown_freshness, s.evicted), (1, 1));
        assert_eq!((s.refused(Error::Replay), s.refused_total()), (1, 1));
    }
}
