//! `meshseal gateway` and `meshseal loadgen`: thin wrappers that load the group file and call
//! into the `meshseal-gateway` crate. Exit codes: 0 after a clean shutdown or a finished load
//! run, 1 for usage, configuration, store or I/O errors.
//!
//! With `--member ID --state DIR` the gateway holds a member identity, kept in a member state
//! directory exactly as `meshseal open` keeps it: the rekey messages addressed to the member
//! are applied (`epoch.json`, written durably before the gateway switches keys), and a restart
//! resumes in the newest epoch, with the previous one through its grace period.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use meshseal::counter::CounterStore;
use meshseal::Error;
use meshseal_gateway::epochs::{EpochChange, Rekeyer};
use meshseal_gateway::server::{self, Control, ServeConfig};
use meshseal_gateway::store::embedded::{Embedded, DEFAULT_AHEAD};
use meshseal_gateway::store::shared::Shared;
use meshseal_gateway::store::ReplayBackend;
use meshseal_gateway::verifier::{Verifier, DEFAULT_MAX_DATAGRAM};
use meshseal_gateway::windows::Windows;
use meshseal_gateway::{loadgen, GatewayError, GroupSetup};
use serde_json::json;

use crate::cli_util::{now_secs, CliError, Outcome};
use crate::group::{Ccm, Group};
use crate::keys;
use crate::registry::{self, Registry};
use crate::state::StateDir;

#[derive(Args)]
pub struct GatewayArgs {
    /// The group file (keys, members, order policy).
    #[arg(long)]
    group: PathBuf,
    /// UDP address to receive frames on (port 0 picks a free port; the address is logged).
    #[arg(long)]
    bind: String,
    /// Replay state: a redb file path, or redis://HOST:PORT for state shared by gateways.
    #[arg(long)]
    store: String,
    /// Write verified messages (JSON lines) here instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the counters as JSON to stderr every --stats-every seconds (they are always
    /// printed on SIGUSR1 and at shutdown).
    #[arg(long)]
    stats: bool,
    /// Seconds between counter lines with --stats.
    #[arg(long, default_value_t = 1.0)]
    stats_every: f64,
    /// Create verified replay state for every member: only for a new store, at group creation.
    #[arg(long)]
    provision: bool,
    /// No longer used (kept so scripts that pass it keep working): the redb store commits the
    /// exact windows of every batch before releasing its messages.
    #[arg(long, default_value_t = DEFAULT_AHEAD, hide = true)]
    ahead: u64,
    /// Datagrams verified and confirmed together.
    #[arg(long, default_value_t = server::DEFAULT_BATCH)]
    batch: usize,
    /// Serve Prometheus metrics (OpenMetrics text) at http://ADDR/metrics, e.g.
    /// 127.0.0.1:9100: received, accepted, refused by reason, store commits and their latency,
    /// batch sizes, accepted by epoch.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Publish every delivered message (its JSON line) with QoS 1 to PREFIX/<group>/<sender>
    /// on this MQTT broker: mqtt://HOST:PORT/PREFIX.
    #[arg(long, value_name = "URL")]
    mqtt: Option<String>,
    /// Messages the MQTT client queues while the broker is away; beyond, the gateway waits
    /// (backpressure) instead of dropping.
    #[arg(long, default_value_t = meshseal_gateway::mqtt::DEFAULT_QUEUE)]
    mqtt_queue: usize,
    /// Socket receive buffer to ask for, in bytes (SO_RCVBUF, capped by the kernel at
    /// net.core.rmem_max; 0 keeps the system default): it holds the datagrams that arrive while
    /// a batch is committed.
    #[arg(long, default_value_t = server::DEFAULT_RECV_BUFFER)]
    recv_buffer: usize,
    /// Largest datagram treated as a frame; longer ones are refused as oversized.
    #[arg(long, default_value_t = DEFAULT_MAX_DATAGRAM)]
    max_datagram: usize,
    /// Log level: error, warn, info, debug (each refusal), trace.
    #[arg(long, default_value = "info")]
    log: String,
    /// The member whose identity the gateway holds: it applies the rekey messages addressed
    /// to this member and follows the group into each new epoch (needs --state).
    #[arg(long, requires = "state")]
    member: Option<u32>,
    /// The member's state directory (`meshseal provision`): its identity and the epochs its
    /// rekeys took it to. Locked while the gateway runs.
    #[arg(long, requires = "member")]
    state: Option<PathBuf>,
}

