//! The sending half of a member: the counter, the sequence-number length rule, and sealing.

use super::shared::{
    associated_data, epoch_is_newer, mask_header, seal_body, Ext, FrameId, MAX_AAD, MAX_PAYLOAD,
};
use crate::counter::{Counter, CounterStore};
use crate::crypto::{AeadBackend, GroupKeys, RustCryptoCcm};
use crate::frame::PlainHeader;
use crate::frame::{Binding, Repeat, Repr, SenderIdMode, SeqForm, Source, TruncatedSeq};
use crate::privacy::MAX_PRIVATE_HEADER;
use crate::seq::shortest_form;
use crate::source::SIGNATURE_LEN;
#[cfg(feature = "signed")]
use crate::source::{SignedInput, SigningKey};
use crate::{Error, TAG_LEN};

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
    /// Frames still to be sent with the full number after a rekey: receivers judge them by a
    /// window of the new epoch they may not hold yet, and the old epoch's window, which an
    /// insider may have pushed anywhere, must not be what their short numbers are rebuilt
    /// against. A host that builds its sender under new keys instead of calling
    /// [`Sender::rekey`] sets it to `full_every` itself.
    pub full_run: u32,
}

/// The sending half of a member: seals payloads into frames.
pub struct Sender<S: CounterStore, A: AeadBackend = RustCryptoCcm> {
    pub(super) keys: GroupKeys<A>,
    pub(super) cfg: SenderConfig,
    pub(super) counter: Counter<S>,
    pub(super) len: LengthState,
    pub(super) epoch_start: u64,
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
    /// the new epoch's frames by a new window, so the next `full_every` frames carry the full
    /// number: a receiver that missed some of them is in step at the next one, whatever its
    /// old window says. The key budget starts again.
    pub fn rekey(&mut self, keys: GroupKeys<A>) -> Result<(), Error> {
        if keys.group_id() != self.keys.group_id()
            || !epoch_is_newer(keys.epoch(), self.keys.epoch())
        {
            return Err(Error::InvalidConfig);
        }
        self.keys = keys;
        self.epoch_start = self.counter.peek();
        self.len = LengthState {
            full_run: self.cfg.full_every,
            ..LengthState::default()
        };
        Ok(())
    }

    /// The keys frames are sealed under.
    pub fn keys(&self) -> &GroupKeys<A> {
        &self.keys
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

    /// `remaining() == 0` without the minimum of two 64-bit differences: the counter is used
    /// up, or this epoch's keys sealed their budget.
    #[inline]
    fn exhausted(&self) -> bool {
        let used = self.counter.peek() - self.epoch_start;
        self.counter.remaining() == 0 || used >= self.cfg.key_budget
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
            full_run: state.full_run,
        };
    }

    /// The form the next frame's sequence number will take.
    pub fn next_form(&self) -> SeqForm {
        self.form_for(0)
    }

    /// The length rule for the number `ahead` past the next one, decided now: the full form
    /// without a reference or when the periodic full frame is due, the shortest sufficient
    /// form otherwise.
    pub(super) fn form_for(&self, ahead: u64) -> SeqForm {
        if u64::from(self.len.full_run) > ahead {
            return SeqForm::FULL;
        }
        let periodic = self.len.since_full.saturating_add(1) >= self.cfg.full_every;
        match self.len.reference {
            Some(r) if !periodic => shortest_form(self.counter.peek() + ahead, r),
            _ => SeqForm::FULL,
        }
    }

