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
//! A context is used by one thread at a time; the library keeps no global state.
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
use core::ops::RangeInclusive;

use meshseal::counter::CounterStore;
use meshseal::crypto::{DerivedKeys, IV_LEN};
use meshseal::replay::PeerTable;
use meshseal::source::SourceKeys;
use meshseal::{
    Binding, Error, Fragment, FrameId, Freshness, GroupKeys, LengthMode, Open, OrderPolicy,
    Recipient, RecipientConfig, Repeat, Seal, SealBinding, SealSource, Sender, SenderConfig,
    SenderIdMode, Source, TrafficClass, KEY_LEN,
};
use zeroize::Zeroize;

mod raw;
mod result;

pub use result::{meshseal_result_name, MeshsealResult, MESHSEAL_REASONS};

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

type SenderImpl = Sender<CallbackStore>;
/// No previous-epoch slot: the C API has no rekey call yet, so the second key schedule's RAM is
/// saved.
type RecipientImpl = Recipient<
    PeerTable<MESHSEAL_PEERS>,
    RangeInclusive<u32>,
    meshseal::RustCryptoCcm,
    1,
    meshseal::NoGrace,
>;

/// Words of storage in a [`MeshsealSender`].
pub const MESHSEAL_SENDER_WORDS: usize = 160;
/// Words of storage in a [`MeshsealRecipient`].
pub const MESHSEAL_RECIPIENT_WORDS: usize = 320;

/// Storage for a sender context: declare one (static or on the stack) and initialize it with
/// [`meshseal_sender_init`] (or, once, for a newly provisioned identity, with
/// [`meshseal_sender_provision`]). Its contents are private.
#[repr(C, align(16))]
pub struct MeshsealSender {
    opaque: [u64; MESHSEAL_SENDER_WORDS],
}

/// Storage for a recipient context: declare one and initialize it with
/// [`meshseal_recipient_init`]. Its contents are private.
#[repr(C, align(16))]
pub struct MeshsealRecipient {
    opaque: [u64; MESHSEAL_RECIPIENT_WORDS],
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

fn core_keys(k: &MeshsealKeys) -> GroupKeys {
    let derived = DerivedKeys {
        key: k.key,
        iv: k.iv,
    };
    GroupKeys::from_derived(&derived, k.group_id, k.epoch)
}

#[cfg(feature = "hkdf")]
fn derive_keys(secret: &[u8], salt: &[u8], group_id: u32, epoch: u16) -> Checked<MeshsealKeys> {
    let d = meshseal::crypto::derive(secret, salt, group_id, epoch)?;
    Ok(MeshsealKeys {
        key: d.key,
        iv: d.iv,
        group_id,
        epoch,
    })
}

#[cfg(not(feature = "hkdf"))]
fn derive_keys(_: &[u8], _: &[u8], _: u32, _: u16) -> Checked<MeshsealKeys> {
    Err(MeshsealResult::Unsupported)
}

/// Derives the group key and common IV (HKDF-SHA256) from a 16–64 byte master secret and an
/// optional salt (`salt_len` 0) into `*out`.
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
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (secret, salt) = unsafe { (bytes(secret, secret_len)?, bytes(salt, salt_len)?) };
        let mut keys = derive_keys(secret, salt, group_id, epoch)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { put(out, keys) };
        keys.key.zeroize();
        keys.iv.zeroize();
        r
    })
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
        k.key.zeroize();
        k.iv.zeroize();
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

fn recipient_config(
    c: &MeshsealRecipientConfig,
) -> Checked<(RecipientConfig, RangeInclusive<u32>)> {
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
    Ok((cfg, c.first_member..=c.last_member))
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
        unsafe { sender_init(tx, keys, cfg, load, store, user, Boot::Resume) }
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
        let mut keys = derive_keys(secret, salt, group_id, epoch)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { sender_init(tx, &keys, cfg, load, store, user, Boot::Resume) };
        keys.key.zeroize();
        keys.iv.zeroize();
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
        unsafe { sender_init(tx, keys, cfg, load, store, user, Boot::Provision) }
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
        let mut keys = derive_keys(secret, salt, group_id, epoch)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { sender_init(tx, &keys, cfg, load, store, user, Boot::Provision) };
        keys.key.zeroize();
        keys.iv.zeroize();
        r
    })
}

