//! Header privacy (spec §20): a private group's frames open like any other, hide who sent them
//! and what kind of frame they are, refuse every single-bit change, and cost no byte.

use meshseal::counter::MemoryStore;
use meshseal::frame::{Fragment, WireError};
use meshseal::privacy::{Private, CLEAR_BITS};
use meshseal::replay::PeerTable;
use meshseal::{
    Error, FrameId, GroupKeys, Open, Recipient, RecipientConfig, Repeat, RustCryptoCcm, Seal,
    Sender, SenderConfig, TrafficClass,
};

type Keys = GroupKeys<Private<RustCryptoCcm>>;
type Rx = Recipient<PeerTable<32>, core::ops::RangeInclusive<u32>, Private<RustCryptoCcm>>;

const SECRET: [u8; 32] = [0x42; 32];

fn private(epoch: u16) -> Keys {
    GroupKeys::derive_private(&SECRET, b"", 7, epoch).expect("keys")
}

fn plain_keys(epoch: u16) -> GroupKeys {
    GroupKeys::derive(&SECRET, b"", 7, epoch).expect("keys")
}

fn sender(id: u32) -> Sender<MemoryStore, Private<RustCryptoCcm>> {
    Sender::provision(private(0), SenderConfig::new(id), MemoryStore::default()).expect("sender")
}

fn recipient(own: u32) -> Rx {
    let cfg = RecipientConfig {
        own_id: Some(own),
        ..RecipientConfig::default()
    };
    let mut rx = Recipient::new(private(0), cfg, 1..=9, PeerTable::new());
    for id in 1..=9 {
        rx.provision(id);
    }
    rx
}

fn seal(
    tx: &mut Sender<MemoryStore, Private<RustCryptoCcm>>,
    how: &Seal<'_, Private<RustCryptoCcm>>,
    p: &[u8],
) -> Vec<u8> {
    let mut out = vec![0u8; p.len() + 64];
    let n = tx.seal_with(p, how, &mut out).expect("seal");
    out.truncate(n);
    out
}

#[test]
fn private_frames_open_and_cost_no_byte() {
    let mut tx = sender(3);
    let mut twin =
        Sender::provision(plain_keys(0), SenderConfig::new(3), MemoryStore::default()).unwrap();
    let mut rx = recipient(1);
    for i in 0..40u8 {
        let how = match i % 4 {
            0 => Seal::default(),
            1 => Seal::default().timed(1000 + u16::from(i)),
            2 => Seal::default().repeated(Repeat {
                copies: 2,
                window: 9,
            }),
            _ => Seal::default(),
        };
        let payload = [i; 4];
        let frame = seal(&mut tx, &how, &payload);
        // The same frame of a group without privacy: same length, same ciphertext and tag;
        // only the header differs, and never in its clear bits.
        let mut out = vec![0u8; 80];
        let hw = match i % 4 {
            0 | 3 => Seal::default(),
            1 => Seal::default().timed(1000 + u16::from(i)),
            _ => Seal::default().repeated(Repeat {
                copies: 2,
                window: 9,
            }),
        };
        let n = twin.seal_with(&payload, &hw, &mut out).unwrap();
        assert_eq!(frame.len(), n, "no extra byte");
        assert_eq!(frame[0] & CLEAR_BITS, out[0] & CLEAR_BITS);
        assert_eq!(
            frame[n - 12..],
            out[n - 12..n],
            "ciphertext and tag unchanged"
        );
        let mut f = frame.clone();
        let o = rx.open_with(&mut f, &Open::default()).expect("open");
        assert_eq!((o.sender, o.payload), (3, &payload[..]));
    }
    assert_eq!(rx.stats().accepted, 40);
}

#[test]
fn every_kind_of_frame_opens_under_privacy() {
    let (mut a, mut b) = (sender(1), sender(2));
    let (mut rx_a, mut rx_b) = (recipient(1), recipient(2));
    // A command from A, refused as stale by B (no verified state), challenged, echoed.
    let mut cmd = seal(&mut a, &Seal::default(), b"unlock");
    let id = FrameId { sender: 1, seq: 0 };
    let actuation = Open::default().class(TrafficClass::Challenged);
    assert_eq!(
        rx_b.open_with(&mut cmd, &actuation).err(),
        Some(Error::Stale)
    );
    let mut out = [0u8; 64];
    let n = rx_b
        .issue_challenge(&mut b, id, 0, &mut out)
        .expect("challenge");
    let mut challenge = out[..n].to_vec();
    let o = rx_a
        .open_with(&mut challenge, &Open::default().answering(id))
        .expect("challenge opens");
    let echo_of = o.id();
    let mut echo = seal(&mut a, &Seal::default().echo(echo_of), b"unlock");
    let o = rx_b.open_with(&mut echo, &actuation).expect("echo");
    assert_eq!(o.payload, b"unlock");
    // A response bound to a request.
    let mut resp = seal(&mut b, &Seal::default().response(id), b"done");
    assert_eq!(
        rx_a.open_with(&mut resp, &Open::default().answering(id))
            .unwrap()
            .payload,
        b"done"
    );
    // A message in fragments.
    let msg = [9u8; 90];
    let mut frames = Vec::new();
    a.seal_message(&msg, 40, &mut [0u8; 40], |f| frames.push(f.to_vec()))
        .expect("fragments");
    assert!(frames.len() > 1);
    for f in &mut frames {
        assert!(rx_b.open(f).expect("fragment").fragment.is_some());
    }
    // A single fragment sealed by hand, too.
    let mut out = [0u8; 64];
    let n = a
        .seal_fragment(b"x", Fragment { index: 0, count: 2 }, &mut out)
        .expect("fragment");
    assert!(rx_b.open(&mut out[..n]).is_ok());
}

