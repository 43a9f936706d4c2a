//! `meshseal`: provision groups, seal and open compact frames, inspect them.
//!
//! Exit codes (a contract for scripts): 0 success; 1 usage, configuration, I/O or malformed
//! input (hex, group file, state); 2 a frame refused by the protocol, with its reason on stderr
//! and, with `--json`, as `{"status":"refused","reason":"<name>"}` on stdout.

mod attack_lab;
mod compare;
mod gateway;
mod group;
mod keys;
mod oscore;
mod plan;
mod registry;
mod simulate;
mod state;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use meshseal::context::open_stateless;
use meshseal::frame::{Frame, Repr, SeqForm};
use meshseal::replay::{ReplayWindow, WindowKey};
use meshseal::{Error, FrameId, Recipient, RecipientConfig, Sender, SenderIdMode, TrafficClass};
use serde_json::{json, Value};

use group::Group;
use keys::Keyring;
use state::StateDir;

#[derive(Parser)]
#[command(
    name = "meshseal",
    version,
    about = "Compact authenticated frames for group traffic of sleepy mesh devices"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Group files.
    Group {
        #[command(subcommand)]
        cmd: GroupCmd,
    },
    /// Create a member's state directory, bound to it: its counter record and verified (fresh)
    /// replay state for every other member. Each member identity is handed out once; a member
    /// that lost its counter re-joins (`group rekey --rejoin`) and is provisioned in the new epoch.
    Provision {
        #[arg(long)]
        group: PathBuf,
        #[arg(long)]
        member: u32,
        #[arg(long)]
        state: PathBuf,
        /// The member's identity file (private keys); default: the one `group new` wrote
        /// beside the group file, if any.
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Seal a payload (from --hex, or raw bytes on stdin) and print the frame as hex.
    Seal {
        #[arg(long)]
        group: PathBuf,
        #[arg(long)]
        sender: u32,
        #[arg(long)]
        state: PathBuf,
        /// Payload as hex; without it the payload is read from stdin.
        #[arg(long)]
        hex: Option<String>,
        /// Largest frame on the link: a larger message is sent as fragments (one hex per line).
        #[arg(long)]
        mtu: Option<usize>,
        /// Repeat the request as an echo of this challenge frame (hex) from the receiver.
        #[arg(long)]
        echo: Option<String>,
        /// Carry this coarse timestamp (the group's time unit, modulo 65536), authenticated.
        #[arg(long)]
        time: Option<u16>,
        /// Pairwise mode: seal for this one member under the keys only the two of you hold.
        #[arg(long, conflicts_with = "sign")]
        to: Option<u32>,
        /// Signed mode: append this member's Ed25519 signature inside the ciphertext.
        #[arg(long)]
        sign: bool,
        /// For sleepy receivers: the frame is to be transmitted this many times (1-255); the
        /// receiver acts on one copy and reports the others as duplicates. Prints the transmit
        /// schedule (stderr, or `schedule_ms` with --json).
        #[arg(long, requires = "window")]
        repeat: Option<u8>,
        /// The transmit window of --repeat, e.g. 30s or 2m (at most 255 s); with --time, it
        /// starts at that coarse time (seconds) and bounds how late a copy may act.
        #[arg(long, requires = "repeat", value_parser = parse_window)]
        window: Option<u8>,
        #[arg(long)]
        json: bool,
    },
    /// Open a frame and print the plaintext as hex; a refused frame exits 2.
    Open {
        #[arg(long)]
        group: PathBuf,
        #[arg(long)]
        receiver: u32,
        #[arg(long)]
        state: PathBuf,
        /// The sender id supplied by the link layer (groups with implicit sender ids).
        #[arg(long)]
        sender: Option<u32>,
        /// Freshness demanded: telemetry (unknown freshness flagged), actuation (fresh only;
        /// otherwise answer with a challenge), challenged (only echoes of a challenge).
        #[arg(long, default_value = "telemetry", value_parser = ["telemetry", "actuation", "challenged"])]
        class: String,
        /// The receiver's coarse clock (same unit as `seal --time`): timed frames older than
        /// --max-age are of unknown freshness.
        #[arg(long, requires = "max_age")]
        clock: Option<u16>,
        /// Largest age of a timed frame that counts as fresh (with --clock).
        #[arg(long, requires = "clock")]
        max_age: Option<u16>,
        /// Seconds an issued challenge accepts its echo.
        #[arg(long, default_value_t = 60)]
        challenge_lifetime: u64,
        /// Seconds an incomplete multi-fragment message is kept.
        #[arg(long, default_value_t = 120)]
        reassembly_timeout: u64,
        /// Accept only pairwise or signed frames (any member can seal a plain group frame in
        /// another's name).
        #[arg(long)]
        require_source: bool,
        #[arg(long)]
        json: bool,
        /// A frame, or a rekey message for this member (applied to its state).
        frame: String,
    },
    /// Show a frame's header; with --group, verify it and show the plaintext (no replay state).
    Inspect {
        frame: String,
        #[arg(long)]
        group: Option<PathBuf>,
        /// Parse without a sender id field (implicit sender); --sender gives the id.
        #[arg(long)]
        implicit: bool,
        #[arg(long)]
        sender: Option<u32>,
        /// The sequence number the receiver expects next, to rebuild a truncated number.
        #[arg(long)]
        near: Option<u64>,
        /// For a response, challenge or echo: the frame it is bound to, as SENDER:SEQ.
        #[arg(long)]
        bound: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// A short demonstration: provision a group, seal, open, and refuse a replay and a forgery.
    Demo {
        /// Directory for the demo's files (default: a new temporary directory).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// OSCORE (RFC 8613) CoAP server and client.
    Oscore {
        #[command(subcommand)]
        cmd: oscore::OscoreCmd,
    },
    /// Run every threat (T1–T13) as an attack against naive direct-AES schemes and meshseal.
    AttackLab(attack_lab::AttackLabArgs),
    /// Cost per message and months of battery: DTLS 1.2/1.3, OSCORE and meshseal compared.
    Compare(compare::CompareArgs),
    /// Simulate a multi-hop mesh of sleepy nodes with an active attacker.
    Simulate(simulate::SimulateArgs),
    /// Verify frames arriving over UDP with durable or shared replay state (see docs/gateway.md).
    Gateway(gateway::GatewayArgs),
    /// Send sealed frames from simulated senders to a gateway on loopback.
    Loadgen(gateway::LoadgenArgs),
    /// Recommend repeats and window for commands to sleepy receivers (see docs/sleepy-receivers.md).
    Plan(plan::PlanArgs),
}

#[derive(Subcommand)]
enum GroupCmd {
    /// Create a group file with fresh secrets and members 1..=N.
    New {
        #[arg(long)]
        members: u32,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = "meshseal-group")]
        name: String,
        /// Group id (default: random).
        #[arg(long)]
        group_id: Option<u32>,
        #[arg(long, default_value_t = 0)]
        epoch: u16,
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
    /// Validate a group file and print a summary (never the secret).
    Show {
        #[arg(long)]
        group: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Move the group to its next key epoch: a new master secret, without the removed members;
    /// prints one rekey message (hex) per remaining member, which `open` applies.
    Rekey {
        #[arg(long)]
        group: PathBuf,
        /// A member to remove (repeatable).
        #[arg(long)]
        remove: Vec<u32>,
        /// A member that lost its counter (factory reset, replaced device, restored backup) and
        /// re-joins in the new epoch: it gets a new individual key and no rekey message; provision
        /// its new state directory with the new group file (repeatable).
        #[arg(long)]
        rejoin: Vec<u32>,
        #[arg(long)]
        out: PathBuf,
        /// Seconds the previous epoch stays accepted after a member switched.
        #[arg(long, default_value_t = 3600)]
        grace: u32,
        #[arg(long)]
        force: bool,
        #[arg(long)]
        json: bool,
    },
    /// Write the group file for one member's device: without the other members' individual
    /// secrets.
    Export {
        #[arg(long)]
        group: PathBuf,
        #[arg(long)]
        member: u32,
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        force: bool,
    },
}

/// A failure that is not a protocol refusal: exit code 1.
#[derive(Debug)]
pub struct CliError(pub String);

impl CliError {
    pub fn usage(msg: String) -> Self {
        CliError(msg)
    }
    pub fn io(ctx: String, e: std::io::Error) -> Self {
        CliError(format!("{ctx}: {e}"))
    }
}

enum Outcome {
    Done,
    Refused(Error, bool),
    /// Refused as stale and answered with a challenge (already printed): exit 2.
    Challenged,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli.cmd) {
        Ok(Outcome::Done) => ExitCode::SUCCESS,
        Ok(Outcome::Challenged) => ExitCode::from(2),
        Ok(Outcome::Refused(e, json)) => {
            // An expected copy of a repeated frame is refused like a replay, but is no attack.
            let status = if e == Error::Duplicate {
                "duplicate"
            } else {
                "refused"
            };
            if json {
                println!("{}", json!({"status": status, "reason": e.reason()}));
            }
            eprintln!("refused: {} ({e})", e.reason());
            ExitCode::from(2)
        }
        Err(CliError(msg)) => {
            eprintln!("error: {msg}");
            ExitCode::from(1)
        }
    }
}

fn run(cmd: Cmd) -> Result<Outcome, CliError> {
    match cmd {
        Cmd::Group {
            cmd:
                GroupCmd::New {
                    members,
                    out,
                    name,
                    group_id,
                    epoch,
                    force,
                },
        } => group_new(members, &out, &name, group_id, epoch, force),
        Cmd::Group {
            cmd: GroupCmd::Show { group, json },
        } => group_show(&group, json),
        Cmd::Group {
            cmd:
                GroupCmd::Rekey {
                    group,
                    remove,
                    rejoin,
                    out,
                    grace,
                    force,
                    json,
                },
        } => keys::group_rekey(keys::RekeyArgs {
            path: &group,
            remove: &remove,
            rejoin: &rejoin,
            out: &out,
            grace,
            force,
            json_out: json,
        }),
        Cmd::Group {
            cmd:
                GroupCmd::Export {
                    group,
                    member,
                    out,
                    force,
                },
        } => keys::group_export(&group, member, &out, force),
        Cmd::Provision {
            group,
            member,
            state,
            identity,
        } => provision(&group, member, &state, identity.as_deref()),
        Cmd::Seal {
            group,
            sender,
            state,
            hex,
            mtu,
            echo,
            time,
            to,
            sign,
            repeat,
            window,
            json,
        } => seal(SealArgs {
            time,
            to,
            sign,
            repeat: repeat
                .zip(window)
                .map(|(copies, window)| meshseal::Repeat { copies, window }),
            group: &group,
            sender,
            dir: &state,
            hex: hex.as_deref(),
            mtu,
            echo: echo.as_deref(),
            json,
        }),
        Cmd::Open {
            group,
            receiver,
            state,
            sender,
            class,
            clock,
            max_age,
            challenge_lifetime,
            reassembly_timeout,
            require_source,
            json,
            frame,
        } => {
            let class = match class.as_str() {
                "actuation" => TrafficClass::Actuation,
                "challenged" => TrafficClass::Challenged,
                _ => TrafficClass::Telemetry,
            };
            open(OpenArgs {
                group: &group,
                receiver,
                dir: &state,
                link_sender: sender,
                frame: &frame,
                class,
                clock: clock.zip(max_age),
                challenge_lifetime,
                reassembly_timeout,
                require_source,
                json,
            })
        }
        Cmd::Inspect {
            frame,
            group,
            implicit,
            sender,
            near,
            bound,
            json,
        } => {
            let bound = bound.as_deref().map(parse_frame_id).transpose()?;
            inspect(
                &frame,
                group.as_deref(),
                implicit,
                sender,
                near,
                bound,
                json,
            )
        }
        Cmd::Demo { dir } => demo(dir),
        Cmd::Oscore { cmd } => oscore::run(cmd),
        Cmd::AttackLab(args) => attack_lab::attack_lab(args),
        Cmd::Compare(args) => compare::run(args).map(|()| Outcome::Done),
        Cmd::Simulate(args) => simulate::run(args).map(|()| Outcome::Done),
        Cmd::Gateway(a) => gateway::gateway(a),
        Cmd::Loadgen(a) => gateway::loadgen(a),
        Cmd::Plan(a) => plan::run(a).map(|()| Outcome::Done),
    }
}

fn parse_frame_id(s: &str) -> Result<FrameId, CliError> {
    let bad = || CliError::usage(format!("--bound must be SENDER:SEQ, found {s:?}"));
    let (a, b) = s.split_once(':').ok_or_else(bad)?;
    Ok(FrameId {
        sender: a.parse().map_err(|_| bad())?,
        seq: b.parse().map_err(|_| bad())?,
    })
}

fn parse_hex(what: &str, s: &str) -> Result<Vec<u8>, CliError> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    hex::decode(&s).map_err(|e| CliError::usage(format!("{what} is not valid hex: {e}")))
}

