//! The sender's persistent sequence counter.
//!
//! Flash wears out and writes cost energy, so numbers are reserved in blocks: before using a
//! number at or past the persisted limit, the counter durably records `limit = next + K` and
//! only then hands the number out. After a reboot it resumes at the persisted limit, skipping
//! at most `K - 1` unused numbers. Because nothing is used before its reservation is durable,
//! a crash, a failed write or a torn write can never make a (sender, sequence) pair repeat.
//!
//! [`CounterStore`] is the seam to storage. Provided stores:
//! - [`MemoryStore`]: RAM only, for tests and for hosts that persist elsewhere;
//! - [`TwoSlotStore`]: two flash/EEPROM slots with a CRC, written alternately, so a torn write
//!   destroys at most the older slot;
//! - `FileStore` (`std`): a file replaced by write, fsync and atomic rename.

use crate::frame::SEQ_MAX;
use crate::Error;

/// Durable storage of the counter's reservation limit.
pub trait CounterStore {
    /// Why the storage failed.
    type Error: core::fmt::Debug;

    /// The persisted limit: every number below it may have been used; none at or above it.
    /// `Ok(None)` means no reservation was ever completed (nothing was used).
    fn load(&mut self) -> Result<Option<u64>, Self::Error>;

    /// Durably records `limit`. Must return `Ok` only once the value survives power loss.
    fn reserve(&mut self, limit: u64) -> Result<(), Self::Error>;
}

impl<S: CounterStore + ?Sized> CounterStore for &mut S {
    type Error = S::Error;
    fn load(&mut self) -> Result<Option<u64>, Self::Error> {
        (**self).load()
    }
    fn reserve(&mut self, limit: u64) -> Result<(), Self::Error> {
        (**self).reserve(limit)
    }
}

/// Default reservation block: one flash write per this many frames.
pub const DEFAULT_BLOCK: u64 = 1000;

/// Hands out sequence numbers that are never repeated, persisting reservations through `S`.
#[derive(Debug)]
pub struct Counter<S: CounterStore> {
    store: S,
    next: u64,
    limit: u64,
    block: u64,
}

impl<S: CounterStore> Counter<S> {
    /// Starts the counter after the last reservation persisted in `store` ("boot").
    ///
    /// A store without a record is refused as [`Error::NoCounterRecord`]: an identity whose
    /// record was lost (factory reset, replaced flash, a wiped state directory) would start
    /// again at 0 and repeat nonces it already used. Only a newly provisioned identity starts
    /// from nothing, through [`Counter::provision`].
    pub fn boot(mut store: S, block: u64) -> Result<Self, Error> {
        if block == 0 {
            return Err(Error::InvalidConfig);
        }
        let limit = store
            .load()
            .map_err(|_| Error::CounterStore)?
            .ok_or(Error::NoCounterRecord)?;
        Self::start(store, limit, block)
    }

    /// Starts the counter of a newly provisioned identity: writes a first record (limit 0) if
    /// the store has none, then boots. The caller asserts that this identity (group, epoch,
    /// sender id) never sealed anything before; a store that already holds a record resumes
    /// after it, so calling this twice is harmless.
    pub fn provision(mut store: S, block: u64) -> Result<Self, Error> {
        if block == 0 {
            return Err(Error::InvalidConfig);
        }
        let limit = match store.load().map_err(|_| Error::CounterStore)? {
            Some(limit) => limit,
            None => {
                store.reserve(0).map_err(|_| Error::CounterStore)?;
                0
            }
        };
        Self::start(store, limit, block)
    }

    fn start(store: S, limit: u64, block: u64) -> Result<Self, Error> {
        Ok(Counter {
            store,
            next: limit,
            limit,
            block,
        })
    }

    /// The next number [`Counter::take`] would return.
    pub fn peek(&self) -> u64 {
        self.next
    }

    /// The persisted reservation limit.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Numbers left before the 40-bit space is used up.
    pub fn remaining(&self) -> u64 {
        (SEQ_MAX + 1).saturating_sub(self.next)
    }

