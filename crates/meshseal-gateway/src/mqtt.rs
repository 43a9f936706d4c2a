//! MQTT out (`--mqtt mqtt://HOST:PORT/PREFIX`): every delivered message is published with QoS 1
//! to `PREFIX/<group id>/<sender id>`, its payload the JSON line the gateway writes.
//!
//! Publishing goes through `rumqttc`'s client, whose request queue is bounded (`--mqtt-queue`,
//! default 4096): while the broker is unreachable, messages wait there and in the client's
//! in-flight state, and are sent again after it reconnects; once the queue is full, publishing
//! blocks, and with it the receive loop (backpressure: datagrams wait in the socket, then the
//! kernel drops them and nothing is delivered unseen). A broker that accepts the connection and
//! never acknowledges is the same: the client keeps a bounded number of publishes in flight,
//! the queue fills, the loop waits. The wait gives way to a shutdown request: the messages it
//! was holding are counted as `abandoned` (they are in the gateway's output, and their replay
//! state is durable) and the gateway stops. A message is published once per
//! delivery: after its replay state is durable, never again for the same (sender, number), also
//! across a restart, since a restarted gateway refuses what it delivered. QoS 1 may still hand a
//! subscriber a retransmitted copy (the DUP flag) after a broker restart.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{Client, Event, MqttOptions, Packet, QoS};

use crate::GatewayError;

/// Default bound of the client's request queue.
pub const DEFAULT_QUEUE: usize = 4096;

/// Where to publish, from `mqtt://HOST:PORT/PREFIX`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Broker host.
    pub host: String,
    /// Broker port (1883 when absent).
    pub port: u16,
    /// Topic prefix (without a trailing `/`).
    pub prefix: String,
}

impl Target {
    /// Parses `mqtt://HOST[:PORT]/PREFIX`.
    pub fn parse(url: &str) -> Result<Target, GatewayError> {
        let bad = |why: &str| GatewayError::Config(format!("--mqtt {url:?}: {why}"));
        let rest = url
            .strip_prefix("mqtt://")
            .ok_or_else(|| bad("expected mqtt://HOST:PORT/PREFIX"))?;
        let (authority, prefix) = rest.split_once('/').ok_or_else(|| bad("no topic prefix"))?;
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() || prefix.contains(['#', '+']) {
            return Err(bad("the prefix must be a topic without wildcards"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().map_err(|_| bad("bad port"))?),
            None => (authority, 1883),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        Ok(Target {
            host: host.to_owned(),
            port,
            prefix: prefix.to_owned(),
        })
    }
}

/// Counters of the MQTT side, shared with the connection thread.
#[derive(Debug, Default)]
pub struct MqttCounters {
    /// Messages handed to the client.
    pub published: AtomicU64,
    /// Messages the broker acknowledged (PUBACK).
    pub acked: AtomicU64,
    /// Connection errors seen (each followed by a reconnection attempt).
    pub errors: AtomicU64,
    /// Messages given up, unpublished, because the gateway was asked to stop while the queue
    /// was full.
    pub abandoned: AtomicU64,
}

impl MqttCounters {
    /// Messages published and not yet acknowledged: the queue's depth.
    pub fn pending(&self) -> u64 {
        self.published
            .load(Ordering::Relaxed)
            .saturating_sub(self.acked.load(Ordering::Relaxed))
    }
}

/// The publishing side; the connection runs on a thread of its own.
pub struct MqttSink {
    client: Client,
    topic: String,
    counters: Arc<MqttCounters>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for MqttSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSink")
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

impl MqttSink {
    /// Connects (in the background) to `target` for group `group_id`, with a request queue of
    /// `queue` messages.
    pub fn start(
        target: &Target,
        group_id: u32,
        client_id: &str,
        queue: usize,
    ) -> Result<MqttSink, GatewayError> {
        if queue == 0 {
            return Err(GatewayError::Config(
                "--mqtt-queue must be at least 1".into(),
            ));
        }
        let mut opts = MqttOptions::new(client_id, target.host.clone(), target.port);
        opts.set_keep_alive(Duration::from_secs(15));
        // Unacknowledged publishes survive a reconnection.
        opts.set_clean_session(false);
        let (client, mut connection) = Client::new(opts, queue);
        let counters = Arc::new(MqttCounters::default());
        let c = counters.clone();
        std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || {
                for event in connection.iter() {
                    match event {
                        Ok(Event::Incoming(Packet::PubAck(_))) => {
                            c.acked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(_) => {}
                        Err(e) => {
                            c.errors.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(error = %e, "MQTT connection lost; retrying");
                            std::thread::sleep(Duration::from_millis(500));
                        }
                    }
                }
            })
            .map_err(|e| GatewayError::io("cannot start the MQTT thread", e))?;
        Ok(MqttSink {
            client,
            topic: format!("{}/{group_id}", target.prefix),
            counters,
            stop: Arc::default(),
        })
    }

    /// A full queue stops waiting once `stop` is set (the gateway's shutdown flag).
    pub fn with_stop(mut self, stop: Arc<AtomicBool>) -> MqttSink {
        self.stop = stop;
        self
    }

    /// Publishes `payload` (a message's JSON line) for `sender`, with QoS 1. Waits while the
    /// queue is full, until there is room or a shutdown is requested (then the message is
    /// counted as abandoned).
    pub fn publish(&self, sender: u32, payload: &[u8]) -> Result<(), GatewayError> {
        let topic = format!("{}/{sender}", self.topic);
        loop {
            match self
                .client
                .try_publish(topic.as_str(), QoS::AtLeastOnce, false, payload)
            {
                Ok(()) => {
                    self.counters.published.fetch_add(1, Ordering::Relaxed);
                    return Ok(());
                }
                Err(rumqttc::ClientError::TryRequest(_)) => {
                    if self.stop.load(Ordering::Relaxed) {
                        self.counters.abandoned.fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(GatewayError::Config(format!("MQTT client stopped: {e}"))),
            }
        }
    }

    /// The shared counters.
    pub fn counters(&self) -> Arc<MqttCounters> {
        self.counters.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_bad_ones_are_refused() {
        assert_eq!(
            Target::parse("mqtt://127.0.0.1:1884/mesh/").unwrap(),
            Target {
                host: "127.0.0.1".into(),
                port: 1884,
                prefix: "mesh".into()
            }
        );
        assert_eq!(Target::parse("mqtt://broker/a/b").unwrap().port, 1883);
        for bad in [
            "tcp://h:1/p",
            "mqtt://h:1",
            "mqtt://h:1/",
            "mqtt://h:x/p",
            "mqtt://:1/p",
            "mqtt://h/p/#",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
