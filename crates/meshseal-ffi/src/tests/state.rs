//! Replay state across a reboot through the C API: saved, restored into a fresh recipient,
//! replays still refused, repeats still known, and bad records refused whole.

use super::*;

fn save(m: &mut Member) -> Vec<u8> {
    let mut out = [0u8; MESHSEAL_STATE_MAX];
    let mut n = usize::MAX;
    // SAFETY: an initialized recipient and live locals.
    let r = unsafe { meshseal_recipient_save(m.rx(), out.as_mut_ptr(), out.len(), &mut n) };
    assert_eq!(r, MeshsealResult::Ok);
    out[..n].to_vec()
}

fn restore(m: &mut Member, state: &[u8], mode: u8) -> MeshsealResult {
    // SAFETY: an initialized recipient and a live record.
    unsafe { meshseal_recipient_restore(m.rx(), state.as_ptr(), state.len(), mode) }
}

/// A sender (1) and a receiver (2) that has provisioned the sender and accepted five frames.
fn before_reboot() -> (Member, Member, Vec<Vec<u8>>) {
    let (mut tx, mut rx) = (Member::new(1), Member::new(2));
    // SAFETY: an initialized recipient.
    let r = unsafe { meshseal_recipient_provision(rx.rx(), 1) };
    assert_eq!(r, MeshsealResult::Ok);
    let frames: Vec<_> = (0..5u8)
        .map(|i| tx.seal(&[i], core::ptr::null()).unwrap())
        .collect();
    for f in &frames {
        let (o, _) = rx.open(f, core::ptr::null()).unwrap();
        assert_eq!(o.freshness, MESHSEAL_FRESHNESS_FRESH);
    }
    (tx, rx, frames)
}

#[test]
fn an_exact_restore_keeps_refusing_replays_and_stays_fresh() {
    let (mut tx, mut rx, frames) = before_reboot();
    let state = save(&mut rx);
    // One window per lane the provisioning created (group frames; with source authentication
    // built in, pairwise and signed frames too).
    assert!(state[10] >= 1);
    assert_eq!(state.len(), 12 + 24 * usize::from(state[10]));
    let mut rebooted = Member::new(2);
    assert_eq!(
        restore(&mut rebooted, &state, MESHSEAL_RESTORE_EXACT),
        MeshsealResult::Ok
    );
    for f in &frames {
        assert_eq!(
            rebooted.open(f, core::ptr::null()).err(),
            Some(MeshsealResult::Replay)
        );
    }
    let next = tx.seal(b"next", core::ptr::null()).unwrap();
    let (o, payload) = rebooted.open(&next, core::ptr::null()).unwrap();
    assert_eq!(
        (payload.as_slice(), o.freshness),
        (&b"next"[..], MESHSEAL_FRESHNESS_FRESH)
    );
    // Without the record, the rebooted receiver would have taken an old frame again.
    let mut forgetful = Member::new(2);
    assert!(forgetful.open(&frames[0], core::ptr::null()).is_ok());
}

#[test]
fn an_unverified_restore_refuses_old_frames_and_doubts_new_ones() {
    let (mut tx, mut rx, frames) = before_reboot();
    let state = save(&mut rx);
    let mut rebooted = Member::new(2);
    assert_eq!(
        restore(&mut rebooted, &state, MESHSEAL_RESTORE_UNVERIFIED),
        MeshsealResult::Ok
    );
    assert_eq!(
        rebooted.open(&frames[4], core::ptr::null()).err(),
        Some(MeshsealResult::Replay)
    );
    let next = tx.seal(b"next", core::ptr::null()).unwrap();
    let (o, _) = rebooted.open(&next, core::ptr::null()).unwrap();
    assert_eq!(o.freshness, MESHSEAL_FRESHNESS_UNKNOWN);
}

