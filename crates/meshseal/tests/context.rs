//! Sender/recipient behaviour: every refusal path, freshness, resynchronisation, and
//! property tests of the round trip and the replay window against a model.

mod common;

use std::collections::BTreeSet;

use common::*;
use meshseal::counter::{CounterStore, MemoryStore};
use meshseal::frame::{SeqForm, SEQ_MAX};
use meshseal::replay::{PeerTable, ReplayWindow};
use meshseal::Open;
use meshseal::{
    Error, Fragment, Freshness, LengthMode, OrderPolicy, Recipient, RecipientConfig, Sender,
    SenderConfig, SenderIdMode,
};
use proptest::prelude::*;

fn seal(s: &mut Sender<MemoryStore>, payload: &[u8]) -> Vec<u8> {
    s.seal_to_vec(payload).unwrap()
}

#[test]
fn round_trip_and_steady_overhead() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let first = seal(&mut tx, b"\x00\x15\x02\x01");
    assert_eq!(
        first.len() - 4,
        1 + 1 + 5 + 8,
        "first frame after boot is full length"
    );
    let mut f = first.clone();
    let o = rx.open(&mut f).unwrap();
    assert_eq!(
        (o.sender, o.seq, o.payload, o.freshness),
        (1, 0, &b"\x00\x15\x02\x01"[..], Freshness::Fresh)
    );
    for i in 1..15u8 {
        let mut f = seal(&mut tx, &[i; 4]);
        assert_eq!(
            f.len() - 4,
            10,
            "steady frame from sender < 128 adds 10 bytes"
        );
        let o = rx.open(&mut f).unwrap();
        assert_eq!((o.seq, o.payload), (u64::from(i), &[i; 4][..]));
    }
    assert_eq!(rx.stats().accepted, 15);
    assert_eq!(rx.stats().refused_total(), 0);
}

#[test]
fn implicit_sender_adds_nine_bytes() {
    let mut cfg = SenderConfig::new(2);
    cfg.sender_id_mode = SenderIdMode::Implicit;
    let mut tx = Sender::provision(keys(0), cfg, MemoryStore::default()).unwrap();
    let mut rx = recipient();
    let mut f0 = seal(&mut tx, b"on");
    rx.open_with(&mut f0, &Open::default().from(2)).unwrap();
    let mut f1 = seal(&mut tx, b"off!");
    assert_eq!(f1.len() - 4, 9);
    // The wrong link-layer sender changes the nonce: the tag fails.
    let mut copy = f1.clone();
    assert_eq!(
        rx.open_with(&mut copy, &Open::default().from(3))
            .unwrap_err(),
        Error::BadTag
    );
    assert_eq!(copy[1..5], [0; 4], "payload wiped after a failed tag");
    let o = rx.open_with(&mut f1, &Open::default().from(2)).unwrap();
    assert_eq!(o.payload, b"off!");
}

