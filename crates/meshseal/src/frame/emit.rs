//! Emitting headers: [`Repr`], a frame's validated meaning, and [`PlainHeader`], the header of
//! a plain group frame written without the extension fields.

use super::*;

/// The meaning of a frame's header: what a sender emits and a parser validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repr {
    /// Key epoch modulo 4.
    pub epoch_bits: u8,
    /// Sender id, `None` when the link layer supplies it.
    pub sender: Option<u32>,
    /// The carried sequence bits.
    pub seq: TruncatedSeq,
    /// Fragment position, for multi-fragment messages (long forms only).
    pub fragment: Option<Fragment>,
    /// What the frame is bound to (long forms only).
    pub binding: Binding,
    /// Coarse timestamp in the group's time unit (long forms only).
    pub time: Option<u16>,
    /// Repeat announcement for sleepy receivers (long forms only).
    pub repeat: Option<Repeat>,
    /// Who can have sealed it (long forms only for anything but [`Source::Group`]).
    pub source: Source,
    /// Ciphertext length (equal to the plaintext length).
    pub payload_len: usize,
}

impl Repr {
    /// Reads the meaning of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Repr {
        Repr {
            epoch_bits: frame.epoch_bits(),
            sender: frame.sender_id(),
            seq: frame.truncated_seq(),
            fragment: frame.fragment(),
            binding: frame.binding(),
            time: frame.time(),
            repeat: frame.repeat(),
            source: frame.source(),
            payload_len: frame.payload().len(),
        }
    }

    /// The header byte this representation emits.
    pub fn header_byte(&self) -> Result<u8, WireError> {
        self.header_byte_for(self.ext_byte())
    }

    /// [`Repr::header_byte`] with the extension byte already computed.
    #[inline]
    fn header_byte_for(&self, ext: u8) -> Result<u8, WireError> {
        let has_ext = ext != 0;
        let valid = self.epoch_bits < 4
            && self.seq.fits()
            && self.fragment.map_or(true, Fragment::is_valid)
            && !(has_ext && self.seq.form == SeqForm::Short)
            && !(self.fragment.is_some() && self.binding == Binding::Challenge)
            && self.repeat.map_or(true, |r| r.copies > 0);
        if !valid {
            return Err(WireError::FieldRange);
        }
        let e = self.epoch_bits << EPOCH_SHIFT;
        Ok(match self.seq.form {
            SeqForm::Short => e | self.seq.value as u8,
            SeqForm::Bytes(n) => e | LONG_BIT | if has_ext { EXT_BIT } else { 0 } | n,
        })
    }

    /// The fragment byte this representation emits (0 when not a fragment).
    pub fn fragment_byte(&self) -> u8 {
        self.fragment.map_or(0, Fragment::to_byte)
    }

    /// Whether the frame carries an extension byte (every extension sets a bit of it).
    pub fn has_ext(&self) -> bool {
        self.ext_byte() != 0
    }

    /// The extension byte this representation emits (0 when it has none).
    pub fn ext_byte(&self) -> u8 {
        let f = if self.fragment.is_some() {
            X_FRAGMENT
        } else {
            0
        };
        let t = if self.time.is_some() { X_TIME } else { 0 };
        let t = t | if self.repeat.is_some() { X_REPEAT } else { 0 };
        self.binding.bits() | f | t | self.source.bits()
    }

    /// Length of the header (everything before the ciphertext).
    pub fn header_len(&self) -> usize {
        self.header_len_for(self.ext_byte())
    }

    #[inline]
    fn header_len_for(&self, ext: u8) -> usize {
        1 + self.sender.map_or(0, varint_len)
            + self.seq.form.wire_len()
            + usize::from(ext != 0)
            + usize::from(self.fragment.is_some())
            + if self.time.is_some() { 2 } else { 0 }
            + if self.repeat.is_some() { 2 } else { 0 }
    }

    /// Length of the whole frame (saturating: an impossible length is `usize::MAX`, which no
    /// buffer holds).
    pub fn buffer_len(&self) -> usize {
        self.header_len()
            .saturating_add(self.payload_len)
            .saturating_add(TAG_LEN)
    }

    /// Writes the header into the start of `buf`; returns the header length.
    ///
    /// The ciphertext and tag are written by the caller after it. Fails, without panicking, when
    /// a field is out of range or `buf` is shorter than [`Repr::buffer_len`].
    pub fn emit_header(&self, buf: &mut [u8]) -> Result<usize, WireError> {
        let ext = self.ext_byte();
        let h = self.header_byte_for(ext)?;
        let hlen = self.header_len_for(ext);
        if buf.len()
            < hlen
                .saturating_add(self.payload_len)
                .saturating_add(TAG_LEN)
        {
            return Err(WireError::Truncated);
        }
        let mut at = emit_base(buf, h, self.sender, self.seq).ok_or(WireError::Truncated)?;
        if ext != 0 {
            buf[at] = ext;
            at += 1;
            if let Some(f) = self.fragment {
                buf[at] = f.to_byte();
                at += 1;
            }
            if let Some(t) = self.time {
                buf[at..at + 2].copy_from_slice(&t.to_be_bytes());
                at += 2;
            }
            if let Some(r) = self.repeat {
                buf[at] = r.copies;
                buf[at + 1] = r.window;
                at += 2;
            }
        }
        debug_assert_eq!(at, hlen);
        Ok(at)
    }
}