#[test]
fn tracked_repeats_survive_a_reboot() {
    let (mut tx, mut rx) = (Member::new(1), Member::new(2));
    let opts = MeshsealSeal {
        has_repeat: 1,
        repeat_copies: 3,
        repeat_window: 5,
        ..meshseal_seal_options_default()
    };
    let frame = tx.seal(b"lamp on", &opts).unwrap();
    let (o, _) = rx.open(&frame, core::ptr::null()).unwrap();
    let mut state = save(&mut rx);
    let windows = 12 + 24 * usize::from(state[10]);
    if cfg!(feature = "repeats") {
        assert_eq!((state[11], state.len()), (1, windows + 16));
    } else {
        // A build without `repeats` saves none; give it the record a full build writes (two
        // copies still expected, no window end), which it must read and drop.
        assert_eq!((state[11], state.len()), (0, windows));
        state[11] = 1;
        state.extend_from_slice(&o.sender.to_le_bytes());
        state.extend_from_slice(&o.seq.to_le_bytes());
        state.extend_from_slice(&[2, 0, 0, 0]);
    }
    let mut rebooted = Member::new(2);
    assert_eq!(
        restore(&mut rebooted, &state, MESHSEAL_RESTORE_EXACT),
        MeshsealResult::Ok
    );
    // The next copy is the expected duplicate, not a replay alarm (a replay without
    // `repeats`); delivered again it never is.
    assert_eq!(
        rebooted.open(&frame, core::ptr::null()).err(),
        Some(LATER_COPY)
    );
}

#[test]
fn a_bad_record_is_refused_whole() {
    let (_, mut rx, frames) = before_reboot();
    let state = save(&mut rx);
    let mut rebooted = Member::new(2);
    // Every truncation, a bad magic, lane, flag or count, and a record of another epoch.
    for n in 0..state.len() {
        assert_eq!(
            restore(&mut rebooted, &state[..n], MESHSEAL_RESTORE_EXACT),
            MeshsealResult::Malformed,
            "truncated to {n}"
        );
    }
    for (at, v) in [
        (0, b'X'),
        (12 + 4, 2),
        (12 + 5, 4),
        (10, state[10] + 1),
        (11, 1),
    ] {
        let mut bad = state.clone();
        bad[at] = v;
        assert_eq!(
            restore(&mut rebooted, &bad, MESHSEAL_RESTORE_EXACT),
            MeshsealResult::Malformed,
            "byte {at} = {v}"
        );
    }
    let mut other = state.clone();
    other[8] ^= 1;
    assert_eq!(
        restore(&mut rebooted, &other, MESHSEAL_RESTORE_EXACT),
        MeshsealResult::InvalidConfig
    );
    assert_eq!(
        restore(&mut rebooted, &state, 2),
        MeshsealResult::BadArgument
    );
    // Nothing was restored: the old frame is new to this receiver.
    assert!(rebooted.open(&frames[0], core::ptr::null()).is_ok());
}

#[test]
fn save_and_restore_misuse_is_refused() {
    let (_, mut rx, _) = before_reboot();
    let mut small = [0u8; 20];
    let mut n = 0usize;
    // SAFETY: live locals; null pointers are refused before use.
    unsafe {
        assert_eq!(
            meshseal_recipient_save(rx.rx(), small.as_mut_ptr(), small.len(), &mut n),
            MeshsealResult::BufferTooSmall
        );
        assert_eq!(
            meshseal_recipient_save(rx.rx(), core::ptr::null_mut(), 64, &mut n),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_recipient_save(core::ptr::null_mut(), small.as_mut_ptr(), 20, &mut n),
            MeshsealResult::NullPointer
        );
        assert_eq!(
            meshseal_recipient_restore(rx.rx(), core::ptr::null(), 36, 0),
            MeshsealResult::NullPointer
        );
        let mut empty = MeshsealRecipient {
            opaque: [0; MESHSEAL_RECIPIENT_WORDS],
        };
        assert_eq!(
            meshseal_recipient_restore(&mut empty, small.as_ptr(), 20, 0),
            MeshsealResult::NotInitialized
        );
    }
}