    /// Returns a fresh number, first persisting a new reservation if the current one is used up.
    ///
    /// On any error nothing is consumed and the in-memory limit does not move.
    pub fn take(&mut self) -> Result<u64, Error> {
        if self.next > SEQ_MAX {
            return Err(Error::CounterExhausted);
        }
        if self.next >= self.limit {
            let new_limit = self.next.saturating_add(self.block).min(SEQ_MAX + 1);
            self.store
                .reserve(new_limit)
                .map_err(|_| Error::CounterStore)?;
            self.limit = new_limit;
        }
        let n = self.next;
        self.next += 1;
        Ok(n)
    }

    /// Gives back the store (e.g. to inspect it in tests).
    pub fn into_store(self) -> S {
        self.store
    }
}

/// A counter store in RAM. Counts its writes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStore {
    /// The persisted limit.
    pub limit: Option<u64>,
    /// Number of successful reservations.
    pub writes: u64,
}

impl CounterStore for MemoryStore {
    type Error = core::convert::Infallible;
    fn load(&mut self) -> Result<Option<u64>, Self::Error> {
        Ok(self.limit)
    }
    fn reserve(&mut self, limit: u64) -> Result<(), Self::Error> {
        self.limit = Some(limit);
        self.writes += 1;
        Ok(())
    }
}

/// Length of one counter record: magic (4) ‖ limit (u64 BE) ‖ CRC-32 of the first 12 bytes.
pub const RECORD_LEN: usize = 16;
const RECORD_MAGIC: [u8; 4] = *b"MSC1";
const CRC32: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISO_HDLC);

/// Encodes a counter record.
pub fn encode_record(limit: u64) -> [u8; RECORD_LEN] {
    let mut r = [0u8; RECORD_LEN];
    r[..4].copy_from_slice(&RECORD_MAGIC);
    r[4..12].copy_from_slice(&limit.to_be_bytes());
    let crc = CRC32.checksum(&r[..12]);
    r[12..].copy_from_slice(&crc.to_be_bytes());
    r
}

/// Decodes a counter record; `None` if the magic or the CRC does not match.
pub fn decode_record(r: &[u8; RECORD_LEN]) -> Option<u64> {
    let crc = u32::from_be_bytes([r[12], r[13], r[14], r[15]]);
    if r[..4] != RECORD_MAGIC || CRC32.checksum(&r[..12]) != crc {
        return None;
    }
    let mut l = [0u8; 8];
    l.copy_from_slice(&r[4..12]);
    Some(u64::from_be_bytes(l))
}

/// Raw storage with two record slots (two flash pages, or two EEPROM ranges).
pub trait SlotFlash {
    /// Why the medium failed.
    type Error: core::fmt::Debug;
    /// Reads slot `slot` (0 or 1).
    fn read(&mut self, slot: usize, out: &mut [u8; RECORD_LEN]) -> Result<(), Self::Error>;
    /// Writes (erasing first if the medium needs it) slot `slot` (0 or 1).
    fn write(&mut self, slot: usize, record: &[u8; RECORD_LEN]) -> Result<(), Self::Error>;
}

/// Why a [`TwoSlotStore`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotError<E> {
    /// The medium reported an error.
    Medium(E),
    /// Both slots hold data and neither is a valid record: the medium was damaged by something
    /// other than an interrupted write, so the counter cannot be trusted.
    Corrupt,
}

/// Two slots written alternately; a load takes the highest valid limit.
///
/// A torn write can only damage the slot being written, which never holds the newest valid
/// record, so the newest completed reservation always survives. Provision the medium with
/// [`TwoSlotStore::format`] (a record of limit 0): from then on a damaged slot beside a blank
/// one can only be decay, and is refused as [`SlotError::Corrupt`] rather than read as "new".
/// A medium with both slots blank is a member that never sealed.
#[derive(Debug)]
pub struct TwoSlotStore<F: SlotFlash> {
    flash: F,
    /// Slot holding the newest valid record, once known.
    newest: Option<usize>,
}

impl<F: SlotFlash> TwoSlotStore<F> {
    /// Wraps a two-slot medium.
    pub fn new(flash: F) -> Self {
        TwoSlotStore {
            flash,
            newest: None,
        }
    }

    /// Provisions the medium: writes a record of limit 0 into slot 0 and blanks nothing else.
    pub fn format(&mut self) -> Result<(), SlotError<F::Error>> {
        self.flash
            .write(0, &encode_record(0))
            .map_err(SlotError::Medium)?;
        self.newest = Some(0);
        Ok(())
    }

    /// Gives back the medium.
    pub fn into_inner(self) -> F {
        self.flash
    }

