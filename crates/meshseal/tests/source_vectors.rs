//! The frozen vectors of `tests/vectors/source-v1.json`: pairwise and signed frames and a rekey
//! message must be reproduced byte for byte and open with the keys they name.

use meshseal::context::LengthState;
use meshseal::counter::MemoryStore;
use meshseal::rekey::{open_rekey, seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::replay::PeerTable;
use meshseal::source::{
    derive_pairwise, SigningKey, SourceKeys, VerifyingKey, X25519Public, X25519Secret,
};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{
    GroupKeys, LengthMode, Recipient, RecipientConfig, Sender, SenderConfig, Source, TrafficClass,
};
use serde_json::Value;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/source-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn h(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn h32(v: &Value) -> [u8; 32] {
    h(v).try_into().unwrap()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

struct Keys(Option<(u32, GroupKeys)>, Option<(u32, VerifyingKey)>);

impl SourceKeys for Keys {
    fn pairwise(&self, s: u32) -> Option<&GroupKeys> {
        self.0.as_ref().filter(|(id, _)| *id == s).map(|(_, k)| k)
    }
    fn verifying_key(&self, s: u32) -> Option<&VerifyingKey> {
        self.1.as_ref().filter(|(id, _)| *id == s).map(|(_, k)| k)
    }
}

fn group_keys(v: &Value) -> GroupKeys {
    GroupKeys::derive(
        &h(&v["master_secret"]),
        b"",
        n(&v["group_id"]) as u32,
        n(&v["epoch"]) as u16,
    )
    .unwrap()
}

fn sender(v: &Value, id: u32, seq: u64, reference: u64) -> Sender<MemoryStore> {
    let mut cfg = SenderConfig::new(id);
    cfg.length_mode = LengthMode::Confirmed;
    cfg.full_every = 1000;
    let mut tx = Sender::new(
        group_keys(v),
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

/// A receiver whose replay state expects `seq` next from `sender`.
fn recipient(v: &Value, own: u32, sender: u32, reference: u64) -> Recipient<PeerTable<4>> {
    let mut rx = Recipient::new(
        group_keys(v),
        RecipientConfig {
            own_id: Some(own),
            ..Default::default()
        },
        meshseal::context::AnySender,
        PeerTable::new(),
    );
    // Bring the window to `reference` with a group frame of that number.
    let mut tx = sender_at(v, sender, reference);
    let mut f = tx.seal_to_vec(b"").unwrap();
    rx.open(&mut f).unwrap();
    rx
}

fn sender_at(v: &Value, id: u32, seq: u64) -> Sender<MemoryStore> {
    Sender::new(
        group_keys(v),
        SenderConfig::new(id),
        MemoryStore {
            limit: Some(seq),
            writes: 0,
        },
    )
    .unwrap()
}

#[test]
fn pairwise_vectors() {
    let v = load();
    assert_eq!(v["spec_version"], "1.2");
    let p = &v["pairwise"];
    let secret = h(&v["master_secret"]);
    let member = |i: usize| {
        let m = &p["members"][i];
        let x = X25519Secret::from(h32(&m["x25519_secret"]));
        assert_eq!(X25519Public::from(&x).as_bytes(), &h32(&m["x25519_public"]));
        (n(&m["id"]) as u32, x)
    };
    let members = [member(0), member(1)];
    for f in p["frames"].as_array().unwrap() {
        let (s, r) = (n(&f["sender"]) as u32, n(&f["receiver"]) as u32);
        let (own, peer) = if s == members[0].0 {
            (&members[0], &members[1])
        } else {
            (&members[1], &members[0])
        };
        let pair = |a: &(u32, X25519Secret), b: &(u32, X25519Secret)| {
            derive_pairwise(
                &secret,
                b"",
                7,
                0,
                a.0,
                &a.1,
                b.0,
                &X25519Public::from(&b.1),
            )
            .unwrap()
        };
        let mut out = [0u8; 128];
        let len = sender(&v, s, n(&f["seq"]), n(&f["reference"]))
            .seal_with(
                &h(&f["payload"]),
                &Seal::default().pairwise(&pair(own, peer)),
                &mut out,
            )
            .unwrap();
        assert_eq!(hex::encode(&out[..len]), f["frame"].as_str().unwrap());
        let mut rx = recipient(&v, r, s, n(&f["reference"]));
        let keys = Keys(Some((s, pair(peer, own))), None);
        let mut frame = h(&f["frame"]);
        let o = rx
            .open_with(
                &mut frame,
                &Open::default()
                    .class(TrafficClass::Telemetry)
                    .keys(&keys)
                    .require_source(),
            )
            .unwrap();
        assert_eq!(
            (o.seq, o.source, o.payload.to_vec()),
            (n(&f["seq"]), Source::Pairwise, h(&f["payload"]))
        );
    }
}

#[test]
fn signed_vector() {
    let v = load();
    let s = &v["signed"];
    let sk = SigningKey::from_bytes(&h32(&s["ed25519_secret"]));
    assert_eq!(sk.verifying_key().as_bytes(), &h32(&s["ed25519_public"]));
    let mut out = [0u8; 128];
    let len = sender(&v, 1, n(&s["seq"]), n(&s["reference"]))
        .seal_with(&h(&s["payload"]), &Seal::default().signed(&sk), &mut out)
        .unwrap();
    assert_eq!(hex::encode(&out[..len]), s["frame"].as_str().unwrap());
    let mut rx = recipient(&v, 2, 1, n(&s["reference"]));
    let keys = Keys(None, Some((1, sk.verifying_key())));
    let mut frame = h(&s["frame"]);
    let o = rx
        .open_with(
            &mut frame,
            &Open::default()
                .class(TrafficClass::Telemetry)
                .keys(&keys)
                .require_source(),
        )
        .unwrap();
    assert_eq!(
        (o.source, o.payload.to_vec()),
        (Source::Signed, h(&s["payload"]))
    );
}

#[test]
fn repeat_vector() {
    let v = load();
    let r = &v["repeat"];
    let rep = meshseal::Repeat {
        copies: n(&r["copies"]) as u8,
        window: n(&r["window"]) as u8,
    };
    let mut out = [0u8; 128];
    let len = sender(&v, 1, n(&r["seq"]), n(&r["reference"]))
        .seal_with(
            &h(&r["payload"]),
            &Seal {
                time: Some(n(&r["time"]) as u16),
                ..Seal::default().repeated(rep)
            },
            &mut out,
        )
        .unwrap();
    assert_eq!(hex::encode(&out[..len]), r["frame"].as_str().unwrap());
    let mut rx = recipient(&v, 2, 1, n(&r["reference"]));
    let mut frame = h(&r["frame"]);
    let o = rx.open(&mut frame).unwrap();
    assert_eq!(
        (o.repeat, o.time, o.payload.to_vec()),
        (Some(rep), Some(1000), h(&r["payload"]))
    );
}

#[test]
fn rekey_vector() {
    let v = load();
    let r = &v["rekey"];
    let mk = || MemberKey::derive(&h32(&r["member_secret"]), 7, n(&r["member"]) as u32);
    let removed: Vec<u32> = r["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| n(x) as u32)
        .collect();
    let rekey = Rekey::new(
        n(&r["epoch"]) as u16,
        &h(&r["new_master_secret"]),
        &h(&r["salt"]),
        n(&r["grace"]) as u32,
        &removed,
    )
    .unwrap();
    let mut buf = [0u8; MAX_REKEY_LEN];
    let len = seal_rekey(&mk(), n(&r["counter"]), &rekey, &mut buf).unwrap();
    assert_eq!(hex::encode(&buf[..len]), r["message"].as_str().unwrap());
    let got = open_rekey(&mk(), 0, &mut h(&r["message"])).unwrap();
    assert_eq!(
        (
            got.epoch,
            got.grace,
            got.secret().to_vec(),
            got.removed().to_vec()
        ),
        (1, 3600, h(&r["new_master_secret"]), removed)
    );
}
