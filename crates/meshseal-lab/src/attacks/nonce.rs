//! Keystream reuse (T2–T4): equal plaintexts, nonces repeated across devices and after a
//! reboot, and the shared helpers that look for a repeated counter and recover a plaintext from
//! two frames under one keystream.

use super::*;

/// The visible counter field and the ciphertext of a frame.
pub(super) fn parts(s: &dyn Scheme, frame: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let d = s.dissect(frame)?;
    Some((frame[d.counter].to_vec(), frame[d.body].to_vec()))
}

/// Keystream reuse: XOR of two ciphertexts and one known plaintext gives the other plaintext
/// when both frames were encrypted under the same nonce and key. Returns the candidate and
/// whether it is the true plaintext (at least 4 bytes).
pub(super) fn xor_recover(
    known_ct: &[u8],
    known_pt: &[u8],
    target_ct: &[u8],
    target_pt: &[u8],
) -> (Vec<u8>, bool) {
    let n = known_ct.len().min(known_pt.len()).min(target_ct.len());
    let cand: Vec<u8> = (0..n)
        .map(|i| known_ct[i] ^ target_ct[i] ^ known_pt[i])
        .collect();
    let ok = n >= 4 && target_pt.len() >= n && cand[..] == target_pt[..n];
    (cand, ok)
}

/// A frame with its plaintext, as the lab (not the attacker) knows it.
pub(super) struct Sealed {
    pub(super) frame: Vec<u8>,
    pub(super) plain: Vec<u8>,
}

/// What a keystream-reuse attempt found.
#[derive(Default)]
pub(super) struct Reuse {
    /// Evidence of a recovered plaintext.
    pub(super) recovered: Option<String>,
    /// Frame pairs with equal counter fields that were tried.
    pub(super) pairs: usize,
    /// Evidence of the first pair that gave no plaintext.
    pub(super) failed: Option<String>,
}

/// Looks for frames of `known` and `secret` with the same visible counter and tries keystream
/// reuse on each such pair, stopping at the first recovered plaintext. A scheme that hides its
/// counters ([`Scheme::hides_counter`]) gets every pair tried blind.
pub(super) fn nonce_reuse(
    s: &dyn Scheme,
    known: &[Sealed],
    secret: &[Sealed],
    log: &mut Vec<String>,
) -> Reuse {
    if s.hides_counter() {
        return blind_reuse(known, secret, log);
    }
    let mut r = Reuse::default();
    for k in known {
        let Some((kc, kb)) = parts(s, &k.frame) else {
            continue;
        };
        for t in secret {
            let Some((tc, tb)) = parts(s, &t.frame) else {
                continue;
            };
            if kc.is_empty() || kc != tc {
                continue;
            }
            r.pairs += 1;
            let (cand, ok) = xor_recover(&kb, &k.plain, &tb, &t.plain);
            log.push(format!(
                "counter field {} seen twice: ciphertext XOR with known {} gives {}",
                hex::encode(&kc),
                show(&k.plain),
                show(&cand)
            ));
            if ok {
                r.recovered = Some(format!(
                    "counter field {} used twice: XOR of the ciphertexts with known {} revealed {}",
                    hex::encode(&kc),
                    show(&k.plain),
                    show(&cand)
                ));
                return r;
            }
            r.failed.get_or_insert_with(|| {
                format!(
                    "counter field {} seen twice, but XOR with known {} gave {}, not the plaintext: the (key, nonce) pairs differ",
                    hex::encode(&kc),
                    show(&k.plain),
                    show(&cand)
                )
            });
        }
    }
    r
}

/// Tag length assumed by the blind keystream test (an 8-byte CCM tag, as meshseal's).
pub(super) const BLIND_TAG: usize = 8;