    fn scan(&mut self) -> Result<Option<(usize, u64)>, SlotError<F::Error>> {
        let mut best: Option<(usize, u64)> = None;
        let mut damaged = 0;
        for slot in 0..2 {
            let mut r = [0u8; RECORD_LEN];
            self.flash.read(slot, &mut r).map_err(SlotError::Medium)?;
            match decode_record(&r) {
                Some(limit) if best.map_or(true, |(_, b)| limit > b) => best = Some((slot, limit)),
                Some(_) => {}
                None if is_blank(&r) => {}
                None => damaged += 1,
            }
        }
        if best.is_none() && damaged > 0 {
            return Err(SlotError::Corrupt);
        }
        Ok(best)
    }
}

fn is_blank(r: &[u8; RECORD_LEN]) -> bool {
    r.iter().all(|&b| b == 0xff) || r.iter().all(|&b| b == 0)
}

impl<F: SlotFlash> CounterStore for TwoSlotStore<F> {
    type Error = SlotError<F::Error>;

    fn load(&mut self) -> Result<Option<u64>, Self::Error> {
        let best = self.scan()?;
        self.newest = best.map(|(slot, _)| slot);
        Ok(best.map(|(_, limit)| limit))
    }

    fn reserve(&mut self, limit: u64) -> Result<(), Self::Error> {
        if self.newest.is_none() {
            self.newest = self.scan()?.map(|(slot, _)| slot);
        }
        let target = match self.newest {
            Some(slot) => 1 - slot,
            None => 0,
        };
        self.flash
            .write(target, &encode_record(limit))
            .map_err(SlotError::Medium)?;
        self.newest = Some(target);
        Ok(())
    }
}

#[cfg(feature = "std")]
mod file {
    use super::{decode_record, encode_record, CounterStore, RECORD_LEN};
    use std::fs;
    use std::io::{self, Write};
    use std::path::{Path, PathBuf};

    /// A counter kept in one file, replaced atomically: write a temporary file, fsync it,
    /// rename it over the old one, fsync the directory.
    ///
    /// A missing file means a new member that never sealed. A file that exists but does not
    /// hold a valid record is an error, never a silent restart at zero.
    #[derive(Debug, Clone)]
    pub struct FileStore {
        path: PathBuf,
    }

    impl FileStore {
        /// A store at `path` (created on the first reservation).
        pub fn new(path: impl Into<PathBuf>) -> Self {
            FileStore { path: path.into() }
        }

        /// Where the counter lives.
        pub fn path(&self) -> &Path {
            &self.path
        }
    }

    impl CounterStore for FileStore {
        type Error = io::Error;

        fn load(&mut self) -> io::Result<Option<u64>> {
            let bytes = match fs::read(&self.path) {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e),
            };
            let record: [u8; RECORD_LEN] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| corrupt(&self.path))?;
            decode_record(&record)
                .map(Some)
                .ok_or_else(|| corrupt(&self.path))
        }

        fn reserve(&mut self, limit: u64) -> io::Result<()> {
            write_atomic(&self.path, &encode_record(limit))
        }
    }

    fn corrupt(path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            std::format!("counter file {} is not a valid record", path.display()),
        )
    }

    /// Replaces `path` with `data` so that a crash leaves either the old or the new content.
    pub fn write_atomic(path: &Path, data: &[u8]) -> io::Result<()> {
        let mut tmp = std::ffi::OsString::from(path.as_os_str());
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(data)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        fs::File::open(dir)?.sync_all()
    }
}