#[test]
fn every_single_bit_change_of_a_private_frame_is_refused_and_handed_back() {
    let mut tx = sender(3);
    let frames = [
        seal(&mut tx, &Seal::default(), b"21.5"),
        seal(&mut tx, &Seal::default().timed(77), b"on"),
        seal(
            &mut tx,
            &Seal::default().repeated(Repeat {
                copies: 3,
                window: 5,
            }),
            b"off",
        ),
    ];
    for frame in &frames {
        for bit in 0..frame.len() * 8 {
            let mut rx = recipient(1);
            let mut f = frame.clone();
            f[bit / 8] ^= 1 << (bit % 8);
            let changed = f.clone();
            let r = rx.open_with(&mut f, &Open::default()).err();
            assert!(r.is_some(), "bit {bit} accepted");
            assert_eq!(rx.stats().refused_total(), 1);
            // Refused before the tag: handed back as it came; after: payload wiped.
            if r != Some(Error::BadTag) {
                assert_eq!(f, changed, "bit {bit}: {r:?}");
            } else {
                assert_eq!(f[..2], changed[..2], "bit {bit}: header masked again");
            }
        }
        let mut rx = recipient(1);
        let mut f = frame.clone();
        let r = rx.open(&mut f);
        assert!(r.is_ok(), "the unchanged frame opens: {r:?}");
    }
}

#[test]
fn an_observer_cannot_link_frames_to_their_sender_or_kind() {
    let mut plain_tx =
        Sender::provision(plain_keys(0), SenderConfig::new(5), MemoryStore::default()).unwrap();
    let mut tx = sender(5);
    let mut plain_ids = std::collections::BTreeSet::new();
    let mut private_ids = std::collections::BTreeSet::new();
    let mut private_heads = std::collections::BTreeSet::new();
    for i in 0..256u32 {
        let f = plain_tx.seal_to_vec(&i.to_be_bytes()).unwrap();
        plain_ids.insert(f[1]);
        let how = if i % 2 == 0 {
            Seal::default()
        } else {
            Seal::default().timed(i as u16)
        };
        let f = seal(&mut tx, &how, &i.to_be_bytes());
        private_ids.insert(f[1]);
        private_heads.insert(f[0] & !CLEAR_BITS);
    }
    // In clear, byte 1 is the sender id in every frame; masked, it takes most of the 256
    // values, and the header byte's form, extension and sequence bits all 32.
    assert_eq!(plain_ids.len(), 1);
    assert!(private_ids.len() > 150, "{}", private_ids.len());
    assert_eq!(private_heads.len(), 32);
}

#[test]
fn a_previous_epochs_private_frames_open_through_the_grace_period() {
    let mut old = sender(3);
    let mut rx = recipient(1);
    let mut f0 = seal(&mut old, &Seal::default(), b"a");
    assert!(rx.open(&mut f0).is_ok());
    rx.install_epoch(private(1), Some(100)).expect("rekey");
    let mut f1 = seal(&mut old, &Seal::default(), b"b");
    assert_eq!(rx.open(&mut f1).expect("grace").payload, b"b");
    let mut new =
        Sender::provision(private(1), SenderConfig::new(4), MemoryStore::default()).unwrap();
    let mut f2 = seal(&mut new, &Seal::default(), b"c");
    assert_eq!(rx.open(&mut f2).expect("new epoch").payload, b"c");
    rx.expire_epoch(200);
    let mut f3 = seal(&mut old, &Seal::default(), b"d");
    assert_eq!(rx.open(&mut f3).err(), Some(Error::UnknownEpoch));
}

#[test]
fn private_and_plain_groups_do_not_mix() {
    let mut tx = sender(3);
    let mut f = seal(&mut tx, &Seal::default(), b"hello");
    let mut plain_rx = Recipient::new(
        plain_keys(0),
        RecipientConfig::default(),
        1..=9,
        PeerTable::<8>::new(),
    );
    plain_rx.provision(3);
    assert!(plain_rx.open(&mut f.clone()).is_err());
    let mut plain_tx =
        Sender::provision(plain_keys(0), SenderConfig::new(3), MemoryStore::default()).unwrap();
    let mut g = plain_tx.seal_to_vec(b"hello").unwrap();
    let mut rx = recipient(1);
    assert!(rx.open(&mut g).is_err());
    assert!(rx.open(&mut f).is_ok());
}

