//! A recipient's replay state across a reboot: [`meshseal_recipient_save`] writes its windows
//! and the repeated frames it still expects copies of into a byte record the firmware keeps in
//! flash, and [`meshseal_recipient_restore`] puts them back into a freshly initialized
//! recipient, so a device that reboots does not treat every peer as unknown.
//!
//! The record (little-endian): magic `"MSR1"`, group id (u32), epoch (u16), window count (u8),
//! repeat count (u8); per window 24 bytes: sender (u32), lane (u8: 0 group, 1 source), flags
//! (u8: bit 0 verified, bit 1 a highest number is held), window epoch (u16), highest (u64),
//! bitmap (u64); per tracked repeat 16 bytes: sender (u32), sequence number (u64), copies left
//! (u8), has end (u8), window end (u16). A record is refused whole (`MALFORMED`) unless every
//! byte of it parses, and (`INVALID_CONFIG`) when it belongs to another group or epoch.
//!
//! Freshness after a restore. A record restored with [`MESHSEAL_RESTORE_EXACT`] must be the
//! state after the last frame the device accepted (saved after every accepted frame, before
//! acting on it, or at an orderly shutdown): an older record would accept again the frames of
//! the gap. [`MESHSEAL_RESTORE_UNVERIFIED`] takes a record of any age: frames at or below a
//! saved number stay refused, later ones are accepted with unknown freshness until the peer is
//! verified again (a challenge), so actuation is not replayed from the gap.

use meshseal::replay::{Lane, ReplayStore, ReplayWindow, WindowKey};
use meshseal::FrameId;

use crate::raw::{bytes, bytes_mut, context, put, Checked};
use crate::{run, size_t, MeshsealRecipient, MeshsealResult, RecipientImpl, MESHSEAL_PEERS};

/// Restore a record as saved: it holds the state after the last accepted frame.
pub const MESHSEAL_RESTORE_EXACT: u8 = 0;
/// Restore a record of any age: every window unverified (see the module documentation).
pub const MESHSEAL_RESTORE_UNVERIFIED: u8 = 1;

const MAGIC: [u8; 4] = *b"MSR1";
const HEAD: usize = 12;
const WINDOW: usize = 24;
const REPEAT: usize = 16;
/// Repeats a record may carry: a full build's `TRACKED_REPEATS`. A build without the `repeats`
/// feature reads such a record and drops its repeats.
const MAX_REPEATS: usize = 4;

/// Bytes of the largest record: every window of the table and every tracked repeat.
pub const MESHSEAL_STATE_MAX: usize = 460;
const _: () = assert!(MESHSEAL_STATE_MAX == HEAD + MESHSEAL_PEERS * WINDOW + MAX_REPEATS * REPEAT);
// Trivially true without the `repeats` feature (no repeats tracked).
#[allow(clippy::absurd_extreme_comparisons)]
const _: () = assert!(meshseal::context::TRACKED_REPEATS <= MAX_REPEATS);

/// Writes `rx`'s replay state into `out` (`cap` bytes, [`MESHSEAL_STATE_MAX`] always suffice)
/// and its length into `*out_len`. Keep it where it survives power loss; restore it with
/// [`meshseal_recipient_restore`].
///
/// # Safety
/// `rx` points to an initialized recipient; `out` to `cap` writable bytes; `out_len` to a
/// writable `size_t`.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_save(
    rx: *mut MeshsealRecipient,
    out: *mut u8,
    cap: size_t,
    out_len: *mut size_t,
) -> MeshsealResult {
    run(|| {
        // SAFETY: forwarded from this function's contract.
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        // SAFETY: forwarded from this function's contract.
        let out = unsafe { bytes_mut(out, cap)? };
        let n = save(rx, out)?;
        // SAFETY: forwarded from this function's contract.
        unsafe { put(out_len, n) }
    })
}

fn save(rx: &RecipientImpl, out: &mut [u8]) -> Checked<size_t> {
    let windows = rx.replay_store().iter().count();
    let repeats = rx.tracked_repeats().count();
    let len = HEAD + windows * WINDOW + repeats * REPEAT;
    let out = out.get_mut(..len).ok_or(MeshsealResult::BufferTooSmall)?;
    let keys = rx.keys();
    out[..4].copy_from_slice(&MAGIC);
    out[4..8].copy_from_slice(&keys.group_id().to_le_bytes());
    out[8..10].copy_from_slice(&keys.epoch().to_le_bytes());
    // Both fit: the table holds MESHSEAL_PEERS windows, the ring TRACKED_REPEATS repeats.
    out[10] = windows as u8;
    out[11] = repeats as u8;
    let (mut w, rest) = out[HEAD..].split_at_mut(windows * WINDOW);
    for (key, win) in rx.replay_store().iter() {
        let (highest, verified, [bitmap]) = win.to_parts();
        let (rec, tail) = w.split_at_mut(WINDOW);
        rec[..4].copy_from_slice(&key.sender.to_le_bytes());
        rec[4] = u8::from(key.lane == Lane::Source);
        rec[5] = u8::from(verified) | u8::from(highest.is_some()) << 1;
        rec[6..8].copy_from_slice(&win.epoch().to_le_bytes());
        rec[8..16].copy_from_slice(&highest.unwrap_or(0).to_le_bytes());
        rec[16..24].copy_from_slice(&bitmap.to_le_bytes());
        w = tail;
    }
    for ((id, left, end), rec) in rx.tracked_repeats().zip(rest.chunks_exact_mut(REPEAT)) {
        rec[..4].copy_from_slice(&id.sender.to_le_bytes());
        rec[4..12].copy_from_slice(&id.seq.to_le_bytes());
        rec[12] = left;
        rec[13] = u8::from(end.is_some());
        rec[14..16].copy_from_slice(&end.unwrap_or(0).to_le_bytes());
    }
    Ok(len)
}

