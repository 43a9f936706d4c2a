//! A batch of datagrams in, verified messages out: the core judges and verifies each frame,
//! the replay backend confirms the batch's accepted frames, and only confirmed messages are
//! written, one JSON line each:
//! `{"sender":S,"seq":N,"epoch":E,"freshness":"fresh"|"unknown","payload":"HEX"}`.
//!
//! Every refusal is counted under the core's reason name and logged at debug level. Datagrams
//! longer than the largest accepted frame are counted as `oversized` and never parsed.
//!
//! A rekey message is handed to the gateway's member identity ([`crate::epochs::Rekeyer`]) in
//! its place in the batch: frames before it are judged in the old epoch, frames after it in the
//! new one (and the old through its grace period). Messages to other members, or any when the
//! gateway holds no identity, are counted as `rekeys_ignored`.

use std::io::{self, Write};
use std::time::Instant;

use meshseal::{
    AeadBackend, Error, FrameId, Freshness, GroupKeys, Recipient, RecipientConfig, RustCryptoCcm,
    SenderIdMode, TAG_LEN,
};

use crate::epochs::{unix_now, EpochChange, Rekeyer};

use crate::stats::GatewayStats;
use crate::store::{Candidate, ReplayBackend};
use crate::windows::{Members, Windows};
use crate::{GatewayError, GroupSetup};

/// Default largest datagram the gateway treats as a frame (the IPv6 minimum MTU).
pub const DEFAULT_MAX_DATAGRAM: usize = 1280;

/// Receive buffers for one batch of datagrams.
#[derive(Debug)]
pub struct Batch {
    bufs: Vec<Vec<u8>>,
    lens: Vec<usize>,
    arrived: Vec<Instant>,
    max: usize,
}

impl Batch {
    /// Room for `capacity` datagrams of up to `max_datagram` bytes (one byte more is received,
    /// so a longer datagram is recognised as oversized rather than silently cut).
    pub fn new(capacity: usize, max_datagram: usize) -> Batch {
        let capacity = capacity.max(1);
        Batch {
            bufs: vec![vec![0u8; max_datagram + 1]; capacity],
            lens: Vec::with_capacity(capacity),
            arrived: Vec::with_capacity(capacity),
            max: max_datagram,
        }
    }

    /// Empties the batch.
    pub fn clear(&mut self) {
        self.lens.clear();
        self.arrived.clear();
    }

    /// Datagrams held.
    pub fn len(&self) -> usize {
        self.lens.len()
    }

    /// Lengths of the datagrams held, as received (one more than the largest datagram means
    /// oversized).
    pub fn lens(&self) -> &[usize] {
        &self.lens
    }

    /// Whether no datagram is held.
    pub fn is_empty(&self) -> bool {
        self.lens.is_empty()
    }

    /// Whether another datagram fits.
    pub fn is_full(&self) -> bool {
        self.lens.len() == self.bufs.len()
    }

    /// The buffer for the next datagram; call [`Batch::commit`] with its length.
    pub fn next_buf(&mut self) -> Option<&mut [u8]> {
        self.bufs.get_mut(self.lens.len()).map(Vec::as_mut_slice)
    }

    /// Records that the next buffer holds `len` bytes received at `at`.
    pub fn commit(&mut self, len: usize, at: Instant) {
        if !self.is_full() {
            self.lens.push(len);
            self.arrived.push(at);
        }
    }

    /// The free buffers (from the next one on), to receive several datagrams at once; record
    /// each with [`Batch::commit`] in order.
    pub fn free_bufs(&mut self) -> &mut [Vec<u8>] {
        let at = self.lens.len();
        &mut self.bufs[at..]
    }

    /// Copies `datagram` in as the next entry (for tests and benchmarks); false when full.
    pub fn push(&mut self, datagram: &[u8]) -> bool {
        let Some(buf) = self.next_buf() else {
            return false;
        };
        let n = datagram.len().min(buf.len());
        buf[..n].copy_from_slice(&datagram[..n]);
        self.commit(datagram.len(), Instant::now());
        true
    }
}

