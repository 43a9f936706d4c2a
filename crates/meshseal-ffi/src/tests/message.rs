//! Messages over several frames through the C API: sealed as fragments through the emit
//! callback, delivered whole and only whole by the reassembler, in any order.

use std::vec;

use super::*;

unsafe extern "C" fn collect(user: *mut c_void, frame: *const u8, len: size_t) {
    // SAFETY: the tests pass a `Vec<Vec<u8>>` as `user`; the library a valid frame.
    let (frames, frame) = unsafe {
        (
            &mut *user.cast::<Vec<Vec<u8>>>(),
            core::slice::from_raw_parts(frame, len),
        )
    };
    frames.push(frame.to_vec());
}

fn seal_message(m: &mut Member, message: &[u8], mtu: usize) -> Checked<Vec<Vec<u8>>> {
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut scratch = [0u8; 128];
    let mut n = usize::MAX;
    // SAFETY: an initialized sender, live buffers and a live collector.
    let r = unsafe {
        meshseal_seal_message(
            m.tx(),
            message.as_ptr(),
            message.len(),
            mtu,
            scratch.as_mut_ptr(),
            scratch.len(),
            Some(collect),
            (&mut frames as *mut Vec<Vec<u8>>).cast(),
            &mut n,
        )
    };
    match r {
        MeshsealResult::Ok => {
            assert_eq!(n, frames.len());
            Ok(frames)
        }
        e => Err(e),
    }
}

struct Receiver {
    m: Member,
    re: Box<MeshsealReassembler>,
}

impl Receiver {
    fn new() -> Self {
        let mut re = Box::new(MeshsealReassembler {
            opaque: [0; MESHSEAL_REASSEMBLER_WORDS],
        });
        // SAFETY: a boxed block.
        let r = unsafe { meshseal_reassembler_init(&mut *re, 100) };
        assert_eq!(r, MeshsealResult::Ok);
        Receiver {
            m: Member::new(2),
            re,
        }
    }

