//! The frozen vectors of `tests/vectors/compact-v1.json` and `privacy-v1.json` (header
//! privacy, spec §20): key schedule, sealing and opening
//! must reproduce them byte for byte. A failure here means bytes on air changed: bump the spec
//! version in docs/wire-format.md and regenerate the vectors in the same change.

use meshseal::context::{open_stateless, LengthState};
use meshseal::counter::MemoryStore;
use meshseal::crypto::derive;
use meshseal::frame::{Frame, Repr};
use meshseal::privacy::{apply_mask, derive_privacy_key, header_mask};
use meshseal::{
    AeadBackend, Error, Fragment, FrameId, GroupKeys, LengthMode, Repeat, Seal, Sender,
    SenderConfig, SenderIdMode,
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
    #[serde(default)]
    privacy_key: Option<String>,
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
    #[serde(default)]
    repeat: Option<Rep>,
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

fn load(name: &str) -> File {
    let path = format!("{}/tests/vectors/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

#[derive(Deserialize)]
struct Rep {
    copies: u8,
    window: u8,
}

/// Seals vector `v` under `keys` with a sender booted at its number and reference.
fn seal<A: AeadBackend>(keys: GroupKeys<A>, v: &Vector, mode: SenderIdMode) -> Vec<u8> {
    let mut cfg = SenderConfig::new(v.sender);
    cfg.sender_id_mode = mode;
    cfg.length_mode = LengthMode::Confirmed;
    cfg.full_every = 1000;
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
    let payload = h(&v.payload);
    let mut out = vec![0u8; 512];
    let bound = v.bound.as_ref().map(|b| FrameId {
        sender: b.sender,
        seq: b.seq,
    });
    let mut how = Seal::default();
    if let Some(t) = v.time {
        how = how.timed(t);
    }
    if let Some(r) = &v.repeat {
        how = how.repeated(Repeat {
            copies: r.copies,
            window: r.window,
        });
    }
    let n = match (&v.fragment, v.bound.as_ref().map(|b| b.kind.as_str())) {
        (Some(f), None) => tx.seal_fragment(
            &payload,
            Fragment {
                index: f.index,
                count: f.count,
            },
            &mut out,
        ),
        (None, Some("response")) => tx.seal_with(&payload, &how.response(bound.unwrap()), &mut out),
        (None, Some("challenge")) => tx.seal_challenge(bound.unwrap(), &mut out).map(|(n, _)| n),
        (None, Some("echo")) => tx.seal_with(&payload, &how.echo(bound.unwrap()), &mut out),
        (None, None) => tx.seal_with(&payload, &how, &mut out),
        _ => panic!("unknown vector kind: {}", v.name),
    }
    .unwrap();
    out.truncate(n);
    out
}

/// Reproduces, parses and opens every frame of `g` under `keys` (the group's keys, with header
/// privacy for a privacy group), and refuses every single-bit change of it. Returns the count.
fn check_group<A: AeadBackend>(g: &Group, keys: impl Fn() -> GroupKeys<A>) -> usize {
    let secret = h(&g.master_secret);
    let salt = h(&g.salt);
    let d = derive(&secret, &salt, g.group_id, g.epoch).unwrap();
    assert_eq!(hex::encode(&d.key), g.key);
    assert_eq!(hex::encode(d.iv), g.common_iv);
    let private = keys().header_privacy();
    let mut count = 0;
    for v in &g.frames {
        let payload = h(&v.payload);
        let expected = h(&v.frame);
        assert_eq!(expected.len() - payload.len(), v.overhead, "{}", v.name);
        let mode = if v.implicit_sender {
            SenderIdMode::Implicit
        } else {
            SenderIdMode::Explicit
        };
        assert_eq!(
            hex::encode(seal(keys(), v, mode)),
            v.frame,
            "seal: {}",
            v.name
        );

        // Parse. A private frame is the group's frame without privacy, its header masked.
        let clear = seal(GroupKeys::from_derived(&d, g.group_id, g.epoch), v, mode);
        if private {
            let mask = header_mask(&keys(), &expected).unwrap();
            let hlen = Frame::new_checked(&clear[..], mode).unwrap().header_len();
            let mut unmasked = expected.clone();
            apply_mask(&mut unmasked, hlen, &mask);
            assert_eq!(unmasked, clear, "{}: only the header is masked", v.name);
            assert_eq!(
                expected[0] & 0xe0,
                clear[0] & 0xe0,
                "{}: clear bits",
                v.name
            );
        } else {
            assert_eq!(clear, expected);
        }
        let frame = Frame::new_checked(&clear[..], mode).unwrap();
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
        let keys = keys();
        let bound = v.bound.as_ref().map(|b| FrameId {
            sender: b.sender,
            seq: b.seq,
        });
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

        // Any single-bit change is refused; a bad tag wipes the payload (checked where the
        // changed frame's header is known: any change without privacy, a change of the ciphertext
        // with it, which leaves the tag and so the mask as they were).
        let hlen = frame.header_len();
        for i in 0..expected.len() * 8 {
            let mut buf = expected.clone();
            buf[i / 8] ^= 1 << (i % 8);
            let body = match Frame::new_checked(&buf[..], mode) {
                Ok(f) if !private => Some(f.header_len()..buf.len() - 8),
                _ if private && (hlen..buf.len() - 8).contains(&(i / 8)) => {
                    Some(hlen..buf.len() - 8)
                }
                _ => None,
            };
            let r = open_stateless(&keys, &mut buf, mode, link, near, bound);
            assert!(r.is_err(), "{}: bit {i} accepted", v.name);
            if let (Err(Error::BadTag), Some(body)) = (r, body) {
                assert!(buf[body].iter().all(|&b| b == 0), "{}: not wiped", v.name);
            }
        }
        count += 1;
    }
    count
}

#[test]
fn vectors_are_reproduced_byte_for_byte() {
    let file = load("compact-v1.json");
    assert_eq!(file.spec_version, "1.3");
    let mut count = 0;
    for g in &file.groups {
        let d = derive(&h(&g.master_secret), &h(&g.salt), g.group_id, g.epoch).unwrap();
        count += check_group(g, || GroupKeys::from_derived(&d, g.group_id, g.epoch));
    }
    assert!(count >= 14);
}

#[test]
fn header_privacy_vectors_are_reproduced_byte_for_byte() {
    let file = load("privacy-v1.json");
    assert_eq!(file.spec_version, "1.3");
    let mut count = 0;
    for g in &file.groups {
        let (secret, salt) = (h(&g.master_secret), h(&g.salt));
        let pk = derive_privacy_key(&secret, &salt, g.group_id, g.epoch).unwrap();
        assert_eq!(Some(hex::encode(pk)), g.privacy_key);
        count += check_group(g, || {
            GroupKeys::derive_private(&secret, &salt, g.group_id, g.epoch).unwrap()
        });
    }
    assert!(count >= 11);
}
