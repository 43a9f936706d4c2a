//! Source authentication inside the group (threat T12): pairwise and signed frames.

mod common;

use common::{keys, GROUP, SECRET};
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::source::{
    derive_pairwise, SigningKey, SourceKeys, VerifyingKey, X25519Public, X25519Secret,
};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{
    Error, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig, Source, TrafficClass,
};

/// One member's long-term keys, drawn deterministically for the test.
struct Member {
    id: u32,
    dh: X25519Secret,
    sig: SigningKey,
}

impl Member {
    fn new(id: u32) -> Self {
        Member {
            id,
            dh: X25519Secret::from([id as u8 + 10; 32]),
            sig: SigningKey::from_bytes(&[id as u8 + 50; 32]),
        }
    }

    fn public(&self) -> X25519Public {
        X25519Public::from(&self.dh)
    }

    fn pair_with(&self, peer: &Member, secret: &[u8], epoch: u16) -> GroupKeys {
        derive_pairwise(
            secret,
            b"",
            GROUP,
            epoch,
            self.id,
            &self.dh,
            peer.id,
            &peer.public(),
        )
        .unwrap()
    }

    fn sender(&self) -> Sender<MemoryStore> {
        Sender::provision(keys(0), SenderConfig::new(self.id), MemoryStore::default()).unwrap()
    }
}

/// What receiver 2 knows about its peers: the pairwise keys it shares with each and their
/// verifying keys.
struct Peers {
    pairs: Vec<(u32, GroupKeys)>,
    vks: Vec<(u32, VerifyingKey)>,
}

impl SourceKeys for Peers {
    fn pairwise(&self, sender: u32) -> Option<&GroupKeys> {
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

type Rx = Recipient<PeerTable<8>, core::ops::RangeInclusive<u32>>;

fn setup() -> (Member, Member, Member, Rx, Peers) {
    let (m1, m2, m3) = (Member::new(1), Member::new(2), Member::new(3));
    let mut rx = Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: Some(2),
            ..Default::default()
        },
        1..=3,
        PeerTable::new(),
    );
    rx.provision(1);
    rx.provision(3);
    let peers = Peers {
        pairs: vec![
            (1, m2.pair_with(&m1, &SECRET, 0)),
            (3, m2.pair_with(&m3, &SECRET, 0)),
        ],
        vks: vec![(1, m1.sig.verifying_key()), (3, m3.sig.verifying_key())],
    };
    (m1, m2, m3, rx, peers)
}

#[test]
fn both_members_derive_the_same_pairwise_keys_and_others_differ() {
    let (m1, m2, m3) = (Member::new(1), Member::new(2), Member::new(3));
    let mut tx = m1.sender();
    let k12 = m1.pair_with(&m2, &SECRET, 0);
    let mut f = {
        let mut out = [0u8; 64];
        let n = tx
            .seal_with(b"hi", &Seal::default().pairwise(&k12), &mut out)
            .unwrap();
        out[..n].to_vec()
    };
    let (_, _, _, mut rx, peers) = setup();
    let o = rx
        .open_with(
            &mut f,
            &Open::default()
                .class(TrafficClass::Telemetry)
                .keys(&peers)
                .require_source(),
        )
        .unwrap();
    assert_eq!((o.source, o.payload), (Source::Pairwise, &b"hi"[..]));
    // Equal ids, or a low-order peer key, give no keys.
    assert_eq!(
        derive_pairwise(&SECRET, b"", GROUP, 0, 1, &m1.dh, 1, &m1.public()).err(),
        Some(Error::InvalidConfig)
    );
    assert_eq!(
        derive_pairwise(
            &SECRET,
            b"",
            GROUP,
            0,
            1,
            &m1.dh,
            2,
            &X25519Public::from([0u8; 32])
        )
        .err(),
        Some(Error::InvalidConfig)
    );
    let _ = m3;
}

