//! C API over the meshseal core, for firmware written in C.
//!
//! The API allocates nothing: the caller owns the storage of every context
//! ([`MeshsealSender`], [`MeshsealRecipient`]: opaque, fixed-size, 16-byte aligned blocks, or any
//! block of [`meshseal_sender_size`] bytes suitably aligned) and of every buffer. Every call
//! returns a [`MeshsealResult`]: `0` on success, a positive code naming the core's refusal
//! reason exactly (one per `meshseal::Error` variant, in the order of the core's stable reason
//! index), or a negative code for a misuse of the API (null or misaligned pointer, context not
//! initialized, argument out of range).
//!
//! A context is used by one call at a time (serialize calls on a context, with a critical
//! section where an interrupt handler shares it); the library keeps no global state, so calls
//! on different contexts may run concurrently. The header states the full rule.
//!
//! Sealing and opening each have one call with an options struct per call
//! ([`meshseal_seal_with`] with [`MeshsealSeal`], [`meshseal_open_with`] with
//! [`MeshsealOpen`]; a NULL options pointer means the defaults), as the core has
//! `Sender::seal_with` and `Recipient::open_with`. The other seal and open calls are these
//! with fixed options, except fragments and challenges, which have calls of their own.
//!
//! Persistence of the sender's counter goes through two caller callbacks
//! ([`MeshsealLoadFn`], [`MeshsealStoreFn`]) and a user pointer, so the counter can live in
//! whatever flash, EEPROM or FRAM the device has. An ordinary boot
//! ([`meshseal_sender_init`]) refuses a store with no record (`NO_COUNTER_RECORD`): only
//! [`meshseal_sender_provision`], the caller's explicit statement that the identity is newly
//! provisioned, starts a sender from nothing.
//!
//! All `unsafe` of the project lives in this crate: pointer checks are done once, in the
//! helpers of the `raw` module, and each `unsafe` block states why it is sound. This crate
//! must never release plaintext the core did not verify, nor keep key material outside the
//! contexts (which are zeroized by [`meshseal_sender_clear`] / [`meshseal_recipient_clear`]).
#![no_std]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

// Hosted builds link std's panic machinery (a panic in an `extern "C"` function aborts).
#[cfg(not(target_os = "none"))]
extern crate std;

use core::cell::OnceCell;
use core::ffi::c_void;

use meshseal::counter::CounterStore;
use meshseal::crypto::IV_LEN;
use meshseal::replay::PeerTable;
use meshseal::source::SourceKeys;
use meshseal::{
    Binding, Error, Fragment, FrameId, Freshness, GroupKeys, LengthMode, Open, OrderPolicy,
    Recipient, RecipientConfig, Repeat, Seal, SealBinding, SealSource, Sender, SenderConfig,
    SenderIdMode, Source, TrafficClass, KEY_LEN,
};
use zeroize::Zeroize;

mod backend;
mod epochs;
mod message;
mod raw;
mod recipient;
mod result;
mod seal;
mod state;
#[cfg(test)]
mod tests;

pub use backend::{MeshsealAead, MeshsealAeadOpenFn, MeshsealAeadSealFn, MeshsealMaskFn};
pub use epochs::{
    meshseal_open_rekey, meshseal_recipient_expire_epoch, meshseal_recipient_install_epoch,
    meshseal_recipient_remove_member, meshseal_recipient_retire_epoch, meshseal_sender_rekey,
    MeshsealRekeyed, MESHSEAL_MAX_REMOVED, MESHSEAL_MEMBER_SECRET_LEN,
};
pub use message::*;
pub use recipient::*;
pub use result::{meshseal_result_name, MeshsealResult, MESHSEAL_REASONS};
pub use seal::*;
pub use state::*;

use backend::{core_keys, Backend};
use epochs::Members;
use raw::{bytes, bytes_mut, context, context_init, put, Checked};

/// Replay windows a recipient holds at once (least recently used evicted beyond).
pub const MESHSEAL_PEERS: usize = 16;

/// Length of the group key.
pub const MESHSEAL_KEY_LEN: usize = 16;
/// Length of the common IV.
pub const MESHSEAL_IV_LEN: usize = 13;
const _: () = assert!(MESHSEAL_KEY_LEN == KEY_LEN && MESHSEAL_IV_LEN == IV_LEN);

