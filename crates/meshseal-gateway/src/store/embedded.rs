//! Durable replay state in an embedded redb database, committed per batch (group commit).
//!
//! Every batch of frames the core accepted is made durable before any of its messages is
//! released: one redb transaction appends the exact windows (highest number, bitmap, verified
//! flag, epoch) of every sender the batch touched to a log, as *one* value, and commits (fsync)
//! once for the whole batch. From time to time the log is folded into the per-sender table in
//! one transaction (the windows of the senders it covers written, the log dropped): when it
//! holds [`FOLD_FACTOR`] times more entries than the senders it covers (at least
//! [`FOLD_MIN`]), or [`FOLD_MAX`] entries, so a fold costs at most one record per
//! [`FOLD_FACTOR`] logged windows while a batch costs one insert, not one per sender. After
//! a crash (`kill -9`, power loss) the gateway restores those exact windows, so
//! - no frame it delivered can be delivered again: its number was durable before its message
//!   was written;
//! - no legitimate frame it had not yet seen is refused: the windows hold exactly what was
//!   accepted, not a reserve above it.
//!
//! The one exposure is the batch in flight at the crash: its numbers may be committed while
//! its messages were not yet written; those frames (at most one batch) are then refused as
//! replays if sent again. A crash before the commit loses nothing: the frames were neither
//! recorded nor delivered, and are accepted when sent again.
//!
//! A clean shutdown writes the windows once more and marks the database clean (informative).
//! A database written by an earlier version (a per-sender *ceiling* reserved ahead of the
//! accepted numbers, exact only after a clean shutdown) is read in that format once, then
//! rewritten exactly.
//!
//! Key epochs: each record holds the epoch of its window, so the windows of an epoch change
//! (a sender's last frames of the old epoch, its first of the new) are committed like any
//! other, and a restart restores each window in its own epoch. The `group` record holds the
//! newest epoch the gateway entered: a gateway whose member state is older than its store (a
//! lost state directory) is refused at start, not run in an epoch it already left.
//!
//! Layout: table `log` (batch number u64 → the batch's windows, each sender id u32 BE ‖ a
//! 19-byte record; restored in order over `senders`), table `meta` (`group` = group id u32 BE ‖ newest epoch u16 BE; `provisioned` = 0 or
//! 1; `exact` present once records are exact windows; `clean` after a clean shutdown) and table
//! `senders` (sender id → 19-byte record: highest u64 BE ‖ flags (bit 0 verified) ‖ bitmap u64
//! BE ‖ epoch u16 BE; records of 17 bytes, written before epochs were kept, belong to the
//! `group` record's epoch).

use std::collections::HashMap;
use std::path::Path;

use meshseal::context::epoch_is_newer;
use meshseal::frame::SEQ_MAX;
use meshseal::replay::ReplayWindow;
use meshseal::Error;
use redb::{Database, ReadableTable, TableDefinition, TableError};

use super::{window_below, Candidate, ReplayBackend};
use crate::windows::Windows;
use crate::{GatewayError, GroupSetup};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SENDERS: TableDefinition<u32, &[u8]> = TableDefinition::new("senders");
const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
/// A log entry: sender id ‖ record.
const ENTRY_LEN: usize = 4 + RECORD_LEN;
/// The log is folded once it holds this many times more entries than senders it covers...
pub const FOLD_FACTOR: usize = 4;
/// ... and at least this many entries ...
pub const FOLD_MIN: usize = 4096;
/// ... or this many entries whatever it covers (a bound on the restart's work).
pub const FOLD_MAX: usize = 1 << 20;
const RECORD_LEN: usize = 19;
/// A record written before epochs were kept.
const LEGACY_RECORD_LEN: usize = 17;

/// Kept for the command line's `--ahead`, which no longer changes anything: state is committed
/// exactly, per batch.
pub const DEFAULT_AHEAD: u64 = 1000;

