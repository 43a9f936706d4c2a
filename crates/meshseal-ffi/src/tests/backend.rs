//! Header privacy and the platform AEAD through the C API: private frames open and refuse
//! every single-bit change, a platform's callbacks seal the same frames the software AEAD
//! seals, and a platform failure is refused as `BACKEND`, never released.

use core::cell::Cell;

use meshseal::AeadBackend;

use super::*;

const SECRET: [u8; 32] = [0x42; 32];

fn derived(privacy: u8) -> MeshsealKeys {
    let mut k = group_keys(0);
    // SAFETY: a live secret and a local output.
    let r = unsafe {
        meshseal_derive_with(
            SECRET.as_ptr(),
            SECRET.len(),
            core::ptr::null(),
            0,
            1,
            0,
            privacy,
            &mut k,
        )
    };
    assert_eq!(r, MeshsealResult::Ok);
    k
}

/// A platform engine: RustCrypto behind the C callbacks, counting calls, failing on demand.
struct Engine {
    ccm: meshseal::RustCryptoCcm,
    mask: Option<meshseal::privacy::Private<meshseal::RustCryptoCcm>>,
    calls: Cell<u32>,
    fail: Cell<bool>,
}

impl Engine {
    fn new(k: &MeshsealKeys) -> Box<Self> {
        let ccm = || meshseal::RustCryptoCcm::new(&k.key);
        Box::new(Engine {
            ccm: ccm(),
            mask: (k.privacy == 1).then(|| meshseal::privacy::Private::new(ccm(), &k.privacy_key)),
            calls: Cell::new(0),
            fail: Cell::new(false),
        })
    }

    fn aead(&self) -> MeshsealAead {
        MeshsealAead {
            seal: Some(engine_seal),
            open: Some(engine_open),
            mask: Some(engine_mask),
            user: (self as *const Engine).cast_mut().cast(),
        }
    }

    /// Counts a call; true when it is to fail.
    fn call(&self) -> bool {
        self.calls.set(self.calls.get() + 1);
        self.fail.get()
    }
}

unsafe extern "C" fn engine_seal(
    user: *mut c_void,
    nonce: *const u8,
    aad: *const u8,
    aad_len: size_t,
    buf: *mut u8,
    len: size_t,
    tag: *mut u8,
) -> i32 {
    // SAFETY: the library passes the engine it was given and buffers of the stated lengths.
    let (e, nonce, aad, buf, tag) = unsafe {
        (
            &*user.cast::<Engine>(),
            &*nonce.cast::<[u8; 13]>(),
            core::slice::from_raw_parts(aad, aad_len),
            core::slice::from_raw_parts_mut(buf, len),
            &mut *tag.cast::<[u8; 8]>(),
        )
    };
    if e.call() {
        return -7;
    }
    match e.ccm.seal_in_place(nonce, aad, buf) {
        Ok(t) => {
            *tag = t;
            0
        }
        Err(_) => -1,
    }
}

unsafe extern "C" fn engine_open(
    user: *mut c_void,
    nonce: *const u8,
    aad: *const u8,
    aad_len: size_t,
    buf: *mut u8,
    len: size_t,
    tag: *const u8,
) -> i32 {
    // SAFETY: as for `engine_seal`.
    let (e, nonce, aad, buf, tag) = unsafe {
        (
            &*user.cast::<Engine>(),
            &*nonce.cast::<[u8; 13]>(),
            core::slice::from_raw_parts(aad, aad_len),
            core::slice::from_raw_parts_mut(buf, len),
            &*tag.cast::<[u8; 8]>(),
        )
    };
    if e.call() {
        return -7;
    }
    // Decrypt a copy: the buffer changes only when the tag verifies.
    let mut scratch = buf.to_vec();
    match e.ccm.open_in_place(nonce, aad, &mut scratch, tag) {
        Ok(()) => {
            buf.copy_from_slice(&scratch);
            0
        }
        Err(_) => 1,
    }
}

