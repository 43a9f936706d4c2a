//! Member keys and key epochs on the command line: identities, rekeying, and the source keys
//! of pairwise and signed frames.
//!
//! - `group new` draws each member's individual secret (protects its rekey messages) and its
//!   static X25519 and Ed25519 key pairs. The group file gets the public keys and, since it is
//!   the group manager's file, the individual secrets; the private keys go to one identity file
//!   per member (`<group>.keys/member-<ID>.toml`), which `provision` copies into the member's
//!   state directory. `group export` writes a group file for one member's device, without the
//!   other members' individual secrets (a removed member must not be able to open the rekey
//!   messages of the others).
//! - `group rekey` draws the next epoch's master secret, removes members, and prints one rekey
//!   message per remaining member; `open` applies such a message to the member's state
//!   (`epoch.json`), after which its `seal` and `open` use the new epoch, and the previous one is
//!   accepted until its grace period ends.

use std::path::{Path, PathBuf};

use meshseal::privacy::Private;
use meshseal::rekey::{open_rekey, seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::source::{
    derive_pairwise_keys, SigningKey, SourceKeys, VerifyingKey, X25519Public, X25519Secret,
};
use meshseal::{Error, GroupKeys, RustCryptoCcm};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::{Zeroize, Zeroizing};

use crate::cli_util::{CliError, Outcome};
use crate::group::{Ccm, Group, GroupFile, Keys, PreviousEpoch};
use crate::registry::Registry;
use crate::state::{create_private_dir, read_bounded, read_json, write_private, StateDir};

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, CliError> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::getrandom(&mut b[..])
        .map_err(|e| CliError::usage(format!("no randomness available: {e}")))?;
    Ok(b)
}

fn hex32(what: &str, s: &str) -> Result<Zeroizing<[u8; 32]>, CliError> {
    let v = Zeroizing::new(
        hex::decode(s).map_err(|e| CliError::usage(format!("{what} is not hex: {e}")))?,
    );
    let mut out = Zeroizing::new([0u8; 32]);
    if v.len() != 32 {
        return Err(CliError::usage(format!("{what} must be 32 bytes")));
    }
    out.copy_from_slice(&v);
    Ok(out)
}

/// A member's private keys. Wiped when dropped.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityFile {
    pub group_id: u32,
    pub member: u32,
    /// Individual secret: the rekey messages for this member are sealed under it.
    pub key: String,
    pub x25519_secret: String,
    pub ed25519_secret: String,
}

impl Drop for IdentityFile {
    fn drop(&mut self) {
        self.key.zeroize();
        self.x25519_secret.zeroize();
        self.ed25519_secret.zeroize();
    }
}

impl IdentityFile {
    fn x25519(&self) -> Result<X25519Secret, CliError> {
        Ok(X25519Secret::from(*hex32(
            "x25519_secret",
            &self.x25519_secret,
        )?))
    }

    fn signing(&self) -> Result<SigningKey, CliError> {
        let b = hex32("ed25519_secret", &self.ed25519_secret)?;
        Ok(SigningKey::from_bytes(&b))
    }

    fn member_key(&self) -> Result<MemberKey, CliError> {
        let k = hex32("identity key", &self.key)?;
        Ok(MemberKey::derive(&k, self.group_id, self.member))
    }
}

/// Where `group new` writes the identity of `member` for the group file `group`.
pub fn identity_path(group: &Path, member: u32) -> PathBuf {
    let mut dir = group.as_os_str().to_owned();
    dir.push(".keys");
    PathBuf::from(dir).join(format!("member-{member}.toml"))
}

/// Writes a file atomically, readable by its owner only from its creation on (it holds keys);
/// a missing parent directory is created for its owner only.
pub(crate) fn write_secret_file(path: &Path, text: &str) -> Result<(), CliError> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.exists() {
            create_private_dir(parent)?;
        }
    }
    write_private(path, text.as_bytes())
        .map_err(|e| CliError::io(format!("cannot write {}", path.display()), e))
}

