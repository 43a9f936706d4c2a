//! `meshseal open`: opens a frame as the member of a state directory and prints the plaintext
//! as hex; a refused frame exits 2. One way to open: `Recipient::open_with` with an `Open` that
//! names the link-layer sender, the traffic class, the member's source keys and whether a
//! source is required. Also applies rekey messages, answers stale actuation with a challenge,
//! and reassembles multi-fragment messages across invocations (stored in the state directory).

use std::path::PathBuf;

use meshseal::frame::Frame;
use meshseal::{Error, Open, SenderIdMode, TrafficClass};
use serde_json::json;

use crate::cli_util::{binding_name, now_secs, parse_hex, CliError, Outcome};
use crate::group::Group;
use crate::keys::{self, Keyring};
use crate::member::{recipient_for, save_recipient, start_sender, verify_counter};
use crate::state::{self, StateDir};

/// Longest multi-fragment message `open` reassembles (and `seal --mtu` seals).
pub const MAX_MESSAGE: usize = 16 * 1024;
/// `meshseal open` options.
#[derive(clap::Args)]
pub struct OpenArgs {
    /// The group file (from `meshseal group new`).
    #[arg(long)]
    pub group: PathBuf,
    /// This receiver's member id (its own frames are refused as reflected).
    #[arg(long)]
    pub receiver: u32,
    /// The member's state directory (from `meshseal provision`): counter record, replay windows.
    #[arg(long)]
    pub state: PathBuf,
    /// The sender id supplied by the link layer (groups with implicit sender ids).
    #[arg(long)]
    pub sender: Option<u32>,
    /// Freshness demanded: telemetry (unknown freshness flagged), actuation (fresh only;
    /// otherwise answer with a challenge), challenged (only echoes of a challenge).
    #[arg(long, default_value = "telemetry", value_parser = ["telemetry", "actuation", "challenged"])]
    pub class: String,
    /// The receiver's coarse clock (same unit as `seal --time`): timed frames older than
    /// --max-age are of unknown freshness.
    #[arg(long, requires = "max_age")]
    pub clock: Option<u16>,
    /// Largest age of a timed frame that counts as fresh (with --clock), in ticks of the
    /// group's clock like --clock itself (not a duration with a unit: the tick is the group's).
    #[arg(long, requires = "clock")]
    pub max_age: Option<u16>,
    /// How long an issued challenge accepts its echo (e.g. 60s, 5m; a bare number is seconds).
    #[arg(long, default_value = "60s", value_parser = crate::cli_util::parse_whole_seconds)]
    pub challenge_lifetime: u64,
    /// How long an incomplete multi-fragment message is kept (e.g. 120s, 2m; a bare number is
    /// seconds).
    #[arg(long, default_value = "120s", value_parser = crate::cli_util::parse_whole_seconds)]
    pub reassembly_timeout: u64,
    /// Accept only pairwise or signed frames (any member can seal a plain group frame in
    /// another's name).
    #[arg(long)]
    pub require_source: bool,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Write the opened payload's raw bytes to stdout instead of hex (for text or binary
    /// payloads piped on).
    #[arg(long, conflicts_with = "json")]
    pub raw: bool,
    /// A frame, or a rekey message for this member (applied to its state).
    pub frame: String,
}

