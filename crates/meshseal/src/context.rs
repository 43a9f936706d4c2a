//! Sender and recipient state machines: the layer that turns frames into trusted messages.
//!
//! [`Sender`] owns a [`Counter`] (numbers never repeat, even across power loss) and the rule
//! that picks each frame's sequence-number length; it seals ordinary frames, multi-fragment
//! messages, responses bound to a request, freshness challenges, echoes of a challenge and
//! timed frames. [`Recipient`] checks a frame in a fixed order: wire format, key epoch, sender
//! membership, binding (the request or challenge an extension frame answers), sequence
//! reconstruction, replay window, and only then the tag; its replay state moves only after the
//! tag verified, and the payload is handed out only then (on failure the buffer is wiped).
//! Freshness is a typed result ([`Freshness`]) judged per [`TrafficClass`].
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
use crate::frame::{
    Binding, Fragment, Frame, Repeat, Repr, SenderIdMode, SeqForm, Source, TruncatedSeq, WireError,
    MAX_FRAGMENTS,
};
use crate::replay::{Accepted, Lane, ReplayStore, ReplayWindow, WindowKey};
use crate::seq::{reconstruct, shortest_form};
use crate::source::{NoSourceKeys, SourceKeys, SIGNATURE_LEN};
#[cfg(feature = "signed")]
use crate::source::{SignedInput, SigningKey};
use crate::{Error, Stats, TAG_LEN};

pub use crate::replay::OrderPolicy;

/// Largest payload of one frame (CCM with a 13-byte nonce has a 2-byte length field).
pub const MAX_PAYLOAD: usize = 0xffff;

/// Longest associated data: extension byte, fragment binding (first number, fragment byte),
/// one bound frame id (sender, number), a coarse timestamp and a repeat announcement.
pub const MAX_AAD: usize = 1 + 6 + 9 + 2 + 2;

/// A frame's identity within the group: who sealed it and under which number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameId {
    /// The sender id.
    pub sender: u32,
    /// The full sequence number.
    pub seq: u64,
}

/// What a frame being sealed carries beyond its payload.
#[derive(Debug, Clone, Copy)]
struct Ext {
    fragment: Option<Fragment>,
    binding: Binding,
    bound: Option<FrameId>,
    form: Option<SeqForm>,
    time: Option<u16>,
    repeat: Option<Repeat>,
    source: Source,
}

impl Ext {
    const NONE: Ext = Ext {
        fragment: None,
        binding: Binding::None,
        bound: None,
        form: None,
        time: None,
        repeat: None,
        source: Source::Group,
    };
}

/// Which key seals a frame, and whether the sender signs it.
#[derive(Clone, Copy)]
enum Auth<'k, A: AeadBackend> {
    Group,
    Pairwise(&'k GroupKeys<A>),
    #[cfg(feature = "signed")]
    Signed(&'k SigningKey),
}

impl<A: AeadBackend> Auth<'_, A> {
    const fn source(&self) -> Source {
        match self {
            Auth::Group => Source::Group,
            Auth::Pairwise(_) => Source::Pairwise,
            #[cfg(feature = "signed")]
            Auth::Signed(_) => Source::Signed,
        }
    }

    const fn extra_len(&self) -> usize {
        match self {
            #[cfg(feature = "signed")]
            Auth::Signed(_) => SIGNATURE_LEN,
            _ => 0,
        }
    }
}

/// Associated data of a frame: empty without an extension byte; otherwise the extension byte,
/// then for a fragment the message's first number (u40) and the fragment byte, then the bound
/// frame id (sender u32, number u40) for responses, challenges and echoes, then the timestamp
/// and the repeat announcement (copies, window) as sent.
fn associated_data(
    out: &mut [u8; MAX_AAD],
    ext: u8,
    seq: u64,
    fragment: Option<Fragment>,
    bound: Option<FrameId>,
    time: Option<u16>,
    repeat: Option<Repeat>,
) -> usize {
    if ext == 0 {
        return 0;
    }
    out[0] = ext;
    let mut at = 1;
    if let Some(f) = fragment {
        let first = seq.wrapping_sub(u64::from(f.index)) & crate::frame::SEQ_MAX;
        out[at..at + 5].copy_from_slice(&first.to_be_bytes()[3..]);
        out[at + 5] = f.to_byte();
        at += 6;
    }
    if let Some(b) = bound {
        out[at..at + 4].copy_from_slice(&b.sender.to_be_bytes());
        out[at + 4..at + 9].copy_from_slice(&b.seq.to_be_bytes()[3..]);
        at += 9;
    }
    if let Some(t) = time {
        out[at..at + 2].copy_from_slice(&t.to_be_bytes());
        at += 2;
    }
    if let Some(r) = repeat {
        out[at] = r.copies;
        out[at + 1] = r.window;
        at += 2;
    }
    at
}

