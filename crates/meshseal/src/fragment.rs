//! Reassembly of multi-fragment messages: all or nothing, in fixed-capacity buffers.
//!
//! A sender splits a message that does not fit one frame into up to 16 fragments
//! ([`crate::Sender::seal_message`]); each is a complete AEAD frame whose associated data binds
//! it to its message (the message's first sequence number and the fragment count) and to its
//! index. The receiver opens each fragment with [`crate::Recipient`] (tag, replay window,
//! freshness) and hands it to a [`Reassembler`], which delivers the message only once every
//! fragment has verified. Splicing fragments of two messages, dropping, duplicating, reordering
//! or truncating them can delay or lose a message but never deliver one the sender did not send:
//! a fragment's message is `seq - index`, and index and count are authenticated.
//!
//! Incomplete messages are discarded after a timeout or when their slot is needed for a new
//! message; both are counted. The reassembler never allocates.

use crate::context::{Freshness, Opened};
use crate::Error;

/// A reassembled message, borrowed from its slot until the next call on the reassembler.
#[derive(Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Who sent it.
    pub sender: u32,
    /// Sequence number of its first fragment.
    pub first_seq: u64,
    /// Number of fragments.
    pub count: u8,
    /// Fresh only if every fragment was fresh.
    pub freshness: Freshness,
    /// The whole message.
    pub payload: &'a [u8],
}

/// What happened to messages in a [`Reassembler`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReassemblyStats {
    /// Messages delivered whole.
    pub delivered: u64,
    /// Incomplete messages discarded after the timeout.
    pub expired: u64,
    /// Incomplete messages discarded to make room for a new one.
    pub evicted: u64,
    /// Messages discarded because their fragments disagreed or overflowed the buffer.
    pub refused: u64,
}

#[derive(Debug, Clone)]
struct Slot<const CAP: usize> {
    sender: u32,
    first: u64,
    count: u8,
    have: u16,
    /// Length of every fragment but the last, once one of them arrived.
    chunk: Option<usize>,
    last_len: usize,
    started: u64,
    fresh: bool,
    done: bool,
    buf: [u8; CAP],
}

/// Up to `SLOTS` messages in reassembly at once, each of at most `CAP` bytes.
#[derive(Debug, Clone)]
pub struct Reassembler<const SLOTS: usize, const CAP: usize> {
    slots: heapless::Vec<Slot<CAP>, SLOTS>,
    timeout: u64,
    stats: ReassemblyStats,
}

