//! The frozen source-authentication vectors (`source-v1.json`: pairwise and signed frames, a
//! repeated command, a rekey message) through the C API's entry points, as firmware calls
//! them: each frame sealed byte for byte and opened, the rekey message opened into the next
//! epoch's keys. Pairwise and signed frames need the features `pairwise` and `signed`
//! (`cargo test -p meshseal-ffi --features pairwise,signed`, run by CI).

use std::ffi::c_void;
use std::path::Path;

use meshseal_ffi::*;
use serde_json::Value;

fn vectors() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../meshseal/tests/vectors/source-v1.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap_or("")).unwrap()
}

fn group_keys(v: &Value) -> MeshsealKeys {
    let secret = hex_of(&v["master_secret"]);
    let mut k = std::mem::MaybeUninit::<MeshsealKeys>::zeroed();
    // SAFETY: a live secret and a local output.
    let r = unsafe {
        meshseal_derive(
            secret.as_ptr(),
            secret.len(),
            std::ptr::null(),
            0,
            v["group_id"].as_u64().unwrap() as u32,
            v["epoch"].as_u64().unwrap() as u16,
            k.as_mut_ptr(),
        )
    };
    assert_eq!(r, MeshsealResult::Ok);
    // SAFETY: written by the successful call.
    unsafe { k.assume_init() }
}

unsafe extern "C" fn load(user: *mut c_void, limit: *mut u64) -> i32 {
    // SAFETY: the tests pass a u64 as `user`; the library a valid `limit`.
    unsafe { *limit = *user.cast::<u64>() };
    1
}

unsafe extern "C" fn store(user: *mut c_void, limit: u64) -> i32 {
    // SAFETY: as for `load`.
    unsafe { *user.cast::<u64>() = limit };
    0
}

/// Seals `payload` as member `sender` booted at `seq` with length reference `reference`.
fn seal(keys: &MeshsealKeys, f: &Value, how: &MeshsealSeal) -> Vec<u8> {
    let mut tx = Box::new(MeshsealSender::zeroed());
    let mut cfg = meshseal_sender_config_default(f["sender"].as_u64().unwrap() as u32);
    cfg.length_mode = MESHSEAL_LENGTH_CONFIRMED;
    cfg.full_every = 1000;
    let mut flash = f["seq"].as_u64().unwrap();
    let payload = hex_of(&f["payload"]);
    let (mut out, mut n) = ([0u8; 256], 0usize);
    // SAFETY: a boxed block, live locals; the context is cleared before they go.
    unsafe {
        let user = (&mut flash as *mut u64).cast();
        let r = meshseal_sender_init(&mut *tx, keys, &cfg, Some(load), Some(store), user);
        assert_eq!(r, MeshsealResult::Ok);
        meshseal_sender_confirm(&mut *tx, f["reference"].as_u64().unwrap());
        let r = meshseal_seal_with(
            &mut *tx,
            payload.as_ptr(),
            payload.len(),
            how,
            out.as_mut_ptr(),
            out.len(),
            &mut n,
        );
        assert_eq!(r, MeshsealResult::Ok);
        meshseal_sender_clear(&mut *tx);
    }
    out[..n].to_vec()
}

/// A replay-state record holding, for `sender`'s window in `lane`, `highest` as accepted: the
/// receiver in step with the sender, as the vectors' reference number says.
fn state_record(group_id: u32, sender: u32, lane: u8, highest: u64) -> Vec<u8> {
    let mut r = b"MSR1".to_vec();
    r.extend(group_id.to_le_bytes());
    r.extend(0u16.to_le_bytes());
    r.extend([1, 0]);
    r.extend(sender.to_le_bytes());
    r.extend([lane, 3]);
    r.extend(0u16.to_le_bytes());
    r.extend(highest.to_le_bytes());
    r.extend(1u64.to_le_bytes());
    r
}

/// Opens `frame` at member `own` in step with the frame's sender, with `peers` as source keys.
fn open(
    keys: &MeshsealKeys,
    f: &Value,
    own: u32,
    lane: u8,
    peers: &[MeshsealPeerKeys],
) -> (MeshsealResult, MeshsealOpened, Vec<u8>) {
    let mut rx = Box::new(MeshsealRecipient::zeroed());
    let mut cfg = meshseal_recipient_config_default(1, 9);
    cfg.has_own_id = 1;
    cfg.own_id = own;
    let sender = f["sender"].as_u64().unwrap() as u32;
    let record = state_record(
        keys.group_id,
        sender,
        lane,
        f["reference"].as_u64().unwrap(),
    );
    let mut buf = hex_of(&f["frame"]);
    let mut o = MeshsealOpened::default();
    let how = MeshsealOpen {
        source_keys: peers.as_ptr(),
        source_keys_len: peers.len(),
        ..meshseal_open_options_default()
    };
    // SAFETY: a boxed block and live locals; the context is cleared before they go.
    let r = unsafe {
        assert_eq!(
            meshseal_recipient_init(&mut *rx, keys, &cfg),
            MeshsealResult::Ok
        );
        let restored = meshseal_recipient_restore(&mut *rx, record.as_ptr(), record.len(), 0);
        assert_eq!(restored, MeshsealResult::Ok);
        let r = meshseal_open_with(&mut *rx, buf.as_mut_ptr(), buf.len(), &how, &mut o);
        meshseal_recipient_clear(&mut *rx);
        r
    };
    let payload = if r == MeshsealResult::Ok {
        buf[o.payload_offset..][..o.payload_len].to_vec()
    } else {
        Vec::new()
    };
    (r, o, payload)
}

