//! The group file: a readable TOML description of one group and its members.
//!
//! It holds the master secret, so it is as sensitive as the key itself. Loading is strict:
//! unknown fields, bad hex, out-of-range values and duplicate sender ids are errors, never
//! silently fixed.

use std::collections::BTreeSet;
use std::path::Path;

use meshseal::crypto::{MASTER_SECRET_MAX, MASTER_SECRET_MIN};
use meshseal::privacy::{HeaderPrivacy, Private};
use meshseal::{GroupKeys, LengthMode, OrderPolicy, RustCryptoCcm, SenderConfig, SenderIdMode};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::cli_util::CliError;

/// The tools' AEAD backend: RustCrypto's, with header privacy when the group has it.
pub type Ccm = Private<RustCryptoCcm>;
/// A group's keys as the tools hold them.
pub type Keys = GroupKeys<Ccm>;

/// Longest accepted salt.
const SALT_MAX: usize = 64;

/// The file as written; its hex master secret is wiped when dropped.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupFile {
    pub name: String,
    pub group_id: u32,
    pub epoch: u16,
    pub master_secret: String,
    #[serde(default)]
    pub salt: String,
    #[serde(default)]
    pub policy: Policy,
    /// The group manager's rekey message counter (never repeats under one member key).
    #[serde(default)]
    pub rekey_counter: u64,
    pub members: Vec<Member>,
}

impl Drop for GroupFile {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        self.master_secret.zeroize();
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub id: u32,
    pub name: String,
    /// The member's individual secret (hex), which protects its rekey messages. Only the group
    /// manager's file holds every member's; `group export` leaves the others out.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    /// The member's static X25519 public key (hex), for pairwise frames.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub x25519: String,
    /// The member's Ed25519 public key (hex), for signed frames.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ed25519: String,
    /// The key epoch in which the member re-joined after losing its counter (`group rekey
    /// --rejoin`): state directories of the member provisioned before it are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejoined: Option<u16>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// Which orders of arrival receivers accept.
    pub order: Order,
    /// Sequence numbers reserved per counter write on devices.
    pub reservation_block: u64,
    /// A full-length sequence number at least once per this many frames.
    pub full_every: u32,
    /// When truncated sequence numbers may be used.
    pub length_mode: Lengths,
    /// The link layer supplies sender ids.
    pub implicit_sender: bool,
    /// Header privacy (spec §20): every frame's header masked under the group's privacy key.
    pub privacy: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            order: Order::Window,
            reservation_block: meshseal::counter::DEFAULT_BLOCK,
            full_every: 16,
            length_mode: Lengths::Steady,
            implicit_sender: false,
            privacy: false,
        }
    }
}

/// `policy.order`: "window" (reordering inside the window) or "strict" (increasing only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    Window,
    Strict,
}

/// `policy.length_mode`: "steady" or "confirmed" (see `meshseal::LengthMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Lengths {
    Steady,
    Confirmed,
}

/// A loaded and validated group.
pub struct Group {
    pub file: GroupFile,
    pub(crate) secret: Zeroizing<Vec<u8>>,
    pub(crate) salt: Vec<u8>,
    /// The epoch replaced by the member's last rekey, while its grace period lasts.
    pub(crate) previous: Option<PreviousEpoch>,
    /// Members removed by rekeys this member applied.
    pub(crate) removed: Vec<u32>,
}

/// The keys of the epoch before the current one, accepted until `until` (Unix seconds).
pub struct PreviousEpoch {
    pub epoch: u16,
    pub secret: Zeroizing<Vec<u8>>,
    pub salt: Vec<u8>,
    pub until: u64,
}

