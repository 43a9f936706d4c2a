//! The receiving half of a member: membership, the order of checks, and what an accepted frame
//! says ([`Opened`]).

use super::epochs::GraceSlot;
use super::freshness::{Clock, Freshness, Pending, TrafficClass, PENDING_CHALLENGES};
use super::repeats::{RepeatSeen, Repeats};
use super::shared::{
    associated_data, decrypt, epoch_is_newer, open_body, unmask_header, FrameId, MAX_AAD,
};
use super::{Grace, NoGrace};
use crate::crypto::{AeadBackend, GroupKeys, RustCryptoCcm};
use crate::error::Tally;
use crate::frame::{
    Binding, Fragment, Frame, PlainFrame, Repeat, SenderIdMode, Source, TruncatedSeq, WireError,
};
use crate::privacy;
use crate::replay::{Accepted, Lane, OrderPolicy, ReplayStore, ReplayWindow, WindowKey};
use crate::seq::reconstruct;
#[cfg(feature = "signed")]
use crate::source::SignedInput;
use crate::source::{NoSourceKeys, SourceKeys, SIGNATURE_LEN};
use crate::{Error, TAG_LEN};

/// What a recipient counts its verdicts in: [`crate::Stats`], or nothing without the `stats`
/// feature.
#[cfg(feature = "stats")]
type Counted = crate::Stats;
#[cfg(not(feature = "stats"))]
type Counted = crate::error::NoStats;

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
    pub(super) keys: GroupKeys<A>,
    pub(super) previous: G,
    pub(super) cfg: RecipientConfig,
    pub(super) members: M,
    pub(super) replay: R,
    pub(super) stats: Counted,
    pub(super) pending: heapless::Vec<Pending, PENDING_CHALLENGES>,
    pub(super) stale: Option<FrameId>,
    pub(super) clock: Option<Clock>,
    pub(super) repeats: Repeats,
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

/// How to open one frame ([`Recipient::open_with`]). [`Open::default()`] is what
/// [`Recipient::open`] does: the sender id read from the frame, judged as telemetry, no request
/// to answer, no source keys (pairwise and signed frames are then `unknown_key`).
///
/// ```
/// # use meshseal::{counter::MemoryStore, replay::PeerTable, GroupKeys, Open, Recipient,
/// #     RecipientConfig, Sender, SenderConfig, TrafficClass};
/// # let keys = || GroupKeys::derive(&[0x42; 32], b"", 7, 0).unwrap();
/// # let mut tx = Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default())?;
/// let mut rx = Recipient::new(keys(), RecipientConfig::default(), 1..=10, PeerTable::<8>::new());
/// rx.provision(1);
/// let mut frame = tx.seal_to_vec(b"unlock")?;
/// // A command: delivered only when the receiver can vouch for its freshness.
/// let opened = rx.open_with(&mut frame, &Open::default().class(TrafficClass::Actuation))?;
/// assert_eq!(opened.payload, b"unlock");
/// # Ok::<(), meshseal::Error>(())
/// ```
pub struct Open<'k, P = NoSourceKeys> {
    /// The sender id the link layer supplies, for groups whose frames do not carry it
    /// (implicit sender ids); `None` reads it from the frame.
    pub sender: Option<u32>,
    /// What the receiver demands of the frame's freshness.
    pub class: TrafficClass,
    /// The request (sent by this member) a response or challenge must answer; with `None`,
    /// responses and challenges are refused as [`Error::Unsolicited`], and with a request,
    /// anything but a response or challenge to it is.
    pub request: Option<FrameId>,
    /// Pairwise and verifying keys for source-authenticated frames.
    pub keys: &'k P,
    /// Accept only pairwise or signed frames: a plain group frame, which any member could have
    /// sealed in the sender's name, is refused as [`Error::Unauthenticated`].
    pub require_source: bool,
}

impl<P> Clone for Open<'_, P> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<P> Copy for Open<'_, P> {}

impl Default for Open<'static, NoSourceKeys> {
    fn default() -> Self {
        Open {
            sender: None,
            class: TrafficClass::Telemetry,
            request: None,
            keys: &NoSourceKeys,
            require_source: false,
        }
    }
}

