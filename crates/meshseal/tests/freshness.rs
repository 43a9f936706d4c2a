//! Freshness and state recovery: request/response binding, the echo challenge, traffic
//! classes, withheld frames, receiver and sender reboots.

mod common;

use common::*;
use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::Open;
use meshseal::Seal;
use meshseal::{
    Binding, Error, FrameId, Freshness, OrderPolicy, Recipient, RecipientConfig, Sender,
    SenderConfig, TrafficClass,
};

type Rx4 = Recipient<PeerTable<4>, core::ops::RangeInclusive<u32>>;

fn rx_for(own: u32, order: OrderPolicy) -> Rx4 {
    Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: Some(own),
            order,
        },
        0..=10,
        PeerTable::new(),
    )
}

#[test]
fn response_is_bound_to_its_request() {
    let mut ctl = sender(1);
    let mut lamp = sender(2);
    let mut ctl_rx = rx_for(1, OrderPolicy::Window);
    let mut lamp_rx = rx_for(2, OrderPolicy::Window);
    lamp_rx.provision(1);
    ctl_rx.provision(2);

    let mut q1 = ctl.seal_to_vec(b"status?").unwrap();
    let req1 = lamp_rx.open(&mut q1).unwrap().id();
    let mut out = [0u8; 64];
    let n = lamp
        .seal_with(b"on", &Seal::default().response(req1), &mut out)
        .unwrap();
    let r1 = out[..n].to_vec();

    let mut q2 = ctl.seal_to_vec(b"status?").unwrap();
    let req2 = lamp_rx.open(&mut q2).unwrap().id();

    // The response to request 1 offered as the answer to request 2: refused.
    let mut f = r1.clone();
    assert_eq!(
        ctl_rx
            .open_with(&mut f, &Open::default().answering(req2))
            .unwrap_err(),
        Error::BadTag
    );
    // Opened as an ordinary frame: refused as unsolicited.
    let mut f = r1.clone();
    assert_eq!(ctl_rx.open(&mut f).unwrap_err(), Error::Unsolicited);
    // Against its own request: accepted, fresh, once.
    let mut f = r1.clone();
    let o = ctl_rx
        .open_with(&mut f, &Open::default().answering(req1))
        .unwrap();
    assert_eq!(
        (o.payload, o.binding, o.freshness),
        (&b"on"[..], Binding::Response, Freshness::Fresh)
    );
    let mut f = r1.clone();
    assert_eq!(
        ctl_rx
            .open_with(&mut f, &Open::default().answering(req1))
            .unwrap_err(),
        Error::Replay
    );
    // A plain frame where a response is expected: refused.
    let mut plain = lamp.seal_to_vec(b"x").unwrap();
    assert_eq!(
        ctl_rx
            .open_with(&mut plain, &Open::default().answering(req2))
            .unwrap_err(),
        Error::Unsolicited
    );
}

