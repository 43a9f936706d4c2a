//! Sender and recipient state machines: the layer that turns frames into trusted messages.
//!
//! [`Sender`] owns a [`Counter`] (numbers never repeat, even across power loss) and the rule
//! that picks each frame's sequence-number length. [`Recipient`] checks a frame in a fixed
//! order: wire format, key epoch, sender membership, sequence reconstruction, replay window,
//! and only then the tag; its replay state moves only after the tag verified, and the payload
//! is handed out only then (on failure the buffer is wiped).
//!
//! Sequence-number length rule (the sender side of [`crate::seq`]):
//! 1. the first frame after boot carries the full 40-bit number;
//! 2. so does every `full_every`-th frame, so a receiver that missed any number of frames
//!    (2^16 or more) is back in step at the next full frame without manual steps;
//! 3. otherwise the frame carries the shortest form that every receiver holding at least the
//!    *reference* number reconstructs correctly ([`crate::seq::shortest_form`]). The reference
//!    moves by [`Sender::confirm`] (a response proved a receiver has that number) and, in
//!    [`LengthMode::Steady`], with every frame sent (a configured period in which receivers are
//!    assumed to hear the sender). With no reference the frame is full.

use crate::counter::{Counter, CounterStore};
use crate::crypto::{AeadBackend, GroupKeys, NonceInput, RustCryptoCcm};
use crate::frame::{Fragment, Frame, Repr, SenderIdMode, SeqForm, TruncatedSeq};
use crate::replay::{ReplayStore, ReplayWindow};
use crate::seq::{reconstruct, shortest_form};
use crate::{Error, Stats, TAG_LEN};

pub use crate::replay::OrderPolicy;

/// Largest payload of one frame (CCM with a 13-byte nonce has a 2-byte length field).
pub const MAX_PAYLOAD: usize = 0xffff;

/// When the sender may use truncated sequence numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LengthMode {
    /// Only relative to numbers receivers confirmed ([`Sender::confirm`]).
    Confirmed,
    /// Relative to the previous frame: receivers are assumed to hear the sender (steady
    /// traffic); the periodic full frame bounds the damage when one does not.
    #[default]
    Steady,
}

/// Sender settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SenderConfig {
    /// This member's sender id, unique in the group.
    pub sender_id: u32,
    /// Whether the id is written into frames.
    pub sender_id_mode: SenderIdMode,
    /// Numbers reserved per counter write (K).
    pub reservation_block: u64,
    /// A full-length number at least once per this many frames (at least 1; 1 means every
    /// frame). This bounds how long a receiver that missed frames stays out of step.
    pub full_every: u32,
    /// When truncated numbers may be used.
    pub length_mode: LengthMode,
}

impl SenderConfig {
    /// Defaults: explicit id, K = 1000, a full number every 16 frames, steady mode.
    pub const fn new(sender_id: u32) -> Self {
        SenderConfig {
            sender_id,
            sender_id_mode: SenderIdMode::Explicit,
            reservation_block: crate::counter::DEFAULT_BLOCK,
            full_every: 16,
            length_mode: LengthMode::Steady,
        }
    }
}

/// The length rule's memory; a host that restarts its process without the device rebooting
/// may carry it over with [`Sender::restore_length_state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LengthState {
    /// A number every receiver in step is known (or assumed) to hold.
    pub reference: Option<u64>,
    /// Frames sent since the last full-length one.
    pub since_full: u32,
}

/// The sending half of a member: seals payloads into frames.
pub struct Sender<S: CounterStore, A: AeadBackend = RustCryptoCcm> {
    keys: GroupKeys<A>,
    cfg: SenderConfig,
    counter: Counter<S>,
    len: LengthState,
}

