//! Key epochs: rekeying, grace periods, revocation, epoch wrap-around and the key budget
//! (threats T10 and T11).

mod common;

use common::{GROUP, SECRET};
use meshseal::counter::MemoryStore;
use meshseal::rekey::{open_rekey, seal_rekey, MemberKey, Rekey, MAX_REKEY_LEN};
use meshseal::replay::PeerTable;
use meshseal::{Error, GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig};

type Rx = Recipient<PeerTable<8>, heapless::Vec<u32, 8>>;

fn keys(secret: &[u8], epoch: u16) -> GroupKeys {
    GroupKeys::derive(secret, b"", GROUP, epoch).unwrap()
}

fn sender(id: u32, epoch: u16) -> Sender<MemoryStore> {
    Sender::provision(
        keys(&SECRET, epoch),
        SenderConfig::new(id),
        MemoryStore::default(),
    )
    .unwrap()
}

fn recipient(own: u32, epoch: u16, members: &[u32]) -> Rx {
    let mut rx = Recipient::new(
        keys(&SECRET, epoch),
        RecipientConfig {
            own_id: Some(own),
            ..Default::default()
        },
        heapless::Vec::from_slice(members).unwrap(),
        PeerTable::new(),
    );
    for &m in members {
        rx.provision(m);
    }
    rx
}

fn seal(tx: &mut Sender<MemoryStore>, payload: &[u8]) -> Vec<u8> {
    tx.seal_to_vec(payload).unwrap()
}

fn open(rx: &mut Rx, frame: &[u8]) -> Result<(u16, Vec<u8>), Error> {
    let mut f = frame.to_vec();
    rx.open(&mut f).map(|o| (o.epoch, o.payload.to_vec()))
}

#[test]
fn grace_period_keeps_the_previous_epoch_then_refuses_it() {
    let mut tx = sender(1, 0);
    let mut rx = recipient(2, 0, &[1, 3]);
    let old = seal(&mut tx, b"a");
    let old2 = seal(&mut tx, b"b");
    let new_secret = [0x77; 32];
    tx.rekey(keys(&new_secret, 1)).unwrap();
    let new = seal(&mut tx, b"c");

    // Not yet rekeyed: the new epoch is unknown.
    assert_eq!(open(&mut rx, &new), Err(Error::UnknownEpoch));
    rx.install_epoch(keys(&new_secret, 1), Some(100)).unwrap();
    // Old-epoch frames still open during the grace period, from a sender still in it.
    assert_eq!(open(&mut rx, &old), Ok((0, b"a".to_vec())));
    assert_eq!(open(&mut rx, &old), Err(Error::Replay));
    assert_eq!(open(&mut rx, &new), Ok((1, b"c".to_vec())));
    // Once the sender's first new-epoch frame is accepted, its old-epoch frames can only be
    // late: the sender moved on, and whatever was accepted under the old keys is left behind.
    assert_eq!(open(&mut rx, &old2), Err(Error::TooOld));
    assert!(!rx.expire_epoch(100));
    assert!(rx.expire_epoch(101));
    assert_eq!(open(&mut rx, &old2), Err(Error::UnknownEpoch));
    assert_eq!(rx.stats().refused(Error::UnknownEpoch), 2);
}

#[test]
fn no_grace_refuses_the_old_epoch_at_once() {
    let mut tx = sender(1, 0);
    let mut rx = recipient(2, 0, &[1]);
    let old = seal(&mut tx, b"a");
    rx.install_epoch(keys(&[0x77; 32], 1), None).unwrap();
    assert_eq!(rx.previous_epoch(), None);
    assert_eq!(open(&mut rx, &old), Err(Error::UnknownEpoch));
}

#[test]
fn epoch_installation_is_checked() {
    let mut rx = recipient(2, 5, &[1]);
    // Not newer.
    assert_eq!(
        rx.install_epoch(keys(&SECRET, 5), None),
        Err(Error::InvalidConfig)
    );
    assert_eq!(
        rx.install_epoch(keys(&SECRET, 4), None),
        Err(Error::InvalidConfig)
    );
    // Another group.
    let other = GroupKeys::derive(&SECRET, b"", GROUP + 1, 6).unwrap();
    assert_eq!(rx.install_epoch(other, None), Err(Error::InvalidConfig));
    // A jump by 4 shares the wire bits: no grace possible, but a clean switch is.
    assert_eq!(
        rx.install_epoch(keys(&SECRET, 9), Some(10)),
        Err(Error::InvalidConfig)
    );
    assert_eq!(rx.install_epoch(keys(&SECRET, 9), None), Ok(()));
    let mut tx = sender(1, 5);
    assert_eq!(tx.rekey(keys(&SECRET, 5)), Err(Error::InvalidConfig));
}

