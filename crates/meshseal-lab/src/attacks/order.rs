//! Replay, reordering, late delivery and lost receiver state (T5–T8).

use super::*;

// ---------------------------------------------------------------------------------------------
// T5: replay.

pub(super) fn t5_replay(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let mut air = Vec::new();
    let d = command(s, CONTROLLER, LOCK, b"unlock", &mut air)?;
    log.push(format!("controller → lock \"unlock\": {}", d.describe()));
    if !accepted(&d, b"unlock") {
        return Err(format!(
            "the genuine command was not accepted: {}",
            d.describe()
        ));
    }
    let to_lock: Vec<Vec<u8>> = air
        .iter()
        .filter(|(to, _)| *to == LOCK)
        .map(|(_, f)| f.clone())
        .collect();
    let main = t5_replay_recorded(s, &to_lock, log);
    if let Some(reset) = s.seal_reset(CONTROLLER) {
        subs.push(check(RESET_REPLAY, reset_replay(s, reset, &to_lock, log)));
    }
    main
}

pub(super) fn t5_replay_recorded(
    s: &mut dyn Scheme,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let mut tally = Tally::default();
    for f in to_lock {
        let d = relay(s, LOCK, f, Class::Command, &direct, &mut Vec::new());
        log.push(format!("replay as recorded: {}", d.describe()));
        if accepted(&d, b"unlock") {
            return broken("a recorded \"unlock\" replayed as is: the lock unlocked again".into());
        }
        tally.add(&d);
    }
    for f in to_lock {
        for other in MEMBERS
            .into_iter()
            .filter(|&m| m != CONTROLLER && m != LOCK)
        {
            let Some(g) = s.relabel(f, other) else {
                continue;
            };
            let d = relay(s, LOCK, &g, Class::Command, &direct, &mut Vec::new());
            if accepted(&d, b"unlock") {
                log.push(format!(
                    "replay relabelled as sender {other}: {}",
                    d.describe()
                ));
                return broken(format!(
                    "a recorded \"unlock\" replayed with its sender id rewritten to {other}: the lock unlocked again"
                ));
            }
            tally.add(&d);
        }
    }
    held(format!(
        "{} replays of the recorded \"unlock\" frames (as is and relabelled) refused: {}",
        tally.total(),
        tally.summary()
    ))
}

