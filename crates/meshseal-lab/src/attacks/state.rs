//! A sender that lost its state (T14) and an insider pushing another member's replay state
//! forward (T15).

use super::*;

// ---------------------------------------------------------------------------------------------
// T14: a sender lost its state.

pub(super) fn t14_sender_state_loss(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    // The lamp's flash is backed up at commissioning, before it sent anything.
    s.back_up(LAMP);
    let main = sender_loss(s, SENSOR, SenderLoss::FactoryReset, log);
    subs.push(check(
        RESTORED_BACKUP,
        sender_loss(s, LAMP, SenderLoss::RestoredBackup, log),
    ));
    main
}

/// One sender state loss, as a check of its own: `device` sends known readings to the
/// controller, loses its sender state as `loss` says (a restore puts back what
/// [`Scheme::back_up`] took, so take the backup first), and sends secrets, re-joining first
/// where the scheme does not let it seal; the attacker XORs every pair of frames whose counter
/// fields are equal. Held only if no plaintext was recovered and the controller accepted the
/// device's new frames. The check is named [`MAIN`], [`RESTORED_BACKUP`] or [`IMAGE_RESTORE`]
/// after `loss`; its steps are appended to `log`.
pub fn sender_state_loss(
    s: &mut dyn Scheme,
    device: DeviceId,
    loss: SenderLoss,
    log: &mut Vec<String>,
) -> Check {
    let name = match loss {
        SenderLoss::FactoryReset => MAIN,
        SenderLoss::RestoredBackup => RESTORED_BACKUP,
        SenderLoss::ImageRestore => IMAGE_RESTORE,
    };
    check(name, sender_loss(s, device, loss, log))
}

pub(super) fn sender_loss(
    s: &mut dyn Scheme,
    device: DeviceId,
    loss: SenderLoss,
    log: &mut Vec<String>,
) -> Found {
    let p = match loss {
        SenderLoss::FactoryReset => String::new(),
        SenderLoss::RestoredBackup => format!("[{RESTORED_BACKUP}] "),
        SenderLoss::ImageRestore => format!("[{IMAGE_RESTORE}] "),
    };
    let known = seal_all(s, device, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let mut heard = Tally::default();
    for k in &known {
        heard.add(&s.deliver(CONTROLLER, &k.frame, Class::Reading));
    }
    log.push(format!(
        "{p}device {device} sends 2 known readings to the controller: {}",
        heard.summary()
    ));
    let what = s.lose_sender_state(device, loss)?;
    log.push(format!("{p}{what}"));
    let mut steps = vec![what];
    let plains: [&[u8]; 2] = [b"pin=4711", b"alarm=off"];
    let secret = match seal_all(s, device, &plains) {
        Ok(v) => v,
        Err(e) => {
            log.push(format!("{p}device {device} tries to seal: refused {e}"));
            steps.push(format!("sealing refused ({e})"));
            let how = s.rejoin(device).ok_or_else(|| {
                format!("device {device} cannot seal ({e}) and the scheme has no way back")
            })??;
            log.push(format!("{p}re-join: {how}"));
            steps.push(format!("it re-joined: {how}"));
            seal_all(s, device, &plains)?
        }
    };
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let field = |f: &Sealed| {
        parts(s, &f.frame)
            .map(|(c, _)| hex::encode(c))
            .unwrap_or_default()
    };
    let (before, after) = (field(&known[0]), field(&secret[0]));
    log.push(format!(
        "{p}first counter field before the loss {before}, after {after}"
    ));
    let r = nonce_reuse(s, &known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("{}; {e}", steps.join("; ")));
    }
    let mut tally = Tally::default();
    for f in &secret {
        let d = s.deliver(CONTROLLER, &f.frame, Class::Reading);
        log.push(format!(
            "{p}its new frame at the controller: {}",
            d.describe()
        ));
        if !accepted(&d, &f.plain) {
            return Err(format!(
                "{}; no nonce repeated, but the controller did not take the device's new frame: {}",
                steps.join("; "),
                d.describe()
            ));
        }
        tally.add(&d);
    }
    held(format!(
        "{}; {}; its {} new frames accepted by the controller",
        steps.join("; "),
        r.failed.unwrap_or_else(|| format!(
            "counter field {before} before, {after} after: none repeated"
        )),
        tally.total()
    ))
}