    pub(super) fn repr(&self, payload_len: usize, ext: &Ext) -> Repr {
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
    #[inline]
    pub fn seal(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        self.seal_plain(payload, out)
    }

    /// [`Sender::seal`]: the plain group frame, the common case, without the extension
    /// handling of the general path. Same checks, same bytes (a property test compares the
    /// two), same refusals.
    #[inline(always)]
    fn seal_plain(&mut self, payload: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        if payload.len() > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge);
        }
        let form = self.next_form();
        let header = PlainHeader {
            epoch_bits: (self.keys.epoch() & 3) as u8,
            sender: match self.cfg.sender_id_mode {
                SenderIdMode::Explicit => Some(self.cfg.sender_id),
                SenderIdMode::Implicit => None,
            },
            seq: TruncatedSeq::of(self.counter.peek(), form),
        };
        let total = header.len() + payload.len() + TAG_LEN;
        if out.len() < total {
            return Err(Error::BufferTooSmall);
        }
        if self.exhausted() {
            return Err(Error::CounterExhausted);
        }
        // Checked slicing throughout (the lengths were checked above): no panic path.
        let frame = out.get_mut(..total).ok_or(Error::BufferTooSmall)?;
        let (hlen, h) = header.emit(frame).ok_or(Error::InvalidConfig)?;
        let (body, tag_out) = frame
            .get_mut(hlen..)
            .and_then(|rest| rest.split_at_mut_checked(payload.len()))
            .ok_or(Error::InvalidConfig)?;
        let seq = self.counter.take()?;
        for (b, p) in body.iter_mut().zip(payload) {
            *b = *p;
        }
        seal_body(
            &self.keys,
            h,
            0,
            self.cfg.sender_id,
            seq,
            &[],
            body,
            tag_out,
        )?;
        mask_header(&self.keys, frame, hlen)?;
        self.advance_length(form, seq);
        Ok(total)
    }

    /// The length rule's bookkeeping after a frame numbered `seq` went out in `form`.
    #[inline]
    fn advance_length(&mut self, form: SeqForm, seq: u64) {
        self.len.full_run = self.len.full_run.saturating_sub(1);
        self.len.since_full = if form.is_full() {
            0
        } else {
            self.len.since_full.saturating_add(1)
        };
        if self.cfg.length_mode == LengthMode::Steady {
            self.len.reference = Some(seq);
        }
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

    /// Seals `payload` as `how` says: its source (group, pairwise or signed), what it answers
    /// (a response to a request, an echo of a challenge), a coarse timestamp and a repeat
    /// announcement; returns the frame length. [`Seal::default()`] is a plain group frame, what
    /// [`Sender::seal`] does.
    ///
    /// ```
    /// # use meshseal::{counter::MemoryStore, GroupKeys, Repeat, Seal, Sender, SenderConfig};
    /// let keys = GroupKeys::derive(&[0x42; 32], b"", 7, 0)?;
    /// let mut tx = Sender::provision(keys, SenderConfig::new(1), MemoryStore::default())?;
    /// let mut out = [0u8; 64];
    /// // A command for a sleepy receiver: sent 5 times over 30 s, stamped with the coarse time.
    /// let how = Seal::default().repeated(Repeat { copies: 5, window: 30 }).timed(1200);
    /// let n = tx.seal_with(b"\x01", &how, &mut out)?;
    /// assert_eq!(n, 1 + 1 + 5 + 1 + 2 + 2 + 1 + 8);
    /// # Ok::<(), meshseal::Error>(())
    /// ```
    ///
    /// Fails without consuming a number if `out` is too small, the payload too large, the
    /// pairwise keys of another group or epoch, or a repeat announces no copies
    /// ([`Error::InvalidConfig`]).
    pub fn seal_with(
        &mut self,
        payload: &[u8],
        how: &Seal<'_, A>,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let mut ext = Ext::NONE;
        match how.binding {
            SealBinding::None => {}
            SealBinding::Response(request) => {
                ext.binding = Binding::Response;
                ext.bound = Some(request);
            }
            SealBinding::Echo(challenge) => {
                // The receiver may hold no state for this sender: the number goes in full.
                ext.binding = Binding::Echo;
                ext.bound = Some(challenge);
                ext.form = Some(SeqForm::FULL);
            }
        }
        ext.time = how.time;
        if let Some(repeat) = how.repeat {
            if repeat.copies == 0 {
                return Err(Error::InvalidConfig);
            }
            // Receivers that hear the sender rarely may have missed any number of its
            // frames, so the number is always sent in full.
            ext.repeat = Some(repeat);
            ext.form = Some(SeqForm::FULL);
        }
        self.seal_frame(payload, &ext, how.source, out)
            .map(|(n, _)| n)
    }

    /// Seals a freshness challenge answering `request`; returns the frame length and the
    /// challenge's own id, which the requester must echo. Always carries the full number.
    /// Receivers issue challenges with [`crate::Recipient::issue_challenge`], which also
    /// remembers them.
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
        self.seal_ext(&[], &ext, out)
    }

    pub(super) fn seal_ext(
        &mut self,
        payload: &[u8],
        ext: &Ext,
        out: &mut [u8],
    ) -> Result<(usize, FrameId), Error> {
        self.seal_frame(payload, ext, SealSource::Group, out)
    }

    fn seal_frame(
        &mut self,
        payload: &[u8],
        ext: &Ext,
        auth: SealSource<'_, A>,
        out: &mut [u8],
    ) -> Result<(usize, FrameId), Error> {
        let body_len = payload.len() + auth.extra_len();
        if body_len > MAX_PAYLOAD {
            return Err(Error::PayloadTooLarge);
        }
        let keys = match auth {
            SealSource::Pairwise(k) => {
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
        if out.len() < total {
            // Only a caller-supplied fragment can make the representation invalid.
            return Err(match repr.header_byte() {
                Ok(_) => Error::BufferTooSmall,
                Err(_) => Error::InvalidConfig,
            });
        }
        if let Some(f) = ext.fragment {
            if self.counter.peek() < u64::from(f.index) {
                return Err(Error::InvalidConfig);
            }
        }
        if self.exhausted() {
            return Err(Error::CounterExhausted);
        }
        // Emitting the header validates it; no number is used yet if it fails.
        let hlen = repr.emit_header(out).map_err(|_| Error::InvalidConfig)?;
        let header = out[0];
        let ext_byte = repr.ext_byte();
        // One mask block covers a privacy group's headers (spec §20).
        if hlen > MAX_PRIVATE_HEADER && self.keys.aead().header_privacy() {
            return Err(Error::InvalidConfig);
        }
        let seq = self.counter.take()?;
        debug_assert_eq!(TruncatedSeq::of(seq, repr.seq.form), repr.seq);
        let mut aad = [0u8; MAX_AAD];
        let aad_len = associated_data(
            &mut aad,
            ext_byte,
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
        if let SealSource::Signed(key) = auth {
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
        seal_body(
            keys,
            header,
            ext_byte,
            self.cfg.sender_id,
            seq,
            &aad[..aad_len],
            body,
            tag_out,
        )?;
        mask_header(&self.keys, &mut out[..total], hlen)?;
        self.advance_length(repr.seq.form, seq);
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

/// Who can have sealed a frame: any group member, or only this one.
#[non_exhaustive]
pub enum SealSource<'k, A: AeadBackend = RustCryptoCcm> {
    /// Under the group key: any member could have sealed it (the default).
    Group,
    /// Under the pairwise keys this member shares with the one recipient
    /// (`source::derive_pairwise`, feature `pairwise`; same group and epoch as the sender's
    /// keys): no other member can read it or seal it in this member's name.
    Pairwise(&'k GroupKeys<A>),
    /// Under the group key with this member's Ed25519ph signature inside the ciphertext (64
    /// bytes more): every member can check that this member sealed it.
    #[cfg(feature = "signed")]
    Signed(&'k SigningKey),
}

impl<A: AeadBackend> Clone for SealSource<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: AeadBackend> Copy for SealSource<'_, A> {}

impl<A: AeadBackend> SealSource<'_, A> {
    const fn source(&self) -> Source {
        match self {
            SealSource::Group => Source::Group,
            SealSource::Pairwise(_) => Source::Pairwise,
            #[cfg(feature = "signed")]
            SealSource::Signed(_) => Source::Signed,
        }
    }

    const fn extra_len(&self) -> usize {
        match self {
            #[cfg(feature = "signed")]
            SealSource::Signed(_) => SIGNATURE_LEN,
            _ => 0,
        }
    }
}

/// What a frame answers. A challenge is sealed by the receiver that issues it
/// ([`crate::Recipient::issue_challenge`]), not through [`Seal`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SealBinding {
    /// Nothing (the default).
    #[default]
    None,
    /// A response to `request`: its sender and number are authenticated with the response, so
    /// it cannot be replayed to answer another request.
    Response(FrameId),
    /// A request sent again with proof of freshness: bound to the receiver's challenge. Always
    /// carries the full number, since the receiver may hold no state for this sender.
    Echo(FrameId),
}

/// How to seal one frame ([`Sender::seal_with`]): every field defaults to a plain group frame,
/// and the builder methods set one each.
pub struct Seal<'k, A: AeadBackend = RustCryptoCcm> {
    /// Who can have sealed it.
    pub source: SealSource<'k, A>,
    /// What it answers.
    pub binding: SealBinding,
    /// A coarse timestamp (the group's unit, e.g. minutes, modulo 2^16), authenticated with
    /// the frame: a receiver with a clock judges its freshness by it
    /// ([`crate::Recipient::set_clock`]). Costs 3 bytes plus the long sequence form.
    pub time: Option<u16>,
    /// Sent several times for sleepy receivers: the application transmits the same frame
    /// `copies` times over `window` time units, and a receiver acts on one copy at most,
    /// reporting later ones as [`Error::Duplicate`] (with `time` and a receiver clock, only
    /// until the window ends). The number is always sent in full. Costs 8 bytes more than a
    /// steady short-form frame, 10 with `time`.
    pub repeat: Option<Repeat>,
}

impl<A: AeadBackend> Clone for Seal<'_, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<A: AeadBackend> Copy for Seal<'_, A> {}

impl<A: AeadBackend> Default for Seal<'_, A> {
    fn default() -> Self {
        Seal {
            source: SealSource::Group,
            binding: SealBinding::None,
            time: None,
            repeat: None,
        }
    }
}

impl<'k, A: AeadBackend> Seal<'k, A> {
    /// Sealed under the pairwise keys shared with the one recipient.
    pub fn pairwise(self, pair: &'k GroupKeys<A>) -> Self {
        Seal {
            source: SealSource::Pairwise(pair),
            ..self
        }
    }

    /// Signed by this member.
    #[cfg(feature = "signed")]
    pub fn signed(self, key: &'k SigningKey) -> Self {
        Seal {
            source: SealSource::Signed(key),
            ..self
        }
    }

    /// A response to `request`.
    pub fn response(self, request: FrameId) -> Self {
        Seal {
            binding: SealBinding::Response(request),
            ..self
        }
    }

    /// An echo of the receiver's `challenge`.
    pub fn echo(self, challenge: FrameId) -> Self {
        Seal {
            binding: SealBinding::Echo(challenge),
            ..self
        }
    }

    /// Stamped with the coarse time `time`.
    pub fn timed(self, time: u16) -> Self {
        Seal {
            time: Some(time),
            ..self
        }
    }

    /// Repeated for sleepy receivers.
    pub fn repeated(self, repeat: Repeat) -> Self {
        Seal {
            repeat: Some(repeat),
            ..self
        }
    }
}