impl<'k, P> Open<'k, P> {
    /// The frame's sender id comes from the link layer.
    pub fn from(self, sender: u32) -> Self {
        Open {
            sender: Some(sender),
            ..self
        }
    }

    /// Judged under `class`.
    pub fn class(self, class: TrafficClass) -> Self {
        Open { class, ..self }
    }

    /// A response or challenge to `request`.
    pub fn answering(self, request: FrameId) -> Self {
        Open {
            request: Some(request),
            ..self
        }
    }

    /// With these pairwise and verifying keys.
    pub fn keys<Q>(self, keys: &Q) -> Open<'_, Q> {
        Open {
            sender: self.sender,
            class: self.class,
            request: self.request,
            keys,
            require_source: self.require_source,
        }
    }

    /// Only source-authenticated (pairwise or signed) frames.
    pub fn require_source(self) -> Self {
        Open {
            require_source: true,
            ..self
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
            stats: Counted::default(),
            pending: heapless::Vec::new(),
            stale: None,
            clock: None,
            repeats: Repeats::default(),
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
                self.stats.on_evicted();
            }
        }
    }

    /// The accepted senders, to apply the removals a rekey announces.
    pub fn members_mut(&mut self) -> &mut M {
        &mut self.members
    }

    /// Counters of accepted and refused frames (feature `stats`, on by default).
    #[cfg(feature = "stats")]
    pub fn stats(&self) -> &crate::Stats {
        &self.stats
    }

    /// The replay state (for persistence).
    pub fn replay_store(&self) -> &R {
        &self.replay
    }

    /// The replay state, to restore persisted windows into (after a reboot). A window set back
    /// to an older state lets the frames accepted since through again: restore only state
    /// saved after the last accepted frame, or mark the windows unverified.
    pub fn replay_store_mut(&mut self) -> &mut R {
        &mut self.replay
    }

    /// The keys in use.
    pub fn keys(&self) -> &GroupKeys<A> {
        &self.keys
    }

    /// Opens a frame that carries its sender id, in place, as telemetry. Every other way to
    /// open a frame is [`Recipient::open_with`].
    #[inline]
    pub fn open<'b>(&mut self, frame: &'b mut [u8]) -> Result<Opened<'b>, Error> {
        let judged = self.unmasked(frame, SenderIdMode::Explicit, |rx, frame| {
            // Frames without an extension byte take a path without the extensions' steps; it
            // judges them exactly as `judge` does (a property test compares the two).
            #[cfg(not(feature = "compact"))]
            return match PlainFrame::check(frame) {
                Some(Ok(plain)) => rx.judge_plain(frame, plain),
                Some(Err(e)) => Err(e.into()),
                None => rx.judge(frame, &Open::default()),
            };
            #[cfg(feature = "compact")]
            return rx.judge(frame, &Open::default());
        });
        self.finish(frame, judged)
    }

    /// Opens a plain group frame (one without extension byte) in place, as telemetry, and
    /// refuses every other frame as malformed ([`WireError::BadExtension`]): the receive call
    /// of a device that takes only plain frames. It judges them exactly as [`Recipient::open`]
    /// does and links none of the extension steps, which keeps such a firmware small
    /// (`footprint.md`).
    #[inline]
    pub fn open_plain<'b>(&mut self, frame: &'b mut [u8]) -> Result<Opened<'b>, Error> {
        let judged =
            self.unmasked(
                frame,
                SenderIdMode::Explicit,
                |rx, frame| match PlainFrame::check(frame) {
                    Some(Ok(plain)) => rx.judge_plain(frame, plain),
                    Some(Err(e)) => Err(e.into()),
                    None if frame.is_empty() => Err(Error::Malformed(WireError::Truncated)),
                    None => Err(Error::Malformed(WireError::BadExtension)),
                },
            );
        self.finish(frame, judged)
    }

    /// Opens a frame in place as `how` says: where its sender id comes from, the traffic
    /// class, the request it must answer, the source keys and whether a source is required.
    #[inline]
    pub fn open_with<'b, P: SourceKeys<A>>(
        &mut self,
        frame: &'b mut [u8],
        how: &Open<'_, P>,
    ) -> Result<Opened<'b>, Error> {
        let mode = match how.sender {
            Some(_) => SenderIdMode::Implicit,
            None => SenderIdMode::Explicit,
        };
        let judged = self.unmasked(frame, mode, |rx, frame| rx.judge(frame, how));
        self.finish(frame, judged)
    }

    /// Runs `judge` on `frame` with its header unmasked when the group uses header privacy
    /// (spec §20), and masks it again if the frame is refused, so a refused frame is handed
    /// back as it came (its payload wiped if its tag failed).
    #[inline(always)]
    fn unmasked(
        &mut self,
        frame: &mut [u8],
        mode: SenderIdMode,
        judge: impl FnOnce(&mut Self, &mut [u8]) -> Result<Judged, Error>,
    ) -> Result<Judged, Error> {
        let unmask = self.unmask(frame, mode)?;
        let judged = judge(self, frame);
        if let (Err(_), Some((mask, hlen))) = (&judged, unmask) {
            privacy::apply_mask(frame, hlen, &mask);
        }
        judged
    }

    /// Unmasks a privacy group's frame header in place: the mask and the header length, or
    /// `None` when the group (or the frame's epoch) uses no header privacy or the frame is too
    /// short or of another version to carry a masked header (the parse refuses it then).
    fn unmask(
        &self,
        frame: &mut [u8],
        mode: SenderIdMode,
    ) -> Result<Option<([u8; 16], usize)>, Error> {
        let Some(&h) = frame.first() else {
            return Ok(None);
        };
        if h & 0x80 != 0 || !self.keys.aead().header_privacy() {
            return Ok(None);
        }
        // A privacy group's header cannot be read without its epoch's keys.
        let keys = self.keys_for((h & 0x60) >> 5)?;
        unmask_header(keys, frame, mode)
    }

    /// Counts the outcome and hands out the payload, inside `frame`.
    #[inline(always)]
    fn finish<'b>(
        &mut self,
        frame: &'b [u8],
        judged: Result<Judged, Error>,
    ) -> Result<Opened<'b>, Error> {
        let opened = judged.and_then(|(o, range)| {
            Ok(Opened {
                payload: frame
                    .get(range)
                    .ok_or(Error::Malformed(WireError::Truncated))?,
                ..o
            })
        });
        self.count(&opened);
        opened
    }

    #[inline]
    fn count(&mut self, opened: &Result<Opened<'_>, Error>) {
        match opened {
            Ok(o) => self
                .stats
                .on_accepted(o.gap, o.late, o.freshness == Freshness::Unknown),
            Err(e) => self.stats.on_refused(*e),
        }
    }

    /// The keys of the epoch whose low bits a frame carries: the current or the previous one.
    #[inline]
    fn keys_for(&self, bits: u8) -> Result<&GroupKeys<A>, Error> {
        self.epoch_slot(bits).map(|previous| self.keys_at(previous))
    }

    /// Which keys the epoch bits `bits` select: the current epoch's (`false`) or the previous
    /// one's (`true`), held through a grace period.
    #[inline]
    fn epoch_slot(&self, bits: u8) -> Result<bool, Error> {
        if bits == (self.keys.epoch() & 3) as u8 {
            return Ok(false);
        }
        match self.previous.held() {
            Some((k, _)) if bits == (k.epoch() & 3) as u8 => Ok(true),
            _ => Err(Error::UnknownEpoch),
        }
    }

    /// The keys [`Recipient::epoch_slot`] selected.
    #[inline]
    fn keys_at(&self, previous: bool) -> &GroupKeys<A> {
        match self.previous.held() {
            Some((k, _)) if previous => k,
            _ => &self.keys,
        }
    }

    /// Refuses this member's own id and non-members.
    #[inline]
    fn admit(&self, sender: u32) -> Result<(), Error> {
        if self.cfg.own_id == Some(sender) {
            return Err(Error::Reflected);
        }
        if !self.members.contains(sender) {
            return Err(Error::UnknownSender);
        }
        Ok(())
    }

    /// Finds `key`'s window and rebuilds the full number from the carried bits `t`; the
    /// window's verdict on that number, to be reported only once the tag verifies, and the
    /// tracked repeat it duplicates, if any.
    #[cfg_attr(not(feature = "compact"), inline(always))]
    fn locate(&mut self, key: WindowKey, t: TruncatedSeq, epoch: u16) -> Result<Located<W>, Error> {
        let stored = self.replay.get(key).copied();
        // Numbers continue across epochs and are shared by both lanes: any window of the
        // sender guides reconstruction (a wrong guess only fails the tag).
        let reference = match &stored {
            Some(w) => Some(w.expected()),
            None => {
                let other = match key.lane {
                    Lane::Group => WindowKey::source(key.sender),
                    Lane::Source => WindowKey::group(key.sender),
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
            duplicate = self.repeats.position(key.sender, seq);
            if duplicate.is_some() {
                verdict = Ok(());
            }
        }
        Ok(Located {
            seq,
            window,
            verdict,
            duplicate,
        })
    }

    /// The refusal of an authentic frame that repeats tracked repeat `i`: a duplicate while
    /// copies are announced and its window lasts, a replay after.
    #[inline]
    fn duplicate(&mut self, i: usize) -> Error {
        let Some(r) = self.repeats.get_mut(i) else {
            return Error::Replay;
        };
        let late = match (r.end, self.clock) {
            (Some(end), Some(clock)) => clock.past(end),
            _ => false,
        };
        if r.left == 0 || late {
            return Error::Replay;
        }
        r.left -= 1;
        Error::Duplicate
    }

    /// Takes `seq` in `key`'s window (an authentic frame of `epoch`): one store replaces the
    /// window and marks it recently used. An echo makes the window verified from here.
    #[cfg_attr(not(feature = "compact"), inline(always))]
    fn take(
        &mut self,
        key: WindowKey,
        window: Slot<W>,
        seq: u64,
        epoch: u16,
        echo: bool,
    ) -> Accepted {
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
        if echo {
            w.verify_from_here();
        }
        if self.replay.insert(key, w).is_some() {
            self.stats.on_evicted();
        }
        accepted
    }

    /// [`Recipient::judge`] for a frame without extension byte opened with [`Open::default`]:
    /// a group frame, bound to nothing, without timestamp or repeat, judged as telemetry.
    #[inline(always)]
    fn judge_plain(&mut self, buf: &mut [u8], f: PlainFrame) -> Result<Judged, Error> {
        let previous = self.epoch_slot(f.epoch_bits())?;
        let epoch = self.keys_at(previous).epoch();
        let sender = f.sender;
        self.admit(sender)?;
        let key = WindowKey::group(sender);
        let at = self.locate(key, f.seq, epoch)?;
        let seq = at.seq;
        // `locate` holds no borrow of the keys: take them again from the same slot.
        let keys = self.keys_at(previous);
        let end = buf.len().saturating_sub(TAG_LEN);
        // `PlainFrame::check` left room for the header and the tag: checked all the same, so
        // no panic path is linked.
        let (body, tag) = buf
            .get_mut(f.header_len..)
            .and_then(|rest| rest.split_at_mut_checked(end.checked_sub(f.header_len)?))
            .ok_or(Error::Malformed(WireError::Truncated))?;
        open_body(keys, f.header, 0, sender, seq, &[], body, tag)?;
        if let Err(e) = at.verdict {
            body.fill(0);
            return Err(e);
        }
        if let Some(i) = at.duplicate {
            body.fill(0);
            return Err(self.duplicate(i));
        }
        let freshness = match at.window {
            Slot::Current(w) if w.is_verified() => Freshness::Fresh,
            Slot::NewEpoch(_) => Freshness::Fresh,
            _ => Freshness::Unknown,
        };
        let accepted = self.take(key, at.window, seq, epoch, false);
        let opened = Opened {
            sender,
            seq,
            epoch,
            freshness,
            binding: Binding::None,
            fragment: None,
            time: None,
            repeat: None,
            source: Source::Group,
            gap: accepted.gap,
            late: accepted.late,
            payload: &[],
        };
        Ok((opened, f.header_len..end))
    }

    // Inlined into its two callers, `open` (which then knows the default options) and
    // `open_with`: a build that uses only one of them holds one copy.
    #[cfg_attr(not(feature = "compact"), inline(always))]
    fn judge<P: SourceKeys<A>>(
        &mut self,
        buf: &mut [u8],
        expect: &Open<'_, P>,
    ) -> Result<Judged, Error> {
        let (mode, link_sender) = match expect.sender {
            Some(s) => (SenderIdMode::Implicit, Some(s)),
            None => (SenderIdMode::Explicit, None),
        };
        let src = expect.keys;
        let mut frame = Frame::new_checked(&mut *buf, mode)?;
        let bits = frame.epoch_bits();
        // The epoch's slot, looked up once; the keys are taken from it where needed (the
        // window steps below borrow the recipient mutably).
        let previous = self.epoch_slot(bits)?;
        let sender = frame
            .sender_id()
            .or(link_sender)
            .ok_or(Error::UnknownSender)?;
        self.admit(sender)?;
        let source = frame.source();
        {
            let group_id = self.keys_at(previous).group_id();
            match source {
                Source::Group if expect.require_source => return Err(Error::Unauthenticated),
                Source::Pairwise => {
                    src.pairwise(sender)
                        .filter(|k| (k.epoch() & 3) as u8 == bits && k.group_id() == group_id)
                        .ok_or(Error::UnknownKey)?;
                }
                _ => {}
            }
        }
        let sig_len = if source == Source::Signed {
            SIGNATURE_LEN
        } else {
            0
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
                    .map(Pending::challenge)
                    .ok_or(Error::Unsolicited)?,
            ),
            _ => return Err(Error::Unsolicited),
        };
        let key = WindowKey {
            sender,
            lane: match source {
                Source::Group => Lane::Group,
                _ => Lane::Source,
            },
        };
        let epoch = self.keys_at(previous).epoch();
        let at = self.locate(key, frame.truncated_seq(), epoch)?;
        let seq = at.seq;
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
        // The keys checked above: the group's, or the pairwise keys shared with the sender.
        let group_keys = self.keys_at(previous);
        let keys = match source {
            Source::Pairwise => src.pairwise(sender).ok_or(Error::UnknownKey)?,
            _ => group_keys,
        };
        let group_id = group_keys.group_id();
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
        #[cfg(not(feature = "signed"))]
        let _ = group_id;
        if let Err(e) = at.verdict {
            frame.payload_mut().fill(0);
            return Err(e);
        }
        if let Some(i) = at.duplicate {
            frame.payload_mut().fill(0);
            return Err(self.duplicate(i));
        }
        let freshness = match (binding, time, self.clock) {
            (Binding::None, Some(t), Some(clock)) => {
                if clock.accepts(t, repeat.map_or(0, |r| r.window)) {
                    Freshness::Fresh
                } else {
                    Freshness::Unknown
                }
            }
            (Binding::None, _, _) => match at.window {
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
        let accepted = self.take(key, at.window, seq, epoch, binding == Binding::Echo);
        if stale {
            frame.payload_mut().fill(0);
            self.stale = Some(FrameId { sender, seq });
            return Err(Error::Stale);
        }
        if binding == Binding::Echo {
            self.pending.retain(|p| p.sender != sender);
        }
        if let Some(r) = repeat {
            self.repeats.track(RepeatSeen {
                sender,
                seq,
                left: r.copies - 1,
                end: time.map(|t| t.wrapping_add(u16::from(r.window))),
            });
        }
        let range = frame.header_len()..frame.bytes().len() - TAG_LEN - sig_len;
        let fragment = frame.fragment();
        let opened = Opened {
            sender,
            seq,
            epoch,
            freshness,
            binding,
            fragment,
            time,
            repeat,
            source,
            gap: accepted.gap,
            late: accepted.late,
            payload: &[],
        };
        Ok((opened, range))
    }
}

/// An accepted frame before its payload is handed out: the payload's place in the frame.
type Judged = (Opened<'static>, core::ops::Range<usize>);

/// What [`Recipient::locate`] found for a frame before its tag is checked.
struct Located<const W: usize> {
    seq: u64,
    window: Slot<W>,
    verdict: Result<(), Error>,
    duplicate: Option<usize>,
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
