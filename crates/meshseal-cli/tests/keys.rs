//! Key epochs and source authentication on the command line: rekey with removal, rekey
//! messages applied by `open`, grace period, pairwise and signed frames.

mod common;

use common::{code, json, run, stdout, Env};

fn provision(e: &Env, group: &str, member: &str) {
    let o = run(&[
        "provision",
        "--group",
        group,
        "--member",
        member,
        "--state",
        &e.p(&format!("s{member}")),
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
}

fn seal_with(e: &Env, group: &str, sender: &str, extra: &[&str]) -> String {
    let state = e.p(&format!("s{sender}"));
    let mut args = vec![
        "seal", "--group", group, "--sender", sender, "--state", &state, "--hex", "01",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    assert_eq!(code(&o), 0, "{o:?}");
    stdout(&o)
}

fn open_with(
    e: &Env,
    group: &str,
    receiver: &str,
    frame: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let state = e.p(&format!("s{receiver}"));
    let mut args = vec![
        "open",
        "--group",
        group,
        "--receiver",
        receiver,
        "--state",
        &state,
        "--json",
    ];
    args.extend_from_slice(extra);
    args.push(frame);
    let o = run(&args);
    (code(&o), json(&o))
}

#[test]
fn rekey_removes_a_member_and_keeps_the_others_talking() {
    let e = Env::new("3");
    let g = e.group();
    for m in ["1", "2", "3"] {
        provision(&e, &g, m);
    }
    // Member 3's device gets a group file without the others' individual secrets.
    let g3 = e.p("g3.toml");
    let o = run(&[
        "group", "export", "--group", &g, "--member", "3", "--out", &g3,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    assert!(!std::fs::read_to_string(&g3).unwrap().contains(&{
        let full = std::fs::read_to_string(&g).unwrap();
        let line = full
            .lines()
            .find(|l| l.starts_with("key = "))
            .unwrap()
            .to_owned();
        line
    }));

    let before = seal_with(&e, &g, "1", &[]);
    let held_back = seal_with(&e, &g, "1", &[]);
    assert_eq!(open_with(&e, &g, "2", &before, &[]).0, 0);

    let g2 = e.p("group2.toml");
    let o = run(&[
        "group", "rekey", "--group", &g, "--remove", "3", "--out", &g2, "--grace", "3600", "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["epoch"], 1);
    let frames = v["frames"].as_array().unwrap();
    assert_eq!(frames.len(), 2);
    let msg = |m: u64| {
        frames.iter().find(|f| f["member"] == m).unwrap()["frame"]
            .as_str()
            .unwrap()
            .to_owned()
    };

    // 3 cannot open either rekey message, with its own state and file.
    for m in [1, 2] {
        let (c, v) = open_with(&e, &g3, "3", &msg(m), &[]);
        assert_eq!((c, v["status"].as_str()), (2, Some("refused")), "{v}");
    }
    // 1 and 2 apply theirs (with the old group file: the state carries the new epoch).
    for m in [1u64, 2] {
        let (c, v) = open_with(&e, &g, &m.to_string(), &msg(m), &[]);
        assert_eq!(c, 0, "{v}");
        assert_eq!(
            (v["status"].as_str(), v["epoch"].as_u64()),
            (Some("rekeyed"), Some(1))
        );
        assert_eq!(v["removed"], serde_json::json!([3]));
    }
    // A replayed rekey message is refused.
    let (c, v) = open_with(&e, &g, "2", &msg(2), &[]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("replay")));

    // The old epoch is still accepted during the grace period (until its sender's first
    // new-epoch frame: then its old-epoch frames are too old).
    let (c, v) = open_with(&e, &g, "2", &held_back, &[]);
    assert_eq!((c, v["epoch"].as_u64()), (0, Some(0)), "{v}");
    // New-epoch traffic between the remaining members.
    let after = seal_with(&e, &g, "1", &[]);
    let (c, v) = open_with(&e, &g, "2", &after, &[]);
    assert_eq!((c, v["epoch"].as_u64()), (0, Some(1)), "{v}");
    // Receivers judge the new epoch by new windows, so the sender's first frames in it carry
    // the full number (16 bytes for one byte of payload), as a device's `Sender::rekey` does.
    for _ in 0..3 {
        let f = seal_with(&e, &g, "1", &[]);
        assert_eq!(f.trim().len(), 2 * 16, "{f}");
        assert_eq!(open_with(&e, &g, "2", &f, &[]).0, 0);
    }
    // 3 can neither read the new epoch nor be heard any more.
    let (c, v) = open_with(&e, &g3, "3", &after, &[]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("unknown_epoch")));
    let from3 = seal_with(&e, &g3, "3", &[]);
    let (c, v) = open_with(&e, &g, "2", &from3, &[]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("unknown_sender")));
    // The new group file alone (a member that got it instead of a message) agrees.
    let (c, v) = open_with(&e, &g2, "2", &seal_with(&e, &g2, "1", &[]), &[]);
    assert_eq!((c, v["epoch"].as_u64()), (0, Some(1)), "{v}");
}

#[test]
fn grace_period_ends() {
    let e = Env::new("2");
    let g = e.group();
    provision(&e, &g, "1");
    provision(&e, &g, "2");
    let old = seal_with(&e, &g, "1", &[]);
    let o = run(&[
        "group",
        "rekey",
        "--group",
        &g,
        "--out",
        &e.p("g2.toml"),
        "--grace",
        "0",
        "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    let m2 = v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["member"] == 2)
        .unwrap()["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(open_with(&e, &g, "2", &m2, &[]).0, 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let (c, v) = open_with(&e, &g, "2", &old, &[]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("unknown_epoch")), "{v}");
}

#[test]
fn pairwise_and_signed_frames() {
    let e = Env::new("3");
    let g = e.group();
    for m in ["1", "2", "3"] {
        provision(&e, &g, m);
    }
    let pairwise = seal_with(&e, &g, "1", &["--to", "2"]);
    let (c, v) = open_with(&e, &g, "2", &pairwise, &["--require-source"]);
    assert_eq!(
        (c, v["source"].as_str(), v["payload"].as_str()),
        (0, Some("pairwise"), Some("01")),
        "{v}"
    );
    // Member 3 holds the group key but not the pair key of 1 and 2.
    let (c, v) = open_with(&e, &g, "3", &pairwise, &[]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("bad_tag")), "{v}");

    let signed = seal_with(&e, &g, "1", &["--sign"]);
    for r in ["2", "3"] {
        let (c, v) = open_with(&e, &g, r, &signed, &["--require-source"]);
        assert_eq!((c, v["source"].as_str()), (0, Some("signed")), "{v}");
    }
    // A plain group frame where the source must be authenticated.
    let plain = seal_with(&e, &g, "1", &[]);
    let (c, v) = open_with(&e, &g, "2", &plain, &["--require-source"]);
    assert_eq!(
        (c, v["reason"].as_str()),
        (2, Some("unauthenticated")),
        "{v}"
    );
    // Member 3 signing in 1's name: its own identity under sender id 1. (The command line seals
    // only as the member a state directory is bound to; the insider copies member 1's directory
    // and puts its own identity in it.)
    std::fs::create_dir_all(e.p("forger")).unwrap();
    for f in std::fs::read_dir(e.p("s1")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), e.dir.path().join("forger").join(f.file_name())).unwrap();
    }
    std::fs::copy(e.p("s3/identity.toml"), e.p("forger/identity.toml")).unwrap();
    // It seals past the numbers 1 already used (0..=2), so the frame is judged on its signature.
    let st = e.p("forger");
    let o = run(&[
        "seal", "--group", &g, "--sender", "1", "--state", &st, "--hex", "02", "--sign",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let (c, v) = open_with(&e, &g, "2", &stdout(&o), &["--require-source"]);
    assert_eq!((c, v["reason"].as_str()), (2, Some("bad_signature")), "{v}");
}

#[test]
fn repeated_frame_for_a_sleepy_receiver() {
    let e = Env::new("2");
    let g = e.group();
    provision(&e, &g, "1");
    provision(&e, &g, "2");
    let st = e.p("s1");
    let o = run(&[
        "seal", "--group", &g, "--sender", "1", "--state", &st, "--hex", "01", "--repeat", "3",
        "--window", "30s", "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["schedule_ms"], serde_json::json!([0, 15000, 30000]));
    // First frame after boot: full 5-byte number, extension byte and the 2 repeat bytes.
    assert_eq!(v["overhead"], 18, "{v}");
    let frame = v["frame"].as_str().unwrap().to_owned();
    let (c, v) = open_with(&e, &g, "2", &frame, &[]);
    assert_eq!((c, v["repeat"]["copies"].as_u64()), (0, Some(3)), "{v}");
    for _ in 0..2 {
        let (c, v) = open_with(&e, &g, "2", &frame, &[]);
        assert_eq!((c, v["status"].as_str()), (2, Some("duplicate")), "{v}");
    }
    let (c, v) = open_with(&e, &g, "2", &frame, &[]);
    assert_eq!(
        (c, v["status"].as_str(), v["reason"].as_str()),
        (2, Some("refused"), Some("replay"))
    );
    // A window beyond one byte of seconds is a usage error.
    let o = run(&[
        "seal", "--group", &g, "--sender", "1", "--state", &st, "--hex", "01", "--repeat", "3",
        "--window", "5m",
    ]);
    assert_eq!(code(&o), 1);
}

/// A rekey message's header: (member, epoch, counter) and where the ciphertext starts.
fn rekey_header(f: &[u8]) -> (u32, u16, u64, usize) {
    assert_eq!(f[0], 0x81);
    let (mut member, mut i, mut shift) = (0u32, 1, 0);
    loop {
        member |= u32::from(f[i] & 0x7f) << shift;
        shift += 7;
        i += 1;
        if f[i - 1] & 0x80 == 0 {
            break;
        }
    }
    let epoch = u16::from_be_bytes([f[i], f[i + 1]]);
    let mut c = [0u8; 8];
    c[3..].copy_from_slice(&f[i + 2..i + 7]);
    (member, epoch, u64::from_be_bytes(c), i + 7)
}

/// The plaintext of a rekey message to the epoch of group file `file`.
fn rekey_plaintext(file: &str, grace: u32, removed: &[u32]) -> Vec<u8> {
    let v: toml::Value = toml::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    let secret = hex::decode(v["master_secret"].as_str().unwrap()).unwrap();
    let salt = hex::decode(v["salt"].as_str().unwrap()).unwrap();
    let mut p = grace.to_be_bytes().to_vec();
    p.push(secret.len() as u8);
    p.extend(&secret);
    p.push(salt.len() as u8);
    p.extend(&salt);
    p.push(removed.len() as u8);
    for r in removed {
        p.extend(r.to_be_bytes());
    }
    p
}

#[test]
fn rekey_twice_from_one_file_never_repeats_a_nonce() {
    let e = Env::new("3");
    let g = e.group();
    for m in ["1", "2", "3"] {
        provision(&e, &g, m);
    }
    let g3 = e.p("g3.toml");
    let o = run(&[
        "group", "export", "--group", &g, "--member", "3", "--out", &g3,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    // The manager runs the same rekey twice from the same input (a lost output, a retry).
    let mut runs = vec![];
    for out in ["a.toml", "b.toml"] {
        let o = run(&[
            "group",
            "rekey",
            "--group",
            &g,
            "--remove",
            "3",
            "--out",
            &e.p(out),
            "--grace",
            "60",
            "--json",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        let v = json(&o);
        let frames: Vec<(u64, Vec<u8>)> = v["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["member"].as_u64().unwrap(),
                    hex::decode(f["frame"].as_str().unwrap()).unwrap(),
                )
            })
            .collect();
        runs.push((e.p(out), frames));
    }
    let mut nonces = std::collections::BTreeSet::new();
    for (_, frames) in &runs {
        for (m, f) in frames {
            let (member, epoch, counter, _) = rekey_header(f);
            assert_eq!(u64::from(member), *m);
            // The nonce under member `m`'s key is a function of (epoch, member, counter).
            assert!(
                nonces.insert((member, epoch, counter)),
                "nonce of member {member} repeated: epoch {epoch}, counter {counter}"
            );
        }
    }
    // The keystreams differ: the XOR of two ciphertexts for one member is not the XOR of the
    // plaintexts (with one nonce it would be, and a known secret would give away the other).
    for m in [1u64, 2] {
        let pick = |i: usize| {
            let (file, frames) = &runs[i];
            let f = &frames.iter().find(|(x, _)| *x == m).unwrap().1;
            let start = rekey_header(f).3;
            (
                f[start..f.len() - 8].to_vec(),
                rekey_plaintext(file, 60, &[3]),
            )
        };
        let ((ca, pa), (cb, pb)) = (pick(0), pick(1));
        assert_eq!((ca.len(), pa.len()), (cb.len(), pb.len()));
        let xc: Vec<u8> = ca.iter().zip(&cb).map(|(a, b)| a ^ b).collect();
        let xp: Vec<u8> = pa.iter().zip(&pb).map(|(a, b)| a ^ b).collect();
        assert_ne!(xc, xp, "member {m}: both messages under one keystream");
    }
    // The removed member opens none of the four messages.
    for (_, frames) in &runs {
        for (_, f) in frames {
            let (c, v) = open_with(&e, &g3, "3", &hex::encode(f), &[]);
            assert_eq!((c, v["status"].as_str()), (2, Some("refused")), "{v}");
        }
    }
    // The members still follow the newest rekey.
    let (_, frames) = &runs[1];
    let m2 = &frames.iter().find(|(x, _)| *x == 2).unwrap().1;
    let (c, v) = open_with(&e, &g, "2", &hex::encode(m2), &[]);
    assert_eq!((c, v["status"].as_str()), (0, Some("rekeyed")), "{v}");
}

#[test]
fn rekey_past_epoch_65535_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.toml").display().to_string();
    let o = run(&[
        "group",
        "new",
        "--members",
        "2",
        "--epoch",
        "65535",
        "--out",
        &g,
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let out = dir.path().join("g2.toml");
    let o = run(&[
        "group",
        "rekey",
        "--group",
        &g,
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("65535"),
        "{o:?}"
    );
    assert!(stdout(&o).is_empty());
    assert!(!out.exists());
}