/// Runs `meshseal open`.
pub fn run(a: OpenArgs) -> Result<Outcome, CliError> {
    let class = match a.class.as_str() {
        "actuation" => TrafficClass::Actuation,
        "challenged" => TrafficClass::Challenged,
        _ => TrafficClass::Telemetry,
    };
    let g = Group::load(&a.group)?;
    g.require_member(a.receiver, "receiver")?;
    let mut frame = parse_hex("frame", &a.frame)?;
    let implicit = g.id_mode() == SenderIdMode::Implicit;
    if implicit && a.sender.is_none() {
        return Err(CliError::usage(
            "this group uses implicit sender ids: pass --sender ID".into(),
        ));
    }
    let st = StateDir::open(&a.state, g.file.group_id, a.receiver)?;
    let now = now_secs();
    let g = keys::apply_state(g, &st, now)?;
    st.check_group(&g, a.receiver)?;
    // A directory whose counter was lost is the lost device's: it re-joins, it is not used.
    verify_counter(&g, &st, a.receiver)?;
    if meshseal::rekey::is_rekey(&frame) {
        return keys::apply_rekey(&g, a.receiver, &st, &mut frame, now, a.json);
    }
    g.require_member(a.receiver, "receiver")?;
    let members = g.member_ids();
    let mut rx = recipient_for(&g, a.receiver, &st, &members)?;
    if let Some((now, max_age)) = a.clock.zip(a.max_age) {
        rx.set_clock(now, max_age);
    }
    rx.expire_challenges(now, a.challenge_lifetime);
    let link = a.sender.unwrap_or_default();
    let header = crate::member::readable(rx.keys(), g.id_mode(), &frame);
    let claimed = Frame::new_checked(&header[..], g.id_mode())
        .ok()
        .map(|f| f.sender_id().unwrap_or(link));
    let ring = Keyring::load(&g, a.receiver, &st, claimed)?;
    let mut how = Open::default().class(class).keys(&ring);
    if implicit {
        how = how.from(link);
    }
    if a.require_source {
        how = how.require_source();
    }
    let result = rx.open_with(&mut frame, &how);
    let o = match result {
        Ok(o) => o,
        Err(Error::Stale) => {
            // Answer with a challenge sealed by this member's own sender.
            let request = rx
                .last_stale()
                .ok_or_else(|| CliError::usage("internal: stale without request".into()))?;
            let (mut tx, recent) = start_sender(&g, a.receiver, &st)?;
            let mut out = [0u8; meshseal::frame::MAX_HEADER_LEN + meshseal::TAG_LEN];
            let n = match rx.issue_challenge(&mut tx, request, now, &mut out) {
                Ok(n) => n,
                Err(e) => {
                    save_recipient(&g, a.receiver, &st, &rx)?;
                    return Ok(Outcome::Refused(e, a.json));
                }
            };
            st.save_length(a.receiver, g.file.epoch, tx.length_state(), &recent)?;
            save_recipient(&g, a.receiver, &st, &rx)?;
            let challenge = hex::encode(&out[..n]);
            if a.json {
                outln!(
                    "{}",
                    json!({
                        "status": "challenge",
                        "reason": "stale",
                        "challenge": challenge,
                        "request": {"sender": request.sender, "seq": request.seq},
                    })
                );
            } else {
                outln!("{challenge}");
            }
            eprintln!(
                "refused: stale (freshness unknown); answer with: meshseal seal --echo CHALLENGE"
            );
            return Ok(Outcome::Challenged);
        }
        Err(e) => {
            save_recipient(&g, a.receiver, &st, &rx)?;
            return Ok(Outcome::Refused(e, a.json));
        }
    };
    let mut v = json!({
        "status": "ok",
        "sender": o.sender,
        "seq": o.seq,
        "epoch": o.epoch,
        "freshness": o.freshness.name(),
        "binding": binding_name(o.binding),
        "source": o.source.name(),
        "repeat": o.repeat.map(|r| json!({"copies": r.copies, "window_s": r.window})),
        "gap": o.gap,
        "late": o.late,
                "fragment": o.fragment.map(|f| json!({"index": f.index, "count": f.count})),
        "time": o.time,
        "payload": hex::encode(o.payload),
    });
    if let Some(frag) = o.fragment {
        v = match reassemble(&st, a.receiver, &o, frag, now, a.reassembly_timeout)? {
            Ok(Some((payload, fresh))) => {
                v["payload"] = json!(hex::encode(payload));
                v["freshness"] = json!(fresh.name());
                v["message"] =
                    json!({"first_seq": o.seq - u64::from(frag.index), "fragments": frag.count});
                v
            }
            Ok(None) => {
                v["status"] = json!("fragment");
                v.as_object_mut().map(|m| m.remove("payload"));
                v
            }
            Err(Reassembly::Full) => {
                // Not consumed: the window is not saved, so the fragment can come again.
                return Ok(Outcome::Refused(Error::MessageTooLarge, a.json));
            }
            Err(Reassembly::Refused(e)) => {
                save_recipient(&g, a.receiver, &st, &rx)?;
                return Ok(Outcome::Refused(e, a.json));
            }
        };
    }
    let unknown = v["freshness"] != "fresh";
    save_recipient(&g, a.receiver, &st, &rx)?;
    if a.json {
        outln!("{v}");
    } else if let Some(p) = v["payload"].as_str() {
        if a.raw {
            let bytes = hex::decode(p).map_err(|e| CliError::usage(format!("internal: {e}")))?;
            crate::out::write_bytes(&bytes);
        } else {
            outln!("{p}");
        }
        if unknown {
            eprintln!("note: freshness unknown: no verified replay state for sender {} (provision the receiver at group creation)", v["sender"]);
        }
    } else {
        eprintln!(
            "fragment {} of message stored; waiting for the rest",
            v["fragment"]
        );
    }
    Ok(Outcome::Done)
}

