//! Key epochs through the C API: a member opens the rekey message addressed to it
//! ([`meshseal_open_rekey`]), moves its sender ([`meshseal_sender_rekey`]) and its recipient
//! ([`meshseal_recipient_install_epoch`], with or without a grace period for the epoch being
//! replaced) to the new keys, drops the old epoch when its grace period ends
//! ([`meshseal_recipient_expire_epoch`], [`meshseal_recipient_retire_epoch`]), and refuses the
//! members the rekey removed ([`meshseal_recipient_remove_member`]).

use meshseal::context::Membership;
#[cfg(feature = "hkdf")]
use meshseal::rekey::{open_rekey, MemberKey, MAX_REMOVED, MEMBER_SECRET_LEN};

use crate::backend::core_keys;
use crate::raw::{bytes, bytes_mut, context, put, Checked};
use crate::{
    flag, run, size_t, MeshsealKeys, MeshsealRecipient, MeshsealResult, MeshsealSender,
    RecipientImpl, SenderImpl,
};

/// Members a recipient can be told are removed (the most one rekey message names).
pub const MESHSEAL_MAX_REMOVED: usize = 16;
/// Length of a member's individual secret, under which its rekey messages are sealed.
pub const MESHSEAL_MEMBER_SECRET_LEN: usize = 32;
#[cfg(feature = "hkdf")]
const _: () =
    assert!(MESHSEAL_MAX_REMOVED == MAX_REMOVED && MESHSEAL_MEMBER_SECRET_LEN == MEMBER_SECRET_LEN);

/// A recipient's members: a range of ids, less the ones removed.
pub(crate) struct Members {
    first: u32,
    last: u32,
    removed: [u32; MESHSEAL_MAX_REMOVED],
    removed_len: u8,
}

impl Members {
    pub(crate) fn range(first: u32, last: u32) -> Self {
        Members {
            first,
            last,
            removed: [0; MESHSEAL_MAX_REMOVED],
            removed_len: 0,
        }
    }

    fn removed(&self) -> &[u32] {
        self.removed
            .get(..usize::from(self.removed_len))
            .unwrap_or(&self.removed)
    }

    fn remove(&mut self, id: u32) -> Checked<()> {
        if self.removed().contains(&id) {
            return Ok(());
        }
        let slot = self
            .removed
            .get_mut(usize::from(self.removed_len))
            .ok_or(MeshsealResult::InvalidConfig)?;
        *slot = id;
        self.removed_len += 1;
        Ok(())
    }
}

impl Membership for Members {
    // A plain loop: `<[u32]>::contains` unrolls, which a sixteen-entry list does not need
    // (80 B less on a Cortex-M4).
    #[allow(clippy::manual_contains)]
    fn contains(&self, sender: u32) -> bool {
        (self.first..=self.last).contains(&sender) && !self.removed().iter().any(|&r| r == sender)
    }
}

/// What a rekey message told this member.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealRekeyed {
    /// The new epoch's keys, derived from the message's master secret (software AEAD:
    /// `aead` NULL; a platform imports `key` and sets `aead`). Clear with
    /// [`crate::meshseal_keys_clear`].
    pub keys: MeshsealKeys,
    /// How long the previous epoch stays accepted, in the group's time unit.
    pub grace: u32,
    /// Members removed from the group: the first `removed_count` of `removed`.
    pub removed: [u32; MESHSEAL_MAX_REMOVED],
    /// How many of `removed` are set.
    pub removed_count: u8,
}

/// Opens the rekey message in `msg` (`len` bytes, decrypted in place and wiped) addressed to
/// member `member` of group `group_id`, whose individual secret is `member_secret`
/// ([`MESHSEAL_MEMBER_SECRET_LEN`] bytes) and which holds epoch `current_epoch`, and writes
/// the new epoch's keys (with header privacy when `privacy` is 1), the grace period and the
/// removed members into `*out`. Refusals: `UNKNOWN_SENDER` (another member's message),
/// `REPLAY` (an epoch not newer than `current_epoch`), `BAD_TAG`, `MALFORMED`; `UNSUPPORTED`
/// without the feature `hkdf`.
///
/// # Safety
/// `member_secret` points to 32 readable bytes, `msg` to `len` writable bytes, `out` to a
/// writable `MeshsealRekeyed`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_rekey(
    member_secret: *const u8,
    group_id: u32,
    member: u32,
    current_epoch: u16,
    privacy: u8,
    msg: *mut u8,
    len: size_t,
    out: *mut MeshsealRekeyed,
) -> MeshsealResult {
    run(|| {
        let privacy = flag(privacy)?;
        // SAFETY: forwarded from this function's contract.
        let secret = unsafe { bytes(member_secret, MESHSEAL_MEMBER_SECRET_LEN)? };
        // SAFETY: forwarded from this function's contract.
        let msg = unsafe { bytes_mut(msg, len)? };
        crate::raw::check_out(out)?;
        let r = rekeyed(secret, group_id, member, current_epoch, privacy, msg)?;
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out, r) }
    })
}