/// How a sender starts from its counter store.
#[derive(Clone, Copy)]
enum Boot {
    /// An ordinary boot: the store must hold a record.
    Resume,
    /// A newly provisioned identity: a store without a record starts at 0.
    Provision,
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
    let sender = match boot {
        Boot::Resume => Sender::new(core_keys(keys), cfg, store),
        Boot::Provision => Sender::provision(core_keys(keys), cfg, store),
    }?;
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
        let mut keys = derive_keys(secret, salt, group_id, epoch)?;
        // SAFETY: forwarded from this function's contract.
        let r = unsafe { recipient_init(rx, &keys, cfg) };
        keys.key.zeroize();
        keys.iv.zeroize();
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
        Recipient::new_without_grace(core_keys(keys), cfg, members, PeerTable::new());
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

/// The C default of [`MeshsealSeal`]: a plain group frame, as [`meshseal_seal`] seals.
#[no_mangle]
pub extern "C" fn meshseal_seal_options_default() -> MeshsealSeal {
    MeshsealSeal {
        source: MESHSEAL_SOURCE_GROUP,
        binding: MESHSEAL_BINDING_NONE,
        has_time: 0,
        has_repeat: 0,
        time: 0,
        repeat_copies: 0,
        repeat_window: 0,
        bound: MeshsealFrameId::default(),
        pairwise_keys: core::ptr::null(),
        signing_key: core::ptr::null(),
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

/// Everything of a [`MeshsealSeal`] but its key material, checked.
struct SealShape {
    binding: SealBinding,
    time: Option<u16>,
    repeat: Option<Repeat>,
}

fn seal_shape(o: &MeshsealSeal) -> Checked<SealShape> {
    let binding = match o.binding {
        MESHSEAL_BINDING_NONE => SealBinding::None,
        MESHSEAL_BINDING_RESPONSE => SealBinding::Response(frame_id(o.bound)),
        MESHSEAL_BINDING_ECHO => SealBinding::Echo(frame_id(o.bound)),
        _ => return Err(MeshsealResult::BadArgument),
    };
    if !matches!(
        o.source,
        MESHSEAL_SOURCE_GROUP | MESHSEAL_SOURCE_PAIRWISE | MESHSEAL_SOURCE_SIGNED
    ) {
        return Err(MeshsealResult::BadArgument);
    }
    Ok(SealShape {
        binding,
        time: flag(o.has_time)?.then_some(o.time),
        repeat: flag(o.has_repeat)?.then_some(Repeat {
            copies: o.repeat_copies,
            window: o.repeat_window,
        }),
    })
}

impl SealShape {
    fn with<'k>(&self, source: SealSource<'k>) -> Seal<'k> {
        Seal {
            source,
            binding: self.binding,
            time: self.time,
            repeat: self.repeat,
        }
    }
}

/// Seals under the pairwise keys of `o`, expanded (and zeroized on drop) in a frame of its
/// own, so that a group seal's stack does not hold a second key schedule. The keys are copied
/// out of the caller's memory before `seal` borrows any buffer.
///
/// # Safety
/// `o.pairwise_keys` is null or points to a readable `MeshsealKeys`.
#[inline(never)]
unsafe fn seal_pairwise(
    o: &MeshsealSeal,
    shape: &SealShape,
    seal: impl FnOnce(&Seal<'_>) -> Checked<()>,
) -> Checked<()> {
    // SAFETY: forwarded from this function's contract.
    let keys = core_keys(unsafe { raw::in_ref(o.pairwise_keys)? });
    seal(&shape.with(SealSource::Pairwise(&keys)))
}

/// Seals with the signing key of `o`, copied out of the caller's memory (and zeroized) before
/// `seal` borrows any buffer, in a frame of its own as for [`seal_pairwise`].
///
/// # Safety
/// `o.signing_key` is null or addresses `MESHSEAL_ED25519_KEY_LEN` readable bytes.
#[cfg(feature = "signed")]
#[inline(never)]
unsafe fn seal_signed(
    o: &MeshsealSeal,
    shape: &SealShape,
    seal: impl FnOnce(&Seal<'_>) -> Checked<()>,
) -> Checked<()> {
    // SAFETY: forwarded from this function's contract.
    let bytes = unsafe { bytes(o.signing_key, MESHSEAL_ED25519_KEY_LEN)? };
    let mut seed = [0u8; MESHSEAL_ED25519_KEY_LEN];
    seed.copy_from_slice(bytes);
    let key = meshseal::source::SigningKey::from_bytes(&seed);
    seed.zeroize();
    seal(&shape.with(SealSource::Signed(&key)))
}

/// A build without signed frames refuses them.
///
/// # Safety
/// As in a build with signed frames (this one reads nothing).
#[cfg(not(feature = "signed"))]
unsafe fn seal_signed(
    _: &MeshsealSeal,
    _: &SealShape,
    _: impl FnOnce(&Seal<'_>) -> Checked<()>,
) -> Checked<()> {
    Err(MeshsealResult::Unsupported)
}

/// Zeroes `*out_len`, so that a refused seal reports no frame, then runs `f`.
///
/// # Safety
/// `out_len` is null or points to a writable `size_t`.
unsafe fn sealing(out_len: *mut size_t, f: impl FnOnce() -> Checked<()>) -> MeshsealResult {
    // SAFETY: forwarded from this function's contract.
    let _ = unsafe { put(out_len, 0) };
    run(f)
}

/// The one path of every seal call: checks the buffers, lets `seal` write the frame and
/// reports its length.
///
/// # Safety
/// The pointer arguments follow the contract of [`meshseal_seal`].
unsafe fn seal_into(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
    seal: impl FnOnce(&mut SenderImpl, &[u8], &mut [u8]) -> Result<usize, Error>,
) -> Checked<()> {
    raw::disjoint(payload, payload_len, out, out_cap)?;
    // SAFETY: forwarded from the caller's contract; the two buffers were checked disjoint.
    let (tx, payload, buf) = unsafe {
        (
            context::<SenderImpl, _>(tx)?,
            bytes(payload, payload_len)?,
            bytes_mut(out, out_cap)?,
        )
    };
    raw::check_out(out_len)?;
    let n = seal(tx, payload, buf)?;
    // SAFETY: forwarded from the caller's contract.
    unsafe { put(out_len, n) }
}

/// Seals `payload` into `out` (capacity `out_cap`) as `*opts` says (NULL: a plain group
/// frame); the frame length goes to `*out_len` (0 on any failure). The one seal call with
/// every option: its source (group, pairwise, signed), what it answers (a response to a
/// request, an echo of a challenge), a coarse timestamp and a repeat announcement, in any
/// combination. Fails without using a sequence number when the options are invalid
/// (`BAD_ARGUMENT`, `INVALID_CONFIG`, `UNSUPPORTED`) or `out` is too small
/// (`BUFFER_TOO_SMALL`).
///
/// # Safety
/// As for [`meshseal_seal`]; `opts` is null or points to a readable `MeshsealSeal` whose key
/// pointer for its `source` addresses what that field documents.
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_with(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    opts: *const MeshsealSeal,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let seal = || {
        // SAFETY: forwarded from this function's contract.
        let opts = unsafe { raw::copy_or(opts, meshseal_seal_options_default())? };
        let shape = seal_shape(&opts)?;
        let seal = |how: &Seal<'_>| {
            // SAFETY: forwarded from this function's contract; key material was copied out
            // of the caller's memory before, so it may lie anywhere.
            unsafe {
                seal_into(
                    tx,
                    payload,
                    payload_len,
                    out,
                    out_cap,
                    out_len,
                    |tx, p, buf| tx.seal_with(p, how, buf),
                )
            }
        };
        match opts.source {
            // SAFETY: forwarded from this function's contract.
            MESHSEAL_SOURCE_PAIRWISE => unsafe { seal_pairwise(&opts, &shape, seal) },
            // SAFETY: forwarded from this function's contract.
            MESHSEAL_SOURCE_SIGNED => unsafe { seal_signed(&opts, &shape, seal) },
            _ => seal(&shape.with(SealSource::Group)),
        }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { sealing(out_len, seal) }
}

/// Seals `payload` into `out` (capacity `out_cap`); the frame length goes to `*out_len`.
/// Fails without using a sequence number when `out` is too small (`BUFFER_TOO_SMALL`).
/// [`meshseal_seal_with`] with NULL options.
///
/// # Safety
/// `tx` points to an initialized sender; `payload` to `payload_len` readable bytes (null if
/// 0); `out` to `out_cap` writable bytes not overlapping `payload`; `out_len` to a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let opts = core::ptr::null();
    // SAFETY: forwarded from this function's contract; NULL options are the defaults.
    unsafe { meshseal_seal_with(tx, payload, payload_len, opts, out, out_cap, out_len) }
}

/// Seals a response bound to the request `(req_sender, req_seq)`: [`meshseal_seal_with`]
/// with `binding` `MESHSEAL_BINDING_RESPONSE`.
///
/// # Safety
/// As for [`meshseal_seal`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_response(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    req_sender: u32,
    req_seq: u64,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let opts = MeshsealSeal {
        binding: MESHSEAL_BINDING_RESPONSE,
        bound: MeshsealFrameId {
            sender: req_sender,
            seq: req_seq,
        },
        ..meshseal_seal_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without pointers.
    unsafe { meshseal_seal_with(tx, payload, payload_len, &opts, out, out_cap, out_len) }
}

/// Seals `payload` with the coarse timestamp `time` (the group's unit, modulo 2^16):
/// [`meshseal_seal_with`] with `has_time`.
///
/// # Safety
/// As for [`meshseal_seal`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_timed(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    time: u16,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let opts = MeshsealSeal {
        has_time: 1,
        time,
        ..meshseal_seal_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without pointers.
    unsafe { meshseal_seal_with(tx, payload, payload_len, &opts, out, out_cap, out_len) }
}

/// Seals fragment `index` of a `count`-fragment message; fragments of one message are sealed
/// in index order with nothing in between.
///
/// # Safety
/// As for [`meshseal_seal`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_fragment(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    index: u8,
    count: u8,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let fragment = Fragment { index, count };
    let seal = || {
        // SAFETY: forwarded from this function's contract.
        unsafe {
            seal_into(
                tx,
                payload,
                payload_len,
                out,
                out_cap,
                out_len,
                |tx, p, buf| tx.seal_fragment(p, fragment, buf),
            )
        }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { sealing(out_len, seal) }
}

/// Seals a freshness challenge answering the request `(req_sender, req_seq)`. A recipient that
/// should accept the echo must issue it with [`meshseal_issue_challenge`] instead.
///
/// # Safety
/// As for [`meshseal_seal`] (there is no payload).
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_challenge(
    tx: *mut MeshsealSender,
    req_sender: u32,
    req_seq: u64,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let request = FrameId {
        sender: req_sender,
        seq: req_seq,
    };
    let seal = || {
        // SAFETY: forwarded from this function's contract; an empty payload needs no pointer.
        unsafe {
            seal_into(
                tx,
                core::ptr::null(),
                0,
                out,
                out_cap,
                out_len,
                |tx, _, buf| tx.seal_challenge(request, buf).map(|(n, _)| n),
            )
        }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { sealing(out_len, seal) }
}

/// Seals `payload` again with proof of freshness, bound to the challenge `(ch_sender, ch_seq)`:
/// [`meshseal_seal_with`] with `binding` `MESHSEAL_BINDING_ECHO`.
///
/// # Safety
/// As for [`meshseal_seal`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_echo(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    ch_sender: u32,
    ch_seq: u64,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    let opts = MeshsealSeal {
        binding: MESHSEAL_BINDING_ECHO,
        bound: MeshsealFrameId {
            sender: ch_sender,
            seq: ch_seq,
        },
        ..meshseal_seal_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without pointers.
    unsafe { meshseal_seal_with(tx, payload, payload_len, &opts, out, out_cap, out_len) }
}

/// Records that receivers hold sequence number `seq` (e.g. a response to it arrived), so later
/// frames may carry a shorter number.
///
/// # Safety
/// `tx` points to an initialized sender.
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_confirm(
    tx: *mut MeshsealSender,
    seq: u64,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { context::<SenderImpl, _>(tx)? }.confirm(seq);
        Ok(())
    })
}

/// Writes the number the next frame will carry to `*next` and the numbers left before a rekey
/// is required to `*remaining` (either pointer may be null).
///
/// # Safety
/// `tx` points to an initialized sender; `next` and `remaining` are null or point to u64s.
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_counter(
    tx: *mut MeshsealSender,
    next: *mut u64,
    remaining: *mut u64,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let tx = unsafe { context::<SenderImpl, _>(tx)? };
        if !next.is_null() {
            // SAFETY: forwarded from this function's contract.
            unsafe { put(next, tx.next_seq())? };
        }
        if !remaining.is_null() {
            // SAFETY: forwarded from this function's contract.
            unsafe { put(remaining, tx.remaining())? };
        }
        Ok(())
    })
}