/// `length_mode`: truncated numbers relative to the previous frame (steady traffic).
pub const MESHSEAL_LENGTH_STEADY: u8 = 0;
/// `length_mode`: truncated numbers only relative to numbers confirmed by a response.
pub const MESHSEAL_LENGTH_CONFIRMED: u8 = 1;
/// `order`: numbers inside the window not yet accepted (reordering allowed).
pub const MESHSEAL_ORDER_WINDOW: u8 = 0;
/// `order`: only numbers above the highest accepted one.
pub const MESHSEAL_ORDER_STRICT: u8 = 1;
/// Traffic class: frames of unknown freshness are delivered, flagged.
pub const MESHSEAL_CLASS_TELEMETRY: u8 = 0;
/// Traffic class: only fresh frames are delivered; others refused as `STALE`.
pub const MESHSEAL_CLASS_ACTUATION: u8 = 1;
/// Traffic class: only echoes of this receiver's own challenges are delivered.
pub const MESHSEAL_CLASS_CHALLENGED: u8 = 2;
/// `freshness` of an opened frame: judged by verified state, or bound to a fresh request.
pub const MESHSEAL_FRESHNESS_FRESH: u8 = 0;
/// `freshness` of an opened frame: authentic, but may be an old frame replayed.
pub const MESHSEAL_FRESHNESS_UNKNOWN: u8 = 1;
/// `binding` of an opened frame: an ordinary frame.
pub const MESHSEAL_BINDING_NONE: u8 = 0;
/// `binding`: a response to a request.
pub const MESHSEAL_BINDING_RESPONSE: u8 = 1;
/// `binding`: a request repeated with an echo of a challenge.
pub const MESHSEAL_BINDING_ECHO: u8 = 2;
/// `binding`: a freshness challenge.
pub const MESHSEAL_BINDING_CHALLENGE: u8 = 3;
/// `source` of a seal or of an opened frame: under the group key, so any member can have
/// sealed it (the sender id is a claim).
pub const MESHSEAL_SOURCE_GROUP: u8 = 0;
/// `source`: under the pairwise keys of the sender and the one recipient; no other member can
/// read it or seal it in the sender's name.
pub const MESHSEAL_SOURCE_PAIRWISE: u8 = 1;
/// `source`: under the group key, with the sender's Ed25519ph signature inside the ciphertext
/// (64 bytes more); every member can check who sealed it. Needs the feature `signed`.
pub const MESHSEAL_SOURCE_SIGNED: u8 = 2;
/// Length of an Ed25519 signing key (its secret seed) and of a verifying key.
pub const MESHSEAL_ED25519_KEY_LEN: usize = 32;

/// Reads the persisted counter limit into `*limit`. Returns 1 when a limit was read, 0 when
/// the store holds no record, a negative value when the storage failed (init then fails with
/// `COUNTER_STORE`). "No record" is refused by [`meshseal_sender_init`] as
/// `NO_COUNTER_RECORD`; only [`meshseal_sender_provision`] starts from it (at 0, after
/// storing a first record). Callbacks must not call back into the library with the context
/// they serve.
pub type MeshsealLoadFn = Option<unsafe extern "C" fn(user: *mut c_void, limit: *mut u64) -> i32>;

/// Durably stores the counter limit; returns 0 only once the value survives power loss (any
/// other value refuses the seal with `COUNTER_STORE`, and no number is used). Called during
/// a seal, and by [`meshseal_sender_provision`] to write a first record (limit 0): it must
/// not call back into the library with the same sender.
pub type MeshsealStoreFn = Option<unsafe extern "C" fn(user: *mut c_void, limit: u64) -> i32>;

/// Group key material for one group and key epoch. Clear it with [`meshseal_keys_clear`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealKeys {
    /// AES-128 group key.
    pub key: [u8; MESHSEAL_KEY_LEN],
    /// Common IV.
    pub iv: [u8; MESHSEAL_IV_LEN],
    /// Group id the keys were derived for.
    pub group_id: u32,
    /// Key epoch.
    pub epoch: u16,
    /// Header privacy (spec §20): 1 when the group masks its frames' headers, else 0.
    pub privacy: u8,
    /// The group's header-privacy key (HKDF label 7), used by the software AEAD when
    /// `privacy` is 1; unused otherwise (a platform AEAD masks with its own key).
    pub privacy_key: [u8; MESHSEAL_KEY_LEN],
    /// The platform's AEAD, or NULL for meshseal's software AES-CCM over `key` (then `key`
    /// must hold the group key; with a platform AEAD it may be zero: the key stays in the
    /// platform). See [`MeshsealAead`].
    pub aead: *const MeshsealAead,
}

/// Sender settings; start from [`meshseal_sender_config_default`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealSenderConfig {
    /// This member's sender id, unique in the group.
    pub sender_id: u32,
    /// Nonzero when the link layer supplies the sender id (it is not written into frames).
    pub implicit_sender: u8,
    /// `MESHSEAL_LENGTH_STEADY` or `MESHSEAL_LENGTH_CONFIRMED`.
    pub length_mode: u8,
    /// A full-length sequence number at least once per this many frames (at least 1).
    pub full_every: u32,
    /// Numbers reserved per counter write.
    pub reservation_block: u64,
}

