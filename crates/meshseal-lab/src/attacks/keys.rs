//! Spliced fragments (T9), exhausted counters (T10) and key holders who should not be trusted
//! (T11, T12).

use super::*;

// ---------------------------------------------------------------------------------------------
// T9: spliced fragments.

pub(super) fn t9_splice(s: &mut dyn Scheme, log: &mut Vec<String>, subs: &mut Vec<Check>) -> Found {
    let main = t9_one_sender(s, log);
    subs.push(check(CROSS_SENDER_SPLICE, cross_sender_splice(s, log)));
    main
}

pub(super) fn t9_one_sender(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let a: &[u8] = b"cfg:on=07:00;off=23:00;days=mon-fri;dim=080;scene=work";
    let b: &[u8] = b"cfg:on=09:30;off=01:00;days=sat-sun;dim=100;scene=play";
    const MTU: usize = 48;
    let fa = s.seal_message(CONTROLLER, a, MTU)?;
    let fb = s.seal_message(CONTROLLER, b, MTU)?;
    if fa.len() < 2 || fa.len() != fb.len() {
        return Err(format!(
            "messages did not split alike ({} and {} frames)",
            fa.len(),
            fb.len()
        ));
    }
    log.push(format!(
        "two configuration messages of {} fragments each",
        fa.len()
    ));
    let mut tally = Tally::default();
    for (x, y, name) in [(&fa, &fb, "A"), (&fb, &fa, "B")] {
        let spliced: Vec<&Vec<u8>> = x.iter().take(1).chain(y.iter().skip(1)).collect();
        for f in spliced {
            let d = s.deliver(LAMP, f, Class::Reading);
            if let Some(p) = d.payload() {
                log.push(format!("delivered: {}", show(p)));
                if p != a && p != b {
                    return broken(format!(
                        "first fragment of {name} spliced onto the rest of the other: the lamp took {}",
                        show(p)
                    ));
                }
            }
            tally.add(&d);
        }
    }
    held(format!(
        "no spliced message delivered ({}{})",
        tally.summary(),
        if tally.0.contains_key("accepted") {
            "; the accepted ones are the genuine messages, completed by their own fragments"
        } else {
            ""
        }
    ))
}

/// The lamp and the guest's app (both counting from where they are, here the start) each send
/// the controller a schedule in several fragments; the lamp's first fragment is delivered with
/// the guest's other fragments, as recorded and relabelled as the lamp.
pub(super) fn cross_sender_splice(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let a: &[u8] = b"cfg:lamp;on=07:00;off=23:00;days=mon-fri;dim=080;scene=work";
    let b: &[u8] = b"cfg:app;on=03:00;off=03:05;days=sat-sun;dim=100;scene=away!";
    const MTU: usize = 48;
    let fa = s.seal_message(LAMP, a, MTU)?;
    let fb = s.seal_message(GUEST, b, MTU)?;
    if fa.len() < 2 || fa.len() != fb.len() {
        return Err(format!(
            "messages did not split alike ({} and {} frames)",
            fa.len(),
            fb.len()
        ));
    }
    // Counter fields, shown when the frames carry short counters (not IVs).
    let numbers = |frames: &[Vec<u8>]| {
        frames
            .iter()
            .filter_map(|f| parts(s, f).map(|(c, _)| c))
            .filter(|c| !c.is_empty() && c.len() <= 8)
            .map(hex::encode)
            .collect::<Vec<_>>()
            .join(",")
    };
    let (na, nb) = (numbers(&fa), numbers(&fb[1..]));
    log.push(format!(
        "[{CROSS_SENDER_SPLICE}] the lamp's fragments carry counter fields {na}; the guest's later ones {nb}"
    ));
    let mut tally = Tally::default();
    let d = s.deliver(CONTROLLER, &fa[0], Class::Reading);
    tally.add(&d);
    for (how, relabel) in [("as recorded", false), ("relabelled as the lamp", true)] {
        for f in &fb[1..] {
            let f = if relabel {
                match s.relabel(f, LAMP) {
                    Some(g) => g,
                    None => continue,
                }
            } else {
                f.clone()
            };
            let d = s.deliver(CONTROLLER, &f, Class::Reading);
            if let Some(p) = d.payload() {
                log.push(format!("[{CROSS_SENDER_SPLICE}] delivered: {}", show(p)));
                if p != a && p != b {
                    return broken(format!(
                        "the lamp's first fragment followed by the guest's others {how}{}: the controller took {}",
                        if nb.is_empty() {
                            String::new()
                        } else {
                            format!(" (counter fields {nb}; the lamp's were {na})")
                        },
                        show(p)
                    ));
                }
            }
            tally.add(&d);
        }
    }
    held(format!(
        "the lamp's first fragment with the guest's others, as recorded and relabelled: no mixture delivered ({})",
        tally.summary()
    ))
}

