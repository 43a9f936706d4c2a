//! Tests of the wire layer: parsing, emitting and their agreement.

use super::*;

// Long form, epoch 1, 2 seq bytes, sender 300, seq 0x0102, payload "hi", tag 8 x 0xaa.
static FRAME: [u8; 15] = [
    0x32, 0xac, 0x02, 0x01, 0x02, b'h', b'i', 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa, 0xaa,
];

fn repr() -> Repr {
    Repr {
        epoch_bits: 1,
        sender: Some(300),
        seq: TruncatedSeq {
            value: 0x0102,
            form: SeqForm::Bytes(2),
        },
        fragment: None,
        binding: Binding::None,
        time: None,
        repeat: None,
        source: Source::Group,
        payload_len: 2,
    }
}

#[test]
fn test_deconstruct() {
    let f = Frame::new_checked(&FRAME[..], SenderIdMode::Explicit).unwrap();
    assert_eq!(f.epoch_bits(), 1);
    assert_eq!(f.sender_id(), Some(300));
    assert_eq!(
        f.truncated_seq(),
        TruncatedSeq {
            value: 0x0102,
            form: SeqForm::Bytes(2)
        }
    );
    assert_eq!(f.fragment(), None);
    assert_eq!(f.header_len(), 5);
    assert_eq!(f.payload(), b"hi");
    assert_eq!(f.tag(), [0xaa; 8]);
}

#[test]
fn test_construct() {
    let mut buf = [0u8; 15];
    let r = repr();
    let n = r.emit_header(&mut buf).unwrap();
    buf[n..n + 2].copy_from_slice(b"hi");
    buf[n + 2..].copy_from_slice(&[0xaa; 8]);
    assert_eq!(buf, FRAME);
}

#[test]
fn test_parse() {
    let f = Frame::new_checked(&FRAME[..], SenderIdMode::Explicit).unwrap();
    assert_eq!(Repr::parse(&f), repr());
}

#[test]
fn test_emit_sizes() {
    let r = repr();
    assert_eq!(r.header_len(), 5);
    assert_eq!(r.buffer_len(), FRAME.len());
    let mut small = [0u8; 14];
    assert_eq!(r.emit_header(&mut small), Err(WireError::Truncated));
}

#[test]
fn short_form_steady_overhead() {
    let r = Repr {
        epoch_bits: 0,
        sender: Some(5),
        seq: TruncatedSeq::of(0x0012_3456_789a, SeqForm::Short),
        fragment: None,
        binding: Binding::None,
        time: None,
        repeat: None,
        source: Source::Group,
        payload_len: 4,
    };
    assert_eq!(r.buffer_len() - 4, 10);
    assert_eq!(r.header_byte().unwrap(), 0x0a);
    let implicit = Repr { sender: None, ..r };
    assert_eq!(implicit.buffer_len() - 4, 9);
}

#[test]
fn fragment_byte_round_trip() {
    let r = Repr {
        epoch_bits: 3,
        sender: Some(1),
        seq: TruncatedSeq::of(77, SeqForm::Bytes(1)),
        fragment: Some(Fragment { index: 2, count: 5 }),
        binding: Binding::Response,
        time: None,
        repeat: None,
        source: Source::Group,
        payload_len: 0,
    };
    let mut buf = [0u8; 32];
    let n = r.emit_header(&mut buf).unwrap();
    assert_eq!(&buf[..n], &[0x79, 0x01, 77, 0xc0, 0x24]);
    let f = Frame::new_checked(&buf[..r.buffer_len()], SenderIdMode::Explicit).unwrap();
    assert_eq!(Repr::parse(&f), r);
    assert_eq!(f.fragment_byte(), 0x24);
}

