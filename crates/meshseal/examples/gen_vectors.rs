//! Produces the frozen test vectors `tests/vectors/compact-v1.json` and, with the argument
//! `privacy`, `tests/vectors/privacy-v1.json` (header privacy, spec §20).
//!
//! Each vector boots a sender at a given sequence number (a counter store holding that limit),
//! sets its length reference, seals the payload, and records every input and output. The file
//! is checked in; `tests/vectors.rs` re-derives, re-seals and opens every entry, so any change
//! of bytes on air fails the tests until the spec version and the vectors are bumped together.
//!
//! Run: `cargo run -p meshseal --example gen_vectors > crates/meshseal/tests/vectors/compact-v1.json`
//! and `cargo run -p meshseal --example gen_vectors -- privacy > crates/meshseal/tests/vectors/privacy-v1.json`.

use meshseal::counter::MemoryStore;
use meshseal::crypto::derive;
use meshseal::privacy::{derive_privacy_key, Private};
use meshseal::{
    AeadBackend, Fragment, FrameId, GroupKeys, LengthMode, Repeat, RustCryptoCcm, Seal, Sender,
    SenderConfig, SenderIdMode,
};
use serde_json::{json, Value};

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    sender: u32,
    implicit: bool,
    seq: u64,
    reference: Option<u64>,
    fragment: Option<(u8, u8)>,
    /// ("response" | "challenge" | "echo", bound sender, bound sequence number)
    bound: Option<(&'static str, u32, u64)>,
    /// Coarse timestamp (extension bit T).
    time: Option<u16>,
    /// Repeat announcement (copies, window; extension bit W).
    repeat: Option<(u8, u8)>,
    payload: &'static [u8],
}

/// Seals one case under `keys`.
fn seal_case<A: AeadBackend>(keys: GroupKeys<A>, c: &Case) -> Vec<u8> {
    let mut cfg = SenderConfig::new(c.sender);
    cfg.sender_id_mode = if c.implicit {
        SenderIdMode::Implicit
    } else {
        SenderIdMode::Explicit
    };
    cfg.length_mode = LengthMode::Confirmed;
    cfg.full_every = 1000;
    let mut tx = Sender::new(
        keys,
        cfg,
        MemoryStore {
            limit: Some(c.seq),
            writes: 0,
        },
    )
    .unwrap();
    tx.restore_length_state(meshseal::context::LengthState {
        reference: c.reference,
        since_full: 0,
        ..Default::default()
    });
    let mut out = vec![0u8; 512];
    let mut how = Seal::default();
    if let Some(t) = c.time {
        how = how.timed(t);
    }
    if let Some((copies, window)) = c.repeat {
        how = how.repeated(Repeat { copies, window });
    }
    let n = match (c.fragment, c.bound) {
        (Some((index, count)), None) => {
            tx.seal_fragment(c.payload, Fragment { index, count }, &mut out)
        }
        (None, Some(("response", s, q))) => tx.seal_with(
            c.payload,
            &how.response(FrameId { sender: s, seq: q }),
            &mut out,
        ),
        (None, Some(("challenge", s, q))) => tx
            .seal_challenge(FrameId { sender: s, seq: q }, &mut out)
            .map(|(n, _)| n),
        (None, Some(("echo", s, q))) => tx.seal_with(
            c.payload,
            &how.echo(FrameId { sender: s, seq: q }),
            &mut out,
        ),
        (None, None) => tx.seal_with(c.payload, &how, &mut out),
        _ => panic!("unsupported case"),
    }
    .unwrap();
    out.truncate(n);
    out
}