// ---------------------------------------------------------------------------------------------
// T15: a key holder pushes another member's replay state forward.

/// Readings the controller sends the lamp after the insider's removal, at most: more than
/// meshseal's default period of full-length numbers (16), so a receiver that lost track of
/// the sender's numbers is seen to resynchronise, or not.
pub const AFTER_REMOVAL: usize = 20;

pub(super) fn t15_insider_lockout(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    let main = match insider_lockout(s, log) {
        Ok((main, after)) => {
            if let Some(after) = after {
                subs.push(check(AFTER_REKEY, after));
            }
            main
        }
        Err(e) => Err(e),
    };
    if let Some(what) = s.remove_with_grace(GUEST, GRACE) {
        log.push(format!("[{GRACE_PERIOD}] {what}"));
        subs.push(check(GRACE_PERIOD, grace_period(s, log)));
    }
    main
}

/// What a run of plain readings met at a receiver.
#[derive(Default)]
pub(super) struct Readings {
    /// Refused before the first accepted one.
    pub(super) refused_first: usize,
    /// Accepted.
    pub(super) ok: usize,
    /// Bytes of the counter field of the first accepted one.
    pub(super) first_ok_counter: Option<usize>,
    /// Bytes of the counter field of every reading sent, in order (when the format shows one).
    pub(super) counters: Vec<usize>,
    pub(super) tally: Tally,
}

impl Readings {
    /// The counter field lengths of the readings, run by run: "5 bytes×14, then 1 byte×6".
    fn counter_runs(&self) -> String {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &n in &self.counters {
            match runs.last_mut() {
                Some((len, count)) if *len == n => *count += 1,
                _ => runs.push((n, 1)),
            }
        }
        runs.iter()
            .map(|(len, count)| format!("{len} byte{}×{count}", if *len == 1 { "" } else { "s" }))
            .collect::<Vec<_>>()
            .join(", then ")
    }
}

/// `from` sends `n` plain readings to `to`, `gap` seconds before each.
pub(super) fn readings(
    s: &mut dyn Scheme,
    from: DeviceId,
    to: DeviceId,
    n: usize,
    gap: u64,
) -> Result<Readings, String> {
    let payload: &[u8] = b"status=ok";
    let mut r = Readings::default();
    for _ in 0..n {
        s.advance(gap);
        let f = s.seal(from, payload, Class::Reading)?;
        let counter = s.dissect(&f).map(|d| d.counter.len());
        r.counters.extend(counter);
        let d = s.deliver(to, &f, Class::Reading);
        r.tally.add(&d);
        if accepted(&d, payload) {
            if r.ok == 0 {
                r.first_ok_counter = counter;
            }
            r.ok += 1;
        } else if r.ok == 0 {
            r.refused_first += 1;
        }
    }
    Ok(r)
}

