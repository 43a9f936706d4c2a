//! Repeated frames for sleepy receivers: the copies a receiver still expects of a frame it
//! accepted, so they are told apart from replays.

use super::epochs::GraceSlot;
use super::recipient::{Membership, Recipient};
use super::shared::FrameId;
use crate::crypto::AeadBackend;
use crate::replay::ReplayStore;

/// Repeated frames a recipient recently accepted, to tell their later copies from replays.
pub const TRACKED_REPEATS: usize = 4;

#[derive(Debug, Clone, Copy)]
pub(super) struct RepeatSeen {
    pub(super) sender: u32,
    pub(super) seq: u64,
    /// Copies still expected.
    pub(super) left: u8,
    /// End of the transmit window, for timed repeats.
    pub(super) end: Option<u16>,
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

    /// Restores a repeated frame saved with [`Recipient::tracked_repeats`] (oldest first).
    pub fn restore_repeat(&mut self, id: FrameId, left: u8, end: Option<u16>) {
        self.track_repeat(RepeatSeen {
            sender: id.sender,
            seq: id.seq,
            left,
            end,
        });
    }

    /// Remembers a repeated frame, dropping the oldest one when the table is full (a ring:
    /// nothing is shifted, so no `memmove` is linked into firmware).
    pub(super) fn track_repeat(&mut self, seen: RepeatSeen) {
        if self.repeats.is_full() {
            self.repeats.pop_front();
        }
        // Cannot fail: a slot was freed above.
        let _ = self.repeats.push_back(seen);
    }
}
