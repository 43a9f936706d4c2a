//! `meshseal inspect`: shows a frame's header; with `--group`, verifies it and shows the
//! plaintext without any replay state (`open_stateless`: a diagnostic, never a delivery). A
//! frame of a group with header privacy is unmasked with the group file's keys; without them
//! (`--private`) only its clear bits and length are shown.

use std::io::Write;
use std::path::{Path, PathBuf};

use meshseal::context::open_stateless;
use meshseal::frame::{Frame, Repr};
use meshseal::privacy::unmask;
use meshseal::{Error, FrameId, SenderIdMode};
use serde_json::{json, Value};

use crate::cli_util::{binding_name, form_name, parse_hex, CliError, Outcome};
use crate::group::Group;

/// `meshseal inspect` options.
#[derive(clap::Args)]
pub struct InspectArgs {
    pub frame: String,
    /// The group file: unmasks private headers and verifies the tag (with --near); without it only lengths and clear fields are shown.
    #[arg(long)]
    pub group: Option<PathBuf>,
    /// Parse without a sender id field (implicit sender); --sender gives the id.
    #[arg(long)]
    pub implicit: bool,
    /// The sender id supplied by the link layer (groups with implicit sender ids).
    #[arg(long)]
    pub sender: Option<u32>,
    /// The sequence number the receiver expects next, to rebuild a truncated number.
    #[arg(long)]
    pub near: Option<u64>,
    /// For a response, challenge or echo: the frame it is bound to, as SENDER:SEQ.
    #[arg(long)]
    pub bound: Option<String>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// The frame comes from a group with header privacy and no group file is given: show only
    /// what is in clear (version, epoch bits, length).
    #[arg(long)]
    pub private: bool,
}

/// Runs `meshseal inspect`.
pub fn run(a: InspectArgs) -> Result<Outcome, CliError> {
    let bound = a.bound.as_deref().map(parse_frame_id).transpose()?;
    if a.private && a.group.is_none() {
        return masked(&a.frame, a.json);
    }
    inspect(
        &a.frame,
        a.group.as_deref(),
        a.implicit,
        a.sender,
        a.near,
        bound,
        a.json,
    )
}

/// What anyone sees of a private frame without the group's keys.
fn masked(frame_hex: &str, json_out: bool) -> Result<Outcome, CliError> {
    let bytes = parse_hex("frame", frame_hex)?;
    let Some(&h) = bytes.first() else {
        return Err(CliError::usage("empty frame".into()));
    };
    let v = json!({
        "status": "ok",
        "private": true,
        "version": if h & 0x80 == 0 { 1 } else { 2 },
        "epoch_bits": (h >> 5) & 3,
        "length": bytes.len(),
        "tag": hex::encode(&bytes[bytes.len().saturating_sub(meshseal::TAG_LEN)..]),
        "note": "header masked (header privacy): sender, number and kind of frame need the group file (--group)",
    });
    print_fields(&v, json_out);
    Ok(Outcome::Done)
}

fn parse_frame_id(s: &str) -> Result<FrameId, CliError> {
    let bad = || CliError::usage(format!("--bound must be SENDER:SEQ, found {s:?}"));
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    Ok(FrameId {
        sender: a.parse().map_err(|_| bad())?,
        seq: b.parse().map_err(|_| bad())?,
    })
}

fn inspect(
    frame_hex: &str,
    group: Option<&Path>,
    implicit: bool,
    link_sender: Option<u32>,
    near: Option<u64>,
    bound: Option<FrameId>,
    json_out: bool,
) -> Result<Outcome, CliError> {
    let mut bytes = parse_hex("frame", frame_hex)?;
    let g = group.map(Group::load).transpose()?;
    let mode = match &g {
        Some(g) if g.id_mode() == SenderIdMode::Implicit => SenderIdMode::Implicit,
        _ if implicit => SenderIdMode::Implicit,
        _ => SenderIdMode::Explicit,
    };
    // A private group's frame is shown, and verified, from its unmasked header.
    let private = g.as_ref().is_some_and(|g| g.file.policy.privacy);
    let original = bytes.clone();
    if let (true, Some(g)) = (private, &g) {
        if let Err(e) = unmask(&g.keys()?, &mut bytes, mode) {
            return Ok(Outcome::Refused(e, json_out));
        }
    }
    let frame = match Frame::new_checked(&bytes[..], mode) {
        Ok(f) => f,
        Err(e) => return Ok(Outcome::Refused(Error::from(e), json_out)),
    };
    let r = Repr::parse(&frame);
    let mut v = json!({
        "status": "ok",
        "version": 1,
        "header": format!("{:02x}", frame.header()),
        "epoch_bits": r.epoch_bits,
        "sender": r.sender.or(link_sender),
        "sender_in_frame": r.sender.is_some(),
        "seq_form": form_name(r.seq.form),
        "seq_bits": r.seq.form.bits(),
        "seq_value": r.seq.value,
                "fragment": r.fragment.map(|f| json!({"index": f.index, "count": f.count})),
        "binding": binding_name(r.binding),
        "time": r.time,
        "header_len": frame.header_len(),
        "payload_len": r.payload_len,
        "overhead": bytes.len() - r.payload_len,
        "tag": hex::encode(frame.tag()),
    });
    if private {
        v["private"] = json!(true);
    }
    if let Some(g) = &g {
        let expected = match (r.seq.form.is_full(), near) {
            (true, _) => Some(0),
            (false, n) => n,
        };
        match expected {
            None => v["note"] = json!("truncated sequence number: pass --near SEQ to verify"),
            Some(expected) => {
                let keys = g.keys()?;
                let mut buf = original.clone();
                let res = open_stateless(&keys, &mut buf, mode, link_sender, expected, bound);
                match res {
                    Ok(o) => {
                        v["authentic"] = json!(true);
                        v["seq"] = json!(o.seq);
                        v["plaintext"] = json!(hex::encode(o.payload));
                    }
                    Err(e) => {
                        v["authentic"] = json!(false);
                        v["reason"] = json!(e.reason());
                    }
                }
            }
        }
    }
    // A frame whose tag was checked and did not verify is refused like `open` refuses it: the
    // fields are shown, and the exit code is 2.
    let refused = v["authentic"] == json!(false);
    if refused {
        v["status"] = json!("refused");
    }
    print_fields(&v, json_out);
    Ok(if refused {
        Outcome::Inspected
    } else {
        Outcome::Done
    })
}

fn print_fields(v: &Value, json_out: bool) {
    if json_out {
        outln!("{v}");
    } else {
        let mut out = std::io::stdout().lock();
        if let Value::Object(map) = v {
            for (k, val) in map {
                if k != "status" {
                    let _ = writeln!(
                        out,
                        "{k:>16}: {}",
                        val.as_str()
                            .map(str::to_owned)
                            .unwrap_or_else(|| val.to_string())
                    );
                }
            }
        }
    }
}
