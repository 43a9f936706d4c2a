//! `compare --receivers N`: what one command from a controller to N receivers costs.
//!
//! The group key is the point of meshseal: the controller seals one frame that every receiver
//! opens (or K copies of it for sleepy receivers, [`meshseal::Repeat`]). Unicast
//! schemes send N records over N sessions (DTLS), N handshakes first when the receivers slept
//! (DTLS without a kept session), or N requests (OSCORE), and the controller keeps one session
//! per receiver. Traffic is costed with the same [`Model`] as the per-message comparison; the
//! per-receiver state is measured on the Cortex-M4 (`bench/results/session-ram-m4.json`).

use meshseal::context::Seal;
use meshseal::counter::MemoryStore;
use meshseal::{GroupKeys, Repeat, Sender, SenderConfig, SenderIdMode};
use serde::{Deserialize, Serialize};

use crate::compare::Comparison;
use crate::model::Traffic;
use crate::CostError;

const RECORDED_RAM: &str = include_str!("../../../bench/results/session-ram-m4.json");

/// Bytes of RAM a kept Mbed TLS DTLS session holds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DtlsSessionRam {
    /// `sizeof(mbedtls_ssl_context)`.
    pub context: usize,
    /// Heap the session holds between records.
    pub heap_live: usize,
}

/// Per-receiver state measured on the Cortex-M4.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionRam {
    /// Where it was measured.
    pub target: String,
    /// Measurement date.
    pub date: String,
    /// How.
    pub method: String,
    /// One kept DTLS 1.2 session (Mbed TLS 2.28).
    pub dtls12_mbedtls_session: DtlsSessionRam,
    /// One RFC 8613 OSCORE endpoint (meshseal's implementation).
    pub oscore_endpoint: usize,
    /// One meshseal sender, whatever the number of receivers.
    pub meshseal_sender: usize,
}

impl SessionRam {
    /// The recorded measurement built into the binary.
    pub fn recorded() -> Result<SessionRam, CostError> {
        serde_json::from_str(RECORDED_RAM)
            .map_err(|e| CostError::Results(format!("recorded session-ram-m4.json: {e}")))
    }

    /// State the controller keeps for `scheme` and `n` receivers.
    fn for_scheme(&self, key: &str, n: usize) -> usize {
        if key.starts_with("meshseal") {
            self.meshseal_sender
        } else if key.starts_with("oscore") {
            n * self.oscore_endpoint
        } else {
            n * (self.dtls12_mbedtls_session.context + self.dtls12_mbedtls_session.heap_live)
        }
    }
}

/// One scheme's cost of one command to every receiver.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanoutRow {
    /// Stable key (as in the per-message table).
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// Datagrams the controller sends (handshake flights included).
    pub datagrams_tx: f64,
    /// Bytes on air, both directions, link framing included.
    pub air_bytes: f64,
    /// Channel time, ms.
    pub airtime_ms: f64,
    /// The controller's radio and CPU energy, µJ.
    pub energy_uj: f64,
    /// State the controller keeps for these receivers, bytes (Cortex-M4).
    pub controller_ram_bytes: usize,
}

/// The fan-out comparison for one number of receivers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fanout {
    /// Receivers of the command.
    pub receivers: usize,
    /// Copies of a meshseal frame (1: receivers awake; more: sleepy receivers).
    pub copies: u8,
    /// Length of a meshseal repeated frame (explicit sender), when `copies` > 1.
    pub repeated_frame_bytes: Option<usize>,
    /// One row per scheme.
    pub rows: Vec<FanoutRow>,
    /// Where the RAM figures come from.
    pub ram_source: String,
}

/// Most receivers `--receivers` accepts (and the plot's range).
pub const MAX_RECEIVERS: usize = 64;

/// Length of a frame sealed with `copies` copies announced (always the full number).
fn repeated_len(payload: usize, copies: u8, mode: SenderIdMode) -> Result<usize, CostError> {
    let keys = GroupKeys::derive(&[0x42; 32], b"", 7, 0)
        .map_err(|e| CostError::Core("key derivation", e))?;
    let mut cfg = SenderConfig::new(5);
    cfg.sender_id_mode = mode;
    let mut tx = Sender::provision(keys, cfg, MemoryStore::default())
        .map_err(|e| CostError::Core("sender", e))?;
    let mut buf = vec![0u8; payload + 64];
    let how = Seal::default().repeated(Repeat { copies, window: 30 });
    tx.seal_with(&vec![0xa5; payload], &how, &mut buf)
        .map_err(|e| CostError::Core("seal", e))
}