/// Writes the length of the frame that sealing `payload_len` bytes would produce now.
///
/// # Safety
/// `tx` points to an initialized sender; `out_len` to a `size_t`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_sender_frame_len(
    tx: *mut MeshsealSender,
    payload_len: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let n = unsafe { context::<SenderImpl, _>(tx)? }.frame_len(payload_len);
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out_len, n) }
    })
}

/// Creates verified, empty replay state for `sender` (only before it sealed anything under
/// these keys: at group creation or right after a rekey).
///
/// # Safety
/// `rx` points to an initialized recipient.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_provision(
    rx: *mut MeshsealRecipient,
    sender: u32,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { context::<RecipientImpl, _>(rx)? }.provision(sender);
        Ok(())
    })
}

/// Sets the receiver's coarse clock and the largest age a timed frame may have to be fresh.
///
/// # Safety
/// `rx` points to an initialized recipient.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_set_clock(
    rx: *mut MeshsealRecipient,
    now: u16,
    max_age: u16,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        unsafe { context::<RecipientImpl, _>(rx)? }.set_clock(now, max_age);
        Ok(())
    })
}

fn class(c: u8) -> Checked<TrafficClass> {
    match c {
        MESHSEAL_CLASS_TELEMETRY => Ok(TrafficClass::Telemetry),
        MESHSEAL_CLASS_ACTUATION => Ok(TrafficClass::Actuation),
        MESHSEAL_CLASS_CHALLENGED => Ok(TrafficClass::Challenged),
        _ => Err(MeshsealResult::BadArgument),
    }
}

fn binding(b: Binding) -> u8 {
    match b {
        Binding::None => MESHSEAL_BINDING_NONE,
        Binding::Response => MESHSEAL_BINDING_RESPONSE,
        Binding::Echo => MESHSEAL_BINDING_ECHO,
        Binding::Challenge => MESHSEAL_BINDING_CHALLENGE,
    }
}

fn source(s: Source) -> u8 {
    match s {
        Source::Group => MESHSEAL_SOURCE_GROUP,
        Source::Pairwise => MESHSEAL_SOURCE_PAIRWISE,
        Source::Signed => MESHSEAL_SOURCE_SIGNED,
    }
}

/// Where `inner` lies in `outer` (the core hands the plaintext out as a sub-slice).
fn offset_in(outer: *const u8, inner: &[u8]) -> size_t {
    (inner.as_ptr() as usize).wrapping_sub(outer as usize)
}

