//! Durable replay state in an embedded redb database, without a write per frame.
//!
//! For each sender the database holds a *ceiling*: a number at or above every number this
//! gateway ever accepted from it. A frame above its sender's ceiling is delivered only after a
//! new ceiling `ahead` numbers above it was committed (one transaction per batch of frames,
//! durable before return), so a sender sending steadily costs one write per `ahead` frames.
//! After a crash the gateway restores each sender's window as "everything up to the ceiling
//! was seen": no number it ever accepted can pass again, and at most `ahead` numbers above the
//! last accepted one plus the unfilled gaps of the last window (at most 63) are refused
//! although legitimate.
//!
//! A clean shutdown writes the exact windows (highest number and bitmap) and marks the
//! database clean, so a planned restart refuses nothing legitimate; the mark is removed before
//! the next frame is accepted.
//!
//! Layout: table `meta` (`group` = group id u32 BE ‖ epoch u16 BE; `provisioned` = 0 or 1;
//! `clean` present after a clean shutdown) and table `senders` (sender id → 17-byte record:
//! ceiling u64 BE ‖ flags (bit 0 verified) ‖ bitmap u64 BE, the bitmap meaningful only when
//! clean).

use std::collections::HashMap;
use std::path::Path;

use meshseal::frame::SEQ_MAX;
use meshseal::replay::ReplayWindow;
use meshseal::Error;
use redb::{Database, ReadableTable, TableDefinition, TableError};

use super::{window_below, Candidate, ReplayBackend};
use crate::windows::Windows;
use crate::{GatewayError, GroupSetup};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const SENDERS: TableDefinition<u32, &[u8]> = TableDefinition::new("senders");
const RECORD_LEN: usize = 17;

/// Default distance between an accepted number and the ceiling written for it.
pub const DEFAULT_AHEAD: u64 = 1000;

fn db_err(e: impl Into<redb::Error>) -> GatewayError {
    GatewayError::Redb(e.into().to_string())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    ceiling: u64,
    verified: bool,
    bitmap: u64,
}

impl Record {
    fn encode(&self) -> [u8; RECORD_LEN] {
        let mut r = [0u8; RECORD_LEN];
        r[..8].copy_from_slice(&self.ceiling.to_be_bytes());
        r[8] = u8::from(self.verified);
        r[9..].copy_from_slice(&self.bitmap.to_be_bytes());
        r
    }

    fn decode(b: &[u8]) -> Option<Record> {
        let b: &[u8; RECORD_LEN] = b.try_into().ok()?;
        let mut c = [0u8; 8];
        c.copy_from_slice(&b[..8]);
        let mut m = [0u8; 8];
        m.copy_from_slice(&b[9..]);
        let ceiling = u64::from_be_bytes(c);
        (ceiling <= SEQ_MAX && b[8] <= 1).then_some(Record {
            ceiling,
            verified: b[8] == 1,
            bitmap: u64::from_be_bytes(m),
        })
    }
}

/// The redb backend.
pub struct Embedded {
    db: Database,
    ahead: u64,
    ceilings: HashMap<u32, u64>,
    need: HashMap<u32, (u64, bool)>,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("ahead", &self.ahead)
            .field("senders", &self.ceilings.len())
            .finish_non_exhaustive()
    }
}

fn group_bytes(setup: &GroupSetup) -> [u8; 6] {
    let mut g = [0u8; 6];
    g[..4].copy_from_slice(&setup.group_id.to_be_bytes());
    g[4..].copy_from_slice(&setup.epoch.to_be_bytes());
    g
}

