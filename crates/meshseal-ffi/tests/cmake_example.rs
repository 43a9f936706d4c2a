//! The CMake entry point (`cmake/meshseal.cmake`) builds the static library and the C examples
//! of `examples/c`, and the two-device example runs its story: readings delivered, a repeated
//! command acted on once, the lamp's replay state restored after a power cut, a replay refused.
//! Needs `cmake` (installed by `.ci/run`).

use std::path::Path;
use std::process::Command;

#[test]
fn cmake_builds_the_examples_and_two_devices_runs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let build = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cmake-examples");
    // The cargo build inside CMake gets a target directory of its own: this test's is locked.
    let cargo_dir = build.join("cargo");
    let configure = Command::new("cmake")
        .arg("-S")
        .arg(root.join("examples/c"))
        .arg("-B")
        .arg(&build)
        .arg(format!(
            "-DMESHSEAL_CARGO_TARGET_DIR={}",
            cargo_dir.display()
        ))
        .status()
        .expect("cmake is installed (apt-get install cmake)");
    assert!(configure.success(), "cmake configure failed");
    let status = Command::new("cmake")
        .arg("--build")
        .arg(&build)
        .status()
        .expect("cmake --build");
    assert!(status.success(), "cmake build failed");

    let out = Command::new(build.join("two-devices"))
        .output()
        .expect("two-devices runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "two-devices failed:\n{stdout}");
    for line in [
        "member 3 says temp=20",
        "the lamp switches on",
        "copy 3: duplicate",
        "attacker replays the command later: replay",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
    assert_eq!(stdout.matches("switches on").count(), 1, "{stdout}");
    assert!(
        build.join("vectors").exists(),
        "the vector harness was not built"
    );
}
