//! Repeated frames for sleepy receivers: the copies a receiver still expects of a frame it
//! accepted, so they are told apart from replays.

use super::epochs::GraceSlot;
use super::recipient::{Membership, Recipient};
use super::shared::FrameId;
use crate::crypto::AeadBackend;
use crate::replay::ReplayStore;

/// Repeated frames a recipient recently accepted, to tell their later copies from replays
/// (none in a build without the `repeats` feature: later copies are then refused as replays).
#[cfg(feature = "repeats")]
pub const TRACKED_REPEATS: usize = 4;
/// Repeated frames a recipient recently accepted: none without the `repeats` feature.
#[cfg(not(feature = "repeats"))]
pub const TRACKED_REPEATS: usize = 0;

#[derive(Debug, Clone, Copy)]
pub(super) struct RepeatSeen {
    pub(super) sender: u32,
    pub(super) seq: u64,
    /// Copies still expected.
    pub(super) left: u8,
    /// End of the transmit window, for timed repeats.
    pub(super) end: Option<u16>,
}

/// The repeated frames a recipient tracks: a ring of [`TRACKED_REPEATS`] with the `repeats`
/// feature; without it nothing, and no code that looks them up is linked.
#[derive(Debug, Clone, Default)]
pub(super) struct Repeats {
    #[cfg(feature = "repeats")]
    ring: heapless::Deque<RepeatSeen, TRACKED_REPEATS>,
}

impl Repeats {
    /// Where the tracked repeat of `seq` from `sender` is, if it is tracked.
    #[inline]
    pub(super) fn position(&self, sender: u32, seq: u64) -> Option<usize> {
        #[cfg(feature = "repeats")]
        return self
            .ring
            .iter()
            .position(|r| r.sender == sender && r.seq == seq);
        #[cfg(not(feature = "repeats"))]
        return {
            let _ = (sender, seq);
            None
        };
    }

    /// Tracked repeat `i`.
    pub(super) fn get_mut(&mut self, i: usize) -> Option<&mut RepeatSeen> {
        #[cfg(feature = "repeats")]
        return self.ring.iter_mut().nth(i);
        #[cfg(not(feature = "repeats"))]
        return {
            let _ = i;
            None
        };
    }

    /// The tracked repeats, oldest first.
    pub(super) fn iter(&self) -> impl Iterator<Item = &RepeatSeen> {
        #[cfg(feature = "repeats")]
        return self.ring.iter();
        #[cfg(not(feature = "repeats"))]
        return core::iter::empty();
    }

    /// Remembers a repeated frame, dropping the oldest one when the table is full (a ring:
    /// nothing is shifted, so no `memmove` is linked into firmware).
    pub(super) fn track(&mut self, seen: RepeatSeen) {
        #[cfg(feature = "repeats")]
        {
            if self.ring.is_full() {
                self.ring.pop_front();
            }
            // Cannot fail: a slot was freed above.
            let _ = self.ring.push_back(seen);
        }
        #[cfg(not(feature = "repeats"))]
        let _ = seen;
    }
}

impl<R, M, A, const W: usize, G> Recipient<R, M, A, W, G>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    /// Repeated frames recently accepted, as `(id, copies still expected, window end)`, for
    /// persistence: a receiver that forgets them reports later copies as replays.
    pub fn tracked_repeats(&self) -> impl Iterator<Item = (FrameId, u8, Option<u16>)> + '_ {
        self.repeats.iter().map(|r| {
            (
                FrameId {
                    sender: r.sender,
                    seq: r.seq,
                },
                r.left,
                r.end,
            )
        })
    }

    /// Restores a repeated frame saved with [`Recipient::tracked_repeats`] (oldest first);
    /// without the `repeats` feature it is dropped.
    pub fn restore_repeat(&mut self, id: FrameId, left: u8, end: Option<u16>) {
        self.repeats.track(RepeatSeen {
            sender: id.sender,
            seq: id.seq,
            left,
            end,
        });
    }
}