#[test]
fn epoch_wraps_around() {
    let mut tx = sender(1, u16::MAX);
    let mut rx = recipient(2, u16::MAX, &[1]);
    let before = seal(&mut tx, b"x");
    assert_eq!(open(&mut rx, &before), Ok((u16::MAX, b"x".to_vec())));
    tx.rekey(keys(&SECRET, 0)).unwrap();
    rx.install_epoch(keys(&SECRET, 0), Some(1)).unwrap();
    let after = seal(&mut tx, b"y");
    assert_eq!(open(&mut rx, &after), Ok((0, b"y".to_vec())));
    // Epoch 2 (bits 10) is neither 0xffff (bits 11) nor 0 (bits 00).
    let mut stranger = sender(1, 2);
    let f = seal(&mut stranger, b"z");
    assert_eq!(open(&mut rx, &f), Err(Error::UnknownEpoch));
}

#[test]
fn key_budget_warns_then_refuses_until_rekeyed() {
    let mut cfg = SenderConfig::new(1);
    cfg.key_budget = 10;
    cfg.rekey_warning = 3;
    let mut tx = Sender::provision(keys(&SECRET, 0), cfg, MemoryStore::default()).unwrap();
    let mut out = [0u8; 32];
    for i in 0..10 {
        assert_eq!(tx.rekey_due(), i >= 7, "frame {i}");
        tx.seal(b"p", &mut out).unwrap();
    }
    assert_eq!(tx.remaining(), 0);
    assert_eq!(tx.seal(b"p", &mut out), Err(Error::CounterExhausted));
    // The refusal consumed no number.
    assert_eq!(tx.next_seq(), 10);
    tx.rekey(keys(&SECRET, 1)).unwrap();
    assert!(!tx.rekey_due());
    assert_eq!(tx.epoch_start(), 10);
    assert!(tx.seal(b"p", &mut out).is_ok());
    // After a reboot the application restores where the epoch started.
    tx.set_epoch_start(0);
    assert_eq!(tx.remaining(), 0);
    tx.set_epoch_start(u64::MAX);
    assert_eq!(tx.epoch_start(), 11);
}

