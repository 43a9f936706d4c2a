//! A member's state directory: its identity binding, its sender counter and its replay
//! windows.
//!
//! Layout of `DIR` (created by `meshseal provision` only, mode 0700, every file 0600):
//! - `member.json`: the binding: the group id and member id the directory belongs to, the key
//!   epoch it was provisioned in and when. `seal` and `open` refuse a directory without it, or
//!   bound to another group or member: a wrong directory's counter would repeat nonces;
//! - `sender-<ID>.counter`: the counter record (written before a number is used); a directory
//!   without it, or with a record below the numbers `sender-<ID>.json` lists as sealed, is
//!   refused (its counter was lost or rolled back);
//! - `sender-<ID>.json`: the length rule's state and the last numbers sealed;
//! - `replay-<ID>.json`: the receiver's replay windows, rewritten atomically after each
//!   accepted frame;
//! - `repeats-<ID>.json`: repeated frames recently accepted, to tell their copies from replays;
//! - `challenges-<ID>.json`: freshness challenges this member issued and still accepts echoes of;
//! - `fragments-<ID>.json`: verified fragments of incomplete messages (their plaintext), kept
//!   until the message is complete or the reassembly timeout passes; at most
//!   [`MAX_PARTIAL`] messages of at most 16 KiB each;
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
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use meshseal::context::LengthState;
use meshseal::counter::{decode_record, encode_record, CounterStore, RECORD_LEN};
use meshseal::replay::{Lane, ReplayStore, ReplayWindow, WindowKey};
use serde::{Deserialize, Serialize};

use crate::cli_util::CliError;
use crate::group::Group;

/// The binding file of a state directory.
pub const BINDING_FILE: &str = "member.json";

/// Largest state file read (a longer one is refused as not meshseal's).
pub const MAX_STATE_FILE: u64 = 1 << 20;

/// Most incomplete multi-fragment messages a receiver keeps.
pub const MAX_PARTIAL: usize = 16;

/// What `member.json` records: the one identity a state directory serves.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Binding {
    pub version: u32,
    pub group_id: u32,
    pub member: u32,
    /// The key epoch the directory was provisioned in.
    pub epoch: u16,
    /// Unix seconds of provisioning.
    pub created: u64,
}

/// Creates `dir` (and its parents) for owner access only; an existing directory is restricted
/// to its owner.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), CliError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir)
        .map_err(|e| CliError::io(format!("cannot create {}", dir.display()), e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
            .map_err(|e| CliError::io(format!("cannot restrict {}", dir.display()), e))?;
    }
    Ok(())
}

fn open_private(path: &Path, create_new: bool) -> std::io::Result<File> {
    let mut o = File::options();
    o.write(true);
    if create_new {
        o.create_new(true);
    } else {
        o.create(true).truncate(false);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o.open(path)
}

/// Replaces `path` with `data` so that a crash leaves either the old or the new content; the
/// file is readable by its owner only from its creation on (it may hold keys or plaintext).
pub(crate) fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut tmp = std::ffi::OsString::from(path.as_os_str());
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    match fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = open_private(&tmp, true)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// Reads a file of at most [`MAX_STATE_FILE`] bytes; `None` if it does not exist.
pub(crate) fn read_bounded(path: &Path) -> Result<Option<Vec<u8>>, CliError> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CliError::io(format!("cannot read {}", path.display()), e)),
    };
    let mut b = Vec::new();
    f.take(MAX_STATE_FILE + 1)
        .read_to_end(&mut b)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), e))?;
    if b.len() as u64 > MAX_STATE_FILE {
        return Err(CliError::usage(format!(
            "{} is larger than {MAX_STATE_FILE} bytes: not a meshseal state file",
            path.display()
        )));
    }
    Ok(Some(b))
}

/// The sender's counter record in a file of the state directory (the core's record format,
/// written like every state file: atomically, owner-only).
#[derive(Debug)]
pub struct CounterFile {
    path: PathBuf,
}

impl CounterFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl CounterStore for CounterFile {
    type Error = std::io::Error;

    fn load(&mut self) -> std::io::Result<Option<u64>> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let record: Option<[u8; RECORD_LEN]> = bytes.as_slice().try_into().ok();
        record
            .as_ref()
            .and_then(decode_record)
            .map(Some)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} is not a valid counter record", self.path.display()),
                )
            })
    }

    fn reserve(&mut self, limit: u64) -> std::io::Result<()> {
        write_private(&self.path, &encode_record(limit))
    }
}

