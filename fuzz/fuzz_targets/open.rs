//! `open`: a recipient fed arbitrary and mutated frames never panics, never accepts anything but
//! an unmodified genuine frame, and keeps its statistics exact.
//!
//! Setup, rebuilt for every input: the group key `GroupKeys::derive(&[0x42; 32], b"", 7, 0)`, a
//! `Recipient` over `PeerTable::<4>` accepting members `0..=1000` (own id 3), with senders 1 and
//! 2 provisioned. Genuine frames, sealed once with `Sender`s over a `MemoryStore`: sender 1 with
//! explicit ids (full and short sequence forms, empty payload, two fragments, one frame with a
//! coarse timestamp) and sender 2 with implicit ids (opened with `Open::from(2)`).
//!
//! Input: a sequence of records `op, len, len bytes` (the last one may be cut short). `op & 3`:
//! - 0: the bytes are a frame for `recipient.open`;
//! - 1: the bytes are a frame for `recipient.open_with(.., &Open::default().from(link))`, `link` taken from `op >> 2`
//!   (0..=47, or 1048..=1063 for non-members);
//! - 2: genuine sender-1 frame number `(op >> 2) & 0x1f` (modulo their count), XORed with the
//!   bytes (bytes past its end are appended; `op & 0x80` truncates it to `len` bytes), for `open`;
//! - 3: the same with a genuine sender-2 frame, for `Open::from(2)`.
//!
//! Checked after every call: no panic; on `Err(e)` the refused total and `refused(e)` grew by
//! exactly one and `accepted` did not move, and on `BadTag` the payload bytes were wiped; on `Ok`
//! `accepted` grew by one and the refusals did not move. An accepted frame must be byte for byte
//! a genuine frame (so a mutated one is never accepted), opened in its own id mode, never accepted
//! before, with the genuine plaintext, fragment, time, fresh status, and the gap/late values of a
//! simple model of the replay window.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshseal::counter::MemoryStore;
use meshseal::frame::Frame;
use meshseal::replay::PeerTable;
use meshseal::Open;
use meshseal::Seal;
use meshseal::{
    Error, Fragment, Freshness, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig,
    SenderIdMode, TAG_LEN,
};

const SECRET: [u8; 32] = [0x42; 32];
const GROUP: u32 = 7;
const OWN_ID: u32 = 3;

fn keys() -> GroupKeys {
    GroupKeys::derive(&SECRET, b"", GROUP, 0).expect("fixed key derives")
}

/// A frame sealed by a real sender, and what opening it must give.
struct Genuine {
    bytes: Vec<u8>,
    mode: SenderIdMode,
    sender: u32,
    seq: u64,
    payload: Vec<u8>,
    fragment: Option<Fragment>,
    time: Option<u16>,
}

/// How a genuine frame is sealed.
#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Fragment(Fragment),
    Timed(u16),
}

struct Fixture {
    sender1: Vec<Genuine>,
    sender2: Vec<Genuine>,
}

fn seal_all(cfg: SenderConfig, plan: &[(&[u8], Kind)]) -> Vec<Genuine> {
    let mut s = Sender::provision(keys(), cfg, MemoryStore::default()).expect("sender boots");
    plan.iter()
        .map(|&(payload, kind)| {
            let seq = s.next_seq();
            let mut out = vec![0u8; payload.len() + 32];
            let n = match kind {
                Kind::Plain => s.seal(payload, &mut out),
                Kind::Fragment(f) => s.seal_fragment(payload, f, &mut out),
                Kind::Timed(t) => s.seal_with(payload, &Seal::default().timed(t), &mut out),
            }
            .expect("genuine frame seals");
            out.truncate(n);
            Genuine {
                bytes: out,
                mode: cfg.sender_id_mode,
                sender: cfg.sender_id,
                seq,
                payload: payload.to_vec(),
                fragment: match kind {
                    Kind::Fragment(f) => Some(f),
                    _ => None,
                },
                time: match kind {
                    Kind::Timed(t) => Some(t),
                    _ => None,
                },
            }
        })
        .collect()
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let sender1 = seal_all(
            SenderConfig::new(1),
            &[
                (b"", Kind::Plain),
                (b"temp=21", Kind::Plain),
                (b"0123456789abcdef", Kind::Plain),
                (b"frag-0", Kind::Fragment(Fragment { index: 0, count: 2 })),
                (b"frag-1", Kind::Fragment(Fragment { index: 1, count: 2 })),
                (&[0xa5; 40], Kind::Plain),
                (b"timed", Kind::Timed(0x1234)),
            ],
        );
        let sender2 = seal_all(
            SenderConfig {
                sender_id_mode: SenderIdMode::Implicit,
                ..SenderConfig::new(2)
            },
            &[
                (b"hello", Kind::Plain),
                (b"", Kind::Plain),
                (b"world!", Kind::Plain),
            ],
        );
        // Self-check: unmodified and in order, every genuine frame opens, so the fuzzer can
        // reach the accept path by XORing with zeros.
        let mut r = Recipient::new(
            keys(),
            RecipientConfig::default(),
            0..=1000u32,
            PeerTable::<4>::new(),
        );
        r.provision(1);
        r.provision(2);
        for g in sender1.iter().chain(&sender2) {
            let mut b = g.bytes.clone();
            let opened = match g.mode {
                SenderIdMode::Explicit => r.open(&mut b),
                SenderIdMode::Implicit => r.open_with(&mut b, &Open::default().from(g.sender)),
            }
            .expect("a genuine frame opens");
            assert_eq!((opened.seq, opened.payload), (g.seq, &g.payload[..]));
        }
        Fixture { sender1, sender2 }
    })
}