    /// Opens one frame: the delivered message, if any.
    fn open(&mut self, frame: &[u8], cap: usize) -> Checked<Option<(MeshsealOpened, Vec<u8>)>> {
        let mut buf = frame.to_vec();
        let mut msg = vec![0u8; cap];
        let (mut o, mut len, mut done) = (MeshsealOpened::default(), usize::MAX, 9u8);
        // SAFETY: initialized contexts and live, disjoint buffers.
        let r = unsafe {
            meshseal_open_message(
                self.m.rx(),
                &mut *self.re,
                buf.as_mut_ptr(),
                buf.len(),
                core::ptr::null(),
                1,
                &mut o,
                msg.as_mut_ptr(),
                msg.len(),
                &mut len,
                &mut done,
            )
        };
        match r {
            MeshsealResult::Ok if done == 1 => Ok(Some((o, msg[..len].to_vec()))),
            MeshsealResult::Ok => {
                assert_eq!((done, len), (0, 0));
                Ok(None)
            }
            e => Err(e),
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        // SAFETY: a reassembler this receiver initialized.
        unsafe { meshseal_reassembler_clear(&mut *self.re) };
    }
}

fn message(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

#[test]
fn a_message_is_delivered_whole_once_every_fragment_verified() {
    let mut tx = Member::new(1);
    let text = message(300);
    let frames = seal_message(&mut tx, &text, 64).unwrap();
    assert!(frames.len() > 4 && frames.iter().all(|f| f.len() <= 64));
    // In reverse order: nothing until the last one arrives.
    let mut rx = Receiver::new();
    let mut delivered = None;
    for (i, f) in frames.iter().enumerate().rev() {
        let got = rx.open(f, MESHSEAL_MESSAGE_MAX).unwrap();
        if i > 0 {
            assert!(got.is_none(), "delivered before fragment {i} arrived");
        } else {
            delivered = got;
        }
    }
    let (o, payload) = delivered.expect("the whole message");
    assert_eq!(payload, text);
    assert_eq!(o.sender, 1);
    assert_eq!(o.fragment_count as usize, frames.len());
    // A fragment again is a replay, and delivers nothing.
    assert_eq!(
        rx.open(&frames[1], MESHSEAL_MESSAGE_MAX).err(),
        Some(MeshsealResult::Replay)
    );
    // A short message is one frame and is delivered at once.
    let one = seal_message(&mut tx, b"lamp on", 64).unwrap();
    assert_eq!(one.len(), 1);
    let (_, payload) = rx.open(&one[0], MESHSEAL_MESSAGE_MAX).unwrap().unwrap();
    assert_eq!(payload, b"lamp on");
}

#[test]
fn a_missing_or_spliced_fragment_delivers_nothing() {
    let mut tx = Member::new(1);
    let (a, b) = (message(200), message(201));
    let fa = seal_message(&mut tx, &a, 64).unwrap();
    let fb = seal_message(&mut tx, &b, 64).unwrap();
    let mut rx = Receiver::new();
    // All of a but its last fragment, then all of b but its first: neither is complete, and
    // no mix of the two is ever delivered.
    for f in fa[..fa.len() - 1].iter().chain(&fb[1..]) {
        assert!(matches!(rx.open(f, MESHSEAL_MESSAGE_MAX), Ok(None)));
    }
    // The missing ones complete each message, each whole.
    let (_, got_a) = rx
        .open(&fa[fa.len() - 1], MESHSEAL_MESSAGE_MAX)
        .unwrap()
        .unwrap();
    assert_eq!(got_a, a);
    let (_, got_b) = rx.open(&fb[0], MESHSEAL_MESSAGE_MAX).unwrap().unwrap();
    assert_eq!(got_b, b);
}

#[test]
fn message_misuse_is_refused_before_anything_is_used() {
    let mut tx = Member::new(1);
    let frames = seal_message(&mut tx, &message(100), 64).unwrap();
    let mut rx = Receiver::new();
    // Too small a message buffer: refused before the frame is opened, which then still opens.
    assert_eq!(
        rx.open(&frames[0], 64).err(),
        Some(MeshsealResult::BufferTooSmall)
    );
    assert!(matches!(
        rx.open(&frames[0], MESHSEAL_MESSAGE_MAX),
        Ok(None)
    ));
    // More than 16 fragments: refused, no number used.
    let before = tx.next();
    assert_eq!(
        seal_message(&mut tx, &message(1000), 40).err(),
        Some(MeshsealResult::PayloadTooLarge)
    );
    assert_eq!(tx.next(), before);
    // A null emit callback, and an uninitialized reassembler.
    let mut scratch = [0u8; 64];
    // SAFETY: live locals; the null callback is refused before use.
    let r = unsafe {
        meshseal_seal_message(
            tx.tx(),
            b"x".as_ptr(),
            1,
            64,
            scratch.as_mut_ptr(),
            64,
            None,
            core::ptr::null_mut(),
            core::ptr::null_mut(),
        )
    };
    assert_eq!(r, MeshsealResult::NullPointer);
    let mut empty = Box::new(MeshsealReassembler {
        opaque: [0; MESHSEAL_REASSEMBLER_WORDS],
    });
    let mut buf = frames[1].clone();
    let (mut o, mut len, mut done) = (MeshsealOpened::default(), 0usize, 0u8);
    let mut msg = vec![0u8; MESHSEAL_MESSAGE_MAX];
    // SAFETY: live locals; the uninitialized reassembler is refused before use.
    let r = unsafe {
        meshseal_open_message(
            rx.m.rx(),
            &mut *empty,
            buf.as_mut_ptr(),
            buf.len(),
            core::ptr::null(),
            1,
            &mut o,
            msg.as_mut_ptr(),
            msg.len(),
            &mut len,
            &mut done,
        )
    };
    assert_eq!(r, MeshsealResult::NotInitialized);
}