/// Whether key epoch `a` is newer than `b`: ahead by 1 to 2^15 - 1 in wrapping arithmetic, so
/// the 16-bit epoch may wrap around.
pub const fn epoch_is_newer(a: u16, b: u16) -> bool {
    let d = a.wrapping_sub(b);
    d != 0 && d < 0x8000
}

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
    /// Frames one key epoch may seal (from [`Sender::epoch_start`]); at this count the sender
    /// refuses with [`Error::CounterExhausted`] until it is rekeyed. The default is the whole
    /// 40-bit sequence space; deployments that follow AEAD usage limits set less.
    pub key_budget: u64,
    /// How many frames before the budget runs out [`Sender::rekey_due`] starts to say so, so
    /// the application can ask for a rekey while it can still send.
    pub rekey_warning: u64,
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
            key_budget: u64::MAX,
            rekey_warning: 1 << 20,
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
    epoch_start: u64,
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
    /// Boots a sender: resumes after the last reservation persisted in `store`. A store
    /// without a record is refused as [`Error::NoCounterRecord`]: see [`Sender::provision`].
    pub fn new(keys: GroupKeys<A>, cfg: SenderConfig, store: S) -> Result<Self, Error> {
        if cfg.full_every == 0 {
            return Err(Error::InvalidConfig);
        }
        let counter = Counter::boot(store, cfg.reservation_block)?;
        Ok(Self::with_counter(keys, cfg, counter))
    }

    /// Boots the sender of a newly provisioned identity: a store without a record starts at
    /// 0 (after durably writing a first record). Call this only where the identity (group,
    /// epoch, sender id) is known never to have sealed: at provisioning, never on an ordinary
    /// boot, where a lost record must stay an error rather than repeat nonces.
    pub fn provision(keys: GroupKeys<A>, cfg: SenderConfig, store: S) -> Result<Self, Error> {
        if cfg.full_every == 0 {
            return Err(Error::InvalidConfig);
        }
        let counter = Counter::provision(store, cfg.reservation_block)?;
        Ok(Self::with_counter(keys, cfg, counter))
    }

    fn with_counter(keys: GroupKeys<A>, cfg: SenderConfig, counter: Counter<S>) -> Self {
        let epoch_start = counter.peek();
        Sender {
            keys,
            cfg,
            counter,
            len: LengthState::default(),
            epoch_start,
        }
    }

    /// Switches to the keys of a newer epoch of the same group (after a verified rekey
    /// message). Sequence numbers continue (the nonce changes with the key); receivers judge
    /// the new epoch's frames by a new window, so the next frames carry the full number. The
    /// key budget starts again.
    pub fn rekey(&mut self, keys: GroupKeys<A>) -> Result<(), Error> {
        if keys.group_id() != self.keys.group_id()
            || !epoch_is_newer(keys.epoch(), self.keys.epoch())
        {
            return Err(Error::InvalidConfig);
        }
        self.keys = keys;
        self.epoch_start = self.counter.peek();
        // Receivers start a new window for each epoch: send the full number until confirmed.
        self.len = LengthState::default();
        Ok(())
    }

    /// The key epoch frames are sealed under.
    pub fn epoch(&self) -> u16 {
        self.keys.epoch()
    }

    /// The first sequence number sealed under the current keys (the key budget counts from
    /// it). A sender rebuilt after a reboot starts counting at its first new number; the
    /// application that persists the epoch with its keys restores the start with
    /// [`Sender::set_epoch_start`].
    pub fn epoch_start(&self) -> u64 {
        self.epoch_start
    }

    /// Restores [`Sender::epoch_start`] after a reboot. A start in the future is clamped to
    /// the next number: the budget can only be counted conservatively.
    pub fn set_epoch_start(&mut self, start: u64) {
        self.epoch_start = start.min(self.counter.peek());
    }

    /// Whether the key budget is within its warning distance of running out: time to ask the
    /// group manager for a rekey.
    pub fn rekey_due(&self) -> bool {
        self.remaining() <= self.cfg.rekey_warning
    }

    /// The sequence number the next frame will carry.
    pub fn next_seq(&self) -> u64 {
        self.counter.peek()
    }

    /// Frames left before the sender must stop (rekey required): the smaller of the key
    /// budget and the sequence space.
    pub fn remaining(&self) -> u64 {
        let used = self.counter.peek() - self.epoch_start;
        self.counter
            .remaining()
            .min(self.cfg.key_budget.saturating_sub(used))
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
        self.form_for(0)
    }

    /// The length rule for the number `ahead` past the next one, decided now: the full form
    /// without a reference or when the periodic full frame is due, the shortest sufficient
    /// form otherwise.
    fn form_for(&self, ahead: u64) -> SeqForm {
        let periodic = self.len.since_full.saturating_add(1) >= self.cfg.full_every;
        match self.len.reference {
            Some(r) if !periodic => shortest_form(self.counter.peek() + ahead, r),
            _ => SeqForm::FULL,
        }
    }

    fn repr(&self, payload_len: usize, ext: &Ext) -> Repr {
        let mut form = ext.form.unwrap_or_else(|| self.next_form());
        // Extensions live in the long form only.
        let has_ext = ext.binding != Binding::None
            || ext.fragment.is_some()
            || ext.time.is_some()
            || ext.repeat.is_some()
            || ext.source != Source::Group;
        if has_ext && form == SeqForm::Short {
            form = SeqForm::Bytes(1);
        }
        Repr {
            epoch_bits: (self.keys.epoch() & 3) as u8,
            sender: match self.cfg.sender_id_mode {
                SenderIdMode::Explicit => Some(self.cfg.sender_id),
                SenderIdMode::Implicit => None,
            },
            seq: TruncatedSeq::of(self.counter.peek(), form),
            fragment: ext.fragment,
            binding: ext.binding,
            time: ext.time,
            repeat: ext.repeat,
            source: ext.source,
            payload_len,
        }
    }

    /// This member's sender id.
    pub fn id(&self) -> u32 {
        self.cfg.sender_id
    }

    /// Length of the frame that sealing `payload_len` bytes would produce now.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        self.repr(payload_len, &Ext::NONE).buffer_len()
    }

    /// Seals `payload` into `out`; returns the frame length.
    ///
    /// Fails without consuming a number if `out` is too small or the payload too large.
    pub fn seal(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.seal_with(payload, &Ext::NONE, out).map(|(n, _)| n)
    }

    /// Length of the frame that sealing `payload_len` bytes in mode `source` would produce now.
    pub fn frame_len_as(&self, payload_len: usize, source: Source) -> usize {
        let extra = if source == Source::Signed {
            SIGNATURE_LEN
        } else {
            0
        };
        let ext = Ext {
            source,
            ..Ext::NONE
        };
        self.repr(payload_len.saturating_add(extra), &ext)
            .buffer_len()
    }

    /// Like [`Sender::seal_echo`], signed like [`Sender::seal_signed`]: the repeat of a signed
    /// command, for a receiver that accepts only source-authenticated frames.
    #[cfg(feature = "signed")]
    pub fn seal_echo_signed(
        &mut self,
        payload: &[u8],
        challenge: FrameId,
        key: &SigningKey,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            binding: Binding::Echo,
            bound: Some(challenge),
            form: Some(SeqForm::FULL),
            ..Ext::NONE
        };
        self.seal_auth(payload, &ext, Auth::Signed(key), out)
            .map(|(n, _)| n)
    }

    /// Seals `payload` for one recipient under `pair`, the pairwise keys this member shares
    /// with it (`source::derive_pairwise`, feature `pairwise`; same group and epoch as the
    /// sender's keys):
    /// no other member can read it or seal it in this member's name.
    pub fn seal_pairwise(
        &mut self,
        payload: &[u8],
        pair: &GroupKeys<A>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.seal_auth(payload, &Ext::NONE, Auth::Pairwise(pair), out)
            .map(|(n, _)| n)
    }

    /// Seals `payload` under the group key with this member's Ed25519ph signature inside the
    /// ciphertext (64 bytes more): every member can check that this member sealed it.
    #[cfg(feature = "signed")]
    pub fn seal_signed(
        &mut self,
        payload: &[u8],
        key: &SigningKey,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        self.seal_auth(payload, &Ext::NONE, Auth::Signed(key), out)
            .map(|(n, _)| n)
    }

    /// Seals a response bound to `request` (its sender and number are authenticated with it,
    /// so the response cannot be replayed to answer another request).
    pub fn seal_response(
        &mut self,
        payload: &[u8],
        request: FrameId,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            binding: Binding::Response,
            bound: Some(request),
            ..Ext::NONE
        };
        self.seal_with(payload, &ext, out).map(|(n, _)| n)
    }

    /// Seals `payload` with a coarse timestamp `time` (the group's unit, e.g. minutes, modulo
    /// 2^16), authenticated with it: a receiver with a clock refuses it as stale once it is
    /// older than its bound, whatever its replay state ([`Recipient::set_clock`]). Costs 3 bytes
    /// plus the long sequence form.
    pub fn seal_timed(
        &mut self,
        payload: &[u8],
        time: u16,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            time: Some(time),
            ..Ext::NONE
        };
        self.seal_with(payload, &ext, out).map(|(n, _)| n)
    }

    /// Seals `payload` for a sleepy receiver: the application transmits the returned frame
    /// `repeat.copies` times over `repeat.window` time units (the same bytes each time, so a
    /// receiver acts on one copy at most). The announcement is authenticated: a receiver reports
    /// later copies as [`Error::Duplicate`], not as replays, up to `copies - 1` of them and, with
    /// `time` (the window's start, the group's coarse time) and a receiver clock, only until the
    /// window ends; after it a copy is stale for classes that need freshness. The sequence
    /// number is always sent in full (a sleepy receiver may have missed any number of the
    /// sender's frames). Costs 8 bytes more than a steady short-form frame, 10 with `time`.
    pub fn seal_repeated(
        &mut self,
        payload: &[u8],
        repeat: Repeat,
        time: Option<u16>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        if repeat.copies == 0 {
            return Err(Error::InvalidConfig);
        }
        // A repeated frame is for receivers that hear the sender rarely: they may have missed
        // any number of its frames, so the number is always sent in full.
        let ext = Ext {
            repeat: Some(repeat),
            time,
            form: Some(SeqForm::FULL),
            ..Ext::NONE
        };
        self.seal_with(payload, &ext, out).map(|(n, _)| n)
    }

    /// Seals a freshness challenge answering `request`; returns the frame length and the
    /// challenge's own id, which the requester must echo. Always carries the full number.
    pub fn seal_challenge(
        &mut self,
        request: FrameId,
        out: &mut [u8],
    ) -> Result<(usize, FrameId), Error> {
        let ext = Ext {
            binding: Binding::Challenge,
            bound: Some(request),
            form: Some(SeqForm::FULL),
            ..Ext::NONE
        };
        self.seal_with(&[], &ext, out)
    }

    /// Seals a request again with proof of freshness: bound to the receiver's `challenge`.
    /// Always carries the full number, since the receiver may hold no state for this sender.
    pub fn seal_echo(
        &mut self,
        payload: &[u8],
        challenge: FrameId,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            binding: Binding::Echo,
            bound: Some(challenge),
            form: Some(SeqForm::FULL),
            ..Ext::NONE
        };
        self.seal_with(payload, &ext, out).map(|(n, _)| n)
    }

    /// Seals `message` as one frame of at most `mtu` bytes, or as up to 16 fragments with
    /// consecutive sequence numbers, each a full AEAD frame bound to the message's first number,
    /// its fragment count and its index. Each frame is written into `scratch` (at least `mtu`
    /// bytes) and handed to `emit`. Returns the number of frames.
    ///
    /// All fragments but the last carry the same number of bytes. If sealing fails part way
    /// (e.g. the counter store fails), the frames already emitted form an incomplete message
    /// that receivers discard.
    pub fn seal_message(
        &mut self,
        message: &[u8],
        mtu: usize,
        scratch: &mut [u8],
        mut emit: impl FnMut(&[u8]),
    ) -> Result<usize, Error> {
        if scratch.len() < mtu {
            return Err(Error::BufferTooSmall);
        }
        if self.frame_len(message.len()) <= mtu {
            let n = self.seal(message, scratch)?;
            emit(&scratch[..n]);
            return Ok(1);
        }
        // One form for the whole message, wide enough for its last possible fragment; the full
        // form when the periodic full frame falls due anywhere inside the message, so that the
        // rule "a full number at least once per `full_every` frames" holds across messages.
        let mut form = match self.form_for(u64::from(MAX_FRAGMENTS) - 1) {
            SeqForm::Short => SeqForm::Bytes(1),
            f => f,
        };
        let (mut chunk, mut count) = self.split(message.len(), mtu, form)?;
        let due = self.len.since_full.saturating_add(count as u32) >= self.cfg.full_every;
        if !form.is_full() && due {
            form = SeqForm::FULL;
            (chunk, count) = self.split(message.len(), mtu, form)?;
        }
        if self.remaining() < count as u64 {
            return Err(Error::CounterExhausted);
        }
        for (i, part) in message.chunks(chunk).enumerate() {
            let ext = Ext {
                fragment: Some(Fragment {
                    index: i as u8,
                    count: count as u8,
                }),
                form: Some(form),
                ..Ext::NONE
            };
            let (n, _) = self.seal_with(part, &ext, scratch)?;
            emit(&scratch[..n]);
        }
        Ok(count)
    }

    /// Fragment payload size and count for a message of `len` bytes in frames of `mtu` bytes.
    fn split(&self, len: usize, mtu: usize, form: SeqForm) -> Result<(usize, usize), Error> {
        let probe = Ext {
            fragment: Some(Fragment { index: 0, count: 2 }),
            form: Some(form),
            ..Ext::NONE
        };
        let header = self.repr(0, &probe).header_len();
        let chunk = mtu
            .checked_sub(header + TAG_LEN)
            .filter(|&c| c > 0)
            .ok_or(Error::BufferTooSmall)?;
        let count = len.div_ceil(chunk);
        if count > usize::from(MAX_FRAGMENTS) {
            return Err(Error::PayloadTooLarge);
        }
        Ok((chunk, count))
    }

    /// Seals one fragment of a multi-fragment message. Fragments of one message must be sealed
    /// in index order with nothing in between (their numbers are consecutive); prefer
    /// [`Sender::seal_message`].
    pub fn seal_fragment(
        &mut self,
        payload: &[u8],
        fragment: Fragment,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            fragment: Some(fragment),
            ..Ext::NONE
        };
        self.seal_with(payload, &ext, out).map(|(n, _)| n)
    }

    fn seal_with(
        &mut self,
        payload: &[u8],
        ext: &Ext,
        out: &mut [u8],
    ) -> Result<(usize, FrameId), Error> {
        self.seal_auth(payload, ext, Auth::Group, out)
    }

    fn seal_auth(
        &mut self,
        payload: &[u8],
        ext: &Ext,
        auth: Auth<'_, A>,
        out: &mut [u8],
    ) -> Result<(usize, FrameId), Error> {
        let body_len = payload.len() + auth.extra_len();
        if body_len > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge);
        }
        let keys = match auth {
            Auth::Pairwise(k) => {
                if k.group_id() != self.keys.group_id() || k.epoch() != self.keys.epoch() {
                    return Err(Error::InvalidConfig);
                }
                k
            }
            _ => &self.keys,
        };
        let ext = &Ext {
            source: auth.source(),
            ..*ext
        };
        let repr = self.repr(body_len, ext);
        let total = repr.buffer_len();
        // Only a caller-supplied fragment can make the representation invalid.
        let header = repr.header_byte().map_err(|_| Error::InvalidConfig)?;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        if let Some(f) = ext.fragment {
            if self.counter.peek() < u64::from(f.index) {
                return Err(Error::InvalidConfig);
            }
        }
        if self.remaining() == 0 {
            return Err(Error::CounterExhausted);
        }
        let seq = self.counter.take()?;
        debug_assert_eq!(TruncatedSeq::of(seq, repr.seq.form), repr.seq);
        let hlen = repr.emit_header(out).map_err(|_| Error::InvalidConfig)?;
        let nonce = keys.nonce(&NonceInput {
            header,
            ext: repr.ext_byte(),
            epoch: keys.epoch(),
            sender: self.cfg.sender_id,
            seq,
        });
        let mut aad = [0u8; MAX_AAD];
        let aad_len = associated_data(
            &mut aad,
            repr.ext_byte(),
            seq,
            ext.fragment,
            ext.bound,
            ext.time,
            ext.repeat,
        );
        let (head, rest) = out[..total].split_at_mut(hlen);
        let (body, tag_out) = rest.split_at_mut(body_len);
        body[..payload.len()].copy_from_slice(payload);
        #[cfg(feature = "signed")]
        if let Auth::Signed(key) = auth {
            let sig = SignedInput {
                group_id: keys.group_id(),
                epoch: keys.epoch(),
                sender: self.cfg.sender_id,
                seq,
                header: head,
                aad: &aad[..aad_len],
                payload,
            }
            .sign(key)?;
            body[payload.len()..].copy_from_slice(&sig);
        }
        let _ = head;
        match keys.aead().seal_in_place(&nonce, &aad[..aad_len], body) {
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
        Ok((
            total,
            FrameId {
                sender: self.cfg.sender_id,
                seq,
            },
        ))
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
    /// delivered later still passes a verified window; use [`OrderPolicy::Strict`] (refused once
    /// any later frame of the sender was accepted) or [`TrafficClass::Challenged`].
    Actuation,
    /// Only echoes of this receiver's own, unexpired challenges are delivered: every command
    /// costs one round trip, and no frame older than the challenge lifetime can act, whatever
    /// an attacker withheld.
    Challenged,
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
    /// What it is bound to (a response, challenge or echo), if anything.
    pub binding: Binding,
    /// Its position in a multi-fragment message.
    pub fragment: Option<Fragment>,
    /// Its coarse timestamp, if it carries one.
    pub time: Option<u16>,
    /// Its repeat announcement, if it is sent several times for sleepy receivers.
    pub repeat: Option<Repeat>,
    /// Who can have sealed it: any group member, or (verified) only the sender.
    pub source: Source,
    /// Numbers skipped between the previous highest and this frame.
    pub gap: u64,
    /// It arrived after a higher number (reordered).
    pub late: bool,
    /// The plaintext, inside the caller's buffer.
    pub payload: &'a [u8],
}

