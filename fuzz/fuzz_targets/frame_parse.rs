//! `frame_parse`: the wire layer is total and its encoding is canonical.
//!
//! Input: the first byte picks the [`SenderIdMode`] (low bit 0 = explicit, 1 = implicit); the
//! rest is offered to [`Frame::new_checked`]. Checked:
//! - `new_checked` never panics, whatever the bytes;
//! - on success every accessor runs without panicking and agrees with the raw bytes (header,
//!   epoch bits, sender id presence, sequence bits in range, extension byte, binding,
//!   coarse time, fragment byte, payload, tag);
//! - `Repr::parse` of the frame re-emitted with `Repr::emit_header` into a buffer of
//!   `repr.buffer_len()` bytes gives exactly the input's first `frame.header_len()` bytes (one
//!   encoding per meaning), and `repr.buffer_len() == input.len()`;
//! - the rebuilt frame (emitted header + input payload and tag) parses to the same `Repr`,
//!   and dropping the last byte is refused exactly when the payload was empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshseal::frame::{Binding, Frame, Repr, SenderIdMode, SeqForm};
use meshseal::TAG_LEN;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let mode = if selector & 1 == 0 {
        SenderIdMode::Explicit
    } else {
        SenderIdMode::Implicit
    };
    let Ok(frame) = Frame::new_checked(input, mode) else {
        return;
    };

    // Every accessor, checked against the raw bytes.
    let header = frame.header();
    assert_eq!(header, input[0]);
    assert_eq!(header & 0x80, 0, "a checked frame is v1");
    let epoch = frame.epoch_bits();
    assert!(epoch < 4);
    assert_eq!(epoch, (header >> 5) & 3);
    let sender = frame.sender_id();
    assert_eq!(sender.is_some(), mode == SenderIdMode::Explicit);
    let seq = frame.truncated_seq();
    match seq.form {
        SeqForm::Short => assert_eq!(header & 0x10, 0),
        SeqForm::Bytes(n) => {
            assert_ne!(header & 0x10, 0);
            assert!((1..=5).contains(&n));
        }
    }
    assert!(
        seq.form.bits() >= 64 || seq.value >> seq.form.bits() == 0,
        "{seq:?}"
    );
    let ext = frame.ext_byte();
    let binding = frame.binding();
    let time = frame.time();
    if header & 0x18 == 0x18 {
        // Long form with X set: an extension byte is present and never 0. Its other bits are
        // checked by the canonical round trip below.
        assert_ne!(ext, 0);
    } else {
        assert_eq!(ext, 0);
        assert_eq!(binding, Binding::None);
        assert_eq!(time, None);
    }
    let fragment = frame.fragment();
    let fragment_byte = frame.fragment_byte();
    assert_eq!(fragment.is_some(), ext & 0x80 != 0);
    if binding == Binding::Challenge {
        assert!(fragment.is_none(), "a challenge is never a fragment");
    }
    match fragment {
        Some(f) => {
            assert!(f.count >= 1 && f.count <= 16 && f.index < f.count, "{f:?}");
            assert_eq!(fragment_byte, (f.index << 4) | (f.count - 1));
        }
        None => assert_eq!(fragment_byte, 0),
    }
    let header_len = frame.header_len();
    assert!(header_len >= 1 && header_len + TAG_LEN <= input.len());
    let payload = frame.payload();
    assert_eq!(payload, &input[header_len..input.len() - TAG_LEN]);
    let tag = frame.tag();
    assert_eq!(&tag[..], &input[input.len() - TAG_LEN..]);
    assert_eq!(frame.bytes(), input);
    assert_eq!(frame.clone().into_inner(), input);

    // The meaning, and its canonical re-encoding.
    let repr = Repr::parse(&frame);
    assert_eq!(repr.epoch_bits, epoch);
    assert_eq!(repr.sender, sender);
    assert_eq!(repr.seq, seq);
    assert_eq!(repr.fragment, fragment);
    assert_eq!(repr.binding, binding);
    assert_eq!(repr.time, time);
    assert_eq!(repr.has_ext(), ext != 0);
    assert_eq!(repr.ext_byte(), ext);
    assert_eq!(repr.payload_len, payload.len());
    assert_eq!(repr.header_byte(), Ok(header));
    assert_eq!(repr.fragment_byte(), fragment_byte);
    assert_eq!(repr.header_len(), header_len);
    assert_eq!(repr.buffer_len(), input.len());

    let mut out = vec![0u8; repr.buffer_len()];
    let emitted = repr.emit_header(&mut out).expect("a parsed Repr must emit");
    assert_eq!(emitted, header_len);
    assert_eq!(
        &out[..emitted],
        &input[..header_len],
        "non-canonical header: {repr:?}"
    );
    assert!(
        out[emitted..].iter().all(|&b| b == 0),
        "emit_header wrote past the header"
    );

    // The rebuilt frame reads back as the same meaning.
    out[emitted..].copy_from_slice(&input[header_len..]);
    let again = Frame::new_checked(&out[..], mode).expect("an emitted frame must parse");
    assert_eq!(Repr::parse(&again), repr);

    // One byte shorter: refused when the payload was empty (the tag is mandatory), otherwise
    // the same header with a payload one byte shorter.
    let shorter = Frame::new_checked(&input[..input.len() - 1], mode);
    if payload.is_empty() {
        assert!(shorter.is_err());
    } else {
        let shorter =
            shorter.expect("dropping a byte of a non-empty payload keeps the frame valid");
        assert_eq!(
            Repr::parse(&shorter),
            Repr {
                payload_len: repr.payload_len - 1,
                ..repr
            }
        );
    }
});