/// Recipient settings; start from [`meshseal_recipient_config_default`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealRecipientConfig {
    /// Nonzero when `own_id` is set: frames claiming it are refused as `REFLECTED`.
    pub has_own_id: u8,
    /// `MESHSEAL_ORDER_WINDOW` or `MESHSEAL_ORDER_STRICT`.
    pub order: u8,
    /// This member's own sender id.
    pub own_id: u32,
    /// Lowest sender id of the group.
    pub first_member: u32,
    /// Highest sender id of the group.
    pub last_member: u32,
}

/// What an accepted frame was; the plaintext is `frame[payload_offset..][..payload_len]`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MeshsealOpened {
    /// Who sent it.
    pub sender: u32,
    /// Its full sequence number.
    pub seq: u64,
    /// The key epoch it was sealed under.
    pub epoch: u16,
    /// `MESHSEAL_FRESHNESS_*`.
    pub freshness: u8,
    /// `MESHSEAL_BINDING_*`.
    pub binding: u8,
    /// Index of this fragment (when `fragment_count` is nonzero).
    pub fragment_index: u8,
    /// Fragments of its message; 0 for a frame that is not a fragment.
    pub fragment_count: u8,
    /// Nonzero when the frame carries a coarse timestamp.
    pub has_time: u8,
    /// It arrived after a higher number (reordered); nonzero when so.
    pub late: u8,
    /// Its coarse timestamp.
    pub time: u16,
    /// `MESHSEAL_SOURCE_*`: who can have sealed it (pairwise and signed frames are verified).
    pub source: u8,
    /// Nonzero when it is announced as sent several times (`repeat_copies` copies over
    /// `repeat_window` time units); later copies are refused as `DUPLICATE`.
    pub has_repeat: u8,
    /// Copies announced.
    pub repeat_copies: u8,
    /// Transmit window announced, in the group's time unit.
    pub repeat_window: u8,
    /// Numbers skipped between the previous highest and this frame.
    pub gap: u64,
    /// Offset of the plaintext in the frame buffer.
    pub payload_offset: size_t,
    /// Length of the plaintext.
    pub payload_len: size_t,
}

/// A frame's identity: its sender and full sequence number (what a response, a challenge or
/// an echo is bound to).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct MeshsealFrameId {
    /// Sender id.
    pub sender: u32,
    /// Full sequence number.
    pub seq: u64,
}

/// How [`meshseal_seal_with`] seals one frame; start from [`meshseal_seal_options_default`]
/// (a plain group frame, what a NULL options pointer means). Flags are 0 or 1; any other
/// flag value, and any constant not listed, is refused as `BAD_ARGUMENT` with nothing sealed.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealSeal {
    /// `MESHSEAL_SOURCE_GROUP` (the default), `MESHSEAL_SOURCE_PAIRWISE` (with
    /// `pairwise_keys`) or `MESHSEAL_SOURCE_SIGNED` (with `signing_key`; `UNSUPPORTED` when
    /// the library was built without the feature `signed`).
    pub source: u8,
    /// `MESHSEAL_BINDING_NONE` (the default), `MESHSEAL_BINDING_RESPONSE` (a response to the
    /// request `bound`) or `MESHSEAL_BINDING_ECHO` (the request sent again, echoing the
    /// challenge `bound`; always with the full number). Challenges are sealed by
    /// [`meshseal_issue_challenge`] or [`meshseal_seal_challenge`], not here.
    pub binding: u8,
    /// 1 when the frame carries the coarse timestamp `time`.
    pub has_time: u8,
    /// 1 when the frame is announced as sent `repeat_copies` times (at least 1, else
    /// `INVALID_CONFIG`) over `repeat_window` time units, for sleepy receivers; the number is
    /// then always sent in full. The application transmits the same frame that many times.
    pub has_repeat: u8,
    /// Coarse timestamp (the group's unit, modulo 2^16).
    pub time: u16,
    /// Copies of a repeated frame.
    pub repeat_copies: u8,
    /// Transmit window of a repeated frame, in the group's time unit.
    pub repeat_window: u8,
    /// The request a response answers, or the challenge an echo echoes.
    pub bound: MeshsealFrameId,
    /// With `MESHSEAL_SOURCE_PAIRWISE`: the pairwise keys shared with the one recipient (same
    /// group id and epoch as the sender's keys, else `INVALID_CONFIG`); ignored otherwise.
    pub pairwise_keys: *const MeshsealKeys,
    /// With `MESHSEAL_SOURCE_SIGNED`: this member's Ed25519 signing key,
    /// `MESHSEAL_ED25519_KEY_LEN` bytes; ignored otherwise.
    pub signing_key: *const u8,
}

/// One peer's keys for source-authenticated frames, in the table of a [`MeshsealOpen`].
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealPeerKeys {
    /// The peer's sender id.
    pub peer: u32,
    /// 1 when `pairwise` holds the pairwise keys shared with the peer.
    pub has_pairwise: u8,
    /// 1 when `verifying_key` holds the peer's Ed25519 verifying key (`UNSUPPORTED` when the
    /// library was built without the feature `signed`).
    pub has_verifying_key: u8,
    /// Pairwise keys shared with the peer (clear with [`meshseal_keys_clear`]).
    pub pairwise: MeshsealKeys,
    /// The peer's Ed25519 verifying key; one that is not a valid key verifies nothing
    /// (`UNKNOWN_KEY`).
    pub verifying_key: [u8; MESHSEAL_ED25519_KEY_LEN],
}