impl Embedded {
    /// Opens (or creates) the database at `path` for `setup`'s group and epoch and restores
    /// the windows. `provision` creates verified state for every member and is allowed only
    /// for a new database (at group creation, before any member sent a frame). A database
    /// created without it holds no verified state: frames are delivered with unknown freshness.
    pub fn open(
        path: &Path,
        setup: &GroupSetup,
        provision: bool,
        ahead: u64,
    ) -> Result<(Embedded, Windows), GatewayError> {
        if ahead == 0 {
            return Err(GatewayError::Config("--ahead must be at least 1".into()));
        }
        let db = Database::create(path).map_err(db_err)?;
        let want = group_bytes(setup);
        let (group, provisioned, clean, records) = read_all(&db)?;
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
            Some(g) if g != want => {
                return Err(GatewayError::Config(format!(
                    "{} holds replay state of another group or key epoch",
                    path.display()
                )))
            }
            Some(_) if provision => {
                return Err(GatewayError::Config(format!(
                    "{} already holds replay state; provisioning is only for a new store",
                    path.display()
                )))
            }
            Some(_) => provisioned,
        };
        let mut windows = Windows(Default::default(), setup.epoch);
        let mut ceilings = HashMap::new();
        for (&sender, r) in &records {
            let w = if clean {
                ReplayWindow::from_parts(Some(r.ceiling), r.verified, [r.bitmap])
                    .map_err(|_| GatewayError::Redb(format!("bad record of sender {sender}")))?
            } else {
                window_below(r.ceiling, r.verified)?
            };
            windows.0.insert(sender, w);
            ceilings.insert(sender, r.ceiling);
        }
        if provisioned {
            for &m in &setup.members {
                windows.0.entry(m).or_insert_with(ReplayWindow::provisioned);
            }
        }
        if clean {
            // From here on the bitmaps are stale: a crash must fall back to the ceilings.
            let tx = db.begin_write().map_err(db_err)?;
            {
                let mut meta = tx.open_table(META).map_err(db_err)?;
                meta.remove("clean").map_err(db_err)?;
            }
            tx.commit().map_err(db_err)?;
        }
        tracing::info!(
            senders = records.len(),
            clean,
            provisioned,
            ahead,
            "replay store {} opened",
            path.display()
        );
        Ok((
            Embedded {
                db,
                ahead,
                ceilings,
                need: HashMap::new(),
            },
            windows,
        ))
    }

    /// The ceiling held for `sender`, if any.
    pub fn ceiling(&self, sender: u32) -> Option<u64> {
        self.ceilings.get(&sender).copied()
    }

    fn write_ceilings(&mut self) -> Result<(), GatewayError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(SENDERS).map_err(db_err)?;
            for (&s, &(top, verified)) in &self.need {
                let r = Record {
                    ceiling: top.saturating_add(self.ahead).min(SEQ_MAX),
                    verified,
                    bitmap: u64::MAX,
                };
                t.insert(s, r.encode().as_slice()).map_err(db_err)?;
            }
        }
        tx.commit().map_err(db_err)
    }
}

type Contents = (Option<[u8; 6]>, bool, bool, HashMap<u32, Record>);

fn read_all(db: &Database) -> Result<Contents, GatewayError> {
    let tx = db.begin_read().map_err(db_err)?;
    let meta = match tx.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => return Ok((None, false, false, HashMap::new())),
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
    Ok((group, provisioned, clean, records))
}