#[derive(Debug)]
struct Held {
    slot: usize,
    seq: u64,
    sender: u32,
    epoch: u16,
    freshness: Freshness,
    payload: std::ops::Range<usize>,
}

/// The verification pipeline of one gateway. `A` is the group's AEAD backend (with header
/// privacy, `meshseal::privacy::Private`, a private group's frames are unmasked before the
/// checks).
pub struct Verifier<B: ReplayBackend, A: AeadBackend = RustCryptoCcm> {
    rx: Recipient<Windows, Members, A>,
    backend: B,
    stats: GatewayStats,
    held: Vec<Held>,
    candidates: Vec<Candidate>,
    verdicts: Vec<Result<(), Error>>,
    line: Vec<u8>,
    metrics: Option<std::sync::Arc<crate::metrics::Metrics>>,
    mqtt: Option<crate::mqtt::MqttSink>,
    rekeyer: Option<Box<dyn Rekeyer<A> + Send>>,
}

impl<B: ReplayBackend, A: AeadBackend> std::fmt::Debug for Verifier<B, A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("backend", &self.backend.name())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl<B: ReplayBackend, A: AeadBackend> Verifier<B, A> {
    /// A pipeline over the restored `windows`, confirming through `backend`.
    pub fn new(
        keys: GroupKeys<A>,
        setup: &GroupSetup,
        windows: Windows,
        backend: B,
    ) -> Result<Self, GatewayError> {
        Self::with_previous(keys, None, setup, windows, backend)
    }

    /// Like [`Verifier::new`], also accepting the previous epoch's frames with `previous`
    /// keys until the given time (Unix seconds): a gateway restarted in a grace period.
    pub fn with_previous(
        keys: GroupKeys<A>,
        previous: Option<(GroupKeys<A>, u64)>,
        setup: &GroupSetup,
        windows: Windows,
        backend: B,
    ) -> Result<Self, GatewayError> {
        if setup.id_mode != SenderIdMode::Explicit {
            return Err(GatewayError::Config(
                "the group uses implicit sender ids; a UDP gateway needs them in the frame".into(),
            ));
        }
        if keys.epoch() != setup.epoch || keys.group_id() != setup.group_id {
            return Err(GatewayError::Config(
                "the keys are not of the group setup's epoch".into(),
            ));
        }
        let cfg = RecipientConfig {
            own_id: None,
            order: setup.order,
        };
        let members = Members(setup.members.iter().copied().collect());
        let rx = match previous {
            Some((old, until)) => {
                let mut rx = Recipient::new(old, cfg, members, windows);
                rx.install_epoch(keys, Some(until)).map_err(|e| {
                    GatewayError::Config(format!("cannot resume the grace period: {e}"))
                })?;
                rx
            }
            None => Recipient::new(keys, cfg, members, windows),
        };
        let mut stats = GatewayStats::default();
        stats.epoch = setup.epoch;
        Ok(Verifier {
            rx,
            backend,
            stats,
            held: Vec::new(),
            candidates: Vec::new(),
            verdicts: Vec::new(),
            line: Vec::with_capacity(256),
            metrics: None,
            mqtt: None,
            rekeyer: None,
        })
    }

    /// Applies the rekey messages addressed to this gateway's member identity.
    pub fn set_rekeyer(&mut self, rekeyer: Box<dyn Rekeyer<A> + Send>) {
        self.rekeyer = Some(rekeyer);
    }

    /// The current key epoch, and the previous one with the end of its grace period.
    pub fn epochs(&self) -> (u16, Option<(u16, u64)>) {
        (self.rx.keys().epoch(), self.rx.previous_epoch())
    }