fn group_new(
    members: u32,
    out: &Path,
    name: &str,
    gid: Option<u32>,
    epoch: u16,
    force: bool,
) -> Result<Outcome, CliError> {
    if members == 0 {
        return Err(CliError::usage("--members must be at least 1".into()));
    }
    if out.exists() && !force {
        return Err(CliError::usage(format!(
            "{} exists (use --force to overwrite)",
            out.display()
        )));
    }
    let mut file = group::new_group(name, members, gid, epoch)?;
    // The manager's record of the identities it hands out, before any of them exists.
    registry::Registry::create(out, file.group_id, epoch)?;
    keys::generate_identities(&mut file, out)?;
    write_group_file(&file, out)?;
    eprintln!(
        "wrote {} (group id {}, {} members) and member identities in {}",
        out.display(),
        file.group_id,
        members,
        keys::identity_path(out, 1)
            .parent()
            .map_or_else(String::new, |p| p.display().to_string())
    );
    Ok(Outcome::Done)
}

/// Writes a group file readable by its owner only.
pub(crate) fn write_group_file(file: &group::GroupFile, out: &Path) -> Result<(), CliError> {
    let body = toml::to_string_pretty(file)
        .map_err(|e| CliError::usage(format!("cannot encode group: {e}")))?;
    let text = format!(
        "# meshseal group file. It holds the group's master secret: keep it as secret as a key.\n\
         # Sender ids must be unique in the group; meshseal refuses files that repeat one.\n{body}"
    );
    keys::write_secret_file(out, &text)
}

