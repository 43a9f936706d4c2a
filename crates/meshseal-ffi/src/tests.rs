//! Unit tests of the C API, called from Rust as C would call it: every entry point, its misuse
//! codes and its round trips.

mod backend;
mod epochs;
mod message;
mod state;

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
        privacy: 0,
        privacy_key: [0; MESHSEAL_KEY_LEN],
        aead: core::ptr::null(),
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
        let init =
            |boot: Boot| run(|| sender_init(tx, &keys, &cfg, Some(load), Some(store), user, boot));
        assert_eq!(init(Boot::RESUME), MeshsealResult::NoCounterRecord);
        assert!(flash.0.is_none(), "a refused init wrote a record");
        assert_eq!(
            meshseal_sender_counter(tx, &mut next, core::ptr::null_mut()),
            MeshsealResult::NotInitialized
        );
        assert_eq!(init(Boot::PROVISION), MeshsealResult::Ok);
        assert_eq!(flash.0, Some(0), "provisioning stores a first record");
        for _ in 0..2 {
            let r = meshseal_seal(tx, b"x".as_ptr(), 1, frame.as_mut_ptr(), 32, &mut n);
            assert_eq!(r, MeshsealResult::Ok);
        }
        assert_eq!(flash.0, Some(4));
        // Reboot, and provisioning again by mistake: both resume after the reservation.
        for boot in [Boot::RESUME, Boot::PROVISION] {
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
        privacy: 0,
        privacy_key: [0; MESHSEAL_KEY_LEN],
        aead: core::ptr::null(),
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
        Self::with_keys(id, group_keys(0))
    }

    /// A member whose sender and recipient use `keys` (whose `aead`, if set, outlives it).
    fn with_keys(id: u32, keys: MeshsealKeys) -> Self {
        let mut m = Member {
            tx: Box::new(MeshsealSender {
                opaque: [0; MESHSEAL_SENDER_WORDS],
            }),
            rx: Box::new(MeshsealRecipient {
                opaque: [0; MESHSEAL_RECIPIENT_WORDS],
            }),
            flash: Box::new(Flash(None)),
        };
        let cfg = meshseal_sender_config_default(id);
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
                    Boot::PROVISION,
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
        let r = unsafe { meshseal_open_with(self.rx(), buf.as_mut_ptr(), buf.len(), opts, &mut o) };
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

/// The recipient's counters: `None` in a build without the `stats` feature, where the call is
/// refused as `UNSUPPORTED` (checked here).
fn stats_of(m: &mut Member) -> Option<MeshsealStats> {
    let mut st = core::mem::MaybeUninit::<MeshsealStats>::uninit();
    // SAFETY: an initialized recipient and a local to write.
    let r = unsafe { meshseal_recipient_stats(m.rx(), st.as_mut_ptr()) };
    if cfg!(feature = "stats") {
        assert_eq!(r, MeshsealResult::Ok);
        // SAFETY: written in full by the call that returned OK.
        Some(unsafe { st.assume_init() })
    } else {
        assert_eq!(r, MeshsealResult::Unsupported);
        None
    }
}

/// What a later copy of an accepted repeated frame is refused as: a duplicate where repeats
/// are tracked, a replay (never delivered again either) in a build without `repeats`.
const LATER_COPY: MeshsealResult = if cfg!(feature = "repeats") {
    MeshsealResult::Duplicate
} else {
    MeshsealResult::Replay
};

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
fn open_plain_opens_what_open_opens_and_refuses_the_rest() {
    let (mut a, mut b, mut c) = (Member::new(1), Member::new(2), Member::new(3));
    let plain_open = |m: &mut Member, frame: &[u8]| {
        let mut buf = frame.to_vec();
        let mut o = MeshsealOpened::default();
        // SAFETY: an initialized recipient and live buffers.
        let r = unsafe { meshseal_open_plain(m.rx(), buf.as_mut_ptr(), buf.len(), &mut o) };
        (r, o, buf)
    };
    for i in 0..5u8 {
        let f = a.seal(&[i; 3], core::ptr::null()).unwrap();
        let (r, o, buf) = plain_open(&mut b, &f);
        assert_eq!(r, MeshsealResult::Ok);
        assert_eq!(buf[o.payload_offset..][..o.payload_len], [i; 3]);
        let (o2, payload) = c.open(&f, core::ptr::null()).unwrap();
        assert_eq!(
            (o.sender, o.seq, o.freshness),
            (o2.sender, o2.seq, o2.freshness)
        );
        assert_eq!(payload, [i; 3]);
        // The replay and a tampered copy are refused as `meshseal_open` refuses them.
        assert_eq!(plain_open(&mut b, &f).0, MeshsealResult::Replay);
        let mut bad = f.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(plain_open(&mut b, &bad).0, MeshsealResult::BadTag);
    }
    // A timed frame has an extension: refused, and its number is not used up.
    let d = meshseal_seal_options_default();
    let timed = a
        .seal(
            b"t",
            &MeshsealSeal {
                has_time: 1,
                time: 9,
                ..d
            },
        )
        .unwrap();
    assert_eq!(plain_open(&mut b, &timed).0, MeshsealResult::Malformed);
    assert!(c.open(&timed, core::ptr::null()).is_ok());
    // Bad arguments, never undefined behaviour.
    let mut o = MeshsealOpened::default();
    let mut buf = a.seal(b"x", core::ptr::null()).unwrap();
    // SAFETY: null and short arguments are what is being tested; the rest is live.
    unsafe {
        assert_eq!(
            meshseal_open_plain(core::ptr::null_mut(), buf.as_mut_ptr(), buf.len(), &mut o),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_open_plain(b.rx(), core::ptr::null_mut(), buf.len(), &mut o),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_open_plain(b.rx(), buf.as_mut_ptr(), buf.len(), core::ptr::null_mut()),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_open_plain(b.rx(), buf.as_mut_ptr(), 3, &mut o),
            MeshsealResult::Malformed
        );
    }
    assert_eq!(plain_open(&mut b, &buf).0, MeshsealResult::Ok);
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
    // Refused options never reached the core: the frame was judged only once.
    if let Some(stats) = stats_of(&mut rx) {
        let judged = stats.accepted + stats.refused_total;
        assert_eq!(judged, u64::from(vk.is_none()));
    }
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
    assert_eq!(rx.open(&frame, &how).err(), Some(LATER_COPY));
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