impl Opened<'_> {
    /// The frame's identity (to bind a response or a challenge to it).
    pub fn id(&self) -> FrameId {
        FrameId {
            sender: self.sender,
            seq: self.seq,
        }
    }
}

/// Recipient settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecipientConfig {
    /// The receiver's own sender id, refused as [`Error::Reflected`] when a frame claims it.
    pub own_id: Option<u32>,
    /// Which orders of arrival are accepted.
    pub order: OrderPolicy,
}

/// Challenges a recipient keeps open at once; the oldest is dropped for a new one.
pub const PENDING_CHALLENGES: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Pending {
    sender: u32,
    challenge: FrameId,
    issued: u64,
}

/// Where a [`Recipient`] keeps the previous epoch's keys through a grace period after a
/// rekey. A second key schedule costs RAM (hundreds of bytes with software AES), so a receiver
/// that never needs a grace period chooses [`NoGrace`] and pays nothing.
pub trait GraceSlot<A: AeadBackend>: Default {
    /// Whether this slot can hold keys at all.
    const HOLDS: bool;
    /// The held keys and the caller time until which they are accepted.
    fn held(&self) -> Option<(&GroupKeys<A>, u64)>;
    /// Holds `keys` (or nothing); a slot that cannot hold keys ignores them.
    fn hold(&mut self, keys: Option<(GroupKeys<A>, u64)>);
}