/// Member 3 holds the group key and its own pairwise keys, yet can neither read a pairwise frame
/// from 1 to 2 nor seal one 2 accepts as coming from 1.
#[test]
fn insider_cannot_read_or_forge_pairwise() {
    let (m1, m2, m3, mut rx, peers) = setup();
    let mut tx1 = m1.sender();
    let k12 = m1.pair_with(&m2, &SECRET, 0);
    let mut out = [0u8; 64];
    let n = tx1
        .seal_with(b"unlock", &Seal::default().pairwise(&k12), &mut out)
        .unwrap();
    let mut genuine = out[..n].to_vec();

    // Reading: the group key and 3's pairwise keys with 1 both fail.
    let mut eve = Recipient::new(
        keys(0),
        RecipientConfig::default(),
        1..=3,
        PeerTable::<4>::new(),
    );
    eve.provision(1);
    let eve_keys = Peers {
        pairs: vec![(1, m3.pair_with(&m1, &SECRET, 0))],
        vks: vec![],
    };
    assert_eq!(
        eve.open_with(
            &mut genuine.clone(),
            &Open::default()
                .class(TrafficClass::Telemetry)
                .keys(&eve_keys)
        )
        .err(),
        Some(Error::BadTag)
    );
    assert_eq!(
        eve.open(&mut genuine.clone()).err(),
        Some(Error::UnknownKey)
    );

    // Forging as 1: 3 seals with every key it has, under sender id 1 and a fresh number.
    let mut as1 = Sender::new(
        keys(0),
        SenderConfig::new(1),
        MemoryStore {
            limit: Some(100),
            writes: 0,
        },
    )
    .unwrap();
    // A group frame in 1's name is what plain group mode cannot stop (T12) ...
    let group_forgery = as1.seal_to_vec(b"unlock").unwrap();
    let mut forged = Vec::new();
    for k in [m3.pair_with(&m1, &SECRET, 0), m3.pair_with(&m2, &SECRET, 0)] {
        let n = as1
            .seal_with(b"unlock", &Seal::default().pairwise(&k), &mut out)
            .unwrap();
        forged.push(out[..n].to_vec());
    }
    for f in forged {
        assert_eq!(
            rx.open_with(
                &mut f.clone(),
                &Open::default()
                    .class(TrafficClass::Actuation)
                    .keys(&peers)
                    .require_source()
            )
            .err(),
            Some(Error::BadTag)
        );
    }
    // ... but the authenticated open refuses it.
    assert_eq!(
        rx.open_with(
            &mut group_forgery.clone(),
            &Open::default()
                .class(TrafficClass::Actuation)
                .keys(&peers)
                .require_source()
        )
        .err(),
        Some(Error::Unauthenticated)
    );
    assert_eq!(rx.stats().refused(Error::Unauthenticated), 1);
    // The genuine frame still opens.
    let o = rx
        .open_with(
            &mut genuine,
            &Open::default()
                .class(TrafficClass::Actuation)
                .keys(&peers)
                .require_source(),
        )
        .unwrap();
    assert_eq!((o.sender, o.payload), (1, &b"unlock"[..]));
    // The plain group open accepts the forgery: this is the threat, stated by a test.
    assert!(rx.open(&mut group_forgery.clone()).is_ok());
}

#[test]
fn insider_cannot_forge_a_signed_frame_and_a_failed_signature_moves_nothing() {
    let (m1, _m2, m3, mut rx, peers) = setup();
    let mut tx1 = m1.sender();
    // 3 seals, under the group key, a frame in 1's name with its own signing key, using the
    // number 1 will use next.
    let mut as1 = Sender::provision(keys(0), SenderConfig::new(1), MemoryStore::default()).unwrap();
    let mut out = [0u8; 128];
    let n = as1
        .seal_with(b"open door", &Seal::default().signed(&m3.sig), &mut out)
        .unwrap();
    let mut forged = out[..n].to_vec();
    assert_eq!(
        rx.open_with(
            &mut forged,
            &Open::default()
                .class(TrafficClass::Actuation)
                .keys(&peers)
                .require_source()
        )
        .err(),
        Some(Error::BadSignature)
    );
    // The tag verified but nothing is released: the payload is wiped.
    assert!(!forged.windows(9).any(|w| w == b"open door"));
    // The number was not taken: 1's genuine frame with the same number opens.
    let n = tx1
        .seal_with(b"lamp on", &Seal::default().signed(&m1.sig), &mut out)
        .unwrap();
    let o = rx
        .open_with(
            &mut out[..n],
            &Open::default()
                .class(TrafficClass::Actuation)
                .keys(&peers)
                .require_source(),
        )
        .unwrap();
    assert_eq!(
        (o.seq, o.source, o.payload),
        (0, Source::Signed, &b"lamp on"[..])
    );
    assert_eq!(rx.stats().refused(Error::BadSignature), 1);
}