unsafe extern "C" fn engine_mask(user: *mut c_void, block: *const u8, out: *mut u8) -> i32 {
    // SAFETY: the library passes the engine and two 16-byte blocks.
    let (e, block, out) = unsafe {
        (
            &*user.cast::<Engine>(),
            &*block.cast::<[u8; 16]>(),
            &mut *out.cast::<[u8; 16]>(),
        )
    };
    if e.call() {
        return -7;
    }
    match e.mask.as_ref().and_then(|m| m.privacy_mask(block)) {
        Some(m) => {
            *out = m;
            0
        }
        None => -1,
    }
}

#[test]
fn private_frames_hide_their_header_and_open() {
    let (mut plain_a, mut a, mut b) = (
        Member::with_keys(1, derived(0)),
        Member::with_keys(1, derived(1)),
        Member::with_keys(2, derived(1)),
    );
    let k = derived(1);
    assert_eq!(k.privacy, 1);
    assert_ne!(k.privacy_key, [0; 16]);
    let mut shown = std::collections::BTreeSet::new();
    for i in 0..20u8 {
        let plain = plain_a.seal(&[i], core::ptr::null()).unwrap();
        let private = a.seal(&[i], core::ptr::null()).unwrap();
        // The same frame but for the masked header: no byte more, the first byte's version
        // and epoch bits in clear.
        assert_eq!(private.len(), plain.len());
        assert_eq!(private[0] & 0xe0, plain[0] & 0xe0);
        shown.insert(private[1..private.len() - 9].to_vec());
        let (o, payload) = b
            .open(&private, core::ptr::null())
            .expect("private frame opens");
        assert_eq!((o.sender, payload.as_slice()), (1, &[i][..]));
        // A receiver without privacy cannot read it.
        assert!(b.open(&plain, core::ptr::null()).is_err());
    }
    // The masked sender-id and number bytes differ from frame to frame.
    assert!(shown.len() >= 19, "masked headers repeat: {}", shown.len());
}

#[test]
fn every_single_bit_change_of_a_private_frame_is_refused_through_c() {
    let (mut a, mut b) = (
        Member::with_keys(1, derived(1)),
        Member::with_keys(2, derived(1)),
    );
    let frame = a.seal(b"door=open", core::ptr::null()).unwrap();
    for bit in 0..frame.len() * 8 {
        let mut bad = frame.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        let r = b.open(&bad, core::ptr::null());
        assert!(r.is_err(), "bit {bit} flipped was accepted");
    }
    let (o, payload) = b
        .open(&frame, core::ptr::null())
        .expect("the original opens");
    assert_eq!((o.sender, payload.as_slice()), (1, &b"door=open"[..]));
}

#[test]
fn the_platform_seals_what_the_software_seals() {
    for privacy in [0, 1] {
        let soft = derived(privacy);
        let engine = Engine::new(&soft);
        let aead = engine.aead();
        let mut platform = soft;
        platform.key = [0; 16];
        platform.privacy_key = [0; 16];
        platform.aead = &aead;
        let (mut s, mut p, mut rx_p, mut rx_s) = (
            Member::with_keys(1, soft),
            Member::with_keys(1, platform),
            Member::with_keys(2, platform),
            Member::with_keys(2, soft),
        );
        for i in 0..5u8 {
            let a = s.seal(&[i; 4], core::ptr::null()).unwrap();
            let before = engine.calls.get();
            let b = p.seal(&[i; 4], core::ptr::null()).unwrap();
            // One AEAD call, and one mask call under header privacy.
            assert_eq!(engine.calls.get() - before, 1 + u32::from(privacy));
            assert_eq!(a, b, "privacy {privacy}: frame {i} differs");
            let (_, payload) = rx_p.open(&b, core::ptr::null()).expect("platform opens");
            assert_eq!(payload, [i; 4]);
            let (_, payload) = rx_s.open(&a, core::ptr::null()).expect("software opens");
            assert_eq!(payload, [i; 4]);
        }
        // A changed tag is a bad tag from the platform too, and releases nothing.
        let mut bad = s.seal(b"x", core::ptr::null()).unwrap();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let want = if privacy == 1 {
            // The tag masks the header: a changed tag unmasks to another header.
            None
        } else {
            Some(MeshsealResult::BadTag)
        };
        let got = rx_p.open(&bad, core::ptr::null()).err();
        assert!(got.is_some());
        if let Some(w) = want {
            assert_eq!(got, Some(w));
        }
    }
}