/// How [`meshseal_open_with`] opens one frame; start from [`meshseal_open_options_default`]
/// (sender id read from the frame, telemetry, no request, no source keys: what a NULL options
/// pointer means). Flags are 0 or 1; any other flag value, and any constant not listed, is
/// refused as `BAD_ARGUMENT` with nothing opened.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealOpen {
    /// 1 when the link layer supplies the sender id `link_sender` (the frame does not carry
    /// it).
    pub has_link_sender: u8,
    /// `MESHSEAL_CLASS_*`: what the receiver demands of the frame's freshness.
    pub traffic_class: u8,
    /// 1 when the frame must be a response or challenge to this member's request `request`;
    /// with 0 responses and challenges are refused as `UNSOLICITED`, with 1 anything else is.
    pub has_request: u8,
    /// 1 to accept only pairwise or signed frames: a group frame, which any member could
    /// have sealed in the sender's name, is refused as `UNAUTHENTICATED`.
    pub require_source: u8,
    /// The sender id the link layer supplies.
    pub link_sender: u32,
    /// The request (sealed by this member) the frame must answer.
    pub request: MeshsealFrameId,
    /// Peers' pairwise and verifying keys, `source_keys_len` entries (NULL when 0); the
    /// first entry naming a frame's sender is used. Without keys for its sender a pairwise or
    /// signed frame is refused as `UNKNOWN_KEY`.
    pub source_keys: *const MeshsealPeerKeys,
    /// Entries in `source_keys`.
    pub source_keys_len: size_t,
}

/// Counters of a recipient.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct MeshsealStats {
    /// Frames accepted and delivered.
    pub accepted: u64,
    /// Accepted frames whose freshness could not be established.
    pub unknown_freshness: u64,
    /// Sequence numbers skipped.
    pub gaps: u64,
    /// Frames accepted out of order (filling a gap).
    pub late: u64,
    /// Frames that never arrived (gaps minus late arrivals).
    pub missing: u64,
    /// Peer states evicted from the full table.
    pub evicted: u64,
    /// All refusals.
    pub refused_total: u64,
    /// Refusals per reason: `refused[code - 1]` counts result code `code`.
    pub refused: [u64; MESHSEAL_REASONS],
}

#[allow(non_camel_case_types)]
type size_t = usize;

/// Counter persistence through the caller's callbacks.
struct CallbackStore {
    load: unsafe extern "C" fn(*mut c_void, *mut u64) -> i32,
    store: unsafe extern "C" fn(*mut c_void, u64) -> i32,
    user: *mut c_void,
}

impl CounterStore for CallbackStore {
    type Error = i32;

    fn load(&mut self) -> Result<Option<u64>, i32> {
        let mut limit = 0u64;
        // SAFETY: `load` is a non-null function pointer the caller registered with the
        // documented signature; it receives the caller's own user pointer and a valid, aligned
        // pointer to a local u64.
        match unsafe { (self.load)(self.user, &mut limit) } {
            1 => Ok(Some(limit)),
            0 => Ok(None),
            e => Err(e),
        }
    }

    fn reserve(&mut self, limit: u64) -> Result<(), i32> {
        // SAFETY: `store` is a non-null function pointer the caller registered with the
        // documented signature; it receives the caller's own user pointer.
        match unsafe { (self.store)(self.user, limit) } {
            0 => Ok(()),
            e => Err(e),
        }
    }
}

type SenderImpl = Sender<CallbackStore, Backend>;
/// A recipient of the C API: 16 peers, its members a range less the removed ones, and a slot
/// for the previous epoch's keys through a grace period.
type RecipientImpl =
    Recipient<PeerTable<MESHSEAL_PEERS>, Members, Backend, 1, meshseal::Grace<Backend>>;

/// Words of storage in a [`MeshsealSender`].
pub const MESHSEAL_SENDER_WORDS: usize = 208;
/// Words of storage in a [`MeshsealRecipient`].
pub const MESHSEAL_RECIPIENT_WORDS: usize = 512;

/// Storage for a sender context: declare one (static or on the stack) and initialize it with
/// [`meshseal_sender_init`] (or, once, for a newly provisioned identity, with
/// [`meshseal_sender_provision`]). Its contents are private.
#[repr(C, align(16))]
pub struct MeshsealSender {
    opaque: [u64; MESHSEAL_SENDER_WORDS],
}