/// Why a fragment was not stored.
enum Reassembly {
    /// The message is refused (the fragment is consumed).
    Refused(Error),
    /// The receiver already keeps [`state::MAX_PARTIAL`] incomplete messages.
    Full,
}

/// Adds a verified fragment to the stored partial messages; the whole message once complete.
#[allow(clippy::type_complexity)]
fn reassemble(
    st: &StateDir,
    id: u32,
    o: &meshseal::Opened<'_>,
    frag: meshseal::Fragment,
    now: u64,
    timeout: u64,
) -> Result<Result<Option<(Vec<u8>, meshseal::Freshness)>, Reassembly>, CliError> {
    use meshseal::fragment::Reassembler;
    let mut partial = st.load_fragments(id)?;
    let before = partial.len();
    partial.retain(|p| now.saturating_sub(p.started) <= timeout);
    if partial.len() < before {
        eprintln!(
            "discarded {} incomplete message(s) older than {timeout} s",
            before - partial.len()
        );
    }
    let first = o.seq - u64::from(frag.index);
    let pos = partial
        .iter()
        .position(|p| p.sender == o.sender && p.first_seq == first);
    let entry = match pos {
        Some(i) => i,
        None if partial.len() >= state::MAX_PARTIAL => {
            // Bounded: the fragment is not consumed (its number stays open in the window), so
            // it can be delivered again once a kept message completes or expires.
            eprintln!(
                "{} incomplete messages already kept for member {id} (at most {}): this \
                 fragment is refused until one completes or expires (--reassembly-timeout)",
                partial.len(),
                state::MAX_PARTIAL
            );
            return Ok(Err(Reassembly::Full));
        }
        None => {
            partial.push(state::PartialFile {
                sender: o.sender,
                first_seq: first,
                count: frag.count,
                started: now,
                fragments: vec![],
            });
            partial.len() - 1
        }
    };
    // Replay the stored fragments and the new one through the core's reassembler.
    let mut re: Box<Reassembler<1, MAX_MESSAGE>> = Box::new(Reassembler::new(u64::MAX));
    let mut result = Ok(None);
    let stored = partial[entry].fragments.clone();
    for f in &stored {
        let payload = parse_hex("stored fragment", &f.payload)?;
        let fresh = if f.fresh {
            meshseal::Freshness::Fresh
        } else {
            meshseal::Freshness::Unknown
        };
        let again = meshseal::Opened {
            sender: o.sender,
            seq: first + u64::from(f.index),
            epoch: o.epoch,
            freshness: fresh,
            binding: o.binding,
            fragment: Some(meshseal::Fragment {
                index: f.index,
                count: frag.count,
            }),
            time: None,
            repeat: o.repeat,
            source: o.source,
            gap: 0,
            late: false,
            payload: &payload,
        };
        if let Err(e) = re.push(&again, 0) {
            result = Err(e);
        }
    }
    if result.is_ok() {
        result = match re.push(o, 0) {
            Ok(Some(m)) => Ok(Some((m.payload.to_vec(), m.freshness))),
            Ok(None) => Ok(None),
            Err(e) => Err(e),
        };
    }
    match &result {
        Ok(None) => partial[entry].fragments.push(state::FragmentFile {
            index: frag.index,
            fresh: o.freshness == meshseal::Freshness::Fresh,
            payload: hex::encode(o.payload),
        }),
        _ => {
            partial.remove(entry);
        }
    }
    st.save_fragments(id, &partial)?;
    Ok(result.map_err(Reassembly::Refused))
}
