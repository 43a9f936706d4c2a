//! Messages larger than one frame: sealing them as up to 16 fragments, each a full AEAD frame
//! bound to its message (reassembly is [`crate::fragment`]).

use super::sender::Sender;
use super::shared::Ext;
use crate::counter::CounterStore;
use crate::crypto::AeadBackend;
use crate::frame::{Fragment, SeqForm, MAX_FRAGMENTS};
use crate::{Error, TAG_LEN};

impl<S: CounterStore, A: AeadBackend> Sender<S, A> {
    /// Seals `message` as one frame of at most `mtu` bytes, or as up to 16 fragments with
    /// consecutive sequence numbers, each a full AEAD frame bound to the message's first number,
    /// its fragment count and its index. Each frame is written into `scratch` (at least `mtu`
    /// bytes) and handed to `emit`. Returns the number of frames.
    ///
    /// All fragments but the last carry the same number of bytes. If sealing fails part way
    /// (e.g. the counter store fails), the frames already emitted form an incomplete message
    /// that receivers discard.
    pub fn seal_message(
        &mut self,
        message: &[u8],
        mtu: usize,
        scratch: &mut [u8],
        mut emit: impl FnMut(&[u8]),
    ) -> Result<usize, Error> {
        if scratch.len() < mtu {
            return Err(Error::BufferTooSmall);
        }
        if self.frame_len(message.len()) <= mtu {
            let n = self.seal(message, scratch)?;
            emit(&scratch[..n]);
            return Ok(1);
        }
        // One form for the whole message, wide enough for its last possible fragment; the full
        // form when the periodic full frame falls due anywhere inside the message, so that the
        // rule "a full number at least once per `full_every` frames" holds across messages.
        let mut form = match self.form_for(u64::from(MAX_FRAGMENTS) - 1) {
            SeqForm::Short => SeqForm::Bytes(1),
            f => f,
        };
        let (mut chunk, mut count) = self.split(message.len(), mtu, form)?;
        let due = self.len.since_full.saturating_add(count as u32) >= self.cfg.full_every;
        if !form.is_full() && due {
            form = SeqForm::FULL;
            (chunk, count) = self.split(message.len(), mtu, form)?;
        }
        if self.remaining() < count as u64 {
            return Err(Error::CounterExhausted);
        }
        for (i, part) in message.chunks(chunk).enumerate() {
            let ext = Ext {
                fragment: Some(Fragment {
                    index: i as u8,
                    count: count as u8,
                }),
                form: Some(form),
                ..Ext::NONE
            };
            let (n, _) = self.seal_ext(part, &ext, scratch)?;
            emit(&scratch[..n]);
        }
        Ok(count)
    }

    /// Fragment payload size and count for a message of `len` bytes in frames of `mtu` bytes.
    fn split(&self, len: usize, mtu: usize, form: SeqForm) -> Result<(usize, usize), Error> {
        let probe = Ext {
            fragment: Some(Fragment { index: 0, count: 2 }),
            form: Some(form),
            ..Ext::NONE
        };
        let header = self.repr(0, &probe).header_len();
        let chunk = mtu
            .checked_sub(header + TAG_LEN)
            .filter(|&c| c > 0)
            .ok_or(Error::BufferTooSmall)?;
        let count = len.div_ceil(chunk);
        if count > usize::from(MAX_FRAGMENTS) {
            return Err(Error::PayloadTooLarge);
        }
        Ok((chunk, count))
    }

    /// Seals one fragment of a multi-fragment message. Fragments of one message must be sealed
    /// in index order with nothing in between (their numbers are consecutive); prefer
    /// [`Sender::seal_message`].
    pub fn seal_fragment(
        &mut self,
        payload: &[u8],
        fragment: Fragment,
        out: &mut [u8],
    ) -> Result<usize, Error> {
        let ext = Ext {
            fragment: Some(fragment),
            ..Ext::NONE
        };
        self.seal_ext(payload, &ext, out).map(|(n, _)| n)
    }
}
