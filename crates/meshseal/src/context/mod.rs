//! Sender and recipient state machines: the layer that turns frames into trusted messages.
//!
//! [`Sender`] owns a [`Counter`](crate::counter::Counter) (numbers never repeat, even across power loss) and the rule
//! that picks each frame's sequence-number length; it seals ordinary frames, multi-fragment
//! messages, responses bound to a request, freshness challenges, echoes of a challenge and
//! timed frames. [`Recipient`] checks a frame in a fixed order: wire format, key epoch, sender
//! membership, binding (the request or challenge an extension frame answers), sequence
//! reconstruction, replay window, and only then the tag; its replay state moves only after the
//! tag verified, and the payload is handed out only then (on failure the buffer is wiped).
//! Freshness is a typed result ([`Freshness`]) judged per [`TrafficClass`].
//!
//! Sequence-number length rule (the sender side of [`crate::seq`]):
//! 1. the first frame after boot carries the full 40-bit number;
//! 2. so does every `full_every`-th frame, so a receiver that missed any number of frames
//!    (2^16 or more) is back in step at the next full frame without manual steps;
//! 3. otherwise the frame carries the shortest form that every receiver holding at least the
//!    *reference* number reconstructs correctly ([`crate::seq::shortest_form`]). The reference
//!    moves by [`Sender::confirm`] (a response proved a receiver has that number) and, in
//!    [`LengthMode::Steady`], with every frame sent (a configured period in which receivers are
//!    assumed to hear the sender). With no reference the frame is full.

//!
//! Modules, each one concern, layered so that none imports a module above it:
//! - `shared`: what both sides use: [`FrameId`], the associated data, the extension fields of a
//!   frame being sealed, the epoch order, tag verification;
//! - `sender` ([`Sender`], [`Seal`]) and `message` (multi-fragment messages): sealing;
//! - `recipient` ([`Recipient`], [`Open`]): opening and judging frames;
//! - `freshness`, `repeats`, `epochs`: the recipient's challenges and clock, tracked repeated
//!   frames, and the previous epoch's keys;
//! - `stateless`: verification without replay state, for diagnostics.

mod epochs;
mod freshness;
mod message;
mod recipient;
mod repeats;
mod sender;
mod shared;
mod stateless;

pub use crate::replay::OrderPolicy;
pub use epochs::{Grace, GraceSlot, NoGrace};
pub use freshness::{Freshness, TrafficClass, PENDING_CHALLENGES};
pub use recipient::{AnySender, Membership, Open, Opened, Recipient, RecipientConfig};
pub use repeats::TRACKED_REPEATS;
pub use sender::{LengthMode, LengthState, Seal, SealBinding, SealSource, Sender, SenderConfig};
pub(crate) use shared::unmask_header;
pub use shared::{epoch_is_newer, FrameId, MAX_AAD, MAX_PAYLOAD};
pub use stateless::{open_stateless, Verified};
