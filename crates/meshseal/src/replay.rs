//! Per-sender replay windows and the fixed-capacity table that holds them.
//!
//! A window remembers the highest accepted sequence number of a sender and a bitmap of the
//! `64 * W` numbers below it. It is updated only after a frame's tag has verified, so forged
//! frames cannot move it. Each window also records whether its state is *verified*: created at
//! provisioning (before the sender could have sent anything) or confirmed fresh later. A window
//! created from the first frame of an unknown sender is not verified, and every frame judged by
//! it is reported as of unknown freshness: an attacker replaying a recorded stream to a receiver
//! that lost its state must not have the second frame called fresh because the first set the
//! window.
//!
//! Each sender has up to two windows, one per [`Lane`]: plain group frames, which any key
//! holder can seal in any member's name, and source-authenticated (pairwise or signed) frames,
//! which only the sender can. A forged group frame moves only the group lane, so it cannot
//! lock a sender's authenticated commands out. A window also records the key epoch its numbers
//! were accepted under: frames of a newer epoch start a new window, so whatever an insider
//! forged under old keys ends with the rekey that removes it.
//!
//! Memory: a [`Peer`] with the default 64-frame window is 24 bytes, per lane in use.

use crate::frame::SEQ_MAX;
use crate::Error;

/// Which sequence numbers a window accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OrderPolicy {
    /// Only numbers above the highest accepted one; gaps allowed (counted).
    Strict,
    /// Any number inside the window not yet accepted, so reordered frames are delivered once.
    #[default]
    Window,
}

const HIGHEST_MASK: u64 = SEQ_MAX;
const EPOCH_SHIFT: u32 = 40;
const EPOCH_MASK: u64 = 0xffff << EPOCH_SHIFT;
const EMPTY: u64 = 1 << 62;
const VERIFIED: u64 = 1 << 63;

/// Replay state of one sender: highest number, flags, and a bitmap of `64 * W` numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayWindow<const W: usize = 1> {
    /// Bits 0..40: highest accepted number; bits 40..56: key epoch; bit 62: nothing accepted
    /// yet; bit 63: verified.
    top: u64,
    /// Bit `i` of the concatenated words: number `highest - i` was accepted.
    bitmap: [u64; W],
}

/// What accepting a number changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Accepted {
    /// Numbers skipped by this advance of the highest number.
    pub gap: u64,
    /// The number was below the highest (a reordered frame filling a gap).
    pub late: bool,
}

impl<const W: usize> ReplayWindow<W> {
    /// Numbers the window can judge below the highest one (inclusive of it).
    pub const SIZE: u64 = 64 * W as u64;

    /// State for a sender known at provisioning: nothing received yet, and any frame is fresh
    /// because the sender had sent nothing before this state was created.
    pub const fn provisioned() -> Self {
        ReplayWindow {
            top: EMPTY | VERIFIED,
            bitmap: [0; W],
        }
    }

    /// State created from the first authenticated frame of a sender the receiver knew nothing
    /// about: that number is taken, and freshness is unknown until verified.
    pub const fn unverified_at(seq: u64) -> Self {
        let mut bitmap = [0; W];
        if W > 0 {
            bitmap[0] = 1;
        }
        ReplayWindow {
            top: seq & HIGHEST_MASK,
            bitmap,
        }
    }

    /// The same window, recorded as belonging to key epoch `epoch`.
    pub const fn in_epoch(self, epoch: u16) -> Self {
        ReplayWindow {
            top: (self.top & !EPOCH_MASK) | (epoch as u64) << EPOCH_SHIFT,
            bitmap: self.bitmap,
        }
    }

    /// The key epoch whose frames this window judges.
    pub const fn epoch(&self) -> u16 {
        ((self.top & EPOCH_MASK) >> EPOCH_SHIFT) as u16
    }

    /// Rebuilds a window from persisted parts (see [`ReplayWindow::to_parts`]); the epoch is
    /// restored with [`ReplayWindow::in_epoch`].
    pub fn from_parts(
        highest: Option<u64>,
        verified: bool,
        bitmap: [u64; W],
    ) -> Result<Self, Error> {
        let mut top = match highest {
            Some(h) if h <= SEQ_MAX => h,
            Some(_) => return Err(Error::InvalidConfig),
            None => EMPTY,
        };
        if highest.is_none() && bitmap.iter().any(|&w| w != 0) {
            return Err(Error::InvalidConfig);
        }
        if verified {
            top |= VERIFIED;
        }
        Ok(ReplayWindow { top, bitmap })
    }

    /// `(highest, verified, bitmap)` for persistence.
    pub fn to_parts(&self) -> (Option<u64>, bool, [u64; W]) {
        (self.highest(), self.is_verified(), self.bitmap)
    }