/// No grace period: a rekey switches a receiver at once; [`Recipient::install_epoch`] with a
/// grace period is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGrace;

impl<A: AeadBackend> GraceSlot<A> for NoGrace {
    const HOLDS: bool = false;
    fn held(&self) -> Option<(&GroupKeys<A>, u64)> {
        None
    }
    fn hold(&mut self, _: Option<(GroupKeys<A>, u64)>) {}
}

/// Room for the previous epoch's keys (the default).
pub struct Grace<A: AeadBackend = RustCryptoCcm>(Option<(GroupKeys<A>, u64)>);

impl<A: AeadBackend> Default for Grace<A> {
    fn default() -> Self {
        Grace(None)
    }
}

impl<A: AeadBackend> GraceSlot<A> for Grace<A> {
    const HOLDS: bool = true;
    fn held(&self) -> Option<(&GroupKeys<A>, u64)> {
        self.0.as_ref().map(|(k, until)| (k, *until))
    }
    fn hold(&mut self, keys: Option<(GroupKeys<A>, u64)>) {
        self.0 = keys;
    }
}

/// The receiving half of a member: opens frames from the group.
///
/// It holds the keys of the current epoch and, for a grace period after a rekey, those of the
/// previous one ([`Recipient::install_epoch`]); a frame of any other epoch is refused as
/// [`Error::UnknownEpoch`]. Each sender's windows record their epoch: the sender's first frame
/// of a newer epoch starts a new window, and its frames of an older epoch are refused from then
/// on. Where the previous epoch's keys live is `G` ([`Grace`] by default, [`NoGrace`] to save
/// its RAM).
pub struct Recipient<R, M = AnySender, A = RustCryptoCcm, const W: usize = 1, G = Grace<A>>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    keys: GroupKeys<A>,
    previous: G,
    cfg: RecipientConfig,
    members: M,
    replay: R,
    stats: Stats,
    pending: heapless::Vec<Pending, PENDING_CHALLENGES>,
    stale: Option<FrameId>,
    clock: Option<Clock>,
    repeats: heapless::Vec<RepeatSeen, TRACKED_REPEATS>,
}