/// Draws every member's keys: public keys and individual secrets into `file`, identities
/// written beside `out`.
pub fn generate_identities(file: &mut GroupFile, out: &Path) -> Result<(), CliError> {
    for m in &mut file.members {
        let (key, dh, sig) = (random::<32>()?, random::<32>()?, random::<32>()?);
        let x = X25519Secret::from(*dh);
        let s = SigningKey::from_bytes(&sig);
        m.key = hex::encode(&key[..]);
        m.x25519 = hex::encode(X25519Public::from(&x).as_bytes());
        m.ed25519 = hex::encode(s.verifying_key().as_bytes());
        let id = IdentityFile {
            group_id: file.group_id,
            member: m.id,
            key: hex::encode(&key[..]),
            x25519_secret: hex::encode(&dh[..]),
            ed25519_secret: hex::encode(&sig[..]),
        };
        write_identity(&identity_path(out, m.id), &id)?;
    }
    Ok(())
}

fn write_identity(path: &Path, id: &IdentityFile) -> Result<(), CliError> {
    let text = Zeroizing::new(
        toml::to_string_pretty(id)
            .map_err(|e| CliError::usage(format!("cannot encode identity: {e}")))?,
    );
    write_secret_file(
        path,
        &Zeroizing::new(format!(
            "# meshseal member identity: private keys of one member. Keep it on that member only.\n{}",
            &*text
        )),
    )
}

fn read_identity(path: &Path) -> Result<Option<IdentityFile>, CliError> {
    let Some(b) = read_bounded(path)? else {
        return Ok(None);
    };
    let text = Zeroizing::new(
        String::from_utf8(b)
            .map_err(|_| CliError::usage(format!("{} is not UTF-8", path.display())))?,
    );
    toml::from_str(&text)
        .map(Some)
        .map_err(|e| CliError::usage(format!("malformed identity {}: {e}", path.display())))
}

/// Copies `member`'s identity (from `from`, or beside the group file) into its state.
pub fn install_identity(
    group: &Path,
    g: &Group,
    member: u32,
    from: Option<&Path>,
    st: &StateDir,
) -> Result<bool, CliError> {
    let src = from.map_or_else(|| identity_path(group, member), Path::to_owned);
    let id = match read_identity(&src)? {
        Some(id) => id,
        None if from.is_none() => return Ok(false),
        None => {
            return Err(CliError::usage(format!(
                "identity {} does not exist",
                src.display()
            )))
        }
    };
    if id.group_id != g.file.group_id || id.member != member {
        return Err(CliError::usage(format!(
            "{} is member {} of group {}, not member {member} of group {}",
            src.display(),
            id.member,
            id.group_id,
            g.file.group_id
        )));
    }
    if g.member(member)
        .is_some_and(|m| !m.key.is_empty() && m.key != id.key)
    {
        return Err(CliError::usage(format!(
            "{} is not member {member}'s current identity: its individual key differs from the \
             group file's (the member re-joined with a new key; use the identity written beside \
             the group file of its re-join)",
            src.display()
        )));
    }
    let text = Zeroizing::new(
        toml::to_string_pretty(&id)
            .map_err(|e| CliError::usage(format!("cannot encode identity: {e}")))?,
    );
    write_secret_file(&st.file("identity.toml"), &text)?;
    Ok(true)
}

fn load_identity(st: &StateDir) -> Result<Option<IdentityFile>, CliError> {
    read_identity(&st.file("identity.toml"))
}

/// The member's individual key: from its identity, or from the group manager's file.
fn member_key(g: &Group, member: u32, st: &StateDir) -> Result<MemberKey, CliError> {
    if let Some(id) = load_identity(st)? {
        return id.member_key();
    }
    let m = g
        .member(member)
        .filter(|m| !m.key.is_empty())
        .ok_or_else(|| {
            CliError::usage(format!(
                "no individual key for member {member}: provision it with its identity"
            ))
        })?;
    let k = hex32("member key", &m.key)?;
    Ok(MemberKey::derive(&k, g.file.group_id, member))
}

/// `epoch.json`: where a member's rekeys took it.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EpochFile {
    group_id: u32,
    epoch: u16,
    master_secret: String,
    salt: String,
    removed: Vec<u32>,
    previous: Option<PreviousFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviousFile {
    epoch: u16,
    master_secret: String,
    salt: String,
    until: u64,
}

impl Drop for EpochFile {
    fn drop(&mut self) {
        self.master_secret.zeroize();
        if let Some(p) = &mut self.previous {
            p.master_secret.zeroize();
        }
    }
}

