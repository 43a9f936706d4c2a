//! Embeds the frozen vectors (`crates/meshseal/tests/vectors/compact-v1.json`) as Rust statics.

use std::fmt::Write;
use std::path::Path;

use serde_json::Value;

fn bytes(v: &Value) -> String {
    let s = v.as_str().unwrap_or("");
    let mut out = String::from("&[");
    for i in (0..s.len()).step_by(2) {
        write!(out, "0x{},", &s[i..i + 2]).unwrap();
    }
    out + "]"
}

fn main() {
    let json = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../crates/meshseal/tests/vectors/compact-v1.json");
    println!("cargo:rerun-if-changed={}", json.display());
    println!("cargo:rerun-if-changed=memory.x");
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let mut out = String::from("pub static GROUPS: &[Group] = &[\n");
    for g in file["groups"].as_array().unwrap() {
        writeln!(
            out,
            "Group {{ secret: {}, salt: {}, group_id: {}, epoch: {}, key: {}, iv: {}, frames: &[",
            bytes(&g["master_secret"]),
            bytes(&g["salt"]),
            g["group_id"],
            g["epoch"],
            bytes(&g["key"]),
            bytes(&g["common_iv"])
        )
        .unwrap();
        for f in g["frames"].as_array().unwrap() {
            let kind = if let Some(t) = f["time"].as_u64() {
                format!("Kind::Timed({t})")
            } else if f["fragment"].is_object() {
                format!(
                    "Kind::Fragment({}, {})",
                    f["fragment"]["index"], f["fragment"]["count"]
                )
            } else if f["bound"].is_object() {
                let b = &f["bound"];
                let k = match b["kind"].as_str().unwrap() {
                    "response" => "Response",
                    "challenge" => "Challenge",
                    "echo" => "Echo",
                    other => panic!("unknown binding {other}"),
                };
                format!("Kind::{k}({}, {})", b["sender"], b["seq"])
            } else {
                "Kind::Plain".into()
            };
            let reference = match f["reference"].as_u64() {
                Some(r) => format!("Some({r})"),
                None => "None".into(),
            };
            writeln!(
                out,
                "  Vector {{ name: {}, sender: {}, implicit: {}, seq: {}, reference: {}, kind: {}, payload: {}, frame: {} }},",
                f["name"], f["sender"], f["implicit_sender"], f["seq"], reference, kind,
                bytes(&f["payload"]), bytes(&f["frame"])
            )
            .unwrap();
        }
        out += "]},\n";
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("vectors.rs");
    std::fs::write(dest, out).unwrap();
    sealed_frames();
}

/// `FRAMES` consecutive frames of sender 1 with a 16-byte payload under the footprint key, so the
/// open-only binary links no sender.
fn sealed_frames() {
    use meshseal::counter::MemoryStore;
    use meshseal::crypto::DerivedKeys;
    use meshseal::{GroupKeys, Sender, SenderConfig};
    const FRAMES: usize = 65;
    let d = DerivedKeys {
        key: *b"meshseal-fp-key!",
        iv: *b"meshseal-iv-\x01",
    };
    let mut cfg = SenderConfig::new(1);
    cfg.full_every = u32::MAX;
    let mut tx = Sender::provision(
        GroupKeys::from_derived(&d, 7, 0),
        cfg,
        MemoryStore::default(),
    )
    .unwrap();
    let mut out = String::from("pub static SEALED: &[&[u8]] = &[\n");
    for _ in 0..FRAMES {
        let mut buf = [0u8; 64];
        let n = tx.seal(b"0123456789abcdef", &mut buf).unwrap();
        writeln!(out, "  &{:?},", &buf[..n]).unwrap();
    }
    out += "];\n";
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap()).join("sealed.rs");
    std::fs::write(dest, out).unwrap();
}