/// The receiver's coarse clock and the age it accepts for timed frames.
#[derive(Debug, Clone, Copy)]
struct Clock {
    now: u16,
    max_age: u16,
}

impl Clock {
    /// A timestamp at most `window + max_age` units old (a repeated frame stays fresh through
    /// its window), or at most `max_age` ahead (clock skew).
    fn accepts(&self, t: u16, window: u8) -> bool {
        u32::from(self.now.wrapping_sub(t)) <= u32::from(window) + u32::from(self.max_age)
            || t.wrapping_sub(self.now) <= self.max_age
    }

    /// Whether `end` (a window's end) lies more than `max_age` in the past.
    fn past(&self, end: u16) -> bool {
        let d = self.now.wrapping_sub(end);
        d > self.max_age && d < 0x8000
    }
}

/// Repeated frames a recipient recently accepted, to tell their later copies from replays.
pub const TRACKED_REPEATS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct RepeatSeen {
    sender: u32,
    seq: u64,
    /// Copies still expected.
    left: u8,
    /// End of the transmit window, for timed repeats.
    end: Option<u16>,
}

impl<R, M, A, const W: usize, G> core::fmt::Debug for Recipient<R, M, A, W, G>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Recipient")
            .field("cfg", &self.cfg)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// What the caller of an open expects of the frame.
#[derive(Debug, Clone, Copy)]
struct Expect {
    class: TrafficClass,
    /// The request a response or challenge must answer.
    request: Option<FrameId>,
    /// Only pairwise or signed frames are accepted.
    require_source: bool,
}

impl Expect {
    /// Any frame but a response or challenge, judged under `class`.
    const fn class(class: TrafficClass) -> Self {
        Expect {
            class,
            request: None,
            require_source: false,
        }
    }

    /// A pairwise or signed frame, judged under `class`.
    const fn authenticated(class: TrafficClass) -> Self {
        Expect {
            class,
            request: None,
            require_source: true,
        }
    }

    /// A response or challenge to `request`.
    const fn response(request: FrameId) -> Self {
        Expect {
            class: TrafficClass::Telemetry,
            request: Some(request),
            require_source: false,
        }
    }
}

impl<R, M, A, const W: usize> Recipient<R, M, A, W>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
{
    /// A recipient over `replay` state, accepting senders in `members`, with room for the
    /// previous epoch's keys through a grace period after a rekey.
    pub fn new(keys: GroupKeys<A>, cfg: RecipientConfig, members: M, replay: R) -> Self {
        Self::with_grace_slot(keys, cfg, members, replay)
    }
}

impl<R, M, A, const W: usize> Recipient<R, M, A, W, NoGrace>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
{
    /// Like [`Recipient::new`], without room for a previous epoch: a rekey switches at once,
    /// and the RAM of a second key schedule is saved.
    pub fn new_without_grace(
        keys: GroupKeys<A>,
        cfg: RecipientConfig,
        members: M,
        replay: R,
    ) -> Self {
        Self::with_grace_slot(keys, cfg, members, replay)
    }
}