    /// Highest accepted number, if any.
    pub fn highest(&self) -> Option<u64> {
        if self.top & EMPTY != 0 {
            None
        } else {
            Some(self.top & HIGHEST_MASK)
        }
    }

    /// The number the receiver expects next (reference for reconstructing truncated numbers).
    pub fn expected(&self) -> u64 {
        self.highest().map_or(0, |h| h + 1)
    }

    /// Whether frames judged by this window are known to be fresh.
    pub fn is_verified(&self) -> bool {
        self.top & VERIFIED != 0
    }

    /// Marks the state as verified (e.g. after a freshness challenge was answered).
    ///
    /// Numbers below the highest that were never seen stay acceptable, and would then count as
    /// fresh; a receiver proving freshness at a point in time uses
    /// [`ReplayWindow::verify_from_here`] instead.
    pub fn mark_verified(&mut self) {
        self.top |= VERIFIED;
    }

    /// Marks the state as verified from the highest accepted number on: every number at or
    /// below it is treated as already seen, so frames recorded before the proof of freshness
    /// (and never delivered) can never be accepted as fresh afterwards.
    pub fn verify_from_here(&mut self) {
        if self.highest().is_some() {
            self.bitmap = [u64::MAX; W];
        }
        self.top |= VERIFIED;
    }

    fn bit(&self, i: u64) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        self.bitmap.get(w).is_some_and(|word| word >> b & 1 == 1)
    }

    fn set_bit(&mut self, i: u64) {
        let (w, b) = ((i / 64) as usize, i % 64);
        if let Some(word) = self.bitmap.get_mut(w) {
            *word |= 1 << b;
        }
    }

    fn shift(&mut self, by: u64) {
        if by >= Self::SIZE {
            self.bitmap = [0; W];
            return;
        }
        let (words, bits) = ((by / 64) as usize, (by % 64) as u32);
        for i in (0..W).rev() {
            let src = i.checked_sub(words);
            let hi = src.map_or(0, |s| self.bitmap[s]);
            let lo = src
                .and_then(|s| s.checked_sub(1))
                .map_or(0, |s| self.bitmap[s]);
            self.bitmap[i] = if bits == 0 {
                hi
            } else {
                hi << bits | lo >> (64 - bits)
            };
        }
    }

    /// Judges `seq` without changing anything.
    pub fn check(&self, seq: u64, policy: OrderPolicy) -> Result<(), Error> {
        let Some(highest) = self.highest() else {
            return Ok(());
        };
        if seq > highest {
            return Ok(());
        }
        let behind = highest - seq;
        if behind >= Self::SIZE {
            return Err(Error::TooOld);
        }
        if self.bit(behind) {
            return Err(Error::Replay);
        }
        match policy {
            OrderPolicy::Window => Ok(()),
            OrderPolicy::Strict => Err(Error::OutOfOrder),
        }
    }

    /// Records `seq` as accepted. Call only after [`ReplayWindow::check`] passed and the tag
    /// verified.
    pub fn accept(&mut self, seq: u64) -> Accepted {
        let seq = seq & HIGHEST_MASK;
        match self.highest() {
            None => {
                self.top = (self.top & (VERIFIED | EPOCH_MASK)) | seq;
                self.bitmap = [0; W];
                self.set_bit(0);
                Accepted {
                    gap: seq,
                    late: false,
                }
            }
            Some(h) if seq > h => {
                self.shift(seq - h);
                self.set_bit(0);
                self.top = (self.top & (VERIFIED | EPOCH_MASK)) | seq;
                Accepted {
                    gap: seq - h - 1,
                    late: false,
                }
            }
            Some(h) => {
                self.set_bit(h - seq);
                Accepted { gap: 0, late: true }
            }
        }
    }
}

/// Which frames of a sender a window judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Lane {
    /// Plain group frames: any holder of the group key can seal them in any member's name.
    #[default]
    Group,
    /// Pairwise and signed frames: only the sender can seal them, so no other member can
    /// move this window.
    Source,
}

impl Lane {
    /// Stable name, for persisted state.
    pub const fn name(self) -> &'static str {
        match self {
            Lane::Group => "group",
            Lane::Source => "source",
        }
    }
}

/// Names one window: a sender and a lane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowKey {
    /// The sender id.
    pub sender: u32,
    /// Which of its frames.
    pub lane: Lane,
}

impl WindowKey {
    /// The window of `sender`'s plain group frames.
    pub const fn group(sender: u32) -> Self {
        WindowKey {
            sender,
            lane: Lane::Group,
        }
    }