#[test]
fn the_rekey_vector_opens_into_the_next_epoch() {
    let v = vectors();
    let rk = &v["rekey"];
    let secret = hex_of(&rk["member_secret"]);
    let mut msg = hex_of(&rk["message"]);
    let mut out = std::mem::MaybeUninit::<MeshsealRekeyed>::zeroed();
    // SAFETY: live buffers and a local output.
    let r = unsafe {
        meshseal_open_rekey(
            secret.as_ptr(),
            v["group_id"].as_u64().unwrap() as u32,
            rk["member"].as_u64().unwrap() as u32,
            0,
            0,
            msg.as_mut_ptr(),
            msg.len(),
            out.as_mut_ptr(),
        )
    };
    assert_eq!(r, MeshsealResult::Ok);
    // SAFETY: written by the successful call.
    let re = unsafe { out.assume_init() };
    assert_eq!(u64::from(re.keys.epoch), rk["epoch"].as_u64().unwrap());
    assert_eq!(u64::from(re.grace), rk["grace"].as_u64().unwrap());
    let removed: Vec<u64> = re.removed[..usize::from(re.removed_count)]
        .iter()
        .map(|&id| u64::from(id))
        .collect();
    let want: Vec<u64> = rk["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .collect();
    assert_eq!(removed, want);
    let expected = group_keys(&serde_json::json!({
        "master_secret": rk["new_master_secret"],
        "group_id": v["group_id"],
        "epoch": rk["epoch"],
    }));
    assert_eq!((re.keys.key, re.keys.iv), (expected.key, expected.iv));
}

#[test]
fn the_repeated_command_vector_seals_and_opens() {
    let v = vectors();
    let keys = group_keys(&v);
    let f = &v["repeat"];
    let how = MeshsealSeal {
        has_time: 1,
        time: f["time"].as_u64().unwrap() as u16,
        has_repeat: 1,
        repeat_copies: f["copies"].as_u64().unwrap() as u8,
        repeat_window: f["window"].as_u64().unwrap() as u8,
        ..meshseal_seal_options_default()
    };
    assert_eq!(seal(&keys, f, &how), hex_of(&f["frame"]));
    let (r, o, payload) = open(&keys, f, 2, 0, &[]);
    assert_eq!(r, MeshsealResult::Ok);
    assert_eq!((payload, o.repeat_copies), (hex_of(&f["payload"]), 5));
}

#[cfg(feature = "pairwise")]
#[test]
fn the_pairwise_vectors_seal_and_open() {
    let v = vectors();
    let keys = group_keys(&v);
    let secret = hex_of(&v["master_secret"]);
    let members = v["pairwise"]["members"].as_array().unwrap();
    let member = |id: u64| members.iter().find(|m| m["id"] == id).unwrap();
    let pairwise = |own: u64, peer: u64| {
        let (a, b) = (
            hex_of(&member(own)["x25519_secret"]),
            hex_of(&member(peer)["x25519_public"]),
        );
        let mut k = std::mem::MaybeUninit::<MeshsealKeys>::zeroed();
        // SAFETY: live inputs and a local output.
        let r = unsafe {
            meshseal_derive_pairwise(
                secret.as_ptr(),
                secret.len(),
                std::ptr::null(),
                0,
                keys.group_id,
                0,
                own as u32,
                a.as_ptr(),
                peer as u32,
                b.as_ptr(),
                k.as_mut_ptr(),
            )
        };
        assert_eq!(r, MeshsealResult::Ok);
        // SAFETY: written by the successful call.
        unsafe { k.assume_init() }
    };
    for f in v["pairwise"]["frames"].as_array().unwrap() {
        let (s, r) = (
            f["sender"].as_u64().unwrap(),
            f["receiver"].as_u64().unwrap(),
        );
        let theirs = pairwise(s, r);
        let how = MeshsealSeal {
            source: MESHSEAL_SOURCE_PAIRWISE,
            pairwise_keys: &theirs,
            ..meshseal_seal_options_default()
        };
        assert_eq!(
            seal(&keys, f, &how),
            hex_of(&f["frame"]),
            "pairwise {s} -> {r}"
        );
        let peer = MeshsealPeerKeys {
            peer: s as u32,
            has_pairwise: 1,
            has_verifying_key: 0,
            pairwise: pairwise(r, s),
            verifying_key: [0; 32],
        };
        let (res, o, payload) = open(&keys, f, r as u32, 1, &[peer]);
        assert_eq!(res, MeshsealResult::Ok, "pairwise {s} -> {r}");
        assert_eq!(o.source, MESHSEAL_SOURCE_PAIRWISE);
        assert_eq!(payload, hex_of(&f["payload"]));
    }
}

#[cfg(feature = "signed")]
#[test]
fn the_signed_vector_seals_and_opens() {
    let v = vectors();
    let keys = group_keys(&v);
    let f = &v["signed"];
    let signing = hex_of(&f["ed25519_secret"]);
    let how = MeshsealSeal {
        source: MESHSEAL_SOURCE_SIGNED,
        signing_key: signing.as_ptr(),
        ..meshseal_seal_options_default()
    };
    assert_eq!(seal(&keys, f, &how), hex_of(&f["frame"]));
    let mut vk = [0u8; 32];
    vk.copy_from_slice(&hex_of(&f["ed25519_public"]));
    let peer = MeshsealPeerKeys {
        peer: f["sender"].as_u64().unwrap() as u32,
        has_pairwise: 0,
        has_verifying_key: 1,
        pairwise: group_keys(&v),
        verifying_key: vk,
    };
    let (r, o, payload) = open(&keys, f, 2, 1, &[peer]);
    assert_eq!(r, MeshsealResult::Ok);
    assert_eq!(o.source, MESHSEAL_SOURCE_SIGNED);
    assert_eq!(payload, hex_of(&f["payload"]));
}