/// The C default of [`MeshsealOpen`]: the sender id read from the frame, telemetry, no
/// request, no source keys, as [`meshseal_open`] with `MESHSEAL_CLASS_TELEMETRY` opens.
#[no_mangle]
pub extern "C" fn meshseal_open_options_default() -> MeshsealOpen {
    MeshsealOpen {
        has_link_sender: 0,
        traffic_class: MESHSEAL_CLASS_TELEMETRY,
        has_request: 0,
        require_source: 0,
        link_sender: 0,
        request: MeshsealFrameId::default(),
        source_keys: core::ptr::null(),
        source_keys_len: 0,
    }
}

/// The caller's table of peer keys, as the core asks for them: the keys of the sender a frame
/// names are expanded when the frame turns out to need them, once.
struct PeerKeys<'a> {
    peers: &'a [MeshsealPeerKeys],
    pairwise: OnceCell<Option<(u32, GroupKeys)>>,
    #[cfg(feature = "signed")]
    verifying: OnceCell<Option<(u32, meshseal::source::VerifyingKey)>>,
}

impl<'a> PeerKeys<'a> {
    /// Checks the table's flags; a verifying key needs the feature `signed`.
    fn new(peers: &'a [MeshsealPeerKeys]) -> Checked<Self> {
        for p in peers {
            flag(p.has_pairwise)?;
            if flag(p.has_verifying_key)? && !cfg!(feature = "signed") {
                return Err(MeshsealResult::Unsupported);
            }
        }
        Ok(PeerKeys {
            peers,
            pairwise: OnceCell::new(),
            #[cfg(feature = "signed")]
            verifying: OnceCell::new(),
        })
    }

    fn peer(&self, sender: u32) -> Option<&'a MeshsealPeerKeys> {
        self.peers.iter().find(|p| p.peer == sender)
    }
}

/// The source keys an open is given: none, or a table of peers (whose key schedules then live
/// in the frame of [`with_peer_keys`], not on the stack of every open).
struct Sources<'a>(Option<&'a PeerKeys<'a>>);

// The core asks for the keys of one sender per frame; were it to ask for another, the cache
// holds none for it, and the frame is refused (`UNKNOWN_KEY`), never accepted.
impl SourceKeys for Sources<'_> {
    fn pairwise(&self, sender: u32) -> Option<&GroupKeys> {
        let keys = self.0?;
        let cached = keys.pairwise.get_or_init(|| {
            let p = keys.peer(sender).filter(|p| p.has_pairwise == 1)?;
            Some((sender, core_keys(&p.pairwise)))
        });
        cached
            .as_ref()
            .filter(|(s, _)| *s == sender)
            .map(|(_, k)| k)
    }

    #[cfg(feature = "signed")]
    fn verifying_key(&self, sender: u32) -> Option<&meshseal::source::VerifyingKey> {
        let keys = self.0?;
        let cached = keys.verifying.get_or_init(|| {
            let p = keys.peer(sender).filter(|p| p.has_verifying_key == 1)?;
            let key = meshseal::source::VerifyingKey::from_bytes(&p.verifying_key).ok()?;
            Some((sender, key))
        });
        cached
            .as_ref()
            .filter(|(s, _)| *s == sender)
            .map(|(_, k)| k)
    }
}

/// Runs `open` with the keys of `peers` (checked first), in a frame of its own.
#[inline(never)]
fn with_peer_keys(
    peers: &[MeshsealPeerKeys],
    open: impl FnOnce(&Sources<'_>) -> Checked<()>,
) -> Checked<()> {
    let keys = PeerKeys::new(peers)?;
    open(&Sources(Some(&keys)))
}

/// Opens `frame` (`frame_len` bytes) in place as `*opts` says (NULL: the defaults, as
/// [`meshseal_open_options_default`]). The one open call with every option: a sender id from
/// the link layer, the traffic class, the request a response must answer, peers' source keys
/// and whether a source is required. On success `*out` describes the frame and the plaintext
/// is inside `frame`; on any refusal the result names the reason and nothing is released (the
/// ciphertext is wiped when the tag fails). Invalid options are refused as `BAD_ARGUMENT` (or
/// `UNSUPPORTED` for a verifying key in a build without the feature `signed`) before the frame
/// is looked at.
///
/// # Safety
/// As for [`meshseal_open`]; `opts` is null or points to a readable `MeshsealOpen` whose
/// `source_keys` addresses `source_keys_len` readable entries (null when 0) not overlapping
/// `frame`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_with(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
    opts: *const MeshsealOpen,
    out: *mut MeshsealOpened,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let o = unsafe { raw::copy_or(opts, meshseal_open_options_default())? };
        let link_sender = flag(o.has_link_sender)?.then_some(o.link_sender);
        let class = class(o.traffic_class)?;
        let request = flag(o.has_request)?.then_some(frame_id(o.request));
        let require_source = flag(o.require_source)?;
        // SAFETY: forwarded from this function's contract.
        let peers = unsafe { raw::slice(o.source_keys, o.source_keys_len)? };
        raw::disjoint(
            peers.as_ptr().cast(),
            core::mem::size_of_val(peers),
            frame,
            frame_len,
        )?;
        let open = |keys: &Sources<'_>| {
            let how = Open {
                sender: link_sender,
                class,
                request,
                keys,
                require_source,
            };
            // SAFETY: forwarded from this function's contract; the key table was checked not
            // to overlap the frame.
            let (rx, buf) = unsafe {
                (
                    context::<RecipientImpl, _>(rx)?,
                    bytes_mut(frame, frame_len)?,
                )
            };
            raw::check_out(out)?;
            let opened = rx.open_with(buf, &how)?;
            let info = MeshsealOpened {
                sender: opened.sender,
                seq: opened.seq,
                epoch: opened.epoch,
                freshness: match opened.freshness {
                    Freshness::Fresh => MESHSEAL_FRESHNESS_FRESH,
                    _ => MESHSEAL_FRESHNESS_UNKNOWN,
                },
                binding: binding(opened.binding),
                fragment_index: opened.fragment.map_or(0, |f| f.index),
                fragment_count: opened.fragment.map_or(0, |f| f.count),
                has_time: u8::from(opened.time.is_some()),
                late: u8::from(opened.late),
                time: opened.time.unwrap_or(0),
                source: source(opened.source),
                has_repeat: u8::from(opened.repeat.is_some()),
                repeat_copies: opened.repeat.map_or(0, |r| r.copies),
                repeat_window: opened.repeat.map_or(0, |r| r.window),
                gap: opened.gap,
                payload_offset: offset_in(frame, opened.payload),
                payload_len: opened.payload.len(),
            };
            // SAFETY: forwarded from this function's contract.
            unsafe { put(out, info) }
        };
        if peers.is_empty() {
            open(&Sources(None))
        } else {
            with_peer_keys(peers, open)
        }
    })
}