fn db_err(e: impl Into<redb::Error>) -> GatewayError {
    GatewayError::Redb(e.into().to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    /// The highest accepted number (in the legacy format: a ceiling above it).
    ceiling: u64,
    verified: bool,
    bitmap: u64,
    /// The key epoch of the window; `None` in a legacy record.
    epoch: Option<u16>,
}

impl Record {
    /// The record of a window that accepted something (with its epoch).
    fn of(w: &ReplayWindow) -> Option<Record> {
        let (Some(highest), verified, [bitmap]) = w.to_parts() else {
            return None;
        };
        Some(Record {
            ceiling: highest,
            verified,
            bitmap,
            epoch: Some(w.epoch()),
        })
    }

    fn encode(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[..8].copy_from_slice(&self.ceiling.to_be_bytes());
        r[8] = u8::from(self.verified);
        r[9..17].copy_from_slice(&self.bitmap.to_be_bytes());
        r[17..].copy_from_slice(&self.epoch.unwrap_or_default().to_be_bytes());
        r
    }

    fn decode(b: &[u8]) -> Option<Record> {
        if b.len() != RECORD_LEN && b.len() != LEGACY_RECORD_LEN {
            return None;
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&b[..8]);
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[9..17]);
        let epoch = b.get(17..19).map(|e| u16::from_be_bytes([e[0], e[1]]));
        let ceiling = u64::from_be_bytes(c);
        (ceiling <= SEQ_MAX && b[8] <= 1).then_some(Record {
            ceiling,
            verified: b[8] == 1,
            bitmap: u64::from_be_bytes(m),
            epoch,
        })
    }
}

/// The redb backend.
pub struct Embedded {
    db: Database,
    group_id: u32,
    /// Senders of the current batch, reused.
    touched: Vec<u32>,
    /// The batch's log value, reused.
    entry: Vec<u8>,
    /// Key of the next log value.
    next_log: u64,
    /// Entries in the log since the last fold.
    logged: usize,
    /// Senders those entries cover.
    dirty: std::collections::HashSet<u32>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded").finish_non_exhaustive()
    }
}

fn group_bytes(group_id: u32, epoch: u16) -> [u8; 6] {
    let mut g = [0u8; 6];
    g[..4].copy_from_slice(&group_id.to_be_bytes());
    g[4..].copy_from_slice(&epoch.to_be_bytes());
    g
}

impl Embedded {
    /// Opens (or creates) the database at `path` for `setup`'s group and epoch and restores
    /// the windows (each in its own epoch). A store that recorded an older epoch of the group
    /// is taken into this one; one that recorded a newer epoch is refused. `provision` creates verified state for every member and is allowed only
    /// for a new database (at group creation, before any member sent a frame). A database
    /// created without it holds no verified state: frames are delivered with unknown freshness.
    pub fn open(
        path: &Path,
        setup: &GroupSetup,
        provision: bool,
        ahead: u64,
    ) -> Result<(Embedded, Windows), GatewayError> {
        let _ = ahead;
        let db = Database::create(path).map_err(db_err)?;
        Self::open_db(db, &path.display().to_string(), setup, provision)
    }

    /// [`Embedded::open`] over any redb storage (the tests use one that simulates power loss).
    pub fn open_with_backend(
        backend: impl redb::StorageBackend,
        setup: &GroupSetup,
        provision: bool,
    ) -> Result<(Embedded, Windows), GatewayError> {
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(db_err)?;
        Self::open_db(db, "the replay store", setup, provision)
    }