#[test]
fn a_platform_failure_is_refused_as_backend_and_nothing_is_released() {
    for privacy in [0, 1] {
        let soft = derived(privacy);
        let engine = Engine::new(&soft);
        let aead = engine.aead();
        let mut platform = soft;
        platform.key = [0; 16];
        platform.aead = &aead;
        let (mut tx, mut rx) = (
            Member::with_keys(1, platform),
            Member::with_keys(2, platform),
        );
        let good = tx.seal(b"on", core::ptr::null()).unwrap();

        // A failing seal reports no frame and burns its number.
        engine.fail.set(true);
        let before = tx.next();
        assert_eq!(
            tx.seal(b"off", core::ptr::null()),
            Err(MeshsealResult::Backend)
        );
        assert_eq!(tx.next(), before + 1);

        // A failing open is not a bad tag and leaves the frame's number unused.
        assert_eq!(
            rx.open(&good, core::ptr::null()).err(),
            Some(MeshsealResult::Backend)
        );
        if let Some(st) = stats_of(&mut rx) {
            assert_eq!(st.refused[MeshsealResult::Backend as usize - 1], 1);
            assert_eq!(st.refused[MeshsealResult::BadTag as usize - 1], 0);
        }

        engine.fail.set(false);
        let (o, payload) = rx
            .open(&good, core::ptr::null())
            .expect("opens after recovery");
        assert_eq!((o.sender, payload.as_slice()), (1, &b"on"[..]));
        let next = tx.seal(b"off", core::ptr::null()).unwrap();
        let (o, _) = rx.open(&next, core::ptr::null()).unwrap();
        assert_eq!(o.seq, before + 1, "the failed seal's number was used again");
    }
}

#[test]
fn platform_and_privacy_misuse_is_refused() {
    let mut block = Box::new(MeshsealRecipient {
        opaque: [0; MESHSEAL_RECIPIENT_WORDS],
    });
    let cfg = meshseal_recipient_config_default(1, 9);
    let init = |block: &mut MeshsealRecipient, k: &MeshsealKeys| {
        // SAFETY: a boxed block and locals.
        let r = unsafe { meshseal_recipient_init(block, k, &cfg) };
        // SAFETY: as above; clearing an uninitialized block is harmless.
        unsafe { meshseal_recipient_clear(block) };
        r
    };
    let engine = Engine::new(&derived(1));

    let mut k = derived(0);
    k.privacy = 2;
    assert_eq!(init(&mut block, &k), MeshsealResult::BadArgument);

    let mut no_seal = engine.aead();
    no_seal.seal = None;
    let mut k = derived(0);
    k.aead = &no_seal;
    assert_eq!(init(&mut block, &k), MeshsealResult::NullPointer);

    let mut no_open = engine.aead();
    no_open.open = None;
    k.aead = &no_open;
    assert_eq!(init(&mut block, &k), MeshsealResult::NullPointer);

    // A private group on a platform without a mask callback would send headers in clear.
    let mut no_mask = engine.aead();
    no_mask.mask = None;
    let mut k = derived(1);
    k.aead = &no_mask;
    assert_eq!(init(&mut block, &k), MeshsealResult::NullPointer);
    // Without privacy, the mask callback is not needed.
    let mut k = derived(0);
    k.aead = &no_mask;
    assert_eq!(init(&mut block, &k), MeshsealResult::Ok);

    // SAFETY: a local output; the secret is refused before anything is read from it.
    let r = unsafe {
        meshseal_derive_with(
            SECRET.as_ptr(),
            SECRET.len(),
            core::ptr::null(),
            0,
            1,
            0,
            3,
            &mut k,
        )
    };
    assert_eq!(r, MeshsealResult::BadArgument);
}