/// One group of vectors; with `privacy`, a group with header privacy (spec §20).
fn group(
    name: &str,
    secret: &[u8],
    salt: &[u8],
    (group_id, epoch): (u32, u16),
    privacy: bool,
    cases: &[Case],
) -> Value {
    let d = derive(secret, salt, group_id, epoch).expect("valid inputs");
    let pk = derive_privacy_key(secret, salt, group_id, epoch).expect("valid inputs");
    let frames: Vec<Value> = cases
        .iter()
        .map(|c| {
            let frame = if privacy {
                let aead = Private::new(RustCryptoCcm::new(&d.key), &pk);
                seal_case(GroupKeys::with_backend(aead, d.iv, group_id, epoch), c)
            } else {
                seal_case(GroupKeys::from_derived(&d, group_id, epoch), c)
            };
            let mut v = json!({
                "name": c.name,
                "sender": c.sender,
                "implicit_sender": c.implicit,
                "seq": c.seq,
                "reference": c.reference,
                "fragment": c.fragment.map(|(i, n)| json!({"index": i, "count": n})),
                "time": c.time,
                "bound": c.bound.map(|(k, s, q)| json!({"kind": k, "sender": s, "seq": q})),
                "payload": hex::encode(c.payload),
                "frame": hex::encode(&frame),
                "overhead": frame.len() - c.payload.len(),
            });
            if privacy {
                v["repeat"] = json!(c.repeat.map(|(n, w)| json!({"copies": n, "window": w})));
            }
            v
        })
        .collect();
    let mut g = json!({
        "name": name,
        "master_secret": hex::encode(secret),
        "salt": hex::encode(salt),
        "group_id": group_id,
        "epoch": epoch,
        "key": hex::encode(d.key),
        "common_iv": hex::encode(d.iv),
        "frames": frames,
    });
    if privacy {
        g["privacy_key"] = json!(hex::encode(pk));
    }
    g
}

fn main() {
    let a: Vec<u8> = (0u8..32).collect();
    let b: Vec<u8> = (0u8..64).map(|i| i.wrapping_mul(37) ^ 0x5a).collect();
    let cases_a = [
        Case {
            name: "first frame after boot, full number",
            sender: 1,
            implicit: false,
            seq: 0,
            reference: None,
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"\x01",
        },
        Case {
            name: "steady short form, 4-byte reading",
            sender: 1,
            implicit: false,
            seq: 5,
            reference: Some(4),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"\x00\xd2\x02\x15",
        },
        Case {
            name: "short form wraps low bits",
            sender: 2,
            implicit: false,
            seq: 0x1f,
            reference: Some(0x1d),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"lamp on",
        },
        Case {
            name: "1-byte form, 2-byte sender id",
            sender: 300,
            implicit: false,
            seq: 1000,
            reference: Some(900),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"temp=21",
        },
        Case {
            name: "2-byte form",
            sender: 3,
            implicit: false,
            seq: 70_000,
            reference: Some(69_000),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"\xde\xad\xbe\xef",
        },
        Case {
            name: "implicit sender, short form",
            sender: 2,
            implicit: true,
            seq: 40,
            reference: Some(39),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"\x00",
        },
        Case {
            name: "largest sender id and sequence number, empty payload",
            sender: u32::MAX,
            implicit: false,
            seq: (1 << 40) - 1,
            reference: None,
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"",
        },
        Case {
            name: "response to sender 1's request 5",
            sender: 2,
            implicit: false,
            seq: 41,
            reference: Some(40),
            fragment: None,
            bound: Some(("response", 1, 5)),
            time: None,
            repeat: None,
            payload: b"\x01",
        },
        Case {
            name: "challenge to sender 1's request 6",
            sender: 2,
            implicit: false,
            seq: 42,
            reference: Some(41),
            fragment: None,
            bound: Some(("challenge", 1, 6)),
            time: None,
            repeat: None,
            payload: b"",
        },
        Case {
            name: "echo of challenge (2, 42)",
            sender: 1,
            implicit: false,
            seq: 7,
            reference: Some(6),
            fragment: None,
            bound: Some(("echo", 2, 42)),
            time: None,
            repeat: None,
            payload: b"unlock",
        },
        Case {
            name: "timed frame (coarse time 1000)",
            sender: 1,
            implicit: false,
            seq: 8,
            reference: Some(7),
            fragment: None,
            bound: None,
            time: Some(1000),
            repeat: None,
            payload: b"unlock",
        },
        Case {
            name: "fragment 1 of 3",
            sender: 9,
            implicit: false,
            seq: 42,
            reference: Some(41),
            fragment: Some((1, 3)),
            bound: None,
            time: None,
            repeat: None,
            payload: b"middle part of a long message",
        },
    ];
    let cases_b = [
        Case {
            name: "epoch 5 with salt, full number",
            sender: 77,
            implicit: false,
            seq: 123_456_789,
            reference: None,
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"unlock",
        },
        Case {
            name: "epoch 5, 3-byte form",
            sender: 127,
            implicit: false,
            seq: 5_000_000,
            reference: Some(4_000_000),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: b"\x02\x00",
        },
        Case {
            name: "epoch 5, 4-byte form, implicit",
            sender: 128,
            implicit: true,
            seq: 4_000_000_000,
            reference: Some(3_000_000_000),
            fragment: None,
            bound: None,
            time: None,
            repeat: None,
            payload: &[0x11; 40],
        },
    ];
    let privacy = std::env::args().any(|a| a == "privacy");
    let out = if privacy {
        let c: Vec<u8> = (0u8..32).map(|i| i ^ 0xa5).collect();
        json!({
            "description": "meshseal compact frame v1 test vectors with header privacy (spec docs/wire-format.md 1.3, section 20). Produced by `cargo run -p meshseal --example gen_vectors -- privacy`. As compact-v1.json, plus the group's privacy key; each frame's header is masked with AES-128(privacy key, tag || 0^8) but for the version and epoch bits.",
            "spec_version": "1.3",
            "groups": [
                group("group C: header privacy, epoch 2", &c, b"", (0x0000_0042, 2), true, &privacy_cases()),
            ],
        })
    } else {
        json!({
            "description": "meshseal compact frame v1 test vectors (spec docs/wire-format.md 1.3). Produced by `cargo run -p meshseal --example gen_vectors`. Senders are booted at `seq` with length reference `reference` (LengthMode::Confirmed), so the sequence form follows the spec's shortest-form rule.",
            "spec_version": "1.3",
            "groups": [
                group("group A: 32-byte secret, no salt, epoch 0", &a, b"", (0x0000_0007, 0), false, &cases_a),
                group("group B: 64-byte secret, salt, epoch 5", &b, b"meshseal-salt", (0xcafe_f00d, 5), false, &cases_b),
            ],
        })
    };
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}