fn group_show(path: &Path, json_out: bool) -> Result<Outcome, CliError> {
    let g = Group::load(path)?;
    let v = json!({
        "status": "ok",
        "name": g.file.name,
        "group_id": g.file.group_id,
        "epoch": g.file.epoch,
        "members": g.file.members.iter().map(|m| json!({"id": m.id, "name": m.name})).collect::<Vec<_>>(),
        "policy": serde_json::to_value(&g.file.policy).unwrap_or(Value::Null),
    });
    if json_out {
        println!("{v}");
    } else {
        println!(
            "group {:?}: id {}, epoch {}, {} members",
            g.file.name,
            g.file.group_id,
            g.file.epoch,
            g.file.members.len()
        );
        for m in &g.file.members {
            println!("  {:>10}  {}", m.id, m.name);
        }
    }
    Ok(Outcome::Done)
}

fn provision(
    path: &Path,
    member: u32,
    dir: &Path,
    identity: Option<&Path>,
) -> Result<Outcome, CliError> {
    let g = Group::load(path)?;
    g.require_member(member, "member")?;
    let mut reg = registry::Registry::open(path, g.file.group_id, "provision")?;
    if g.file.epoch < reg.data.epoch {
        return Err(CliError::usage(format!(
            "{} is at epoch {}, but the group manager issued epoch {} (group rekey): provision \
             with the newest group file. A member provisioned in an older epoch would hold fresh \
             replay windows for it while the group may still accept it: recorded frames of that \
             epoch would be accepted again",
            path.display(),
            g.file.epoch,
            reg.data.epoch
        )));
    }
    // A device follows the group into later epochs through its rekey messages, so an identity
    // handed out once is never handed out again, unless the member re-joined since.
    let since = reg
        .rejoined(member)
        .max(g.member(member).and_then(|m| m.rejoined));
    if let Some(d) = reg
        .devices_of(member)
        .find(|d| since.is_none_or(|s| d.epoch >= s))
    {
        return Err(CliError::usage(format!(
            "member {member} was already provisioned (epoch {}, state directory {}): that device, \
             or any copy of its state, seals with its own counter in this epoch and the ones its \
             rekey messages take it to, and a new directory would start again at 0 and repeat \
             its nonces. A member that lost its counter (factory reset, replaced device, restored \
             backup) re-joins in a new epoch: `meshseal group rekey --group {} --rejoin {member} \
             --out NEW.toml`, apply the printed rekey messages at the other members with \
             `meshseal open`, then `meshseal provision --group NEW.toml --member {member} --state \
             NEWDIR`",
            d.epoch,
            d.state,
            path.display()
        )));
    }
    let mut st = StateDir::create(dir)?;
    // Recorded before the directory can seal: a crash from here on leaves the identity used.
    let floor = reg.loadgen_floor(member);
    let at = now_secs();
    reg.data.devices.push(registry::Device {
        member,
        epoch: g.file.epoch,
        state: std::path::absolute(dir)
            .unwrap_or_else(|_| dir.to_owned())
            .display()
            .to_string(),
        at,
    });
    reg.save()?;
    let mut store = state::MapStore::default();
    let fresh = ReplayWindow::provisioned().in_epoch(g.file.epoch);
    for id in g.member_ids().into_iter().filter(|&id| id != member) {
        store.0.insert(WindowKey::group(id), fresh);
        store.0.insert(WindowKey::source(id), fresh);
    }
    st.save_replay(member, g.file.group_id, g.file.epoch, &store)?;
    // The first counter record: 0, or above the numbers the load generator used as this member.
    use meshseal::counter::CounterStore;
    st.counter(member)
        .reserve(floor)
        .map_err(|e| CliError::io("cannot write counter".into(), e))?;
    if g.file.epoch > 0 {
        // Provisioned after a rekey (a re-join): receivers may hold a window of this id from an
        // earlier epoch, so its first frames carry the full number, as after `Sender::rekey`.
        let run = meshseal::context::LengthState {
            full_run: g.sender_config(member, 1).full_every,
            ..Default::default()
        };
        st.save_length(member, g.file.epoch, run, &[])?;
    }
    let with_identity = keys::install_identity(path, &g, member, identity, &st)?;
    st.bind(state::Binding {
        version: 1,
        group_id: g.file.group_id,
        member,
        epoch: g.file.epoch,
        created: at,
    })?;
    eprintln!(
        "provisioned member {member} of group {} (epoch {}) in {}{}{}",
        g.file.group_id,
        g.file.epoch,
        dir.display(),
        if with_identity {
            " with its identity"
        } else {
            ""
        },
        if floor > 0 {
            format!("; its counter starts at {floor}, above the load generator's numbers")
        } else {
            String::new()
        }
    );
    Ok(Outcome::Done)
}

