//! The hot paths equal the general ones: `Sender::seal` (plain group frames, built without the
//! extension machinery) gives the same bytes and refusals as `seal_with(&Seal::default())`,
//! and `Recipient::open` the same verdicts, statistics and windows as
//! `open_with(&Open::default())`, whatever the sender's settings and the frames' fate;
//! `Recipient::open_plain` judges plain frames alike and refuses every other frame.

use meshseal::counter::MemoryStore;
use meshseal::frame::WireError;
use meshseal::replay::PeerTable;
use meshseal::{
    Error, GroupKeys, LengthMode, Open, Recipient, RecipientConfig, Seal, Sender, SenderConfig,
    SenderIdMode,
};
use proptest::prelude::*;

fn keys(epoch: u16) -> GroupKeys {
    GroupKeys::derive(&[0x42; 32], b"", 7, epoch).expect("keys")
}

fn sender(cfg: SenderConfig, epoch: u16, start: u64) -> Sender<MemoryStore> {
    let mut tx = Sender::provision(keys(epoch), cfg, MemoryStore::default()).expect("sender");
    for _ in 0..start {
        tx.seal(b"", &mut [0u8; 64]).expect("advance");
    }
    tx
}

#[derive(Debug, Clone)]
enum Step {
    /// Seal this many payload bytes into a buffer of `room` bytes more than the frame needs
    /// (negative: too small).
    Seal { len: usize, room: i8 },
    /// Receivers confirmed this number (in steps back from the next one).
    Confirm(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => (0usize..48, -3i8..4).prop_map(|(len, room)| Step::Seal { len, room }),
        1 => any::<u8>().prop_map(Step::Confirm),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plain_seal_equals_the_general_path(
        id in prop_oneof![0u32..130, 16_000u32..17_000, Just(u32::MAX)],
        implicit in any::<bool>(),
        confirmed in any::<bool>(),
        full_every in 1u32..20,
        epoch in 0u16..6,
        start in 0u64..40,
        steps in proptest::collection::vec(step(), 1..60),
    ) {
        let mut cfg = SenderConfig::new(id);
        cfg.full_every = full_every;
        if implicit {
            cfg.sender_id_mode = SenderIdMode::Implicit;
        }
        if confirmed {
            cfg.length_mode = LengthMode::Confirmed;
        }
        let (mut fast, mut general) = (sender(cfg, epoch, start), sender(cfg, epoch, start));
        for s in steps {
            match s {
                Step::Seal { len, room } => {
                    let payload = vec![0x5a; len];
                    let need = fast.frame_len(len) as isize;
                    let size = (need + isize::from(room)).max(0) as usize;
                    let (mut a, mut b) = (vec![0u8; size], vec![0u8; size]);
                    let ra = fast.seal(&payload, &mut a);
                    let rb = general.seal_with(&payload, &Seal::default(), &mut b);
                    prop_assert_eq!(ra, rb);
                    prop_assert_eq!(&a, &b);
                }
                Step::Confirm(back) => {
                    let seq = fast.next_seq().saturating_sub(u64::from(back));
                    fast.confirm(seq);
                    general.confirm(seq);
                }
            }
            prop_assert_eq!(fast.next_seq(), general.next_seq());
            prop_assert_eq!(fast.length_state(), general.length_state());
        }
    }
}

#[test]
fn plain_seal_refuses_an_oversized_payload_like_the_general_path() {
    let payload = vec![0u8; 0x1_0000];
    let mut out = vec![0u8; payload.len() + 32];
    let mut fast = sender(SenderConfig::new(3), 0, 0);
    let mut general = sender(SenderConfig::new(3), 0, 0);
    let a = fast.seal(&payload, &mut out);
    let b = general.seal_with(&payload, &Seal::default(), &mut out);
    assert_eq!(a, Err(meshseal::Error::PayloadTooLarge));
    assert_eq!(a, b);
    assert_eq!(fast.next_seq(), 0, "a refused frame uses no number");
}

/// What a recipient's handling of one frame leaves behind, to compare two recipients.
fn snapshot(rx: &Recipient<PeerTable<4>, core::ops::RangeInclusive<u32>>) -> String {
    let windows: Vec<_> = rx.replay_store().iter().map(|(k, w)| (k, *w)).collect();
    format!("{:?} {:?}", rx.stats(), windows)
}

fn windows(rx: &Recipient<PeerTable<4>, core::ops::RangeInclusive<u32>>) -> String {
    let windows: Vec<_> = rx.replay_store().iter().map(|(k, w)| (k, *w)).collect();
    format!("{windows:?}")
}

#[derive(Debug, Clone)]
enum Fate {
    Deliver,
    Replay(u8),
    Flip { at: u8, bit: u8 },
    Truncate(u8),
    Hold,
    Release,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Deliver),
        1 => any::<u8>().prop_map(Fate::Replay),
        1 => (any::<u8>(), 0u8..8).prop_map(|(at, bit)| Fate::Flip { at, bit }),
        1 => any::<u8>().prop_map(Fate::Truncate),
        1 => Just(Fate::Hold),
        1 => Just(Fate::Release),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn plain_open_equals_the_general_path(
        senders in proptest::collection::vec((0u32..6, 1u32..20), 1..4),
        own in proptest::option::of(0u32..6),
        provisioned in any::<bool>(),
        frames in proptest::collection::vec((0usize..4, 0usize..24, fate()), 1..80),
    ) {
        let mut txs: Vec<_> = senders
            .iter()
            .map(|&(id, every)| {
                let mut cfg = SenderConfig::new(id);
                cfg.full_every = every;
                sender(cfg, 0, 0)
            })
            .collect();
        let cfg = RecipientConfig { own_id: own, ..RecipientConfig::default() };
        let new_rx = || {
            let mut rx = Recipient::new(keys(0), cfg, 0..=4, PeerTable::<4>::new());
            if provisioned {
                for &(id, _) in &senders {
                    rx.provision(id);
                }
            }
            rx
        };
        let (mut fast, mut general, mut plain) = (new_rx(), new_rx(), new_rx());
        let mut sent: Vec<Vec<u8>> = Vec::new();
        let mut held: Vec<Vec<u8>> = Vec::new();
        for (who, len, fate) in frames {
            let tx = &mut txs[who % senders.len()];
            let frame = tx.seal_to_vec(&vec![0x33; len]).expect("seal");
            sent.push(frame.clone());
            let frame = match fate {
                Fate::Deliver => frame,
                Fate::Replay(i) => sent[usize::from(i) % sent.len()].clone(),
                Fate::Flip { at, bit } => {
                    let mut f = frame;
                    let i = usize::from(at) % f.len();
                    f[i] ^= 1 << bit;
                    f
                }
                Fate::Truncate(n) => frame[..usize::from(n) % frame.len()].to_vec(),
                Fate::Hold => {
                    held.push(frame);
                    continue;
                }
                Fate::Release => match held.pop() {
                    Some(f) => f,
                    None => frame,
                },
            };
            let (mut a, mut b, mut c) = (frame.clone(), frame.clone(), frame);
            let ra = fast.open(&mut a).map(|o| format!("{o:?}"));
            let rb = general.open_with(&mut b, &Open::default()).map(|o| format!("{o:?}"));
            let rc = plain.open_plain(&mut c).map(|o| format!("{o:?}"));
            // `open_plain` judges plain frames as `open` does and refuses all others.
            let has_ext = a.first().is_some_and(|h| h & 0x18 == 0x18);
            if has_ext {
                prop_assert_eq!(rc, Err(Error::Malformed(WireError::BadExtension)));
                prop_assert!(rb.is_err(), "a bit flip into the extension bit never verifies");
            } else {
                prop_assert_eq!(&rc, &rb);
                prop_assert_eq!(&c, &b);
            }
            prop_assert_eq!(ra, rb);
            prop_assert_eq!(&a, &b, "the buffers (plaintext or wiped) agree");
            prop_assert_eq!(snapshot(&fast), snapshot(&general));
            prop_assert_eq!(windows(&plain), windows(&general));
        }
    }
}

