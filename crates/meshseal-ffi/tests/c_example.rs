//! Builds `examples/c/main.c` with gcc against the committed header and this crate's static
//! library, feeds it the frozen vectors and requires every check of the C program to pass.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The static library, built from the current sources (default features) into a target
/// directory of its own: `cargo test` builds only the rlib, the main target directory is
/// locked while tests run, and a `libmeshseal_ffi.a` an earlier `cargo build` left beside this
/// test may be stale or built with other features. Cargo's up-to-date check makes this cheap.
fn staticlib() -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target dir");
    let own_target = profile_dir.join("ffi-staticlib");
    let status = Command::new(env!("CARGO"))
        .args(["build", "-q", "-p", "meshseal-ffi", "--lib"])
        .env("CARGO_TARGET_DIR", &own_target)
        .current_dir(root())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the static library failed");
    let lib = own_target.join("debug/libmeshseal_ffi.a");
    assert!(lib.exists(), "{} not built", lib.display());
    lib
}

fn hex_or_dash(v: &Value) -> String {
    match v.as_str() {
        Some("") | None => "-".into(),
        Some(s) => s.into(),
    }
}

/// One line per group and per frame of the compact and the header-privacy vectors, in the
/// format `main.c` documents.
fn vector_lines() -> (String, usize) {
    let mut out = String::new();
    let mut frames = 0;
    for name in ["compact-v1.json", "privacy-v1.json"] {
        let (o, f) = vector_file_lines(name);
        out += &o;
        frames += f;
    }
    (out, frames)
}

fn vector_file_lines(name: &str) -> (String, usize) {
    let path = root().join("crates/meshseal/tests/vectors").join(name);
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut out = String::new();
    let mut frames = 0;
    for g in file["groups"].as_array().unwrap() {
        out += &format!(
            "G {} {} {} {} {} {} {}\n",
            g["master_secret"].as_str().unwrap(),
            hex_or_dash(&g["salt"]),
            g["group_id"],
            g["epoch"],
            g["key"].as_str().unwrap(),
            g["common_iv"].as_str().unwrap(),
            hex_or_dash(&g["privacy_key"])
        );
        for f in g["frames"].as_array().unwrap() {
            let (kind, a, b) =
                if let (Some(t), Some(r)) = (f["time"].as_u64(), f["repeat"].as_object()) {
                    let kind = format!("repeated-{}-{}", r["copies"], r["window"]);
                    (kind, t, 0)
                } else if let Some(t) = f["time"].as_u64() {
                    ("timed".to_string(), t, 0)
                } else if f["fragment"].is_object() {
                    let fr = &f["fragment"];
                    (
                        "fragment".into(),
                        fr["index"].as_u64().unwrap(),
                        fr["count"].as_u64().unwrap(),
                    )
                } else if f["bound"].is_object() {
                    let b = &f["bound"];
                    (
                        b["kind"].as_str().unwrap().to_string(),
                        b["sender"].as_u64().unwrap(),
                        b["seq"].as_u64().unwrap(),
                    )
                } else {
                    ("plain".into(), 0, 0)
                };
            let reference = f["reference"]
                .as_u64()
                .map_or("-".into(), |r| r.to_string());
            out += &format!(
                "F {} {} {} {} {} {} {} {} {}\n",
                f["sender"],
                u8::from(f["implicit_sender"].as_bool().unwrap()),
                f["seq"],
                reference,
                kind,
                a,
                b,
                hex_or_dash(&f["payload"]),
                f["frame"].as_str().unwrap()
            );
            frames += 1;
        }
    }
    (out, frames)
}

#[test]
fn c_program_seals_and_opens_the_vectors() {
    let out_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = out_dir.join("meshseal-c-example");
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "gcc".into()))
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-O1"])
        .arg("-I")
        .arg(root().join("crates/meshseal-ffi/include"))
        .arg(root().join("examples/c/main.c"))
        .arg(staticlib())
        .args(["-lpthread", "-ldl", "-lm", "-o"])
        .arg(&exe)
        .status()
        .expect("gcc");
    assert!(status.success(), "gcc failed");

    let (lines, frames) = vector_lines();
    assert!(frames >= 26, "vectors missing");
    let mut child = Command::new(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(lines.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "C example failed:\n{stdout}{stderr}");
    assert_eq!(
        stdout.trim(),
        format!("vectors {frames} failures 0"),
        "{stderr}"
    );
}