/// Keystream reuse tried on every pair when no counter can be read: the attacker takes the
/// known frame's ciphertext as its last `plain + tag` bytes and the other frame's from the same
/// offset (equal header lengths, as a reused nonce under one format would give).
pub(super) fn blind_reuse(known: &[Sealed], secret: &[Sealed], log: &mut Vec<String>) -> Reuse {
    let mut r = Reuse::default();
    for k in known {
        let Some(kh) = k.frame.len().checked_sub(k.plain.len() + BLIND_TAG) else {
            continue;
        };
        for t in secret {
            if t.frame.len() < kh + BLIND_TAG {
                continue;
            }
            r.pairs += 1;
            let kb = &k.frame[kh..k.frame.len() - BLIND_TAG];
            let tb = &t.frame[kh..t.frame.len() - BLIND_TAG];
            let (cand, ok) = xor_recover(kb, &k.plain, tb, &t.plain);
            if ok {
                r.recovered = Some(format!(
                    "counters hidden, but two frames shared a keystream: XOR with known {} revealed {}",
                    show(&k.plain),
                    show(&cand)
                ));
                return r;
            }
        }
    }
    log.push(format!(
        "no counter readable: {} pairs of frames tried blind for a shared keystream, none recovered a plaintext",
        r.pairs
    ));
    r.failed = Some(format!(
        "counters hidden; {} pairs of frames tried blind for a shared keystream: none revealed a plaintext",
        r.pairs
    ));
    r
}

pub(super) fn seal_all(
    s: &mut dyn Scheme,
    from: DeviceId,
    plains: &[&[u8]],
) -> Result<Vec<Sealed>, String> {
    plains
        .iter()
        .map(|p| {
            Ok(Sealed {
                frame: s.seal(from, p, Class::Reading)?,
                plain: p.to_vec(),
            })
        })
        .collect()
}

pub(super) fn has_counter(s: &dyn Scheme, frames: &[&Sealed]) -> bool {
    s.hides_counter()
        || frames
            .iter()
            .any(|f| s.dissect(&f.frame).is_some_and(|d| !d.counter.is_empty()))
}

// ---------------------------------------------------------------------------------------------
// T2: equal plaintexts visible.

pub(super) fn t2_equal_plaintexts(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let f1 = s.seal(CONTROLLER, b"lamp on", Class::Command)?;
    let f2 = s.seal(CONTROLLER, b"lamp off", Class::Command)?;
    let f3 = s.seal(CONTROLLER, b"lamp on", Class::Command)?;
    let (Some((_, b1)), Some((_, b2)), Some((_, b3))) =
        (parts(s, &f1), parts(s, &f2), parts(s, &f3))
    else {
        return Err("frames could not be dissected".into());
    };
    log.push(format!(
        "\"lamp on\" → {}, \"lamp off\" → {}, \"lamp on\" → {}",
        hex::encode(&b1),
        hex::encode(&b2),
        hex::encode(&b3)
    ));
    if b1 == b3 && b1 != b2 {
        return broken(format!(
            "\"lamp on\" sent twice gives the same ciphertext {}…; \"lamp off\" differs: an observer sees which command repeats",
            &hex::encode(&b1)[..8]
        ));
    }
    let same = b1.iter().zip(&b3).filter(|(a, b)| a == b).count();
    held(format!(
        "the two \"lamp on\" frames share {same} of {} ciphertext bytes (chance level)",
        b1.len().min(b3.len())
    ))
}

// ---------------------------------------------------------------------------------------------
// T3: nonce reuse across devices.

pub(super) fn t3_cross_device_nonce(s: &mut dyn Scheme, log: &mut Vec<String>) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let secret = seal_all(s, GUEST, &[b"pin=4711", b"wifi=hunter2"])?;
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let r = nonce_reuse(s, &known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("devices {SENSOR} and {GUEST}: {e}"));
    }
    let pairs = r.pairs;
    held(match r.failed {
        Some(f) => format!("devices {SENSOR} and {GUEST}: {f}"),
        None => format!(
            "no nonce field repeated across devices {SENSOR} and {GUEST} ({} frames, {pairs} equal pairs)",
            all.len()
        ),
    })
}

// ---------------------------------------------------------------------------------------------
// T4: nonce reuse after reboot.