#[test]
fn every_refusal_has_its_reason_and_counter() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let good = seal(&mut tx, b"lamp on");
    let mut f = good.clone();
    rx.open(&mut f).unwrap();

    // replay
    let mut f = good.clone();
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::Replay);
    // malformed: truncated
    let mut f = good[..8].to_vec();
    assert!(matches!(rx.open(&mut f).unwrap_err(), Error::Malformed(_)));
    // unsupported version
    let mut f = good.clone();
    f[0] |= 0x80;
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::UnsupportedVersion);
    // unknown epoch
    let mut other =
        Sender::provision(keys(1), SenderConfig::new(1), MemoryStore::default()).unwrap();
    let mut f = other.seal_to_vec(b"x").unwrap();
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::UnknownEpoch);
    // unknown sender
    let mut stranger = sender(5000);
    let mut f = seal(&mut stranger, b"x");
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::UnknownSender);
    // reflected
    let mut me = sender(100);
    let mut f = seal(&mut me, b"x");
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::Reflected);
    // unsynchronized: truncated number from a sender without state
    let mut s9 = sender(9);
    let _ = seal(&mut s9, b"a");
    let mut f = seal(&mut s9, b"b");
    assert_ne!(f[0] & 0x10, 0x10, "second frame uses the short form");
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::Unsynchronized);
    // bad tag
    let mut f = seal(&mut tx, b"temp=21");
    let n = f.len();
    f[n - 9] ^= 0x08;
    assert_eq!(rx.open(&mut f).unwrap_err(), Error::BadTag);
    // too old and out of order
    let mut tx2 = sender(2);
    let frames: Vec<Vec<u8>> = (0..70).map(|i| seal(&mut tx2, &[i])).collect();
    // Frames 0, 16, 32, 48, 64 carry the full number (full_every = 16); a receiver that missed
    // 64 frames can only take a full one.
    let mut last = frames[64].clone();
    rx.open(&mut last).unwrap();
    let mut old = frames[0].clone();
    assert_eq!(rx.open(&mut old).unwrap_err(), Error::TooOld);
    let mut strict = Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: None,
            order: OrderPolicy::Strict,
        },
        0..=10,
        PeerTable::<4>::new(),
    );
    strict.provision(2);
    let mut f = frames[16].clone();
    strict.open(&mut f).unwrap();
    let mut f = frames[15].clone();
    assert_eq!(strict.open(&mut f).unwrap_err(), Error::OutOfOrder);

    let s = rx.stats();
    for e in [
        Error::Replay,
        Error::UnsupportedVersion,
        Error::UnknownEpoch,
        Error::UnknownSender,
        Error::Reflected,
        Error::Unsynchronized,
        Error::BadTag,
        Error::TooOld,
    ] {
        assert_eq!(s.refused(e), 1, "{e:?}");
    }
    assert_eq!(
        s.refused(Error::Malformed(meshseal::frame::WireError::Truncated)),
        1
    );
    assert_eq!(strict.stats().refused(Error::OutOfOrder), 1);
}

#[test]
fn sender_side_refusals_consume_nothing() {
    let mut tx = sender(1);
    let mut small = [0u8; 10];
    assert_eq!(tx.seal(b"payload", &mut small), Err(Error::BufferTooSmall));
    let big = vec![0u8; 70_000];
    let mut out = vec![0u8; 70_100];
    assert_eq!(tx.seal(&big, &mut out), Err(Error::PayloadTooLarge));
    assert_eq!(tx.next_seq(), 0);
    let mut ex = sender_at(1, SEQ_MAX, |_| {});
    ex.seal_to_vec(b"last").unwrap();
    assert_eq!(ex.seal_to_vec(b"x"), Err(Error::CounterExhausted));
    assert_eq!(ex.remaining(), 0);
    assert_eq!(
        meshseal::GroupKeys::derive(&[1; 8], b"", 1, 0).err(),
        Some(Error::InvalidConfig)
    );
    let mut no_resync = SenderConfig::new(1);
    no_resync.full_every = 0;
    assert_eq!(
        Sender::provision(keys(0), no_resync, MemoryStore::default()).err(),
        Some(Error::InvalidConfig)
    );
    let mut out = [0u8; 64];
    assert_eq!(
        tx.seal_fragment(b"x", Fragment { index: 3, count: 2 }, &mut out),
        Err(Error::InvalidConfig)
    );

    struct Broken;
    impl CounterStore for Broken {
        type Error = ();
        fn load(&mut self) -> Result<Option<u64>, ()> {
            Ok(Some(5))
        }
        fn reserve(&mut self, _: u64) -> Result<(), ()> {
            Err(())
        }
    }
    let mut b = Sender::new(keys(0), SenderConfig::new(1), Broken).unwrap();
    let mut out = [0u8; 64];
    assert_eq!(b.seal(b"x", &mut out), Err(Error::CounterStore));
    assert_eq!(b.next_seq(), 5, "a failed reservation uses no number");
}