impl<R, M, A, const W: usize, G> Recipient<R, M, A, W, G>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    /// A recipient with the grace slot `G`; see [`Recipient::new`] and
    /// [`Recipient::new_without_grace`].
    pub fn with_grace_slot(
        keys: GroupKeys<A>,
        cfg: RecipientConfig,
        members: M,
        replay: R,
    ) -> Self {
        Recipient {
            keys,
            previous: G::default(),
            cfg,
            members,
            replay,
            stats: Stats::default(),
            pending: heapless::Vec::new(),
            stale: None,
            clock: None,
            repeats: heapless::Vec::new(),
        }
    }

    /// Creates verified, empty state for `sender`. Only valid before that sender sealed
    /// anything under these keys (at group creation or right after a rekey).
    /// With source authentication built in (`pairwise` or `signed`), both of its windows are
    /// created: the group lane and the source lane.
    pub fn provision(&mut self, sender: u32) {
        let window = ReplayWindow::provisioned().in_epoch(self.keys.epoch());
        let lanes: &[Lane] = if cfg!(any(feature = "pairwise", feature = "signed")) {
            &[Lane::Group, Lane::Source]
        } else {
            &[Lane::Group]
        };
        for &lane in lanes {
            if self
                .replay
                .insert(WindowKey { sender, lane }, window)
                .is_some()
            {
                self.stats.evicted = self.stats.evicted.saturating_add(1);
            }
        }
    }

    /// Switches to the keys of a newer epoch of the same group (after a verified rekey
    /// message). With `grace_until`, frames of the epoch being replaced stay accepted until
    /// [`Recipient::expire_epoch`] is called with a later time (the caller's clock, any unit);
    /// with `None` they are refused at once, which is what revoking a compromised member needs.
    ///
    /// Refused as [`Error::InvalidConfig`] for another group, an epoch that is not newer, a
    /// grace period between epochs that share their 2 bits on the wire (a jump by a multiple of
    /// 4), which a receiver could not tell apart, or a grace period with [`NoGrace`].
    pub fn install_epoch(
        &mut self,
        keys: GroupKeys<A>,
        grace_until: Option<u64>,
    ) -> Result<(), Error> {
        let old = self.keys.epoch();
        if keys.group_id() != self.keys.group_id() || !epoch_is_newer(keys.epoch(), old) {
            return Err(Error::InvalidConfig);
        }
        if grace_until.is_some() && (keys.epoch() & 3 == old & 3 || !G::HOLDS) {
            return Err(Error::InvalidConfig);
        }
        let replaced = core::mem::replace(&mut self.keys, keys);
        self.previous
            .hold(grace_until.map(|until| (replaced, until)));
        Ok(())
    }

    /// Drops the previous epoch's keys once `now` is past their grace period; returns whether
    /// it did.
    pub fn expire_epoch(&mut self, now: u64) -> bool {
        if self.previous.held().is_some_and(|(_, until)| now > until) {
            self.previous.hold(None);
            return true;
        }
        false
    }

    /// The accepted senders, to apply the removals a rekey announces.
    pub fn members_mut(&mut self) -> &mut M {
        &mut self.members
    }

    /// Drops the previous epoch's keys now, whatever their grace period.
    pub fn retire_previous_epoch(&mut self) {
        self.previous.hold(None);
    }

    /// The epoch still accepted through its grace period, and until when.
    pub fn previous_epoch(&self) -> Option<(u16, u64)> {
        self.previous.held().map(|(k, until)| (k.epoch(), until))
    }

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

    /// Opens a frame that carries its sender id, in place, as telemetry.
    pub fn open<'b>(&mut self, frame: &'b mut [u8]) -> Result<Opened<'b>, Error> {
        self.open_class(frame, TrafficClass::Telemetry)
    }

    /// Opens a frame whose sender id the link layer supplies, in place, as telemetry.
    pub fn open_from<'b>(&mut self, frame: &'b mut [u8], sender: u32) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Implicit,
            Some(sender),
            Expect::class(TrafficClass::Telemetry),
            &NoSourceKeys,
        )
    }

    /// Opens a frame under the freshness demand of `class`.
    pub fn open_class<'b>(
        &mut self,
        frame: &'b mut [u8],
        class: TrafficClass,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Explicit,
            None,
            Expect::class(class),
            &NoSourceKeys,
        )
    }

    /// Like [`Recipient::open_class`] for a frame whose sender the link layer supplies.
    pub fn open_from_class<'b>(
        &mut self,
        frame: &'b mut [u8],
        sender: u32,
        class: TrafficClass,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Implicit,
            Some(sender),
            Expect::class(class),
            &NoSourceKeys,
        )
    }

    /// Opens a response (or a challenge) to `request`, which this member sent. Anything else,
    /// or a response to another request, is refused.
    pub fn open_response<'b>(
        &mut self,
        frame: &'b mut [u8],
        request: FrameId,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Explicit,
            None,
            Expect::response(request),
            &NoSourceKeys,
        )
    }

    /// Like [`Recipient::open_response`] for a frame whose sender the link layer supplies.
    pub fn open_response_from<'b>(
        &mut self,
        frame: &'b mut [u8],
        sender: u32,
        request: FrameId,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Implicit,
            Some(sender),
            Expect::response(request),
            &NoSourceKeys,
        )
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
            .map(|p| (p.sender, p.challenge, p.issued))
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
            challenge,
            issued,
        });
    }

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

    /// Remembers a repeated frame, dropping the oldest one when the table is full.
    fn track_repeat(&mut self, seen: RepeatSeen) {
        if self.repeats.is_full() {
            self.repeats.remove(0);
        }
        // Cannot fail: a slot was freed above.
        let _ = self.repeats.push(seen);
    }

    /// Forgets challenges issued before `now - lifetime`; returns how many.
    pub fn expire_challenges(&mut self, now: u64, lifetime: u64) -> usize {
        let before = self.pending.len();
        self.pending
            .retain(|p| now.saturating_sub(p.issued) <= lifetime);
        before - self.pending.len()
    }

    /// Opens a frame only if its source is authenticated: pairwise, under the keys this member
    /// shares with the sender, or signed by the sender; a plain group frame is refused as
    /// [`Error::Unauthenticated`]. `keys` supplies the pairwise and verifying keys.
    pub fn open_authenticated<'b, P: SourceKeys<A>>(
        &mut self,
        frame: &'b mut [u8],
        class: TrafficClass,
        keys: &P,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Explicit,
            None,
            Expect::authenticated(class),
            keys,
        )
    }

    /// Like [`Recipient::open_authenticated`] for a frame whose sender the link layer supplies.
    pub fn open_from_authenticated<'b, P: SourceKeys<A>>(
        &mut self,
        frame: &'b mut [u8],
        sender: u32,
        class: TrafficClass,
        keys: &P,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Implicit,
            Some(sender),
            Expect::authenticated(class),
            keys,
        )
    }

    /// Opens group, pairwise and signed frames alike; [`Opened::source`] says which it was.
    pub fn open_with_keys<'b, P: SourceKeys<A>>(
        &mut self,
        frame: &'b mut [u8],
        class: TrafficClass,
        keys: &P,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Explicit,
            None,
            Expect::class(class),
            keys,
        )
    }

    /// Like [`Recipient::open_with_keys`] for a frame whose sender the link layer supplies.
    pub fn open_from_with_keys<'b, P: SourceKeys<A>>(
        &mut self,
        frame: &'b mut [u8],
        sender: u32,
        class: TrafficClass,
        keys: &P,
    ) -> Result<Opened<'b>, Error> {
        self.open_inner(
            frame,
            SenderIdMode::Implicit,
            Some(sender),
            Expect::class(class),
            keys,
        )
    }

    fn open_inner<'b, P: SourceKeys<A>>(
        &mut self,
        buf: &'b mut [u8],
        mode: SenderIdMode,
        link_sender: Option<u32>,
        expect: Expect,
        src: &P,
    ) -> Result<Opened<'b>, Error> {
        match self.judge(buf, mode, link_sender, expect, src) {
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

    fn judge<P: SourceKeys<A>>(
        &mut self,
        buf: &mut [u8],
        mode: SenderIdMode,
        link_sender: Option<u32>,
        expect: Expect,
        src: &P,
    ) -> Result<(Opened<'static>, core::ops::Range<usize>), Error> {
        let mut frame = Frame::new_checked(&mut *buf, mode)?;
        let bits = frame.epoch_bits();
        let keys = if bits == (self.keys.epoch() & 3) as u8 {
            &self.keys
        } else {
            match self.previous.held() {
                Some((k, _)) if bits == (k.epoch() & 3) as u8 => k,
                _ => return Err(Error::UnknownEpoch),
            }
        };
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
        let source = frame.source();
        let group_id = keys.group_id();
        let (keys, sig_len) = match source {
            Source::Group if expect.require_source => return Err(Error::Unauthenticated),
            Source::Group => (keys, 0),
            Source::Pairwise => (
                src.pairwise(sender)
                    .filter(|k| (k.epoch() & 3) as u8 == bits && k.group_id() == group_id)
                    .ok_or(Error::UnknownKey)?,
                0,
            ),
            Source::Signed => (keys, SIGNATURE_LEN),
        };
        #[cfg(feature = "signed")]
        let verifier = match source {
            Source::Signed => Some(src.verifying_key(sender).ok_or(Error::UnknownKey)?),
            _ => None,
        };
        #[cfg(not(feature = "signed"))]
        if source == Source::Signed {
            return Err(Error::UnknownKey);
        }
        if frame.payload().len() < sig_len {
            return Err(Error::Malformed(WireError::Truncated));
        }
        let binding = frame.binding();
        let bound = match (binding, expect.request) {
            (Binding::None, None) => None,
            (Binding::Response | Binding::Challenge, Some(request)) => Some(request),
            (Binding::Echo, None) => Some(
                self.pending
                    .iter()
                    .find(|p| p.sender == sender)
                    .map(|p| p.challenge)
                    .ok_or(Error::Unsolicited)?,
            ),
            _ => return Err(Error::Unsolicited),
        };
        let t = frame.truncated_seq();
        let epoch = keys.epoch();
        let key = WindowKey {
            sender,
            lane: match source {
                Source::Group => Lane::Group,
                _ => Lane::Source,
            },
        };
        let stored = self.replay.get(key).copied();
        // Numbers continue across epochs and are shared by both lanes: any window of the
        // sender guides reconstruction (a wrong guess only fails the tag).
        let reference = match &stored {
            Some(w) => Some(w.expected()),
            None => {
                let other = match key.lane {
                    Lane::Group => WindowKey::source(sender),
                    Lane::Source => WindowKey::group(sender),
                };
                self.replay.get(other).map(|w| w.expected())
            }
        };
        let seq = match reference {
            Some(r) => reconstruct(r, t),
            None if t.form.is_full() => t.value,
            None => return Err(Error::Unsynchronized),
        };
        let window = match stored {
            Some(w) if w.epoch() == epoch => Slot::Current(w),
            // The first frame of a newer epoch opens a new window: nothing accepted (or
            // forged) under older keys carries over. The keys came in a verified rekey, so
            // nothing sealed under them was accepted before.
            Some(w) if epoch_is_newer(epoch, w.epoch()) => Slot::NewEpoch(w.expected()),
            // The sender already moved to a newer epoch: an older frame can only be late.
            Some(_) => Slot::Superseded,
            None => Slot::Absent,
        };
        // The window's verdict counts only once the tag shows the frame is authentic: nobody
        // without the key, and no wrong reconstruction, may be reported as a replay.
        let mut verdict = match window {
            Slot::Current(w) => w.check(seq, self.cfg.order),
            Slot::Superseded => Err(Error::TooOld),
            Slot::NewEpoch(_) | Slot::Absent => Ok(()),
        };
        // A number already accepted is a replay, unless it is a repeated frame this receiver
        // accepted recently: then, once the tag shows it is that frame, a duplicate.
        let mut duplicate = None;
        if verdict == Err(Error::Replay) {
            duplicate = self
                .repeats
                .iter()
                .position(|r| r.sender == sender && r.seq == seq);
            if duplicate.is_some() {
                verdict = Ok(());
            }
        }
        let mut aad = [0u8; MAX_AAD];
        let time = frame.time();
        let repeat = frame.repeat();
        let aad_len = associated_data(
            &mut aad,
            frame.ext_byte(),
            seq,
            frame.fragment(),
            bound,
            time,
            repeat,
        );
        decrypt(keys, &mut frame, sender, seq, &aad[..aad_len])?;
        #[cfg(feature = "signed")]
        if let Some(vk) = verifier {
            let hlen = frame.header_len();
            let bytes = frame.bytes();
            let end = bytes.len() - TAG_LEN;
            let mut sig = [0u8; SIGNATURE_LEN];
            sig.copy_from_slice(&bytes[end - SIGNATURE_LEN..end]);
            let checked = SignedInput {
                group_id,
                epoch,
                sender,
                seq,
                header: &bytes[..hlen],
                aad: &aad[..aad_len],
                payload: &bytes[hlen..end - SIGNATURE_LEN],
            }
            .verify(vk, &sig);
            if let Err(e) = checked {
                frame.payload_mut().fill(0);
                return Err(e);
            }
        }
        if let Err(e) = verdict {
            frame.payload_mut().fill(0);
            return Err(e);
        }
        if let Some(i) = duplicate {
            frame.payload_mut().fill(0);
            let r = &mut self.repeats[i];
            let late = match (r.end, self.clock) {
                (Some(end), Some(clock)) => clock.past(end),
                _ => false,
            };
            if r.left == 0 || late {
                return Err(Error::Replay);
            }
            r.left -= 1;
            return Err(Error::Duplicate);
        }
        let freshness = match (binding, time, self.clock) {
            (Binding::None, Some(t), Some(clock)) => {
                if clock.accepts(t, repeat.map_or(0, |r| r.window)) {
                    Freshness::Fresh
                } else {
                    Freshness::Unknown
                }
            }
            (Binding::None, _, _) => match window {
                Slot::Current(w) if w.is_verified() => Freshness::Fresh,
                Slot::NewEpoch(_) => Freshness::Fresh,
                _ => Freshness::Unknown,
            },
            _ => Freshness::Fresh,
        };
        let stale = match expect.class {
            TrafficClass::Telemetry => false,
            TrafficClass::Actuation => freshness != Freshness::Fresh,
            TrafficClass::Challenged => binding != Binding::Echo,
        };
        // The number is taken even when the frame is refused as stale, so that a recorded
        // frame refused now can never pass later, once the state is verified.
        let (mut w, accepted) = match window {
            Slot::Current(mut w) => {
                let a = w.accept(seq);
                (w, a)
            }
            Slot::NewEpoch(expected) => {
                let mut w = ReplayWindow::provisioned().in_epoch(epoch);
                w.accept(seq);
                let gap = seq.saturating_sub(expected);
                (w, Accepted { gap, late: false })
            }
            Slot::Absent | Slot::Superseded => (
                ReplayWindow::unverified_at(seq).in_epoch(epoch),
                Accepted::default(),
            ),
        };
        if binding == Binding::Echo {
            w.verify_from_here();
        }
        let evicted = match self.replay.get(key) {
            Some(held) => {
                *held = w;
                false
            }
            None => self.replay.insert(key, w).is_some(),
        };
        if evicted {
            self.stats.evicted = self.stats.evicted.saturating_add(1);
        }
        if stale {
            frame.payload_mut().fill(0);
            self.stale = Some(FrameId { sender, seq });
            return Err(Error::Stale);
        }
        self.replay.touch(key);
        if binding == Binding::Echo {
            self.pending.retain(|p| p.sender != sender);
        }
        if let Some(r) = repeat {
            self.track_repeat(RepeatSeen {
                sender,
                seq,
                left: r.copies - 1,
                end: time.map(|t| t.wrapping_add(u16::from(r.window))),
            });
        }
        let range = frame.header_len()..frame.bytes().len() - TAG_LEN - sig_len;
        Ok((
            Opened {
                sender,
                seq,
                epoch,
                freshness,
                binding,
                fragment: frame.fragment(),
                time,
                repeat,
                source,
                gap: accepted.gap,
                late: accepted.late,
                payload: &[],
            },
            range,
        ))
    }
}

