//! Sleepy receivers: a frame repeated through a window is acted on once, its later copies are
//! reported as duplicates (not attacks), and a copy delivered after its window is not fresh.

mod common;

use common::{recipient, sender};
use meshseal::Open;
use meshseal::Seal;
use meshseal::{Error, Freshness, Repeat, TrafficClass};
use proptest::prelude::*;

const FIVE_IN_30: Repeat = Repeat {
    copies: 5,
    window: 30,
};

#[test]
fn copies_are_duplicates_up_to_the_announced_count() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let mut out = [0u8; 64];
    let n = tx
        .seal_with(b"lamp on", &Seal::default().repeated(FIVE_IN_30), &mut out)
        .unwrap();
    let frame = out[..n].to_vec();
    let mut first = frame.clone();
    let o = rx.open(&mut first).unwrap();
    assert_eq!((o.payload, o.repeat), (&b"lamp on"[..], Some(FIVE_IN_30)));
    for _ in 0..4 {
        let mut copy = frame.clone();
        assert_eq!(rx.open(&mut copy).err(), Some(Error::Duplicate));
        // Nothing of the copy is released.
        assert!(!copy.windows(7).any(|w| w == b"lamp on"));
    }
    // A sixth copy is more than the sender announced: a replay.
    assert_eq!(rx.open(&mut frame.clone()).err(), Some(Error::Replay));
    let s = rx.stats();
    assert_eq!(
        (
            s.accepted,
            s.refused(Error::Duplicate),
            s.refused(Error::Replay)
        ),
        (1, 4, 1)
    );
}

#[test]
fn replays_of_ordinary_frames_and_forged_copies_are_not_duplicates() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let plain = tx.seal_to_vec(b"temp=21").unwrap();
    rx.open(&mut plain.clone()).unwrap();
    assert_eq!(rx.open(&mut plain.clone()).err(), Some(Error::Replay));

    let mut out = [0u8; 64];
    let n = tx
        .seal_with(b"lamp on", &Seal::default().repeated(FIVE_IN_30), &mut out)
        .unwrap();
    rx.open(&mut out[..n].to_vec()).unwrap();
    // A copy with a flipped bit is no copy: the tag decides.
    let mut forged = out[..n].to_vec();
    forged[n - 1] ^= 1;
    assert_eq!(rx.open(&mut forged).err(), Some(Error::BadTag));
    assert_eq!(rx.stats().refused(Error::Duplicate), 0);
}