#[test]
fn freshness_unknown_until_verified_never_from_first_frame() {
    let mut tx = sender(7);
    let mut rx = recipient(); // 7 is a member, not provisioned
    let mut frames: Vec<Vec<u8>> = (0..5).map(|i| seal(&mut tx, &[i])).collect();
    for f in frames.iter_mut() {
        assert_eq!(rx.open(f).unwrap().freshness, Freshness::Unknown);
    }
    assert_eq!(rx.stats().unknown_freshness, 5);
    assert!(rx.mark_fresh(7));
    let mut f = seal(&mut tx, b"now");
    assert_eq!(rx.open(&mut f).unwrap().freshness, Freshness::Fresh);
}

#[test]
fn evicted_sender_is_no_longer_fresh() {
    // Provisioning holds a window per lane: the source lane too when it is built in.
    const LANES: usize = if cfg!(any(feature = "pairwise", feature = "signed")) {
        2
    } else {
        1
    };
    let mut rx = Recipient::new(
        keys(0),
        RecipientConfig::default(),
        0..=10,
        PeerTable::<{ 2 * LANES }>::new(),
    );
    for s in 1..=2 {
        rx.provision(s);
    }
    let mut t1 = sender(1);
    let mut t3 = sender(3);
    let mut f = seal(&mut t1, b"a");
    assert_eq!(rx.open(&mut f).unwrap().freshness, Freshness::Fresh);
    let mut f = seal(&mut t3, b"b"); // evicts the least recently used window
    assert_eq!(rx.open(&mut f).unwrap().freshness, Freshness::Unknown);
    assert_eq!(rx.stats().evicted, 1);
    if LANES == 2 {
        // Another window makes room for sender 4: still unknown freshness.
        let mut t4 = sender(4);
        let mut f = seal(&mut t4, b"d");
        assert_eq!(rx.open(&mut f).unwrap().freshness, Freshness::Unknown);
        assert_eq!(rx.stats().evicted, 2);
    }
    let mut t2 = sender(2);
    let mut f = seal(&mut t2, b"c");
    assert_eq!(rx.open(&mut f).unwrap().freshness, Freshness::Unknown);
}

#[test]
fn receiver_recovers_after_missing_more_than_2_pow_16_frames() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let mut f = seal(&mut tx, b"hello");
    rx.open(&mut f).unwrap();
    let mut out = [0u8; 64];
    for _ in 0..70_000 {
        tx.seal(b"lost", &mut out).unwrap();
    }
    // Truncated frames fail the tag (wrong reconstruction), never deliver; the next
    // full-length frame resynchronises without any manual step.
    let mut delivered = None;
    for _ in 0..16 {
        let mut f = seal(&mut tx, b"back");
        match rx.open(&mut f) {
            Ok(o) => {
                delivered = Some((o.seq, o.gap));
                break;
            }
            Err(e) => assert_eq!(e, Error::BadTag),
        }
    }
    let (seq, gap) = delivered.expect("a full-length frame within full_every frames");
    assert!(seq > 70_000);
    assert_eq!(gap, seq - 1);
    let mut f = seal(&mut tx, b"steady");
    assert_eq!(rx.open(&mut f).unwrap().payload, b"steady");
}

#[test]
fn confirmed_mode_uses_short_forms_only_after_confirmation() {
    let mut tx = sender_at(1, 0, |c| {
        c.length_mode = LengthMode::Confirmed;
        c.full_every = 1000;
    });
    assert_eq!(tx.next_form(), SeqForm::FULL);
    let _ = seal(&mut tx, b"a");
    assert_eq!(tx.next_form(), SeqForm::FULL, "nothing confirmed yet");
    tx.confirm(0);
    assert_eq!(tx.next_form(), SeqForm::Short);
    for _ in 0..8 {
        let _ = seal(&mut tx, b"a");
    }
    assert_eq!(
        tx.next_form(),
        SeqForm::Short,
        "9 ahead of the reference: still short"
    );
    let _ = seal(&mut tx, b"a");
    assert_eq!(tx.next_form(), SeqForm::Bytes(1));
    tx.confirm(100); // never sent: ignored
    assert_eq!(tx.length_state().reference, Some(0));
}