impl<S: CounterStore, A: AeadBackend> core::fmt::Debug for Sender<S, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("cfg", &self.cfg)
            .field("next", &self.counter.peek())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl<S: CounterStore, A: AeadBackend> Sender<S, A> {
    /// Boots a sender: resumes after the last reservation persisted in `store`.
    pub fn new(keys: GroupKeys<A>, cfg: SenderConfig, store: S) -> Result<Self, Error> {
        if cfg.full_every == 0 {
            return Err(Error::InvalidConfig);
        }
        let counter = Counter::boot(store, cfg.reservation_block)?;
        Ok(Sender {
            keys,
            cfg,
            counter,
            len: LengthState::default(),
        })
    }

    /// The sequence number the next frame will carry.
    pub fn next_seq(&self) -> u64 {
        self.counter.peek()
    }

    /// Numbers left before the sender must stop (rekey required).
    pub fn remaining(&self) -> u64 {
        self.counter.remaining()
    }

    /// The settings.
    pub fn config(&self) -> &SenderConfig {
        &self.cfg
    }

    /// Records that receivers hold `seq` (e.g. a response to it arrived).
    pub fn confirm(&mut self, seq: u64) {
        if seq < self.counter.peek() && self.len.reference.map_or(true, |r| seq > r) {
            self.len.reference = Some(seq);
        }
    }

    /// The length rule's state.
    pub fn length_state(&self) -> LengthState {
        self.len
    }

    /// Carries the length rule's state over a process restart that was not a device reboot.
    /// It affects frame sizes only, never security: a wrong reference makes receivers fail
    /// the tag, not accept anything.
    pub fn restore_length_state(&mut self, state: LengthState) {
        self.len = LengthState {
            reference: state.reference.filter(|&r| r < self.counter.peek()),
            since_full: state.since_full,
        };
    }

    /// The form the next frame's sequence number will take.
    pub fn next_form(&self) -> SeqForm {
        let seq = self.counter.peek();
        let periodic = self.len.since_full.saturating_add(1) >= self.cfg.full_every;
        match self.len.reference {
            Some(r) if !periodic => shortest_form(seq, r),
            _ => SeqForm::FULL,
        }
    }

    fn repr(&self, payload_len: usize, fragment: Option<Fragment>) -> Repr {
        let mut form = self.next_form();
        if fragment.is_some() && form == SeqForm::Short {
            form = SeqForm::Bytes(1);
        }
        Repr {
            epoch_bits: (self.keys.epoch() & 3) as u8,
            sender: match self.cfg.sender_id_mode {
                SenderIdMode::Explicit => Some(self.cfg.sender_id),
                SenderIdMode::Implicit => None,
            },
            seq: TruncatedSeq::of(self.counter.peek(), form),
            fragment,
            payload_len,
        }
    }

    /// Length of the frame that sealing `payload_len` bytes would produce now.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        self.repr(payload_len, None).buffer_len()
    }

    /// Seals `payload` into `out`; returns the frame length.
    ///
    /// Fails without consuming a number if `out` is too small or the payload too large.
    pub fn seal(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.seal_with(payload, None, out)
    }

    /// Seals one fragment of a multi-fragment message (long sequence forms only).
    pub fn seal_fragment(
        &mut self,
        payload: &[u8],
        fragment: Fragment,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.seal_with(payload, Some(fragment), out)
    }

    fn seal_with(
        &mut self,
        payload: &[u8],
        fragment: Option<Fragment>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge);
        }
        let repr = self.repr(payload.len(), fragment);
        let total = repr.buffer_len();
        // Only a caller-supplied fragment can make the representation invalid.
        let header = repr.header_byte().map_err(|_| Error::InvalidConfig)?;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        let seq = self.counter.take()?;
        debug_assert_eq!(TruncatedSeq::of(seq, repr.seq.form), repr.seq);
        let hlen = repr.emit_header(out).map_err(|_| Error::InvalidConfig)?;
        let nonce = self.keys.nonce(&NonceInput {
            header,
            fragment: repr.fragment_byte(),
            epoch: self.keys.epoch(),
            sender: self.cfg.sender_id,
            seq,
        });
        let (body, tag_out) = out[hlen..total].split_at_mut(payload.len());
        body.copy_from_slice(payload);
        match self.keys.aead().seal_in_place(&nonce, &[], body) {
            Ok(tag) => tag_out.copy_from_slice(&tag),
            Err(e) => {
                body.fill(0);
                return Err(e);
            }
        }
        self.len.since_full = if repr.seq.form.is_full() {
            0
        } else {
            self.len.since_full.saturating_add(1)
        };
        if self.cfg.length_mode == LengthMode::Steady {
            self.len.reference = Some(seq);
        }
        Ok(total)
    }

    /// Seals into a new vector.
    #[cfg(feature = "alloc")]
    pub fn seal_to_vec(&mut self, payload: &[u8]) -> Result<alloc::vec::Vec<u8>, Error> {
        let mut out = alloc::vec![0u8; self.frame_len(payload.len())];
        let n = self.seal(payload, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Gives back the counter store.
    pub fn into_store(self) -> S {
        self.counter.into_store()
    }
}

/// Which senders a recipient accepts.
pub trait Membership {
    /// Whether `sender` is a member of the group.
    fn contains(&self, sender: u32) -> bool;
}

/// Accepts every sender id (membership enforced elsewhere, e.g. by the link layer).
#[derive(Debug, Clone, Copy, Default)]
pub struct AnySender;

impl Membership for AnySender {
    fn contains(&self, _: u32) -> bool {
        true
    }
}

impl Membership for [u32] {
    fn contains(&self, sender: u32) -> bool {
        <[u32]>::contains(self, &sender)
    }
}

impl<const N: usize> Membership for heapless::Vec<u32, N> {
    fn contains(&self, sender: u32) -> bool {
        Membership::contains(self.as_slice(), sender)
    }
}

impl Membership for core::ops::RangeInclusive<u32> {
    fn contains(&self, sender: u32) -> bool {
        core::ops::RangeInclusive::contains(self, &sender)
    }
}

impl<M: Membership + ?Sized> Membership for &M {
    fn contains(&self, sender: u32) -> bool {
        (**self).contains(sender)
    }
}

/// How much the receiver can vouch that an accepted frame is recent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Freshness {
    /// Judged by replay state that existed before the sender could have sent this frame.
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

/// An accepted frame.
#[derive(Debug, PartialEq, Eq)]
pub struct Opened<'a> {
    /// Who sent it.
    pub sender: u32,
    /// Its full sequence number.
    pub seq: u64,
    /// The key epoch it was sealed under.
    pub epoch: u16,
    /// What the receiver can say about its age.
    pub freshness: Freshness,
    /// Its position in a multi-fragment message.
    pub fragment: Option<Fragment>,
    /// Numbers skipped between the previous highest and this frame.
    pub gap: u64,
    /// It arrived after a higher number (reordered).
    pub late: bool,
    /// The plaintext, inside the caller's buffer.
    pub payload: &'a [u8],
}