struct SealArgs<'a> {
    group: &'a Path,
    sender: u32,
    dir: &'a Path,
    hex: Option<&'a str>,
    mtu: Option<usize>,
    echo: Option<&'a str>,
    time: Option<u16>,
    to: Option<u32>,
    sign: bool,
    repeat: Option<meshseal::Repeat>,
    json: bool,
}

/// How a member that lost its counter comes back, for the error messages.
fn rejoin_hint(id: u32) -> String {
    format!(
        "if the counter is lost, member {id} must not seal with this directory again: re-join \
         it in a new epoch with `meshseal group rekey --group GROUP.toml --rejoin {id} --out \
         GROUP2.toml` (at the group manager), apply the printed rekey messages at the other \
         members with `meshseal open`, and `meshseal provision --group GROUP2.toml --member {id} \
         --state NEWDIR`"
    )
}

/// Checks the member's counter record: a missing or unreadable record, or one below the
/// numbers the directory lists as sealed, is refused (sealing would repeat nonces). Returns the
/// record's store and the length rule's state with the numbers sealed last.
fn verify_counter(
    g: &Group,
    st: &StateDir,
    id: u32,
) -> Result<(state::CounterFile, meshseal::context::LengthState, Vec<u64>), CliError> {
    use meshseal::counter::CounterStore;
    let full_every = g.sender_config(id, 1).full_every;
    let (len, recent) = st.load_length(id, g.file.epoch, full_every)?;
    let sealed = recent.iter().copied().chain(len.reference).max();
    let mut store = st.counter(id);
    let dir = st.dir().display();
    match store.load() {
        Err(e) => {
            return Err(CliError::usage(format!(
                "the counter record of member {id} in {dir} is unreadable ({e}); {}",
                rejoin_hint(id)
            )))
        }
        Ok(None) => {
            let evidence = match sealed {
                Some(n) => format!(" although the directory lists number {n} as sealed"),
                None => String::new(),
            };
            return Err(CliError::usage(format!(
                "{dir} has no counter record for member {id} ({}){evidence}: provisioning always \
                 writes one, so it was lost or deleted, and starting again at 0 would repeat \
                 nonces; {}",
                store.path().display(),
                rejoin_hint(id)
            )));
        }
        Ok(Some(limit)) => {
            if let Some(n) = sealed.filter(|&n| n >= limit) {
                return Err(CliError::usage(format!(
                    "the counter record of member {id} in {dir} was rolled back: it allows \
                     number {limit} next, but the directory lists number {n} as sealed (a \
                     restored backup or a copied file); {}",
                    rejoin_hint(id)
                )));
            }
        }
    }
    Ok((store, len, recent))
}

