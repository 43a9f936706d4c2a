//! Sealing: the options of one seal, the seal calls (plain, response, timed, fragment,
//! challenge, echo) and the sender's queries (counter, frame length, confirmation).

use super::*;

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
    fn with<'k>(&self, source: SealSource<'k, Backend>) -> Seal<'k, Backend> {
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
    seal: impl FnOnce(&Seal<'_, Backend>) -> Checked<()>,
) -> Checked<()> {
    // SAFETY: forwarded from this function's contract.
    let keys = unsafe { core_keys(raw::in_ref(o.pairwise_keys)?)? };
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
    seal: impl FnOnce(&Seal<'_, Backend>) -> Checked<()>,
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
    _: impl FnOnce(&Seal<'_, Backend>) -> Checked<()>,
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

/// A whole seal call without options: [`sealing`] around [`seal_into`].
///
/// # Safety
/// The pointer arguments follow the contract of [`meshseal_seal`].
unsafe fn seal_call(
    tx: *mut MeshsealSender,
    payload: *const u8,
    payload_len: size_t,
    out: *mut u8,
    out_cap: size_t,
    out_len: *mut size_t,
    seal: impl FnOnce(&mut SenderImpl, &[u8], &mut [u8]) -> Result<usize, Error>,
) -> MeshsealResult {
    let call = || {
        // SAFETY: forwarded from this function's contract.
        unsafe { seal_into(tx, payload, payload_len, out, out_cap, out_len, seal) }
    };
    // SAFETY: forwarded from this function's contract.
    unsafe { sealing(out_len, call) }
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
        let seal = |how: &Seal<'_, Backend>| {
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
/// The frame [`meshseal_seal_with`] seals with NULL options, through the core's plain-frame
/// path: firmware that calls no other seal links none of the extension steps.
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
    // SAFETY: forwarded from this function's contract.
    unsafe {
        seal_call(
            tx,
            payload,
            payload_len,
            out,
            out_cap,
            out_len,
            |tx, p, buf| tx.seal(p, buf),
        )
    }
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
    // SAFETY: forwarded from this function's contract.
    unsafe {
        seal_call(
            tx,
            payload,
            payload_len,
            out,
            out_cap,
            out_len,
            |tx, p, buf| tx.seal_fragment(p, fragment, buf),
        )
    }
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