#[test]
fn fragments_carry_their_position() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let mut f = seal(&mut tx, b"x");
    rx.open(&mut f).unwrap();
    let mut out = [0u8; 64];
    let n = tx
        .seal_fragment(b"part", Fragment { index: 1, count: 3 }, &mut out)
        .unwrap();
    let o = rx.open(&mut out[..n]).unwrap();
    assert_eq!(o.fragment, Some(Fragment { index: 1, count: 3 }));
    // The fragment byte is authenticated (associated data): changing it fails the tag.
    let n = tx
        .seal_fragment(b"part", Fragment { index: 2, count: 3 }, &mut out)
        .unwrap();
    let at = n - 8 - 4 - 1;
    out[at] = 0x12; // claim index 1 of 3
    assert_eq!(rx.open(&mut out[..n]).unwrap_err(), Error::BadTag);
}

#[test]
fn header_bit_flips_never_accepted() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let mut f = seal(&mut tx, b"unlock");
    rx.open(&mut f).unwrap();
    let good = seal(&mut tx, b"unlock");
    for byte in 0..good.len() {
        for bit in 0..8 {
            let mut f = good.clone();
            f[byte] ^= 1 << bit;
            assert!(rx.open(&mut f).is_err(), "flip byte {byte} bit {bit}");
        }
    }
    let mut f = good.clone();
    assert_eq!(rx.open(&mut f).unwrap().payload, b"unlock");
}