#[cfg(feature = "std")]
pub use file::{write_atomic, FileStore};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserves_once_per_block_and_resumes_after_it() {
        let mut store = MemoryStore::default();
        let mut c = Counter::provision(&mut store, 10).unwrap();
        for want in 0..25 {
            assert_eq!(c.take().unwrap(), want);
        }
        assert_eq!(c.limit(), 30);
        assert_eq!(
            c.into_store().writes,
            4,
            "the first record, then one per block"
        );
        let mut c = Counter::boot(&mut store, 10).unwrap();
        assert_eq!(c.take().unwrap(), 30);
    }

    #[test]
    fn a_store_without_record_starts_only_when_provisioned() {
        let mut store = MemoryStore::default();
        assert_eq!(
            Counter::boot(&mut store, 10).err(),
            Some(Error::NoCounterRecord),
            "a lost record must not restart at 0"
        );
        assert_eq!(store.writes, 0);
        let mut c = Counter::provision(&mut store, 10).unwrap();
        assert_eq!(c.take(), Ok(0));
        // Provisioning a store that already holds a record resumes after it.
        let mut c = Counter::provision(&mut store, 10).unwrap();
        assert_eq!(c.take(), Ok(10));
        let mut c = Counter::boot(&mut store, 10).unwrap();
        assert_eq!(c.take(), Ok(20));
    }

    #[test]
    fn exhaustion_is_refused() {
        let mut store = MemoryStore {
            limit: Some(SEQ_MAX - 1),
            writes: 0,
        };
        let mut c = Counter::boot(&mut store, 1000).unwrap();
        assert_eq!(c.take(), Ok(SEQ_MAX - 1));
        assert_eq!(c.limit(), SEQ_MAX + 1);
        assert_eq!(c.take(), Ok(SEQ_MAX));
        assert_eq!(c.take(), Err(Error::CounterExhausted));
        assert_eq!(c.take(), Err(Error::CounterExhausted));
        assert_eq!(c.remaining(), 0);
    }

    #[test]
    fn zero_block_is_invalid() {
        assert_eq!(
            Counter::boot(MemoryStore::default(), 0).err(),
            Some(Error::InvalidConfig)
        );
    }

    #[test]
    fn record_round_trip_and_damage() {
        let r = encode_record(123_456);
        assert_eq!(decode_record(&r), Some(123_456));
        for i in 0..RECORD_LEN {
            let mut bad = r;
            bad[i] ^= 0x10;
            assert_eq!(decode_record(&bad), None, "byte {i}");
        }
    }

    struct Slots([[u8; RECORD_LEN]; 2]);
    impl SlotFlash for Slots {
        type Error = ();
        fn read(&mut self, slot: usize, out: &mut [u8; RECORD_LEN]) -> Result<(), ()> {
            *out = self.0[slot];
            Ok(())
        }
        fn write(&mut self, slot: usize, record: &[u8; RECORD_LEN]) -> Result<(), ()> {
            self.0[slot] = *record;
            Ok(())
        }
    }

    #[test]
    fn two_slots_alternate_and_refuse_corruption() {
        let mut s = TwoSlotStore::new(Slots([[0xff; RECORD_LEN]; 2]));
        assert_eq!(s.load(), Ok(None));
        s.format().unwrap();
        assert_eq!(s.load(), Ok(Some(0)));
        s.reserve(10).unwrap();
        s.reserve(20).unwrap();
        s.reserve(30).unwrap();
        let flash = s.into_inner();
        assert_eq!(decode_record(&flash.0[0]), Some(20));
        assert_eq!(decode_record(&flash.0[1]), Some(30));
        let mut s = TwoSlotStore::new(flash);
        assert_eq!(s.load(), Ok(Some(30)));
        // One damaged slot: the other still answers.
        let mut flash = s.into_inner();
        flash.0[1][5] ^= 1;
        let mut s = TwoSlotStore::new(flash);
        assert_eq!(s.load(), Ok(Some(20)));
        // Both damaged, or one damaged beside a blank one: refuse to guess.
        let mut flash = s.into_inner();
        flash.0[0][5] ^= 1;
        let mut s = TwoSlotStore::new(flash);
        assert_eq!(s.load(), Err(SlotError::Corrupt));
        let mut flash = s.into_inner();
        flash.0[0] = [0xff; RECORD_LEN];
        let mut s = TwoSlotStore::new(flash);
        assert_eq!(s.load(), Err(SlotError::Corrupt));
    }

    #[cfg(feature = "std")]
    #[test]
    fn file_store_round_trip_and_corruption() {
        let dir =
            std::env::temp_dir().join(std::format!("meshseal-counter-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("counter");
        let _ = std::fs::remove_file(&path);
        let mut s = FileStore::new(&path);
        assert_eq!(s.load().unwrap(), None);
        s.reserve(77).unwrap();
        assert_eq!(FileStore::new(&path).load().unwrap(), Some(77));
        std::fs::write(&path, b"garbage").unwrap();
        assert!(FileStore::new(&path).load().is_err());
        assert_eq!(
            Counter::boot(FileStore::new(&path), 10).err(),
            Some(Error::CounterStore)
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