#[test]
fn refusals() {
    let e = |b: &[u8]| Frame::new_checked(b, SenderIdMode::Explicit).unwrap_err();
    assert_eq!(e(&[]), WireError::Truncated);
    assert_eq!(e(&[0x80; 20]), WireError::UnsupportedVersion);
    assert_eq!(
        e(&[0x10, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        WireError::ReservedLength
    );
    assert_eq!(
        e(&[0x16, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        WireError::ReservedLength
    );
    assert_eq!(
        e(&[0x00, 0x81, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]),
        WireError::NonCanonicalSender
    );
    assert_eq!(
        e(&[0x00, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0]),
        WireError::SenderOverflow
    );
    assert_eq!(
        e(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0]),
        WireError::SenderOverflow
    );
    assert_eq!(e(&[0x00, 0xff, 0xff]), WireError::Truncated);
    // Header and sender present but one byte short of the tag.
    assert_eq!(e(&[0x00, 0x01, 0, 0, 0, 0, 0, 0, 0]), WireError::Truncated);
    // Fragment index 3 of a 2-fragment message.
    assert_eq!(
        e(&[0x19, 0x01, 0x05, 0x80, 0x31, 0, 0, 0, 0, 0, 0, 0, 0]),
        WireError::FragmentIndex
    );
}

#[test]
fn absurd_payload_length_is_refused_not_overflowed() {
    let r = Repr {
        payload_len: usize::MAX,
        ..repr()
    };
    let mut buf = [0u8; 16];
    assert_eq!(r.emit_header(&mut buf), Err(WireError::Truncated));
}

#[test]
fn extension_byte_rules() {
    // Long form, 1 seq byte, X set: header 0x19, sender 1, seq 5, then the extension byte.
    let with_ext = |x: u8| {
        let mut b = [0u8; 14];
        b[..4].copy_from_slice(&[0x19, 0x01, 0x05, x]);
        Frame::new_checked(b, SenderIdMode::Explicit).map(|f| (f.binding(), f.fragment(), f.time()))
    };
    for bad in [0x00, 0x06, 0x60, 0x50, 0x30, 0x90, 0x87] {
        assert_eq!(
            with_ext(bad).unwrap_err(),
            WireError::BadExtension,
            "{bad:#04x}"
        );
    }
    assert_eq!(with_ext(0x40).unwrap(), (Binding::Response, None, None));
    assert_eq!(with_ext(0x20).unwrap(), (Binding::Echo, None, None));
    assert_eq!(with_ext(0x10).unwrap(), (Binding::Challenge, None, None));
    assert_eq!(with_ext(0x08).unwrap(), (Binding::None, None, Some(0)));
    let source = |x: u8| {
        let mut b = [0u8; 14];
        b[..4].copy_from_slice(&[0x19, 0x01, 0x05, x]);
        Frame::new_checked(b, SenderIdMode::Explicit).map(|f| f.source())
    };
    assert_eq!(source(0x04), Ok(Source::Pairwise));
    assert_eq!(source(0x02), Ok(Source::Signed));
    assert_eq!(source(0x44), Ok(Source::Pairwise));
    assert_eq!(source(0x40), Ok(Source::Group));
    // Repeat: two bytes after the timestamp, at least one copy.
    let repeat = |x: u8, tail: &[u8]| {
        let mut b = [0u8; 18];
        b[..4].copy_from_slice(&[0x19, 0x01, 0x05, x]);
        b[4..4 + tail.len()].copy_from_slice(tail);
        Frame::new_checked(b, SenderIdMode::Explicit)
            .map(|f| (f.time(), f.repeat(), f.header_len()))
    };
    assert_eq!(repeat(0x01, &[0, 30]), Err(WireError::BadExtension));
    assert_eq!(
        repeat(0x01, &[5, 30]),
        Ok((
            None,
            Some(Repeat {
                copies: 5,
                window: 30
            }),
            6
        ))
    );
    assert_eq!(
        repeat(0x09, &[0x03, 0xe8, 5, 30]),
        Ok((
            Some(1000),
            Some(Repeat {
                copies: 5,
                window: 30
            }),
            8
        ))
    );
    assert_eq!(
        with_ext(0x80).unwrap(),
        (Binding::None, Some(Fragment { index: 0, count: 1 }), None)
    );
    // Extension byte missing entirely.
    let short = [0x19, 0x01, 0x05];
    assert_eq!(
        Frame::new_checked(&short[..], SenderIdMode::Explicit).unwrap_err(),
        WireError::Truncated
    );
}

#[test]
fn varint_edges() {
    for v in [
        0u32,
        1,
        127,
        128,
        16383,
        16384,
        0x1f_ffff,
        0x20_0000,
        0x0fff_ffff,
        0x1000_0000,
        u32::MAX,
    ] {
        let mut b = [0u8; 5];
        let n = put_varint(v, &mut b).unwrap();
        assert_eq!(n, varint_len(v));
        assert_eq!(get_varint(&b[..n]), Ok((v, n)));
    }
}

/// LEB128 decoding over 64 bits, as a reference for the 32-bit decoder.
fn get_varint_model(bytes: &[u8]) -> Result<(u32, usize), WireError> {
    let mut v: u64 = 0;
    for (i, &b) in bytes.iter().enumerate().take(MAX_SENDER_LEN) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if i > 0 && b == 0 {
                return Err(WireError::NonCanonicalSender);
            }
            let v = u32::try_from(v).map_err(|_| WireError::SenderOverflow)?;
            return Ok((v, i + 1));
        }
    }
    if bytes.len() < MAX_SENDER_LEN {
        Err(WireError::Truncated)
    } else {
        Err(WireError::SenderOverflow)
    }
}

#[test]
fn varint_decoding_agrees_with_the_64_bit_model() {
    // Every fifth byte after four continuation bytes, with every earlier byte at its edges.
    for last in 0..=255u8 {
        for fill in [0x80u8, 0x81, 0xff] {
            let b = [fill, fill, fill, fill, last, 0];
            for n in 0..=b.len() {
                assert_eq!(
                    get_varint(&b[..n]),
                    get_varint_model(&b[..n]),
                    "{:02x?}",
                    &b[..n]
                );
            }
        }
    }
}

proptest::proptest! {
    #[test]
    fn varint_decoding_agrees_with_the_model_on_any_bytes(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..8)) {
        proptest::prop_assert_eq!(get_varint(&b), get_varint_model(&b));
    }
}

#[test]
fn emit_refuses_out_of_range() {
    let mut buf = [0u8; 64];
    let bad = [
        Repr {
            epoch_bits: 4,
            ..repr()
        },
        Repr {
            seq: TruncatedSeq {
                value: 16,
                form: SeqForm::Short,
            },
            ..repr()
        },
        Repr {
            seq: TruncatedSeq {
                value: 0,
                form: SeqForm::Bytes(6),
            },
            ..repr()
        },
        Repr {
            seq: TruncatedSeq {
                value: 256,
                form: SeqForm::Bytes(1),
            },
            ..repr()
        },
        Repr {
            fragment: Some(Fragment { index: 2, count: 2 }),
            ..repr()
        },
        Repr {
            fragment: Some(Fragment {
                index: 0,
                count: 17,
            }),
            ..repr()
        },
        Repr {
            seq: TruncatedSeq {
                value: 1,
                form: SeqForm::Short,
            },
            fragment: Some(Fragment { index: 0, count: 2 }),
            ..repr()
        },
    ];
    for r in bad {
        assert_eq!(r.emit_header(&mut buf), Err(WireError::FieldRange), "{r:?}");
    }
}
