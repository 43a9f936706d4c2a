//! What one member holding the group key can and cannot do to another member's replay state
//! (threat T15, insider lockout), and the window rules that bound it: per-lane windows, per-epoch
//! windows, verdicts only after the tag, challenges that cannot be displaced.

mod common;

use common::{keys, sender, sender_at, GROUP};
use meshseal::counter::MemoryStore;
use meshseal::frame::SEQ_MAX;
use meshseal::replay::PeerTable;
use meshseal::source::{SigningKey, SourceKeys, VerifyingKey};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{
    Binding, Error, Freshness, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig, Source,
    TrafficClass,
};

const NEW_SECRET: [u8; 32] = [0x77; 32];

fn new_keys(epoch: u16) -> GroupKeys {
    GroupKeys::derive(&NEW_SECRET, b"", GROUP, epoch).unwrap()
}

/// Member 1's verifying key, as receiver 2 knows it.
struct Vk(VerifyingKey);

impl SourceKeys for Vk {
    fn pairwise(&self, _: u32) -> Option<&GroupKeys> {
        None
    }
    fn verifying_key(&self, sender: u32) -> Option<&VerifyingKey> {
        (sender == 1).then_some(&self.0)
    }
}

type Rx = Recipient<PeerTable<8>, core::ops::RangeInclusive<u32>>;

/// Receiver 2, provisioned for members 1 and 3.
fn receiver() -> Rx {
    receiver_for(2)
}

/// Member `own`'s receiver, provisioned for the two other members of 1..=3.
fn receiver_for(own: u32) -> Rx {
    let mut rx = Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: Some(own),
            ..Default::default()
        },
        1..=3,
        PeerTable::new(),
    );
    for m in (1..=3).filter(|&m| m != own) {
        rx.provision(m);
    }
    rx
}

/// Member 3, an insider, sealing a plain group frame in member 1's name at `seq`.
fn forged_as_1(keys: GroupKeys, seq: u64) -> Vec<u8> {
    let mut as1 = Sender::new(
        keys,
        SenderConfig::new(1),
        MemoryStore {
            limit: Some(seq),
            writes: 0,
        },
    )
    .unwrap();
    as1.seal_to_vec(b"").unwrap()
}

fn signed(tx: &mut Sender<MemoryStore>, sk: &SigningKey, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; 160];
    let n = tx
        .seal_with(payload, &Seal::default().signed(sk), &mut out)
        .unwrap();
    out[..n].to_vec()
}

#[test]
fn one_forged_plain_frame_cannot_lock_out_signed_commands() {
    let sk = SigningKey::from_bytes(&[51; 32]);
    let vk = Vk(sk.verifying_key());
    let mut tx1 = sender(1);
    let mut rx = receiver();

    // The insider's 15-byte frame claims member 1 at the last sequence number.
    let forged = forged_as_1(keys(0), SEQ_MAX);
    assert_eq!(forged.len(), 15);
    let mut f = forged.clone();
    let o = rx
        .open_with(
            &mut f,
            &Open::default().class(TrafficClass::Telemetry).keys(&vk),
        )
        .unwrap();
    assert_eq!(
        o.source,
        Source::Group,
        "plain group mode cannot tell (T12)"
    );

    // Member 1's plain frames are now behind the forged number at this receiver (a short
    // number is also reconstructed near it, and fails the tag)...
    for _ in 0..3 {
        let mut plain = tx1.seal_to_vec(b"temp=21").unwrap();
        let refused = rx.open_with(
            &mut plain,
            &Open::default().class(TrafficClass::Telemetry).keys(&vk),
        );
        assert!(matches!(refused, Err(Error::TooOld | Error::BadTag)));
    }
    // ...but its signed commands are judged by a window no plain frame can move.
    for cmd in [&b"unlock"[..], b"lock", b"unlock"] {
        let mut f = signed(&mut tx1, &sk, cmd);
        let o = rx
            .open_with(
                &mut f,
                &Open::default()
                    .class(TrafficClass::Actuation)
                    .keys(&vk)
                    .require_source(),
            )
            .unwrap();
        assert_eq!(
            (o.payload, o.source, o.freshness),
            (cmd, Source::Signed, Freshness::Fresh)
        );
    }
    // A replayed signed command is still refused.
    let mut f = signed(&mut tx1, &sk, b"open");
    let copy = f.clone();
    rx.open_with(
        &mut f,
        &Open::default()
            .class(TrafficClass::Actuation)
            .keys(&vk)
            .require_source(),
    )
    .unwrap();
    assert_eq!(
        rx.open_with(
            &mut copy.clone(),
            &Open::default()
                .class(TrafficClass::Actuation)
                .keys(&vk)
                .require_source()
        )
        .err(),
        Some(Error::Replay)
    );
}