fn unhex(what: &str, s: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    hex::decode(s)
        .map(Zeroizing::new)
        .map_err(|e| CliError::usage(format!("{what} is not hex: {e}")))
}

/// The group as this member's state sees it: when a rekey took the member past the group
/// file's epoch, that epoch's keys, the previous epoch through its grace period, and the
/// removals.
pub fn apply_state(mut g: Group, st: &StateDir, now: u64) -> Result<Group, CliError> {
    let Some(f): Option<EpochFile> = read_json(&st.file("epoch.json"))? else {
        return Ok(g);
    };
    if f.group_id != g.file.group_id || !meshseal::context::epoch_is_newer(f.epoch, g.file.epoch) {
        // The group file caught up (or is another group's): it wins.
        return Ok(g);
    }
    g.removed = f.removed.clone();
    g.previous = match &f.previous {
        Some(p) if now <= p.until => Some(PreviousEpoch {
            epoch: p.epoch,
            secret: unhex("previous master_secret", &p.master_secret)?,
            salt: hex::decode(&p.salt).map_err(|e| CliError::usage(format!("salt: {e}")))?,
            until: p.until,
        }),
        _ => None,
    };
    g.file.epoch = f.epoch;
    g.secret = unhex("master_secret", &f.master_secret)?;
    g.salt = hex::decode(&f.salt).map_err(|e| CliError::usage(format!("salt: {e}")))?;
    Ok(g)
}

impl Group {
    /// Keys of the previous epoch, while its grace period lasts.
    pub fn previous_keys(&self) -> Result<Option<(Keys, u64)>, CliError> {
        self.previous
            .as_ref()
            .map(|p| {
                GroupKeys::derive_with(
                    &p.secret,
                    &p.salt,
                    self.file.group_id,
                    p.epoch,
                    self.privacy(),
                )
                .map(|k| (k, p.until))
                .map_err(|e| CliError::usage(format!("cannot derive keys: {e}")))
            })
            .transpose()
    }
}

/// What `group rekey` was asked to do.
pub struct RekeyArgs<'a> {
    pub path: &'a Path,
    pub remove: &'a [u32],
    pub rejoin: &'a [u32],
    pub out: &'a Path,
    pub grace: u32,
    pub force: bool,
    pub json_out: bool,
}

/// The directory a path is in, resolved (`.` for a bare file name).
fn parent_dir(p: &Path) -> Result<PathBuf, CliError> {
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::canonicalize(dir)
        .map_err(|e| CliError::io(format!("cannot resolve {}", dir.display()), e))
}

