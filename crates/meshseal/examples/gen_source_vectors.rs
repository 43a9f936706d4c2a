//! Produces the frozen vectors of source authentication and rekeying,
//! `tests/vectors/source-v1.json`: pairwise key derivation and frames, a signed frame, a repeated
//! (timed) frame and a rekey message.
//!
//! Run: `cargo run -p meshseal --example gen_source_vectors --features pairwise,signed > crates/meshseal/tests/vectors/source-v1.json`

use meshseal::context::LengthState;
use meshseal::counter::MemoryStore;
use meshseal::rekey::{seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::source::{derive_pairwise, SigningKey, X25519Public, X25519Secret};
use meshseal::Seal;
use meshseal::{GroupKeys, LengthMode, Repeat, Sender, SenderConfig};
use serde_json::json;

const GROUP_ID: u32 = 7;
const EPOCH: u16 = 0;

fn sender(id: u32, seq: u64, reference: u64) -> Sender<MemoryStore> {
    let secret: Vec<u8> = (0u8..32).collect();
    let mut cfg = SenderConfig::new(id);
    cfg.length_mode = LengthMode::Confirmed;
    cfg.full_every = 1000;
    let keys = GroupKeys::derive(&secret, b"", GROUP_ID, EPOCH).unwrap();
    let mut tx = Sender::new(
        keys,
        cfg,
        MemoryStore {
            limit: Some(seq),
            writes: 0,
        },
    )
    .unwrap();
    tx.restore_length_state(LengthState {
        reference: Some(reference),
        since_full: 0,
        ..Default::default()
    });
    tx
}

fn main() {
    let secret: Vec<u8> = (0u8..32).collect();
    let dh1: [u8; 32] = core::array::from_fn(|i| 0x40 + i as u8);
    let dh2: [u8; 32] = core::array::from_fn(|i| 0x80 + i as u8);
    let (x1, x2) = (X25519Secret::from(dh1), X25519Secret::from(dh2));
    let (p1, p2) = (X25519Public::from(&x1), X25519Public::from(&x2));
    let k12 = derive_pairwise(&secret, b"", GROUP_ID, EPOCH, 1, &x1, 2, &p2).unwrap();
    let k21 = derive_pairwise(&secret, b"", GROUP_ID, EPOCH, 2, &x2, 1, &p1).unwrap();
    let mut out = [0u8; 256];
    let n = sender(1, 9, 8)
        .seal_with(b"unlock", &Seal::default().pairwise(&k12), &mut out)
        .unwrap();
    let pair_1_to_2 = hex::encode(&out[..n]);
    let n = sender(2, 300, 299)
        .seal_with(b"locked", &Seal::default().pairwise(&k21), &mut out)
        .unwrap();
    let pair_2_to_1 = hex::encode(&out[..n]);

    let sk_bytes: [u8; 32] = core::array::from_fn(|i| 0xc0 + i as u8);
    let sk = SigningKey::from_bytes(&sk_bytes);
    let n = sender(1, 10, 9)
        .seal_with(b"scene 4", &Seal::default().signed(&sk), &mut out)
        .unwrap();
    let signed = hex::encode(&out[..n]);

    let n = sender(1, 11, 10)
        .seal_with(
            b"lamp on",
            &Seal {
                time: Some(1000),
                ..Seal::default().repeated(Repeat {
                    copies: 5,
                    window: 30,
                })
            },
            &mut out,
        )
        .unwrap();
    let repeated = hex::encode(&out[..n]);

    let member_secret: [u8; 32] = core::array::from_fn(|i| 0x10 + i as u8);
    let mk = MemberKey::derive(&member_secret, GROUP_ID, 2);
    let new_secret: [u8; 32] = core::array::from_fn(|i| 0xa0 + i as u8);
    let rekey = Rekey::new(1, &new_secret, b"", 3600, &[3]).unwrap();
    let mut buf = [0u8; MAX_REKEY_LEN];
    let n = seal_rekey(&mk, 1, &rekey, &mut buf).unwrap();

    let v = json!({
        "description": "meshseal source authentication and rekey vectors (spec docs/wire-format.md 1.2). Produced by `cargo run -p meshseal --example gen_source_vectors --features pairwise,signed`. Group: master secret 00..1f, no salt, group id 7, epoch 0; senders booted at `seq` with length reference `reference`.",
        "spec_version": "1.2",
        "master_secret": hex::encode(&secret),
        "group_id": GROUP_ID,
        "epoch": EPOCH,
        "pairwise": {
            "members": [
                {"id": 1, "x25519_secret": hex::encode(dh1), "x25519_public": hex::encode(p1.as_bytes())},
                {"id": 2, "x25519_secret": hex::encode(dh2), "x25519_public": hex::encode(p2.as_bytes())},
            ],
            "frames": [
                {"sender": 1, "receiver": 2, "seq": 9, "reference": 8, "payload": hex::encode(b"unlock"), "frame": pair_1_to_2},
                {"sender": 2, "receiver": 1, "seq": 300, "reference": 299, "payload": hex::encode(b"locked"), "frame": pair_2_to_1},
            ],
        },
        "signed": {
            "sender": 1, "seq": 10, "reference": 9,
            "ed25519_secret": hex::encode(sk_bytes),
            "ed25519_public": hex::encode(sk.verifying_key().as_bytes()),
            "payload": hex::encode(b"scene 4"),
            "frame": signed,
        },
        "repeat": {
            "sender": 1, "seq": 11, "reference": 10, "copies": 5, "window": 30, "time": 1000,
            "payload": hex::encode(b"lamp on"),
            "frame": repeated,
        },
        "rekey": {
            "member": 2,
            "member_secret": hex::encode(member_secret),
            "counter": 1,
            "epoch": 1,
            "grace": 3600,
            "new_master_secret": hex::encode(new_secret),
            "salt": "",
            "removed": [3],
            "message": hex::encode(&buf[..n]),
        },
    });
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
}