#[test]
fn timed_repeat_bounds_lateness() {
    let mut tx = sender(1);
    let mut out = [0u8; 64];
    // Window opens at coarse time 1000 and lasts 30 units; receivers allow 2 units of skew.
    let n = tx
        .seal_with(
            b"unlock",
            &Seal {
                time: Some(1000),
                ..Seal::default().repeated(FIVE_IN_30)
            },
            &mut out,
        )
        .unwrap();
    let frame = out[..n].to_vec();

    // A receiver waking inside the window acts on it as fresh, whatever its replay state.
    let mut rx = recipient();
    rx.set_clock(1020, 2);
    let mut first = frame.clone();
    let o = rx
        .open_with(&mut first, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    assert_eq!(o.freshness, Freshness::Fresh);
    rx.set_clock(1031, 2);
    assert_eq!(rx.open(&mut frame.clone()).err(), Some(Error::Duplicate));
    // After the window (and the skew) a copy is a replay, not a duplicate.
    rx.set_clock(1033, 2);
    assert_eq!(rx.open(&mut frame.clone()).err(), Some(Error::Replay));

    // All copies withheld and one delivered after the window: authentic but not fresh, so an
    // actuation receiver refuses it (and takes its number).
    let mut late = recipient();
    late.set_clock(1040, 2);
    assert_eq!(
        late.open_with(
            &mut frame.clone(),
            &Open::default().class(TrafficClass::Actuation)
        )
        .err(),
        Some(Error::Stale)
    );
    assert_eq!(late.open(&mut frame.clone()).err(), Some(Error::Replay));
}

#[test]
fn only_recent_repeats_are_tracked() {
    let mut tx = sender(1);
    let mut rx = recipient();
    let mut out = [0u8; 64];
    let mut frames = Vec::new();
    for _ in 0..=meshseal::context::TRACKED_REPEATS {
        let n = tx
            .seal_with(b"x", &Seal::default().repeated(FIVE_IN_30), &mut out)
            .unwrap();
        frames.push(out[..n].to_vec());
        rx.open(&mut out[..n].to_vec()).unwrap();
    }
    // The oldest fell out of the table: its copy is judged as a replay.
    assert_eq!(rx.open(&mut frames[0].clone()).err(), Some(Error::Replay));
    assert_eq!(
        rx.open(&mut frames[1].clone()).err(),
        Some(Error::Duplicate)
    );
}

/// A sleepy receiver may have missed any number of the sender's frames (here 70,000 sent to
/// others): the repeated frame carries its full number, so the receiver still opens it.
#[test]
fn a_receiver_that_missed_many_frames_opens_a_repeat() {
    let mut tx = sender(1);
    let mut rx = recipient();
    rx.open(&mut tx.seal_to_vec(b"first").unwrap()).unwrap();
    let mut out = [0u8; 64];
    for _ in 0..70_000 {
        tx.seal(b"to someone else", &mut out).unwrap();
    }
    let n = tx
        .seal_with(b"lamp on", &Seal::default().repeated(FIVE_IN_30), &mut out)
        .unwrap();
    let mut copy = out[..n].to_vec();
    let o = rx.open(&mut copy).unwrap();
    assert_eq!((o.seq, o.payload), (70_001, &b"lamp on"[..]));
}

#[test]
fn wire_cost() {
    let mut tx = sender(1);
    let mut out = [0u8; 64];
    tx.seal(b"warm", &mut out).unwrap();
    let plain = tx.seal(&[1, 2, 3, 4], &mut out).unwrap() - 4;
    let repeated = tx
        .seal_with(
            &[1, 2, 3, 4],
            &Seal::default().repeated(FIVE_IN_30),
            &mut out,
        )
        .unwrap()
        - 4;
    let timed = tx
        .seal_with(
            &[1, 2, 3, 4],
            &Seal {
                time: Some(7),
                ..Seal::default().repeated(FIVE_IN_30)
            },
            &mut out,
        )
        .unwrap()
        - 4;
    // Extension byte, 2 announcement bytes and the full 5-byte number (instead of the short
    // form's nibble): 8 bytes; the timestamp 2 more.
    assert_eq!((plain, repeated, timed), (10, 18, 20));
    assert_eq!(
        tx.seal_with(
            b"",
            &Seal::default().repeated(Repeat {
                copies: 0,
                window: 1
            }),
            &mut out
        ),
        Err(Error::InvalidConfig)
    );
}

proptest! {
    /// Any order of arrival of the copies of several repeated frames and replays of ordinary
    /// frames: each repeated frame is delivered at most once, duplicates per frame never exceed
    /// copies - 1, and no copy of an ordinary frame is ever called a duplicate.
    #[test]
    fn delivered_at_most_once(copies in proptest::collection::vec(1u8..6, 1..4),
                              schedule in proptest::collection::vec((0usize..8, any::<bool>()), 0..60)) {
        let mut tx = sender(1);
        let mut rx = recipient();
        let mut frames = Vec::new();
        for &c in &copies {
            frames.push((tx.seal_to_vec(b"plain").unwrap(), 1u8, false));
            let mut out = [0u8; 64];
            let n = tx.seal_with(b"rep", &Seal::default().repeated(Repeat { copies: c, window: 10 }), &mut out).unwrap();
            frames.push((out[..n].to_vec(), c, true));
        }
        let mut delivered = vec![0u32; frames.len()];
        let mut dups = vec![0u32; frames.len()];
        for (pick, _) in schedule {
            let i = pick % frames.len();
            match rx.open(&mut frames[i].0.clone()) {
                Ok(_) => delivered[i] += 1,
                Err(Error::Duplicate) => {
                    prop_assert!(frames[i].2, "ordinary frame called a duplicate");
                    dups[i] += 1;
                }
                Err(Error::Replay) | Err(Error::TooOld) => {}
                Err(e) => prop_assert!(false, "unexpected {e:?}"),
            }
        }
        for i in 0..frames.len() {
            prop_assert!(delivered[i] <= 1);
            prop_assert!(dups[i] < u32::from(frames[i].1.max(1)));
        }
    }
}