/// The member's sender, resumed from its verified counter record.
fn start_sender(
    g: &Group,
    id: u32,
    st: &StateDir,
) -> Result<(Sender<state::CounterFile>, Vec<u64>), CliError> {
    let (store, len, recent) = verify_counter(g, st, id)?;
    let dir = st.dir().display();
    let mut tx = match Sender::new(g.keys()?, g.sender_config(id, 1), store) {
        Ok(tx) => tx,
        Err(e @ (Error::CounterStore | Error::NoCounterRecord)) => {
            return Err(CliError::usage(format!(
                "counter of member {id} in {dir}: {e}; {}",
                rejoin_hint(id)
            )))
        }
        Err(e) => return Err(CliError::usage(format!("cannot start sender: {e}"))),
    };
    tx.restore_length_state(len);
    Ok((tx, recent))
}

fn recipient_for<'m>(
    g: &Group,
    id: u32,
    st: &StateDir,
    members: &'m [u32],
) -> Result<Recipient<state::MapStore, &'m [u32]>, CliError> {
    let store = st.load_replay(id, g.file.group_id, g.file.epoch)?;
    let cfg = RecipientConfig {
        own_id: Some(id),
        order: g.order(),
    };
    let mut rx = match g.previous_keys()? {
        // Through the grace period after a rekey, the previous epoch is accepted too.
        Some((previous, until)) => {
            let mut rx = Recipient::new(previous, cfg, members, store);
            rx.install_epoch(g.keys()?, Some(until))
                .map_err(|e| CliError::usage(format!("cannot install the current epoch: {e}")))?;
            rx
        }
        None => Recipient::new(g.keys()?, cfg, members, store),
    };
    for r in st.load_repeats(id)? {
        rx.restore_repeat(
            FrameId {
                sender: r.sender,
                seq: r.seq,
            },
            r.left,
            r.end,
        );
    }
    for c in st.load_challenges(id)? {
        rx.restore_challenge(
            c.requester,
            FrameId {
                sender: c.sender,
                seq: c.seq,
            },
            c.issued,
        );
    }
    Ok(rx)
}

