//! INSECURE. The scheme the customer first proposed, kept only as an attack target.
//!
//! Nothing in this module may be used to protect anything. The customer's proposal, in their
//! words: AES with the shared group key; a message counter carried in each packet; the first
//! packet of a multi-packet message carries the first and last number of the whole message; the
//! receiver stores the last valid number and requires later messages to start above it; gaps
//! signal drops; a special command resets the counters to zero.
//!
//! It is built here the way a competent team would ship it, so that what breaks is the
//! proposal's ideas and not a sloppy rendering of them:
//! - AES-CCM (RustCrypto `ccm`, 8-byte tag) under the one group key; the nonce is the message
//!   counter, zero-padded to 13 bytes ("a nonce built from the message counter only"). The
//!   packet header (kind, counter, first and last number) is the CCM associated data, so none of
//!   it can be changed without failing the tag.
//! - Each device keeps its counter in flash, written with every packet, so a reboot never
//!   repeats a number.
//! - The packet carries no sender id (the proposal has none). The link layer's source address
//!   travels in the clear before the packet, as 802.15.4 and BLE send it, unauthenticated;
//!   receivers use it to attribute a message, to match the packets of one message and to refuse
//!   a removed member.
//! - The receiver keeps *the* last valid number, one for all senders, as the proposal says
//!   ([`Numbers::OneForAll`]). [`Numbers::PerSource`] keeps one per link address instead, to
//!   show that the breaks do not depend on that reading.
//! - A multi-packet message is taken in order: its first packet announces `first..=last`, the
//!   next packets must carry the next numbers from the same link address; a gap abandons the
//!   message (nothing partial is delivered) and every accepted packet reports its gap.
//! - The reset command is a single packet with a reserved payload, accepted from the
//!   controller's link address only. It must get through exactly when counters disagree (its
//!   purpose), so it is exempt from the counter check; `reset_checked` applies the check to it
//!   too, which the lab shows does not save it.
//!
//! Frame layout:
//!
//! ```text
//! link source (1, not authenticated) | kind (1) | counter (4)
//!   | first (4) | last (4)      only in the first packet of a multi-packet message
//!   | ciphertext | tag (8)
//! ```
//!
//! `kind` is 0 for a single packet, 1 for the first packet of a message, 2 for a later one.

use std::collections::{BTreeMap, BTreeSet};

use aes::Aes128;
use ccm::aead::{AeadInPlace, KeyInit};
use ccm::consts::{U13, U8};
use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;

use crate::scheme::{
    Class, Delivery, DeviceId, Dissected, OrderSignal, Scheme, SenderLoss, Threat, Verdict,
    CONTROLLER, MEMBERS, ROGUE_BASE,
};

type Ccm8 = ccm::Ccm<Aes128, U8, U13>;

/// Id of the scheme (column key, `--scheme customer`).
pub const ID: &str = "customer";
/// The payload of the counter-reset command.
pub const RESET_COMMAND: &[u8] = b"!reset-counters";
/// Most packets in one message.
pub const MAX_PACKETS: u32 = 16;

const TAG: usize = 8;
/// Link source, kind, counter.
const FIXED: usize = 6;
/// First and last number in the first packet of a message.
const RANGE: usize = 8;
const SINGLE: u8 = 0;
const FIRST: u8 = 1;
const LATER: u8 = 2;
/// Counter an insider's rogue device starts at: any value it likes, far above the others.
const ROGUE_COUNTER: u32 = 1 << 20;

/// Which numbers a receiver keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Numbers {
    /// The last valid number, one for all senders (the proposal's text).
    #[default]
    OneForAll,
    /// The last valid number per link-layer source address.
    PerSource,
}

/// The choices the proposal leaves open; the default is the proposal as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CustomerOptions {
    /// Which numbers a receiver keeps.
    pub numbers: Numbers,
    /// Whether the reset command must also carry a number above the receiver's.
    pub reset_checked: bool,
}

/// A message being taken in, packet by packet.
#[derive(Debug)]
struct Partial {
    source: u8,
    last: u32,
    next: u32,
    data: Vec<u8>,
}

#[derive(Debug, Default)]
struct Device {
    /// The link-layer source address it sends from (a rogue device's is the one it claims).
    link: u8,
    /// Next counter value.
    counter: u32,
    /// The counter in flash, written with every packet.
    stored: u32,
    /// The counter in the last backup of the device's flash.
    backup: u32,
    /// Receiver: last valid number, per key (0 for all senders, or the link address).
    numbers: BTreeMap<u8, u32>,
    /// Receiver: the multi-packet message in progress.
    partial: Option<Partial>,
}

/// INSECURE: the customer's first proposal (AES-CCM, counter-only nonce, one stored number,
/// reset command).
pub struct InsecureCustomerScheme {
    aead: Ccm8,
    options: CustomerOptions,
    devices: BTreeMap<DeviceId, Device>,
    removed: BTreeSet<u8>,
    next_rogue: DeviceId,
}