/// Opens a frame that carries its sender id, in place, under traffic class `class`
/// (`MESHSEAL_CLASS_*`): [`meshseal_open_with`] with `traffic_class` set. On success `*out`
/// describes it and the plaintext is inside `frame`; on any refusal the result names the
/// reason and nothing is released (the ciphertext is wiped when the tag fails).
///
/// # Safety
/// `rx` points to an initialized recipient; `frame` to `frame_len` writable bytes; `out` to a
/// writable `MeshsealOpened`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_open(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
    class: u8,
    out: *mut MeshsealOpened,
) -> MeshsealResult {
    let opts = MeshsealOpen {
        traffic_class: class,
        ..meshseal_open_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without keys.
    unsafe { meshseal_open_with(rx, frame, frame_len, &opts, out) }
}

/// Like [`meshseal_open`] for a frame whose sender id the link layer supplies:
/// [`meshseal_open_with`] with `has_link_sender`.
///
/// # Safety
/// As for [`meshseal_open`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_from(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
    sender: u32,
    class: u8,
    out: *mut MeshsealOpened,
) -> MeshsealResult {
    let opts = MeshsealOpen {
        has_link_sender: 1,
        link_sender: sender,
        traffic_class: class,
        ..meshseal_open_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without keys.
    unsafe { meshseal_open_with(rx, frame, frame_len, &opts, out) }
}

/// Opens a response (or challenge) to this member's request `(req_sender, req_seq)`; anything
/// else is refused: [`meshseal_open_with`] with `has_request`.
///
/// # Safety
/// As for [`meshseal_open`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_response(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
    req_sender: u32,
    req_seq: u64,
    out: *mut MeshsealOpened,
) -> MeshsealResult {
    let opts = MeshsealOpen {
        has_request: 1,
        request: MeshsealFrameId {
            sender: req_sender,
            seq: req_seq,
        },
        ..meshseal_open_options_default()
    };
    // SAFETY: forwarded from this function's contract; `opts` is a local without keys.
    unsafe { meshseal_open_with(rx, frame, frame_len, &opts, out) }
}

/// Verifies and decrypts a frame in place WITHOUT replay state (diagnostics and test vectors
/// only; a receiver must use [`meshseal_open`]): the truncated number is reconstructed near
/// `expected`; `link_sender` is used when `implicit` is nonzero; `bound_sender`/`bound_seq` name
/// the frame a response, challenge or echo is bound to when `has_bound` is nonzero. Fills
/// `sender`, `seq`, `payload_offset` and `payload_len` of `*out`.
///
/// # Safety
/// As for [`meshseal_open`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_verify_stateless(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
    implicit: u8,
    link_sender: u32,
    expected: u64,
    has_bound: u8,
    bound_sender: u32,
    bound_seq: u64,
    out: *mut MeshsealOpened,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let (rx, buf) = unsafe {
            (
                context::<RecipientImpl, _>(rx)?,
                bytes_mut(frame, frame_len)?,
            )
        };
        raw::check_out(out)?;
        let (mode, link) = if implicit != 0 {
            (SenderIdMode::Implicit, Some(link_sender))
        } else {
            (SenderIdMode::Explicit, None)
        };
        let bound = (has_bound != 0).then_some(FrameId {
            sender: bound_sender,
            seq: bound_seq,
        });
        let v = meshseal::context::open_stateless(rx.keys(), buf, mode, link, expected, bound)?;
        let info = MeshsealOpened {
            sender: v.sender,
            seq: v.seq,
            epoch: rx.keys().epoch(),
            freshness: MESHSEAL_FRESHNESS_UNKNOWN,
            payload_offset: offset_in(frame, v.payload),
            payload_len: v.payload.len(),
            ..MeshsealOpened::default()
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out, info) }
    })
}

/// The last frame refused as `STALE` (to answer with a challenge): writes its id, or returns
/// `NOT_FOUND` when there is none.
///
/// # Safety
/// `rx` points to an initialized recipient; `sender` and `seq` to writable values.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_last_stale(
    rx: *mut MeshsealRecipient,
    sender: *mut u32,
    seq: *mut u64,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        let id = rx.last_stale().ok_or(MeshsealResult::NotFound)?;
        // SAFETY: forwarded from this function's contract.
        unsafe {
            put(sender, id.sender)?;
            put(seq, id.seq)
        }
    })
}

/// Answers the request `(req_sender, req_seq)` with a challenge sealed by `tx` (this member's
/// sender) and remembers it, so that the requester's echo is accepted as fresh. `now` is any
/// monotonic time the caller keeps.
///
/// # Safety
/// `rx` and `tx` point to initialized contexts; `out`, `out_cap`, `out_len` as for
/// [`meshseal_seal`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_issue_challenge(
    rx: *mut MeshsealRecipient,
    tx: *mut MeshsealSender,
    req_sender: u32,
    req_seq: u64,
    now: u64,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    // SAFETY: forwarded from this function's contract.
    let _ = unsafe { put(out_len, 0) };
    run(|| {
        // SAFETY: forwarded from this function's contract; a sender and a recipient never
        // share storage (their blocks have different magic words).
        let (rx, tx, buf) = unsafe {
            (
                context::<RecipientImpl, _>(rx)?,
                context::<SenderImpl, _>(tx)?,
                bytes_mut(out, out_cap)?,
            )
        };
        raw::check_out(out_len)?;
        let request = FrameId {
            sender: req_sender,
            seq: req_seq,
        };
        let n = rx.issue_challenge(tx, request, now, buf)?;
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out_len, n) }
    })
}

/// Copies the recipient's counters into `*out`.
///
/// # Safety
/// `rx` points to an initialized recipient; `out` to a writable `MeshsealStats`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_stats(
    rx: *mut MeshsealRecipient,
    out: *mut MeshsealStats,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let s = unsafe { context::<RecipientImpl, _>(rx)? }.stats();
        let mut refused = [0u64; MESHSEAL_REASONS];
        for e in Error::ALL {
            refused[e.index()] = s.refused(e);
        }
        let stats = MeshsealStats {
            accepted: s.accepted,
            unknown_freshness: s.unknown_freshness,
            gaps: s.gaps,
            late: s.late,
            missing: s.missing(),
            evicted: s.evicted,
            refused_total: s.refused_total(),
            refused,
        };
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out, stats) }
    })
}