pub(super) fn t4_reboot_nonce(
    s: &mut dyn Scheme,
    log: &mut Vec<String>,
    subs: &mut Vec<Check>,
) -> Found {
    let known = seal_all(s, SENSOR, &[b"temp=21;hum=40%", b"temp=22;hum=41%"])?;
    let main = t4_after_reboot(s, &known, log);
    if let Some(reset) = s.seal_reset(CONTROLLER) {
        subs.push(check(RESET_NONCE, reset_nonce(s, reset, &known, log)));
    }
    main
}

pub(super) fn t4_after_reboot(
    s: &mut dyn Scheme,
    known: &[Sealed],
    log: &mut Vec<String>,
) -> Found {
    s.reboot(SENSOR);
    let secret = seal_all(s, SENSOR, &[b"pin=4711", b"alarm=off"])?;
    let all: Vec<&Sealed> = known.iter().chain(&secret).collect();
    if !has_counter(s, &all) {
        return Ok((
            Verdict::NotApplicable,
            "frames carry no nonce, IV or counter to reuse (their determinism is T2)".into(),
        ));
    }
    let before = parts(s, &known[0].frame).map(|p| hex::encode(p.0));
    let after = parts(s, &secret[0].frame).map(|p| hex::encode(p.0));
    log.push(format!(
        "first counter field before reboot {}, after {}",
        before.as_deref().unwrap_or("?"),
        after.as_deref().unwrap_or("?")
    ));
    let r = nonce_reuse(s, known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!("after a reboot of device {SENSOR}: {e}"));
    }
    held(match r.failed {
        Some(f) => format!("after reboot: {f}"),
        None => format!(
            "counter field {} before the reboot, {} after: no nonce repeated",
            before.unwrap_or_default(),
            after.unwrap_or_default()
        ),
    })
}

/// The controller resets the counters; the sensor seals secrets afterwards and the attacker
/// looks for counter fields it saw before the reset.
pub(super) fn reset_nonce(
    s: &mut dyn Scheme,
    reset: Result<Vec<u8>, String>,
    known: &[Sealed],
    log: &mut Vec<String>,
) -> Found {
    let reset = reset?;
    let d = s.deliver(SENSOR, &reset, Class::Command);
    log.push(format!(
        "[{RESET_NONCE}] the controller's reset command reaches the sensor: {}",
        d.describe()
    ));
    let secret = seal_all(s, SENSOR, &[b"code=0042", b"door=open"])?;
    let r = nonce_reuse(s, known, &secret, log);
    if let Some(e) = r.recovered {
        return broken(format!(
            "after the reset command device {SENSOR} counted from 0 again under the same key: {e}"
        ));
    }
    held(format!(
        "the reset command ({}) did not make the sensor repeat a nonce",
        d.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The blind keystream test finds a reused keystream when two frames share one, and
    /// finds none when they do not.
    #[test]
    fn blind_reuse_finds_a_shared_keystream_and_only_that() {
        let stream: Vec<u8> = (0u8..40).map(|i| i.wrapping_mul(73) ^ 0x5c).collect();
        let frame = |header: &[u8], plain: &[u8], stream: &[u8]| {
            let mut f = header.to_vec();
            f.extend(plain.iter().zip(stream).map(|(p, k)| p ^ k));
            f.extend_from_slice(&[0xaa; BLIND_TAG]);
            Sealed {
                frame: f,
                plain: plain.to_vec(),
            }
        };
        let known = [frame(&[1, 2, 3], b"temp=21;hum=40%", &stream)];
        let reused = [frame(&[9, 8, 7], b"pin=4711", &stream)];
        let mut log = Vec::new();
        let r = blind_reuse(&known, &reused, &mut log);
        assert!(r.recovered.is_some_and(|e| e.contains("pin=4711")));
        let other: Vec<u8> = stream.iter().map(|b| b ^ 0x33).collect();
        let fresh = [frame(&[9, 8, 7], b"pin=4711", &other)];
        let r = blind_reuse(&known, &fresh, &mut log);
        assert!(r.recovered.is_none() && r.pairs == 1 && r.failed.is_some());
    }
}
