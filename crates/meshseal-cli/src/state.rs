//! A member's state directory: its sender counter and its replay windows.
//!
//! Layout of `DIR`:
//! - `sender-<ID>.counter`: the counter record (written before a number is used);
//! - `sender-<ID>.json`: the length rule's state (frame sizes only, never security);
//! - `replay-<ID>.json`: the receiver's replay windows, rewritten atomically after each
//!   accepted frame;
//! - `repeats-<ID>.json`: repeated frames recently accepted, to tell their copies from replays;
//! - `challenges-<ID>.json`: freshness challenges this member issued and still accepts echoes of;
//! - `fragments-<ID>.json`: verified fragments of incomplete messages (their plaintext), kept
//!   until the message is complete or the reassembly timeout passes;
//! - `identity.toml`: the member's private keys (individual rekey secret, X25519, Ed25519);
//! - `epoch.json`: the keys of the epoch the member's last rekey moved it to, the previous
//!   epoch's while its grace period lasts, and the members removed;
//! - `.lock`: held exclusively while a command uses the directory, so two processes never
//!   take the same sequence number or accept the same frame.
//!
//! A command-line process seals one frame and exits, so its reservation block is 1: every
//! process writes the counter once and the next one resumes exactly after it. Devices use the
//! group's `reservation_block`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use meshseal::context::LengthState;
use meshseal::counter::{write_atomic, FileStore};
use meshseal::replay::{Lane, ReplayStore, ReplayWindow, WindowKey};
use serde::{Deserialize, Serialize};

use crate::CliError;

pub struct StateDir {
    dir: PathBuf,
    _lock: File,
}

impl StateDir {
    pub fn open(dir: &Path) -> Result<StateDir, CliError> {
        fs::create_dir_all(dir)
            .map_err(|e| CliError::io(format!("cannot create state dir {}", dir.display()), e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(".lock"))
            .map_err(|e| CliError::io("cannot open state lock".into(), e))?;
        lock.lock()
            .map_err(|e| CliError::io("cannot lock state dir".into(), e))?;
        Ok(StateDir {
            dir: dir.to_owned(),
            _lock: lock,
        })
    }

    /// A file of the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn counter(&self, id: u32) -> FileStore {
        FileStore::new(self.dir.join(format!("sender-{id}.counter")))
    }

    fn length_path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("sender-{id}.json"))
    }

    fn replay_path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("replay-{id}.json"))
    }

    /// The length rule's state and the numbers of the last frames sealed (requests a
    /// challenge may answer).
    pub fn load_length(&self, id: u32) -> Result<(LengthState, Vec<u64>), CliError> {
        let Some(f): Option<LengthFile> = read_json(&self.length_path(id))? else {
            return Ok((LengthState::default(), Vec::new()));
        };
        Ok((
            LengthState {
                reference: f.reference,
                since_full: f.since_full,
            },
            f.recent,
        ))
    }

    pub fn save_length(&self, id: u32, s: LengthState, recent: &[u64]) -> Result<(), CliError> {
        let recent = recent[recent.len().saturating_sub(RECENT)..].to_vec();
        write_json(
            &self.length_path(id),
            &LengthFile {
                reference: s.reference,
                since_full: s.since_full,
                recent,
            },
        )
    }

    pub fn load_challenges(&self, id: u32) -> Result<Vec<ChallengeFile>, CliError> {
        Ok(read_json(&self.dir.join(format!("challenges-{id}.json")))?.unwrap_or_default())
    }

    pub fn save_challenges(&self, id: u32, c: &[ChallengeFile]) -> Result<(), CliError> {
        write_json(&self.dir.join(format!("challenges-{id}.json")), &c)
    }

    pub fn load_fragments(&self, id: u32) -> Result<Vec<PartialFile>, CliError> {
        Ok(read_json(&self.dir.join(format!("fragments-{id}.json")))?.unwrap_or_default())
    }

    pub fn save_fragments(&self, id: u32, p: &[PartialFile]) -> Result<(), CliError> {
        write_json(&self.dir.join(format!("fragments-{id}.json")), &p)
    }

    pub fn load_repeats(&self, id: u32) -> Result<Vec<RepeatFile>, CliError> {
        Ok(read_json(&self.dir.join(format!("repeats-{id}.json")))?.unwrap_or_default())
    }

    pub fn save_repeats(&self, id: u32, r: &[RepeatFile]) -> Result<(), CliError> {
        write_json(&self.dir.join(format!("repeats-{id}.json")), &r)
    }

    pub fn replay_exists(&self, id: u32) -> bool {
        self.replay_path(id).exists()
    }

    /// Loads the receiver's windows; a missing file is a receiver without state.
    pub fn load_replay(&self, id: u32, group_id: u32, epoch: u16) -> Result<MapStore, CliError> {
        let path = self.replay_path(id);
        let Some(f): Option<ReplayFile> = read_json(&path)? else {
            return Ok(MapStore::default());
        };
        // Each window records its key epoch (files written before windows did were of the
        // file's epoch); frames of a newer epoch start a new window.
        let _ = epoch;
        if f.group_id != group_id {
            return Err(CliError::usage(format!(
                "replay state {} belongs to group {}, not group {group_id}",
                path.display(),
                f.group_id,
            )));
        }
        let mut m = MapStore::default();
        for p in f.peers {
            let bitmap = u64::from_str_radix(&p.bitmap, 16).map_err(|_| {
                CliError::usage(format!("corrupt replay state {}: bitmap", path.display()))
            })?;
            let w = ReplayWindow::from_parts(p.highest, p.verified, [bitmap])
                .map_err(|_| {
                    CliError::usage(format!(
                        "corrupt replay state {}: sender {}",
                        path.display(),
                        p.sender
                    ))
                })?
                .in_epoch(p.epoch.unwrap_or(f.epoch));
            let lane = match p.lane.as_deref() {
                None | Some("group") => Lane::Group,
                Some("source") => Lane::Source,
                Some(other) => {
                    return Err(CliError::usage(format!(
                        "corrupt replay state {}: lane {other:?}",
                        path.display()
                    )))
                }
            };
            m.0.insert(
                WindowKey {
                    sender: p.sender,
                    lane,
                },
                w,
            );
        }
        Ok(m)
    }

    pub fn save_replay(
        &self,
        id: u32,
        group_id: u32,
        epoch: u16,
        m: &MapStore,
    ) -> Result<(), CliError> {
        let mut peers: Vec<PeerFile> =
            m.0.iter()
                .map(|(&key, w)| {
                    let (highest, verified, [bitmap]) = w.to_parts();
                    PeerFile {
                        sender: key.sender,
                        lane: Some(key.lane.name().to_owned()),
                        epoch: Some(w.epoch()),
                        highest,
                        verified,
                        bitmap: format!("{bitmap:016x}"),
                    }
                })
                .collect();
        peers.sort_by(|a, b| (a.sender, &a.lane).cmp(&(b.sender, &b.lane)));
        write_json(
            &self.replay_path(id),
            &ReplayFile {
                version: 1,
                group_id,
                epoch,
                peers,
            },
        )
    }
}

pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, CliError> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| CliError::usage(format!("corrupt state file {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(CliError::io(format!("cannot read {}", path.display()), e)),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), CliError> {
    let mut text = serde_json::to_vec_pretty(v)
        .map_err(|e| CliError::usage(format!("cannot encode state: {e}")))?;
    text.push(b'\n');
    write_atomic(path, &text)
        .map_err(|e| CliError::io(format!("cannot write {}", path.display()), e))
}

/// Sealed numbers remembered per sender, to verify a challenge against.
const RECENT: usize = 8;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LengthFile {
    reference: Option<u64>,
    since_full: u32,
    #[serde(default)]
    recent: Vec<u64>,
}

/// An open challenge: `requester` must echo (`sender`, `seq`).
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct ChallengeFile {
    pub requester: u32,
    pub sender: u32,
    pub seq: u64,
    pub issued: u64,
}

/// A message in reassembly.
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct PartialFile {
    pub sender: u32,
    pub first_seq: u64,
    pub count: u8,
    pub started: u64,
    pub fragments: Vec<FragmentFile>,
}

#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct FragmentFile {
    pub index: u8,
    pub fresh: bool,
    pub payload: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplayFile {
    version: u32,
    group_id: u32,
    epoch: u16,
    peers: Vec<PeerFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeerFile {
    sender: u32,
    /// `group` (plain frames) or `source` (pairwise and signed); absent in older files.
    #[serde(default)]
    lane: Option<String>,
    /// The key epoch of the window; absent in older files, whose windows were all of the
    /// file's epoch.
    #[serde(default)]
    epoch: Option<u16>,
    highest: Option<u64>,
    verified: bool,
    bitmap: String,
}

/// Replay windows in a hash map: a host has memory for every member and lane.
#[derive(Default)]
pub struct MapStore(pub HashMap<WindowKey, ReplayWindow>);

impl ReplayStore<1> for MapStore {
    fn get(&mut self, key: WindowKey) -> Option<&mut ReplayWindow> {
        self.0.get_mut(&key)
    }
    fn insert(&mut self, key: WindowKey, window: ReplayWindow) -> Option<WindowKey> {
        self.0.insert(key, window);
        None
    }
}

/// A repeated frame a receiver accepted and still expects copies of.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RepeatFile {
    pub sender: u32,
    pub seq: u64,
    pub left: u8,
    pub end: Option<u16>,
}