#[cfg(all(target_os = "none", feature = "panic-halt"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contexts_fit_their_blocks() {
        std::println!(
            "sender {} / {}, recipient {} / {}, peer {}",
            meshseal_sender_size(),
            core::mem::size_of::<MeshsealSender>(),
            meshseal_recipient_size(),
            core::mem::size_of::<MeshsealRecipient>(),
            meshseal_peer_size()
        );
        assert!(meshseal_sender_size() <= core::mem::size_of::<MeshsealSender>());
        assert!(meshseal_recipient_size() <= core::mem::size_of::<MeshsealRecipient>());
    }

    /// A counter "flash" for the callbacks: `None` until something is stored.
    struct Flash(Option<u64>);

    unsafe extern "C" fn load(user: *mut c_void, limit: *mut u64) -> i32 {
        // SAFETY: the tests pass a `Flash` as `user` and the library a valid `limit`.
        let (f, limit) = unsafe { (&*user.cast::<Flash>(), &mut *limit) };
        f.0.map_or(0, |l| {
            *limit = l;
            1
        })
    }

    unsafe extern "C" fn store(user: *mut c_void, limit: u64) -> i32 {
        // SAFETY: the tests pass a `Flash` as `user`.
        unsafe { (*user.cast::<Flash>()).0 = Some(limit) };
        0
    }

    #[test]
    fn only_provisioning_starts_from_an_empty_store() {
        let keys = MeshsealKeys {
            key: [7; MESHSEAL_KEY_LEN],
            iv: [9; MESHSEAL_IV_LEN],
            group_id: 1,
            epoch: 0,
        };
        let mut cfg = meshseal_sender_config_default(3);
        cfg.reservation_block = 4;
        let mut flash = Flash(None);
        let user = core::ptr::addr_of_mut!(flash).cast::<c_void>();
        let mut block = MeshsealSender {
            opaque: [0; MESHSEAL_SENDER_WORDS],
        };
        let tx = core::ptr::addr_of_mut!(block);
        let (mut next, mut frame, mut n) = (u64::MAX, [0u8; 32], 0);
        // SAFETY: every pointer addresses a live local; the callbacks follow
        // their contracts with `user` pointing to `flash`.
        unsafe {
            let init = |boot: Boot| {
                run(|| sender_init(tx, &keys, &cfg, Some(load), Some(store), user, boot))
            };
            assert_eq!(init(Boot::Resume), MeshsealResult::NoCounterRecord);
            assert!(flash.0.is_none(), "a refused init wrote a record");
            assert_eq!(
                meshseal_sender_counter(tx, &mut next, core::ptr::null_mut()),
                MeshsealResult::NotInitialized
            );
            assert_eq!(init(Boot::Provision), MeshsealResult::Ok);
            assert_eq!(flash.0, Some(0), "provisioning stores a first record");
            for _ in 0..2 {
                let r = meshseal_seal(tx, b"x".as_ptr(), 1, frame.as_mut_ptr(), 32, &mut n);
                assert_eq!(r, MeshsealResult::Ok);
            }
            assert_eq!(flash.0, Some(4));
            // Reboot, and provisioning again by mistake: both resume after the reservation.
            for boot in [Boot::Resume, Boot::Provision] {
                assert_eq!(init(boot), MeshsealResult::Ok);
                meshseal_sender_counter(tx, &mut next, core::ptr::null_mut());
                assert_eq!(next, 4);
            }
            assert_eq!(meshseal_sender_clear(tx), MeshsealResult::Ok);
        }
    }

    use std::boxed::Box;
    use std::vec::Vec;

    fn group_keys(epoch: u16) -> MeshsealKeys {
        MeshsealKeys {
            key: [7; MESHSEAL_KEY_LEN],
            iv: [9; MESHSEAL_IV_LEN],
            group_id: 1,
            epoch,
        }
    }

    /// A member of group 1 (ids 1..=9): a provisioned sender and a recipient in boxed blocks.
    struct Member {
        tx: Box<MeshsealSender>,
        rx: Box<MeshsealRecipient>,
        flash: Box<Flash>,
    }

    impl Member {
        fn new(id: u32) -> Self {
            let mut m = Member {
                tx: Box::new(MeshsealSender {
                    opaque: [0; MESHSEAL_SENDER_WORDS],
                }),
                rx: Box::new(MeshsealRecipient {
                    opaque: [0; MESHSEAL_RECIPIENT_WORDS],
                }),
                flash: Box::new(Flash(None)),
            };
            let (keys, cfg) = (group_keys(0), meshseal_sender_config_default(id));
            let mut rcfg = meshseal_recipient_config_default(1, 9);
            rcfg.has_own_id = 1;
            rcfg.own_id = id;
            let user = core::ptr::addr_of_mut!(*m.flash).cast::<c_void>();
            // SAFETY: the boxed blocks and flash live as long as the member, which clears the
            // contexts before they go.
            unsafe {
                let r = run(|| {
                    sender_init(
                        m.tx(),
                        &keys,
                        &cfg,
                        Some(load),
                        Some(store),
                        user,
                        Boot::Provision,
                    )
                });
                assert_eq!(r, MeshsealResult::Ok);
                assert_eq!(
                    meshseal_recipient_init(m.rx(), &keys, &rcfg),
                    MeshsealResult::Ok
                );
            }
            m
        }

        fn tx(&mut self) -> *mut MeshsealSender {
            &mut *self.tx
        }

        fn rx(&mut self) -> *mut MeshsealRecipient {
            &mut *self.rx
        }

        fn next(&mut self) -> u64 {
            let mut next = u64::MAX;
            // SAFETY: an initialized sender and a local.
            unsafe { meshseal_sender_counter(self.tx(), &mut next, core::ptr::null_mut()) };
            next
        }

        fn seal(&mut self, payload: &[u8], opts: *const MeshsealSeal) -> Checked<Vec<u8>> {
            let (mut out, mut n) = ([0u8; 256], usize::MAX);
            // SAFETY: an initialized sender, live buffers; `opts` is null or a live local.
            let r = unsafe {
                meshseal_seal_with(
                    self.tx(),
                    payload.as_ptr(),
                    payload.len(),
                    opts,
                    out.as_mut_ptr(),
                    out.len(),
                    &mut n,
                )
            };
            match r {
                MeshsealResult::Ok => Ok(out[..n].to_vec()),
                e => {
                    assert_eq!(n, 0, "a refused seal reported a frame");
                    Err(e)
                }
            }
        }

        fn open(
            &mut self,
            frame: &[u8],
            opts: *const MeshsealOpen,
        ) -> Checked<(MeshsealOpened, Vec<u8>)> {
            let mut buf = frame.to_vec();
            let mut o = MeshsealOpened::default();
            // SAFETY: an initialized recipient, a live buffer; `opts` is null or a live local
            // whose key table does not overlap `buf`.
            let r =
                unsafe { meshseal_open_with(self.rx(), buf.as_mut_ptr(), buf.len(), opts, &mut o) };
            match r {
                MeshsealResult::Ok => {
                    let payload = buf[o.payload_offset..][..o.payload_len].to_vec();
                    Ok((o, payload))
                }
                e => Err(e),
            }
        }
    }

    impl Drop for Member {
        fn drop(&mut self) {
            // SAFETY: contexts this member initialized.
            unsafe {
                meshseal_sender_clear(self.tx());
                meshseal_recipient_clear(self.rx());
            }
        }
    }

    #[test]
    fn the_opened_fields_keep_their_offsets() {
        use core::mem::{offset_of, size_of};
        // Fields added to `MeshsealOpened` went into padding: code built against the earlier
        // header reads the same offsets.
        let old = [
            offset_of!(MeshsealOpened, sender),
            offset_of!(MeshsealOpened, seq),
            offset_of!(MeshsealOpened, epoch),
            offset_of!(MeshsealOpened, freshness),
            offset_of!(MeshsealOpened, binding),
            offset_of!(MeshsealOpened, fragment_index),
            offset_of!(MeshsealOpened, fragment_count),
            offset_of!(MeshsealOpened, has_time),
            offset_of!(MeshsealOpened, late),
            offset_of!(MeshsealOpened, time),
            offset_of!(MeshsealOpened, gap),
            offset_of!(MeshsealOpened, payload_offset),
        ];
        let w = size_of::<size_t>();
        assert_eq!(old, [0, 8, 16, 18, 19, 20, 21, 22, 23, 24, 32, 40]);
        assert_eq!(offset_of!(MeshsealOpened, payload_len), 40 + w);
        assert_eq!(size_of::<MeshsealOpened>(), if w == 8 { 56 } else { 48 });
        assert_eq!(offset_of!(MeshsealOpened, repeat_window), 29);
    }

    #[test]
    fn the_existing_calls_seal_what_the_options_call_seals() {
        let (mut a, mut b) = (Member::new(1), Member::new(1));
        let payload = b"lamp on";
        let id = MeshsealFrameId { sender: 4, seq: 77 };
        let (mut out, mut n) = ([0u8; 64], 0usize);
        let d = meshseal_seal_options_default();
        let cases: [(&str, MeshsealSeal); 4] = [
            ("plain", d),
            (
                "timed",
                MeshsealSeal {
                    has_time: 1,
                    time: 513,
                    ..d
                },
            ),
            (
                "response",
                MeshsealSeal {
                    binding: MESHSEAL_BINDING_RESPONSE,
                    bound: id,
                    ..d
                },
            ),
            (
                "echo",
                MeshsealSeal {
                    binding: MESHSEAL_BINDING_ECHO,
                    bound: id,
                    ..d
                },
            ),
        ];
        for (kind, opts) in cases {
            let (p, l, o, c) = (payload.as_ptr(), payload.len(), out.as_mut_ptr(), out.len());
            let tx = a.tx();
            // SAFETY: an initialized sender and live buffers.
            let r = unsafe {
                match kind {
                    "plain" => meshseal_seal(tx, p, l, o, c, &mut n),
                    "timed" => meshseal_seal_timed(tx, p, l, 513, o, c, &mut n),
                    "response" => meshseal_seal_response(tx, p, l, id.sender, id.seq, o, c, &mut n),
                    _ => meshseal_seal_echo(tx, p, l, id.sender, id.seq, o, c, &mut n),
                }
            };
            assert_eq!(r, MeshsealResult::Ok, "{kind}");
            let with = b.seal(payload, &opts).unwrap();
            assert_eq!(out[..n], with[..], "{kind}");
        }
        // NULL options are the defaults.
        let (x, y) = (a.seal(payload, core::ptr::null()), b.seal(payload, &d));
        assert_eq!(x.unwrap(), y.unwrap());
    }

    #[test]
    fn invalid_options_are_refused_before_a_number_is_used() {
        let (mut tx, mut rx) = (Member::new(1), Member::new(2));
        let d = meshseal_seal_options_default();
        let bad_seals = [
            MeshsealSeal { source: 3, ..d },
            MeshsealSeal { source: 0xff, ..d },
            MeshsealSeal {
                binding: MESHSEAL_BINDING_CHALLENGE,
                ..d
            },
            MeshsealSeal { binding: 9, ..d },
            MeshsealSeal { has_time: 2, ..d },
            MeshsealSeal {
                has_repeat: 0x80,
                ..d
            },
        ];
        for opts in bad_seals {
            assert_eq!(tx.seal(b"x", &opts), Err(MeshsealResult::BadArgument));
        }
        let pairwise_without_keys = MeshsealSeal {
            source: MESHSEAL_SOURCE_PAIRWISE,
            ..d
        };
        assert_eq!(
            tx.seal(b"x", &pairwise_without_keys),
            Err(MeshsealResult::NullPointer)
        );
        let no_copies = MeshsealSeal {
            has_repeat: 1,
            repeat_copies: 0,
            ..d
        };
        assert_eq!(
            tx.seal(b"x", &no_copies),
            Err(MeshsealResult::InvalidConfig)
        );
        assert_eq!(tx.next(), 0, "a refused seal used a number");

        let frame = tx.seal(b"x", core::ptr::null()).unwrap();
        let o = meshseal_open_options_default();
        let bad_opens = [
            MeshsealOpen {
                traffic_class: 3,
                ..o
            },
            MeshsealOpen {
                has_link_sender: 2,
                ..o
            },
            MeshsealOpen {
                has_request: 7,
                ..o
            },
            MeshsealOpen {
                require_source: 2,
                ..o
            },
            MeshsealOpen {
                source_keys_len: 1,
                ..o
            },
        ];
        let expected = [
            MeshsealResult::BadArgument,
            MeshsealResult::BadArgument,
            MeshsealResult::BadArgument,
            MeshsealResult::BadArgument,
            MeshsealResult::NullPointer,
        ];
        for (opts, want) in bad_opens.iter().zip(expected) {
            assert_eq!(rx.open(&frame, opts).err(), Some(want));
        }
        let mut peer = MeshsealPeerKeys {
            peer: 1,
            has_pairwise: 2,
            has_verifying_key: 0,
            pairwise: group_keys(0),
            verifying_key: [0; MESHSEAL_ED25519_KEY_LEN],
        };
        let with_table = MeshsealOpen {
            source_keys: &peer,
            source_keys_len: 1,
            ..o
        };
        assert_eq!(
            rx.open(&frame, &with_table).err(),
            Some(MeshsealResult::BadArgument)
        );
        peer.has_pairwise = 0;
        peer.has_verifying_key = 1;
        let with_table = MeshsealOpen {
            source_keys: &peer,
            source_keys_len: 1,
            ..o
        };
        let vk = if cfg!(feature = "signed") {
            None
        } else {
            Some(MeshsealResult::Unsupported)
        };
        assert_eq!(rx.open(&frame, &with_table).err(), vk);
        // SAFETY: an initialized recipient.
        let stats = unsafe {
            let mut st = core::mem::MaybeUninit::<MeshsealStats>::uninit();
            assert_eq!(
                meshseal_recipient_stats(rx.rx(), st.as_mut_ptr()),
                MeshsealResult::Ok
            );
            st.assume_init()
        };
        // Refused options never reached the core: the frame was judged only once.
        let judged = stats.accepted + stats.refused_total;
        assert_eq!(judged, u64::from(vk.is_none()));
        if vk.is_some() {
            let (opened, payload) = rx.open(&frame, core::ptr::null()).unwrap();
            assert_eq!((opened.seq, &payload[..]), (0, &b"x"[..]));
        }
    }

    #[test]
    fn timed_repeated_frames_are_fresh_once_and_then_duplicates() {
        let (mut tx, mut rx) = (Member::new(1), Member::new(2));
        // SAFETY: an initialized recipient.
        unsafe { meshseal_recipient_set_clock(rx.rx(), 100, 10) };
        let opts = MeshsealSeal {
            has_time: 1,
            time: 100,
            has_repeat: 1,
            repeat_copies: 3,
            repeat_window: 5,
            ..meshseal_seal_options_default()
        };
        let frame = tx.seal(b"open valve", &opts).unwrap();
        let how = MeshsealOpen {
            traffic_class: MESHSEAL_CLASS_ACTUATION,
            ..meshseal_open_options_default()
        };
        let (o, payload) = rx.open(&frame, &how).unwrap();
        assert_eq!(payload, b"open valve");
        assert_eq!(o.freshness, MESHSEAL_FRESHNESS_FRESH);
        assert_eq!((o.has_time, o.time), (1, 100));
        assert_eq!((o.has_repeat, o.repeat_copies, o.repeat_window), (1, 3, 5));
        assert_eq!(o.source, MESHSEAL_SOURCE_GROUP);
        assert_eq!(rx.open(&frame, &how).err(), Some(MeshsealResult::Duplicate));
    }

    #[test]
    fn pairwise_frames_need_their_keys_and_required_sources_refuse_group_frames() {
        let (mut tx, mut rx) = (Member::new(1), Member::new(2));
        let pair = MeshsealKeys {
            key: [0x51; MESHSEAL_KEY_LEN],
            ..group_keys(0)
        };
        let opts = MeshsealSeal {
            source: MESHSEAL_SOURCE_PAIRWISE,
            pairwise_keys: &pair,
            ..meshseal_seal_options_default()
        };
        let frame = tx.seal(b"pin=4711", &opts).unwrap();
        let o = meshseal_open_options_default();
        assert_eq!(rx.open(&frame, &o).err(), Some(MeshsealResult::UnknownKey));
        let peers = [
            MeshsealPeerKeys {
                peer: 3,
                has_pairwise: 1,
                has_verifying_key: 0,
                pairwise: group_keys(0),
                verifying_key: [0; MESHSEAL_ED25519_KEY_LEN],
            },
            MeshsealPeerKeys {
                peer: 1,
                has_pairwise: 1,
                has_verifying_key: 0,
                pairwise: pair,
                verifying_key: [0; MESHSEAL_ED25519_KEY_LEN],
            },
        ];
        let how = MeshsealOpen {
            require_source: 1,
            source_keys: peers.as_ptr(),
            source_keys_len: peers.len(),
            ..o
        };
        let (opened, payload) = rx.open(&frame, &how).unwrap();
        assert_eq!(
            (opened.source, &payload[..]),
            (MESHSEAL_SOURCE_PAIRWISE, &b"pin=4711"[..])
        );
        let group = tx.seal(b"hello", core::ptr::null()).unwrap();
        assert_eq!(
            rx.open(&group, &how).err(),
            Some(MeshsealResult::Unauthenticated)
        );
        let (opened, _) = rx
            .open(
                &group,
                &MeshsealOpen {
                    require_source: 0,
                    ..how
                },
            )
            .unwrap();
        assert_eq!(opened.source, MESHSEAL_SOURCE_GROUP);
        // Pairwise keys of another epoch are refused before a number is used.
        let next = tx.next();
        let stale_pair = group_keys(1);
        let opts = MeshsealSeal {
            pairwise_keys: &stale_pair,
            ..opts
        };
        assert_eq!(tx.seal(b"x", &opts), Err(MeshsealResult::InvalidConfig));
        assert_eq!(tx.next(), next);
    }

    #[cfg(not(feature = "signed"))]
    #[test]
    fn signed_frames_are_unsupported_without_the_feature() {
        let mut tx = Member::new(1);
        let seed = [3u8; MESHSEAL_ED25519_KEY_LEN];
        let opts = MeshsealSeal {
            source: MESHSEAL_SOURCE_SIGNED,
            signing_key: seed.as_ptr(),
            ..meshseal_seal_options_default()
        };
        assert_eq!(tx.seal(b"x", &opts), Err(MeshsealResult::Unsupported));
        assert_eq!(tx.next(), 0);
    }

    #[cfg(feature = "signed")]
    #[test]
    fn signed_frames_verify_against_the_peers_key() {
        let (mut tx, mut rx) = (Member::new(1), Member::new(2));
        let seed = [3u8; MESHSEAL_ED25519_KEY_LEN];
        let vk = meshseal::source::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes();
        let opts = MeshsealSeal {
            source: MESHSEAL_SOURCE_SIGNED,
            signing_key: seed.as_ptr(),
            ..meshseal_seal_options_default()
        };
        let frame = tx.seal(b"unlock", &opts).unwrap();
        let mut peer = MeshsealPeerKeys {
            peer: 1,
            has_pairwise: 0,
            has_verifying_key: 1,
            pairwise: group_keys(0),
            verifying_key: [0x55; MESHSEAL_ED25519_KEY_LEN],
        };
        let other = meshseal::source::SigningKey::from_bytes(&[4; 32]).verifying_key();
        peer.verifying_key = other.to_bytes();
        let how = MeshsealOpen {
            require_source: 1,
            source_keys: &peer,
            source_keys_len: 1,
            ..meshseal_open_options_default()
        };
        assert_eq!(
            rx.open(&frame, &how).err(),
            Some(MeshsealResult::BadSignature)
        );
        peer.verifying_key = vk;
        let how = MeshsealOpen {
            source_keys: &peer,
            ..how
        };
        let (opened, payload) = rx.open(&frame, &how).unwrap();
        assert_eq!(
            (opened.source, &payload[..]),
            (MESHSEAL_SOURCE_SIGNED, &b"unlock"[..])
        );
    }
}
