//! Freshness: what a receiver can vouch for ([`Freshness`]), what each kind of traffic demands
//! ([`TrafficClass`]), the coarse clock, and the challenges that prove a sender is live.

use super::epochs::GraceSlot;
use super::recipient::{Membership, Recipient};
use super::sender::Sender;
use super::shared::FrameId;
use crate::counter::CounterStore;
use crate::crypto::AeadBackend;
use crate::replay::{ReplayStore, WindowKey};
use crate::Error;

/// How much the receiver can vouch that an accepted frame is recent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// Judged by replay state that existed before the sender could have sent this frame, or
    /// bound to something only just created: the caller's request (a response or challenge) or
    /// this receiver's challenge (an echo).
    Fresh,
    /// Authentic and not a replay of anything this receiver accepted, but the receiver had no
    /// verified state for the sender, so it may be an old frame replayed.
    Unknown,
}

impl Freshness {
    /// Stable snake_case name for JSON output.
    pub const fn name(self) -> &'static str {
        match self {
            Freshness::Fresh => "fresh",
            Freshness::Unknown => "unknown",
        }
    }
}

/// What a receiver demands of a frame's freshness, per kind of traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TrafficClass {
    /// Frames of unknown freshness are delivered, flagged [`Freshness::Unknown`] (readings).
    #[default]
    Telemetry,
    /// Only fresh frames are delivered; one of unknown freshness is refused as
    /// [`Error::Stale`] (its number is still taken into the sender's window, so it can never
    /// pass later), and the receiver may answer it with a challenge
    /// ([`Recipient::issue_challenge`]). A frame withheld by an attacker and
    /// delivered later still passes a verified window; use [`OrderPolicy::Strict`](crate::replay::OrderPolicy::Strict) (refused once
    /// any later frame of the sender was accepted) or [`TrafficClass::Challenged`].
    Actuation,
    /// Only echoes of this receiver's own, unexpired challenges are delivered: every command
    /// costs one round trip, and no frame older than the challenge lifetime can act, whatever
    /// an attacker withheld.
    Challenged,
}

/// Challenges a recipient keeps open at once; the oldest is dropped for a new one.
pub const PENDING_CHALLENGES: usize = 4;

/// An open challenge. The challenge's id is kept as its two fields, not a [`FrameId`], so the
/// two 32-bit ids share a word: 24 bytes an entry instead of 32.
#[derive(Debug, Clone, Copy)]
pub(super) struct Pending {
    pub(super) sender: u32,
    challenger: u32,
    challenge_seq: u64,
    pub(super) issued: u64,
}

impl Pending {
    /// The challenge frame the requester's echo must answer.
    pub(super) fn challenge(&self) -> FrameId {
        FrameId {
            sender: self.challenger,
            seq: self.challenge_seq,
        }
    }
}

/// The receiver's coarse clock and the age it accepts for timed frames.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    pub(super) now: u16,
    pub(super) max_age: u16,
}

impl Clock {
    /// A timestamp at most `window + max_age` units old (a repeated frame stays fresh through
    /// its window), or at most `max_age` ahead (clock skew).
    pub(super) fn accepts(&self, t: u16, window: u8) -> bool {
        u32::from(self.now.wrapping_sub(t)) <= u32::from(window) + u32::from(self.max_age)
            || t.wrapping_sub(self.now) <= self.max_age
    }

    /// Whether `end` (a window's end) lies more than `max_age` in the past.
    pub(super) fn past(&self, end: u16) -> bool {
        let d = self.now.wrapping_sub(end);
        d > self.max_age && d < 0x8000
    }
}

impl<R, M, A, const W: usize, G> Recipient<R, M, A, W, G>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    /// Marks `sender`'s state as verified (its freshness was proven out of band).
    pub fn mark_fresh(&mut self, sender: u32) -> bool {
        let mut any = false;
        for key in [WindowKey::group(sender), WindowKey::source(sender)] {
            if let Some(w) = self.replay.get(key) {
                w.mark_verified();
                any = true;
            }
        }
        any
    }

    /// Sets the receiver's coarse clock (same unit as senders' timestamps, modulo 2^16) and the
    /// largest age `max_age` a timed frame may have to count as fresh; keep it well below 2^15.
    /// Timed frames outside the bound are of unknown freshness, even in a verified window.
    pub fn set_clock(&mut self, now: u16, max_age: u16) {
        self.clock = Some(Clock { now, max_age });
    }

    /// The last frame refused as [`Error::Stale`], to answer with a challenge.
    pub fn last_stale(&self) -> Option<FrameId> {
        self.stale
    }

    /// Answers `request` (usually [`Recipient::last_stale`]) with a challenge sealed by `tx`,
    /// this member's sender, and remembers it: the requester's echo of it is accepted as
    /// fresh and makes its state verified. `now` is any monotonic time the caller keeps.
    ///
    /// Refused as [`Error::Stale`] (nothing sealed) while the requester has an open challenge,
    /// or while [`PENDING_CHALLENGES`] challenges are open.
    pub fn issue_challenge<S: CounterStore, B: AeadBackend>(
        &mut self,
        tx: &mut Sender<S, B>,
        request: FrameId,
        now: u64,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        // An open challenge is never displaced: an attacker delivering other authentic frames
        // of the requester (recorded elsewhere) must not void the one the requester answers.
        // Forget expired challenges with [`Recipient::expire_challenges`] first.
        if self.pending.is_full() || self.pending.iter().any(|p| p.sender == request.sender) {
            return Err(Error::Stale);
        }
        let (n, challenge) = tx.seal_challenge(request, out)?;
        self.restore_challenge(request.sender, challenge, now);
        Ok(n)
    }

    /// Open challenges as `(requester, challenge, issued)`, for persistence.
    pub fn challenges(&self) -> impl Iterator<Item = (u32, FrameId, u64)> + '_ {
        self.pending
            .iter()
            .map(|p| (p.sender, p.challenge(), p.issued))
    }

    /// Restores an open challenge saved with [`Recipient::challenges`].
    /// It replaces an open challenge to the same requester; with the table full, the oldest
    /// challenge is dropped.
    pub fn restore_challenge(&mut self, requester: u32, challenge: FrameId, issued: u64) {
        self.pending.retain(|p| p.sender != requester);
        if self.pending.is_full() {
            if let Some(oldest) = (0..self.pending.len()).min_by_key(|&i| self.pending[i].issued) {
                self.pending.swap_remove(oldest);
            }
        }
        // Cannot fail: a slot was freed above.
        let _ = self.pending.push(Pending {
            sender: requester,
            challenger: challenge.sender,
            challenge_seq: challenge.seq,
            issued,
        });
    }

    /// Forgets challenges issued before `now - lifetime`; returns how many.
    pub fn expire_challenges(&mut self, now: u64, lifetime: u64) -> usize {
        let before = self.pending.len();
        self.pending
            .retain(|p| now.saturating_sub(p.issued) <= lifetime);
        before - self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_challenge_takes_24_bytes() {
        assert_eq!(core::mem::size_of::<Pending>(), 24);
        let p = Pending {
            sender: 7,
            challenger: 2,
            challenge_seq: 1 << 39,
            issued: 5,
        };
        assert_eq!(
            p.challenge(),
            FrameId {
                sender: 2,
                seq: 1 << 39
            }
        );
    }
}