/// The whole revocation flow: member 3 is removed; 1 and 2 receive rekey messages under their
/// individual keys; 3 can neither read the new epoch nor produce frames accepted in it, and
/// after the grace period its old-epoch frames are refused too.
#[test]
fn revoked_member_is_locked_out() {
    let member_secret = |m: u32| [m as u8; 32];
    let new_secret = [0x99; 32];
    let rekey = Rekey::new(1, &new_secret, b"", 30, &[3]).unwrap();

    let mut msgs = Vec::new();
    for m in [1u32, 2] {
        let k = MemberKey::derive(&member_secret(m), GROUP, m);
        let mut buf = [0u8; MAX_REKEY_LEN];
        let n = seal_rekey(&k, 1, &rekey, &mut buf).unwrap();
        msgs.push(buf[..n].to_vec());
    }

    // Member 1 (sender) and 2 (receiver) apply their own messages.
    let mut tx1 = sender(1, 0);
    let mut rx2 = recipient(2, 0, &[1, 3]);
    let mut tx3 = sender(3, 0);
    let r1 = open_rekey(
        &MemberKey::derive(&member_secret(1), GROUP, 1),
        0,
        &mut msgs[0].clone(),
    )
    .unwrap();
    let r2 = open_rekey(
        &MemberKey::derive(&member_secret(2), GROUP, 2),
        0,
        &mut msgs[1].clone(),
    )
    .unwrap();
    tx1.rekey(r1.group_keys(GROUP).unwrap()).unwrap();
    rx2.install_epoch(r2.group_keys(GROUP).unwrap(), Some(u64::from(r2.grace)))
        .unwrap();
    assert_eq!(r2.removed(), &[3]);

    // Member 3 holds only its own secret: neither message opens for it.
    let k3 = MemberKey::derive(&member_secret(3), GROUP, 3);
    for m in &msgs {
        assert!(open_rekey(&k3, 0, &mut m.clone()).is_err());
    }
    // Replaying member 2's rekey message after it switched is refused.
    assert_eq!(
        open_rekey(
            &MemberKey::derive(&member_secret(2), GROUP, 2),
            1,
            &mut msgs[1].clone()
        )
        .err(),
        Some(Error::Replay)
    );

    // 3 cannot read the new epoch: its old keys fail the tag.
    let f = seal(&mut tx1, b"door: lock");
    let mut rx3 = recipient(3, 0, &[1, 2]);
    assert_eq!(open(&mut rx3, &f), Err(Error::UnknownEpoch));
    // Even with the epoch bits guessed, the old secret does not verify new-epoch frames.
    let mut guessed = Recipient::new(
        keys(&SECRET, 1),
        RecipientConfig::default(),
        meshseal::context::AnySender,
        PeerTable::<4>::new(),
    );
    guessed.provision(1);
    assert_eq!(guessed.open(&mut f.clone()).err(), Some(Error::BadTag));
    // 3 cannot produce new-epoch frames 2 accepts, whatever sender it claims.
    let mut forged = Sender::new(
        keys(&SECRET, 1),
        SenderConfig::new(1),
        MemoryStore {
            limit: Some(1000),
            writes: 0,
        },
    )
    .unwrap();
    assert_eq!(
        open(&mut rx2, &seal(&mut forged, b"door: open")),
        Err(Error::BadTag)
    );
    // 2 applies the removal: 3's own frames are refused at once, in either epoch.
    rx2.members_mut().retain(|&m| !r2.removed().contains(&m));
    assert_eq!(
        open(&mut rx2, &seal(&mut tx3, b"old")),
        Err(Error::UnknownSender)
    );
    // The remaining members carry on in the new epoch.
    assert_eq!(
        open(&mut rx2, &seal(&mut tx1, b"new")),
        Ok((1, b"new".to_vec()))
    );
    // During the grace period 3 still holds the old group key, but member 1 already sealed in
    // the new epoch: an old-epoch frame in 1's name can only be late, and is refused without
    // touching 1's window. (Members that have not sealed in the new epoch yet stay exposed
    // until they do or the grace period ends: revoke a compromised member with no grace.)
    // After the grace period every old-epoch frame is refused.
    let mut as1 = Sender::new(
        keys(&SECRET, 0),
        SenderConfig::new(1),
        MemoryStore {
            limit: Some(5000),
            writes: 0,
        },
    )
    .unwrap();
    assert_eq!(open(&mut rx2, &seal(&mut as1, b"old")), Err(Error::TooOld));
    assert_eq!(
        open(&mut rx2, &seal(&mut tx1, b"still heard")),
        Ok((1, b"still heard".to_vec()))
    );
    rx2.expire_epoch(31);
    assert_eq!(
        open(&mut rx2, &seal(&mut as1, b"old")),
        Err(Error::UnknownEpoch)
    );
}

#[test]
fn no_grace_slot_saves_the_second_key_schedule_and_refuses_a_grace_period() {
    use meshseal::NoGrace;
    let mut lean: Recipient<
        PeerTable<8>,
        meshseal::context::AnySender,
        meshseal::RustCryptoCcm,
        1,
        NoGrace,
    > = Recipient::new_without_grace(
        keys(&SECRET, 0),
        RecipientConfig::default(),
        meshseal::context::AnySender,
        PeerTable::new(),
    );
    assert!(
        core::mem::size_of_val(&lean)
            < core::mem::size_of::<Recipient<PeerTable<8>, meshseal::context::AnySender>>()
    );
    assert_eq!(
        lean.install_epoch(keys(&SECRET, 1), Some(10)),
        Err(Error::InvalidConfig)
    );
    assert_eq!(lean.install_epoch(keys(&SECRET, 1), None), Ok(()));
    assert_eq!(lean.previous_epoch(), None);
    let mut tx = sender(1, 1);
    lean.provision(1);
    assert_eq!(open_any(&mut lean, &seal(&mut tx, b"x")), Ok(1));
}

fn open_any<G: meshseal::GraceSlot<meshseal::RustCryptoCcm>>(
    rx: &mut Recipient<PeerTable<8>, meshseal::context::AnySender, meshseal::RustCryptoCcm, 1, G>,
    frame: &[u8],
) -> Result<u16, Error> {
    rx.open(&mut frame.to_vec()).map(|o| o.epoch)
}