impl MeshsealSender {
    /// An uninitialized block (all zeros), for Rust code that hosts contexts.
    pub const fn zeroed() -> Self {
        MeshsealSender {
            opaque: [0; MESHSEAL_SENDER_WORDS],
        }
    }
}

/// Storage for a recipient context: declare one and initialize it with
/// [`meshseal_recipient_init`]. Its contents are private.
#[repr(C, align(16))]
pub struct MeshsealRecipient {
    opaque: [u64; MESHSEAL_RECIPIENT_WORDS],
}

impl MeshsealRecipient {
    /// An uninitialized block (all zeros), for Rust code that hosts contexts.
    pub const fn zeroed() -> Self {
        MeshsealRecipient {
            opaque: [0; MESHSEAL_RECIPIENT_WORDS],
        }
    }
}

raw::fits!(SenderImpl, MeshsealSender);
raw::fits!(RecipientImpl, MeshsealRecipient);

/// Bytes a sender context needs (at most `sizeof(MeshsealSender)`).
#[no_mangle]
pub extern "C" fn meshseal_sender_size() -> size_t {
    raw::slot_size::<SenderImpl>()
}

/// Alignment a sender context needs.
#[no_mangle]
pub extern "C" fn meshseal_sender_align() -> size_t {
    raw::slot_align::<SenderImpl>()
}

/// Bytes a recipient context needs (at most `sizeof(MeshsealRecipient)`).
#[no_mangle]
pub extern "C" fn meshseal_recipient_size() -> size_t {
    raw::slot_size::<RecipientImpl>()
}

/// Alignment a recipient context needs.
#[no_mangle]
pub extern "C" fn meshseal_recipient_align() -> size_t {
    raw::slot_align::<RecipientImpl>()
}

/// Bytes of recipient RAM per peer (one replay window and its table entry).
#[no_mangle]
pub extern "C" fn meshseal_peer_size() -> size_t {
    core::mem::size_of::<meshseal::replay::Peer>()
}

fn run(f: impl FnOnce() -> Checked<()>) -> MeshsealResult {
    match f() {
        Ok(()) => MeshsealResult::Ok,
        Err(r) => r,
    }
}

/// A C flag: 0 or 1.
fn flag(v: u8) -> Checked<bool> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(MeshsealResult::BadArgument),
    }
}

fn frame_id(id: MeshsealFrameId) -> FrameId {
    FrameId {
        sender: id.sender,
        seq: id.seq,
    }
}

#[cfg(feature = "hkdf")]
fn derive_keys(
    secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
    privacy: bool,
) -> Checked<MeshsealKeys> {
    let d = meshseal::crypto::derive(secret, salt, group_id, epoch)?;
    let privacy_key = if privacy {
        meshseal::privacy::derive_privacy_key(secret, salt, group_id, epoch)?
    } else {
        [0; MESHSEAL_KEY_LEN]
    };
    Ok(MeshsealKeys {
        privacy: u8::from(privacy),
        privacy_key,
        ..MeshsealKeys::software(&d, group_id, epoch)
    })
}

#[cfg(not(feature = "hkdf"))]
fn derive_keys(_: &[u8], _: &[u8], _: u32, _: u16, _: bool) -> Checked<MeshsealKeys> {
    Err(MeshsealResult::Unsupported)
}

impl MeshsealKeys {
    /// Derived keys for the software AEAD, without header privacy.
    #[cfg(feature = "hkdf")]
    fn software(d: &meshseal::crypto::DerivedKeys, group_id: u32, epoch: u16) -> Self {
        MeshsealKeys {
            key: d.key,
            iv: d.iv,
            group_id,
            epoch,
            privacy: 0,
            privacy_key: [0; MESHSEAL_KEY_LEN],
            aead: core::ptr::null(),
        }
    }

    fn zeroize(&mut self) {
        self.key.zeroize();
        self.iv.zeroize();
        self.privacy_key.zeroize();
    }
}

/// Derives the group key and common IV (HKDF-SHA256) from a 16–64 byte master secret and an
/// optional salt (`salt_len` 0) into `*out`, for a group without header privacy (as
/// [`meshseal_derive_with`] with `privacy` 0).
///
/// # Safety
/// `secret`/`salt` point to `secret_len`/`salt_len` readable bytes (either may be null when
/// its length is 0); `out` points to writable storage for a `MeshsealKeys`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_derive(
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    out: *mut MeshsealKeys,
) -> MeshsealResult {
    // SAFETY: forwarded from this function's contract.
    unsafe { meshseal_derive_with(secret, secret_len, salt, salt_len, group_id, epoch, 0, out) }
}

