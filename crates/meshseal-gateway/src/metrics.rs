//! Prometheus metrics (`--metrics ADDR`): the gateway's counters in the OpenMetrics text format
//! at `http://ADDR/metrics`, encoded by `prometheus-client` and served by `tiny_http` on a
//! thread of its own, so a slow scraper never stalls the receive loop.
//!
//! Metrics: `meshseal_gateway_received` (datagrams), `meshseal_gateway_accepted` (messages
//! delivered), `meshseal_gateway_refused{reason}` (per refusal reason; `replay` only for frames
//! whose tag verified), `meshseal_gateway_accepted_by_epoch{epoch}`,
//! `meshseal_gateway_store_commits` (durable writes or shared-store calls),
//! `meshseal_gateway_mqtt_pending` (published, not yet acknowledged, with `--mqtt`),
//! `meshseal_gateway_store_commit_seconds` (histogram) and `meshseal_gateway_batch_size`
//! (histogram of datagrams per batch), `meshseal_gateway_rekeys` (rekey messages applied) and
//! `meshseal_gateway_epoch` (the current key epoch).

use std::sync::Arc;
use std::thread::JoinHandle;

use meshseal::Error;
use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::GatewayError;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Epoch {
    epoch: u64,
}

/// The gateway's metrics; cheap to update from the receive loop (atomics).
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    received: Counter,
    accepted: Counter,
    refused: Family<Reason, Counter>,
    accepted_by_epoch: Family<Epoch, Counter>,
    commits: Counter,
    commit_seconds: Histogram,
    batch_size: Histogram,
    mqtt_pending: Gauge,
    rekeys: Counter,
    epoch: Gauge,
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("meshseal_gateway");
        let m = Metrics {
            received: Counter::default(),
            accepted: Counter::default(),
            refused: Family::default(),
            accepted_by_epoch: Family::default(),
            commits: Counter::default(),
            // 50 µs to about 3 s.
            commit_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 16)),
            batch_size: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            mqtt_pending: Gauge::default(),
            rekeys: Counter::default(),
            epoch: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "received",
            "Datagrams taken from the socket",
            m.received.clone(),
        );
        registry.register("accepted", "Messages delivered", m.accepted.clone());
        registry.register(
            "refused",
            "Datagrams refused, by reason (replay: tag verified, number seen)",
            m.refused.clone(),
        );
        registry.register(
            "accepted_by_epoch",
            "Messages delivered, by key epoch",
            m.accepted_by_epoch.clone(),
        );
        registry.register(
            "store_commits",
            "Durable writes or shared-store calls",
            m.commits.clone(),
        );
        registry.register(
            "store_commit_seconds",
            "Time of one batch's store confirmation",
            m.commit_seconds.clone(),
        );
        registry.register("batch_size", "Datagrams per batch", m.batch_size.clone());
        registry.register(
            "mqtt_pending",
            "MQTT messages published and not yet acknowledged (with --mqtt)",
            m.mqtt_pending.clone(),
        );
        registry.register(
            "rekeys",
            "Rekey messages applied (key epochs entered)",
            m.rekeys.clone(),
        );
        registry.register("epoch", "The current key epoch", m.epoch.clone());
        // Every reason appears, at zero, from the first scrape.
        for e in Error::ALL {
            let _ = m.refused.get_or_create(&Reason { reason: e.reason() });
        }
        let _ = m.refused.get_or_create(&Reason {
            reason: "oversized",
        });
        Arc::new(Metrics { registry, ..m })
    }

    /// One batch of `n` datagrams began.
    pub fn batch(&self, n: usize) {
        self.received.inc_by(n as u64);
        self.batch_size.observe(n as f64);
    }

    /// A message of `epoch` was delivered.
    pub fn accepted(&self, epoch: u16) {
        self.accepted.inc();
        self.accepted_by_epoch
            .get_or_create(&Epoch {
                epoch: u64::from(epoch),
            })
            .inc();
    }

    /// A datagram was refused for `reason`.
    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&Reason { reason }).inc();
    }

    /// The store confirmed a batch with `calls` calls in `seconds`.
    pub fn committed(&self, calls: u64, seconds: f64) {
        self.commits.inc_by(calls);
        self.commit_seconds.observe(seconds);
    }

    /// The gateway entered key epoch `epoch`.
    pub fn rekeyed(&self, epoch: u16) {
        self.rekeys.inc();
        self.set_epoch(epoch);
    }

    /// The current key epoch (at start).
    pub fn set_epoch(&self, epoch: u16) {
        self.epoch.set(i64::from(epoch));
    }

    /// MQTT messages waiting for the broker's acknowledgement.
    pub fn mqtt_pending(&self, n: u64) {
        self.mqtt_pending.set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text of every metric.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Serves `GET /metrics` on `addr` until the process exits.
pub fn serve(addr: &str, metrics: Arc<Metrics>) -> Result<JoinHandle<()>, GatewayError> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| GatewayError::Config(format!("--metrics {addr}: {e}")))?;
    let handle = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let response = if request.url() == "/metrics" {
                    let header = tiny_http::Header::from_bytes(
                        &b"Content-Type"[..],
                        &b"application/openmetrics-text; version=1.0.0; charset=utf-8"[..],
                    )
                    .ok();
                    let mut r = tiny_http::Response::from_string(metrics.encode());
                    if let Some(h) = header {
                        r = r.with_header(h);
                    }
                    r
                } else {
                    tiny_http::Response::from_string("not found\n").with_status_code(404)
                };
                // A scraper that went away is no concern of the gateway's.
                let _ = request.respond(response);
            }
        })
        .map_err(|e| GatewayError::io("cannot start the metrics thread", e))?;
    Ok(handle)
}