impl Group {
    pub fn load(path: &Path) -> Result<Group, CliError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read group file {}: {e}", path.display()))
        })?;
        let file: GroupFile = toml::from_str(text.as_str()).map_err(|e| {
            CliError::usage(format!("malformed group file {}: {e}", path.display()))
        })?;
        Group::validate(file)
            .map_err(|e| CliError::usage(format!("invalid group file {}: {}", path.display(), e.0)))
    }

    pub fn validate(file: GroupFile) -> Result<Group, CliError> {
        let secret = Zeroizing::new(
            hex::decode(&file.master_secret)
                .map_err(|e| CliError::usage(format!("master_secret is not hex: {e}")))?,
        );
        if !(MASTER_SECRET_MIN..=MASTER_SECRET_MAX).contains(&secret.len()) {
            return Err(CliError::usage(format!(
                "master_secret must be {MASTER_SECRET_MIN} to {MASTER_SECRET_MAX} bytes, found {}",
                secret.len()
            )));
        }
        let salt = hex::decode(&file.salt)
            .map_err(|e| CliError::usage(format!("salt is not hex: {e}")))?;
        if salt.len() > SALT_MAX {
            return Err(CliError::usage(format!(
                "salt must be at most {SALT_MAX} bytes"
            )));
        }
        if file.members.is_empty() {
            return Err(CliError::usage("the group has no members".into()));
        }
        let mut ids = BTreeSet::new();
        for m in &file.members {
            if !ids.insert(m.id) {
                return Err(CliError::usage(format!(
                    "duplicate sender id {} (sender ids must be unique: a shared id reuses nonces)",
                    m.id
                )));
            }
        }
        if file.policy.full_every == 0 {
            return Err(CliError::usage(
                "policy.full_every must be at least 1".into(),
            ));
        }
        if file.policy.reservation_block == 0 {
            return Err(CliError::usage(
                "policy.reservation_block must be at least 1".into(),
            ));
        }
        Ok(Group {
            file,
            secret,
            salt,
            previous: None,
            removed: Vec::new(),
        })
    }

    /// The receivers' order policy.
    pub fn order(&self) -> OrderPolicy {
        match self.file.policy.order {
            Order::Window => OrderPolicy::Window,
            Order::Strict => OrderPolicy::Strict,
        }
    }

    pub fn keys(&self) -> Result<Keys, CliError> {
        GroupKeys::derive_with(
            &self.secret,
            &self.salt,
            self.file.group_id,
            self.file.epoch,
            self.privacy(),
        )
        .map_err(|e| CliError::usage(format!("cannot derive keys: {e}")))
    }

    /// Whether the group masks its frames' headers.
    pub fn privacy(&self) -> HeaderPrivacy {
        if self.file.policy.privacy {
            HeaderPrivacy::On
        } else {
            HeaderPrivacy::Off
        }
    }

    pub fn is_member(&self, id: u32) -> bool {
        !self.removed.contains(&id) && self.file.members.iter().any(|m| m.id == id)
    }

    pub fn member_ids(&self) -> Vec<u32> {
        self.file
            .members
            .iter()
            .map(|m| m.id)
            .filter(|id| !self.removed.contains(id))
            .collect()
    }

    pub fn member(&self, id: u32) -> Option<&Member> {
        self.file.members.iter().find(|m| m.id == id)
    }

    pub fn require_member(&self, id: u32, role: &str) -> Result<(), CliError> {
        if self.is_member(id) {
            Ok(())
        } else {
            Err(CliError::usage(format!(
                "{role} {id} is not a member of group {:?}",
                self.file.name
            )))
        }
    }

    pub fn id_mode(&self) -> SenderIdMode {
        if self.file.policy.implicit_sender {
            SenderIdMode::Implicit
        } else {
            SenderIdMode::Explicit
        }
    }

    /// Sender settings; `block` overrides the reservation block (see `state`).
    pub fn sender_config(&self, id: u32, block: u64) -> SenderConfig {
        let mut c = SenderConfig::new(id);
        c.sender_id_mode = self.id_mode();
        c.reservation_block = block;
        c.full_every = self.file.policy.full_every;
        c.length_mode = match self.file.policy.length_mode {
            Lengths::Steady => LengthMode::Steady,
            Lengths::Confirmed => LengthMode::Confirmed,
        };
        c
    }
}

/// A new group with fresh random secrets and members 1..=n.
pub fn new_group(
    name: &str,
    members: u32,
    group_id: Option<u32>,
    epoch: u16,
) -> Result<GroupFile, CliError> {
    let mut secret = Zeroizing::new([0u8; 32]);
    let mut salt = [0u8; 8];
    let mut gid = [0u8; 4];
    for buf in [&mut secret[..], &mut salt[..], &mut gid[..]] {
        getrandom::getrandom(buf)
            .map_err(|e| CliError::usage(format!("no randomness available: {e}")))?;
    }
    Ok(GroupFile {
        name: name.into(),
        group_id: group_id.unwrap_or_else(|| u32::from_be_bytes(gid)),
        epoch,
        master_secret: hex::encode(&secret[..]),
        salt: hex::encode(salt),
        policy: Policy::default(),
        rekey_counter: 0,
        members: (1..=members)
            .map(|id| Member {
                id,
                name: format!("member-{id}"),
                key: String::new(),
                x25519: String::new(),
                ed25519: String::new(),
                rejoined: None,
            })
            .collect(),
    })
}