fn nonce(counter: u32) -> [u8; 13] {
    let mut n = [0u8; 13];
    n[9..].copy_from_slice(&counter.to_be_bytes());
    n
}

fn be32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_be_bytes(a)
}

fn printable(p: &[u8]) -> bool {
    !p.is_empty() && p.iter().all(|b| (0x20..0x7f).contains(b))
}

/// A parsed packet header.
struct Header {
    source: u8,
    kind: u8,
    counter: u32,
    range: Option<(u32, u32)>,
    len: usize,
}

fn parse(frame: &[u8]) -> Option<Header> {
    if frame.len() < FIXED + TAG {
        return None;
    }
    let kind = frame[1];
    let len = match kind {
        SINGLE | LATER => FIXED,
        FIRST => FIXED + RANGE,
        _ => return None,
    };
    if frame.len() < len + TAG {
        return None;
    }
    Some(Header {
        source: frame[0],
        kind,
        counter: be32(&frame[2..6]),
        range: (kind == FIRST).then(|| (be32(&frame[6..10]), be32(&frame[10..14]))),
        len,
    })
}

impl InsecureCustomerScheme {
    /// Provisions the lab's members with a fresh shared key; the proposal as written.
    pub fn new(rng: ChaCha20Rng) -> Self {
        Self::with_options(rng, CustomerOptions::default())
    }

    /// The same with the proposal's open choices made otherwise.
    pub fn with_options(mut rng: ChaCha20Rng, options: CustomerOptions) -> Self {
        let mut key = [0u8; 16];
        rng.fill_bytes(&mut key);
        let devices = MEMBERS
            .iter()
            .map(|&id| {
                (
                    id,
                    Device {
                        link: id as u8,
                        ..Device::default()
                    },
                )
            })
            .collect();
        InsecureCustomerScheme {
            aead: Ccm8::new(&key.into()),
            options,
            devices,
            removed: BTreeSet::new(),
            next_rogue: ROGUE_BASE,
        }
    }

    fn seal_packet(
        &mut self,
        from: DeviceId,
        kind: u8,
        range: Option<(u32, u32)>,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let dev = self
            .devices
            .get_mut(&from)
            .ok_or_else(|| format!("no device {from}"))?;
        let counter = dev.counter;
        dev.counter = dev.counter.wrapping_add(1);
        dev.stored = dev.counter;
        let mut frame = vec![dev.link, kind];
        frame.extend_from_slice(&counter.to_be_bytes());
        if let Some((first, last)) = range {
            frame.extend_from_slice(&first.to_be_bytes());
            frame.extend_from_slice(&last.to_be_bytes());
        }
        let mut body = payload.to_vec();
        let tag = self
            .aead
            .encrypt_in_place_detached(&nonce(counter).into(), &frame[1..], &mut body)
            .map_err(|_| "payload too large".to_string())?;
        frame.extend_from_slice(&body);
        frame.extend_from_slice(&tag);
        Ok(frame)
    }

    fn open(&self, h: &Header, frame: &[u8]) -> Result<Vec<u8>, &'static str> {
        let split = frame.len() - TAG;
        let mut body = frame[h.len..split].to_vec();
        self.aead
            .decrypt_in_place_detached(
                &nonce(h.counter).into(),
                &frame[1..h.len],
                &mut body,
                frame[split..].into(),
            )
            .map_err(|_| "bad_tag")?;
        Ok(body)
    }

    fn key(&self, source: u8) -> u8 {
        match self.options.numbers {
            Numbers::OneForAll => 0,
            Numbers::PerSource => source,
        }
    }
}