#[cfg(feature = "hkdf")]
fn rekeyed(
    secret: &[u8],
    group_id: u32,
    member: u32,
    current_epoch: u16,
    privacy: bool,
    msg: &mut [u8],
) -> Checked<MeshsealRekeyed> {
    let mut s = [0u8; MEMBER_SECRET_LEN];
    s.copy_from_slice(secret);
    let key = MemberKey::derive(&s, group_id, member);
    zeroize::Zeroize::zeroize(&mut s);
    let rekey = open_rekey(&key, current_epoch, msg)?;
    let keys = crate::derive_keys(rekey.secret(), rekey.salt(), group_id, rekey.epoch, privacy)?;
    let mut removed = [0u32; MESHSEAL_MAX_REMOVED];
    removed[..rekey.removed().len()].copy_from_slice(rekey.removed());
    Ok(MeshsealRekeyed {
        keys,
        grace: rekey.grace,
        removed,
        // At most MAX_REMOVED (16).
        removed_count: rekey.removed().len() as u8,
    })
}

#[cfg(not(feature = "hkdf"))]
fn rekeyed(_: &[u8], _: u32, _: u32, _: u16, _: bool, _: &mut [u8]) -> Checked<MeshsealRekeyed> {
    Err(MeshsealResult::Unsupported)
}

/// Moves a sender to a newer epoch's keys of the same group. Sequence numbers continue; the
/// next frames carry the full number. `INVALID_CONFIG` for another group or an epoch that is
/// not newer.
///
/// # Safety
/// `tx` points to an initialized sender; `keys` to a readable `MeshsealKeys` whose `aead` is
/// null or readable.
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_rekey(
    tx: *mut MeshsealSender,
    keys: *const MeshsealKeys,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let tx = unsafe { context::<SenderImpl, _>(tx)? };
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { core_keys(crate::raw::in_ref(keys)?)? };
        Ok(tx.rekey(keys)?)
    })
}

/// Moves a recipient to a newer epoch's keys. With `has_grace` 1, the replaced epoch's frames
/// stay accepted until [`meshseal_recipient_expire_epoch`] is called with a time after
/// `grace_until` (the caller's clock, any unit); with 0 they are refused at once (what
/// removing a compromised member needs). `INVALID_CONFIG` for another group, an epoch that is
/// not newer, or a grace period between epochs 4·k apart (they share their bits on the wire).
///
/// # Safety
/// `rx` points to an initialized recipient; `keys` to a readable `MeshsealKeys` whose `aead`
/// is null or readable.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_install_epoch(
    rx: *mut MeshsealRecipient,
    keys: *const MeshsealKeys,
    has_grace: u8,
    grace_until: u64,
) -> MeshsealResult {
    run(|| {
        let grace = flag(has_grace)?.then_some(grace_until);
        // SAFETY: forwarded from this function's contract.
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { core_keys(crate::raw::in_ref(keys)?)? };
        Ok(rx.install_epoch(keys, grace)?)
    })
}

/// Drops the previous epoch's keys once `now` is past their grace period; `*expired` (may be
/// NULL) tells whether it did.
///
/// # Safety
/// `rx` points to an initialized recipient; `expired` is null or writable.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_expire_epoch(
    rx: *mut MeshsealRecipient,
    now: u64,
    expired: *mut u8,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        let done = rx.expire_epoch(now);
        if !expired.is_null() {
            // SAFETY: forwarded from this function's contract (non-null checked above).
            unsafe { put(expired, u8::from(done))? };
        }
        Ok(())
    })
}

/// Drops the previous epoch's keys now, whatever their grace period.
///
/// # Safety
/// `rx` points to an initialized recipient.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_retire_epoch(
    rx: *mut MeshsealRecipient,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { context::<RecipientImpl, _>(rx)? }.retire_previous_epoch();
        Ok(())
    })
}

/// Refuses member `id` from now on (`UNKNOWN_SENDER`), as a rekey message's removed list
/// says. At most [`MESHSEAL_MAX_REMOVED`] members (`INVALID_CONFIG` beyond); removing one
/// twice is harmless.
///
/// # Safety
/// `rx` points to an initialized recipient.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_remove_member(
    rx: *mut MeshsealRecipient,
    id: u32,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { context::<RecipientImpl, _>(rx)? }
            .members_mut()
            .remove(id)
    })
}
