//! T14 on the command line: a sealing identity never seals without proof of its counter.
//! State directories are bound to one (group, member) by `provision`; an identity is handed
//! out once; a member that lost its counter re-joins in a new epoch, never from zero; files
//! holding keys or plaintext are private and bounded.

mod common;

use std::path::Path;

use common::{code, json, run, stderr, Env};
use serde_json::Value;

fn rekey_messages(v: &Value) -> Vec<(u64, String)> {
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["member"].as_u64().unwrap(),
                f["frame"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn message_for(v: &Value, member: u64) -> String {
    rekey_messages(v)
        .into_iter()
        .find(|(m, _)| *m == member)
        .unwrap_or_else(|| panic!("no rekey message for member {member}: {v}"))
        .1
}

fn seal(e: &Env, group: &str, sender: &str, state: &str, hex: &str) -> std::process::Output {
    run(&[
        "seal",
        "--group",
        group,
        "--sender",
        sender,
        "--state",
        &e.p(state),
        "--hex",
        hex,
        "--json",
    ])
}

#[test]
fn seal_and_open_refuse_a_directory_never_provisioned() {
    let e = Env::new("2");
    let g = e.group();
    // A directory that does not exist: refused, and not created.
    let o = seal(&e, &g, "1", "fresh", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains(&e.p("fresh")) && err.contains("member 1") && err.contains("provision"),
        "{err}"
    );
    assert!(!Path::new(&e.p("fresh")).exists());
    // An existing empty directory: refused, and left empty.
    std::fs::create_dir(e.p("empty")).unwrap();
    let o = seal(&e, &g, "1", "empty", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    assert_eq!(std::fs::read_dir(e.p("empty")).unwrap().count(), 0);
    // `open` too (it seals challenges with the receiver's own identity).
    e.provision("1", "ctl");
    let f = e.seal_json(&g, "1", "ctl", "01")["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = e.open_with(&g, "2", "empty", &f);
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("member 2"), "{o:?}");
    assert_eq!(std::fs::read_dir(e.p("empty")).unwrap().count(), 0);
}

#[test]
fn seal_and_open_refuse_another_members_or_groups_directory() {
    let e = Env::new("3");
    let g = e.group();
    e.provision("1", "ctl");
    // Member 2 sealing with member 1's directory would take member 1's counter as its own.
    let o = seal(&e, &g, "2", "ctl", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains(&e.p("ctl")) && err.contains("member 1") && err.contains("member 2"),
        "{err}"
    );
    let f = e.seal_json(&g, "1", "ctl", "01")["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = e.open_with(&g, "2", "ctl", &f);
    assert_eq!(code(&o), 1, "{o:?}");
    // Another group (another group id) with member 1's directory.
    let other = tempfile::tempdir().unwrap();
    let og = other.path().join("other.toml").display().to_string();
    let o = run(&["group", "new", "--members", "3", "--out", &og]);
    assert_eq!(code(&o), 0, "{o:?}");
    let o = seal(&e, &og, "1", "ctl", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("group"), "{o:?}");
    // The rightful member carries on where it was.
    assert_eq!(e.seal_json(&g, "1", "ctl", "01")["seq"], 1);
}

#[test]
fn a_missing_unreadable_or_rolled_back_counter_is_refused() {
    let e = Env::new("2");
    let g = e.group();
    e.provision("1", "ctl");
    let counter = Path::new(&e.p("ctl")).join("sender-1.counter");
    let f0 = e.seal_json(&g, "1", "ctl", "01")["frame"].clone();
    let after_first = std::fs::read(&counter).unwrap();
    for _ in 0..2 {
        e.seal_json(&g, "1", "ctl", "01");
    }
    let latest = std::fs::read(&counter).unwrap();
    // Deleted: the next frame would repeat frame 0 byte for byte.
    std::fs::remove_file(&counter).unwrap();
    let o = seal(&e, &g, "1", "ctl", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    let err = stderr(&o);
    assert!(
        err.contains("counter") && err.contains("--rejoin") && err.contains(&e.p("ctl")),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains(f0.as_str().unwrap()));
    // `open` too: the directory is the lost counter's, and answering with a challenge seals.
    let o = e.open_with(&g, "1", "ctl", f0.as_str().unwrap());
    assert_eq!(code(&o), 1, "{o:?}");
    // Unreadable.
    std::fs::write(&counter, b"garbage").unwrap();
    let o = seal(&e, &g, "1", "ctl", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    // Rolled back (a restored backup of the counter alone): below the numbers already sealed.
    std::fs::write(&counter, &after_first).unwrap();
    let o = seal(&e, &g, "1", "ctl", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("rolled back"), "{o:?}");
    // The true record: sealing resumes after the numbers used.
    std::fs::write(&counter, &latest).unwrap();
    assert_eq!(e.seal_json(&g, "1", "ctl", "01")["seq"], 3);
}

#[test]
fn an_identity_is_handed_out_once() {
    let e = Env::new("2");
    e.provision("1", "a");
    // Two fresh directories for member 1 would both seal from 0 with the same nonces.
    let o = e.provision_with(&e.group(), "1", "b");
    assert_eq!(code(&o), 1, "{o:?}");
    let err = stderr(&o);
    assert!(err.contains(&e.p("a")) && err.contains("--rejoin"), "{err}");
    assert!(!Path::new(&e.p("b")).join("member.json").exists());
    // The directory is bound to one member: provisioning another into it is refused too.
    let o = e.provision_with(&e.group(), "2", "a");
    assert_eq!(code(&o), 1, "{o:?}");
}

#[test]
fn a_member_that_lost_its_counter_rejoins_in_a_new_epoch() {
    let e = Env::new("3");
    let g = e.group();
    e.provision("1", "ctl");
    e.provision("2", "lamp");
    e.provision("3", "lock");
    // The lamp's traffic before the loss, heard by the lock.
    let mut before = vec![];
    for i in 0..3 {
        let f = e.seal_json(&g, "2", "lamp", &format!("0{i}"))["frame"]
            .as_str()
            .unwrap()
            .to_owned();
        let v = json(&e.open_with(&g, "3", "lock", &f));
        assert_eq!(v["status"], "ok", "{v}");
        before.push((v["epoch"].as_u64().unwrap(), v["seq"].as_u64().unwrap(), f));
    }
    // The lamp is factory reset; an old backup of its directory survives somewhere.
    copy_dir(&e.p("lamp"), &e.p("lamp-backup"));
    std::fs::remove_dir_all(e.p("lamp")).unwrap();
    // Provisioning member 2 again in the same epoch would start from 0: refused.
    let o = e.provision_with(&g, "2", "lamp-new");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("--rejoin"), "{o:?}");
    // Re-join: a new epoch, no rekey message for the lost member (its old state cannot
    // follow), then the replacement is provisioned in that epoch.
    let g2 = e.p("g2.toml");
    let o = run(&[
        "group", "rekey", "--group", &g, "--rejoin", "2", "--out", &g2, "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    assert_eq!(v["epoch"], 1, "{v}");
    let members: Vec<u64> = rekey_messages(&v).iter().map(|(m, _)| *m).collect();
    assert_eq!(members, [1, 3], "{v}");
    for (m, dir) in [("1", "ctl"), ("3", "lock")] {
        let msg = message_for(&v, m.parse().unwrap());
        let r = json(&e.open_with(&g, m, dir, &msg));
        assert_eq!(r["status"], "rekeyed", "{r}");
    }
    // The backup gets no message it can open (it holds member 2's old individual key).
    let msg1 = message_for(&v, 1);
    let o = e.open_with(&g, "2", "lamp-backup", &msg1);
    assert_eq!(code(&o), 2, "{o:?}");
    let o = e.provision_with(&g2, "2", "lamp-new");
    assert_eq!(code(&o), 0, "{o:?}");
    // The re-joined lamp talks to the others in the new epoch, from 0 under the new key.
    let mut after = vec![];
    for i in 0..3 {
        let f = e.seal_json(&g2, "2", "lamp-new", &format!("0{i}"))["frame"]
            .as_str()
            .unwrap()
            .to_owned();
        for (m, dir) in [("3", "lock"), ("1", "ctl")] {
            let v = json(&e.open_with(&g, m, dir, &f));
            assert_eq!(
                (v["status"].as_str(), v["epoch"].as_u64()),
                (Some("ok"), Some(1)),
                "{v}"
            );
            if m == "3" {
                after.push((
                    v["epoch"].as_u64().unwrap(),
                    v["seq"].as_u64().unwrap(),
                    f.clone(),
                ));
            }
        }
    }
    // And hears the controller's new-epoch frames as fresh.
    let f = e.seal_json(&g, "1", "ctl", "01")["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = json(&e.open_with(&g2, "2", "lamp-new", &f));
    assert_eq!(
        (v["status"].as_str(), v["freshness"].as_str()),
        (Some("ok"), Some("fresh")),
        "{v}"
    );
    // No (key epoch, sender, number) of the re-joined member repeats one of its old ones, and
    // no frame repeats.
    for (ep, seq, f) in &after {
        assert!(
            !before
                .iter()
                .any(|(e0, s0, f0)| (e0, s0) == (ep, seq) || f0 == f),
            "{before:?} {after:?}"
        );
    }
    // The old backup cannot seal in the new epoch, nor the new directory in the old one.
    let o = seal(&e, &g2, "2", "lamp-backup", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("re-joined"), "{o:?}");
    let o = seal(&e, &g, "2", "lamp-new", "01");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("epoch 1"), "{o:?}");
    // A plain rekey hands out no re-join: the lamp's old identity follows it.
    let g3 = e.p("g3.toml");
    let o = run(&["group", "rekey", "--group", &g2, "--out", &g3, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let o = e.provision_with(&g3, "2", "lamp-newer");
    assert_eq!(code(&o), 1, "{o:?}");
}

#[test]
fn provision_after_a_rekey_never_accepts_recorded_old_epoch_frames() {
    let e = Env::new("3");
    let g = e.group();
    e.provision("1", "ctl");
    e.provision("2", "lamp");
    let unlock = e.seal_json(&g, "1", "ctl", "756e6c6f636b")["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(json(&e.open_with(&g, "2", "lamp", &unlock))["status"], "ok");
    // A rekey with a grace period: epoch 0 stays accepted for an hour.
    let g2 = e.p("g2.toml");
    let o = run(&[
        "group", "rekey", "--group", &g, "--out", &g2, "--grace", "3600", "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let v = json(&o);
    for (m, dir) in [("1", "ctl"), ("2", "lamp")] {
        let r = json(&e.open_with(&g, m, dir, &message_for(&v, m.parse().unwrap())));
        assert_eq!(r["status"], "rekeyed", "{r}");
    }
    // Member 3 joins now. With the old group file and its rekey message it would hold fresh
    // windows for epoch 0 while epoch 0 is still accepted; the manager refuses that.
    let o = e.provision_with(&g, "3", "lock");
    let lock_group = if code(&o) == 0 {
        let r = json(&e.open_with(&g, "3", "lock", &message_for(&v, 3)));
        assert_eq!(r["status"], "rekeyed", "{r}");
        g.clone()
    } else {
        assert_eq!(code(&o), 1, "{o:?}");
        assert!(stderr(&o).contains("epoch 1"), "{o:?}");
        let o = e.provision_with(&g2, "3", "lock");
        assert_eq!(code(&o), 0, "{o:?}");
        g2.clone()
    };
    // Either way the recorded epoch-0 "unlock" is never accepted at the new member.
    for class in ["telemetry", "actuation"] {
        let o = run(&[
            "open",
            "--group",
            &lock_group,
            "--receiver",
            "3",
            "--state",
            &e.p("lock"),
            "--class",
            class,
            "--json",
            &unlock,
        ]);
        assert_eq!(code(&o), 2, "{class}: {o:?}");
    }
    // Nor again at the lamp, which holds epoch 0 through the grace period.
    let o = e.open_with(&g, "2", "lamp", &unlock);
    assert_eq!(json(&o)["reason"], "replay", "{o:?}");
    // New-epoch traffic reaches the new member, fresh.
    let f = e.seal_json(&g, "1", "ctl", "01")["frame"]
        .as_str()
        .unwrap()
        .to_owned();
    let v = json(&e.open_with(&lock_group, "3", "lock", &f));
    assert_eq!(
        (v["epoch"].as_u64(), v["freshness"].as_str()),
        (Some(1), Some("fresh")),
        "{v}"
    );
}

#[cfg(unix)]
#[test]
fn files_holding_keys_or_plaintext_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let e = Env::new("2");
    let g = e.group();
    e.provision("1", "s1");
    e.provision("2", "s2");
    let v = run(&[
        "seal",
        "--group",
        &g,
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        &"ab".repeat(100),
        "--mtu",
        "40",
    ]);
    assert_eq!(code(&v), 0, "{v:?}");
    let first = common::stdout(&v).lines().next().unwrap().to_owned();
    let o = e.open_with(&g, "2", "s2", &first);
    assert_eq!(json(&o)["status"], "fragment", "{o:?}");
    let g2 = e.p("g2.toml");
    let r = json(&run(&[
        "group", "rekey", "--group", &g, "--out", &g2, "--json",
    ]));
    let o = e.open_with(&g, "2", "s2", &message_for(&r, 2));
    assert_eq!(code(&o), 0, "{o:?}");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    for f in [
        "fragments-2.json",
        "identity.toml",
        "epoch.json",
        "member.json",
    ] {
        let p = Path::new(&e.p("s2")).join(f);
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    for dir in ["s1", "s2"] {
        assert_eq!(mode(Path::new(&e.p(dir))), 0o700, "{dir}");
        for entry in std::fs::read_dir(e.p(dir)).unwrap() {
            let p = entry.unwrap().path();
            assert_eq!(mode(&p) & 0o077, 0, "{}", p.display());
        }
    }
    for f in [g.clone(), g2, format!("{g}.keys/member-1.toml")] {
        assert_eq!(mode(Path::new(&f)), 0o600, "{f}");
    }
    let reg = e.dir.path().join(".meshseal");
    assert_eq!(mode(&reg), 0o700);
    for entry in std::fs::read_dir(&reg).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p) & 0o077, 0, "{}", p.display());
    }
}

#[test]
fn incomplete_messages_kept_are_bounded() {
    let e = Env::new("2");
    let g = e.group();
    e.provision("1", "s1");
    e.provision("2", "s2");
    let mut refused = None;
    for i in 0..20 {
        let o = run(&[
            "seal",
            "--group",
            &g,
            "--sender",
            "1",
            "--state",
            &e.p("s1"),
            "--hex",
            &format!("{i:02x}").repeat(60),
            "--mtu",
            "40",
        ]);
        assert_eq!(code(&o), 0, "{o:?}");
        let first = common::stdout(&o).lines().next().unwrap().to_owned();
        let o = e.open_with(&g, "2", "s2", &first);
        if code(&o) != 0 {
            refused = Some((i, o));
            break;
        }
        assert_eq!(json(&o)["status"], "fragment", "{o:?}");
    }
    let (i, o) = refused.expect("20 incomplete messages all kept");
    assert_eq!(i, 16, "{o:?}");
    assert_eq!(code(&o), 2, "{o:?}");
    assert_eq!(json(&o)["reason"], "message_too_large", "{o:?}");
    assert!(stderr(&o).contains("incomplete"), "{o:?}");
    let len = std::fs::metadata(Path::new(&e.p("s2")).join("fragments-2.json"))
        .unwrap()
        .len();
    assert!(len < 64 * 1024, "{len}");
}

fn copy_dir(from: &str, to: &str) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), Path::new(to).join(entry.file_name())).unwrap();
    }
}

#[test]
fn a_group_without_manager_state_is_adopted_by_rekey_only() {
    let e = Env::new("2");
    let g = e.group();
    e.provision("1", "ctl");
    // A group file whose manager state is gone (or one from a meshseal that kept none).
    std::fs::remove_dir_all(e.dir.path().join(".meshseal")).unwrap();
    let o = e.provision_with(&g, "2", "lamp");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("manager state"), "{o:?}");
    // Rekey adopts it: every member counts as handed out, so a new directory needs a re-join.
    let g2 = e.p("g2.toml");
    let o = run(&["group", "rekey", "--group", &g, "--out", &g2, "--json"]);
    assert_eq!(code(&o), 0, "{o:?}");
    let o = e.provision_with(&g2, "2", "lamp");
    assert_eq!(code(&o), 1, "{o:?}");
    let g3 = e.p("g3.toml");
    let o = run(&[
        "group", "rekey", "--group", &g2, "--rejoin", "2", "--out", &g3, "--json",
    ]);
    assert_eq!(code(&o), 0, "{o:?}");
    let o = e.provision_with(&g3, "2", "lamp");
    assert_eq!(code(&o), 0, "{o:?}");
}
