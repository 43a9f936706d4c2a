//! Replay-state backends: where a gateway's acceptance decisions are made durable or shared.
//!
//! The core's [`meshseal::Recipient`] judges every frame against in-memory windows
//! ([`crate::windows::Windows`]) and verifies its tag. A frame that passes is then *confirmed*
//! by the backend before its message is written out:
//! - [`embedded::Embedded`] (redb) commits the exact windows of the senders a batch touched in
//!   one durable transaction (group commit) before any of its messages is released;
//! - [`shared::Shared`] (Redis) runs one Lua script per batch that checks and sets each frame's
//!   number in the sender's shared window atomically, so two gateways never both accept it.
//!
//! A backend failure refuses the frames it could not confirm (reason `counter_store`); it
//! never lets one through.

pub mod embedded;
pub mod shared;

use meshseal::replay::ReplayWindow;
use meshseal::{Error, FrameId};

use crate::windows::Windows;
use crate::GatewayError;

/// A frame the core accepted, waiting for the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Sender and full sequence number.
    pub id: FrameId,
    /// Whether the sender's window is verified (kept with durable state).
    pub verified: bool,
    /// The key epoch the frame was sealed under.
    pub epoch: u16,
}

/// Confirms accepted frames against durable or shared replay state.
pub trait ReplayBackend {
    /// Short name for statistics (`redb`, `redis`).
    fn name(&self) -> &'static str;

    /// Sets `verdicts[i]` for `frames[i]`: `Ok` if it may be delivered, otherwise the refusal.
    /// `windows` are the in-memory windows with the batch accepted. Returns the number of
    /// store calls made (writes or round trips).
    fn confirm(
        &mut self,
        frames: &[Candidate],
        windows: &Windows,
        verdicts: &mut Vec<Result<(), Error>>,
    ) -> u64;

    /// Records that the gateway entered key epoch `epoch` (after its rekey was made durable);
    /// frames of the previous epoch may still arrive through its grace period.
    fn enter_epoch(&mut self, epoch: u16) -> Result<(), GatewayError>;

    /// Called once at clean shutdown with the final windows.
    fn shutdown(&mut self, windows: &Windows) -> Result<(), GatewayError>;
}

/// The window to restore for a sender whose numbers up to `ceiling` may all have been
/// accepted: every number at or below it counts as seen.
pub fn window_below(ceiling: u64, verified: bool) -> Result<ReplayWindow, GatewayError> {
    ReplayWindow::from_parts(Some(ceiling), verified, [u64::MAX])
        .map_err(|_| GatewayError::Config(format!("stored number {ceiling} out of range")))
}