#[test]
fn signed_frames_refuse_every_bit_flip_and_need_a_key() {
    let (m1, _, _, _, peers) = setup();
    let mut tx1 = m1.sender();
    let mut out = [0u8; 128];
    let n = tx1
        .seal_with(b"scene 4", &Seal::default().signed(&m1.sig), &mut out)
        .unwrap();
    let frame = out[..n].to_vec();
    for bit in 0..n * 8 {
        let (_, _, _, mut rx, _) = setup();
        let mut f = frame.clone();
        f[bit / 8] ^= 1 << (bit % 8);
        assert!(
            rx.open_with(
                &mut f,
                &Open::default()
                    .class(TrafficClass::Telemetry)
                    .keys(&peers)
                    .require_source()
            )
            .is_err(),
            "bit {bit}"
        );
    }
    let (_, _, _, mut rx, _) = setup();
    let no_keys = Peers {
        pairs: vec![],
        vks: vec![],
    };
    assert_eq!(
        rx.open_with(
            &mut frame.clone(),
            &Open::default()
                .class(TrafficClass::Telemetry)
                .keys(&no_keys)
                .require_source()
        )
        .err(),
        Some(Error::UnknownKey)
    );
    assert_eq!(rx.open(&mut frame.clone()).err(), Some(Error::UnknownKey));
}

/// After a rekey that removes member 3, 3 still holds its X25519 key but not the new master
/// secret, so it cannot derive the new epoch's pairwise keys with anyone.
#[test]
fn removed_member_cannot_derive_new_pairwise_keys() {
    let (m1, m2, m3) = (Member::new(1), Member::new(2), Member::new(3));
    let new_secret = [0x5a; 32];
    let k12_new = m1.pair_with(&m2, &new_secret, 1);
    let mut tx1 = Sender::provision(
        GroupKeys::derive(&new_secret, b"", GROUP, 1).unwrap(),
        SenderConfig::new(1),
        MemoryStore::default(),
    )
    .unwrap();
    let mut out = [0u8; 64];
    let n = tx1
        .seal_with(b"x", &Seal::default().pairwise(&k12_new), &mut out)
        .unwrap();
    // 3's best guess: old master secret with its own and others' public keys.
    let guesses = [m3.pair_with(&m1, &SECRET, 1), m3.pair_with(&m2, &SECRET, 1)];
    for g in guesses {
        let mut eve = Recipient::new(
            keys(1),
            RecipientConfig::default(),
            1..=3,
            PeerTable::<4>::new(),
        );
        eve.provision(1);
        let p = Peers {
            pairs: vec![(1, g)],
            vks: vec![],
        };
        assert_eq!(
            eve.open_with(
                &mut out[..n].to_vec(),
                &Open::default().class(TrafficClass::Telemetry).keys(&p)
            )
            .err(),
            Some(Error::BadTag)
        );
    }
}

#[test]
fn added_bytes() {
    let (m1, m2, _) = (Member::new(1), Member::new(2), Member::new(3));
    let mut tx = m1.sender();
    let k12 = m1.pair_with(&m2, &SECRET, 0);
    let mut out = [0u8; 128];
    // Steady traffic after the first (full-length) frame.
    tx.seal(b"warm", &mut out).unwrap();
    let group = tx.seal(b"\x01\x02\x03\x04", &mut out).unwrap() - 4;
    let pairwise = tx
        .seal_with(
            b"\x01\x02\x03\x04",
            &Seal::default().pairwise(&k12),
            &mut out,
        )
        .unwrap()
        - 4;
    let signed = tx
        .seal_with(
            b"\x01\x02\x03\x04",
            &Seal::default().signed(&m1.sig),
            &mut out,
        )
        .unwrap()
        - 4;
    assert_eq!(group, 10);
    // Long form with one sequence byte plus the extension byte.
    assert_eq!(pairwise, group + 2);
    assert_eq!(signed, group + 2 + 64);
    assert_eq!(tx.frame_len_as(4, Source::Signed) - 4, signed);
}