/// The gateway's member identity: its rekeys are recorded in its state directory as
/// `meshseal open` records them.
struct Identity {
    group: PathBuf,
    g: Group,
    member: u32,
    st: StateDir,
}

impl Identity {
    fn refresh(&mut self, now: u64) -> Result<(), CliError> {
        self.g = keys::apply_state(Group::load(&self.group)?, &self.st, now)?;
        Ok(())
    }
}

impl Rekeyer<Ccm> for Identity {
    fn apply(&mut self, msg: &mut [u8], now: u64) -> Result<EpochChange<Ccm>, Error> {
        let durable = |e: CliError| {
            tracing::error!(error = %e.0, "cannot record the new epoch; rekey refused");
            Error::CounterStore
        };
        let r = keys::take_rekey(&self.g, self.member, &self.st, msg, now).map_err(durable)??;
        self.refresh(now).map_err(durable)?;
        if self.g.file.epoch != r.epoch {
            // The group file is already past the rekey's epoch: it wins (as for `open`).
            return Err(Error::Replay);
        }
        Ok(EpochChange {
            keys: self.g.keys().map_err(durable)?,
            grace_until: self.g.previous.as_ref().map(|p| p.until),
            removed: r.removed().to_vec(),
        })
    }
}

#[derive(Args)]
pub struct LoadgenArgs {
    /// The group manager's file; the simulated senders are its first members never provisioned
    /// to a device.
    #[arg(long)]
    group: PathBuf,
    /// The gateway's address; loopback only.
    #[arg(long)]
    target: String,
    /// Simulated senders: the group's first N members never provisioned to a device (their
    /// numbers are reserved in the manager's state, so no run repeats one).
    #[arg(long)]
    senders: usize,
    /// Datagrams per second over all senders (0: as fast as possible).
    #[arg(long)]
    rate: u64,
    /// Longest run (e.g. 10s, 2m; a bare number is seconds).
    #[arg(long, value_parser = crate::cli_util::parse_interval)]
    duration: f64,
    /// Most datagrams to send.
    #[arg(long)]
    count: Option<u64>,
    /// Fraction of datagrams that replay an earlier frame.
    #[arg(long, default_value_t = 0.0)]
    replays: f64,
    /// Fraction that are fresh frames with one bit flipped.
    #[arg(long, default_value_t = 0.0)]
    tamper: f64,
    /// Fraction that are random bytes (some longer than any frame).
    #[arg(long, default_value_t = 0.0)]
    garbage: f64,
    /// Payload bytes per frame.
    #[arg(long, default_value_t = 16)]
    payload: usize,
    /// Obsolete: the simulated senders' numbers are always reserved in the group manager's
    /// state (beside the group file), whatever this says; accepted for old scripts.
    #[arg(long, hide = true)]
    state: Option<PathBuf>,
    /// Seed of the random mix (replays, tampering, garbage, payloads).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

fn gw(e: GatewayError) -> CliError {
    CliError::usage(e.to_string())
}

fn setup_of(g: &Group) -> GroupSetup {
    GroupSetup {
        group_id: g.file.group_id,
        epoch: g.file.epoch,
        previous_epoch: g.previous.as_ref().map(|p| p.epoch),
        members: g.member_ids(),
        order: g.order(),
        id_mode: g.id_mode(),
    }
}

fn init_logging(level: &str) -> Result<(), CliError> {
    let level: tracing::Level = level
        .parse()
        .map_err(|_| CliError::usage(format!("--log: unknown level {level:?}")))?;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_ansi(false)
        .try_init();
    Ok(())
}

fn resolve(what: &str, s: &str) -> Result<SocketAddr, CliError> {
    s.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| CliError::usage(format!("{what}: cannot resolve {s:?}")))
}