/// The header of a frame without extension byte (every plain group frame): what
/// [`Repr::emit_header`] writes for such a frame, without building and validating a whole
/// [`Repr`]. A sender's hot path uses it; a property test holds the two equal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainHeader {
    /// Key epoch modulo 4.
    pub epoch_bits: u8,
    /// Sender id, `None` when the link layer supplies it.
    pub sender: Option<u32>,
    /// The carried sequence bits.
    pub seq: TruncatedSeq,
}

impl PlainHeader {
    /// Length of the header.
    #[inline]
    pub fn len(&self) -> usize {
        1 + self.sender.map_or(0, varint_len) + self.seq.form.wire_len()
    }

    /// Always false: a header holds at least its header byte.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the header into the start of `buf` and returns its length and header byte;
    /// `None` if `buf` is shorter than the header (what fitted may have been written) or a
    /// field does not fit.
    #[inline]
    pub fn emit(&self, buf: &mut [u8]) -> Option<(usize, u8)> {
        let valid = self.epoch_bits < 4 && self.seq.fits();
        // The writes are checked: no separate length check (nor a second copy of the
        // varint length) is needed.
        if !valid {
            return None;
        }
        let e = self.epoch_bits << EPOCH_SHIFT;
        let h = match self.seq.form {
            SeqForm::Short => e | self.seq.value as u8,
            SeqForm::Bytes(n) => e | LONG_BIT | n,
        };
        Some((emit_base(buf, h, self.sender, self.seq)?, h))
    }
}

/// Writes the header byte, the sender id and the sequence bytes; returns the bytes written,
/// or `None` if `buf` is too short (callers check the length first; the checked writes keep
/// every panic path, and with it the formatting code a panic links, out of the firmware).
#[inline]
fn emit_base(buf: &mut [u8], h: u8, sender: Option<u32>, seq: TruncatedSeq) -> Option<usize> {
    *buf.first_mut()? = h;
    let mut at = 1;
    if let Some(mut id) = sender {
        // LEB128.
        while id >= 0x80 {
            *buf.get_mut(at)? = id as u8 | 0x80;
            id >>= 7;
            at += 1;
        }
        *buf.get_mut(at)? = id as u8;
        at += 1;
    }
    if let SeqForm::Bytes(n) = seq.form {
        // Big-endian, written from the last byte back.
        let (mut v, end) = (seq.value, at + usize::from(n));
        let mut i = end;
        while i > at {
            i -= 1;
            *buf.get_mut(i)? = v as u8;
            v >>= 8;
        }
        at = end;
    }
    Some(at)
}
