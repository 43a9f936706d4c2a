//! `source`: pairwise frames, signed frames and rekey messages, genuine, mutated or arbitrary,
//! never panic a receiver and are never accepted unless unmodified and genuine.
//!
//! Setup, built once: group keys `GroupKeys::derive(&[0x42; 32], b"", 7, 0)`; members 1 and 2
//! with fixed X25519 and Ed25519 keys; one genuine pairwise frame (1 → 2), one genuine signed
//! frame from 1, and one genuine rekey message for member 2 (epoch 0 → 1). Per input, a fresh
//! `Recipient` (own id 2, members 0..=10, sender 1 provisioned) and the member key of 2.
//!
//! Input: `op` byte, then bytes. `op % 4`: 0 → the bytes as a frame for `open_with` and `Open::require_source`;
//! 1 → genuine pairwise frame XOR bytes; 2 → genuine signed frame XOR bytes; 3 → genuine rekey
//! message XOR bytes, for `open_rekey` at epoch 0 (`op & 0x80`: the bytes alone). A frame is
//! accepted only if equal to a genuine one, with its genuine payload and source; a rekey message
//! only if unmodified, with its genuine content; statistics count exactly one outcome.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshseal::counter::MemoryStore;
use meshseal::rekey::{open_rekey, seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::replay::PeerTable;
use meshseal::source::{
    derive_pairwise, SigningKey, SourceKeys, VerifyingKey, X25519Public, X25519Secret,
};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig, Source, TrafficClass};

fn keys() -> GroupKeys {
    GroupKeys::derive(&[0x42; 32], b"", 7, 0).expect("fixed key derives")
}

struct Ring {
    pair: GroupKeys,
    vk: VerifyingKey,
}

impl SourceKeys for Ring {
    fn pairwise(&self, s: u32) -> Option<&GroupKeys> {
        (s == 1).then_some(&self.pair)
    }
    fn verifying_key(&self, s: u32) -> Option<&VerifyingKey> {
        (s == 1).then_some(&self.vk)
    }
}

struct Fixture {
    ring: Ring,
    pairwise: Vec<u8>,
    signed: Vec<u8>,
    rekey: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (x1, x2) = (X25519Secret::from([1; 32]), X25519Secret::from([2; 32]));
        let sk = SigningKey::from_bytes(&[3; 32]);
        let pair = |a, xa: &X25519Secret, b, xb: &X25519Secret| {
            derive_pairwise(&[0x42; 32], b"", 7, 0, a, xa, b, &X25519Public::from(xb)).unwrap()
        };
        let mut tx =
            Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default()).unwrap();
        let mut out = [0u8; 128];
        let n = tx
            .seal_with(
                b"unlock",
                &Seal::default().pairwise(&pair(1, &x1, 2, &x2)),
                &mut out,
            )
            .unwrap();
        let pairwise = out[..n].to_vec();
        let n = tx
            .seal_with(b"scene", &Seal::default().signed(&sk), &mut out)
            .unwrap();
        let signed = out[..n].to_vec();
        let mut buf = [0u8; MAX_REKEY_LEN];
        let r = Rekey::new(1, &[9; 32], b"", 60, &[3]).unwrap();
        let n = seal_rekey(&MemberKey::derive(&[5; 32], 7, 2), 1, &r, &mut buf).unwrap();
        Fixture {
            ring: Ring {
                pair: pair(2, &x2, 1, &x1),
                vk: sk.verifying_key(),
            },
            pairwise,
            signed,
            rekey: buf[..n].to_vec(),
        }
    })
}

fn xor(base: &[u8], bytes: &[u8]) -> Vec<u8> {
    let mut v = base.to_vec();
    for (i, b) in bytes.iter().enumerate() {
        match v.get_mut(i) {
            Some(x) => *x ^= b,
            None => v.push(*b),
        }
    }
    v
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, bytes)) = data.split_first() else {
        return;
    };
    let f = fixture();
    if op % 4 == 3 {
        let mut m = if op & 0x80 != 0 {
            bytes.to_vec()
        } else {
            xor(&f.rekey, bytes)
        };
        let genuine = m == f.rekey;
        match open_rekey(&MemberKey::derive(&[5; 32], 7, 2), 0, &mut m) {
            Ok(r) => {
                assert!(genuine, "modified rekey message accepted");
                assert_eq!(
                    (r.epoch, r.grace, r.secret(), r.removed()),
                    (1, 60, &[9u8; 32][..], &[3u32][..])
                );
            }
            Err(_) => assert!(!genuine, "genuine rekey message refused"),
        }
        return;
    }
    let mut frame = match op % 4 {
        0 => bytes.to_vec(),
        1 => xor(&f.pairwise, bytes),
        _ => xor(&f.signed, bytes),
    };
    let original = frame.clone();
    let mut rx = Recipient::new(
        keys(),
        RecipientConfig {
            own_id: Some(2),
            ..Default::default()
        },
        0..=10,
        PeerTable::<4>::new(),
    );
    rx.provision(1);
    match rx.open_with(
        &mut frame,
        &Open::default()
            .class(TrafficClass::Telemetry)
            .keys(&f.ring)
            .require_source(),
    ) {
        Ok(o) => {
            let (payload, source) = if original == f.pairwise {
                (&b"unlock"[..], Source::Pairwise)
            } else if original == f.signed {
                (&b"scene"[..], Source::Signed)
            } else {
                panic!("modified frame accepted");
            };
            assert_eq!((o.payload, o.source, o.sender), (payload, source, 1));
            assert_eq!((rx.stats().accepted, rx.stats().refused_total()), (1, 0));
        }
        Err(e) => {
            assert_eq!(
                (
                    rx.stats().accepted,
                    rx.stats().refused_total(),
                    rx.stats().refused(e)
                ),
                (0, 1, 1)
            );
        }
    }
});