/// Derives a group's keys as [`meshseal_derive`], and with `privacy` 1 its header-privacy key
/// too (spec §20; `out->privacy` is then 1). `out->aead` is NULL (software AES-CCM): to seal
/// and open with the platform's AES, set it afterwards (and clear `out->key`).
///
/// # Safety
/// As for [`meshseal_derive`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_derive_with(
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    privacy: u8,
    out: *mut MeshsealKeys,
) -> MeshsealResult {
    run(|| {
        let privacy = flag(privacy)?;
        // SAFETY: forwarded from this function's contract.
        let (secret, salt) = unsafe { (bytes(secret, secret_len)?, bytes(salt, salt_len)?) };
        let mut keys = derive_keys(secret, salt, group_id, epoch, privacy)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { put(out, keys) };
        keys.zeroize();
        r
    })
}

/// Derives the pairwise keys member `own_id` shares with member `peer_id` in one group epoch
/// (spec §17: HKDF-SHA256 over the master secret and X25519 of `own_secret` with
/// `peer_public`, 32 bytes each) into `*out`, for [`MeshsealSeal::pairwise_keys`] and
/// [`MeshsealPeerKeys::pairwise`]; both members derive the same keys. `INVALID_CONFIG` for
/// equal ids, a secret out of range or a peer key of low order; `UNSUPPORTED` without the
/// feature `pairwise`.
///
/// # Safety
/// `secret`/`salt` as for [`meshseal_derive`]; `own_secret` and `peer_public` point to 32
/// readable bytes each; `out` to writable storage for a `MeshsealKeys`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_derive_pairwise(
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    own_id: u32,
    own_secret: *const u8,
    peer_id: u32,
    peer_public: *const u8,
    out: *mut MeshsealKeys,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (secret, salt, own, peer) = unsafe {
            (
                bytes(secret, secret_len)?,
                bytes(salt, salt_len)?,
                bytes(own_secret, 32)?,
                bytes(peer_public, 32)?,
            )
        };
        raw::check_out(out)?;
        let mut keys = pairwise_keys(secret, salt, group_id, epoch, own_id, own, peer_id, peer)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { put(out, keys) };
        keys.zeroize();
        r
    })
}

#[cfg(feature = "pairwise")]
#[allow(clippy::too_many_arguments)]
fn pairwise_keys(
    secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
    own_id: u32,
    own: &[u8],
    peer_id: u32,
    peer: &[u8],
) -> Checked<MeshsealKeys> {
    use meshseal::source::{X25519Public, X25519Secret};
    let mut a = [0u8; 32];
    a.copy_from_slice(own);
    let own_secret = X25519Secret::from(a);
    a.zeroize();
    let mut b = [0u8; 32];
    b.copy_from_slice(peer);
    let d = meshseal::source::derive_pairwise_keys(
        secret,
        salt,
        group_id,
        epoch,
        own_id,
        &own_secret,
        peer_id,
        &X25519Public::from(b),
    )?;
    Ok(MeshsealKeys::software(&d, group_id, epoch))
}

#[cfg(not(feature = "pairwise"))]
#[allow(clippy::too_many_arguments)]
fn pairwise_keys(
    _: &[u8],
    _: &[u8],
    _: u32,
    _: u16,
    _: u32,
    _: &[u8],
    _: u32,
    _: &[u8],
) -> Checked<MeshsealKeys> {
    Err(MeshsealResult::Unsupported)
}

/// Overwrites key material with zeros.
///
/// # Safety
/// `keys` is null or points to a writable `MeshsealKeys`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_keys_clear(keys: *mut MeshsealKeys) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let k = unsafe { raw::out_ref(keys)? };
        k.zeroize();
        Ok(())
    })
}

/// Default sender settings for `sender_id`: explicit id, 1000 numbers per counter write, a full
/// number every 16 frames, steady length mode.
#[no_mangle]
pub extern "C" fn meshseal_sender_config_default(sender_id: u32) -> MeshsealSenderConfig {
    let c = SenderConfig::new(sender_id);
    MeshsealSenderConfig {
        sender_id,
        implicit_sender: 0,
        length_mode: MESHSEAL_LENGTH_STEADY,
        full_every: c.full_every,
        reservation_block: c.reservation_block,
    }
}

/// Default recipient settings: members `first..=last`, no own id, window order.
#[no_mangle]
pub extern "C" fn meshseal_recipient_config_default(
    first_member: u32,
    last_member: u32,
) -> MeshsealRecipientConfig {
    MeshsealRecipientConfig {
        has_own_id: 0,
        order: MESHSEAL_ORDER_WINDOW,
        own_id: 0,
        first_member,
        last_member,
    }
}

fn sender_config(c: &MeshsealSenderConfig) -> Checked<SenderConfig> {
    let mut cfg = SenderConfig::new(c.sender_id);
    cfg.sender_id_mode = if c.implicit_sender != 0 {
        SenderIdMode::Implicit
    } else {
        SenderIdMode::Explicit
    };
    cfg.length_mode = match c.length_mode {
        MESHSEAL_LENGTH_STEADY => LengthMode::Steady,
        MESHSEAL_LENGTH_CONFIRMED => LengthMode::Confirmed,
        _ => return Err(MeshsealResult::BadArgument),
    };
    cfg.full_every = c.full_every;
    cfg.reservation_block = c.reservation_block;
    Ok(cfg)
}

