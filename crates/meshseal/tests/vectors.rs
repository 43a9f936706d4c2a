//! The frozen vectors of `tests/vectors/compact-v1.json`: key schedule, sealing and opening
//! must reproduce them byte for byte. A failure here means bytes on air changed: bump the spec
//! version in docs/wire-format.md and regenerate the vectors in the same change.

use meshseal::context::{open_stateless, LengthState};
use meshseal::counter::MemoryStore;
use meshseal::crypto::derive;
use meshseal::frame::{Frame, Repr};
use meshseal::Seal;
use meshseal::{
    Error, Fragment, FrameId, GroupKeys, LengthMode, Sender, SenderConfig, SenderIdMode,
};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    spec_version: String,
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    master_secret: String,
    salt: String,
    group_id: u32,
    epoch: u16,
    key: String,
    common_iv: String,
    frames: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    sender: u32,
    implicit_sender: bool,
    seq: u64,
    reference: Option<u64>,
    fragment: Option<Frag>,
    bound: Option<Bound>,
    time: Option<u16>,
    payload: String,
    frame: String,
    overhead: usize,
}

#[derive(Deserialize)]
struct Bound {
    kind: String,
    sender: u32,
    seq: u64,
}

#[derive(Deserialize)]
struct Frag {
    index: u8,
    count: u8,
}

fn load() -> File {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/compact-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[test]
fn vectors_are_reproduced_byte_for_byte() {
    let file = load();
    assert_eq!(file.spec_version, "1.2");
    let mut count = 0;
    for g in &file.groups {
        let secret = h(&g.master_secret);
        let salt = h(&g.salt);
        let d = derive(&secret, &salt, g.group_id, g.epoch).unwrap();
        assert_eq!(hex::encode(d.key), g.key);
        assert_eq!(hex::encode(d.iv), g.common_iv);
        for v in &g.frames {
            let payload = h(&v.payload);
            let expected = h(&v.frame);
            assert_eq!(expected.len() - payload.len(), v.overhead, "{}", v.name);
            let mode = if v.implicit_sender {
                SenderIdMode::Implicit
            } else {
                SenderIdMode::Explicit
            };

            // Seal.
            let mut cfg = SenderConfig::new(v.sender);
            cfg.sender_id_mode = mode;
            cfg.length_mode = LengthMode::Confirmed;
            cfg.full_every = 1000;
            let keys = GroupKeys::from_derived(&d, g.group_id, g.epoch);
            let mut tx = Sender::new(
                keys,
                cfg,
                MemoryStore {
                    limit: Some(v.seq),
                    writes: 0,
                },
            )
            .unwrap();
            tx.restore_length_state(LengthState {
                reference: v.reference,
                since_full: 0,
                ..Default::default()
            });
            let mut out = vec![0u8; 512];
            let bound = v.bound.as_ref().map(|b| FrameId {
                sender: b.sender,
                seq: b.seq,
            });
            let n = match (&v.fragment, v.bound.as_ref().map(|b| b.kind.as_str())) {
                _ if v.time.is_some() => tx.seal_with(
                    &payload,
                    &Seal::default().timed(v.time.unwrap_or(0)),
                    &mut out,
                ),
                (Some(f), None) => tx.seal_fragment(
                    &payload,
                    Fragment {
                        index: f.index,
                        count: f.count,
                    },
                    &mut out,
                ),
                (None, Some("response")) => tx.seal_with(
                    &payload,
                    &Seal::default().response(bound.unwrap()),
                    &mut out,
                ),
                (None, Some("challenge")) => {
                    tx.seal_challenge(bound.unwrap(), &mut out).map(|(n, _)| n)
                }
                (None, Some("echo")) => {
                    tx.seal_with(&payload, &Seal::default().echo(bound.unwrap()), &mut out)
                }
                (None, None) => tx.seal(&payload, &mut out),
                _ => panic!("unknown vector kind: {}", v.name),
            }
            .unwrap();
            assert_eq!(hex::encode(&out[..n]), v.frame, "seal: {}", v.name);

            // Parse.
            let frame = Frame::new_checked(&expected[..], mode).unwrap();
            let repr = Repr::parse(&frame);
            assert_eq!(
                repr.sender,
                (!v.implicit_sender).then_some(v.sender),
                "{}",
                v.name
            );
            assert_eq!(repr.payload_len, payload.len());
            assert_eq!(
                repr.fragment,
                v.fragment.as_ref().map(|f| Fragment {
                    index: f.index,
                    count: f.count
                })
            );

            // Open, as a receiver in step at the reference would.
            let keys = GroupKeys::from_derived(&d, g.group_id, g.epoch);
            let near = v.reference.map_or(0, |r| r + 1);
            let link = v.implicit_sender.then_some(v.sender);
            let mut buf = expected.clone();
            let o = open_stateless(&keys, &mut buf, mode, link, near, bound).unwrap();
            assert_eq!(
                (o.sender, o.seq, o.payload),
                (v.sender, v.seq, &payload[..]),
                "{}",
                v.name
            );

            // Any single-bit change is refused.
            for i in 0..expected.len() * 8 {
                let mut buf = expected.clone();
                buf[i / 8] ^= 1 << (i % 8);
                let body =
                    Frame::new_checked(&buf[..], mode).map(|f| f.header_len()..buf.len() - 8);
                let r = open_stateless(&keys, &mut buf, mode, link, near, bound);
                assert!(r.is_err(), "{}: bit {i} accepted", v.name);
                if let (Err(Error::BadTag), Ok(body)) = (r, body) {
                    assert!(buf[body].iter().all(|&b| b == 0), "{}: not wiped", v.name);
                }
            }
            count += 1;
        }
    }
    assert!(count >= 14);
}