/// Runs `meshseal gateway`.
pub fn run(a: GatewayArgs) -> Result<Outcome, CliError> {
    init_logging(&a.log)?;
    if !(a.stats_every > 0.0 && a.stats_every.is_finite()) {
        return Err(CliError::usage("--stats-every must be positive".into()));
    }
    if a.batch == 0 || a.max_datagram == 0 || a.max_datagram > 65_535 {
        return Err(CliError::usage(
            "--batch must be at least 1 and --max-datagram within 1..=65535".into(),
        ));
    }
    // First, before any thread or connection exists: see `Control::with_signals`.
    let control = Control::with_signals().map_err(gw)?;
    let mut g = Group::load(&a.group)?;
    let state = match (a.member, &a.state) {
        (Some(member), Some(dir)) => Some((member, StateDir::open(dir, g.file.group_id, member)?)),
        _ => None,
    };
    if let Some((member, st)) = &state {
        g = keys::apply_state(g, st, now_secs())?;
        st.check_group(&g, *member)?;
        g.require_member(*member, "--member")?;
    }
    let setup = setup_of(&g);
    let keys = (g.keys()?, g.previous_keys()?);
    let bind = resolve("--bind", &a.bind)?;
    let identity = state.map(|(member, st)| Identity {
        group: a.group.clone(),
        g,
        member,
        st,
    });
    if a.store.starts_with("redis://") || a.store.starts_with("rediss://") {
        let (backend, windows) = Shared::open(&a.store, &setup, a.provision).map_err(gw)?;
        serve(&a, &setup, keys, identity, bind, windows, backend, &control)
    } else {
        let (backend, windows) =
            Embedded::open(a.store.as_ref(), &setup, a.provision, a.ahead).map_err(gw)?;
        serve(&a, &setup, keys, identity, bind, windows, backend, &control)
    }
}