fn recipient_config(c: &MeshsealRecipientConfig) -> Checked<(RecipientConfig, Members)> {
    let order = match c.order {
        MESHSEAL_ORDER_WINDOW => OrderPolicy::Window,
        MESHSEAL_ORDER_STRICT => OrderPolicy::Strict,
        _ => return Err(MeshsealResult::BadArgument),
    };
    if c.first_member > c.last_member {
        return Err(MeshsealResult::BadArgument);
    }
    let cfg = RecipientConfig {
        own_id: (c.has_own_id != 0).then_some(c.own_id),
        order,
    };
    Ok((cfg, Members::range(c.first_member, c.last_member)))
}

/// Boots a sender into `tx` from derived keys: loads the counter limit through `load` and
/// resumes after it; every later reservation goes through `store`. Both callbacks get `user`.
///
/// A store with no record (`load` returns 0) is refused with `NO_COUNTER_RECORD` and nothing
/// is written: the record of an identity that already sealed may have been lost (factory
/// reset, replaced flash), and starting it again at 0 would repeat nonces. A newly
/// provisioned identity starts with [`meshseal_sender_provision`] instead; an identity whose
/// record is lost must re-join under a fresh sender id or key epoch. A failed init leaves
/// `tx` as it was.
///
/// # Safety
/// `tx` points to writable, 16-byte aligned storage of `sizeof(MeshsealSender)` bytes that is
/// zeroed or holds a context from an earlier init; `keys` and `cfg` point to readable values;
/// `load` and `store` follow their documented contracts for as long as the context is used.
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_init(
    tx: *mut MeshsealSender,
    keys: *const MeshsealKeys,
    cfg: *const MeshsealSenderConfig,
    load: MeshsealLoadFn,
    store: MeshsealStoreFn,
    user: *mut c_void,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { raw::in_ref(keys)? };
        // SAFETY: forwarded from this function's contract.
        unsafe { sender_init(tx, keys, cfg, load, store, user, Boot::RESUME) }
    })
}

/// Like [`meshseal_sender_init`], deriving the keys from a master secret first.
///
/// # Safety
/// As for [`meshseal_sender_init`] and [`meshseal_derive`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_init_secret(
    tx: *mut MeshsealSender,
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    cfg: *const MeshsealSenderConfig,
    load: MeshsealLoadFn,
    store: MeshsealStoreFn,
    user: *mut c_void,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (secret, salt) = unsafe { (bytes(secret, secret_len)?, bytes(salt, salt_len)?) };
        let mut keys = derive_keys(secret, salt, group_id, epoch, false)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { sender_init(tx, &keys, cfg, load, store, user, Boot::RESUME) };
        keys.zeroize();
        r
    })
}

/// Boots the sender of a newly provisioned identity into `tx`: when `load` reports no record,
/// a first record (limit 0) is stored through `store` and the sender starts at sequence
/// number 0; when a record exists, it resumes after it exactly like [`meshseal_sender_init`]
/// (so a provisioning step interrupted and run again is harmless).
///
/// Calling this states that this identity (group, key epoch, sender id) has never sealed a
/// frame: call it once, where the device is given its identity, never on an ordinary boot,
/// where a lost record must stay an error ([`meshseal_sender_init`] refuses it) rather than
/// repeat nonces. Fails with `COUNTER_STORE` when `load` or the first `store` fails (`tx` is
/// then left as it was).
///
/// # Safety
/// As for [`meshseal_sender_init`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_provision(
    tx: *mut MeshsealSender,
    keys: *const MeshsealKeys,
    cfg: *const MeshsealSenderConfig,
    load: MeshsealLoadFn,
    store: MeshsealStoreFn,
    user: *mut c_void,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { raw::in_ref(keys)? };
        // SAFETY: forwarded from this function's contract.
        unsafe { sender_init(tx, keys, cfg, load, store, user, Boot::PROVISION) }
    })
}

/// Like [`meshseal_sender_provision`], deriving the keys from a master secret first.
///
/// # Safety
/// As for [`meshseal_sender_init`] and [`meshseal_derive`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_provision_secret(
    tx: *mut MeshsealSender,
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    cfg: *const MeshsealSenderConfig,
    load: MeshsealLoadFn,
    store: MeshsealStoreFn,
    user: *mut c_void,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (secret, salt) = unsafe { (bytes(secret, secret_len)?, bytes(salt, salt_len)?) };
        let mut keys = derive_keys(secret, salt, group_id, epoch, false)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { sender_init(tx, &keys, cfg, load, store, user, Boot::PROVISION) };
        keys.zeroize();
        r
    })
}