    fn open_db(
        db: Database,
        path: &str,
        setup: &GroupSetup,
        provision: bool,
    ) -> Result<(Embedded, Windows), GatewayError> {
        let want = group_bytes(setup.group_id, setup.epoch);
        let (group, provisioned, clean, exact, records, logged) = read_all(&db)?;
        let stored_epoch = group.map_or(setup.epoch, |g| u16::from_be_bytes([g[4], g[5]]));
        let provisioned = match group {
            None => {
                let tx = db.begin_write().map_err(db_err)?;
                {
                    let mut meta = tx.open_table(META).map_err(db_err)?;
                    meta.insert("group", want.as_slice()).map_err(db_err)?;
                    meta.insert("provisioned", [u8::from(provision)].as_slice())
                        .map_err(db_err)?;
                    tx.open_table(SENDERS).map_err(db_err)?;
                }
                tx.commit().map_err(db_err)?;
                provision
            }
            Some(g) if g[..4] != want[..4] => {
                return Err(GatewayError::Config(format!(
                    "{} holds replay state of another group",
                    path
                )))
            }
            Some(_) if epoch_is_newer(stored_epoch, setup.epoch) => {
                return Err(GatewayError::Config(format!(
                    "{} holds replay state of key epoch {stored_epoch}, newer than this \
                     gateway's epoch {}: its member state is behind (restore its state \
                     directory, or apply the rekey messages it missed)",
                    path, setup.epoch
                )))
            }
            Some(_) if provision => {
                return Err(GatewayError::Config(format!(
                    "{} already holds replay state; provisioning is only for a new store",
                    path
                )))
            }
            Some(_) => provisioned,
        };
        let mut windows = Windows(Default::default(), setup.epoch);
        for (&sender, r) in &records {
            let w = if clean || exact {
                ReplayWindow::from_parts(Some(r.ceiling), r.verified, [r.bitmap])
                    .map_err(|_| GatewayError::Redb(format!("bad record of sender {sender}")))?
            } else {
                // The legacy format: every number up to the ceiling may have been accepted.
                window_below(r.ceiling, r.verified)?
            };
            windows
                .0
                .insert(sender, w.in_epoch(r.epoch.unwrap_or(stored_epoch)));
        }
        if provisioned {
            for &m in &setup.members {
                windows
                    .0
                    .entry(m)
                    .or_insert_with(|| ReplayWindow::provisioned().in_epoch(setup.epoch));
            }
        }
        let mut store = Embedded {
            db,
            group_id: setup.group_id,
            touched: Vec::new(),
            entry: Vec::new(),
            next_log: 0,
            logged: 0,
            dirty: Default::default(),
        };
        if stored_epoch != setup.epoch {
            store.enter_epoch(setup.epoch)?;
        }
        let legacy = records.values().any(|r| r.epoch.is_none());
        if clean || !exact || legacy || logged > 0 {
            // From here on the records are exact windows, and the log starts empty.
            store.write(&windows, windows.0.keys().copied(), false)?;
        }
        tracing::info!(
            senders = records.len(),
            clean,
            exact,
            provisioned,
            "replay store {path} opened"
        );
        Ok((store, windows))
    }

    /// Writes the exact windows of `senders`, drops the log (which they must cover) and sets
    /// the format mark, in one durable transaction (and the clean mark when `clean`, else
    /// removes it).
    fn write(
        &mut self,
        windows: &Windows,
        senders: impl Iterator<Item = u32>,
        clean: bool,
    ) -> Result<(), GatewayError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(SENDERS).map_err(db_err)?;
            for s in senders {
                let Some(r) = windows.0.get(&s).and_then(Record::of) else {
                    continue;
                };
                t.insert(s, r.encode().as_slice()).map_err(db_err)?;
            }
            tx.delete_table(LOG).map_err(db_err)?;
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert("exact", [1u8].as_slice()).map_err(db_err)?;
            if clean {
                meta.insert("clean", [1u8].as_slice()).map_err(db_err)?;
            } else {
                meta.remove("clean").map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)?;
        self.next_log = 0;
        self.logged = 0;
        self.dirty.clear();
        Ok(())
    }

    /// Appends the windows of `self.touched` to the log as one value, in one durable
    /// transaction.
    fn log(&mut self, windows: &Windows) -> Result<(), GatewayError> {
        let mut entry = std::mem::take(&mut self.entry);
        entry.clear();
        for &s in &self.touched {
            let Some(r) = windows.0.get(&s).and_then(Record::of) else {
                continue;
            };
            entry.extend_from_slice(&s.to_be_bytes());
            entry.extend_from_slice(&r.encode());
        }
        let r = (|| {
            let tx = self.db.begin_write().map_err(db_err)?;
            tx.open_table(LOG)
                .map_err(db_err)?
                .insert(self.next_log, entry.as_slice())
                .map_err(db_err)?;
            tx.commit().map_err(db_err)
        })();
        self.entry = entry;
        r?;
        self.next_log += 1;
        self.logged += self.touched.len();
        self.dirty.extend(self.touched.iter().copied());
        Ok(())
    }

    /// Whether the log is due to be folded.
    fn fold_due(&self) -> bool {
        self.logged >= FOLD_MAX
            || (self.logged >= FOLD_MIN && self.logged >= FOLD_FACTOR * self.dirty.len())
    }
}

type Contents = (
    Option<[u8; 6]>,
    bool,
    bool,
    bool,
    HashMap<u32, Record>,
    usize,
);

