//! The committed C header must be what cbindgen generates from the current sources.
//! Regenerate with `MESHSEAL_BLESS=1 cargo test -p meshseal-ffi --test header`.

use std::path::Path;

#[test]
fn committed_header_is_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut generated = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen")
        .write(&mut generated);
    let path = dir.join("include/meshseal.h");
    if std::env::var_os("MESHSEAL_BLESS").is_some() {
        std::fs::write(&path, &generated).expect("write header");
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "include/meshseal.h is stale: run MESHSEAL_BLESS=1 cargo test -p meshseal-ffi --test header"
    );
}
