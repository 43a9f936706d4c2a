//! The gateway's counters: datagrams received, messages delivered, refusals by the core's reason
//! names (plus `oversized` for datagrams larger than any frame the gateway accepts, which never
//! reach the core), store activity, and a latency histogram. Printed as one JSON object.

use hdrhistogram::Histogram;
use meshseal::{Error, Freshness};
use serde_json::{json, Map, Value};

/// Counters of one gateway process. Saturating, so a long run never reports a small number
/// after an overflow.
#[derive(Debug, Clone)]
pub struct GatewayStats {
    /// Datagrams taken from the socket.
    pub received: u64,
    /// Messages delivered (tag verified and replay state confirmed).
    pub accepted: u64,
    /// Delivered messages whose freshness is unknown (no verified state for the sender).
    pub unknown_freshness: u64,
    /// Datagrams larger than the largest accepted frame.
    pub oversized: u64,
    /// Batches processed.
    pub batches: u64,
    /// Durable writes or shared-store calls made.
    pub store_calls: u64,
    /// Rekey messages applied (the gateway entered a new epoch).
    pub rekeys: u64,
    /// Rekey messages to other members (or any, when the gateway holds no identity).
    pub rekeys_ignored: u64,
    /// The current key epoch.
    pub epoch: u16,
    refused: [u64; Error::COUNT],
    /// None only if the histogram could not be created (it cannot at this precision).
    latency_ns: Option<Histogram<u64>>,
}

impl Default for GatewayStats {
    fn default() -> Self {
        GatewayStats {
            received: 0,
            accepted: 0,
            unknown_freshness: 0,
            oversized: 0,
            batches: 0,
            store_calls: 0,
            rekeys: 0,
            rekeys_ignored: 0,
            epoch: 0,
            refused: [0; Error::COUNT],
            // 3 significant digits, auto-resizing: recording never fails for lack of range.
            latency_ns: Histogram::new(3).ok(),
        }
    }
}

fn bump(c: &mut u64) {
    *c = c.saturating_add(1);
}

impl GatewayStats {
    /// Counts a refusal.
    pub fn refuse(&mut self, e: Error) {
        bump(&mut self.refused[e.index()]);
    }

    /// Counts a delivered message.
    pub fn deliver(&mut self, freshness: Freshness) {
        bump(&mut self.accepted);
        if freshness != Freshness::Fresh {
            bump(&mut self.unknown_freshness);
        }
    }

    /// Counts an oversized datagram.
    pub fn oversize(&mut self) {
        bump(&mut self.oversized);
    }

    /// Records the time from a datagram's arrival to its verdict being written out.
    pub fn record_latency(&mut self, ns: u64) {
        if let Some(h) = &mut self.latency_ns {
            let _ = h.record(ns.max(1));
        }
    }

    /// Refusals of `reason`.
    pub fn refused(&self, reason: Error) -> u64 {
        self.refused[reason.index()]
    }

    /// Every refusal, oversized datagrams included.
    pub fn refused_total(&self) -> u64 {
        self.refused
            .iter()
            .fold(self.oversized, |a, b| a.saturating_add(*b))
    }

    /// Latency quantile `q` (0..=1) in microseconds.
    pub fn latency_us(&self, q: f64) -> f64 {
        self.latency_ns
            .as_ref()
            .map_or(0.0, |h| h.value_at_quantile(q) as f64 / 1000.0)
    }

    /// The counters as JSON: every core reason appears, with zeros.
    pub fn to_json(&self, backend: &str) -> Value {
        let mut refused = Map::new();
        for e in Error::ALL {
            refused.insert(e.reason().into(), json!(self.refused[e.index()]));
        }
        refused.insert("oversized".into(), json!(self.oversized));
        let (n, max) = self
            .latency_ns
            .as_ref()
            .map_or((0, 0), |h| (h.len(), h.max()));
        json!({
            "received": self.received,
            "accepted": self.accepted,
            "unknown_freshness": self.unknown_freshness,
            "refused_total": self.refused_total(),
            "refused": refused,
            "store": {"backend": backend, "calls": self.store_calls, "batches": self.batches},
            "epoch": self.epoch,
            "rekeys": {"applied": self.rekeys, "ignored": self.rekeys_ignored},
            "latency_us": {
                "samples": n,
                "p50": self.latency_us(0.5),
                "p99": self.latency_us(0.99),
                "max": max as f64 / 1000.0,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason_and_reports_all_names() {
        let mut s = GatewayStats::default();
        s.refuse(Error::Replay);
        s.refuse(Error::Replay);
        s.refuse(Error::BadTag);
        s.oversize();
        s.deliver(Freshness::Fresh);
        s.deliver(Freshness::Unknown);
        s.record_latency(2_000);
        s.record_latency(4_000);
        let v = s.to_json("redb");
        assert_eq!(v["refused"]["replay"], 2);
        assert_eq!(v["refused"]["bad_tag"], 1);
        assert_eq!(v["refused"]["too_old"], 0);
        assert_eq!(v["refused"]["oversized"], 1);
        assert_eq!(v["refused_total"], 4);
        assert_eq!(v["accepted"], 2);
        assert_eq!(v["unknown_freshness"], 1);
        assert_eq!(
            v["refused"].as_object().map(|m| m.len()),
            Some(Error::COUNT + 1)
        );
        let p99 = v["latency_us"]["p99"].as_f64().unwrap_or(0.0);
        assert!((3.9..=4.1).contains(&p99), "{p99}");
    }
}
