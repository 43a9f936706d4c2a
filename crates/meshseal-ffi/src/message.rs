//! Messages longer than one frame through the C API: [`meshseal_seal_message`] splits a
//! message into up to 16 fragments, each a complete frame handed to the caller's emit
//! callback; [`meshseal_open_message`] opens any frame and, with a reassembler context the
//! caller owns ([`MeshsealReassembler`]), delivers a fragmented message only once every
//! fragment verified, all or nothing, into the caller's buffer.

use core::ffi::c_void;

use meshseal::fragment::Reassembler;
use meshseal::{Binding, Fragment, Freshness, Opened, Source};

use crate::raw::{self, bytes, bytes_mut, context, context_init, put};
use crate::{
    meshseal_open_with, run, size_t, MeshsealOpen, MeshsealOpened, MeshsealRecipient,
    MeshsealResult, MeshsealSender, SenderImpl, MESHSEAL_FRESHNESS_FRESH,
};

/// Messages a reassembler holds in reassembly at once (the oldest is discarded beyond).
pub const MESHSEAL_REASSEMBLY_SLOTS: usize = 2;
/// Longest message a reassembler delivers, in bytes.
pub const MESHSEAL_MESSAGE_MAX: usize = 1024;

type ReassemblerImpl = Reassembler<MESHSEAL_REASSEMBLY_SLOTS, MESHSEAL_MESSAGE_MAX>;

/// Words of storage in a [`MeshsealReassembler`].
pub const MESHSEAL_REASSEMBLER_WORDS: usize = 288;

/// Storage for a reassembler: declare one and initialize it with
/// [`meshseal_reassembler_init`]. Its contents are private.
#[repr(C, align(16))]
pub struct MeshsealReassembler {
    pub(crate) opaque: [u64; MESHSEAL_REASSEMBLER_WORDS],
}

impl MeshsealReassembler {
    /// An uninitialized block (all zeros), for Rust code that hosts contexts.
    pub const fn zeroed() -> Self {
        MeshsealReassembler {
            opaque: [0; MESHSEAL_REASSEMBLER_WORDS],
        }
    }
}

impl raw::Block for MeshsealReassembler {
    const MAGIC: u32 = 0x4d53_524d; // "MSRM"
}
raw::fits!(ReassemblerImpl, MeshsealReassembler);

/// Emits one frame of a message (to the radio, or a queue): `frame` holds `len` bytes, valid
/// during the call only.
pub type MeshsealEmitFn =
    Option<unsafe extern "C" fn(user: *mut c_void, frame: *const u8, len: size_t)>;

/// Seals `message` (`len` bytes) as one frame when it fits `mtu` bytes, else as up to 16
/// fragments of at most `mtu` bytes, calling `emit` for each in order; `*frames` (may be NULL)
/// gets their number. `scratch` (`scratch_len` ≥ `mtu` bytes) holds each frame while it is
/// emitted. A message that needs more than 16 fragments is refused (`PAYLOAD_TOO_LARGE`)
/// before any number is used.
///
/// # Safety
/// `tx` points to an initialized sender; `message` to `len` readable bytes; `scratch` to
/// `scratch_len` writable bytes not overlapping `message`; `frames` is null or writable; `emit`
/// must not call back into the library with `tx`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_seal_message(
    tx: *mut MeshsealSender,
    message: *const u8,
    len: size_t,
    mtu: size_t,
    scratch: *mut u8,
    scratch_len: size_t,
    emit: MeshsealEmitFn,
    user: *mut c_void,
    frames: *mut size_t,
) -> MeshsealResult {
    run(|| {
        let emit = emit.ok_or(MeshsealResult::NullPointer)?;
        raw::disjoint(message, len, scratch, scratch_len)?;
        // SAFETY: forwarded from this function's contract; the buffers were checked disjoint.
        let (tx, message, scratch) = unsafe {
            (
                context::<SenderImpl, _>(tx)?,
                bytes(message, len)?,
                bytes_mut(scratch, scratch_len)?,
            )
        };
        let n = tx.seal_message(message, mtu, scratch, |frame| {
            // SAFETY: a registered, non-null callback with the documented signature; `frame`
            // is valid for `frame.len()` bytes during the call.
            unsafe { emit(user, frame.as_ptr(), frame.len()) }
        })?;
        if !frames.is_null() {
            // SAFETY: forwarded from this function's contract (non-null checked above).
            unsafe { put(frames, n)? };
        }
        Ok(())
    })
}

/// Initializes a reassembler in `r`: incomplete messages are discarded `timeout` after their
/// first fragment (in the unit of the `now` passed to [`meshseal_open_message`]).
///
/// # Safety
/// `r` points to writable, 16-byte aligned storage of `sizeof(MeshsealReassembler)` bytes.
#[no_mangle]
pub unsafe extern "C" fn meshseal_reassembler_init(
    r: *mut MeshsealReassembler,
    timeout: u64,
) -> MeshsealResult {
    run(|| {
        raw::check_slot::<ReassemblerImpl, _>(r)?;
        // SAFETY: checked non-null and aligned; the caller guarantees the storage.
        unsafe { context_init(r, ReassemblerImpl::new(timeout)) };
        Ok(())
    })
}