fn read_all(db: &Database) -> Result<Contents, GatewayError> {
    let tx = db.begin_read().map_err(db_err)?;
    let meta = match tx.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => {
            return Ok((None, false, false, false, HashMap::new(), 0))
        }
        Err(e) => return Err(db_err(e)),
    };
    let get = |k: &str| -> Result<Option<Vec<u8>>, GatewayError> {
        Ok(meta.get(k).map_err(db_err)?.map(|v| v.value().to_vec()))
    };
    let group = get("group")?
        .map(|g| <[u8; 6]>::try_from(g.as_slice()))
        .transpose()
        .map_err(|_| GatewayError::Redb("bad group record".into()))?;
    let provisioned = get("provisioned")? == Some(vec![1]);
    let clean = get("clean")?.is_some();
    let exact = get("exact")?.is_some();
    let mut records = HashMap::new();
    match tx.open_table(SENDERS) {
        Ok(t) => {
            for row in t.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let r = Record::decode(v.value()).ok_or_else(|| {
                    GatewayError::Redb(format!("bad record of sender {}", k.value()))
                })?;
                records.insert(k.value(), r);
            }
        }
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(db_err(e)),
    }
    // The log, in batch order, over the table: the last window written wins.
    let mut logged = 0;
    match tx.open_table(LOG) {
        Ok(t) => {
            for row in t.iter().map_err(db_err)? {
                let (k, v) = row.map_err(db_err)?;
                let v = v.value();
                if v.len() % ENTRY_LEN != 0 {
                    return Err(GatewayError::Redb(format!("bad log value {}", k.value())));
                }
                for e in v.chunks_exact(ENTRY_LEN) {
                    let sender = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
                    let r = Record::decode(&e[4..]).ok_or_else(|| {
                        GatewayError::Redb(format!("bad log record of sender {sender}"))
                    })?;
                    records.insert(sender, r);
                    logged += 1;
                }
            }
        }
        Err(TableError::TableDoesNotExist(_)) => {}
        Err(e) => return Err(db_err(e)),
    }
    Ok((group, provisioned, clean, exact, records, logged))
}

impl ReplayBackend for Embedded {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn confirm(
        &mut self,
        frames: &[Candidate],
        windows: &Windows,
        verdicts: &mut Vec<Result<(), Error>>,
    ) -> u64 {
        verdicts.clear();
        if frames.is_empty() {
            return 0;
        }
        let mut touched = std::mem::take(&mut self.touched);
        touched.clear();
        touched.extend(frames.iter().map(|f| f.id.sender));
        touched.sort_unstable();
        touched.dedup();
        self.touched = touched;
        match self.log(windows) {
            Ok(()) => {
                verdicts.extend(frames.iter().map(|_| Ok(())));
                if self.fold_due() {
                    let dirty: Vec<u32> = self.dirty.iter().copied().collect();
                    if let Err(e) = self.write(windows, dirty.into_iter(), false) {
                        // The log stays, durable: folding is tried again after the next batch.
                        tracing::warn!(error = %e, "cannot fold the replay log");
                    }
                }
            }
            Err(e) => {
                // Not durable: nothing of this batch is released (the windows in memory keep
                // the numbers, so the frames are refused, never delivered twice).
                tracing::error!(error = %e, "cannot commit replay state; refusing the batch");
                verdicts.extend(frames.iter().map(|_| Err(Error::CounterStore)));
            }
        }
        1
    }