/// The header-privacy vectors: every kind of header, masked.
fn privacy_cases() -> Vec<Case> {
    let base = Case {
        name: "",
        sender: 1,
        implicit: false,
        seq: 0,
        reference: None,
        fragment: None,
        bound: None,
        time: None,
        repeat: None,
        payload: b"\x01",
    };
    vec![
        Case {
            name: "private: first frame after boot, full number",
            ..base
        },
        Case {
            name: "private: steady short form",
            seq: 5,
            reference: Some(4),
            payload: b"\x00\xd2\x02\x15",
            ..base
        },
        Case {
            name: "private: 1-byte form, 2-byte sender id",
            sender: 300,
            seq: 1000,
            reference: Some(900),
            payload: b"temp=21",
            ..base
        },
        Case {
            name: "private: implicit sender, short form",
            sender: 2,
            implicit: true,
            seq: 40,
            reference: Some(39),
            payload: b"\x00",
            ..base
        },
        Case {
            name: "private: timed frame",
            seq: 8,
            reference: Some(7),
            time: Some(1000),
            payload: b"unlock",
            ..base
        },
        Case {
            name: "private: repeated timed command (3 copies over 30)",
            seq: 9,
            reference: Some(8),
            time: Some(1001),
            repeat: Some((3, 30)),
            payload: b"on",
            ..base
        },
        Case {
            name: "private: response to sender 1's request 5",
            sender: 2,
            seq: 41,
            reference: Some(40),
            bound: Some(("response", 1, 5)),
            ..base
        },
        Case {
            name: "private: challenge to sender 1's request 6",
            sender: 2,
            seq: 42,
            reference: Some(41),
            bound: Some(("challenge", 1, 6)),
            payload: b"",
            ..base
        },
        Case {
            name: "private: echo of challenge (2, 42)",
            seq: 7,
            reference: Some(6),
            bound: Some(("echo", 2, 42)),
            payload: b"unlock",
            ..base
        },
        Case {
            name: "private: fragment 1 of 3",
            sender: 9,
            seq: 42,
            reference: Some(41),
            fragment: Some((1, 3)),
            payload: b"middle part",
            ..base
        },
        Case {
            name: "private: largest sender id and sequence number, empty payload",
            sender: u32::MAX,
            seq: (1 << 40) - 1,
            payload: b"",
            ..base
        },
    ]
}
