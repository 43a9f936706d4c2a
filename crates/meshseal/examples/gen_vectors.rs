//! Produces the frozen test vectors `tests/vectors/compact-v1.json`.
//!
//! Each vector boots a sender at a given sequence number (a counter store holding that limit),
//! sets its length reference, seals the payload, and records every input and output. The file
//! is checked in; `tests/vectors.rs` re-derives, re-seals and opens every entry, so any change
//! of bytes on air fails the tests until the spec version and the vectors are bumped together.
//!
//! Run: `cargo run -p meshseal --example gen_vectors > crates/meshseal/tests/vectors/compact-v1.json`

use meshseal::counter::MemoryStore;
use meshseal::crypto::derive;
use meshseal::Seal;
use meshseal::{Fragment, FrameId, GroupKeys, LengthMode, Sender, SenderConfig, SenderIdMode};
use serde_json::{json, Value};

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
    payload: &'static [u8],
}

fn group(
    name: &str,
    secret: &[u8],
    salt: &[u8],
    group_id: u32,
    epoch: u16,
    cases: &[Case],
) -> Value {
    let d = derive(secret, salt, group_id, epoch).expect("valid inputs");
    let frames: Vec<Value> = cases
        .iter()
        .map(|c| {
            let mut cfg = SenderConfig::new(c.sender);
            cfg.sender_id_mode = if c.implicit {
                SenderIdMode::Implicit
            } else {
                SenderIdMode::Explicit
            };
            cfg.length_mode = LengthMode::Confirmed;
            cfg.full_every = 1000;
            let keys = GroupKeys::from_derived(&d, group_id, epoch);
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
            let n = match (c.fragment, c.bound) {
                _ if c.time.is_some() => tx.seal_with(
                    c.payload,
                    &Seal::default().timed(c.time.unwrap_or(0)),
                    &mut out,
                ),
                (Some((index, count)), None) => {
                    tx.seal_fragment(c.payload, Fragment { index, count }, &mut out)
                }
                (None, Some(("response", s, q))) => tx.seal_with(
                    c.payload,
                    &Seal::default().response(FrameId { sender: s, seq: q }),
                    &mut out,
                ),
                (None, Some(("challenge", s, q))) => tx
                    .seal_challenge(FrameId { sender: s, seq: q }, &mut out)
                    .map(|(n, _)| n),
                (None, Some(("echo", s, q))) => tx.seal_with(
                    c.payload,
                    &Seal::default().echo(FrameId { sender: s, seq: q }),
                    &mut out,
                ),
                (None, None) => tx.seal(c.payload, &mut out),
                _ => panic!("unsupported case"),
            }
            .unwrap();
            json!({
                "name": c.name,
                "sender": c.sender,
                "implicit_sender": c.implicit,
                "seq": c.seq,
                "reference": c.reference,
                "fragment": c.fragment.map(|(i, n)| json!({"index": i, "count": n})),
                "time": c.time,
                "bound": c.bound.map(|(k, s, q)| json!({"kind": k, "sender": s, "seq": q})),
                "payload": hex::encode(c.payload),
                "frame": hex::encode(&out[..n]),
                "overhead": n - c.payload.len(),
            })
        })
        .collect();
    json!({
        "name": name,
        "master_secret": hex::encode(secret),
        "salt": hex::encode(salt),
        "group_id": group_id,
        "epoch": epoch,
        "key": hex::encode(d.key),
        "common_iv": hex::encode(d.iv),
        "frames": frames,
    })
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
            payload: &[0x11; 40],
        },
    ];
    let out = json!({
        "description": "meshseal compact frame v1 test vectors (spec docs/wire-format.md 1.2). Produced by `cargo run -p meshseal --example gen_vectors`. Senders are booted at `seq` with length reference `reference` (LengthMode::Confirmed), so the sequence form follows the spec's shortest-form rule.",
        "spec_version": "1.2",
        "groups": [
            group("group A: 32-byte secret, no salt, epoch 0", &a, b"", 0x0000_0007, 0, &cases_a),
            group("group B: 64-byte secret, salt, epoch 5", &b, b"meshseal-salt", 0xcafe_f00d, 5, &cases_b),
        ],
    });
    println!("{}", serde_json::to_string_pretty(&out).unwrap());
}