#[allow(clippy::too_many_arguments)]
fn serve<B: ReplayBackend>(
    a: &GatewayArgs,
    setup: &GroupSetup,
    (keys, previous): (crate::group::Keys, Option<(crate::group::Keys, u64)>),
    identity: Option<Identity>,
    bind: SocketAddr,
    windows: Windows,
    backend: B,
    control: &Control,
) -> Result<Outcome, CliError> {
    let mut v = Verifier::with_previous(keys, previous, setup, windows, backend).map_err(gw)?;
    if let Some(id) = identity {
        v.set_rekeyer(Box::new(id));
    }
    if let Some(url) = &a.mqtt {
        let target = meshseal_gateway::mqtt::Target::parse(url).map_err(gw)?;
        let id = format!("meshseal-gateway-{}-{}", setup.group_id, std::process::id());
        let sink =
            meshseal_gateway::mqtt::MqttSink::start(&target, setup.group_id, &id, a.mqtt_queue)
                .map_err(gw)?;
        v.set_mqtt(sink.with_stop(control.stop.clone()));
    }
    if let Some(addr) = &a.metrics {
        let m = meshseal_gateway::metrics::Metrics::new();
        meshseal_gateway::metrics::serve(addr, m.clone()).map_err(gw)?;
        v.set_metrics(m);
    }
    let socket =
        UdpSocket::bind(bind).map_err(|e| CliError::io(format!("cannot bind {bind}"), e))?;
    let local = socket
        .local_addr()
        .map_err(|e| CliError::io("cannot read the bound address".into(), e))?;
    let mut out: Box<dyn Write> = match &a.out {
        Some(p) => {
            Box::new(BufWriter::new(File::create(p).map_err(|e| {
                CliError::io(format!("cannot create {}", p.display()), e)
            })?))
        }
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let mut err = std::io::stderr();
    let _ = writeln!(
        err,
        "{}",
        json!({"status": "listening", "bind": local.to_string(), "store": v.backend_name()})
    );
    tracing::info!(%local, store = v.backend_name(), "gateway listening");
    let cfg = ServeConfig {
        batch: a.batch,
        max_datagram: a.max_datagram,
        stats_every: a.stats.then(|| Duration::from_secs_f64(a.stats_every)),
        recv_buffer: a.recv_buffer,
    };
    let result = server::serve(&socket, &mut v, &mut *out, &mut err, control, cfg);
    server::print_stats(&v, &mut err);
    result.map_err(gw)?;
    Ok(Outcome::Done)
}

/// A simulated sender's counter, reserved in the group manager's state. It starts at the
/// numbers reserved by earlier runs (its first block is reserved with all the others before the
/// run starts); each further block is written to the manager's state before it is used, and
/// refused if a device was provisioned as this member meanwhile, or another run reserved its
/// numbers.
#[derive(Debug)]
struct Reserved {
    group: PathBuf,
    group_id: u32,
    member: u32,
    epoch: u16,
    /// The record at the start: numbers from here on are this run's.
    start: u64,
    /// The limit durably reserved for this run.
    durable: u64,
}

impl CounterStore for Reserved {
    type Error = String;

    fn load(&mut self) -> Result<Option<u64>, String> {
        Ok(Some(self.start))
    }

    fn reserve(&mut self, limit: u64) -> Result<(), String> {
        if limit <= self.durable {
            return Ok(());
        }
        let mut reg = Registry::open(&self.group, self.group_id, "loadgen").map_err(|e| e.0)?;
        if reg.devices_of(self.member).next().is_some() {
            return Err(format!(
                "member {} was provisioned to a device during the run",
                self.member
            ));
        }
        if reg.loadgen_limit(self.member, self.epoch) != Some(self.durable) {
            return Err(format!(
                "another load generator reserved member {}'s numbers during the run",
                self.member
            ));
        }
        // Reserve ahead as much as this run used so far (at least the request): the manager's
        // state is rewritten a logarithmic number of times per sender, not once per block.
        let ahead = limit
            .saturating_add(limit.saturating_sub(self.start))
            .min(meshseal::frame::SEQ_MAX + 1)
            .max(limit);
        reg.set_loadgen_limit(self.member, self.epoch, ahead);
        reg.save().map_err(|e| e.0)?;
        self.durable = ahead;
        Ok(())
    }
}

/// Runs `meshseal loadgen`.
pub fn run_loadgen(a: LoadgenArgs) -> Result<Outcome, CliError> {
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        return Err(CliError::usage("--duration must be positive".into()));
    }
    let g = Group::load(&a.group)?;
    let setup = setup_of(&g);
    let cfg = loadgen::LoadConfig {
        target: resolve("--target", &a.target)?,
        rate: a.rate,
        duration: Duration::from_secs_f64(a.duration),
        count: a.count,
        replays: a.replays,
        tamper: a.tamper,
        garbage: a.garbage,
        payload: a.payload,
        seed: a.seed,
    };
    if !cfg.target.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "refusing to send to {}: the load generator targets loopback addresses only",
            cfg.target
        )));
    }
    if let Some(dir) = &a.state {
        eprintln!(
            "note: --state {} is ignored: the simulated senders' numbers are reserved in the \
             group manager's state ({})",
            dir.display(),
            registry::path_of(&a.group, g.file.group_id).display()
        );
    }
    let block = g.file.policy.reservation_block;
    let epoch = g.file.epoch;
    // Reserve every simulated sender's first block in one durable write, before any frame.
    let stores = {
        let mut reg = Registry::open(&a.group, g.file.group_id, "loadgen")?;
        let (provisioned, free): (Vec<u32>, Vec<u32>) = setup
            .members
            .iter()
            .partition(|&&id| reg.devices_of(id).next().is_some());
        if a.senders == 0 || a.senders > free.len() {
            let why = if provisioned.is_empty() {
                String::new()
            } else {
                format!(
                    "; member(s) {provisioned:?} were provisioned to devices, and the load \
                     generator never seals as a member a device seals as (their numbers would \
                     collide)"
                )
            };
            return Err(CliError::usage(if free.is_empty() {
                format!("no member of the group is free for the load generator{why}")
            } else {
                format!(
                    "--senders must be 1 to {} (the group's members never provisioned to a \
                     device){why}",
                    free.len()
                )
            }));
        }
        let mut stores = Vec::with_capacity(a.senders);
        for &member in &free[..a.senders] {
            let start = reg.loadgen_limit(member, epoch).unwrap_or(0);
            let durable = start
                .saturating_add(block)
                .min(meshseal::frame::SEQ_MAX + 1);
            reg.set_loadgen_limit(member, epoch, durable);
            stores.push((
                member,
                Reserved {
                    group: a.group.clone(),
                    group_id: g.file.group_id,
                    member,
                    epoch,
                    start,
                    durable,
                },
            ));
        }
        reg.save()?;
        stores
    };
    let senders: Vec<u32> = stores.iter().map(|(id, _)| *id).collect();
    let report = loadgen::run(
        &setup,
        &|| g.keys().map_err(|e| GatewayError::Config(e.0)),
        &|id| g.sender_config(id, block),
        stores,
        &cfg,
    )
    .map_err(gw)?;
    let mut v = report.to_json();
    v["senders"] = json!(senders);
    outln!("{v}");
    Ok(Outcome::Done)
}