/// What the replay window must report for `seq`, given the highest number accepted so far.
fn model_accept(highest: &mut Option<u64>, seq: u64) -> (u64, bool) {
    match *highest {
        None => {
            *highest = Some(seq);
            (seq, false)
        }
        Some(h) if seq > h => {
            *highest = Some(seq);
            (seq - h - 1, false)
        }
        Some(_) => (0, true),
    }
}

fuzz_target!(|data: &[u8]| {
    let fx = fixture();
    let mut recipient = Recipient::new(
        keys(),
        RecipientConfig {
            own_id: Some(OWN_ID),
            ..RecipientConfig::default()
        },
        0..=1000u32,
        PeerTable::<4>::new(),
    );
    recipient.provision(1);
    recipient.provision(2);

    // (sender, seq) pairs accepted so far, and the model's highest number per sender.
    let mut accepted: HashSet<(u32, u64)> = HashSet::new();
    let mut highest: HashMap<u32, Option<u64>> = HashMap::new();

    let mut rest = data;
    while let [op, tail @ ..] = rest {
        let (len, tail) = match tail {
            [len, tail @ ..] => (usize::from(*len), tail),
            [] => (0, tail),
        };
        let chunk = &tail[..len.min(tail.len())];
        rest = &tail[chunk.len()..];

        // Build the frame to offer, and the genuine frame it was derived from, if any.
        let (mut frame, mode, link, origin): (Vec<u8>, _, _, Option<&Genuine>) = match op & 3 {
            0 => (chunk.to_vec(), SenderIdMode::Explicit, None, None),
            1 => {
                let v = u32::from(op >> 2);
                let link = if v < 48 { v } else { 1000 + v };
                (chunk.to_vec(), SenderIdMode::Implicit, Some(link), None)
            }
            k => {
                let pool = if k == 2 { &fx.sender1 } else { &fx.sender2 };
                let g = &pool[usize::from((op >> 2) & 0x1f) % pool.len()];
                let mut m = g.bytes.clone();
                for (i, &b) in chunk.iter().enumerate() {
                    match m.get_mut(i) {
                        Some(x) => *x ^= b,
                        None => m.push(b),
                    }
                }
                if op & 0x80 != 0 {
                    m.truncate(chunk.len());
                }
                let link = (g.mode == SenderIdMode::Implicit).then_some(g.sender);
                (m, g.mode, link, Some(g))
            }
        };
        let sent = frame.clone();

        let before = recipient.stats().clone();
        let result = match link {
            None => recipient.open(&mut frame),
            Some(l) => recipient.open_with(&mut frame, &Open::default().from(l)),
        };
        match result {
            Err(e) => {
                let after = recipient.stats();
                assert_eq!(after.refused_total(), before.refused_total() + 1, "{e:?}");
                assert_eq!(after.refused(e), before.refused(e) + 1, "{e:?}");
                assert_eq!(after.accepted, before.accepted, "{e:?}");
                if e == Error::BadTag {
                    // The header is untouched; the ciphertext must have been wiped.
                    let f = Frame::new_checked(&frame[..], mode)
                        .expect("a BadTag frame was well formed");
                    assert!(
                        f.payload().iter().all(|&b| b == 0),
                        "payload not wiped after BadTag"
                    );
                    assert_eq!(&frame[..f.header_len()], &sent[..f.header_len()]);
                    assert_eq!(
                        &frame[frame.len() - TAG_LEN..],
                        &sent[sent.len() - TAG_LEN..]
                    );
                }
            }
            Ok(o) => {
                let (o_sender, o_seq, o_payload) = (o.sender, o.seq, o.payload.to_vec());
                let (o_fragment, o_time, o_epoch, o_fresh, o_gap, o_late) =
                    (o.fragment, o.time, o.epoch, o.freshness, o.gap, o.late);
                let after = recipient.stats();
                assert_eq!(after.accepted, before.accepted + 1);
                assert_eq!(after.refused_total(), before.refused_total());

                if let Some(g) = origin {
                    assert_eq!(sent, g.bytes, "a mutated frame was accepted: {sent:02x?}");
                }
                let g = fx
                    .sender1
                    .iter()
                    .chain(&fx.sender2)
                    .find(|g| g.sender == o_sender && g.seq == o_seq)
                    .unwrap_or_else(|| panic!("accepted a frame no sender sealed: {sent:02x?}"));
                assert_eq!(
                    sent, g.bytes,
                    "accepted bytes differ from the genuine frame"
                );
                assert_eq!(mode, g.mode);
                assert_eq!(link.unwrap_or(o_sender), g.sender);
                assert_eq!(o_payload, g.payload);
                assert_eq!(o_fragment, g.fragment);
                assert_eq!(o_time, g.time);
                assert_eq!(o_epoch, 0);
                assert_eq!(o_fresh, Freshness::Fresh, "provisioned senders are fresh");
                assert!(
                    accepted.insert((o_sender, o_seq)),
                    "accepted twice: {o_sender}/{o_seq}"
                );
                let (gap, late) = model_accept(highest.entry(o_sender).or_default(), o_seq);
                assert_eq!((o_gap, o_late), (gap, late));
            }
        }
    }
    let s = recipient.stats();
    assert_eq!(s.accepted as usize, accepted.len());
    assert_eq!(s.unknown_freshness, 0);
    assert_eq!(s.evicted, 0);
});