#[test]
fn a_frame_too_short_for_a_header_and_tag_is_malformed() {
    let mut rx = recipient(1);
    for len in 0..9 {
        let mut f = vec![0u8; len];
        let r = rx.open(&mut f).err();
        assert!(matches!(r, Some(Error::Malformed(_))), "{len}: {r:?}");
    }
    let mut f = vec![0x0fu8; 9];
    assert!(matches!(
        rx.open(&mut f).err(),
        Some(Error::Malformed(_))
            | Some(Error::BadTag)
            | Some(Error::UnknownSender)
            | Some(Error::Unsynchronized)
            | Some(Error::Reflected)
    ));
    let _ = WireError::Truncated;
}

#[test]
fn the_private_backend_switched_off_seals_the_plain_groups_frames() {
    use meshseal::privacy::HeaderPrivacy;
    let off = GroupKeys::derive_with(&SECRET, b"", 7, 0, HeaderPrivacy::Off).unwrap();
    assert!(!off.header_privacy() && private(0).header_privacy());
    let mut a = Sender::provision(off, SenderConfig::new(3), MemoryStore::default()).unwrap();
    let mut b =
        Sender::provision(plain_keys(0), SenderConfig::new(3), MemoryStore::default()).unwrap();
    for i in 0..5u8 {
        assert_eq!(a.seal_to_vec(&[i]).unwrap(), b.seal_to_vec(&[i]).unwrap());
    }
}

/// A platform backend whose mask computation can be made to fail (a crypto engine that is busy
/// or reports an error).
struct Flaky {
    inner: Private<RustCryptoCcm>,
    fail: std::cell::Cell<bool>,
}

impl meshseal::AeadBackend for Flaky {
    fn seal_in_place(&self, n: &[u8; 13], aad: &[u8], buf: &mut [u8]) -> Result<[u8; 8], Error> {
        self.inner.seal_in_place(n, aad, buf)
    }
    fn open_in_place(
        &self,
        n: &[u8; 13],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 8],
    ) -> Result<(), Error> {
        self.inner.open_in_place(n, aad, buf, tag)
    }
    fn privacy_mask(&self, block: &[u8; 16]) -> Option<[u8; 16]> {
        if self.fail.get() {
            None
        } else {
            self.inner.privacy_mask(block)
        }
    }
    fn header_privacy(&self) -> bool {
        true
    }
}

#[test]
fn a_failed_mask_refuses_as_backend_and_never_sends_a_header_in_clear() {
    let flaky = || Flaky {
        inner: Private::new(
            RustCryptoCcm::new(&meshseal::crypto::derive(&SECRET, b"", 7, 0).unwrap().key),
            &meshseal::privacy::derive_privacy_key(&SECRET, b"", 7, 0).unwrap(),
        ),
        fail: std::cell::Cell::new(false),
    };
    let iv = meshseal::crypto::derive(&SECRET, b"", 7, 0).unwrap().iv;
    let keys = GroupKeys::with_backend(flaky(), iv, 7, 0);
    let mut tx = Sender::provision(keys, SenderConfig::new(3), MemoryStore::default()).unwrap();
    let mut out = [0xaau8; 64];

    // A sound frame from the flaky backend is a private group's frame like any other.
    let n = tx.seal(b"on", &mut out).expect("seal");
    let good = out[..n].to_vec();
    let mut rx = recipient(1);
    let mut buf = good.clone();
    assert_eq!(rx.open(&mut buf).expect("open").payload, b"on");

    // The engine fails: the seal is refused, the buffer wiped, and the next number is fresh.
    tx.keys().backend().fail.set(true);
    let len = tx.frame_len(3);
    out.fill(0xaa);
    assert_eq!(tx.seal(b"off", &mut out), Err(Error::Backend));
    assert!(
        out[..len].iter().all(|&b| b == 0),
        "a frame with a clear header was left behind"
    );
    assert!(out[len..].iter().all(|&b| b == 0xaa));
    tx.keys().backend().fail.set(false);
    let n = tx.seal(b"off", &mut out).expect("seal after recovery");
    let mut buf = out[..n].to_vec();
    assert_eq!(rx.open(&mut buf).expect("open").payload, b"off");

    // A receiver whose engine fails refuses as backend, not as a bad tag, and keeps the frame's
    // number unused: the same frame opens once the engine is back.
    let mut rx2 = Recipient::new(
        GroupKeys::with_backend(flaky(), iv, 7, 0),
        RecipientConfig {
            own_id: Some(1),
            ..RecipientConfig::default()
        },
        1..=9,
        PeerTable::<32>::new(),
    );
    rx2.provision(3);
    rx2.keys().backend().fail.set(true);
    let mut buf = good.clone();
    assert_eq!(rx2.open(&mut buf).err(), Some(Error::Backend));
    assert_eq!(rx2.stats().refused(Error::Backend), 1);
    rx2.keys().backend().fail.set(false);
    let mut buf = good.clone();
    assert_eq!(rx2.open(&mut buf).expect("open").payload, b"on");
}