impl Scheme for InsecureCustomerScheme {
    fn id(&self) -> &'static str {
        ID
    }

    fn name(&self) -> &'static str {
        "the customer's first proposal: AES-CCM, counter-only nonce, one stored number, reset command (insecure)"
    }

    fn expected(&self, threat: Threat) -> (Verdict, &'static str) {
        use Verdict::*;
        match threat {
            Threat::T1 => (Held, "CCM tag over the payload and the packet header"),
            Threat::T2 => (Held, "the counter differs from packet to packet"),
            Threat::T3 => (
                Broken,
                "nonce = message counter only: devices under one key count through the same numbers",
            ),
            Threat::T4 => (
                Broken,
                "counter kept in flash across reboots, but the reset command restarts every counter at 0 under the same key",
            ),
            Threat::T5 => (
                Broken,
                "a number check stops plain replays, but after a reset (genuine or replayed) old frames are above the number again",
            ),
            Threat::T6 => (
                Broken,
                "gaps and reorders are seen for one sender, but one number for all lets another sender's higher number lock a sender out",
            ),
            Threat::T7 => (
                Broken,
                "the number bounds order, not age: a withheld frame with nothing newer is taken",
            ),
            Threat::T8 => (
                Broken,
                "a lost number accepts everything again, and any key holder can send the reset",
            ),
            Threat::T9 => (
                Broken,
                "first..last binds one sender's packets, but two senders' numbers coincide and the link address is not authenticated",
            ),
            Threat::T10 => (
                Broken,
                "the 32-bit counter starts over at 0 under the same key",
            ),
            Threat::T11 => (
                Broken,
                "one shared key: a departed member sends from another link address",
            ),
            Threat::T12 => (
                Broken,
                "one shared key and an unauthenticated link address: any member sends as any other",
            ),
            Threat::T13 => (
                Broken,
                "no port byte, so the kind of message is inside the ciphertext; but the source address and the counter travel in clear: frames link to their senders and a sender's frames can be counted",
            ),
            Threat::T14 => (
                Broken,
                "a reset or restored device counts again from 0 or from the backup under the same key",
            ),
            Threat::T15 => (
                Broken,
                "one number, moved by any key holder: a forged 2^32 - 1 refuses every sender, and removing the insider changes nothing",
            ),
        }
    }

    fn seal(&mut self, from: DeviceId, payload: &[u8], _: Class) -> Result<Vec<u8>, String> {
        self.seal_packet(from, SINGLE, None, payload)
    }

    fn seal_message(
        &mut self,
        from: DeviceId,
        message: &[u8],
        mtu: usize,
    ) -> Result<Vec<Vec<u8>>, String> {
        let chunk = mtu.saturating_sub(FIXED + RANGE + TAG).max(1);
        let parts: Vec<&[u8]> = message.chunks(chunk).collect();
        let n = parts.len() as u32;
        if n == 0 || n > MAX_PACKETS {
            return Err("message too large".into());
        }
        if n == 1 {
            return Ok(vec![self.seal(from, message, Class::Reading)?]);
        }
        let first = self
            .devices
            .get(&from)
            .ok_or_else(|| format!("no device {from}"))?
            .counter;
        let last = first
            .checked_add(n - 1)
            .ok_or("counter would wrap inside the message")?;
        parts
            .iter()
            .enumerate()
            .map(|(i, p)| {
                if i == 0 {
                    self.seal_packet(from, FIRST, Some((first, last)), p)
                } else {
                    self.seal_packet(from, LATER, None, p)
                }
            })
            .collect()
    }

    fn deliver(&mut self, to: DeviceId, frame: &[u8], _: Class) -> Delivery {
        let Some(h) = parse(frame) else {
            return Delivery::Refused("malformed".into());
        };
        if self.removed.contains(&h.source) || !MEMBERS.contains(&u32::from(h.source)) {
            return Delivery::Refused("unknown_sender".into());
        }
        let plain = match self.open(&h, frame) {
            Ok(p) => p,
            Err(reason) => return Delivery::Refused(reason.into()),
        };
        let key = self.key(h.source);
        let reset_checked = self.options.reset_checked;
        let Some(dev) = self.devices.get_mut(&to) else {
            return Delivery::Refused("no_such_device".into());
        };
        let last_valid = dev.numbers.get(&key).copied();
        let above = last_valid.map_or(true, |n| h.counter > n);
        let from = u32::from(h.source);
        if h.kind == SINGLE && plain == RESET_COMMAND {
            if from != CONTROLLER {
                return Delivery::Refused("not_allowed".into());
            }
            if reset_checked && !above {
                return Delivery::Refused("replay".into());
            }
            // Every number back to zero: the receiver's and the device's own counter.
            dev.numbers.clear();
            dev.partial = None;
            dev.counter = 0;
            dev.stored = 0;
            return Delivery::Accepted {
                from,
                payload: plain,
                signal: OrderSignal::default(),
            };
        }
        if !above {
            return Delivery::Refused("replay".into());
        }
        let expected = last_valid.map_or(0, |n| n.wrapping_add(1));
        let signal = OrderSignal {
            gap: Some(u64::from(h.counter.wrapping_sub(expected))),
            // Anything below the last number is refused, so nothing accepted is late.
            late: Some(false),
            fresh: None,
        };
        let message = match (h.kind, h.range) {
            (FIRST, Some((first, last))) => {
                if first != h.counter || last <= first || last - first >= MAX_PACKETS {
                    return Delivery::Refused("malformed".into());
                }
                dev.numbers.insert(key, h.counter);
                dev.partial = Some(Partial {
                    source: h.source,
                    last,
                    next: h.counter + 1,
                    data: plain,
                });
                return Delivery::Buffered;
            }
            (LATER, _) => {
                let Some(p) = dev.partial.as_mut().filter(|p| p.source == h.source) else {
                    return Delivery::Refused("no_message".into());
                };
                if h.counter > p.last {
                    return Delivery::Refused("not_in_message".into());
                }
                if h.counter != p.next {
                    // A gap inside the message: a packet was dropped, the message is lost.
                    dev.partial = None;
                    return Delivery::Refused("packet_missing".into());
                }
                dev.numbers.insert(key, h.counter);
                p.data.extend_from_slice(&plain);
                p.next = p.next.wrapping_add(1);
                if h.counter < p.last {
                    return Delivery::Buffered;
                }
                match dev.partial.take() {
                    Some(p) => p.data,
                    None => return Delivery::Refused("no_message".into()),
                }
            }
            _ => {
                dev.numbers.insert(key, h.counter);
                plain
            }
        };
        if !printable(&message) {
            return Delivery::Refused("bad_content".into());
        }
        Delivery::Accepted {
            from,
            payload: message,
            signal,
        }
    }

    fn advance(&mut self, _: u64) {}

    fn reboot(&mut self, device: DeviceId) {
        // Counter and stored numbers are in flash; a message in progress is lost with RAM.
        if let Some(d) = self.devices.get_mut(&device) {
            d.counter = d.stored;
            d.partial = None;
        }
    }

    fn lose_state(&mut self, device: DeviceId) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.numbers.clear();
            d.partial = None;
        }
    }

    fn exhaust(&mut self, device: DeviceId) -> Option<String> {
        let d = self.devices.get_mut(&device)?;
        d.counter = u32::MAX - 1;
        d.stored = d.counter;
        Some(format!(
            "device {device}'s 32-bit counter moved to 2^32 - 2 (after 2^32 - 1 it starts over at 0, as after a reset)"
        ))
    }

    fn remove_member(&mut self, member: DeviceId) -> String {
        self.removed.insert(member as u8);
        format!(
            "receivers deny-list link address {member}; the shared key cannot change without re-flashing every device"
        )
    }

    fn impersonate(&mut self, insider: DeviceId, claimed: DeviceId) -> Result<DeviceId, String> {
        if !self.devices.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.devices.insert(
            id,
            Device {
                link: claimed as u8,
                counter: ROGUE_COUNTER,
                stored: ROGUE_COUNTER,
                ..Device::default()
            },
        );
        Ok(id)
    }

    fn back_up(&mut self, device: DeviceId) {
        if let Some(d) = self.devices.get_mut(&device) {
            d.backup = d.stored;
        }
    }

    fn lose_sender_state(&mut self, device: DeviceId, loss: SenderLoss) -> Result<String, String> {
        let d = self
            .devices
            .get_mut(&device)
            .ok_or_else(|| format!("no device {device}"))?;
        match loss {
            SenderLoss::FactoryReset => {
                d.stored = 0;
                d.numbers.clear();
            }
            SenderLoss::RestoredBackup | SenderLoss::ImageRestore => d.stored = d.backup,
        }
        d.counter = d.stored;
        d.partial = None;
        Ok(format!(
            "device {device}: {}; it boots and counts on from {}",
            loss.describe(),
            d.counter
        ))
    }

    fn forge_plain(
        &mut self,
        insider: DeviceId,
        claimed: DeviceId,
        payload: &[u8],
    ) -> Result<(Vec<u8>, String), String> {
        if !self.devices.contains_key(&insider) {
            return Err(format!("no device {insider}"));
        }
        let id = self.next_rogue;
        self.next_rogue += 1;
        self.devices.insert(
            id,
            Device {
                link: claimed as u8,
                counter: u32::MAX,
                stored: u32::MAX,
                ..Device::default()
            },
        );
        let frame = self.seal_packet(id, SINGLE, None, payload);
        self.devices.remove(&id);
        Ok((frame?, "counter 2^32 - 1".into()))
    }

    fn dissect(&self, frame: &[u8]) -> Option<Dissected> {
        let h = parse(frame)?;
        Some(Dissected {
            sender: Some(u32::from(h.source)),
            header: 0..h.len,
            counter: 2..FIXED,
            body: h.len..frame.len() - TAG,
            tag: frame.len() - TAG..frame.len(),
            block: None,
        })
    }

    fn relabel(&self, frame: &[u8], sender: DeviceId) -> Option<Vec<u8>> {
        let mut f = frame.to_vec();
        *f.first_mut()? = u8::try_from(sender).ok()?;
        Some(f)
    }

    fn seal_reset(&mut self, from: DeviceId) -> Option<Result<Vec<u8>, String>> {
        let frame = self.seal_packet(from, SINGLE, None, RESET_COMMAND);
        if let (Ok(_), Some(d)) = (&frame, self.devices.get_mut(&from)) {
            d.counter = 0;
            d.stored = 0;
            d.numbers.clear();
            d.partial = None;
        }
        Some(frame)
    }
}
