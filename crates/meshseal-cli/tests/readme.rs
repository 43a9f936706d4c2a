//! The README's shell blocks run as written: each block, in order, in one temporary directory,
//! with `meshseal` (and `cargo run ... -p meshseal-cli --`) being this build's binary. A block
//! preceded by `<!-- readme-test: skip: REASON -->` is left out. A block fails the test on any
//! non-zero exit the block does not handle itself (`|| echo ...`).

use std::path::Path;
use std::process::Command;

/// The README's ```sh blocks, with whether each is to be skipped.
fn blocks(readme: &str) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().peekable();
    let mut prev = "";
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let skip = prev.trim_start().starts_with("<!-- readme-test: skip");
            let mut body = String::new();
            for l in lines.by_ref() {
                if l.trim() == "```" {
                    break;
                }
                body.push_str(l);
                body.push('\n');
            }
            out.push((skip, body));
        }
        if !line.trim().is_empty() {
            prev = line;
        }
    }
    out
}

#[test]
fn every_readme_shell_block_runs_as_written() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_meshseal"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    let all = blocks(&readme);
    assert!(all.len() >= 5, "README blocks not found");
    let mut ran = 0;
    for (skip, body) in all {
        if skip {
            continue;
        }
        let script = body
            .replace("cargo run --release -p meshseal-cli -- ", "meshseal ")
            .replace("cargo run -p meshseal-cli -- ", "meshseal ");
        assert!(!script.contains("cargo "), "a block needs cargo: {script}");
        let o = Command::new("timeout")
            .args(["300", "bash", "-euo", "pipefail", "-c", &script])
            .current_dir(dir.path())
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "README block failed ({:?}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    assert!(ran >= 5, "only {ran} blocks ran");
}
