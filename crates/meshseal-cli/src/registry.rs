//! The group manager's durable state, beside the manager's group file:
//! `<dir of the group file>/.meshseal/group-<GROUP ID>.json` (mode 0600, directory 0700),
//! guarded by `group-<GROUP ID>.lock` and replaced atomically (write, fsync, rename).
//!
//! It is what keeps the manager's tools from using a (key, nonce) pair twice:
//! - `rekey_counter` and `epoch`: the highest rekey message counter and key epoch issued.
//!   `group rekey` reserves both here before it prints a message, so a second run from the same
//!   input continues above them instead of sealing another secret under the same nonce;
//! - `devices`: each (member, epoch) handed to a device by `provision`, with its directory. A
//!   device follows the group into later epochs through rekey messages, so a member is provisioned
//!   again only after it re-joined (`rejoined`: `group rekey --rejoin`, which gives it a new
//!   individual key and sends its old state no rekey message);
//! - `loadgen`: the numbers `meshseal loadgen` reserved per (member, epoch). It reserves them
//!   before sending, never seals as a member provisioned to a device, and a device provisioned
//!   later starts above them.
//!
//! `group new` creates the file; `provision` and `loadgen` refuse a group file without one (a
//! copy of the group file elsewhere, or an exported device file, does not know which identities
//! were handed out). `group rekey` adopts such a group: it creates the state and counts every
//! member as provisioned.

use std::fs::File;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::cli_util::CliError;
use crate::state::{create_private_dir, read_json, write_json};

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct RegistryFile {
    pub version: u32,
    pub group_id: u32,
    /// Highest rekey message counter used under any member key.
    pub rekey_counter: u64,
    /// Highest key epoch created or issued.
    pub epoch: u16,
    #[serde(default)]
    pub devices: Vec<Device>,
    #[serde(default)]
    pub rejoined: Vec<Rejoin>,
    #[serde(default)]
    pub loadgen: Vec<Reservation>,
}

/// A member identity handed to a device.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub member: u32,
    pub epoch: u16,
    /// The state directory it was provisioned into.
    pub state: String,
    /// Unix seconds.
    pub at: u64,
}

/// A member that re-joined in `epoch` after losing its counter.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Rejoin {
    pub member: u32,
    pub epoch: u16,
}

/// Sequence numbers below `limit` of (member, epoch) may have been used by the load generator.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Reservation {
    pub member: u32,
    pub epoch: u16,
    pub limit: u64,
}

/// The manager state of one group, locked for the lifetime of the value.
pub struct Registry {
    path: PathBuf,
    _lock: File,
    pub data: RegistryFile,
}

/// The state directory recorded for members adopted by `open_or_adopt`.
const ADOPTED: &str = "(unknown: provisioned before meshseal recorded devices)";

/// `<dir of group>/.meshseal`.
fn dir_of(group: &Path) -> PathBuf {
    match group.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.join(".meshseal"),
        _ => PathBuf::from(".meshseal"),
    }
}

/// Where the manager state of group `group_id`, whose file is `group`, lives.
pub fn path_of(group: &Path, group_id: u32) -> PathBuf {
    dir_of(group).join(format!("group-{group_id}.json"))
}

fn lock(group: &Path, group_id: u32) -> Result<File, CliError> {
    let dir = dir_of(group);
    create_private_dir(&dir)?;
    let path = dir.join(format!("group-{group_id}.lock"));
    let mut o = File::options();
    o.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let f = o
        .open(&path)
        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), e))?;
    f.lock()
        .map_err(|e| CliError::io(format!("cannot lock {}", path.display()), e))?;
    Ok(f)
}

impl Registry {
    /// Creates the state of a new group (`group new`); refused if the group id already has one.
    pub fn create(group: &Path, group_id: u32, epoch: u16) -> Result<Registry, CliError> {
        let lock = lock(group, group_id)?;
        let path = path_of(group, group_id);
        if path.exists() {
            return Err(CliError::usage(format!(
                "group id {group_id} already has manager state in {}: its identities were handed \
                 out. Pick another --group-id (or remove that file if the group is retired and \
                 none of its devices will seal again)",
                path.display()
            )));
        }
        let r = Registry {
            path,
            _lock: lock,
            data: RegistryFile {
                version: 1,
                group_id,
                rekey_counter: 0,
                epoch,
                devices: Vec::new(),
                rejoined: Vec::new(),
                loadgen: Vec::new(),
            },
        };
        r.save()?;
        Ok(r)
    }

