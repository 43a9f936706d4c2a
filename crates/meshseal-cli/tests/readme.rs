//! The README's shell blocks run as written: each block, in order, in one temporary directory,
//! with `meshseal` (and `cargo run ... -p meshseal-cli --`) being this build's binary. A block
//! preceded by `<!-- readme-test: skip: REASON -->` is left out. A block fails the test on any
//! non-zero exit the block does not handle itself (`|| echo ...`). In `docs/*.md`, blocks
//! preceded by `<!-- docs-test: run -->` run the same way (the others start servers, need
//! peers or show placeholders; `src/doc_commands.rs` checks their command lines).

use std::path::Path;
use std::process::Command;

/// The ```sh blocks of a Markdown text, with whether each is to be skipped: marked
/// `readme-test: skip` in the README, or not marked `docs-test: run` in a document.
fn blocks(readme: &str, opt_in: bool) -> Vec<(bool, String)> {
    let mut out = Vec::new();
    let mut lines = readme.lines().peekable();
    let mut prev = "";
    while let Some(line) = lines.next() {
        if line.trim() == "```sh" {
            let skip = if opt_in {
                !prev.trim_start().starts_with("<!-- docs-test: run")
            } else {
                prev.trim_start().starts_with("<!-- readme-test: skip")
            };
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

/// Runs every block of `text` not skipped, in order, in one temporary directory; returns how
/// many ran.
fn run_blocks(name: &str, text: &str, opt_in: bool) -> usize {
    let bin = Path::new(env!("CARGO_BIN_EXE_meshseal"));
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let dir = tempfile::tempdir().unwrap();
    let mut ran = 0;
    for (skip, body) in blocks(text, opt_in) {
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
            "{name} block failed ({:?}):\n{script}\n--- stdout\n{}\n--- stderr\n{}",
            o.status.code(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        ran += 1;
    }
    ran
}

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn every_readme_shell_block_runs_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(blocks(&readme, false).len() >= 5, "README blocks not found");
    let ran = run_blocks("README", &readme, false);
    assert!(ran >= 5, "only {ran} blocks ran");
}

#[test]
fn docs_blocks_marked_to_run_run_as_written() {
    let mut ran = 0;
    for e in std::fs::read_dir(root().join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            let text = std::fs::read_to_string(&p).unwrap();
            ran += run_blocks(&p.display().to_string(), &text, true);
        }
    }
    assert!(ran >= 1, "no docs block marked to run");
}
