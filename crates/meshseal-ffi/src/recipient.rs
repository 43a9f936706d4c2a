//! Opening and the recipient's state: provisioning senders, the clock, the options of one
//! open, stateless verification, challenges and statistics.

use super::*;

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
    pairwise: OnceCell<Option<(u32, GroupKeys<Backend>)>>,
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
impl SourceKeys<Backend> for Sources<'_> {
    fn pairwise(&self, sender: u32) -> Option<&GroupKeys<Backend>> {
        let keys = self.0?;
        let cached = keys.pairwise.get_or_init(|| {
            let p = keys.peer(sender).filter(|p| p.has_pairwise == 1)?;
            // SAFETY: the table's `aead` pointers are null or readable (the open's contract).
            Some((sender, unsafe { core_keys(&p.pairwise) }.ok()?))
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
            let info = opened_info(frame, &opened);
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

/// What `out` reports of an opened frame.
fn opened_info(frame: *const u8, opened: &meshseal::Opened<'_>) -> MeshsealOpened {
    MeshsealOpened {
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
    }
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

/// Opens a plain group frame (no extension byte) in place, judged exactly as [`meshseal_open`]
/// judges it under `MESHSEAL_CLASS_TELEMETRY`; any other frame (a response, challenge, echo,
/// timestamp, repeat, fragment, pairwise or signed frame) is refused as `MALFORMED`. The open
/// of a device that takes only plain frames: firmware that calls no other open links none of
/// the extension steps (`docs/footprint.md`).
///
/// # Safety
/// As for [`meshseal_open`].
#[no_mangle]
pub unsafe extern "C" fn meshseal_open_plain(
    rx: *mut MeshsealRecipient,
    frame: *mut u8,
    frame_len: size_t,
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
        let opened = rx.open_plain(buf)?;
        let info = opened_info(frame, &opened);
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out, info) }
    })
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

/// Copies the recipient's counters into `*out`; `UNSUPPORTED` in a build without the `stats`
/// feature.
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
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        #[cfg(not(feature = "stats"))]
        return {
            let _ = (rx, out);
            Err(MeshsealResult::Unsupported)
        };
        #[cfg(feature = "stats")]
        return {
            let s = rx.stats();
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
        };
    })
}