/// How a sender starts from its counter store: [`Boot::RESUME`] or [`Boot::PROVISION`]. A
/// function, not a flag, so a firmware that only provisions (or only resumes) links one of the
/// two.
#[derive(Clone, Copy)]
struct Boot(fn(GroupKeys<Backend>, SenderConfig, CallbackStore) -> Result<SenderImpl, Error>);

impl Boot {
    /// An ordinary boot: the store must hold a record.
    const RESUME: Boot = Boot(Sender::new);
    /// A newly provisioned identity: a store without a record starts at 0.
    const PROVISION: Boot = Boot(Sender::provision);
}

/// # Safety
/// As for [`meshseal_sender_init`].
unsafe fn sender_init(
    tx: *mut MeshsealSender,
    keys: &MeshsealKeys,
    cfg: *const MeshsealSenderConfig,
    load: MeshsealLoadFn,
    store: MeshsealStoreFn,
    user: *mut c_void,
    boot: Boot,
) -> Checked<()> {
    // SAFETY: forwarded from the caller's contract.
    let cfg = sender_config(unsafe { raw::in_ref(cfg)? })?;
    let (Some(load), Some(store)) = (load, store) else {
        return Err(MeshsealResult::NullPointer);
    };
    raw::check_slot::<SenderImpl, _>(tx)?;
    let store = CallbackStore { load, store, user };
    // SAFETY: forwarded from the caller's contract (`keys.aead` null or readable).
    let keys = unsafe { core_keys(keys)? };
    let sender = (boot.0)(keys, cfg, store)?;
    // SAFETY: `tx` was checked non-null and aligned; the caller guarantees it is writable
    // storage of the right size (checked at compile time against the slot).
    unsafe { context_init(tx, sender) };
    Ok(())
}

/// Boots a recipient into `rx` from derived keys. It holds no replay state: provision senders
/// at group creation ([`meshseal_recipient_provision`]) or let them be learned (their first
/// frames are then of unknown freshness).
///
/// # Safety
/// `rx` points to writable, 16-byte aligned storage of `sizeof(MeshsealRecipient)` bytes that
/// is zeroed or holds a context from an earlier init; `keys` and `cfg` point to readable values.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_init(
    rx: *mut MeshsealRecipient,
    keys: *const MeshsealKeys,
    cfg: *const MeshsealRecipientConfig,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let keys = unsafe { raw::in_ref(keys)? };
        // SAFETY: forwarded from this function's contract.
        unsafe { recipient_init(rx, keys, cfg) }
    })
}

/// Like [`meshseal_recipient_init`], deriving the keys from a master secret first.
///
/// # Safety
/// As for [`meshseal_recipient_init`] and [`meshseal_derive`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_init_secret(
    rx: *mut MeshsealRecipient,
    secret: *const u8,
    secret_len: size_t,
    salt: *const u8,
    salt_len: size_t,
    group_id: u32,
    epoch: u16,
    cfg: *const MeshsealRecipientConfig,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (secret, salt) = unsafe { (bytes(secret, secret_len)?, bytes(salt, salt_len)?) };
        let mut keys = derive_keys(secret, salt, group_id, epoch, false)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { recipient_init(rx, &keys, cfg) };
        keys.zeroize();
        r
    })
}

/// # Safety
/// As for [`meshseal_recipient_init`].
unsafe fn recipient_init(
    rx: *mut MeshsealRecipient,
    keys: &MeshsealKeys,
    cfg: *const MeshsealRecipientConfig,
) -> Checked<()> {
    // SAFETY: forwarded from the caller's contract.
    let (cfg, members) = recipient_config(unsafe { raw::in_ref(cfg)? })?;
    raw::check_slot::<RecipientImpl, _>(rx)?;
    let recipient: RecipientImpl =
        // SAFETY: forwarded from the caller's contract (`keys.aead` null or readable).
        Recipient::new(unsafe { core_keys(keys)? }, cfg, members, PeerTable::new());
    // SAFETY: `rx` was checked non-null and aligned; the caller guarantees it is writable
    // storage of the right size (checked at compile time against the slot).
    unsafe { context_init(rx, recipient) };
    Ok(())
}

/// Drops a sender context: its keys are zeroized and the storage marked uninitialized.
///
/// # Safety
/// `tx` is null or points to storage passed to [`meshseal_sender_init`] or
/// [`meshseal_sender_provision`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_clear(tx: *mut MeshsealSender) -> MeshsealResult {
    // SAFETY: forwarded from this function's contract.
    run(|| unsafe { raw::context_clear::<SenderImpl, _>(tx) })
}

/// Drops a recipient context: its keys are zeroized and the storage marked uninitialized.
///
/// # Safety
/// `rx` is null or points to storage passed to [`meshseal_recipient_init`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_clear(rx: *mut MeshsealRecipient) -> MeshsealResult {
    // SAFETY: forwarded from this function's contract.
    run(|| unsafe { raw::context_clear::<RecipientImpl, _>(rx) })
}

#[cfg(all(target_os = "none", feature = "panic-halt"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}
