//! Key epochs through the C API: a rekey message opened by its member, the sender and the
//! recipient moved to the new epoch, the old one accepted through its grace period only, and a
//! removed member refused.

use meshseal::rekey::{seal_rekey, MemberKey, Rekey};

use super::*;

const SECRET: [u8; 32] = [0x42; 32];
const MEMBER_SECRET: [u8; 32] = [0x17; 32];

fn epoch0() -> MeshsealKeys {
    let mut k = group_keys(0);
    // SAFETY: a live secret and a local output.
    let r =
        unsafe { meshseal_derive_with(SECRET.as_ptr(), 32, core::ptr::null(), 0, 1, 0, 0, &mut k) };
    assert_eq!(r, MeshsealResult::Ok);
    k
}

/// The manager's rekey message to epoch 1 for member 2, removing member 3.
fn rekey_message(member: u32) -> Vec<u8> {
    let rekey = Rekey::new(1, &[0x99; 32], b"salt", 600, &[3]).unwrap();
    let key = MemberKey::derive(&MEMBER_SECRET, 1, member);
    let mut out = [0u8; 256];
    let n = seal_rekey(&key, 7, &rekey, &mut out).unwrap();
    out[..n].to_vec()
}

fn open_rekey(msg: &[u8], member: u32, current: u16) -> Checked<MeshsealRekeyed> {
    let mut buf = msg.to_vec();
    let mut out = core::mem::MaybeUninit::<MeshsealRekeyed>::zeroed();
    // SAFETY: live buffers; `out` is written only on success.
    let r = unsafe {
        meshseal_open_rekey(
            MEMBER_SECRET.as_ptr(),
            1,
            member,
            current,
            0,
            buf.as_mut_ptr(),
            buf.len(),
            out.as_mut_ptr(),
        )
    };
    // The new master secret never stays in the caller's buffer.
    assert!(
        !buf.windows(32).any(|w| w == [0x99; 32]),
        "secret left in the buffer"
    );
    match r {
        // SAFETY: written by the successful call.
        MeshsealResult::Ok => Ok(unsafe { out.assume_init() }),
        e => Err(e),
    }
}

#[test]
fn a_member_follows_a_rekey_and_the_removed_member_is_cut_off() {
    let (mut a, mut b, mut c) = (
        Member::with_keys(1, epoch0()),
        Member::with_keys(2, epoch0()),
        Member::with_keys(3, epoch0()),
    );
    let old = a.seal(b"old epoch", core::ptr::null()).unwrap();
    let from_c = c.seal(b"still here", core::ptr::null()).unwrap();

    // Member 2 opens its message; the others are refused as what they are.
    let msg = rekey_message(2);
    let mut re = open_rekey(&msg, 2, 0).expect("member 2 opens its rekey");
    assert_eq!((re.keys.epoch, re.keys.group_id, re.grace), (1, 1, 600));
    assert_eq!(&re.removed[..usize::from(re.removed_count)], &[3]);
    assert_eq!(open_rekey(&msg, 2, 1).err(), Some(MeshsealResult::Replay));
    assert_eq!(
        open_rekey(&msg, 4, 0).err(),
        Some(MeshsealResult::UnknownSender)
    );
    let mut bad = msg.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(open_rekey(&bad, 2, 0).err(), Some(MeshsealResult::BadTag));
    assert_eq!(
        open_rekey(&msg[..10], 2, 0).err(),
        Some(MeshsealResult::Malformed)
    );

    // The recipient moves to epoch 1, keeping epoch 0 until time 600, and drops member 3.
    // SAFETY: initialized contexts and live keys.
    unsafe {
        let r = meshseal_recipient_install_epoch(b.rx(), &re.keys, 1, 600);
        assert_eq!(r, MeshsealResult::Ok);
        let r = meshseal_recipient_remove_member(b.rx(), 3);
        assert_eq!(r, MeshsealResult::Ok);
        let r = meshseal_sender_rekey(a.tx(), &re.keys);
        assert_eq!(r, MeshsealResult::Ok);
    }
    let (o, _) = b
        .open(&old, core::ptr::null())
        .expect("old epoch in its grace period");
    assert_eq!(o.epoch, 0);
    let new = a.seal(b"new epoch", core::ptr::null()).unwrap();
    let (o, payload) = b.open(&new, core::ptr::null()).expect("new epoch");
    assert_eq!((o.epoch, payload.as_slice()), (1, &b"new epoch"[..]));
    assert_eq!(
        b.open(&from_c, core::ptr::null()).err(),
        Some(MeshsealResult::UnknownSender)
    );

    // The grace period ends.
    let mut expired = 9u8;
    // SAFETY: an initialized recipient and a local.
    let r = unsafe { meshseal_recipient_expire_epoch(b.rx(), 600, &mut expired) };
    assert_eq!((r, expired), (MeshsealResult::Ok, 0));
    // SAFETY: as above.
    let r = unsafe { meshseal_recipient_expire_epoch(b.rx(), 601, &mut expired) };
    assert_eq!((r, expired), (MeshsealResult::Ok, 1));
    let late = Member::with_keys(1, epoch0()).seal(b"late", core::ptr::null());
    assert_eq!(
        b.open(&late.unwrap(), core::ptr::null()).err(),
        Some(MeshsealResult::UnknownEpoch)
    );
    // SAFETY: zero the derived keys.
    unsafe { meshseal_keys_clear(&mut re.keys) };
    assert_eq!(re.keys.key, [0; 16]);
}