    fn enter_epoch(&mut self, epoch: u16) -> Result<(), GatewayError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert("group", group_bytes(self.group_id, epoch).as_slice())
                .map_err(db_err)?;
        }
        tx.commit().map_err(db_err)
    }

    fn shutdown(&mut self, windows: &Windows) -> Result<(), GatewayError> {
        self.write(windows, windows.0.keys().copied(), true)?;
        tracing::info!(senders = windows.0.len(), "replay state flushed (clean)");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshseal::{FrameId, OrderPolicy, SenderIdMode};

    fn setup() -> GroupSetup {
        GroupSetup {
            group_id: 7,
            epoch: 0,
            members: vec![1, 2, 3],
            order: OrderPolicy::Window,
            id_mode: SenderIdMode::Explicit,
            previous_epoch: None,
        }
    }

    fn cand(sender: u32, seq: u64) -> Candidate {
        Candidate {
            id: FrameId { sender, seq },
            verified: true,
            epoch: 0,
        }
    }

    #[test]
    fn record_round_trip_and_rejects_junk() {
        let r = Record {
            ceiling: 12345,
            verified: true,
            bitmap: 0xf0f0,
            epoch: Some(0x1234),
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        // A record written before epochs were kept.
        let legacy = Record::decode(&r.encode()[..LEGACY_RECORD_LEN]);
        assert_eq!(legacy, Some(Record { epoch: None, ..r }));
        assert_eq!(Record::decode(&[0u8; 16]), None);
        assert_eq!(Record::decode(&[0u8; 18]), None);
        let mut bad = r.encode();
        bad[8] = 2;
        assert_eq!(Record::decode(&bad), None);
    }

    /// The windows after accepting `seqs` from `sender` on top of `w`.
    fn accept(w: &mut Windows, sender: u32, seqs: &[u64]) -> Vec<Candidate> {
        let win = w.0.entry(sender).or_insert_with(ReplayWindow::provisioned);
        seqs.iter()
            .map(|&q| {
                win.accept(q);
                cand(sender, q)
            })
            .collect()
    }

    #[test]
    fn every_batch_is_committed_exactly_and_restored_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let (mut s, mut w) = Embedded::open(&path, &setup(), true, 100).unwrap();
        assert_eq!(w.0.len(), 3);
        let mut v = Vec::new();
        let batch = accept(&mut w, 1, &[5, 6, 9]);
        assert_eq!(s.confirm(&batch, &w, &mut v), 1);
        assert_eq!(v, vec![Ok(()), Ok(()), Ok(())]);
        // An empty batch writes nothing.
        assert_eq!(s.confirm(&[], &w, &mut v), 0);
        drop(s); // a crash: nothing else written
        let (_, w2) = Embedded::open(&path, &setup(), false, 100).unwrap();
        let w1 = w2.0[&1];
        assert_eq!(w1, w.0[&1], "the exact window");
        for seq in [5, 6, 9] {
            assert!(
                w1.check(seq, OrderPolicy::Window).is_err(),
                "{seq} accepted again"
            );
        }
        // Nothing legitimate is refused: the gaps and the numbers above stay open.
        for seq in [7, 8, 10, 11, 1000] {
            assert_eq!(w1.check(seq, OrderPolicy::Window), Ok(()), "{seq}");
        }
        assert!(w1.is_verified());
        assert_eq!(w2.0[&2], ReplayWindow::provisioned());
        // Provisioning an existing store is refused, as is another group.
        assert!(Embedded::open(&path, &setup(), true, 100).is_err());
        let mut other = setup();
        other.group_id = 8;
        assert!(Embedded::open(&path, &other, false, 100).is_err());
    }

    fn log_values(s: &Embedded) -> usize {
        let tx = s.db.begin_read().unwrap();
        match tx.open_table(LOG) {
            Ok(t) => t.iter().unwrap().count(),
            Err(_) => 0,
        }
    }

    #[test]
    fn a_batch_is_one_log_value_and_the_log_is_folded_without_changing_a_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let mut su = setup();
        su.members = (1..=1000).collect();
        let (mut s, mut w) = Embedded::open(&path, &su, true, 100).unwrap();
        let mut v = Vec::new();
        let mut batch_no = 0u64;
        let mut batch = |s: &mut Embedded, w: &mut Windows| {
            let q = 3 * batch_no;
            batch_no += 1;
            let frames: Vec<Candidate> = (1..=1000)
                .flat_map(|snd| accept(w, snd, &[q, q + 2]))
                .collect();
            assert_eq!(s.confirm(&frames, w, &mut v), 1);
            assert!(v.iter().all(|x| x.is_ok()));
        };
        for _ in 0..4 {
            batch(&mut s, &mut w);
        }
        // 4 batches of 1000 senders: 4000 entries in 4 values, not yet worth a fold.
        assert_eq!((log_values(&s), s.logged), (4, 4000));
        drop(s); // a crash with the log unfolded
        let (mut s, w2) = Embedded::open(&path, &su, false, 100).unwrap();
        assert_eq!(w2.0, w.0, "the log restores every window exactly");
        assert_eq!(log_values(&s), 0, "opening folds the log");
        for _ in 0..5 {
            batch(&mut s, &mut w);
        }
        // The fifth batch made 5000 entries over 1000 senders: folded.
        assert_eq!((log_values(&s), s.logged), (0, 0));
        batch(&mut s, &mut w);
        assert_eq!(log_values(&s), 1);
        drop(s);
        let (_, w3) = Embedded::open(&path, &su, false, 100).unwrap();
        assert_eq!(
            w3.0, w.0,
            "folded table and log together restore every window"
        );
    }

    #[test]
    fn windows_keep_their_epoch_and_a_store_never_goes_back_an_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let (mut s, mut w) = Embedded::open(&path, &setup(), true, 100).unwrap();
        let mut v = Vec::new();
        let batch = accept(&mut w, 1, &[5, 6]);
        s.confirm(&batch, &w, &mut v);
        // The gateway enters epoch 1; sender 2 opens its window of epoch 1.
        s.enter_epoch(1).unwrap();
        let win2 = ReplayWindow::provisioned().in_epoch(1);
        w.0.insert(2, win2);
        let batch = accept(&mut w, 2, &[7]);
        s.confirm(&batch, &w, &mut v);
        drop(s); // a crash
                 // Restarted in epoch 1: each window in its own epoch.
        let mut at1 = setup();
        at1.epoch = 1;
        let (s, w2) = Embedded::open(&path, &at1, false, 100).unwrap();
        assert_eq!((w2.0[&1].epoch(), w2.0[&1].highest()), (0, Some(6)));
        assert_eq!((w2.0[&2].epoch(), w2.0[&2].highest()), (1, Some(7)));
        assert_eq!(w2.0[&3].epoch(), 1, "provisioned in the current epoch");
        drop(s);
        // A gateway whose member state lost the rekey (epoch 0) is refused, not run in an
        // epoch the store already left.
        let e = Embedded::open(&path, &setup(), false, 100).unwrap_err();
        assert!(
            e.to_string().contains("newer than this gateway's epoch 0"),
            "{e}"
        );
        // A later epoch takes the store in.
        let mut at2 = setup();
        at2.epoch = 2;
        assert!(Embedded::open(&path, &at2, false, 100).is_ok());
        assert!(Embedded::open(&path, &at1, false, 100).is_err());
    }

    #[test]
    fn a_legacy_ceiling_store_is_read_once_then_kept_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        {
            // What an earlier version left after a crash: a ceiling, no `exact` mark.
            let db = Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut meta = tx.open_table(META).unwrap();
                meta.insert("group", group_bytes(7, 0).as_slice()).unwrap();
                meta.insert("provisioned", [1u8].as_slice()).unwrap();
                let mut t = tx.open_table(SENDERS).unwrap();
                let r = Record {
                    ceiling: 200,
                    verified: true,
                    bitmap: u64::MAX,
                    epoch: None,
                };
                t.insert(1, &r.encode()[..LEGACY_RECORD_LEN]).unwrap();
            }
            tx.commit().unwrap();
        }
        let (s, w) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert!(w.0[&1].check(150, OrderPolicy::Window).is_err());
        assert_eq!(w.0[&1].check(201, OrderPolicy::Window), Ok(()));
        drop(s);
        let (_, w2) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert_eq!(w2.0[&1], w.0[&1]);
    }

    #[test]
    fn clean_shutdown_keeps_exact_windows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let (mut s, mut w) = Embedded::open(&path, &setup(), true, 100).unwrap();
        let mut v = Vec::new();
        let batch = accept(&mut w, 2, &[10]);
        s.confirm(&batch, &w, &mut v);
        w.0.get_mut(&2).unwrap().accept(12);
        s.shutdown(&w).unwrap();
        drop(s);
        let (s, w2) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert_eq!(w2.0[&2], w.0[&2], "exact window after a clean shutdown");
        assert_eq!(w2.0[&2].check(11, OrderPolicy::Window), Ok(()));
        drop(s);
        // And after a crash too.
        let (_, w3) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert_eq!(w3.0[&2], w.0[&2]);
    }

    #[test]
    fn unprovisioned_store_holds_no_verified_state() {
        let dir = tempfile::tempdir().unwrap();
        let (_, w) = Embedded::open(&dir.path().join("r.redb"), &setup(), false, 10).unwrap();
        assert!(w.0.is_empty());
    }
}