/// Restores a record saved by [`meshseal_recipient_save`] into `rx`, a recipient initialized
/// with the same group and epoch that has opened nothing yet. `mode` is
/// [`MESHSEAL_RESTORE_EXACT`] or [`MESHSEAL_RESTORE_UNVERIFIED`]. A record that does not
/// parse, or that belongs to another group or epoch, is refused and nothing is restored.
///
/// # Safety
/// `rx` points to an initialized recipient; `state` to `len` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn meshseal_recipient_restore(
    rx: *mut MeshsealRecipient,
    state: *const u8,
    len: size_t,
    mode: u8,
) -> MeshsealResult {
    run(|| {
        let unverified = match mode {
            MESHSEAL_RESTORE_EXACT => false,
            MESHSEAL_RESTORE_UNVERIFIED => true,
            _ => return Err(MeshsealResult::BadArgument),
        };
        // SAFETY: forwarded from this function's contract.
        let rx = unsafe { context::<RecipientImpl, _>(rx)? };
        // SAFETY: forwarded from this function's contract.
        let state = unsafe { bytes(state, len)? };
        let record = Record::parse(state)?;
        let keys = rx.keys();
        if (record.group_id, record.epoch) != (keys.group_id(), keys.epoch()) {
            return Err(MeshsealResult::InvalidConfig);
        }
        // Everything parsed before anything is written: a refused record restores nothing.
        for i in 0..record.windows {
            let (key, win) = record.window(i, unverified)?;
            rx.replay_store_mut().insert(key, win);
        }
        for i in 0..record.repeats {
            let (id, left, end) = record.repeat(i);
            rx.restore_repeat(id, left, end);
        }
        Ok(())
    })
}

/// A record, checked for its length and magic.
struct Record<'a> {
    group_id: u32,
    epoch: u16,
    windows: usize,
    repeats: usize,
    body: &'a [u8],
}

fn le_u16(b: &[u8]) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&b[..2]);
    u16::from_le_bytes(a)
}

fn le_u32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

fn le_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl<'a> Record<'a> {
    fn parse(b: &'a [u8]) -> Checked<Self> {
        let malformed = MeshsealResult::Malformed;
        if b.len() < HEAD || b[..4] != MAGIC {
            return Err(malformed);
        }
        let (windows, repeats) = (usize::from(b[10]), usize::from(b[11]));
        if windows > MESHSEAL_PEERS
            || repeats > MAX_REPEATS
            || b.len() != HEAD + windows * WINDOW + repeats * REPEAT
        {
            return Err(malformed);
        }
        let r = Record {
            group_id: le_u32(&b[4..]),
            epoch: le_u16(&b[8..]),
            windows,
            repeats,
            body: &b[HEAD..],
        };
        // Check every window now, so a restore never stops half-way.
        for i in 0..windows {
            r.window(i, false)?;
        }
        for i in 0..repeats {
            let rec = &r.body[windows * WINDOW + i * REPEAT..][..REPEAT];
            if rec[13] > 1 || (rec[13] == 0 && rec[14..16] != [0, 0]) {
                return Err(malformed);
            }
        }
        Ok(r)
    }

    fn window(&self, i: usize, unverified: bool) -> Checked<(WindowKey, ReplayWindow)> {
        let rec = &self.body[i * WINDOW..][..WINDOW];
        let lane = match rec[4] {
            0 => Lane::Group,
            1 => Lane::Source,
            _ => return Err(MeshsealResult::Malformed),
        };
        let flags = rec[5];
        if flags > 3 {
            return Err(MeshsealResult::Malformed);
        }
        let highest = (flags & 2 != 0).then(|| le_u64(&rec[8..]));
        let verified = flags & 1 != 0 && !unverified;
        let win = ReplayWindow::from_parts(highest, verified, [le_u64(&rec[16..])])
            .map_err(|_| MeshsealResult::Malformed)?
            .in_epoch(le_u16(&rec[6..]));
        Ok((
            WindowKey {
                sender: le_u32(rec),
                lane,
            },
            win,
        ))
    }

    fn repeat(&self, i: usize) -> (FrameId, u8, Option<u16>) {
        let rec = &self.body[self.windows * WINDOW + i * REPEAT..][..REPEAT];
        (
            FrameId {
                sender: le_u32(rec),
                seq: le_u64(&rec[4..]),
            },
            rec[12],
            (rec[13] == 1).then(|| le_u16(&rec[14..])),
        )
    }
}