#[test]
fn challenge_recovers_a_receiver_that_lost_its_state() {
    let mut ctl = sender(1);
    let mut lock = sender(2);
    let mut lock_rx = rx_for(2, OrderPolicy::Window); // rebooted: no state for 1
    let mut ctl_rx = rx_for(1, OrderPolicy::Window);

    // An attacker replays an old recorded "unlock" (full-length, authentic): refused as stale.
    let recorded = ctl.seal_to_vec(b"unlock").unwrap();
    let mut f = recorded.clone();
    assert_eq!(
        lock_rx
            .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::Stale
    );
    assert!(
        f.iter().rev().take(8 + 6).skip(8).all(|&b| b == 0),
        "stale plaintext wiped"
    );
    // Telemetry would take it, flagged: the data is authentic, its age unknown.
    let mut f = recorded.clone();
    let mut tele = rx_for(2, OrderPolicy::Window);
    assert_eq!(tele.open(&mut f).unwrap().freshness, Freshness::Unknown);

    // The real controller sends a new command: still stale (no verified state).
    let mut cmd = ctl.seal_to_vec(b"unlock").unwrap();
    assert_eq!(
        lock_rx
            .open_with(&mut cmd, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::Stale
    );
    let request = lock_rx.last_stale().unwrap();
    assert_eq!(request, FrameId { sender: 1, seq: 1 });

    // The lock challenges; the controller verifies the challenge against its request.
    let mut out = [0u8; 64];
    let n = lock_rx
        .issue_challenge(&mut lock, request, 100, &mut out)
        .unwrap();
    let mut challenge = out[..n].to_vec();
    let c = ctl_rx
        .open_with(&mut challenge, &Open::default().answering(request))
        .unwrap();
    assert_eq!(c.binding, Binding::Challenge);
    let challenge_id = c.id();

    // The controller repeats the command bound to the challenge: accepted as fresh.
    let n = ctl
        .seal_with(b"unlock", &Seal::default().echo(challenge_id), &mut out)
        .unwrap();
    let echo = out[..n].to_vec();
    let mut f = echo.clone();
    let o = lock_rx
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    assert_eq!(
        (o.payload, o.binding, o.freshness),
        (&b"unlock"[..], Binding::Echo, Freshness::Fresh)
    );
    // The echo cannot be used twice, and the state is now verified: later frames are fresh.
    let mut f = echo.clone();
    assert!(lock_rx
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .is_err());
    let mut next = ctl.seal_to_vec(b"lock").unwrap();
    assert_eq!(
        lock_rx
            .open_with(&mut next, &Open::default().class(TrafficClass::Actuation))
            .unwrap()
            .freshness,
        Freshness::Fresh
    );
    // The old recording is now below the window or a replay: never accepted.
    let mut f = recorded.clone();
    assert!(lock_rx
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .is_err());
}

#[test]
fn frames_recorded_before_the_proof_never_count_as_fresh_after_it() {
    let mut ctl = sender(1);
    let mut lock = sender(2);
    let mut ctl_rx = rx_for(1, OrderPolicy::Window);
    let mut lock_rx = rx_for(2, OrderPolicy::Window); // rebooted: no state for 1
                                                      // Frames the attacker withholds (never delivered to the lock).
    let hidden: Vec<Vec<u8>> = (0..5)
        .map(|_| ctl.seal_to_vec(b"unlock").unwrap())
        .collect();
    // A full-length command reaches the lock (sender rebooted, say): stale, challenged, echoed.
    let mut tx2 = Sender::new(
        keys(0),
        SenderConfig::new(1),
        MemoryStore {
            limit: Some(ctl.next_seq()),
            writes: 0,
        },
    )
    .unwrap();
    let mut cmd = tx2.seal_to_vec(b"unlock").unwrap();
    assert_eq!(
        lock_rx
            .open_with(&mut cmd, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::Stale
    );
    let req = lock_rx.last_stale().unwrap();
    let mut out = [0u8; 64];
    let n = lock_rx
        .issue_challenge(&mut lock, req, 0, &mut out)
        .unwrap();
    let cid = ctl_rx
        .open_with(&mut out[..n], &Open::default().answering(req))
        .unwrap()
        .id();
    let n = tx2
        .seal_with(b"unlock", &Seal::default().echo(cid), &mut out)
        .unwrap();
    assert_eq!(
        lock_rx
            .open_with(
                &mut out[..n],
                &Open::default().class(TrafficClass::Actuation)
            )
            .unwrap()
            .freshness,
        Freshness::Fresh
    );
    // The hidden frames (numbers below the proof) are never accepted now.
    for h in &hidden {
        let mut f = h.clone();
        assert!(lock_rx
            .open_with(&mut f, &Open::default().class(TrafficClass::Telemetry))
            .is_err());
    }
}

#[test]
fn echo_without_or_after_its_challenge_is_refused() {
    let mut ctl = sender(1);
    let mut lock = sender(2);
    let mut lock_rx = rx_for(2, OrderPolicy::Window);
    let mut out = [0u8; 64];
    let mut cmd = ctl.seal_to_vec(b"unlock").unwrap();
    // An echo naming a challenge that was never issued.
    let n = ctl
        .seal_with(
            b"unlock",
            &Seal::default().echo(FrameId { sender: 2, seq: 9 }),
            &mut out,
        )
        .unwrap();
    assert_eq!(lock_rx.open(&mut out[..n]).unwrap_err(), Error::Unsolicited);
    // An echo after the challenge expired.
    assert_eq!(
        lock_rx
            .open_with(&mut cmd, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::Stale
    );
    let req = lock_rx.last_stale().unwrap();
    lock_rx
        .issue_challenge(&mut lock, req, 0, &mut out)
        .unwrap();
    let c = FrameId {
        sender: 2,
        seq: lock.next_seq() - 1,
    };
    assert_eq!(lock_rx.expire_challenges(1_000, 30), 1);
    let n = ctl
        .seal_with(b"unlock", &Seal::default().echo(c), &mut out)
        .unwrap();
    assert_eq!(lock_rx.open(&mut out[..n]).unwrap_err(), Error::Unsolicited);
}

#[test]
fn withheld_frame_delivered_late() {
    let mut ctl = sender(1);
    let mut lock = sender(2);
    let mut ctl_rx = rx_for(1, OrderPolicy::Window);
    // The attacker jams and records "unlock"; the controller retries with a later frame.
    let withheld = ctl.seal_to_vec(b"unlock").unwrap();
    let retry = ctl.seal_to_vec(b"unlock").unwrap();

    // Window policy: the retry is accepted, and the withheld frame later too (reordering).
    let mut window = rx_for(2, OrderPolicy::Window);
    window.provision(1);
    let mut f = retry.clone();
    window
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    let mut f = withheld.clone();
    assert!(
        window
            .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
            .is_ok(),
        "a replay window cannot see delay"
    );

    // Strict order: refused once anything later was accepted.
    let mut strict = rx_for(2, OrderPolicy::Strict);
    strict.provision(1);
    let mut f = retry.clone();
    strict
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    let mut f = withheld.clone();
    assert_eq!(
        strict
            .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::OutOfOrder
    );

    // Challenged class: nothing acts unless it echoes a challenge issued just now.
    let mut ch = rx_for(2, OrderPolicy::Window);
    ch.provision(1);
    let mut f = withheld.clone();
    assert_eq!(
        ch.open_with(&mut f, &Open::default().class(TrafficClass::Challenged))
            .unwrap_err(),
        Error::Stale
    );
    let req = ch.last_stale().unwrap();
    let mut out = [0u8; 64];
    let n = ch.issue_challenge(&mut lock, req, 5, &mut out).unwrap();
    let mut c = out[..n].to_vec();
    let cid = ctl_rx
        .open_with(&mut c, &Open::default().answering(req))
        .unwrap()
        .id();
    let n = ctl
        .seal_with(b"unlock", &Seal::default().echo(cid), &mut out)
        .unwrap();
    assert_eq!(
        ch.open_with(
            &mut out[..n],
            &Open::default().class(TrafficClass::Challenged)
        )
        .unwrap()
        .payload,
        b"unlock"
    );
}

#[test]
fn sender_reboot_skipping_more_than_2_pow_16_is_accepted() {
    let mut rx = rx_for(2, OrderPolicy::Window);
    rx.provision(1);
    let mut store = MemoryStore::default();
    let mut cfg = SenderConfig::new(1);
    cfg.reservation_block = 100_000;
    {
        let mut tx = Sender::provision(keys(0), cfg, &mut store).unwrap();
        let mut f = tx.seal_to_vec(b"before").unwrap();
        rx.open(&mut f).unwrap();
    }
    // Reboot: resumes after the reservation, 99 999 numbers ahead; the first frame is full.
    let mut tx = Sender::new(keys(0), cfg, &mut store).unwrap();
    let mut f = tx.seal_to_vec(b"after").unwrap();
    let o = rx
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    assert_eq!(
        (o.seq, o.gap, o.freshness),
        (100_000, 99_999, Freshness::Fresh)
    );
    let mut f = tx.seal_to_vec(b"steady").unwrap();
    assert_eq!(f.len(), 6 + 10);
    assert_eq!(rx.open(&mut f).unwrap().payload, b"steady");
}

#[test]
fn coarse_time_bounds_a_withheld_frame() {
    let mut ctl = sender(1);
    let mut rx = rx_for(2, OrderPolicy::Window);
    rx.provision(1);
    let mut out = [0u8; 64];
    let _ = ctl.seal_to_vec(b"boot").unwrap(); // the next frames use the 1-byte form
    let n = ctl
        .seal_with(b"unlock", &Seal::default().timed(1000), &mut out)
        .unwrap();
    let withheld = out[..n].to_vec();
    assert_eq!(
        withheld.len() - 6,
        1 + 1 + 1 + 1 + 2 + 8,
        "timestamp costs 3 bytes over 1-byte form"
    );
    let n = ctl
        .seal_with(b"unlock", &Seal::default().timed(1001), &mut out)
        .unwrap();
    let retry = out[..n].to_vec();

    // The retry arrives in time: fresh.
    rx.set_clock(1001, 5);
    let mut f = retry.clone();
    let o = rx
        .open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
        .unwrap();
    assert_eq!((o.time, o.freshness), (Some(1001), Freshness::Fresh));
    // The withheld copy arrives 29 units later: inside the replay window, but too old.
    rx.set_clock(1030, 5);
    let mut f = withheld.clone();
    assert_eq!(
        rx.open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
            .unwrap_err(),
        Error::Stale
    );

    // A receiver without state, with a clock, takes a recent timed frame as fresh...
    let mut tx = sender(3);
    let n = tx
        .seal_with(b"unlock", &Seal::default().timed(65534), &mut out)
        .unwrap(); // full form: first after boot
    let timed = out[..n].to_vec();
    let mut cold = rx_for(2, OrderPolicy::Window);
    cold.set_clock(3, 10); // 5 units later, across the 16-bit wrap
    let mut f = timed.clone();
    assert_eq!(
        cold.open_with(&mut f, &Open::default().class(TrafficClass::Actuation))
            .unwrap()
            .freshness,
        Freshness::Fresh
    );
    // ...and the timestamp is authenticated: changing it fails the tag.
    let mut f = timed.clone();
    let t_at = f.len() - 8 - 6 - 2;
    f[t_at + 1] ^= 0x01;
    let mut cold2 = rx_for(2, OrderPolicy::Window);
    cold2.set_clock(3, 10);
    assert_eq!(cold2.open(&mut f).unwrap_err(), Error::BadTag);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]

        /// A receiver that lost its state gets any mix of recorded frames (replayed) and new
        /// ones, recovers through a challenge, then gets more of both: a frame sealed before
        /// the challenge is never delivered as fresh, and nothing is delivered twice.
        #[test]
        fn recorded_frames_never_fresh_after_state_loss(
            recorded in 1usize..30,
            before in prop::collection::vec(0usize..30, 0..20),
            after in prop::collection::vec(0usize..30, 0..20),
            order in any::<bool>(),
        ) {
            let mut ctl = sender(1);
            let mut lock = sender(2);
            let mut ctl_rx = rx_for(1, OrderPolicy::Window);
            let mut rx = rx_for(2, if order { OrderPolicy::Strict } else { OrderPolicy::Window });
            let old: Vec<Vec<u8>> = (0..recorded).map(|i| ctl.seal_to_vec(&[i as u8]).unwrap()).collect();
            let boundary = ctl.next_seq();
            let mut seen = std::collections::HashSet::new();
            let try_open = |rx: &mut Rx4, f: &[u8], seen: &mut std::collections::HashSet<u64>| -> Option<(u64, Freshness)> {
                let mut g = f.to_vec();
                let o = rx.open_with(&mut g, &Open::default().class(TrafficClass::Actuation)).ok()?;
                assert!(seen.insert(o.seq), "seq {} delivered twice", o.seq);
                Some((o.seq, o.freshness))
            };
            for &i in &before {
                if let Some((seq, _)) = try_open(&mut rx, &old[i % recorded], &mut seen) {
                    prop_assert!(false, "recorded frame {} delivered before recovery", seq);
                }
            }
            // Recovery: a new full-length command is stale, challenged and echoed.
            let mut tx = Sender::new(keys(0), SenderConfig::new(1), MemoryStore { limit: Some(boundary), writes: 0 }).unwrap();
            let mut cmd = tx.seal_to_vec(b"cmd").unwrap();
            prop_assert_eq!(rx.open_with(&mut cmd, &Open::default().class(TrafficClass::Actuation)).unwrap_err(), Error::Stale);
            let req = rx.last_stale().unwrap();
            let mut out = [0u8; 64];
            let n = rx.issue_challenge(&mut lock, req, 0, &mut out).unwrap();
            let cid = ctl_rx.open_with(&mut out[..n], &Open::default().answering(req)).unwrap().id();
            let n = tx.seal_with(b"cmd", &Seal::default().echo(cid), &mut out).unwrap();
            prop_assert_eq!(try_open(&mut rx, &out[..n], &mut seen).map(|x| x.1), Some(Freshness::Fresh));
            for &i in &after {
                if let Some((seq, _)) = try_open(&mut rx, &old[i % recorded], &mut seen) {
                    prop_assert!(false, "recorded frame {} delivered after recovery", seq);
                }
            }
            let mut next = tx.seal_to_vec(b"next").unwrap();
            prop_assert_eq!(rx.open_with(&mut next, &Open::default().class(TrafficClass::Actuation)).unwrap().freshness, Freshness::Fresh);
        }
    }
}