/// Names of the files a state directory holds, to recognise one that is not empty.
fn is_state_file(name: &str) -> bool {
    name == BINDING_FILE
        || name == "identity.toml"
        || name == "epoch.json"
        || [
            "sender-",
            "replay-",
            "repeats-",
            "challenges-",
            "fragments-",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

pub struct StateDir {
    dir: PathBuf,
    _lock: File,
    binding: Option<Binding>,
}

/// How to start over safely, for the error messages.
fn provision_hint(dir: &Path, member: u32) -> String {
    format!(
        "a state directory is created for one member by `meshseal provision --group GROUP.toml \
         --member {member} --state {}`; if member {member} sealed before with a directory that \
         is lost, it re-joins without reusing a number: `meshseal group rekey --group \
         GROUP.toml --rejoin {member} --out GROUP2.toml`, then provision a new directory with \
         GROUP2.toml (README, \"Command line\")",
        dir.display()
    )
}

impl StateDir {
    /// A new state directory for `meshseal provision`: created if missing (mode 0700); an
    /// existing one must hold no meshseal state.
    pub fn create(dir: &Path) -> Result<StateDir, CliError> {
        if dir.exists() {
            let entries = fs::read_dir(dir)
                .map_err(|e| CliError::io(format!("cannot read {}", dir.display()), e))?;
            for entry in entries {
                let entry =
                    entry.map_err(|e| CliError::io(format!("cannot read {}", dir.display()), e))?;
                let name = entry.file_name();
                if is_state_file(&name.to_string_lossy()) {
                    let owner = read_json::<Binding>(&dir.join(BINDING_FILE))
                        .ok()
                        .flatten()
                        .map_or_else(
                            || "state from an earlier provisioning".to_owned(),
                            |b| format!("the state of member {} of group {}", b.member, b.group_id),
                        );
                    return Err(CliError::usage(format!(
                        "{} already holds {owner} ({}); a state directory serves one member \
                         from its provisioning on: use a new directory",
                        dir.display(),
                        name.to_string_lossy()
                    )));
                }
            }
        }
        create_private_dir(dir)?;
        let lock = open_private(&dir.join(".lock"), false)
            .map_err(|e| CliError::io("cannot open state lock".into(), e))?;
        lock.lock()
            .map_err(|e| CliError::io("cannot lock state dir".into(), e))?;
        Ok(StateDir {
            dir: dir.to_owned(),
            _lock: lock,
            binding: None,
        })
    }

    /// Records the directory's identity (provisioning only).
    pub fn bind(&mut self, b: Binding) -> Result<(), CliError> {
        write_json(&self.dir.join(BINDING_FILE), &b)?;
        self.binding = Some(b);
        Ok(())
    }

    /// The provisioned state directory of member `member` of group `group_id`, for `seal` and
    /// `open`. Creates nothing: a directory that is missing, was never provisioned, or is bound
    /// to another group or member is refused.
    pub fn open(dir: &Path, group_id: u32, member: u32) -> Result<StateDir, CliError> {
        let expected = format!("member {member} of group {group_id}");
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "state directory {} does not exist: it was never provisioned for {expected}; {}",
                dir.display(),
                provision_hint(dir, member)
            )));
        }
        let lock = match File::options().write(true).open(dir.join(".lock")) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::usage(format!(
                    "{} is not a provisioned state directory (no {BINDING_FILE}), expected \
                     {expected}; {}",
                    dir.display(),
                    provision_hint(dir, member)
                )))
            }
            Err(e) => return Err(CliError::io("cannot open state lock".into(), e)),
        };
        lock.lock()
            .map_err(|e| CliError::io("cannot lock state dir".into(), e))?;
        let Some(b) = read_json::<Binding>(&dir.join(BINDING_FILE))? else {
            return Err(CliError::usage(format!(
                "{} records no identity ({BINDING_FILE}), expected {expected}: it was never \
                 provisioned, or by a meshseal that did not bind directories to a member. It is \
                 refused rather than guessed at: sealing with another member's counter, or a \
                 counter that restarts, repeats nonces. {}",
                dir.display(),
                provision_hint(dir, member)
            )));
        };
        if (b.group_id, b.member) != (group_id, member) {
            return Err(CliError::usage(format!(
                "state directory {} belongs to member {} of group {}, not {expected}: each member \
                 seals and opens with its own directory only",
                dir.display(),
                b.member,
                b.group_id
            )));
        }
        Ok(StateDir {
            dir: dir.to_owned(),
            _lock: lock,
            binding: Some(b),
        })
    }

    /// Checks that the group, as this directory sees it (after its rekeys), may use the
    /// directory: not an epoch before its provisioning, and not a member that re-joined after
    /// the directory was provisioned (the directory is then the lost device's, or a backup).
    pub fn check_group(&self, g: &Group, member: u32) -> Result<(), CliError> {
        let Some(b) = &self.binding else {
            return Ok(());
        };
        if g.file.epoch < b.epoch {
            return Err(CliError::usage(format!(
                "state directory {} was provisioned in epoch {}, but the group file (with the \
                 rekeys applied to the directory) is at epoch {}: use the group file of epoch {} \
                 or later",
                self.dir.display(),
                b.epoch,
                g.file.epoch,
                b.epoch
            )));
        }
        if let Some(r) = g.member(member).and_then(|m| m.rejoined) {
            if r > b.epoch {
                return Err(CliError::usage(format!(
                    "member {member} re-joined the group in epoch {r} after losing its counter; \
                     state directory {} was provisioned in epoch {} and is the lost device's \
                     state or a copy of it: it must not seal or open again (its numbers may \
                     already be in use)",
                    self.dir.display(),
                    b.epoch
                )));
            }
        }
        Ok(())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A file of the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    pub fn counter(&self, id: u32) -> CounterFile {
        CounterFile {
            path: self.dir.join(format!("sender-{id}.counter")),
        }
    }

    fn length_path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("sender-{id}.json"))
    }

    fn replay_path(&self, id: u32) -> PathBuf {
        self.dir.join(format!("replay-{id}.json"))
    }

    /// The length rule's state in key epoch `epoch` (`full_every` is the group's period of
    /// full numbers) and the numbers of the last frames sealed (requests a challenge may
    /// answer). State saved under an older epoch starts a run of full numbers, as
    /// `Sender::rekey` does on a device: receivers judge the new epoch by new windows.
    pub fn load_length(
        &self,
        id: u32,
        epoch: u16,
        full_every: u32,
    ) -> Result<(LengthState, Vec<u64>), CliError> {
        let Some(f): Option<LengthFile> = read_json(&self.length_path(id))? else {
            return Ok((LengthState::default(), Vec::new()));
        };
        let state = if f.epoch.unwrap_or(epoch) == epoch {
            LengthState {
                reference: f.reference,
                since_full: f.since_full,
                full_run: f.full_run,
            }
        } else {
            LengthState {
                full_run: full_every,
                ..LengthState::default()
            }
        };
        Ok((state, f.recent))
    }

    pub fn save_length(
        &self,
        id: u32,
        epoch: u16,
        s: LengthState,
        recent: &[u64],
    ) -> Result<(), CliError> {
        let recent = recent[recent.len().saturating_sub(RECENT)..].to_vec();
        write_json(
            &self.length_path(id),
            &LengthFile {
                epoch: Some(epoch),
                reference: s.reference,
                since_full: s.since_full,
                full_run: s.full_run,
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
    match read_bounded(path)? {
        Some(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| CliError::usage(format!("corrupt state file {}: {e}", path.display()))),
        None => Ok(None),
    }
}

pub(crate) fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<(), CliError> {
    let mut text = serde_json::to_vec_pretty(v)
        .map_err(|e| CliError::usage(format!("cannot encode state: {e}")))?;
    text.push(b'\n');
    write_private(path, &text)
        .map_err(|e| CliError::io(format!("cannot write {}", path.display()), e))
}

/// Sealed numbers remembered per sender, to verify a challenge against.
const RECENT: usize = 8;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LengthFile {
    /// The key epoch the state belongs to (absent in files of earlier versions).
    #[serde(default)]
    epoch: Option<u16>,
    reference: Option<u64>,
    since_full: u32,
    /// Full numbers still due after entering the epoch.
    #[serde(default)]
    full_run: u32,
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