    /// The state of an existing group, locked; `what` names the command for the error message.
    pub fn open(group: &Path, group_id: u32, what: &str) -> Result<Registry, CliError> {
        let lock = lock(group, group_id)?;
        let path = path_of(group, group_id);
        let Some(data) = read_json::<RegistryFile>(&path)? else {
            return Err(CliError::usage(format!(
                "no manager state for group {group_id} beside {} (expected {}): {what} must know \
                 which member identities and sequence numbers were handed out, and meshseal \
                 records them there. `group new` and `group rekey` write it beside the files \
                 they create: run {what} with the group manager's file, not a copy or an \
                 exported device file (for a group made by an earlier meshseal, `group rekey` \
                 creates it, counting every member as provisioned)",
                group.display(),
                path.display()
            )));
        };
        if data.group_id != group_id {
            return Err(CliError::usage(format!(
                "{} is the state of group {}, not {group_id}",
                path.display(),
                data.group_id
            )));
        }
        Ok(Registry {
            path,
            _lock: lock,
            data,
        })
    }

    /// The state for `group rekey`. A group file without one (made by a meshseal that kept no
    /// manager state, or a copy) gets one that counts every current member as provisioned to a
    /// device in the file's epoch: which identities were handed out is unknown, so none is handed
    /// out again (members re-join with `--rejoin`), and the load generator seals as none of them.
    pub fn open_or_adopt(group: &Path, g: &crate::group::Group) -> Result<Registry, CliError> {
        let gid = g.file.group_id;
        if path_of(group, gid).exists() {
            return Registry::open(group, gid, "group rekey");
        }
        let lock = lock(group, gid)?;
        let path = path_of(group, gid);
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let r = Registry {
            path,
            _lock: lock,
            data: RegistryFile {
                version: 1,
                group_id: gid,
                rekey_counter: g.file.rekey_counter,
                epoch: g.file.epoch,
                devices: g
                    .member_ids()
                    .into_iter()
                    .map(|member| Device {
                        member,
                        epoch: g.file.epoch,
                        state: ADOPTED.into(),
                        at,
                    })
                    .collect(),
                rejoined: Vec::new(),
                loadgen: Vec::new(),
            },
        };
        r.save()?;
        eprintln!(
            "note: no manager state for group {gid} beside {}: created {}, counting every member \
             as provisioned (re-join a member that needs a new state directory with --rejoin)",
            group.display(),
            r.path.display()
        );
        Ok(r)
    }

    /// Writes the state durably (before anything that depends on it is used or printed).
    pub fn save(&self) -> Result<(), CliError> {
        write_json(&self.path, &self.data)
    }

    /// The devices `member` was provisioned to.
    pub fn devices_of(&self, member: u32) -> impl Iterator<Item = &Device> {
        self.data.devices.iter().filter(move |d| d.member == member)
    }

    /// The epoch in which `member` last re-joined, if it did.
    pub fn rejoined(&self, member: u32) -> Option<u16> {
        self.data
            .rejoined
            .iter()
            .filter(|r| r.member == member)
            .map(|r| r.epoch)
            .max()
    }

    /// The load generator's reservation limit for `member` in `epoch`.
    pub fn loadgen_limit(&self, member: u32, epoch: u16) -> Option<u64> {
        self.data
            .loadgen
            .iter()
            .find(|r| (r.member, r.epoch) == (member, epoch))
            .map(|r| r.limit)
    }

    /// The highest number the load generator reserved for `member` in any epoch.
    pub fn loadgen_floor(&self, member: u32) -> u64 {
        self.data
            .loadgen
            .iter()
            .filter(|r| r.member == member)
            .map(|r| r.limit)
            .max()
            .unwrap_or(0)
    }

    pub fn set_loadgen_limit(&mut self, member: u32, epoch: u16, limit: u64) {
        match self
            .data
            .loadgen
            .iter_mut()
            .find(|r| (r.member, r.epoch) == (member, epoch))
        {
            Some(r) => r.limit = r.limit.max(limit),
            None => self.data.loadgen.push(Reservation {
                member,
                epoch,
                limit,
            }),
        }
    }
}
