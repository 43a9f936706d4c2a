//! meshseal gateway: verifies the compact frames of many mesh nodes arriving over UDP, with
//! replay state that survives crashes and can be shared by several gateways.
//!
//! The verification itself is the core's [`meshseal::Recipient`]; this crate adds what a
//! long-running receiver of thousands of senders needs around it:
//! - [`windows`]: per-sender replay windows in a hash map and a hash-set membership, so the
//!   cost per frame does not grow with the number of senders;
//! - [`store`]: the replay-state backends behind one trait: [`store::embedded`] (redb, durable,
//!   one commit per batch) and [`store::shared`] (Redis, shared by gateways,
//!   one atomic script call per batch of frames);
//! - [`verifier`]: a batch of datagrams in, verified messages out as JSON lines, every refusal
//!   counted by its reason;
//! - [`epochs`]: the gateway's member identity, which applies the rekey messages addressed to
//!   it, so the gateway follows the group from epoch to epoch;
//! - [`server`]: the UDP receive loop with signal handling and clean shutdown;
//! - [`loadgen`]: a load generator that seals real frames for N simulated senders (loopback
//!   only) and mixes in replays, tampered frames and garbage;
//! - [`stats`]: counters and latency histogram, printed as JSON.
//!
//! Rules kept throughout: a message is written out only after its tag verified *and* the
//! replay store confirmed it (for redb: the window that holds its number was durably written;
//! for Redis: the shared window accepted it atomically); store failures refuse frames, never
//! accept them; no input can make the loop panic or stall.
//!
//! The safety and consistency arguments are in `docs/gateway.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod epochs;
mod error;
pub mod loadgen;
pub mod metrics;
pub mod mqtt;
pub mod server;
pub mod stats;
pub mod store;
pub mod verifier;
pub mod windows;

pub use error::GatewayError;

use meshseal::{OrderPolicy, SenderIdMode};

/// What the gateway needs to know about the group, taken from the group file.
#[derive(Debug, Clone)]
pub struct GroupSetup {
    /// The group id (part of every store key, so stores of different groups never mix).
    pub group_id: u32,
    /// The current key epoch.
    pub epoch: u16,
    /// The epoch before it, while its grace period lasts: its frames are still accepted, and
    /// a restart restores windows of it.
    pub previous_epoch: Option<u16>,
    /// Sender ids of the members.
    pub members: Vec<u32>,
    /// The receivers' order policy.
    pub order: OrderPolicy,
    /// Whether frames carry their sender id; a UDP gateway needs them to.
    pub id_mode: SenderIdMode,
}