/// The window a frame is judged by, as found before its tag is checked.
#[derive(Clone, Copy)]
enum Slot<const W: usize> {
    /// A window of the frame's epoch.
    Current(ReplayWindow<W>),
    /// Only a window of an older epoch, whose next expected number is given: the frame opens
    /// the sender's window for its epoch.
    NewEpoch(u64),
    /// A window of a newer epoch than the frame's.
    Superseded,
    /// No window at all.
    Absent,
}

/// Verifies and decrypts a checked frame in place; wipes the payload on failure.
fn decrypt<A: AeadBackend>(
    keys: &GroupKeys<A>,
    frame: &mut Frame<&mut [u8]>,
    sender: u32,
    seq: u64,
    aad: &[u8],
) -> Result<(), Error> {
    let nonce = keys.nonce(&NonceInput {
        header: frame.header(),
        ext: frame.ext_byte(),
        epoch: keys.epoch(),
        sender,
        seq,
    });
    let tag = frame.tag();
    let body = frame.payload_mut();
    let result = keys.aead().open_in_place(&nonce, aad, body, &tag);
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
/// sequence number against `expected`; `bound` is the frame a response, challenge or echo is
/// bound to. For tools such as `meshseal inspect`; a receiver must use [`Recipient`].
pub fn open_stateless<'b, A: AeadBackend>(
    keys: &GroupKeys<A>,
    buf: &'b mut [u8],
    mode: SenderIdMode,
    link_sender: Option<u32>,
    expected: u64,
    bound: Option<FrameId>,
) -> Result<Verified<'b>, Error> {
    let mut frame = Frame::new_checked(&mut *buf, mode)?;
    if frame.epoch_bits() != (keys.epoch() & 3) as u8 {
        return Err(Error::UnknownEpoch);
    }
    let sender = frame
        .sender_id()
        .or(link_sender)
        .ok_or(Error::UnknownSender)?;
    if frame.source() != Source::Group {
        return Err(Error::UnknownKey);
    }
    let seq = reconstruct(expected, frame.truncated_seq());
    let mut aad = [0u8; MAX_AAD];
    let aad_len = associated_data(
        &mut aad,
        frame.ext_byte(),
        seq,
        frame.fragment(),
        bound,
        frame.time(),
        frame.repeat(),
    );
    decrypt(keys, &mut frame, sender, seq, &aad[..aad_len])?;
    let range = frame.header_len()..frame.bytes().len() - TAG_LEN;
    Ok(Verified {
        sender,
        seq,
        payload: &buf[range],
    })
}