fn arb_mode() -> impl Strategy<Value = SenderIdMode> {
    prop_oneof![Just(SenderIdMode::Explicit), Just(SenderIdMode::Implicit)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn seal_open_round_trip(
        id in 0u32..=u32::MAX,
        mode in arb_mode(),
        start in 0u64..=SEQ_MAX - 64,
        steady in any::<bool>(),
        full_every in 1u32..20,
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 1..24),
    ) {
        let mut cfg = SenderConfig::new(id);
        cfg.sender_id_mode = mode;
        cfg.full_every = full_every;
        cfg.length_mode = if steady { LengthMode::Steady } else { LengthMode::Confirmed };
        cfg.reservation_block = 7;
        let mut tx = Sender::new(keys(0), cfg, MemoryStore { limit: Some(start), writes: 0 }).unwrap();
        let mut rx = Recipient::new(keys(0), RecipientConfig::default(), meshseal::context::AnySender, PeerTable::<4>::new());
        for (i, p) in payloads.iter().enumerate() {
            let want_len = tx.frame_len(p.len());
            let mut f = tx.seal_to_vec(p).unwrap();
            prop_assert_eq!(f.len(), want_len);
            let o = match mode {
                SenderIdMode::Explicit => rx.open(&mut f),
                SenderIdMode::Implicit => rx.open_with(&mut f, &Open::default().from(id)),
            }.unwrap();
            prop_assert_eq!(o.payload, &p[..]);
            prop_assert_eq!(o.seq, start + i as u64);
            prop_assert_eq!(o.sender, id);
            if !steady && i % 3 == 0 {
                tx.confirm(o.seq);
            }
        }
    }

    #[test]
    fn replay_window_matches_set_model(
        arrivals in prop::collection::vec(0u64..300, 1..400),
        strict in any::<bool>(),
    ) {
        let policy = if strict { OrderPolicy::Strict } else { OrderPolicy::Window };
        let mut w = ReplayWindow::<1>::provisioned();
        let mut seen = BTreeSet::new();
        let mut highest: Option<u64> = None;
        for s in arrivals {
            let model_ok = !seen.contains(&s) && match highest {
                None => true,
                Some(h) if s > h => true,
                Some(h) => !strict && h - s < 64,
            };
            let got = w.check(s, policy);
            prop_assert_eq!(got.is_ok(), model_ok, "seq {} highest {:?}", s, highest);
            if let (Err(e), Some(h)) = (got, highest) {
                let want = if seen.contains(&s) && h - s < 64 { Error::Replay }
                    else if h - s >= 64 { Error::TooOld }
                    else { Error::OutOfOrder };
                prop_assert_eq!(e, want);
            }
            if model_ok {
                w.accept(s);
                seen.insert(s);
                highest = Some(highest.map_or(s, |h| h.max(s)));
            }
        }
    }

    #[test]
    fn recipient_never_accepts_a_number_twice(order in prop::collection::vec(0usize..40, 1..120)) {
        let mut tx = sender(1);
        let frames: Vec<Vec<u8>> = (0..40).map(|i| tx.seal_to_vec(&[i as u8]).unwrap()).collect();
        let mut rx = recipient();
        let mut accepted = BTreeSet::new();
        for i in order {
            let mut f = frames[i].clone();
            if let Ok(o) = rx.open(&mut f) {
                prop_assert!(accepted.insert(o.seq), "seq {} accepted twice", o.seq);
                prop_assert_eq!(o.payload, &[i as u8][..]);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The same property as the `open` fuzz target, on stable: arbitrary bytes never panic
    /// and are never accepted (no frame was sealed with these keys for these bytes).
    #[test]
    fn arbitrary_bytes_never_panic_nor_open(bytes in prop::collection::vec(any::<u8>(), 0..64), implicit in any::<bool>()) {
        let mut rx = recipient();
        let mut buf = bytes.clone();
        let r = if implicit { rx.open_with(&mut buf, &Open::default().from(1)) } else { rx.open(&mut buf) };
        prop_assert!(r.is_err());
        prop_assert_eq!(rx.stats().refused_total(), 1);
        let mode = if implicit { SenderIdMode::Implicit } else { SenderIdMode::Explicit };
        if let Ok(f) = meshseal::frame::Frame::new_checked(&bytes[..], mode) {
            let repr = meshseal::frame::Repr::parse(&f);
            prop_assert_eq!(repr.buffer_len(), bytes.len());
            let mut again = vec![0u8; repr.buffer_len()];
            let n = repr.emit_header(&mut again).unwrap();
            prop_assert_eq!(&again[..n], &bytes[..n]);
        }
    }
}

/// A member that sends and receives can share one key schedule between its sender and
/// recipient (a borrowed backend): its frames are the same bytes as with owned keys.
#[test]
fn a_borrowed_key_schedule_seals_and_opens_like_an_owned_one() {
    use meshseal::crypto::derive;
    use meshseal::{GroupKeys, RustCryptoCcm};
    let d = derive(&[0x42; 32], b"", 7, 0).expect("derive");
    let ccm = RustCryptoCcm::new(&d.key);
    let shared = || GroupKeys::with_backend(&ccm, d.iv, 7, 0);
    let owned = || GroupKeys::derive(&[0x42; 32], b"", 7, 0).expect("keys");
    let mut tx_shared =
        Sender::provision(shared(), SenderConfig::new(1), MemoryStore::default()).expect("sender");
    let mut tx_owned =
        Sender::provision(owned(), SenderConfig::new(1), MemoryStore::default()).expect("sender");
    let mut rx_shared = Recipient::new(
        shared(),
        RecipientConfig::default(),
        1..=3,
        PeerTable::<4>::new(),
    );
    rx_shared.provision(1);
    for i in 0..20u8 {
        let a = tx_shared.seal_to_vec(&[i; 5]).expect("seal");
        let b = tx_owned.seal_to_vec(&[i; 5]).expect("seal");
        assert_eq!(a, b, "frame {i}");
        let mut f = a;
        assert_eq!(rx_shared.open(&mut f).expect("open").payload, &[i; 5]);
    }
    let mut forged = tx_owned.seal_to_vec(b"x").expect("seal");
    forged[3] ^= 1;
    assert!(rx_shared.open(&mut forged).is_err());
}