/// `group rekey`: the next epoch without the removed members, and one rekey message per
/// remaining member (none for a re-joining one).
///
/// The message counter and the epoch are reserved in the manager's state (`registry`) before a
/// message is sealed or printed: a second run from the same input continues above them, so no
/// (member key, nonce) pair is ever used twice.
pub fn group_rekey(a: RekeyArgs<'_>) -> Result<Outcome, CliError> {
    let (path, remove, rejoin, out) = (a.path, a.remove, a.rejoin, a.out);
    let g = Group::load(path)?;
    for &r in remove {
        g.require_member(r, "removed member")?;
    }
    for &r in rejoin {
        g.require_member(r, "re-joining member")?;
        if remove.contains(&r) {
            return Err(CliError::usage(format!(
                "member {r} cannot be both removed and re-joined"
            )));
        }
    }
    if out.exists() && !a.force {
        return Err(CliError::usage(format!(
            "{} exists (use --force to overwrite)",
            out.display()
        )));
    }
    if parent_dir(out)? != parent_dir(path)? {
        return Err(CliError::usage(format!(
            "write the new group file beside {} : the manager's state of the group lives in that \
             directory (.meshseal/), and later commands find it beside the group file",
            path.display()
        )));
    }
    let mut keep: Vec<_> = g
        .file
        .members
        .iter()
        .filter(|m| !remove.contains(&m.id))
        .cloned()
        .collect();
    if keep.is_empty() {
        return Err(CliError::usage(
            "a rekey must keep at least one member".into(),
        ));
    }
    if let Some(m) = keep.iter().find(|m| m.key.is_empty()) {
        return Err(CliError::usage(format!(
            "member {} has no individual key in {} (only the group manager's file can rekey)",
            m.id,
            path.display()
        )));
    }
    let mut reg = Registry::open_or_adopt(path, &g)?;
    // Never an epoch or a counter used before: above both the file's and the manager's record.
    let base = g.file.epoch.max(reg.data.epoch);
    let past = || {
        CliError::usage(format!(
            "the group is at epoch {base}: a rekey past epoch 65535 is refused (epochs never wrap \
             to 0, where old keys and numbers would come back); create a new group with \
             `meshseal group new`"
        ))
    };
    let mut epoch = base.checked_add(1).ok_or_else(past)?;
    if a.grace > 0 && epoch & 3 == g.file.epoch & 3 {
        // Frames carry the epoch's low two bits: the grace epoch and the new one must differ.
        epoch = epoch.checked_add(1).ok_or_else(past)?;
    }
    let counter = g.file.rekey_counter.max(reg.data.rekey_counter) + 1;
    if counter > meshseal::frame::SEQ_MAX {
        return Err(CliError::usage(
            "the rekey message counter is exhausted; create a new group".into(),
        ));
    }
    let secret = random::<32>()?;
    let rekey = Rekey::new(epoch, &secret[..], &g.salt, a.grace, remove)
        .map_err(|e| CliError::usage(format!("cannot build rekey: {e}")))?;
    // Re-joining members get a new individual key: the lost state (a backup, the old device)
    // holds the old one and must not open any later rekey message.
    let mut identities = Vec::new();
    for m in &mut keep {
        let old = read_identity(&identity_path(path, m.id))?;
        if rejoin.contains(&m.id) {
            let key = random::<32>()?;
            m.key = hex::encode(&key[..]);
            m.rejoined = Some(epoch);
            let id = match old {
                Some(mut id) => {
                    id.key.zeroize();
                    id.key = hex::encode(&key[..]);
                    id
                }
                None => {
                    // No identity to keep the public keys of: new ones for this member.
                    let (dh, sig) = (random::<32>()?, random::<32>()?);
                    let x = X25519Secret::from(*dh);
                    let s = SigningKey::from_bytes(&sig);
                    m.x25519 = hex::encode(X25519Public::from(&x).as_bytes());
                    m.ed25519 = hex::encode(s.verifying_key().as_bytes());
                    eprintln!(
                        "note: no identity of member {} beside {}: it gets new X25519 and Ed25519 \
                         keys; give the other members {} for its pairwise and signed frames",
                        m.id,
                        path.display(),
                        out.display()
                    );
                    IdentityFile {
                        group_id: g.file.group_id,
                        member: m.id,
                        key: hex::encode(&key[..]),
                        x25519_secret: hex::encode(&dh[..]),
                        ed25519_secret: hex::encode(&sig[..]),
                    }
                }
            };
            identities.push((m.id, id));
        } else if let Some(id) = old {
            identities.push((m.id, id));
        }
    }
    reg.data.rekey_counter = counter;
    reg.data.epoch = epoch;
    for &r in rejoin {
        reg.data
            .rejoined
            .push(crate::registry::Rejoin { member: r, epoch });
    }
    // Durable before any message exists.
    reg.save()?;
    if base > g.file.epoch {
        eprintln!(
            "note: epoch {base} was already issued from {} or a later group file; this rekey moves \
             the group to epoch {epoch}",
            path.display()
        );
    }
    let mut frames = Vec::new();
    for m in keep.iter().filter(|m| !rejoin.contains(&m.id)) {
        let k = MemberKey::derive(&*hex32("member key", &m.key)?, g.file.group_id, m.id);
        let mut buf = [0u8; MAX_REKEY_LEN];
        let n = seal_rekey(&k, counter, &rekey, &mut buf)
            .map_err(|e| CliError::usage(format!("cannot seal rekey: {e}")))?;
        frames.push((m.id, hex::encode(&buf[..n])));
    }
    for (id, identity) in &identities {
        write_identity(&identity_path(out, *id), identity)?;
    }
    let next = GroupFile {
        name: g.file.name.clone(),
        group_id: g.file.group_id,
        epoch,
        master_secret: hex::encode(&secret[..]),
        salt: g.file.salt.clone(),
        policy: g.file.policy.clone(),
        rekey_counter: counter,
        members: keep,
    };
    write_group_file(&next, out)?;
    if a.json_out {
        outln!(
            "{}",
            json!({
                "status": "ok",
                "epoch": epoch,
                "removed": remove,
                "rejoined": rejoin,
                "grace": a.grace,
                "frames": frames.iter().map(|(m, f)| json!({"member": m, "frame": f})).collect::<Vec<_>>(),
            })
        );
    } else {
        for (m, f) in &frames {
            outln!("{m} {f}");
        }
    }
    eprintln!(
        "wrote {} (epoch {epoch}, {} members){}; give each member its rekey message{}",
        out.display(),
        next.members.len(),
        if identities.is_empty() {
            String::new()
        } else {
            format!(
                " and member identities in {}",
                identity_path(out, 1)
                    .parent()
                    .map_or_else(String::new, |p| p.display().to_string())
            )
        },
        if rejoin.is_empty() {
            String::new()
        } else {
            format!(
                "; provision re-joining member(s) {rejoin:?} with {} into new state directories",
                out.display()
            )
        }
    );
    Ok(Outcome::Done)
}