#[test]
fn a_rekey_that_removes_the_insider_lets_the_locked_out_member_be_heard_again() {
    let mut tx1 = sender(1);
    let mut rx = receiver();
    rx.open(&mut forged_as_1(keys(0), SEQ_MAX)).unwrap();
    for _ in 0..3 {
        let mut f = tx1.seal_to_vec(b"temp").unwrap();
        assert!(matches!(
            rx.open(&mut f),
            Err(Error::TooOld | Error::BadTag)
        ));
    }
    // The manager rekeys without member 3 (no grace): 1 and 2 move to epoch 1.
    rx.install_epoch(new_keys(1), None).unwrap();
    tx1.rekey(new_keys(1)).unwrap();
    for i in 0..20u8 {
        let mut f = tx1.seal_to_vec(&[i]).unwrap();
        let o = rx.open(&mut f).unwrap();
        assert_eq!(
            (o.epoch, o.payload, o.freshness),
            (1, &[i][..], Freshness::Fresh),
            "frame {i}"
        );
    }
    // The removed insider cannot do it again: its old key fails in the new epoch.
    assert_eq!(
        rx.open(&mut forged_as_1(keys(1), SEQ_MAX)).err(),
        Some(Error::BadTag)
    );
}

#[test]
fn after_the_rekey_a_receiver_that_missed_the_first_frames_is_in_step_at_once() {
    let mut tx1 = sender(1);
    let mut rx = receiver();
    rx.open(&mut forged_as_1(keys(0), SEQ_MAX)).unwrap();
    rx.install_epoch(new_keys(1), None).unwrap();
    tx1.rekey(new_keys(1)).unwrap();
    // The first frames of the new epoch never reach this receiver.
    for _ in 0..5 {
        tx1.seal_to_vec(b"lost").unwrap();
    }
    // The next one does: it carries the full number, so the forged old window, whatever it
    // says, plays no part in rebuilding it.
    let mut f = tx1.seal_to_vec(b"heard").unwrap();
    assert_eq!(rx.open(&mut f).unwrap().payload, b"heard");
    for i in 0..40u8 {
        let mut f = tx1.seal_to_vec(&[i]).unwrap();
        assert_eq!(rx.open(&mut f).unwrap().payload, [i], "frame {i}");
    }
    // The run of full numbers costs up to 5 bytes per frame (a short number has none) for
    // `full_every` frames after a rekey.
    let steady = tx1.seal_to_vec(b"x").unwrap().len();
    assert_eq!(steady, 1 + 1 + 1 + 8);
}

#[test]
fn a_removed_member_cannot_lock_anyone_out_beyond_the_grace_period() {
    let mut tx1 = sender(1);
    let mut rx = receiver();
    let mut f = tx1.seal_to_vec(b"before").unwrap();
    rx.open(&mut f).unwrap();
    // Rekey without member 3, with a grace period until t = 100.
    rx.install_epoch(new_keys(1), Some(100)).unwrap();
    // Member 1 has not moved yet: 3's old-epoch forgery locks its old-epoch frames out...
    rx.open(&mut forged_as_1(keys(0), SEQ_MAX)).unwrap();
    let mut f = tx1.seal_to_vec(b"old epoch").unwrap();
    assert!(matches!(
        rx.open(&mut f),
        Err(Error::TooOld | Error::BadTag)
    ));
    // ...only until member 1 seals in the new epoch, which starts a new window.
    tx1.rekey(new_keys(1)).unwrap();
    let mut f = tx1.seal_to_vec(b"new epoch").unwrap();
    assert_eq!(rx.open(&mut f).unwrap().payload, b"new epoch");
    // From then on nothing the removed member seals under the old key touches member 1.
    assert_eq!(
        rx.open(&mut forged_as_1(keys(0), SEQ_MAX)).err(),
        Some(Error::TooOld)
    );
    let mut f = tx1.seal_to_vec(b"still heard").unwrap();
    assert_eq!(rx.open(&mut f).unwrap().payload, b"still heard");
    assert!(rx.expire_epoch(101));
    assert_eq!(
        rx.open(&mut forged_as_1(keys(0), SEQ_MAX)).err(),
        Some(Error::UnknownEpoch)
    );
}