fn save_recipient(
    g: &Group,
    id: u32,
    st: &StateDir,
    rx: &Recipient<state::MapStore, &[u32]>,
) -> Result<(), CliError> {
    st.save_replay(id, g.file.group_id, g.file.epoch, rx.replay_store())?;
    let r: Vec<state::RepeatFile> = rx
        .tracked_repeats()
        .map(|(f, left, end)| state::RepeatFile {
            sender: f.sender,
            seq: f.seq,
            left,
            end,
        })
        .collect();
    st.save_repeats(id, &r)?;
    let c: Vec<state::ChallengeFile> = rx
        .challenges()
        .map(|(requester, c, issued)| state::ChallengeFile {
            requester,
            sender: c.sender,
            seq: c.seq,
            issued,
        })
        .collect();
    st.save_challenges(id, &c)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn seal(a: SealArgs<'_>) -> Result<Outcome, CliError> {
    let g = Group::load(a.group)?;
    g.require_member(a.sender, "sender")?;
    let payload = match a.hex {
        Some(h) => parse_hex("--hex payload", h)?,
        None => {
            let mut b = Vec::new();
            std::io::stdin()
                .read_to_end(&mut b)
                .map_err(|e| CliError::io("cannot read stdin".into(), e))?;
            b
        }
    };
    let challenge = a
        .echo
        .map(|h| parse_hex("--echo challenge", h))
        .transpose()?;
    let source_mode = a.to.is_some() || a.sign;
    if [
        challenge.is_some(),
        a.mtu.is_some(),
        a.time.is_some() && a.repeat.is_none(),
        source_mode,
        a.repeat.is_some(),
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
    let st = StateDir::open(a.dir, g.file.group_id, a.sender)?;
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
            match rx.open_response(&mut c, req) {
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
        Some(tx.seal_echo(&payload, cid, &mut out))
    } else if let Some(peer) = a.to {
        g.require_member(peer, "--to")?;
        let ring = Keyring::load(&g, a.sender, &st, None)?;
        let pair = ring.pair_keys(&g, a.sender, peer)?;
        extra.insert("source".into(), json!("pairwise"));
        Some(tx.seal_pairwise(&payload, &pair, &mut out))
    } else if a.sign {
        let ring = Keyring::load(&g, a.sender, &st, None)?;
        out.resize(largest + meshseal::source::SIGNATURE_LEN, 0);
        extra.insert("source".into(), json!("signed"));
        Some(tx.seal_signed(&payload, ring.signing_key(a.sender)?, &mut out))
    } else if let Some(r) = a.repeat {
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
        Some(tx.seal_repeated(&payload, r, a.time, &mut out))
    } else {
        a.time.map(|t| tx.seal_timed(&payload, t, &mut out))
    };
    match single {
        Some(Ok(n)) => frames.push(out[..n].to_vec()),
        Some(Err(e)) => return Ok(Outcome::Refused(e, a.json)),
        None => {
            let mtu = a.mtu.unwrap_or(largest).min(largest);
            if let Err(e) = tx.seal_message(&payload, mtu, &mut out, |f| frames.push(f.to_vec())) {
                return Ok(Outcome::Refused(e, a.json));
            }
        }
    }
    recent.extend(seq..tx.next_seq());
    st.save_length(a.sender, g.file.epoch, tx.length_state(), &recent)?;
    let hexes: Vec<String> = frames.iter().map(hex::encode).collect();
    if a.json {
        let first = &frames[0];
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
        println!("{v}");
    } else {
        for h in hexes {
            println!("{h}");
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

/// `30s`, `2m` or plain seconds, at most 255 s (the window is one byte of seconds on the wire).
fn parse_window(s: &str) -> Result<u8, String> {
    let (num, unit) = match s.strip_suffix('s') {
        Some(n) => (n, 1),
        None => match s.strip_suffix('m') {
            Some(n) => (n, 60),
            None => (s, 1),
        },
    };
    let secs = num
        .parse::<u32>()
        .map_err(|_| format!("expected a duration like 30s or 2m, found {s:?}"))?
        .checked_mul(unit)
        .ok_or("window too long")?;
    u8::try_from(secs).map_err(|_| format!("window {secs} s exceeds 255 s"))
}

fn form_name(f: SeqForm) -> String {
    match f {
        SeqForm::Short => "short".into(),
        SeqForm::Bytes(n) => format!("{n}_byte"),
    }
}

struct OpenArgs<'a> {
    group: &'a Path,
    receiver: u32,
    dir: &'a Path,
    link_sender: Option<u32>,
    frame: &'a str,
    class: TrafficClass,
    clock: Option<(u16, u16)>,
    challenge_lifetime: u64,
    reassembly_timeout: u64,
    require_source: bool,
    json: bool,
}

fn open(a: OpenArgs<'_>) -> Result<Outcome, CliError> {
    let g = Group::load(a.group)?;
    g.require_member(a.receiver, "receiver")?;
    let mut frame = parse_hex("frame", a.frame)?;
    let implicit = g.id_mode() == SenderIdMode::Implicit;
    if implicit && a.link_sender.is_none() {
        return Err(CliError::usage(
            "this group uses implicit sender ids: pass --sender ID".into(),
        ));
    }
    let st = StateDir::open(a.dir, g.file.group_id, a.receiver)?;
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
    if let Some((now, max_age)) = a.clock {
        rx.set_clock(now, max_age);
    }
    rx.expire_challenges(now, a.challenge_lifetime);
    let link = a.link_sender.unwrap_or_default();
    let claimed = Frame::new_checked(&frame[..], g.id_mode())
        .ok()
        .map(|f| f.sender_id().unwrap_or(link));
    let ring = Keyring::load(&g, a.receiver, &st, claimed)?;
    let result = match (implicit, a.require_source) {
        (true, true) => rx.open_from_authenticated(&mut frame, link, a.class, &ring),
        (true, false) => rx.open_from_with_keys(&mut frame, link, a.class, &ring),
        (false, true) => rx.open_authenticated(&mut frame, a.class, &ring),
        (false, false) => rx.open_with_keys(&mut frame, a.class, &ring),
    };
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
                println!(
                    "{}",
                    json!({
                        "status": "challenge",
                        "reason": "stale",
                        "challenge": challenge,
                        "request": {"sender": request.sender, "seq": request.seq},
                    })
                );
            } else {
                println!("{challenge}");
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
        println!("{v}");
    } else if let Some(p) = v["payload"].as_str() {
        println!("{p}");
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

fn binding_name(b: meshseal::Binding) -> &'static str {
    match b {
        meshseal::Binding::Response => "response",
        meshseal::Binding::Echo => "echo",
        meshseal::Binding::Challenge => "challenge",
        _ => "none",
    }
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
    let mut re: Box<Reassembler<1, { 16 * 1024 }>> = Box::new(Reassembler::new(u64::MAX));
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

fn inspect(
    frame_hex: &str,
    group: Option<&Path>,
    implicit: bool,
    link_sender: Option<u32>,
    near: Option<u64>,
    bound: Option<FrameId>,
    json_out: bool,
) -> Result<Outcome, CliError> {
    let bytes = parse_hex("frame", frame_hex)?;
    let g = group.map(Group::load).transpose()?;
    let mode = match &g {
        Some(g) if g.id_mode() == SenderIdMode::Implicit => SenderIdMode::Implicit,
        _ if implicit => SenderIdMode::Implicit,
        _ => SenderIdMode::Explicit,
    };
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
    if let Some(g) = &g {
        let expected = match (r.seq.form.is_full(), near) {
            (true, _) => Some(0),
            (false, n) => n,
        };
        match expected {
            None => v["note"] = json!("truncated sequence number: pass --near SEQ to verify"),
            Some(expected) => {
                let keys = g.keys()?;
                let mut buf = bytes.clone();
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
    if json_out {
        println!("{v}");
    } else {
        let mut out = std::io::stdout().lock();
        if let Value::Object(map) = &v {
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
    Ok(Outcome::Done)
}

fn demo(dir: Option<PathBuf>) -> Result<Outcome, CliError> {
    let dir = match dir {
        Some(d) => d,
        None => std::env::temp_dir().join(format!("meshseal-demo-{}", std::process::id())),
    };
    if dir.join("group.toml").exists() {
        return Err(CliError::usage(format!(
            "{} already holds a demo; pick another --dir",
            dir.display()
        )));
    }
    std::fs::create_dir_all(&dir).map_err(|e| CliError::io("cannot create demo dir".into(), e))?;
    let exe = std::env::current_exe()
        .map_err(|e| CliError::io("cannot find own executable".into(), e))?;
    let d = |p: &str| dir.join(p).display().to_string();
    let run = |args: &[&str]| -> Result<(i32, String), CliError> {
        println!("$ meshseal {}", args.join(" "));
        let out = std::process::Command::new(&exe)
            .args(args)
            .output()
            .map_err(|e| CliError::io("cannot run meshseal".into(), e))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        for line in stdout
            .lines()
            .chain(String::from_utf8_lossy(&out.stderr).lines())
        {
            println!("  {line}");
        }
        Ok((out.status.code().unwrap_or(-1), stdout))
    };
    let group = d("group.toml");
    println!("1. Provision a group of three devices: 1 = controller, 2 = lamp, 3 = thermometer.");
    run(&[
        "group",
        "new",
        "--members",
        "3",
        "--name",
        "demo-home",
        "--out",
        &group,
    ])?;
    for (member, dir) in [("1", "controller"), ("2", "lamp")] {
        run(&[
            "provision",
            "--group",
            &group,
            "--member",
            member,
            "--state",
            &d(dir),
        ])?;
    }
    let ctl = d("controller");
    let lamp = d("lamp");
    let seal = |hex: &str| -> Result<String, CliError> {
        let (_, out) = run(&[
            "seal", "--group", &group, "--sender", "1", "--state", &ctl, "--hex", hex, "--json",
        ])?;
        Ok(serde_json::from_str::<Value>(&out)
            .ok()
            .and_then(|v| v["frame"].as_str().map(str::to_owned))
            .unwrap_or_default())
    };
    let open = |frame: &str| -> Result<i32, CliError> {
        Ok(run(&[
            "open",
            "--group",
            &group,
            "--receiver",
            "2",
            "--state",
            &lamp,
            "--json",
            frame,
        ])?
        .0)
    };
    println!("\n2. The controller seals \"lamp on\" (payload 01); the first frame after boot carries the full sequence number.");
    let f1 = seal("01")?;
    println!("\n3. The lamp opens it.");
    let c1 = open(&f1)?;
    println!("\n4. Steady traffic: the next frame adds 10 bytes to its payload.");
    let f2 = seal("00")?;
    let c2 = open(&f2)?;
    println!("\n5. An attacker replays the recorded \"lamp on\" frame: refused, exit code 2.");
    let c3 = open(&f1)?;
    println!("\n6. An attacker flips a bit of a fresh frame: refused.");
    let mut t = parse_hex("frame", &seal("01")?)?;
    if let Some(b) = t.get_mut(2) {
        *b ^= 0x01;
    }
    let c4 = open(&hex::encode(t))?;
    let ok = (c1, c2, c3, c4) == (0, 0, 2, 2);
    println!(
        "\n{} (files in {})",
        if ok {
            "demo finished: accepted, accepted, replay refused, forgery refused"
        } else {
            "demo FAILED"
        },
        dir.display()
    );
    if ok {
        Ok(Outcome::Done)
    } else {
        Err(CliError::usage(
            "the demo did not behave as expected".into(),
        ))
    }
}