/// `group export`: the group file for one member's device.
pub fn group_export(
    path: &Path,
    member: u32,
    out: &Path,
    force: bool,
) -> Result<Outcome, CliError> {
    let g = Group::load(path)?;
    g.require_member(member, "member")?;
    if out.exists() && !force {
        return Err(CliError::usage(format!(
            "{} exists (use --force to overwrite)",
            out.display()
        )));
    }
    let mut members = g.file.members.clone();
    for m in &mut members {
        if m.id != member {
            m.key.zeroize();
            m.key.clear();
        }
    }
    let file = GroupFile {
        name: g.file.name.clone(),
        group_id: g.file.group_id,
        epoch: g.file.epoch,
        master_secret: g.file.master_secret.clone(),
        salt: g.file.salt.clone(),
        policy: g.file.policy.clone(),
        rekey_counter: 0,
        members,
    };
    write_group_file(&file, out)?;
    eprintln!("wrote {} for member {member}", out.display());
    Ok(Outcome::Done)
}

/// Verifies a rekey message addressed to `member` and records the new epoch in its state
/// directory (`epoch.json`, written durably before this returns): the rekey applied, or the
/// core's refusal of the message.
pub fn take_rekey(
    g: &Group,
    member: u32,
    st: &StateDir,
    frame: &mut [u8],
    now: u64,
) -> Result<Result<Rekey, Error>, CliError> {
    let key = member_key(g, member, st)?;
    let r = match open_rekey(&key, g.file.epoch, frame) {
        Ok(r) => r,
        Err(e) => return Ok(Err(e)),
    };
    let mut removed = g.removed.clone();
    for &id in r.removed() {
        if !removed.contains(&id) {
            removed.push(id);
        }
    }
    let f = EpochFile {
        group_id: g.file.group_id,
        epoch: r.epoch,
        master_secret: hex::encode(r.secret()),
        salt: hex::encode(r.salt()),
        removed,
        previous: Some(PreviousFile {
            epoch: g.file.epoch,
            master_secret: hex::encode(&g.secret[..]),
            salt: hex::encode(&g.salt),
            until: now.saturating_add(u64::from(r.grace)),
        }),
    };
    let text = Zeroizing::new(
        serde_json::to_string_pretty(&f)
            .map_err(|e| CliError::usage(format!("cannot encode state: {e}")))?,
    );
    write_secret_file(&st.file("epoch.json"), &text)?;
    Ok(Ok(r))
}

/// Applies a rekey message addressed to `member` to its state.
pub fn apply_rekey(
    g: &Group,
    member: u32,
    st: &StateDir,
    frame: &mut [u8],
    now: u64,
    json_out: bool,
) -> Result<Outcome, CliError> {
    let r = match take_rekey(g, member, st, frame, now)? {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Refused(e, json_out)),
    };
    if json_out {
        outln!(
            "{}",
            json!({"status": "rekeyed", "epoch": r.epoch, "previous_epoch": g.file.epoch,
                   "grace": r.grace, "removed": r.removed()})
        );
    } else {
        eprintln!(
            "rekeyed to epoch {} (epoch {} accepted for {} s more; removed: {:?})",
            r.epoch,
            g.file.epoch,
            r.grace,
            r.removed()
        );
    }
    Ok(Outcome::Done)
}