// ---------------------------------------------------------------------------------------------
// T10: counter exhaustion.

pub(super) fn t10_exhaustion(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let Some(what) = s.exhaust(SENSOR) else {
        return Ok((
            Verdict::NotApplicable,
            "no counter to exhaust (and nothing in the scheme ever replaces its key)".into(),
        ));
    };
    log.push(what.clone());
    let secrets: [&[u8]; 4] = [b"pin=4711", b"door=open", b"alarm=off", b"code=0042"];
    let mut sealed = Vec::new();
    let mut refused = None;
    for p in secrets {
        match s.seal(SENSOR, p, Class::Reading) {
            Ok(frame) => sealed.push(Sealed {
                frame,
                plain: p.to_vec(),
            }),
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    log.push(format!(
        "{} frames sealed at the end of the space{}",
        sealed.len(),
        refused
            .as_ref()
            .map(|e| format!(", then the sender refused: {e}"))
            .unwrap_or_default()
    ));
    if let Some(e) = nonce_reuse(s, &known, &sealed, log).recovered {
        return broken(format!("{what}; it wrapped: {e}"));
    }
    held(match refused {
        Some(e) => format!(
            "{what}: {} more frames, then the sender refused ({e}); no nonce repeated",
            sealed.len()
        ),
        None => format!("{what}: {} more frames, no nonce repeated", sealed.len()),
    })
}

// ---------------------------------------------------------------------------------------------
// T11 and T12: key holders who should not be trusted.

/// A rogue device holding `insider`'s key material sends "unlock" to the lock as `claimed`,
/// answering any challenge addressed to `claimed` itself (it listens on the air).
pub(super) fn rogue_unlock(
    s: &mut dyn Scheme,
    insider: DeviceId,
    claimed: DeviceId,
    log: &mut Vec<String>,
) -> Result<Delivery, String> {
    let rogue = s.impersonate(insider, claimed)?;
    let f = s.seal(rogue, b"unlock", Class::Command)?;
    let route = move |to: DeviceId| if to == claimed { rogue } else { to };
    let d = relay(s, LOCK, &f, Class::Command, &route, &mut Vec::new());
    log.push(format!(
        "device {insider}'s keys, claiming to be {claimed}: \"unlock\" → {}",
        d.describe()
    ));
    Ok(d)
}

pub(super) fn t11_departed_member(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let what = s.remove_member(GUEST);
    log.push(what.clone());
    let own = rogue_unlock(s, GUEST, GUEST, log)?;
    if accepted(&own, b"unlock") {
        return broken(format!(
            "member {GUEST} removed ({what}), yet its \"unlock\" under its own id was accepted"
        ));
    }
    let other = rogue_unlock(s, GUEST, CONTROLLER, log)?;
    if accepted(&other, b"unlock") {
        return broken(format!(
            "removed member {GUEST} is {} as itself, but with the key it kept it sealed \"unlock\" as member {CONTROLLER}: accepted",
            own.describe()
        ));
    }
    held(format!(
        "removed member {GUEST}: as itself {}; as member {CONTROLLER} {}",
        own.describe(),
        other.describe()
    ))
}

pub(super) fn t12_insider(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let d = rogue_unlock(s, SENSOR, CONTROLLER, log)?;
    if accepted(&d, b"unlock") {
        return broken(format!(
            "the sensor ({SENSOR}) sealed \"unlock\" as the controller ({CONTROLLER}) with the key all members share and the lock accepted it: a shared group key gives no source authentication"
        ));
    }
    held(format!(
        "the sensor's \"unlock\" claiming to be the controller: {}",
        d.describe()
    ))
}