/// Drops a reassembler context, wiping the message parts it holds.
///
/// # Safety
/// `r` is null or points to storage passed to [`meshseal_reassembler_init`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_reassembler_clear(r: *mut MeshsealReassembler) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let re = unsafe { context::<ReassemblerImpl, _>(r)? };
        *re = ReassemblerImpl::new(0);
        // SAFETY: forwarded from this function's contract.
        unsafe { raw::context_clear::<ReassemblerImpl, _>(r) }
    })
}

/// Opens `frame` as [`meshseal_open_with`] does (same options, same refusals) and delivers
/// whole messages: a frame that is not a fragment is a message by itself; a fragment is kept
/// in `r` until every fragment of its message verified, and only then is the message copied
/// into `msg` (`msg_cap` bytes, at least [`MESHSEAL_MESSAGE_MAX`] and at least `frame_len`,
/// else `BUFFER_TOO_SMALL` before anything is opened). `*complete` is 1 when `msg` holds a message (`*msg_len`
/// bytes; `out->sender`, `out->freshness` describe it, fresh only if every fragment was, and
/// `out->seq` is its first fragment's number), 0
/// when a fragment was stored and nothing is delivered yet. A fragment that disagrees with its
/// message (`FRAGMENT_MISMATCH`) or overflows the reassembler (`MESSAGE_TOO_LARGE`) discards
/// the whole message.
///
/// # Safety
/// As for [`meshseal_open_with`]; `r` points to an initialized reassembler; `msg` to
/// `msg_cap` writable bytes not overlapping `frame`; `msg_len` and `complete` to writable
/// values.
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_message(
    rx: *mut MeshsealRecipient,
    r: *mut MeshsealReassembler,
    frame: *mut u8,
    frame_len: size_t,
    opts: *const MeshsealOpen,
    now: u64,
    out: *mut MeshsealOpened,
    msg: *mut u8,
    msg_cap: size_t,
    msg_len: *mut size_t,
    complete: *mut u8,
) -> MeshsealResult {
    run(|| {
        // Room for any message this call can deliver, checked before the frame is opened (an
        // accepted frame's number is taken: its message must not be lost for want of room).
        if msg_cap < MESHSEAL_MESSAGE_MAX.max(frame_len) {
            return Err(MeshsealResult::BufferTooSmall);
        }
        raw::disjoint(frame, frame_len, msg, msg_cap)?;
        raw::check_out(msg_len)?;
        raw::check_out(complete)?;
        // SAFETY: forwarded from this function's contract.
        let re = unsafe { context::<ReassemblerImpl, _>(r)? };
        // SAFETY: forwarded from this function's contract.
        let msg = unsafe { bytes_mut(msg, msg_cap)? };
        // SAFETY: forwarded from this function's contract.
        match unsafe { meshseal_open_with(rx, frame, frame_len, opts, out) } {
            MeshsealResult::Ok => {}
            e => return Err(e),
        }
        // SAFETY: written by the successful open; the payload lies inside `frame`.
        let (o, payload) = unsafe {
            let o = *out;
            let payload = bytes(frame.add(o.payload_offset).cast_const(), o.payload_len)?;
            (o, payload)
        };
        let delivered = if o.fragment_count == 0 {
            Some(payload)
        } else {
            let opened = Opened {
                sender: o.sender,
                seq: o.seq,
                epoch: o.epoch,
                freshness: if o.freshness == MESHSEAL_FRESHNESS_FRESH {
                    Freshness::Fresh
                } else {
                    Freshness::Unknown
                },
                binding: Binding::None,
                fragment: Some(Fragment {
                    index: o.fragment_index,
                    count: o.fragment_count,
                }),
                time: None,
                repeat: None,
                source: Source::Group,
                gap: 0,
                late: false,
                payload,
            };
            match re.push(&opened, now)? {
                Some(m) => {
                    // SAFETY: `out` was written by the open and is writable.
                    unsafe {
                        (*out).seq = m.first_seq;
                        (*out).freshness = match m.freshness {
                            Freshness::Fresh => MESHSEAL_FRESHNESS_FRESH,
                            _ => crate::MESHSEAL_FRESHNESS_UNKNOWN,
                        };
                    }
                    Some(m.payload)
                }
                None => None,
            }
        };
        let (len, done) = match delivered {
            Some(p) => {
                let dst = msg
                    .get_mut(..p.len())
                    .ok_or(MeshsealResult::MessageTooLarge)?;
                dst.copy_from_slice(p);
                (p.len(), 1)
            }
            None => (0, 0),
        };
        // SAFETY: checked non-null and aligned above; the caller guarantees them writable.
        unsafe {
            put(msg_len, len)?;
            put(complete, done)
        }
    })
}
