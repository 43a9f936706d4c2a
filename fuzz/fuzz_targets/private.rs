//! `private`: a recipient of a group with header privacy (spec §20) fed arbitrary and mutated
//! frames never panics, accepts only unmodified genuine frames, keeps its statistics exact, and
//! hands every frame refused before its tag back exactly as it came (its header masked again).
//!
//! Setup, rebuilt for every input: `GroupKeys::derive_private(&[0x42; 32], b"", 7, 0)`, a
//! `Recipient` over `PeerTable::<4>` accepting members `0..=1000` (own id 3), senders 1 and 2
//! provisioned. Genuine frames sealed once by sender 1: full and short forms, a timed frame, a
//! repeated frame, two fragments.
//!
//! Input: records `op, len, len bytes`. `op & 1`: 0: the bytes are a frame; 1: genuine frame
//! number `(op >> 1) % count` XORed with the bytes (`op & 0x80` truncates it to `len` bytes).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use meshseal::counter::MemoryStore;
use meshseal::privacy::Private;
use meshseal::replay::PeerTable;
use meshseal::{
    Error, Fragment, GroupKeys, Recipient, RecipientConfig, Repeat, RustCryptoCcm, Seal, Sender,
    SenderConfig,
};

type Keys = GroupKeys<Private<RustCryptoCcm>>;

fn keys() -> Keys {
    GroupKeys::derive_private(&[0x42; 32], b"", 7, 0).expect("fixed key derives")
}

/// Genuine frames with their plaintexts.
fn genuine() -> &'static Vec<(Vec<u8>, Vec<u8>)> {
    static FRAMES: OnceLock<Vec<(Vec<u8>, Vec<u8>)>> = OnceLock::new();
    FRAMES.get_or_init(|| {
        let mut tx = Sender::provision(keys(), SenderConfig::new(1), MemoryStore::default())
            .expect("sender");
        let mut out = Vec::new();
        let mut seal = |payload: &[u8], how: &Seal<'_, Private<RustCryptoCcm>>| {
            let mut buf = vec![0u8; payload.len() + 64];
            let n = tx.seal_with(payload, how, &mut buf).expect("seal");
            buf.truncate(n);
            out.push((buf, payload.to_vec()));
        };
        seal(b"first", &Seal::default());
        seal(b"21.5C", &Seal::default());
        seal(b"unlock", &Seal::default().timed(1000));
        seal(b"on", &Seal::default().repeated(Repeat { copies: 2, window: 9 }));
        for index in 0..2 {
            let mut buf = vec![0u8; 64];
            let n = tx
                .seal_fragment(b"part", Fragment { index, count: 2 }, &mut buf)
                .expect("fragment");
            buf.truncate(n);
            out.push((buf, b"part".to_vec()));
        }
        out
    })
}

fuzz_target!(|data: &[u8]| {
    let genuine = genuine();
    let cfg = RecipientConfig {
        own_id: Some(3),
        ..RecipientConfig::default()
    };
    let mut rx = Recipient::new(keys(), cfg, 0..=1000, PeerTable::<4>::new());
    rx.provision(1);
    rx.provision(2);
    let mut at = 0;
    while at + 2 <= data.len() {
        let (op, len) = (data[at], usize::from(data[at + 1]));
        let bytes = &data[at + 2..(at + 2 + len).min(data.len())];
        at += 2 + len;
        let mut frame = if op & 1 == 0 {
            bytes.to_vec()
        } else {
            let (g, _) = &genuine[usize::from(op >> 1) % genuine.len()];
            let mut f = g.clone();
            for (i, b) in bytes.iter().enumerate() {
                match f.get_mut(i) {
                    Some(x) => *x ^= b,
                    None => f.push(*b),
                }
            }
            if op & 0x80 != 0 {
                f.truncate(len);
            }
            f
        };
        let before = frame.clone();
        let (refused, accepted) = (rx.stats().refused_total(), rx.stats().accepted);
        match rx.open(&mut frame) {
            Ok(o) => {
                let payload = o.payload.to_vec();
                assert!(
                    genuine.iter().any(|(g, p)| *g == before && *p == payload),
                    "only an unmodified genuine frame is accepted"
                );
                assert_eq!(rx.stats().accepted, accepted + 1);
                assert_eq!(rx.stats().refused_total(), refused);
            }
            Err(e) => {
                assert_eq!(rx.stats().refused_total(), refused + 1);
                assert_eq!(rx.stats().accepted, accepted);
                let before_tag = matches!(
                    e,
                    Error::Malformed(_)
                        | Error::UnsupportedVersion
                        | Error::UnknownEpoch
                        | Error::UnknownSender
                        | Error::Reflected
                        | Error::Unsynchronized
                        | Error::Unsolicited
                        | Error::UnknownKey
                        | Error::Unauthenticated
                );
                if before_tag {
                    assert_eq!(frame, before, "refused before the tag: handed back as it came");
                }
            }
        }
    }
});