    /// The window of `sender`'s pairwise and signed frames.
    pub const fn source(sender: u32) -> Self {
        WindowKey {
            sender,
            lane: Lane::Source,
        }
    }
}

/// One window's entry in a [`PeerTable`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer<const W: usize = 1> {
    /// The sender id.
    pub sender: u32,
    /// Bit 31: the lane (set for [`Lane::Source`]); bits 0..31: last use.
    stamp: u32,
    /// The sender's replay state.
    pub window: ReplayWindow<W>,
}

const LANE_BIT: u32 = 1 << 31;
const STAMP_MASK: u32 = LANE_BIT - 1;

impl<const W: usize> Peer<W> {
    /// The lane this entry judges.
    pub fn lane(&self) -> Lane {
        if self.stamp & LANE_BIT != 0 {
            Lane::Source
        } else {
            Lane::Group
        }
    }

    /// Which window this is.
    pub fn key(&self) -> WindowKey {
        WindowKey {
            sender: self.sender,
            lane: self.lane(),
        }
    }

    fn is(&self, key: WindowKey) -> bool {
        self.sender == key.sender && self.lane() == key.lane
    }

    fn set_stamp(&mut self, now: u32) {
        self.stamp = (self.stamp & LANE_BIT) | (now & STAMP_MASK);
    }
}

/// Where a recipient keeps replay windows. A gateway can implement it over a durable store.
pub trait ReplayStore<const W: usize> {
    /// The window `key`, if held. Must not change eviction order: frames are judged before
    /// their tag is checked.
    fn get(&mut self, key: WindowKey) -> Option<&mut ReplayWindow<W>>;

    /// Stores `window` as `key`'s, replacing the one held, and marks it recently used (called
    /// only once a frame of `key` verified). A new key in a full store evicts one entry and
    /// returns its key (or returns `key` itself if nothing can be stored).
    fn insert(&mut self, key: WindowKey, window: ReplayWindow<W>) -> Option<WindowKey>;
}

/// A fixed-capacity table of up to `N` windows, evicting the least recently used when full.
#[derive(Debug, Clone, Default)]
pub struct PeerTable<const N: usize, const W: usize = 1> {
    peers: heapless::Vec<Peer<W>, N>,
    clock: u32,
}

impl<const N: usize, const W: usize> PeerTable<N, W> {
    /// An empty table.
    pub const fn new() -> Self {
        PeerTable {
            peers: heapless::Vec::new(),
            clock: 0,
        }
    }

    /// Entries in use.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no window is held.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }

    /// All entries, for persistence or inspection.
    pub fn iter(&self) -> impl Iterator<Item = (WindowKey, &ReplayWindow<W>)> {
        self.peers.iter().map(|p| (p.key(), &p.window))
    }

    /// Forgets the window `key`; returns it.
    pub fn remove(&mut self, key: WindowKey) -> Option<ReplayWindow<W>> {
        let i = self.peers.iter().position(|p| p.is(key))?;
        Some(self.peers.swap_remove(i).window)
    }

    fn tick(&mut self) -> u32 {
        self.clock = self.clock.wrapping_add(1) & STAMP_MASK;
        self.clock
    }
}

impl<const N: usize, const W: usize> ReplayStore<W> for PeerTable<N, W> {
    fn get(&mut self, key: WindowKey) -> Option<&mut ReplayWindow<W>> {
        self.peers
            .iter_mut()
            .find(|p| p.is(key))
            .map(|p| &mut p.window)
    }