/// The operator's controller resets the counters (recorded by the attacker); the recorded
/// "unlock" is replayed after it, and again after the recorded reset is itself replayed.
pub(super) fn reset_replay(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let d = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_REPLAY}] the controller resets the counters, the attacker records it: the lock {}",
        d.describe()
    ));
    let (after_genuine, t1) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed after the reset: {}",
        t1.summary()
    ));
    let (again, t2) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed once more: {}",
        t2.summary()
    ));
    let d2 = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_REPLAY}] the recorded reset command replayed: the lock {}",
        d2.describe()
    ));
    let (after_replayed, t3) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_REPLAY}] recorded \"unlock\" replayed after that: {}",
        t3.summary()
    ));
    match (after_genuine, again, after_replayed) {
        (true, false, true) => broken(format!(
            "after the controller's genuine reset the recorded \"unlock\" unlocked the lock again; replayed once more it was refused ({}), but after the recorded reset command was replayed ({}) it unlocked once more: the attacker rewinds the lock at will",
            t2.summary(),
            d2.describe()
        )),
        (true, _, _) => broken(
            "after the controller's genuine reset the recorded \"unlock\" unlocked the lock again"
                .into(),
        ),
        (false, _, true) => broken(format!(
            "the recorded reset command, replayed ({}), made the lock take the recorded \"unlock\" again",
            d2.describe()
        )),
        (false, _, false) => held(format!(
            "the reset ({}) and its replay ({}) left the recorded \"unlock\" refused: {}; {}",
            d.describe(),
            d2.describe(),
            t1.summary(),
            t3.summary()
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// T6: reordering and dropping.

pub(super) fn t6_reorder_drop(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    let plains: [&[u8]; 5] = [b"temp=20", b"temp=21", b"temp=22", b"temp=23", b"temp=24"];
    let frames = seal_all(s, SENSOR, &plains)?;
    let main = t6_drop_and_swap(s, &frames, &plains, log);
    subs.push(check(LOCKOUT, lockout(s, &frames[4].frame, log)));
    main
}

pub(super) fn t6_drop_and_swap(
    s: &mut dyn Scheme,
    frames: &[Sealed],
    plains: &[&[u8]],
    log: &mut Vec<String>,
) -> Found {
    // Drop the second reading, swap the last two.
    let mut gap_seen = 0;
    let mut late = 0;
    let mut reorder_seen = false;
    let mut late_refused = None;
    let mut got = Vec::new();
    for i in [0usize, 2, 4, 3] {
        let d = s.deliver(CONTROLLER, &frames[i].frame, Class::Reading);
        log.push(format!("deliver {}: {}", show(plains[i]), d.describe()));
        match &d {
            Delivery::Accepted {
                payload, signal, ..
            } => {
                got.push(show(payload));
                gap_seen += signal.gap.unwrap_or(0);
                if signal.late == Some(true) {
                    late += 1;
                    reorder_seen |= i == 3;
                }
            }
            Delivery::Refused(r) if i == 3 => {
                reorder_seen = true;
                late_refused = Some(r.clone());
            }
            _ => {}
        }
    }
    let drop_seen = gap_seen > 0;
    if drop_seen && reorder_seen {
        let reorder = match late_refused {
            Some(r) => format!("refused ({r})"),
            None => "flagged late".into(),
        };
        return held(format!(
            "gaps of {gap_seen} reported, {late} filled late: the dropped \"temp=21\" counted missing, \"temp=23\" after \"temp=24\" {reorder}"
        ));
    }
    broken(format!(
        "controller got [{}] with {} and {}",
        got.join(", "),
        if drop_seen {
            "the drop reported"
        } else {
            "no report of the dropped \"temp=21\""
        },
        if reorder_seen {
            "the reorder noticed"
        } else {
            "the reorder unnoticed"
        }
    ))
}

/// The controller commands the lamp; the sensor's latest reading (recorded on its way to the
/// controller) is delivered to the lamp, as recorded and relabelled as the controller; after
/// each, the controller commands the lamp again.
pub(super) fn lockout(s: &mut dyn Scheme, reading: &[u8], log: &mut Vec<String>) -> Found {
    let d = command(s, CONTROLLER, LAMP, b"lamp on", &mut Vec::new())?;
    log.push(format!(
        "[{LOCKOUT}] controller → lamp \"lamp on\": {}",
        d.describe()
    ));
    if !accepted(&d, b"lamp on") {
        return Err(format!(
            "the controller's genuine \"lamp on\" was not accepted: {}",
            d.describe()
        ));
    }
    let mut seen = Vec::new();
    for (how, frame, next) in [
        ("as recorded", Some(reading.to_vec()), &b"lamp off"[..]),
        (
            "relabelled as the controller",
            s.relabel(reading, CONTROLLER),
            &b"lamp on"[..],
        ),
    ] {
        let Some(frame) = frame else {
            continue;
        };
        let d = s.deliver(LAMP, &frame, Class::Reading);
        let gap = match &d {
            Delivery::Accepted { signal, .. } => signal.gap.filter(|&g| g > 0),
            _ => None,
        };
        let took = format!(
            "{}{}",
            d.describe(),
            gap.map(|g| format!(", reporting {g} missing"))
                .unwrap_or_default()
        );
        log.push(format!(
            "[{LOCKOUT}] the sensor's recorded \"temp=24\" delivered to the lamp {how}: {took}"
        ));
        let c = command(s, CONTROLLER, LAMP, next, &mut Vec::new())?;
        log.push(format!(
            "[{LOCKOUT}] controller → lamp {}: {}",
            show(next),
            c.describe()
        ));
        if !accepted(&c, next) {
            return broken(format!(
                "the sensor's recorded reading, delivered to the lamp {how} ({took}), made the lamp refuse the controller's genuine {} ({}): one sender's higher number locked another out",
                show(next),
                c.describe()
            ));
        }
        seen.push(format!("{how}: {took}"));
    }
    held(format!(
        "the sensor's recorded reading at the lamp ({}); the controller's commands after it were accepted",
        seen.join("; ")
    ))
}

// ---------------------------------------------------------------------------------------------
// T7: a withheld command delivered late.

pub(super) fn t7_withheld(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    const DELAY: u64 = 3600;
    // (a) The command is jammed at the lock and recorded; the user walks away.
    let f = s.seal(CONTROLLER, b"unlock", Class::Command)?;
    s.advance(DELAY);
    let mut air = Vec::new();
    let d = relay(s, LOCK, &f, Class::Command, &direct, &mut air);
    log.push(format!(
        "\"unlock\" withheld {DELAY} s, then delivered: {}",
        d.describe()
    ));
    if accepted(&d, b"unlock") {
        return broken(format!(
            "\"unlock\" withheld for {DELAY} s, then delivered: the lock acted on it"
        ));
    }
    let first = if air.is_empty() {
        d.describe()
    } else {
        format!(
            "the lock challenged it and the controller, no longer waiting, {}",
            d.describe()
        )
    };
    // (b) Later, the user unlocks again: the exchange runs, but its last frame (the one that
    // acts) is withheld. (Later, so that nothing left open by (a) is still pending.)
    s.advance(DELAY);
    let f = s.seal(CONTROLLER, b"unlock", Class::Command)?;
    let mut last = f.clone();
    let mut hop = s.deliver(LOCK, &f, Class::Command);
    let mut to_lock = true;
    while let Delivery::Answered { to, frame } = &hop {
        to_lock = *to == LOCK;
        last = frame.clone();
        if to_lock {
            break;
        }
        hop = s.deliver(*to, &last, Class::Command);
    }
    if !to_lock || last == f {
        log.push(format!(
            "single-frame protocol: nothing else to withhold ({})",
            hop.describe()
        ));
        return held(format!("\"unlock\" withheld {DELAY} s: {first}"));
    }
    s.advance(DELAY);
    let d = s.deliver(LOCK, &last, Class::Command);
    log.push(format!(
        "final frame of the exchange withheld {DELAY} s, then delivered: {}",
        d.describe()
    ));
    if accepted(&d, b"unlock") {
        return broken(format!(
            "the exchange's final frame withheld {DELAY} s, then delivered: the lock acted on it"
        ));
    }
    held(format!(
        "\"unlock\" withheld {DELAY} s: {first}; its echo withheld {DELAY} s: {}",
        d.describe()
    ))
}

// ---------------------------------------------------------------------------------------------
// T8: the receiver lost its state.

pub(super) fn t8_state_loss(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    let mut air = Vec::new();
    let d = command(s, CONTROLLER, LOCK, b"unlock", &mut air)?;
    if !accepted(&d, b"unlock") {
        return Err(format!(
            "the genuine command was not accepted: {}",
            d.describe()
        ));
    }
    let to_lock: Vec<Vec<u8>> = air
        .iter()
        .filter(|(to, _)| *to == LOCK)
        .map(|(_, f)| f.clone())
        .collect();
    let main = t8_after_loss(s, &to_lock, log);
    let rogue = s.impersonate(SENSOR, CONTROLLER);
    if let Some(reset) = rogue.as_ref().ok().and_then(|&r| s.seal_reset(r)) {
        subs.push(check(
            RESET_BY_MEMBER,
            reset_by_member(s, reset, &to_lock, log),
        ));
    }
    main
}

pub(super) fn t8_after_loss(
    s: &mut dyn Scheme,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let reading = s.seal(SENSOR, b"temp=21", Class::Reading)?;
    let d0 = s.deliver(LOCK, &reading, Class::Reading);
    log.push(format!("reading before the state loss: {}", d0.describe()));
    s.lose_state(LOCK);
    log.push("the lock lost its replay and freshness state".into());
    let mut tally = Tally::default();
    for f in to_lock {
        let d = relay(s, LOCK, f, Class::Command, &direct, &mut Vec::new());
        log.push(format!("recorded frame replayed: {}", d.describe()));
        if accepted(&d, b"unlock") {
            return broken(
                "after the lock lost its state, a recorded \"unlock\" replayed: the lock unlocked"
                    .into(),
            );
        }
        tally.add(&d);
    }
    let d1 = s.deliver(LOCK, &reading, Class::Reading);
    log.push(format!(
        "recorded reading replayed after the loss: {}{}",
        d1.describe(),
        match &d1 {
            Delivery::Accepted { signal, .. } if signal.fresh == Some(false) =>
                " (flagged: freshness unknown)",
            _ => "",
        }
    ));
    held(format!(
        "after the lock lost its state, replays of the recorded \"unlock\" refused: {}",
        tally.summary()
    ))
}

/// The sensor, a member holding the group key, sends the reset command from the controller's
/// address; the recorded "unlock" is replayed before and after.
pub(super) fn reset_by_member(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    to_lock: &[Vec<u8>],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let (before, t0) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_BY_MEMBER}] recorded \"unlock\" replayed: {}",
        t0.summary()
    ));
    if before {
        return Err("the recorded \"unlock\" was taken even before the reset".into());
    }
    let d = s.deliver(LOCK, &reset, Class::Command);
    log.push(format!(
        "[{RESET_BY_MEMBER}] the sensor sends the reset command as the controller: the lock {}",
        d.describe()
    ));
    let (after, t1) = replay_until(s, LOCK, to_lock, b"unlock");
    log.push(format!(
        "[{RESET_BY_MEMBER}] recorded \"unlock\" replayed again: {}",
        t1.summary()
    ));
    if after {
        return broken(format!(
            "the sensor ({SENSOR}), holding the group key like every member, sent the reset command as the controller ({}); the recorded \"unlock\", refused just before ({}), unlocked the lock again",
            d.describe(),
            t0.summary()
        ));
    }
    held(format!(
        "a member's reset command ({}) left the recorded \"unlock\" refused: {}",
        d.describe(),
        t1.summary()
    ))
}