/// Recipient settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecipientConfig {
    /// The receiver's own sender id, refused as [`Error::Reflected`] when a frame claims it.
    pub own_id: Option<u32>,
    /// Which orders of arrival are accepted.
    pub order: OrderPolicy,
}

/// The receiving half of a member: opens frames from the group.
pub struct Recipient<R, M = AnySender, A = RustCryptoCcm, const W: usize = 1>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
{
    keys: GroupKeys<A>,
    cfg: RecipientConfig,
    members: M,
    replay: R,
    stats: Stats,
}

impl<R, M, A, const W: usize> core::fmt::Debug for Recipient<R, M, A, W>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recipient")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<R, M, A, const W: usize> Recipient<R, M, A, W>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
{
    /// A recipient over `replay` state, accepting senders in `members`.
    pub fn new(keys: GroupKeys<A>, cfg: RecipientConfig, members: M, replay: R) -> Self {
        Recipient {
            keys,
            cfg,
            members,
            replay,
            stats: Stats::default(),
        }
    }

    /// Creates verified, empty state for `sender`. Only valid before that sender sealed
    /// anything under these keys (at group creation or right after a rekey).
    pub fn provision(&mut self, sender: u32) {
        if self
            .replay
            .insert(sender, ReplayWindow::provisioned())
            .is_some()
        {
            self.stats.evicted = self.stats.evicted.saturating_add(1);
        }
    }

    /// Marks `sender`'s state as verified (its freshness was proven, e.g. by a challenge).
    pub fn mark_fresh(&mut self, sender: u32) -> bool {
        self.replay
            .get(sender)
            .map(ReplayWindow::mark_verified)
            .is_some()
    }

    /// Counters of accepted and refused frames.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The replay state (for persistence).
    pub fn replay_store(&self) -> &R {
        &self.replay
    }

    /// The keys in use.
    pub fn keys(&self) -> &GroupKeys<A> {
        &self.keys
    }