    fn insert(&mut self, key: WindowKey, window: ReplayWindow<W>) -> Option<WindowKey> {
        let now = self.tick();
        let mut peer = Peer {
            sender: key.sender,
            stamp: if key.lane == Lane::Source {
                LANE_BIT
            } else {
                0
            },
            window,
        };
        peer.set_stamp(now);
        if let Some(p) = self.peers.iter_mut().find(|p| p.is(key)) {
            *p = peer;
            return None;
        }
        let Err(peer) = self.peers.push(peer) else {
            return None;
        };
        match self
            .peers
            .iter_mut()
            .max_by_key(|p| now.wrapping_sub(p.stamp & STAMP_MASK) & STAMP_MASK)
        {
            Some(oldest) => {
                let evicted = oldest.key();
                *oldest = peer;
                Some(evicted)
            }
            None => Some(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_state_fits_24_bytes() {
        assert_eq!(core::mem::size_of::<Peer<1>>(), 24);
        assert_eq!(core::mem::size_of::<ReplayWindow<1>>(), 16);
    }

    #[test]
    fn window_refusals() {
        let mut w = ReplayWindow::<1>::provisioned();
        assert_eq!(w.expected(), 0);
        w.check(100, OrderPolicy::Window).unwrap();
        assert_eq!(
            w.accept(100),
            Accepted {
                gap: 100,
                late: false
            }
        );
        assert_eq!(w.check(100, OrderPolicy::Window), Err(Error::Replay));
        assert_eq!(w.check(36, OrderPolicy::Window), Err(Error::TooOld));
        assert_eq!(w.check(37, OrderPolicy::Window), Ok(()));
        assert_eq!(w.check(37, OrderPolicy::Strict), Err(Error::OutOfOrder));
        assert_eq!(
            w.accept(104),
            Accepted {
                gap: 3,
                late: false
            }
        );
        assert_eq!(w.accept(102), Accepted { gap: 0, late: true });
        assert_eq!(w.check(102, OrderPolicy::Window), Err(Error::Replay));
        assert_eq!(w.check(100, OrderPolicy::Window), Err(Error::Replay));
        assert_eq!(w.check(103, OrderPolicy::Window), Ok(()));
        assert!(w.is_verified());
    }

    #[test]
    fn wide_window_shifts_across_words() {
        let mut w = ReplayWindow::<3>::unverified_at(0);
        assert!(!w.is_verified());
        for s in [5, 70, 130, 191] {
            w.accept(s);
        }
        for s in [0, 5, 70, 130, 191] {
            assert_eq!(w.check(s, OrderPolicy::Window), Err(Error::Replay), "{s}");
        }
        assert_eq!(w.check(6, OrderPolicy::Window), Ok(()));
        w.accept(192 + 64);
        assert_eq!(w.check(64, OrderPolicy::Window), Err(Error::TooOld));
        assert_eq!(w.check(70, OrderPolicy::Window), Err(Error::Replay));
        assert_eq!(w.check(71, OrderPolicy::Window), Ok(()));
    }

    #[test]
    fn parts_round_trip() {
        let mut w = ReplayWindow::<1>::unverified_at(9);
        w.accept(12);
        let (h, v, b) = w.to_parts();
        assert_eq!(ReplayWindow::from_parts(h, v, b), Ok(w));
        assert_eq!(
            ReplayWindow::<1>::from_parts(Some(SEQ_MAX + 1), false, [0]),
            Err(Error::InvalidConfig)
        );
        assert_eq!(
            ReplayWindow::<1>::from_parts(None, true, [1]),
            Err(Error::InvalidConfig)
        );
    }

    #[test]
    fn table_evicts_least_recently_used() {
        let g = WindowKey::group;
        let mut t = PeerTable::<2>::new();
        assert_eq!(t.insert(g(1), ReplayWindow::provisioned()), None);
        assert_eq!(t.insert(g(2), ReplayWindow::provisioned()), None);
        assert!(t.get(g(2)).is_some(), "a lookup alone does not refresh");
        let w = *t.get(g(1)).unwrap();
        assert_eq!(
            t.insert(g(1), w),
            None,
            "storing a held window refreshes it"
        );
        assert_eq!(t.insert(g(3), ReplayWindow::provisioned()), Some(g(2)));
        assert!(t.get(g(2)).is_none());
        assert!(t.get(g(1)).is_some() && t.get(g(3)).is_some());
        assert_eq!(t.len(), 2);
        let mut none = PeerTable::<0>::new();
        assert_eq!(none.insert(g(7), ReplayWindow::provisioned()), Some(g(7)));
    }

    #[test]
    fn lanes_are_separate_windows() {
        let mut t = PeerTable::<4>::new();
        t.insert(WindowKey::group(1), ReplayWindow::provisioned());
        t.insert(
            WindowKey::source(1),
            ReplayWindow::provisioned().in_epoch(3),
        );
        let forged = t.get(WindowKey::group(1)).unwrap();
        forged.accept(SEQ_MAX);
        let own = t.get(WindowKey::source(1)).unwrap();
        assert_eq!(
            own.highest(),
            None,
            "the group lane does not move the source lane"
        );
        assert_eq!(own.epoch(), 3);
        assert_eq!(t.iter().count(), 2);
        assert!(t.remove(WindowKey::source(1)).is_some());
        assert!(t.get(WindowKey::group(1)).is_some());
    }

    #[test]
    fn epoch_survives_acceptance() {
        let mut w = ReplayWindow::<1>::provisioned().in_epoch(0xfffe);
        w.accept(SEQ_MAX);
        w.accept(3);
        assert_eq!(
            (w.epoch(), w.highest(), w.is_verified()),
            (0xfffe, Some(SEQ_MAX), true)
        );
        let (h, v, b) = w.to_parts();
        assert_eq!(
            ReplayWindow::from_parts(h, v, b).map(|w| w.in_epoch(0xfffe)),
            Ok(w)
        );
    }
}