impl ReplayBackend for Embedded {
    fn name(&self) -> &'static str {
        "redb"
    }

    fn confirm(&mut self, frames: &[Candidate], verdicts: &mut Vec<Result<(), Error>>) -> u64 {
        verdicts.clear();
        self.need.clear();
        for f in frames {
            if self
                .ceilings
                .get(&f.id.sender)
                .is_none_or(|&c| f.id.seq > c)
            {
                let e = self.need.entry(f.id.sender).or_insert((0, f.verified));
                e.0 = e.0.max(f.id.seq);
                e.1 = f.verified;
            }
        }
        if self.need.is_empty() {
            verdicts.extend(frames.iter().map(|_| Ok(())));
            return 0;
        }
        match self.write_ceilings() {
            Ok(()) => {
                for (&s, &(top, _)) in &self.need {
                    self.ceilings
                        .insert(s, top.saturating_add(self.ahead).min(SEQ_MAX));
                }
                verdicts.extend(frames.iter().map(|_| Ok(())));
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot persist replay ceilings; refusing frames above them");
                verdicts.extend(frames.iter().map(|f| {
                    if self
                        .ceilings
                        .get(&f.id.sender)
                        .is_none_or(|&c| f.id.seq > c)
                    {
                        Err(Error::CounterStore)
                    } else {
                        Ok(())
                    }
                }));
            }
        }
        1
    }

    fn shutdown(&mut self, windows: &Windows) -> Result<(), GatewayError> {
        let tx = self.db.begin_write().map_err(db_err)?;
        {
            let mut t = tx.open_table(SENDERS).map_err(db_err)?;
            for (&s, w) in &windows.0 {
                let (Some(highest), verified, [bitmap]) = w.to_parts() else {
                    continue;
                };
                let r = Record {
                    ceiling: highest,
                    verified,
                    bitmap,
                };
                t.insert(s, r.encode().as_slice()).map_err(db_err)?;
            }
            let mut meta = tx.open_table(META).map_err(db_err)?;
            meta.insert("clean", [1u8].as_slice()).map_err(db_err)?;
        }
        tx.commit().map_err(db_err)?;
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
        }
    }

    fn cand(sender: u32, seq: u64) -> Candidate {
        Candidate {
            id: FrameId { sender, seq },
            verified: true,
        }
    }

    #[test]
    fn record_round_trip_and_rejects_junk() {
        let r = Record {
            ceiling: 12345,
            verified: true,
            bitmap: 0xf0f0,
        };
        assert_eq!(Record::decode(&r.encode()), Some(r));
        assert_eq!(Record::decode(&[0u8; 16]), None);
        let mut bad = r.encode();
        bad[8] = 2;
        assert_eq!(Record::decode(&bad), None);
    }

    #[test]
    fn ceilings_written_ahead_once_per_block_and_restored_after_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let (mut s, w) = Embedded::open(&path, &setup(), true, 100).unwrap();
        assert_eq!(w.0.len(), 3);
        let mut v = Vec::new();
        assert_eq!(s.confirm(&[cand(1, 5), cand(1, 6)], &mut v), 1);
        assert_eq!(v, vec![Ok(()), Ok(())]);
        assert_eq!(s.ceiling(1), Some(106));
        // Below the ceiling: no write.
        assert_eq!(s.confirm(&[cand(1, 7), cand(1, 106)], &mut v), 0);
        assert_eq!(s.confirm(&[cand(1, 107)], &mut v), 1);
        assert_eq!(s.ceiling(1), Some(207));
        drop(s); // a crash: nothing else written
        let (s, w) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert_eq!(s.ceiling(1), Some(207));
        let w1 = w.0[&1];
        for seq in [5, 107, 150, 207] {
            assert!(w1.check(seq, OrderPolicy::Window).is_err(), "{seq}");
        }
        assert_eq!(w1.check(208, OrderPolicy::Window), Ok(()));
        assert!(w1.is_verified());
        assert_eq!(w.0[&2], ReplayWindow::provisioned());
        // Provisioning an existing store is refused, as is another group.
        assert!(Embedded::open(&path, &setup(), true, 100).is_err());
        drop(s);
        let mut other = setup();
        other.epoch = 1;
        assert!(Embedded::open(&path, &other, false, 100).is_err());
    }

    #[test]
    fn clean_shutdown_keeps_exact_windows_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.redb");
        let (mut s, mut w) = Embedded::open(&path, &setup(), true, 100).unwrap();
        let mut v = Vec::new();
        s.confirm(&[cand(2, 10)], &mut v);
        w.0.get_mut(&2).unwrap().accept(10);
        w.0.get_mut(&2).unwrap().accept(12);
        s.shutdown(&w).unwrap();
        drop(s);
        let (s, w2) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert_eq!(w2.0[&2], w.0[&2], "exact window after a clean shutdown");
        assert_eq!(w2.0[&2].check(11, OrderPolicy::Window), Ok(()));
        assert_eq!(s.ceiling(2), Some(12));
        drop(s);
        // The clean mark was consumed: a crash now falls back to the ceiling.
        let (_, w3) = Embedded::open(&path, &setup(), false, 100).unwrap();
        assert!(w3.0[&2].check(11, OrderPolicy::Window).is_err());
    }

    #[test]
    fn unprovisioned_store_holds_no_verified_state() {
        let dir = tempfile::tempdir().unwrap();
        let (_, w) = Embedded::open(&dir.path().join("r.redb"), &setup(), false, 10).unwrap();
        assert!(w.0.is_empty());
        assert!(Embedded::open(&dir.path().join("x.redb"), &setup(), false, 0).is_err());
    }
}