impl<const SLOTS: usize, const CAP: usize> Reassembler<SLOTS, CAP> {
    /// A reassembler discarding messages still incomplete `timeout` after their first
    /// fragment arrived (in the caller's time unit).
    pub const fn new(timeout: u64) -> Self {
        Reassembler {
            slots: heapless::Vec::new(),
            timeout,
            stats: ReassemblyStats {
                delivered: 0,
                expired: 0,
                evicted: 0,
                refused: 0,
            },
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ReassemblyStats {
        &self.stats
    }

    /// Messages currently incomplete.
    pub fn pending(&self) -> usize {
        self.slots.iter().filter(|s| !s.done).count()
    }

    /// Discards delivered slots and messages older than the timeout; returns how many
    /// incomplete messages were discarded.
    pub fn expire(&mut self, now: u64) -> usize {
        let before = self.stats.expired;
        let timeout = self.timeout;
        let mut i = 0;
        while i < self.slots.len() {
            let s = &self.slots[i];
            if s.done {
                self.slots.swap_remove(i);
            } else if now.saturating_sub(s.started) > timeout {
                self.slots.swap_remove(i);
                self.stats.expired += 1;
            } else {
                i += 1;
            }
        }
        (self.stats.expired - before) as usize
    }

    /// Adds an accepted fragment; returns the message once all its fragments are in.
    ///
    /// `opened` must come from [`crate::Recipient`] (authenticated and not a replay) and be a
    /// fragment. On an error the fragment's whole message is discarded.
    pub fn push(&mut self, opened: &Opened<'_>, now: u64) -> Result<Option<Message<'_>>, Error> {
        let frag = opened.fragment.ok_or(Error::InvalidConfig)?;
        self.expire(now);
        let first = opened
            .seq
            .checked_sub(u64::from(frag.index))
            .ok_or(Error::FragmentMismatch)?;
        let i = match self
            .slots
            .iter()
            .position(|s| s.sender == opened.sender && s.first == first)
        {
            Some(i) => i,
            None => self.open_slot(opened.sender, first, frag.count, now)?,
        };
        match place(
            &mut self.slots[i],
            frag.index,
            frag.count,
            opened.payload,
            opened.freshness,
        ) {
            Ok(false) => Ok(None),
            Ok(true) => {
                self.stats.delivered += 1;
                let s = &mut self.slots[i];
                s.done = true;
                let total = s.chunk.unwrap_or(0) * (usize::from(s.count) - 1) + s.last_len;
                Ok(Some(Message {
                    sender: s.sender,
                    first_seq: s.first,
                    count: s.count,
                    freshness: if s.fresh {
                        Freshness::Fresh
                    } else {
                        Freshness::Unknown
                    },
                    payload: &s.buf[..total],
                }))
            }
            Err(e) => {
                self.slots.swap_remove(i);
                self.stats.refused += 1;
                Err(e)
            }
        }
    }

    fn open_slot(&mut self, sender: u32, first: u64, count: u8, now: u64) -> Result<usize, Error> {
        if self.slots.is_full() {
            let oldest = (0..self.slots.len())
                .min_by_key(|&i| self.slots[i].started)
                .ok_or(Error::MessageTooLarge)?;
            self.slots.swap_remove(oldest);
            self.stats.evicted += 1;
        }
        let slot = Slot {
            sender,
            first,
            count,
            have: 0,
            chunk: None,
            last_len: 0,
            started: now,
            fresh: true,
            done: false,
            buf: [0; CAP],
        };
        self.slots.push(slot).map_err(|_| Error::MessageTooLarge)?;
        Ok(self.slots.len() - 1)
    }
}

/// Copies one fragment into its slot; `Ok(true)` when the message is complete.
fn place<const CAP: usize>(
    s: &mut Slot<CAP>,
    index: u8,
    count: u8,
    data: &[u8],
    freshness: Freshness,
) -> Result<bool, Error> {
    let bit = 1u16 << index;
    if count != s.count || s.have & bit != 0 {
        return Err(Error::FragmentMismatch);
    }
    let last = usize::from(count) - 1;
    let index = usize::from(index);
    if index == last {
        match s.chunk {
            _ if last == 0 => {
                s.buf
                    .get_mut(..data.len())
                    .ok_or(Error::MessageTooLarge)?
                    .copy_from_slice(data);
            }
            Some(chunk) => {
                let at = chunk * last;
                s.buf
                    .get_mut(at..at + data.len())
                    .ok_or(Error::MessageTooLarge)?
                    .copy_from_slice(data);
            }
            None => {
                // Parked at the end of the buffer until the fragment length is known.
                let at = CAP.checked_sub(data.len()).ok_or(Error::MessageTooLarge)?;
                s.buf[at..].copy_from_slice(data);
            }
        }
        s.last_len = data.len();
    } else {
        match s.chunk {
            Some(chunk) if chunk != data.len() => return Err(Error::FragmentMismatch),
            Some(_) => {}
            None => {
                let chunk = data.len();
                if chunk == 0 {
                    return Err(Error::FragmentMismatch);
                }
                let end = chunk * last
                    + if s.have & (1 << last) != 0 {
                        s.last_len
                    } else {
                        0
                    };
                if end > CAP {
                    return Err(Error::MessageTooLarge);
                }
                if s.have & (1 << last) != 0 {
                    s.buf.copy_within(CAP - s.last_len.., chunk * last);
                }
                s.chunk = Some(chunk);
            }
        }
        let at = data.len() * index;
        s.buf[at..at + data.len()].copy_from_slice(data);
    }
    s.have |= bit;
    s.fresh &= freshness == Freshness::Fresh;
    Ok(s.have == (((1u32 << count) - 1) as u16))
}