    /// Opens a frame that carries its sender id, in place.
    pub fn open<'b>(&mut self, frame: &'b mut [u8]) -> Result<Opened<'b>, Error> {
        self.open_inner(frame, SenderIdMode::Explicit, None)
    }

    /// Opens a frame whose sender id the link layer supplies, in place.
    pub fn open_from<'b>(&mut self, frame: &'b mut [u8], sender: u32) -> Result<Opened<'b>, Error> {
        self.open_inner(frame, SenderIdMode::Implicit, Some(sender))
    }

    fn open_inner<'b>(
        &mut self,
        buf: &'b mut [u8],
        mode: SenderIdMode,
        link_sender: Option<u32>,
    ) -> Result<Opened<'b>, Error> {
        match self.judge(buf, mode, link_sender) {
            Ok((mut o, range)) => {
                self.stats.accepted = self.stats.accepted.saturating_add(1);
                self.stats.gaps = self.stats.gaps.saturating_add(o.gap);
                self.stats.late = self.stats.late.saturating_add(u64::from(o.late));
                if o.freshness == Freshness::Unknown {
                    self.stats.unknown_freshness = self.stats.unknown_freshness.saturating_add(1);
                }
                o.payload = &buf[range];
                Ok(o)
            }
            Err(e) => {
                self.stats.count(e);
                Err(e)
            }
        }
    }

    fn judge(
        &mut self,
        buf: &mut [u8],
        mode: SenderIdMode,
        link_sender: Option<u32>,
    ) -> Result<(Opened<'static>, core::ops::Range<usize>), Error> {
        let mut frame = Frame::new_checked(&mut *buf, mode)?;
        if frame.epoch_bits() != (self.keys.epoch() & 3) as u8 {
            return Err(Error::UnknownEpoch);
        }
        let sender = frame
            .sender_id()
            .or(link_sender)
            .ok_or(Error::UnknownSender)?;
        if self.cfg.own_id == Some(sender) {
            return Err(Error::Reflected);
        }
        if !self.members.contains(sender) {
            return Err(Error::UnknownSender);
        }
        let t = frame.truncated_seq();
        let window = self.replay.get(sender);
        let seq = match &window {
            Some(w) => reconstruct(w.expected(), t),
            None if t.form.is_full() => t.value,
            None => return Err(Error::Unsynchronized),
        };
        if let Some(w) = &window {
            w.check(seq, self.cfg.order)?;
        }
        decrypt(&self.keys, &mut frame, sender, seq)?;
        let (accepted, freshness, evicted) = match window {
            Some(w) => {
                let a = w.accept(seq);
                let f = if w.is_verified() {
                    Freshness::Fresh
                } else {
                    Freshness::Unknown
                };
                self.replay.touch(sender);
                (a, f, false)
            }
            None => {
                let evicted = self
                    .replay
                    .insert(sender, ReplayWindow::unverified_at(seq))
                    .is_some();
                (Default::default(), Freshness::Unknown, evicted)
            }
        };
        if evicted {
            self.stats.evicted = self.stats.evicted.saturating_add(1);
        }
        let range = frame.header_len()..frame.bytes().len() - TAG_LEN;
        Ok((
            Opened {
                sender,
                seq,
                epoch: self.keys.epoch(),
                freshness,
                fragment: frame.fragment(),
                gap: accepted.gap,
                late: accepted.late,
                payload: &[],
            },
            range,
        ))
    }
}

/// Verifies and decrypts a checked frame in place; wipes the payload on failure.
fn decrypt<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut Frame<&mut [u8]>,
    sender: u32,
    seq: u64,
) -> Result<(), Error> {
    let nonce = keys.nonce(&NonceInput {
        header: frame.header(),
        fragment: frame.fragment_byte(),
        epoch: keys.epoch(),
        sender,
        seq,
    });
    let tag = frame.tag();
    let body = frame.payload_mut();
    let result = keys.aead().open_in_place(&nonce, &[], body, &tag);
    if result.is_err() {
        body.fill(0);
    }
    result.map_err(|_| Error::BadTag)
}

/// A frame verified without any replay state (diagnostics only: no replay protection).
#[derive(Debug, PartialEq, Eq)]
pub struct Verified<'a> {
    /// Who sent it.
    pub sender: u32,
    /// Its full sequence number, reconstructed against the given expectation.
    pub seq: u64,
    /// The plaintext.
    pub payload: &'a [u8],
}

/// Verifies and decrypts `buf` in place without replay state, reconstructing a truncated
/// sequence number against `expected`. For tools such as `meshseal inspect`; a receiver must
/// use [`Recipient`].
pub fn open_stateless<'b, A: AeadBackend>(
    keys: &GroupKeys<A>,
    buf: &'b mut [u8],
    mode: SenderIdMode,
    link_sender: Option<u32>,
    expected: u64,
) -> Result<Verified<'b>, Error> {
    let mut frame = Frame::new_checked(&mut *buf, mode)?;
    if frame.epoch_bits() != (keys.epoch() & 3) as u8 {
        return Err(Error::UnknownEpoch);
    }
    let sender = frame
        .sender_id()
        .or(link_sender)
        .ok_or(Error::UnknownSender)?;
    let seq = reconstruct(expected, frame.truncated_seq());
    decrypt(keys, &mut frame, sender, seq)?;
    let range = frame.header_len()..frame.bytes().len() - TAG_LEN;
    Ok(Verified {
        sender,
        seq,
        payload: &buf[range],
    })
}