/// One plain frame the sensor forges in the controller's name at the highest number, delivered
/// to the lock and the lamp. Until the insider is removed ([`LOCKOUT_SPAN`] seconds): the
/// controller commands the lock, sends three readings to the lamp, and the lock sends the lamp a
/// reading. Then the sensor is removed, and the controller commands the lock and sends the lamp
/// [`AFTER_REMOVAL`] readings.
///
/// The main check is broken when the controller's commands are refused, another sender is
/// refused, or the lamp never hears the controller's readings again after the removal. When the
/// lamp does hear them again, the [`AFTER_REKEY`] check is broken if it still refused any of
/// them after the removal (the design's rule: one forged frame denies nothing beyond the next
/// rekey).
pub(super) fn insider_lockout(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
) -> Result<(Found, Option<Found>), String> {
    let status: &[u8] = b"status=ok";
    let f0 = s.seal(CONTROLLER, status, Class::Reading)?;
    let d0 = s.deliver(LAMP, &f0, Class::Reading);
    if !accepted(&d0, status) {
        return Err(format!(
            "the controller's genuine reading was not accepted: {}",
            d0.describe()
        ));
    }
    let d1 = s.deliver(LAMP, &f0, Class::Reading);
    log.push(format!(
        "the controller's reading at the lamp: {}; replayed: {}",
        d0.describe(),
        d1.describe()
    ));
    if accepted(&d1, status) {
        let na = Ok((
            Verdict::NotApplicable,
            format!(
                "the lamp took a replay of the controller's reading ({}): it keeps no replay state for a forged number to push forward (its replays are T5)",
                d1.describe()
            ),
        ));
        return Ok((na, None));
    }
    let (forged, number) = s.forge_plain(SENSOR, CONTROLLER, b"")?;
    let at_lock = s.deliver(LOCK, &forged, Class::Reading);
    let at_lamp = s.deliver(LAMP, &forged, Class::Reading);
    let forgery = format!(
        "1 forged plain frame of {} bytes, sealed by the sensor ({SENSOR}) in the controller's ({CONTROLLER}) name at {number} (lock: {}; lamp: {})",
        forged.len(),
        at_lock.describe(),
        at_lamp.describe()
    );
    log.push(forgery.clone());

    // Until the insider is removed.
    let cmd_before = command(s, CONTROLLER, LOCK, b"lock", &mut Vec::new())?;
    log.push(format!(
        "controller → lock \"lock\": {}",
        cmd_before.describe()
    ));
    let before = readings(s, CONTROLLER, LAMP, 3, LOCKOUT_SPAN / 3)?;
    log.push(format!(
        "controller → lamp, 3 readings over {LOCKOUT_SPAN} s: {}",
        before.tally.summary()
    ));
    let other = s.seal(LOCK, b"door=closed", Class::Reading)?;
    let d_other = s.deliver(LAMP, &other, Class::Reading);
    log.push(format!(
        "lock → lamp \"door=closed\": {}",
        d_other.describe()
    ));

    // The insider is removed the way the scheme can.
    let what = s.remove_member(SENSOR);
    log.push(format!("the insider is removed: {what}"));
    let cmd_after = command(s, CONTROLLER, LOCK, b"unlock", &mut Vec::new())?;
    log.push(format!(
        "controller → lock \"unlock\": {}",
        cmd_after.describe()
    ));
    let after = readings(s, CONTROLLER, LAMP, AFTER_REMOVAL, 0)?;
    log.push(format!(
        "controller → lamp, {AFTER_REMOVAL} readings: {}",
        after.tally.summary()
    ));

    let mut lost = Vec::new();
    if !accepted(&cmd_before, b"lock") {
        lost.push(format!(
            "the controller's next command to the lock was {}",
            cmd_before.describe()
        ));
    }
    if !accepted(&d_other, b"door=closed") {
        lost.push(format!(
            "another member's reading at the lamp was {}",
            d_other.describe()
        ));
    }
    if !accepted(&cmd_after, b"unlock") {
        lost.push(format!(
            "after the removal its command to the lock was {}",
            cmd_after.describe()
        ));
    }
    if after.ok == 0 {
        lost.push(format!(
            "after the removal ({what}) the lamp refused all {AFTER_REMOVAL} of its readings ({})",
            after.tally.summary()
        ));
    }
    if !lost.is_empty() {
        return Ok((broken(format!("{forgery}: {}", lost.join("; "))), None));
    }
    let main = held(format!(
        "{forgery}: the controller's commands to the lock accepted before and after the removal; its plain readings at the lamp: {} of 3 accepted over the {LOCKOUT_SPAN} s until the removal ({}), heard again after it ({what}); the lock's reading at the lamp {}",
        before.ok,
        before.tally.summary(),
        d_other.describe()
    ));
    let full = after
        .first_ok_counter
        .map(|n| format!(", the first accepted one carrying a {n}-byte number"))
        .unwrap_or_default();
    let after_rekey = if after.ok < AFTER_REMOVAL {
        broken(format!(
            "after the removal the lamp still refused {} of the controller's {AFTER_REMOVAL} plain readings ({}), the first {} before it took one{full}: the forged number outlived the removal",
            AFTER_REMOVAL - after.ok,
            after.tally.summary(),
            after.refused_first
        ))
    } else {
        let numbers = if after.counters.is_empty() {
            String::new()
        } else {
            format!(" (number fields: {})", after.counter_runs())
        };
        held(format!(
            "after the removal the lamp took all {AFTER_REMOVAL} of the controller's plain readings{full}{numbers}"
        ))
    };
    Ok((main, Some(after_rekey)))
}