#[test]
fn open_plain_refuses_frames_with_extensions_and_counts_them() {
    let mut tx = sender(SenderConfig::new(1), 0, 0);
    let mut rx = Recipient::new(
        keys(0),
        RecipientConfig::default(),
        0..=4,
        PeerTable::<4>::new(),
    );
    rx.provision(1);
    let mut out = [0u8; 64];
    let how = Seal::default().repeated(meshseal::Repeat {
        copies: 2,
        window: 10,
    });
    let n = tx.seal_with(b"on", &how, &mut out).expect("seal");
    let bad = Error::Malformed(WireError::BadExtension);
    assert_eq!(rx.open_plain(&mut out[..n]).err(), Some(bad));
    assert_eq!(rx.stats().refused(bad), 1);
    assert_eq!(
        rx.open_plain(&mut []).err(),
        Some(Error::Malformed(WireError::Truncated))
    );
    // The window did not move: the same frame still opens through `open`.
    assert_eq!(
        rx.open(&mut out[..n]).map(|o| o.payload.to_vec()),
        Ok(b"on".to_vec())
    );
    let n = tx.seal(b"21.5", &mut out).expect("seal");
    assert_eq!(
        rx.open_plain(&mut out[..n]).map(|o| o.payload.to_vec()),
        Ok(b"21.5".to_vec())
    );
    assert_eq!(rx.stats().accepted, 2);
}