/// `variants` scaled to one command: unicast schemes repeat everything per receiver, meshseal
/// sends one frame (`copies` of a repeated frame of `frame` bytes, for sleepy receivers).
fn scaled(variants: &[Traffic], n: usize, copies: u8, frame: [usize; 2]) -> Vec<Traffic> {
    variants
        .iter()
        .map(|t| {
            let mut s = t.clone();
            if t.key.starts_with("meshseal") {
                let len = if copies == 1 {
                    t.tx.last().copied().unwrap_or(0)
                } else {
                    frame[usize::from(t.key.ends_with("implicit"))]
                };
                s.tx = vec![len; usize::from(copies)];
            } else {
                s.tx = t.tx.repeat(n);
                s.rx = t.rx.repeat(n);
                s.waits = t.waits * n;
                s.cpu_host_ns = t.cpu_host_ns * n as f64;
            }
            s
        })
        .collect()
}

/// Costs one command to `receivers` receivers for every scheme of `cmp`.
pub fn fanout(
    cmp: &Comparison,
    traffic: &[Vec<Traffic>],
    receivers: usize,
    copies: u8,
    ram: &SessionRam,
) -> Result<Fanout, CostError> {
    if !(1..=MAX_RECEIVERS).contains(&receivers) {
        return Err(CostError::Usage(format!(
            "--receivers must be 1..={MAX_RECEIVERS}"
        )));
    }
    if copies == 0 {
        return Err(CostError::Usage("--copies must be 1..=255".into()));
    }
    let frame = [
        repeated_len(cmp.payload, copies, SenderIdMode::Explicit)?,
        repeated_len(cmp.payload, copies, SenderIdMode::Implicit)?,
    ];
    let m = cmp.model();
    let rows = traffic
        .iter()
        .map(|v| {
            let c = m.cost(
                cmp.payload,
                cmp.interval_s,
                &scaled(v, receivers, copies, frame),
            );
            FanoutRow {
                key: c.key,
                name: c.name,
                datagrams_tx: c.frames_tx,
                air_bytes: c.air_bytes_tx + c.air_bytes_rx,
                airtime_ms: c.airtime_ms,
                energy_uj: c.energy_uj.total,
                controller_ram_bytes: ram.for_scheme(c.key, receivers),
            }
        })
        .collect();
    Ok(Fanout {
        receivers,
        copies,
        repeated_frame_bytes: (copies > 1).then_some(frame[0]),
        rows,
        ram_source: format!(
            "measured on {} ({}); method in bench/results/session-ram-m4.json",
            ram.target, ram.date
        ),
    })
}

/// The human-readable fan-out table.
pub fn table(f: &Fanout) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let copies = match f.repeated_frame_bytes {
        Some(n) => format!(
            "; meshseal sends {} copies of one {n}-byte frame (explicit sender)",
            f.copies
        ),
        None => String::new(),
    };
    let _ = writeln!(s, "one command to {} receivers{copies}", f.receivers);
    let _ = writeln!(
        s,
        "{:<64} {:>9} {:>9} {:>9} {:>10} {:>14}",
        "scheme", "datagrams", "air B", "airtime", "energy", "controller RAM"
    );
    for r in &f.rows {
        let _ = writeln!(
            s,
            "{:<64} {:>9.1} {:>9.0} {:>7.2}ms {:>8.0}µJ {:>12} B",
            r.name, r.datagrams_tx, r.air_bytes, r.airtime_ms, r.energy_uj, r.controller_ram_bytes
        );
    }
    let _ = writeln!(s, "  RAM per receiver: {}", f.ram_source);
    let _ = writeln!(
        s,
        "  every DTLS row counts a kept Mbed TLS 2.28 DTLS 1.2 session (no DTLS 1.3 build for the M4)"
    );
    s
}
