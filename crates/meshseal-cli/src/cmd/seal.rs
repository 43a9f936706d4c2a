//! `meshseal seal`: seals a payload (from `--hex`, or raw bytes on stdin) as the member of a
//! state directory and prints the frame as hex (one line per fragment with `--mtu`). One way to
//! seal: every variant (echo of a challenge, pairwise, signed, repeated, timed) is
//! `Sender::seal_with` with its `Seal`, multi-fragment messages `Sender::seal_message`.

use std::path::PathBuf;

use meshseal::frame::Frame;
use meshseal::{Error, FrameId, Open, Repeat, Seal};
use serde_json::{json, Value};

use crate::cli_util::{
    form_name, now_secs, parse_hex, parse_window_s, read_payload, CliError, Outcome,
};
use crate::group::Group;
use crate::keys::{self, Keyring};
use crate::member::{recipient_for, save_recipient, start_sender};
use crate::state::StateDir;

/// `meshseal seal` options.
#[derive(clap::Args)]
pub struct SealArgs {
    /// The group file (from `meshseal group new`).
    #[arg(long)]
    pub group: PathBuf,
    /// This member's sender id (the one its state directory was provisioned for).
    #[arg(long)]
    pub sender: u32,
    /// The member's state directory (from `meshseal provision`): counter record, replay windows.
    #[arg(long)]
    pub state: PathBuf,
    /// Payload as hex (`-`: raw bytes from stdin); without it and --in the payload is read
    /// from stdin. Payloads on the command line show in `ps` and shell history: prefer --in
    /// or stdin for secrets.
    #[arg(long)]
    pub hex: Option<String>,
    /// Payload as raw bytes from this file.
    #[arg(long = "in", value_name = "FILE", conflicts_with = "hex")]
    pub input: Option<PathBuf>,
    /// Largest frame on the link: a larger message is sent as fragments (one hex per line).
    #[arg(long)]
    pub mtu: Option<usize>,
    /// Repeat the request as an echo of this challenge frame (hex) from the receiver.
    #[arg(long)]
    pub echo: Option<String>,
    /// Carry this coarse timestamp (the group's time unit, modulo 65536), authenticated.
    #[arg(long)]
    pub time: Option<u16>,
    /// Pairwise mode: seal for this one member under the keys only the two of you hold.
    #[arg(long, conflicts_with = "sign")]
    pub to: Option<u32>,
    /// Signed mode: append this member's Ed25519 signature inside the ciphertext.
    #[arg(long)]
    pub sign: bool,
    /// For sleepy receivers: the frame is to be transmitted this many times (1-255); the
    /// receiver acts on one copy and reports the others as duplicates. Prints the transmit
    /// schedule (stderr, or `schedule_ms` with --json).
    #[arg(long, requires = "window")]
    pub repeat: Option<u8>,
    /// The transmit window of --repeat, e.g. 30s or 2m (at most 255 s); with --time, it
    /// starts at that coarse time (seconds) and bounds how late a copy may act.
    #[arg(long, requires = "repeat", value_parser = parse_window_s)]
    pub window: Option<u8>,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `meshseal seal`.
pub fn run(a: SealArgs) -> Result<Outcome, CliError> {
    let repeat = a
        .repeat
        .zip(a.window)
        .map(|(copies, window)| Repeat { copies, window });
    let g = Group::load(&a.group)?;
    g.require_member(a.sender, "sender")?;
    let payload = read_payload(a.hex.as_deref(), a.input.as_deref())?;
    let challenge = a
        .echo
        .as_deref()
        .map(|h| parse_hex("--echo challenge", h))
        .transpose()?;
    let source_mode = a.to.is_some() || a.sign;
    if [
        challenge.is_some(),
        a.mtu.is_some(),
        a.time.is_some() && repeat.is_none(),
        source_mode,
        repeat.is_some(),
    ]
    .iter()
    .filter(|&&x| x)
    .count()
        > 1
    {
        return Err(CliError::usage(
            "--echo, --mtu, --time, --to/--sign and --repeat cannot be combined (except --repeat with --time)".into(),
        ));
    }
    let st = StateDir::open(&a.state, g.file.group_id, a.sender)?;
    let g = keys::apply_state(g, &st, now_secs())?;
    g.require_member(a.sender, "sender")?;
    st.check_group(&g, a.sender)?;
    let (mut tx, mut recent) = start_sender(&g, a.sender, &st)?;
    let seq = tx.next_seq();
    let mut frames: Vec<Vec<u8>> = Vec::new();
    // Room for the largest single frame this payload can make.
    let largest = payload.len() + meshseal::frame::MAX_HEADER_LEN + meshseal::TAG_LEN;
    let mut out = vec![0u8; largest];
    let mut extra = serde_json::Map::new();
    let single = if let Some(challenge) = challenge {
        // Verify the challenge against the requests this sender made, newest first.
        let members = g.member_ids();
        let mut rx = recipient_for(&g, a.sender, &st, &members)?;
        let mut found = None;
        let mut last_err = Error::Unsolicited;
        for &q in recent.iter().rev() {
            let mut c = challenge.clone();
            let req = FrameId {
                sender: a.sender,
                seq: q,
            };
            match rx.open_with(&mut c, &Open::default().answering(req)) {
                Ok(o) if o.binding == meshseal::Binding::Challenge => {
                    found = Some(o.id());
                    break;
                }
                Ok(_) => {
                    last_err = Error::Unsolicited;
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        save_recipient(&g, a.sender, &st, &rx)?;
        let Some(cid) = found else {
            return Ok(Outcome::Refused(last_err, a.json));
        };
        extra.insert("echo".into(), json!({"sender": cid.sender, "seq": cid.seq}));
        Some(tx.seal_with(&payload, &Seal::default().echo(cid), &mut out))
    } else if let Some(peer) = a.to {
        g.require_member(peer, "--to")?;
        let ring = Keyring::load(&g, a.sender, &st, None)?;
        let pair = ring.pair_keys(&g, a.sender, peer)?;
        extra.insert("source".into(), json!("pairwise"));
        Some(tx.seal_with(&payload, &Seal::default().pairwise(&pair), &mut out))
    } else if a.sign {
        let ring = Keyring::load(&g, a.sender, &st, None)?;
        out.resize(largest + meshseal::source::SIGNATURE_LEN, 0);
        extra.insert("source".into(), json!("signed"));
        let how = Seal::default().signed(ring.signing_key(a.sender)?);
        Some(tx.seal_with(&payload, &how, &mut out))
    } else if let Some(r) = repeat {
        if r.copies == 0 {
            return Err(CliError::usage("--repeat must be at least 1".into()));
        }
        let schedule = repeat_schedule(r);
        eprintln!(
            "transmit the frame {} times, at +{} ms",
            r.copies,
            schedule
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", +")
        );
        extra.insert(
            "repeat".into(),
            json!({"copies": r.copies, "window_s": r.window, "start": a.time}),
        );
        extra.insert("schedule_ms".into(), json!(schedule));
        let how = Seal::default().repeated(r);
        let how = match a.time {
            Some(t) => how.timed(t),
            None => how,
        };
        Some(tx.seal_with(&payload, &how, &mut out))
    } else {
        a.time
            .map(|t| tx.seal_with(&payload, &Seal::default().timed(t), &mut out))
    };
    match single {
        Some(Ok(n)) => frames.push(out[..n].to_vec()),
        Some(Err(e)) => return Ok(Outcome::Refused(e, a.json)),
        None => {
            let mtu = a.mtu.unwrap_or(largest).min(largest);
            let fragmented = tx.frame_len(payload.len()) > mtu;
            if fragmented && payload.len() > super::open::MAX_MESSAGE {
                return Err(CliError::usage(format!(
                    "a message sent as fragments is at most {} bytes (what `open` reassembles); \
                     this one is {}: send it without --mtu or split it",
                    super::open::MAX_MESSAGE,
                    payload.len()
                )));
            }
            match tx.seal_message(&payload, mtu, &mut out, |f| frames.push(f.to_vec())) {
                Ok(_) => {}
                // The MTU is the caller's setting, refused before a number is used: exit 1.
                Err(Error::BufferTooSmall) => {
                    return Err(CliError::usage(format!(
                        "--mtu {mtu} leaves no room for a fragment's payload"
                    )))
                }
                Err(Error::PayloadTooLarge) => {
                    return Err(CliError::usage(format!(
                        "{} bytes need more than 16 fragments of at most {mtu} bytes: raise --mtu",
                        payload.len()
                    )))
                }
                Err(e) => return Ok(Outcome::Refused(e, a.json)),
            }
        }
    }
    recent.extend(seq..tx.next_seq());
    st.save_length(a.sender, g.file.epoch, tx.length_state(), &recent)?;
    let hexes: Vec<String> = frames.iter().map(hex::encode).collect();
    if a.json {
        let first = crate::member::readable(&g.keys()?, g.id_mode(), &frames[0]);
        let f = Frame::new_checked(&first[..], g.id_mode())
            .map_err(|e| CliError::usage(format!("internal: {e}")))?;
        let total: usize = frames.iter().map(Vec::len).sum();
        let mut v = json!({
            "status": "ok",
            "frame": hexes[0],
            "frames": hexes,
            "sender": a.sender,
            "seq": seq,
            "seq_form": form_name(f.truncated_seq().form),
            "length": total,
            "overhead": total - payload.len(),
        });
        if let Value::Object(m) = &mut v {
            m.extend(extra);
        }
        outln!("{v}");
    } else {
        for h in hexes {
            outln!("{h}");
        }
    }
    Ok(Outcome::Done)
}

/// Transmit times (ms from the first) of a repeated frame's copies, spread evenly over the
/// window.
fn repeat_schedule(r: meshseal::Repeat) -> Vec<u64> {
    let window_ms = u64::from(r.window) * 1000;
    let gaps = u64::from(r.copies.saturating_sub(1)).max(1);
    (0..u64::from(r.copies))
        .map(|i| i * window_ms / gaps)
        .collect()
}
