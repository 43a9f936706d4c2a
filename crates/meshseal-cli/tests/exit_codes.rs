//! Exit codes as the README states them: 0 accepted, 1 bad input or local setup (refused before
//! a sequence number is used), 2 a frame refused, `inspect` of an inauthentic frame included.

mod common;

use common::{code, json, run, stderr, Env};

fn seal_stdin(e: &Env, payload: &[u8], mtu: &str) -> std::process::Output {
    e.seal_stdin(&["--mtu", mtu], payload)
}

fn next_seq(e: &Env) -> u64 {
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        "00",
        "--json",
    ]);
    json(&o)["seq"].as_u64().unwrap()
}

#[test]
fn inspect_of_an_inauthentic_frame_exits_2() {
    let e = Env::new("3");
    e.provision("1", "s1");
    let o = run(&[
        "seal",
        "--group",
        &e.group(),
        "--sender",
        "1",
        "--state",
        &e.p("s1"),
        "--hex",
        "0102",
        "--json",
    ]);
    let v = json(&o);
    let (frame, seq) = (
        v["frame"].as_str().unwrap().to_owned(),
        v["seq"].as_u64().unwrap(),
    );
    let mut bad = hex::decode(&frame).unwrap();
    *bad.last_mut().unwrap() ^= 1;
    let near = seq.to_string();
    let good = run(&[
        "inspect",
        "--group",
        &e.group(),
        "--near",
        &near,
        "--json",
        &frame,
    ]);
    assert_eq!(code(&good), 0, "{good:?}");
    assert_eq!(json(&good)["authentic"], true);
    let o = run(&[
        "inspect",
        "--group",
        &e.group(),
        "--near",
        &near,
        "--json",
        &hex::encode(&bad),
    ]);
    assert_eq!(code(&o), 2, "{o:?}");
    let v = json(&o);
    assert_eq!(
        (v["authentic"].as_bool(), v["status"].as_str()),
        (Some(false), Some("refused"))
    );
    assert_eq!(v["reason"], "bad_tag");
}

#[test]
fn an_impossible_mtu_or_message_is_bad_input_and_uses_no_number() {
    let e = Env::new("3");
    e.provision("1", "s1");
    let before = next_seq(&e);
    // An MTU with no room for a fragment's payload.
    let o = seal_stdin(&e, b"lamp on", "5");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("--mtu 5"), "{}", stderr(&o));
    // More than `open` reassembles (16 KiB), though 15 fragments would carry it.
    let o = seal_stdin(&e, &vec![0u8; 17_000], "1200");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("16384"), "{}", stderr(&o));
    // More than 16 fragments at this MTU.
    let o = seal_stdin(&e, &vec![0u8; 3000], "100");
    assert_eq!(code(&o), 1, "{o:?}");
    assert!(stderr(&o).contains("16 fragments"), "{}", stderr(&o));
    // None of them used a number.
    assert_eq!(next_seq(&e), before + 1);
    // The largest message `open` reassembles is sealed.
    let o = seal_stdin(&e, &vec![0u8; 16_384], "1200");
    assert_eq!(code(&o), 0, "{o:?}");
}

#[test]
fn an_unsynchronized_refusal_says_what_happens_next() {
    let e = Env::new("3");
    e.provision("1", "s1");
    e.provision_without_windows("2", "s2");
    // The first frame carries the full number; a later one does not.
    e.seal("1", "s1", "01");
    let short = e.seal("1", "s1", "02");
    let o = run(&[
        "open",
        "--group",
        &e.group(),
        "--receiver",
        "2",
        "--state",
        &e.p("s2"),
        "--json",
        &short,
    ]);
    assert_eq!(code(&o), 2, "{o:?}");
    let v = json(&o);
    assert_eq!(v["reason"], "unsynchronized");
    assert!(
        v["hint"].as_str().unwrap().contains("full-length frame"),
        "{v}"
    );
    assert!(stderr(&o).contains("hint:"), "{}", stderr(&o));
}