/// After a rekey that removes the guest with a grace period of [`GRACE`] seconds, the guest,
/// holding the old epoch's keys, forges plain frames: in the name of the controller, which
/// already sealed in the new epoch at the lamp; in the name of the lock, which has not; and,
/// after the grace period, in the lamp's name at the lock.
pub(super) fn grace_period(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let p = format!("[{GRACE_PERIOD}]");
    let status: &[u8] = b"status=ok";
    let door: &[u8] = b"door=closed";
    let f = s.seal(CONTROLLER, status, Class::Reading)?;
    let d = s.deliver(LAMP, &f, Class::Reading);
    log.push(format!(
        "{p} the controller's first new-epoch reading at the lamp: {}",
        d.describe()
    ));
    if !accepted(&d, status) {
        return Err(format!(
            "the controller's first new-epoch reading was not accepted: {}",
            d.describe()
        ));
    }
    let (f1, number) = s.forge_plain(GUEST, CONTROLLER, b"")?;
    let d1 = s.deliver(LAMP, &f1, Class::Reading);
    let f2 = s.seal(CONTROLLER, status, Class::Reading)?;
    let d2 = s.deliver(LAMP, &f2, Class::Reading);
    log.push(format!(
        "{p} the removed guest forges in the controller's name at {number}: the lamp {}; the controller's next reading: {}",
        d1.describe(),
        d2.describe()
    ));
    let (f3, _) = s.forge_plain(GUEST, LOCK, b"")?;
    let d3 = s.deliver(LAMP, &f3, Class::Reading);
    let f4 = s.seal(LOCK, door, Class::Reading)?;
    let d4 = s.deliver(LAMP, &f4, Class::Reading);
    log.push(format!(
        "{p} in the name of the lock, which has not sealed in the new epoch yet: the lamp {}; the lock's first new-epoch reading: {}",
        d3.describe(),
        d4.describe()
    ));
    s.advance(GRACE + 1);
    let (f5, _) = s.forge_plain(GUEST, LAMP, b"")?;
    let d5 = s.deliver(LOCK, &f5, Class::Reading);
    log.push(format!(
        "{p} {} s later, past the grace period, in the lamp's name at the lock: {}",
        GRACE + 1,
        d5.describe()
    ));
    let mut lost = Vec::new();
    if d1.payload().is_some() {
        lost.push(format!(
            "its forgery in the controller's name, which had sealed in the new epoch, was {}",
            d1.describe()
        ));
    }
    if !accepted(&d2, status) {
        lost.push(format!(
            "the controller's next reading was {}",
            d2.describe()
        ));
    }
    if !accepted(&d4, door) {
        lost.push(format!(
            "the lock's first new-epoch reading, after the forgery in its name, was {}",
            d4.describe()
        ));
    }
    if d5.payload().is_some() {
        lost.push(format!(
            "its forgery after the grace period was {}",
            d5.describe()
        ));
    }
    if !lost.is_empty() {
        return broken(format!(
            "member {GUEST} removed with a {GRACE} s grace period: {}",
            lost.join("; ")
        ));
    }
    held(format!(
        "member {GUEST} removed with a {GRACE} s grace period, forging old-epoch frames at {number}: in the name of the controller, which had sealed in the new epoch, {}, and the controller's next reading {}; in the name of the lock, which had not, {} (the grace period's exposure), until the lock's first new-epoch reading, {}; past the grace period {}",
        d1.describe(),
        d2.describe(),
        d3.describe(),
        d4.describe(),
        d5.describe()
    ))
}