#[test]
fn no_replay_is_claimed_for_a_frame_whose_tag_never_verified() {
    let mut tx1 = sender(1);
    let mut rx = receiver();
    let genuine = tx1.seal_to_vec(b"data").unwrap();
    rx.open(&mut genuine.clone()).unwrap();
    // The same header and number with another tag: not a replay, a forgery.
    let mut forged = genuine.clone();
    *forged.last_mut().unwrap() ^= 1;
    assert_eq!(rx.open(&mut forged).err(), Some(Error::BadTag));
    assert_eq!(rx.stats().refused(Error::Replay), 0);
    // Far behind the window, without the key: a forgery, not "too old".
    let mut old = forged_as_1(GroupKeys::derive(&[9; 32], b"", GROUP, 0).unwrap(), 0);
    assert_eq!(rx.open(&mut old).err(), Some(Error::BadTag));
    assert_eq!(rx.stats().refused(Error::TooOld), 0);
    // The genuine replay still is one.
    assert_eq!(rx.open(&mut genuine.clone()).err(), Some(Error::Replay));
    assert_eq!(rx.stats().refused(Error::Replay), 1);
}

#[test]
fn an_open_challenge_is_not_displaced_by_other_recorded_frames() {
    // Full numbers on every frame, so a receiver without state can judge each one.
    let mut ctl = sender_at(1, 0, |c| c.full_every = 1);
    let mut lock = sender(2);
    // The lock lost its state: nothing about member 1 is verified.
    let mut lock_rx: Rx = Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: Some(2),
            ..Default::default()
        },
        1..=3,
        PeerTable::new(),
    );
    let mut ctl_rx = receiver_for(1);
    // Frames of member 1 recorded elsewhere, never delivered to the lock.
    let recorded: Vec<Vec<u8>> = (0..3).map(|_| ctl.seal_to_vec(b"x").unwrap()).collect();
    let mut cmd = ctl.seal_to_vec(b"unlock").unwrap();
    assert_eq!(
        lock_rx
            .open_with(&mut cmd, &Open::default().class(TrafficClass::Actuation))
            .err(),
        Some(Error::Stale)
    );
    let request = lock_rx.last_stale().unwrap();
    let mut out = [0u8; 64];
    let n = lock_rx
        .issue_challenge(&mut lock, request, 0, &mut out)
        .unwrap();
    let mut challenge = out[..n].to_vec();
    let cid = ctl_rx
        .open_with(&mut challenge, &Open::default().answering(request))
        .unwrap()
        .id();

    // The attacker delivers the recorded frames: each is stale, but none replaces the
    // challenge the controller is answering.
    for r in &recorded {
        let mut f = r.clone();
        assert_eq!(
            lock_rx
                .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
                .err(),
            Some(Error::Stale)
        );
        let req = lock_rx.last_stale().unwrap();
        assert_eq!(
            lock_rx.issue_challenge(&mut lock, req, 1, &mut out).err(),
            Some(Error::Stale),
            "no second challenge while one is open"
        );
    }
    assert_eq!(lock_rx.challenges().count(), 1);
    let n = ctl
        .seal_with(b"unlock", &Seal::default().echo(cid), &mut out)
        .unwrap();
    let mut echo = out[..n].to_vec();
    let o = lock_rx
        .open_with(&mut echo, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    assert_eq!(
        (o.payload, o.binding, o.freshness),
        (&b"unlock"[..], Binding::Echo, Freshness::Fresh)
    );
    // Once answered, the challenge is closed.
    assert_eq!(lock_rx.challenges().count(), 0);
}

#[test]
fn a_sender_never_starts_from_a_store_without_record() {
    assert_eq!(
        Sender::new(keys(0), SenderConfig::new(1), MemoryStore::default()).err(),
        Some(Error::NoCounterRecord)
    );
    // The same identity provisioned explicitly starts at 0; a reboot resumes after its
    // reservation, never at 0 again.
    let mut store = MemoryStore::default();
    let mut tx = Sender::provision(keys(0), SenderConfig::new(1), &mut store).unwrap();
    let first = tx.seal_to_vec(b"a").unwrap();
    drop(tx);
    let tx = Sender::new(keys(0), SenderConfig::new(1), &mut store).unwrap();
    assert!(tx.next_seq() > 0);
    let mut rx = receiver();
    rx.open(&mut first.clone()).unwrap();
}