/// The source keys of one member: the pairwise keys it shares with every other member that
/// published an X25519 key, and every member's Ed25519 verifying key.
pub struct Keyring {
    pairs: Vec<(u32, Keys)>,
    vks: Vec<(u32, VerifyingKey)>,
    own_dh: Option<X25519Secret>,
    signing: Option<SigningKey>,
}

impl SourceKeys<Ccm> for Keyring {
    fn pairwise(&self, sender: u32) -> Option<&Keys> {
        self.pairs
            .iter()
            .find(|(id, _)| *id == sender)
            .map(|(_, k)| k)
    }

    fn verifying_key(&self, sender: u32) -> Option<&VerifyingKey> {
        self.vks
            .iter()
            .find(|(id, _)| *id == sender)
            .map(|(_, k)| k)
    }
}

impl Keyring {
    /// `member`'s own keys, and the verifying and pairwise keys for `peer` (the sender of the
    /// frame at hand, if any): one frame needs no other member's keys, and an X25519 exchange
    /// per member would cost every command.
    pub fn load(
        g: &Group,
        member: u32,
        st: &StateDir,
        peer: Option<u32>,
    ) -> Result<Keyring, CliError> {
        let id = load_identity(st)?;
        let own_dh = id.as_ref().map(IdentityFile::x25519).transpose()?;
        let signing = id.as_ref().map(IdentityFile::signing).transpose()?;
        let mut ring = Keyring {
            pairs: Vec::new(),
            vks: Vec::new(),
            own_dh,
            signing,
        };
        let Some(m) = peer.filter(|&p| g.is_member(p)).and_then(|p| g.member(p)) else {
            return Ok(ring);
        };
        if !m.ed25519.is_empty() {
            let b = hex32("ed25519 public key", &m.ed25519)?;
            let vk = VerifyingKey::from_bytes(&b).map_err(|_| {
                CliError::usage(format!("member {}: invalid ed25519 public key", m.id))
            })?;
            ring.vks.push((m.id, vk));
        }
        if m.id != member && !m.x25519.is_empty() {
            if let Ok(k) = ring.pair_keys(g, member, m.id) {
                ring.pairs.push((m.id, k));
            }
        }
        Ok(ring)
    }

    /// The pairwise keys of `member` and `peer` in the current epoch.
    pub fn pair_keys(&self, g: &Group, member: u32, peer: u32) -> Result<Keys, CliError> {
        let own = self.own_dh.as_ref().ok_or_else(|| {
            CliError::usage(format!(
                "member {member} has no identity (X25519 key) in its state"
            ))
        })?;
        let m = g
            .member(peer)
            .filter(|m| g.is_member(m.id) && !m.x25519.is_empty())
            .ok_or_else(|| CliError::usage(format!("member {peer} has no X25519 public key")))?;
        let public = X25519Public::from(*hex32("x25519 public key", &m.x25519)?);
        let d = derive_pairwise_keys(
            &g.secret,
            &g.salt,
            g.file.group_id,
            g.file.epoch,
            member,
            own,
            peer,
            &public,
        )
        .map_err(|e: Error| {
            CliError::usage(format!("cannot derive pairwise keys with {peer}: {e}"))
        })?;
        // A pairwise frame's header is masked with the group's keys, not these.
        let aead = Private::off(RustCryptoCcm::new(&d.key));
        Ok(GroupKeys::with_backend(
            aead,
            d.iv,
            g.file.group_id,
            g.file.epoch,
        ))
    }

    pub fn signing_key(&self, member: u32) -> Result<&SigningKey, CliError> {
        self.signing.as_ref().ok_or_else(|| {
            CliError::usage(format!(
                "member {member} has no identity (Ed25519 key) in its state"
            ))
        })
    }
}

/// Writes a group file readable by its owner only.
pub fn write_group_file(file: &GroupFile, out: &Path) -> Result<(), CliError> {
    let body = toml::to_string_pretty(file)
        .map_err(|e| CliError::usage(format!("cannot encode group: {e}")))?;
    let text = format!(
        "# meshseal group file. It holds the group's master secret: keep it as secret as a key.\n\
         # Sender ids must be unique in the group; meshseal refuses files that repeat one.\n{body}"
    );
    write_secret_file(out, &text)
}