#[test]
fn epoch_misuse_is_refused() {
    let (mut a, mut b) = (
        Member::with_keys(1, epoch0()),
        Member::with_keys(2, epoch0()),
    );
    let same = epoch0();
    let re = open_rekey(&rekey_message(2), 2, 0).unwrap();
    let mut other_group = re.keys;
    other_group.group_id = 2;
    let mut four_on = re.keys;
    four_on.epoch = 4;
    // SAFETY: initialized contexts and live keys.
    unsafe {
        assert_eq!(
            meshseal_recipient_install_epoch(b.rx(), &same, 0, 0),
            MeshsealResult::InvalidConfig
        );
        assert_eq!(
            meshseal_recipient_install_epoch(b.rx(), &other_group, 0, 0),
            MeshsealResult::InvalidConfig
        );
        // Epochs 0 and 4 share their bits on the wire: no grace period between them.
        assert_eq!(
            meshseal_recipient_install_epoch(b.rx(), &four_on, 1, 10),
            MeshsealResult::InvalidConfig
        );
        assert_eq!(
            meshseal_recipient_install_epoch(b.rx(), &re.keys, 2, 10),
            MeshsealResult::BadArgument
        );
        assert_eq!(
            meshseal_sender_rekey(a.tx(), &same),
            MeshsealResult::InvalidConfig
        );
        assert_eq!(
            meshseal_sender_rekey(a.tx(), core::ptr::null()),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_recipient_install_epoch(core::ptr::null_mut(), &re.keys, 0, 0),
            MeshsealResult::NullPointer
        );
        // Without a grace period the old epoch is refused at once.
        let old = a.seal(b"old", core::ptr::null()).unwrap();
        let r = meshseal_recipient_install_epoch(b.rx(), &re.keys, 0, 0);
        assert_eq!(r, MeshsealResult::Ok);
        assert_eq!(
            b.open(&old, core::ptr::null()).err(),
            Some(MeshsealResult::UnknownEpoch)
        );
        // At most 16 removed members.
        for id in 10..26 {
            assert_eq!(
                meshseal_recipient_remove_member(b.rx(), id),
                MeshsealResult::Ok
            );
        }
        assert_eq!(
            meshseal_recipient_remove_member(b.rx(), 10),
            MeshsealResult::Ok
        );
        assert_eq!(
            meshseal_recipient_remove_member(b.rx(), 26),
            MeshsealResult::InvalidConfig
        );
        assert_eq!(meshseal_recipient_retire_epoch(b.rx()), MeshsealResult::Ok);
    }
}