    /// Takes the rekey message in `buf`: applied (the new epoch durable, then installed) when
    /// addressed to this gateway's identity; counted as ignored when addressed to another
    /// member or when the gateway holds no identity; otherwise refused by its reason.
    fn rekey(&mut self, buf: &mut [u8], now: u64) {
        let Some(r) = self.rekeyer.as_mut() else {
            if let Err(e) = meshseal::rekey::parse_header(buf) {
                self.refused(e);
                return;
            }
            self.stats.rekeys_ignored = self.stats.rekeys_ignored.saturating_add(1);
            tracing::debug!("rekey message ignored: the gateway holds no member identity");
            return;
        };
        match r.apply(buf, now) {
            Ok(change) => self.enter(change),
            Err(Error::UnknownSender) => {
                self.stats.rekeys_ignored = self.stats.rekeys_ignored.saturating_add(1);
                tracing::debug!("rekey message to another member ignored");
            }
            Err(e) => {
                self.refused(e);
                tracing::info!(reason = e.reason(), "rekey message refused: {e}");
            }
        }
    }

    /// Switches to a new epoch whose rekey is durable.
    fn enter(&mut self, change: EpochChange<A>) {
        let EpochChange {
            keys,
            grace_until,
            removed,
        } = change;
        let (old, epoch) = (self.rx.keys().epoch(), keys.epoch());
        if let Err(e) = self.backend.enter_epoch(epoch) {
            // Frames of the new epoch attach to their state when they come (Redis) or carry
            // their epoch in each record (redb): nothing is accepted without its state.
            tracing::warn!(error = %e, epoch, "the replay store did not record the new epoch yet");
        }
        let grace = grace_until.filter(|_| {
            // A jump of a multiple of 4 epochs cannot keep the old one (same bits on the
            // wire); the rekey is applied without grace rather than not at all.
            epoch & 3 != old & 3
        });
        if let Err(e) = self.rx.install_epoch(keys, grace) {
            tracing::error!(error = %e, epoch, "cannot install the new epoch");
            self.refused(e);
            return;
        }
        for id in &removed {
            self.rx.members_mut().0.remove(id);
        }
        self.stats.rekeys = self.stats.rekeys.saturating_add(1);
        self.stats.epoch = epoch;
        if let Some(m) = &self.metrics {
            m.rekeyed(epoch);
        }
        tracing::info!(epoch, previous = old, grace_until = ?grace, removed = ?removed, "rekeyed");
    }

    fn refused(&mut self, e: Error) {
        self.stats.refuse(e);
        if let Some(m) = &self.metrics {
            m.refused(e.reason());
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> &GatewayStats {
        &self.stats
    }

    /// The backend's name.
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }

    /// Publishes this pipeline's counters to `metrics` too (`--metrics`).
    pub fn set_metrics(&mut self, metrics: std::sync::Arc<crate::metrics::Metrics>) {
        metrics.set_epoch(self.rx.keys().epoch());
        self.metrics = Some(metrics);
    }

    /// Publishes every delivered message to MQTT too (`--mqtt`), after its state is durable.
    pub fn set_mqtt(&mut self, sink: crate::mqtt::MqttSink) {
        self.mqtt = Some(sink);
    }

    /// The MQTT side's counters, with `--mqtt`.
    pub fn mqtt_counters(&self) -> Option<std::sync::Arc<crate::mqtt::MqttCounters>> {
        self.mqtt.as_ref().map(crate::mqtt::MqttSink::counters)
    }

    /// The in-memory windows.
    pub fn windows(&self) -> &Windows {
        self.rx.replay_store()
    }

    /// Verifies every datagram of `batch`, confirms the accepted ones with the backend and
    /// writes their messages to `out`. Errors only when `out` fails.
    pub fn process<W: Write + ?Sized>(&mut self, batch: &mut Batch, out: &mut W) -> io::Result<()> {
        self.held.clear();
        self.candidates.clear();
        self.stats.batches = self.stats.batches.saturating_add(1);
        if let Some(m) = &self.metrics {
            m.batch(batch.lens.len());
        }
        let max = batch.max;
        let now = unix_now();
        if self.rx.expire_epoch(now) {
            tracing::info!("the previous epoch's grace period ended");
        }
        for slot in 0..batch.lens.len() {
            let len = batch.lens[slot];
            self.stats.received = self.stats.received.saturating_add(1);
            if len > max {
                self.stats.oversize();
                if let Some(m) = &self.metrics {
                    m.refused("oversized");
                }
                tracing::debug!(len, "refused: oversized datagram");
                continue;
            }
            let buf = &mut batch.bufs[slot][..len];
            if meshseal::rekey::is_rekey(buf) {
                self.rekey(buf, now);
                continue;
            }
            match self.rx.open(buf) {
                Ok(o) => {
                    let end = len - TAG_LEN;
                    let verified = o.freshness == Freshness::Fresh;
                    self.candidates.push(Candidate {
                        id: FrameId {
                            sender: o.sender,
                            seq: o.seq,
                        },
                        verified,
                        epoch: o.epoch,
                    });
                    self.held.push(Held {
                        slot,
                        seq: o.seq,
                        sender: o.sender,
                        epoch: o.epoch,
                        freshness: o.freshness,
                        payload: end - o.payload.len()..end,
                    });
                }
                Err(e) => {
                    self.refused(e);
                    tracing::debug!(reason = e.reason(), "refused: {e}");
                }
            }
        }
        let started = Instant::now();
        let calls =
            self.backend
                .confirm(&self.candidates, self.rx.replay_store(), &mut self.verdicts);
        self.stats.store_calls = self.stats.store_calls.saturating_add(calls);
        if let Some(m) = &self.metrics {
            if calls > 0 {
                m.committed(calls, started.elapsed().as_secs_f64());
            }
        }
        for (i, h) in self.held.iter().enumerate() {
            match self
                .verdicts
                .get(i)
                .copied()
                .unwrap_or(Err(Error::CounterStore))
            {
                Ok(()) => {
                    let payload = &batch.bufs[h.slot][h.payload.clone()];
                    write_line(&mut self.line, h, payload);
                    out.write_all(&self.line)?;
                    if let Some(m) = &self.mqtt {
                        let json = self.line.strip_suffix(b"\n").unwrap_or(&self.line);
                        m.publish(h.sender, json).map_err(io::Error::other)?;
                    }
                    self.stats.deliver(h.freshness);
                    if let Some(m) = &self.metrics {
                        m.accepted(h.epoch);
                    }
                }
                Err(e) => {
                    self.stats.refuse(e);
                    if let Some(m) = &self.metrics {
                        m.refused(e.reason());
                    }
                    tracing::debug!(
                        reason = e.reason(),
                        sender = h.sender,
                        seq = h.seq,
                        "refused by the replay store: {e}"
                    );
                }
            }
        }
        if let (Some(m), Some(q)) = (&self.metrics, &self.mqtt) {
            m.mqtt_pending(q.counters().pending());
        }
        let done = Instant::now();
        for at in &batch.arrived {
            let ns = done.saturating_duration_since(*at).as_nanos();
            self.stats
                .record_latency(u64::try_from(ns).unwrap_or(u64::MAX));
        }
        batch.clear();
        Ok(())
    }

    /// Flushes durable state for a clean shutdown.
    pub fn shutdown(&mut self) -> Result<(), GatewayError> {
        let windows = self.rx.replay_store().clone();
        self.backend.shutdown(&windows)
    }
}

fn write_line(line: &mut Vec<u8>, h: &Held, payload: &[u8]) {
    use std::io::Write as _;
    line.clear();
    let _ = write!(
        line,
        "{{\"sender\":{},\"seq\":{},\"epoch\":{},\"freshness\":\"{}\",\"payload\":\"",
        h.sender,
        h.seq,
        h.epoch,
        h.freshness.name()
    );
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for b in payload {
        line.push(HEX[usize::from(b >> 4)]);
        line.push(HEX[usize::from(b & 15)]);
    }
    line.extend_from_slice(b"\"}\n");
}
