//! Group OSCORE key material against the frozen vectors (`vectors/group-oscore-v1.json`,
//! derived by aiocoap's `SimpleGroupContext` for fixed inputs): the Common IV, the Signature
//! Encryption Key, every member's group-mode Sender Key, the ECDH shared secret of every pair
//! from their Ed25519 keys, and both pairwise keys in both directions; and one group-mode
//! request aiocoap protected, which meshseal decrypts and whose countersignature it verifies,
//! and then protects again byte for byte.
#![cfg(feature = "group-oscore")]

use ed25519_dalek::{SigningKey, VerifyingKey};
use meshseal::oscore::cose::{nonce, PartialIv};
use meshseal::oscore::group::{
    countersign, encrypt0, keystream, pairwise_keys, shared_secret, to_be_signed,
    verify_countersignature, ExternalAad, GroupParams, Side,
};
use serde_json::Value;

fn vectors() -> Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/group-oscore-v1.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

/// The vectors' group inputs, and the parameters over them.
struct Group {
    secret: Vec<u8>,
    salt: Vec<u8>,
    gid: Vec<u8>,
}

impl Group {
    fn of(v: &Value) -> Group {
        Group {
            secret: hex_of(&v["master_secret"]),
            salt: hex_of(&v["master_salt"]),
            gid: hex_of(&v["gid"]),
        }
    }

    fn params(&self) -> GroupParams<'_> {
        GroupParams {
            master_secret: &self.secret,
            master_salt: &self.salt,
            gid: &self.gid,
        }
    }
}

fn key16(v: &Value) -> [u8; 16] {
    hex_of(v).try_into().unwrap()
}

#[test]
fn the_group_context_matches_aiocoap() {
    let v = vectors();
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let c = g.common().unwrap();
    assert_eq!(c.common_iv.to_vec(), hex_of(&v["common_iv"]));
    assert_eq!(
        c.signature_encryption_key.to_vec(),
        hex_of(&v["signature_encryption_key"])
    );
    let members = v["members"].as_array().unwrap();
    for m in members {
        let k = g.member_key(&hex_of(&m["sender_id"])).unwrap();
        assert_eq!(k.to_vec(), hex_of(&m["sender_key"]), "{m}");
        // The public key in the vector is the seed's.
        let sk = SigningKey::from_bytes(&hex_of(&m["ed25519_seed"]).try_into().unwrap());
        assert_eq!(
            sk.verifying_key().to_bytes().to_vec(),
            hex_of(&m["ed25519_public"])
        );
    }
    let member = |id: &[u8]| {
        members
            .iter()
            .find(|m| hex_of(&m["sender_id"]) == id)
            .unwrap()
    };
    let pairs = v["pairwise"].as_array().unwrap();
    assert_eq!(pairs.len(), members.len() * (members.len() - 1));
    for p in pairs {
        let (own, peer) = (member(&hex_of(&p["own"])), member(&hex_of(&p["peer"])));
        let sk = SigningKey::from_bytes(&hex_of(&own["ed25519_seed"]).try_into().unwrap());
        let vk =
            VerifyingKey::from_bytes(&hex_of(&peer["ed25519_public"]).try_into().unwrap()).unwrap();
        let shared = shared_secret(&sk, &vk);
        assert_eq!(shared.to_vec(), hex_of(&p["shared_secret"]), "{p}");
        let (own_id, peer_id) = (hex_of(&own["sender_id"]), hex_of(&peer["sender_id"]));
        let (own_cred, peer_cred) = (hex_of(&own["credential"]), hex_of(&peer["credential"]));
        let (own_key, peer_key) = (key16(&own["sender_key"]), key16(&peer["sender_key"]));
        let keys = pairwise_keys(
            gid,
            &Side {
                id: &own_id,
                group_key: &own_key,
                credential: &own_cred,
            },
            &Side {
                id: &peer_id,
                group_key: &peer_key,
                credential: &peer_cred,
            },
            &shared,
        )
        .unwrap();
        assert_eq!(keys.sender_key.to_vec(), hex_of(&p["sender_key"]), "{p}");
        assert_eq!(
            keys.recipient_key.to_vec(),
            hex_of(&p["recipient_key"]),
            "{p}"
        );
    }
}

#[test]
fn out_of_range_inputs_are_refused() {
    let g = GroupParams {
        master_secret: &[],
        master_salt: &[],
        gid: &[1],
    };
    assert!(g.common().is_err());
    let g = GroupParams {
        master_secret: &[1; 16],
        master_salt: &[],
        gid: &[0; 33],
    };
    assert!(g.common().is_err());
    let g = GroupParams {
        master_secret: &[1; 16],
        master_salt: &[],
        gid: &[1],
    };
    assert!(g.member_key(&[0; 8]).is_err());
    assert!(g.member_key(&[0; 7]).is_ok());
}

#[test]
fn an_aiocoap_group_mode_request_verifies_and_is_protected_again_byte_for_byte() {
    use ccm::aead::{AeadInPlace, KeyInit};
    type Ccm = ccm::Ccm<aes::Aes128, ccm::consts::U8, ccm::consts::U13>;

    let v = vectors();
    let r = &v["group_request"];
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let common = g.common().unwrap();
    let sender = v["members"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["sender_id"] == r["sender_id"])
        .unwrap();
    let (kid, piv, option, cred) = (
        hex_of(&r["sender_id"]),
        hex_of(&r["partial_iv"]),
        hex_of(&r["oscore_option"]),
        hex_of(&sender["credential"]),
    );
    // The option: Group Flag, kid context (the Gid), kid, Partial IV.
    assert_eq!(option[0] & 0x20, 0x20);
    let ext = ExternalAad {
        request_kid: &kid,
        request_piv: &piv,
        gid,
        oscore_option: &option,
        sender_credential: &cred,
    };
    let mut ext_buf = [0u8; 256];
    let n = ext.encode(&mut ext_buf).unwrap();
    let ext_bytes = &ext_buf[..n];
    assert_eq!(ext_bytes.to_vec(), hex_of(&r["external_aad"]));
    // Decrypt with the sender's group-mode key.
    let mut aad = [0u8; 300];
    let m = encrypt0(ext_bytes, &mut aad).unwrap();
    let pi = PartialIv::from_bytes(&piv).unwrap();
    let iv = nonce(&common.common_iv, &kid, &pi).unwrap();
    let key = g.member_key(&kid).unwrap();
    let ciphertext = hex_of(&r["ciphertext"]);
    let (body, tag) = ciphertext.split_at(ciphertext.len() - 8);
    let mut plain = body.to_vec();
    Ccm::new_from_slice(&key[..])
        .unwrap()
        .decrypt_in_place_detached(&iv.into(), &aad[..m], &mut plain, tag.into())
        .unwrap();
    assert_eq!(plain, hex_of(&r["plaintext"]));
    // The countersignature: keystream, then Ed25519 over the CounterSignature0 structure.
    let ks = keystream(&common, &kid, &piv, gid, true).unwrap();
    assert_eq!(ks.to_vec(), hex_of(&r["keystream"]));
    let mut tbs = [0u8; 400];
    let t = to_be_signed(ext_bytes, &ciphertext, &mut tbs).unwrap();
    let payload = hex_of(&r["payload"]);
    let encrypted: [u8; 64] = payload[payload.len() - 64..].try_into().unwrap();
    let vk =
        VerifyingKey::from_bytes(&hex_of(&sender["ed25519_public"]).try_into().unwrap()).unwrap();
    verify_countersignature(&vk, &tbs[..t], &encrypted, &ks).unwrap();
    // Protecting again: the same bytes (Ed25519 is deterministic).
    let sk = SigningKey::from_bytes(&hex_of(&sender["ed25519_seed"]).try_into().unwrap());
    let mut sealed = plain.clone();
    let tag2 = Ccm::new_from_slice(&key[..])
        .unwrap()
        .encrypt_in_place_detached(&iv.into(), &aad[..m], &mut sealed)
        .unwrap();
    sealed.extend_from_slice(&tag2);
    assert_eq!(sealed, ciphertext);
    assert_eq!(countersign(&sk, &tbs[..t], &ks), encrypted);
    // A changed ciphertext, response keystream or signer is refused.
    let mut bad = ciphertext.clone();
    bad[0] ^= 1;
    let t2 = to_be_signed(ext_bytes, &bad, &mut tbs).unwrap();
    assert_eq!(
        verify_countersignature(&vk, &tbs[..t2], &encrypted, &ks),
        Err(meshseal::oscore::Error::BadSignature)
    );
    let t = to_be_signed(ext_bytes, &ciphertext, &mut tbs).unwrap();
    let response_ks = keystream(&common, &kid, &piv, gid, false).unwrap();
    assert!(verify_countersignature(&vk, &tbs[..t], &encrypted, &response_ks).is_err());
    let other = SigningKey::from_bytes(&[7; 32]).verifying_key();
    assert!(verify_countersignature(&other, &tbs[..t], &encrypted, &ks).is_err());
}

fn group_server(v: &Value) -> meshseal::oscore::group_endpoint::GroupServer<4> {
    use meshseal::oscore::group_endpoint::{GroupServer, Member};
    let group = Group::of(v);
    let (g, gid) = (group.params(), &group.gid);
    let mut server = GroupServer::new(gid, g.common().unwrap()).unwrap();
    // The server is the member with Sender ID 0x52; it knows the other two.
    for m in v["members"].as_array().unwrap() {
        let kid = hex_of(&m["sender_id"]);
        if kid == [0x52] {
            continue;
        }
        let vk =
            VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap();
        let key = g.member_key(&kid).unwrap();
        server
            .add(Member::new(&kid, &key, &hex_of(&m["credential"]), vk).unwrap())
            .unwrap();
    }
    server
}

#[test]
fn a_group_server_verifies_aiocoap_s_request_once() {
    use meshseal::oscore::Error;
    let v = vectors();
    let r = &v["group_request"];
    let message = hex_of(&r["message"]);
    let mut server = group_server(&v);
    let mut scratch = [0u8; 512];
    let mut buf = message.clone();
    let req = server
        .unprotect_request(&mut buf, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap();
    assert_eq!(&req.sender[..], [0x25]);
    assert_eq!(req.inner.code, 0x02); // POST
    let path: Vec<&[u8]> = req
        .inner
        .options()
        .filter(|o| o.number == 11)
        .map(|o| o.value)
        .collect();
    assert_eq!(path, [b"lamp"]);
    assert_eq!(req.inner.payload, [0x01]);
    assert_eq!(req.id.partial_iv(), [0x14]);
    // The same request again: a replay, once authenticated.
    let mut again = message.clone();
    assert_eq!(
        server.unprotect_request(&mut again, &mut scratch).err(),
        Some(Error::Replay)
    );
    // Every single-bit change of the protected part is refused, and never as a replay.
    let mut fresh = group_server(&v);
    let start = message.iter().position(|&b| b == 0xff).unwrap() - 12;
    for i in start..message.len() {
        for bit in [0x01u8, 0x80] {
            let mut m = message.clone();
            m[i] ^= bit;
            let e = fresh.unprotect_request(&mut m, &mut scratch).err();
            assert!(e.is_some() && e != Some(Error::Replay), "byte {i}: {e:?}");
        }
    }
    // Still verifies afterwards: no forgery moved the window.
    let mut buf = message.clone();
    assert!(fresh.unprotect_request(&mut buf, &mut scratch).is_ok());
}

#[test]
fn a_member_s_request_claimed_by_another_or_under_another_group_is_refused() {
    use meshseal::oscore::Error;
    let v = vectors();
    let message = hex_of(&v["group_request"]["message"]);
    let mut scratch = [0u8; 512];
    // The kid (last option byte before the payload marker) rewritten to the other member:
    // its key and credential do not match the signature.
    let marker = message.iter().position(|&b| b == 0xff).unwrap();
    let mut m = message.clone();
    m[marker - 1] = 0x52;
    let mut server = group_server(&v);
    assert_eq!(
        server.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::UnknownKid)
    );
    // Another Gid in the option: not this group.
    let mut m = message.clone();
    m[marker - 2] ^= 1;
    assert_eq!(
        server.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::UnknownKidContext)
    );
    // A scratch buffer too small is an error, not a panic.
    let mut m = message.clone();
    assert_eq!(
        server.unprotect_request(&mut m, &mut [0u8; 16]).err(),
        Some(Error::BufferTooSmall)
    );
}

#[test]
fn a_group_client_protects_the_same_request_as_aiocoap_and_the_server_takes_it() {
    use meshseal::counter::MemoryStore;
    use meshseal::oscore::coap::{CoapOption, MessageType};
    use meshseal::oscore::group_endpoint::{ClientKeys, GroupClient};
    use meshseal::oscore::{Outer, Plain};

    let v = vectors();
    let r = &v["group_request"];
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let me = &v["members"][0];
    let kid = hex_of(&me["sender_id"]);
    let key = g.member_key(&kid).unwrap();
    let cred = hex_of(&me["credential"]);
    let keys = || ClientKeys {
        gid,
        common: g.common().unwrap(),
        kid: &kid,
        group_key: &key,
        credential: &cred,
        signing: SigningKey::from_bytes(&hex_of(&me["ed25519_seed"]).try_into().unwrap()),
    };
    // Booted from a counter record at 20: its next number is the vector's Partial IV.
    let store = MemoryStore {
        limit: Some(20),
        writes: 0,
    };
    let mut client = GroupClient::new(keys(), store, 16).unwrap();
    assert_eq!(client.next_seq(), 20);
    let path = [CoapOption::new(11, b"lamp")];
    let plain = Plain {
        code: 0x02,
        options: &path,
        payload: &[0x01],
    };
    let outer = Outer {
        msg_type: MessageType::NonConfirmable,
        message_id: 0x1234,
        token: &[0x4a, 0x01],
    };
    let (mut out, mut scratch) = ([0u8; 256], [0u8; 512]);
    // Too small an output costs no number.
    assert!(client
        .protect_request(outer, &plain, &mut out[..40], &mut scratch)
        .is_err());
    assert_eq!(client.next_seq(), 20);
    let (n, id) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    assert_eq!(out[..n].to_vec(), hex_of(&r["message"]));
    assert_eq!(id.partial_iv(), [20]);
    // The server takes it, then the next one (a new number), and refuses a replay.
    let mut server = group_server(&v);
    let mut m = out[..n].to_vec();
    server.unprotect_request(&mut m, &mut scratch).unwrap();
    let (n2, _) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    let second = out[..n2].to_vec();
    assert_ne!(second, hex_of(&r["message"]));
    let mut m = second.clone();
    let req = server
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap();
    assert_eq!(req.id.partial_iv(), [21]);
    let mut m = second;
    assert_eq!(
        server.unprotect_request(&mut m, &mut scratch).err(),
        Some(meshseal::oscore::Error::Replay)
    );
    // A client over a store without a counter record does not start.
    assert!(GroupClient::new(keys(), MemoryStore::default(), 16).is_err());
}

/// Member 0 of the vectors (0x25) as a group client that has sent nothing yet, signing with
/// `signing` (its own key, or an impostor's).
fn member0_client(
    v: &Value,
    signing: SigningKey,
) -> meshseal::oscore::group_endpoint::GroupClient<meshseal::counter::MemoryStore> {
    use meshseal::oscore::group_endpoint::{ClientKeys, GroupClient};
    let group = Group::of(v);
    let g = group.params();
    let m = &v["members"][0];
    let kid = hex_of(&m["sender_id"]);
    GroupClient::provision(
        ClientKeys {
            gid: &group.gid,
            common: g.common().unwrap(),
            kid: &kid,
            group_key: &g.member_key(&kid).unwrap(),
            credential: &hex_of(&m["credential"]),
            signing,
        },
        meshseal::counter::MemoryStore::default(),
        16,
    )
    .unwrap()
}

/// Member `own`'s pairwise keys with member `peer` (by index in the vectors).
fn pairwise_of(v: &Value, own: usize, peer: usize) -> meshseal::oscore::group::PairwiseKeys {
    let group = Group::of(v);
    let (g, gid) = (group.params(), &group.gid);
    let (a, b) = (&v["members"][own], &v["members"][peer]);
    let (ka, kb) = (hex_of(&a["sender_id"]), hex_of(&b["sender_id"]));
    let (ga, gb) = (g.member_key(&ka).unwrap(), g.member_key(&kb).unwrap());
    let (ca, cb) = (hex_of(&a["credential"]), hex_of(&b["credential"]));
    let sk = SigningKey::from_bytes(&hex_of(&a["ed25519_seed"]).try_into().unwrap());
    let vk = VerifyingKey::from_bytes(&hex_of(&b["ed25519_public"]).try_into().unwrap()).unwrap();
    let shared = shared_secret(&sk, &vk);
    pairwise_keys(
        gid,
        &Side {
            id: &ka,
            group_key: &ga,
            credential: &ca,
        },
        &Side {
            id: &kb,
            group_key: &gb,
            credential: &cb,
        },
        &shared,
    )
    .unwrap()
}

#[test]
fn pairwise_responses_match_aiocoap_both_ways() {
    use meshseal::counter::MemoryStore;
    use meshseal::oscore::coap::{CoapOption, MessageType};
    use meshseal::oscore::group_endpoint::{ClientKeys, GroupClient, GroupServer, Member};
    use meshseal::oscore::{Error, Outer, Plain};

    let v = vectors();
    let request = hex_of(&v["group_request"]["message"]);
    let response = hex_of(&v["pairwise_response"]["message"]);
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let (client_m, server_m) = (&v["members"][0], &v["members"][1]);
    // The server, member 0x52, answering the client 0x25 in pairwise mode.
    let client_kid = hex_of(&client_m["sender_id"]);
    let client_vk =
        VerifyingKey::from_bytes(&hex_of(&client_m["ed25519_public"]).try_into().unwrap()).unwrap();
    let mut server = GroupServer::<2>::new(gid, g.common().unwrap())
        .unwrap()
        .answering_as(
            &hex_of(&server_m["sender_id"]),
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    server
        .add(
            Member::new(
                &client_kid,
                &g.member_key(&client_kid).unwrap(),
                &hex_of(&client_m["credential"]),
                client_vk,
            )
            .unwrap()
            .answered_with(&pairwise_of(&v, 1, 0).sender_key),
        )
        .unwrap();
    let mut scratch = [0u8; 512];
    let mut buf = request.clone();
    let id = server
        .unprotect_request(&mut buf, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap()
        .id;
    let plain = Plain {
        code: 0x44,
        options: &[],
        payload: &[0x01],
    };
    let outer = Outer {
        msg_type: MessageType::NonConfirmable,
        message_id: 0x5678,
        token: &[0x4a, 0x01],
    };
    let mut out = [0u8; 128];
    let n = server
        .protect_response(id.clone(), outer, &plain, &mut out)
        .unwrap();
    assert_eq!(
        out[..n].to_vec(),
        response,
        "the response aiocoap's server sends"
    );
    // Answered once: the nonce is not used again under the pairwise key.
    assert_eq!(
        server.protect_response(id, outer, &plain, &mut out).err(),
        Some(Error::InvalidConfig)
    );
    // The client, member 0x25, verifies aiocoap's response to its request.
    let signing = SigningKey::from_bytes(&hex_of(&client_m["ed25519_seed"]).try_into().unwrap());
    let client_key = g.member_key(&client_kid).unwrap();
    let client_cred = hex_of(&client_m["credential"]);
    let mut client = GroupClient::new(
        ClientKeys {
            gid,
            common: g.common().unwrap(),
            kid: &client_kid,
            group_key: &client_key,
            credential: &client_cred,
            signing,
        },
        MemoryStore {
            limit: Some(20),
            writes: 0,
        },
        16,
    )
    .unwrap();
    client
        .add_responder(
            &hex_of(&server_m["sender_id"]),
            &pairwise_of(&v, 0, 1).recipient_key,
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    let path = [CoapOption::new(11, b"lamp")];
    let req_plain = Plain {
        code: 0x02,
        options: &path,
        payload: &[0x01],
    };
    let req_outer = Outer {
        msg_type: MessageType::NonConfirmable,
        message_id: 0x1234,
        token: &[0x4a, 0x01],
    };
    let (n, req_id) = client
        .protect_request(req_outer, &req_plain, &mut out, &mut scratch)
        .unwrap();
    assert_eq!(out[..n].to_vec(), request);
    let mut r = response.clone();
    let (from, inner) = client.unprotect_response(&req_id, &mut r).unwrap();
    assert_eq!(
        (&from[..], inner.code, inner.payload),
        (&[0x52u8][..], 0x44, &[1u8][..])
    );
    // A changed response, or one from a member the client does not know, is refused.
    let mut bad = response.clone();
    let last = bad.len() - 1;
    bad[last] ^= 1;
    assert_eq!(
        client.unprotect_response(&req_id, &mut bad).err(),
        Some(Error::DecryptFailed)
    );
    let mut other = response.clone();
    let kid_at = other.iter().position(|&b| b == 0xff).unwrap() - 1;
    other[kid_at] = 0x77;
    assert_eq!(
        client.unprotect_response(&req_id, &mut other).err(),
        Some(Error::UnknownKid)
    );
}

#[test]
fn credentials_are_built_as_aiocoap_builds_them() {
    use meshseal::oscore::group::{ccs_credential, CCS_CREDENTIAL_LEN};
    let v = vectors();
    for m in v["members"].as_array().unwrap() {
        let vk =
            VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap();
        let mut out = [0u8; CCS_CREDENTIAL_LEN];
        let n = ccs_credential(&vk, &mut out).unwrap();
        assert_eq!(out[..n], hex_of(&m["credential"])[..]);
        assert!(ccs_credential(&vk, &mut [0u8; 20]).is_err());
    }
}

#[test]
fn a_restarted_server_with_its_windows_refuses_what_it_verified() {
    use meshseal::oscore::group_endpoint::{GroupServer, Member};
    use meshseal::oscore::Error;
    let v = vectors();
    let message = hex_of(&v["group_request"]["message"]);
    let mut server = group_server(&v);
    let mut scratch = [0u8; 512];
    let mut buf = message.clone();
    server.unprotect_request(&mut buf, &mut scratch).unwrap();
    let saved: Vec<(Vec<u8>, meshseal::replay::ReplayWindow)> = server
        .windows()
        .map(|(kid, w)| (kid.to_vec(), *w))
        .collect();
    assert_eq!(saved.len(), 2);
    // A new server from the same members and the saved windows.
    let group = Group::of(&v);
    let g = group.params();
    let mut restarted: GroupServer<4> = GroupServer::new(&group.gid, g.common().unwrap()).unwrap();
    for m in v["members"].as_array().unwrap() {
        let kid = hex_of(&m["sender_id"]);
        let Some((_, w)) = saved.iter().find(|(k, _)| *k == kid) else {
            continue;
        };
        let vk =
            VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap();
        let key = g.member_key(&kid).unwrap();
        let member = Member::new(&kid, &key, &hex_of(&m["credential"]), vk)
            .unwrap()
            .with_window(*w);
        restarted.add(member).unwrap();
    }
    let mut again = message.clone();
    assert_eq!(
        restarted.unprotect_request(&mut again, &mut scratch).err(),
        Some(Error::Replay)
    );
    // Without the saved windows the same request would pass: the windows are what refuse it.
    let mut fresh = group_server(&v);
    let mut again = message.clone();
    assert!(fresh.unprotect_request(&mut again, &mut scratch).is_ok());
}

#[test]
fn pairwise_mode_requests_are_for_one_member_and_share_the_window() {
    use meshseal::oscore::coap::{CoapOption, MessageType};
    use meshseal::oscore::group_endpoint::{GroupServer, Member};
    use meshseal::oscore::{Error, Outer, Plain};

    let v = vectors();
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let (client_m, server_m) = (&v["members"][0], &v["members"][1]);
    let client_kid = hex_of(&client_m["sender_id"]);
    let server_kid = hex_of(&server_m["sender_id"]);
    let vk = |m: &Value| {
        VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap()
    };
    // Server 0x52 knows client 0x25 with both pairwise keys.
    let mut server = GroupServer::<2>::new(gid, g.common().unwrap())
        .unwrap()
        .answering_as(&server_kid, &hex_of(&server_m["credential"]))
        .unwrap();
    server
        .add(
            Member::new(
                &client_kid,
                &g.member_key(&client_kid).unwrap(),
                &hex_of(&client_m["credential"]),
                vk(client_m),
            )
            .unwrap()
            .pairwise(&pairwise_of(&v, 1, 0)),
        )
        .unwrap();

    let client_cred = hex_of(&client_m["credential"]);
    let mut client = member0_client(
        &v,
        SigningKey::from_bytes(&hex_of(&client_m["ed25519_seed"]).try_into().unwrap()),
    );
    client
        .add_peer(
            &server_kid,
            &pairwise_of(&v, 0, 1),
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    let path = [CoapOption::new(11, b"lamp")];
    let plain = Plain {
        code: 0x03,
        options: &path,
        payload: b"on",
    };
    let outer = Outer {
        msg_type: MessageType::Confirmable,
        message_id: 7,
        token: &[1, 2],
    };
    let (mut out, mut scratch) = ([0u8; 256], [0u8; 512]);
    // To a member it holds no pairwise key for: refused, no number used.
    assert_eq!(
        client
            .protect_request_to(&[0x77], outer, &plain, &mut out)
            .err(),
        Some(Error::UnknownKid)
    );
    assert_eq!(client.next_seq(), 0);
    let (n, id) = client
        .protect_request_to(&server_kid, outer, &plain, &mut out)
        .unwrap();
    let pairwise_req = out[..n].to_vec();
    // No countersignature: 64 bytes shorter than the group-mode request of the same message.
    let (gn, _) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    let group_req = out[..gn].to_vec();
    assert_eq!(gn, n + 64);
    let mut m = pairwise_req.clone();
    let req = server
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap();
    assert!(req.pairwise);
    assert_eq!(
        (&req.sender[..], req.inner.payload),
        (&client_kid[..], &b"on"[..])
    );
    let req_id = req.id.clone();
    assert_eq!(req_id.partial_iv(), id.partial_iv());
    // The pairwise response to it verifies at the client.
    let resp_plain = Plain {
        code: 0x44,
        options: &[],
        payload: &[],
    };
    let rn = server
        .protect_response(req_id, outer, &resp_plain, &mut out)
        .unwrap();
    let mut resp = out[..rn].to_vec();
    let (from, inner) = client.unprotect_response(&id, &mut resp).unwrap();
    assert_eq!((&from[..], inner.code), (&server_kid[..], 0x44));
    // One window for both modes: the group-mode request (the next number) is taken, the
    // pairwise one again is a replay.
    let mut m = group_req.clone();
    assert!(
        !server
            .unprotect_request(&mut m, &mut scratch)
            .unwrap()
            .fresh()
            .unwrap()
            .pairwise
    );
    let mut m = pairwise_req.clone();
    assert_eq!(
        server.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::Replay)
    );
    // Every single-bit change of the protected part is refused, and never as a replay.
    let start = pairwise_req.iter().position(|&b| b == 0xff).unwrap();
    let mut fresh = GroupServer::<2>::new(gid, g.common().unwrap()).unwrap();
    fresh
        .add(
            Member::new(
                &client_kid,
                &g.member_key(&client_kid).unwrap(),
                &client_cred,
                vk(client_m),
            )
            .unwrap()
            .pairwise(&pairwise_of(&v, 1, 0)),
        )
        .unwrap();
    for i in start..pairwise_req.len() {
        let mut m = pairwise_req.clone();
        m[i] ^= 0x01;
        let e = fresh.unprotect_request(&mut m, &mut scratch).err();
        assert!(e.is_some() && e != Some(Error::Replay), "byte {i}: {e:?}");
    }
    // A third member cannot speak for 0x25 in pairwise mode: its own pairwise key with the
    // server is not 0x25's.
    let third = &v["members"][2];
    let mut impostor = member0_client(
        &v,
        SigningKey::from_bytes(&hex_of(&third["ed25519_seed"]).try_into().unwrap()),
    );
    impostor
        .add_peer(
            &server_kid,
            &pairwise_of(&v, 2, 1),
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    let (n, _) = impostor
        .protect_request_to(&server_kid, outer, &plain, &mut out)
        .unwrap();
    let mut m = out[..n].to_vec();
    assert_eq!(
        fresh.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::DecryptFailed)
    );
    // A server that holds no pairwise key for a member refuses its pairwise requests.
    let mut group_only = group_server(&v);
    let mut m = pairwise_req.clone();
    assert_eq!(
        group_only.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::UnknownKid)
    );
}

#[test]
fn a_server_that_lost_a_window_recovers_it_with_echo() {
    use meshseal::counter::{Counter, MemoryStore};
    use meshseal::oscore::coap::{CoapOption, MessageType};
    use meshseal::oscore::group_endpoint::{GroupServer, GroupVerified, Member};
    use meshseal::oscore::{Error, Outer, Plain};

    let v = vectors();
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let (client_m, server_m) = (&v["members"][0], &v["members"][1]);
    let client_kid = hex_of(&client_m["sender_id"]);
    let server_kid = hex_of(&server_m["sender_id"]);
    let client_cred = hex_of(&client_m["credential"]);
    let client_key = g.member_key(&client_kid).unwrap();
    let vk =
        VerifyingKey::from_bytes(&hex_of(&client_m["ed25519_public"]).try_into().unwrap()).unwrap();
    let server_for = |lost: bool| {
        let mut s = GroupServer::<2>::new(gid, g.common().unwrap())
            .unwrap()
            .answering_as(&server_kid, &hex_of(&server_m["credential"]))
            .unwrap();
        let m = Member::new(&client_kid, &client_key, &client_cred, vk)
            .unwrap()
            .pairwise(&pairwise_of(&v, 1, 0));
        s.add(if lost { m.with_lost_window() } else { m }).unwrap();
        s
    };
    let mut client = member0_client(
        &v,
        SigningKey::from_bytes(&hex_of(&client_m["ed25519_seed"]).try_into().unwrap()),
    );
    client
        .add_peer(
            &server_kid,
            &pairwise_of(&v, 0, 1),
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    let outer = Outer {
        msg_type: MessageType::Confirmable,
        message_id: 3,
        token: &[9],
    };
    let path = [CoapOption::new(11, b"lamp")];
    let plain = Plain {
        code: 0x03,
        options: &path,
        payload: b"on",
    };
    let (mut out, mut scratch) = ([0u8; 256], [0u8; 512]);
    // A request verified before the server lost its state: a recording an attacker keeps.
    let mut before = server_for(false);
    let (n, _) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    let recording = out[..n].to_vec();
    let mut m = recording.clone();
    assert!(before
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .is_some());

    // Restarted without its windows: authentic requests are challenged, not acted on.
    let mut server = server_for(true);
    assert_eq!(
        server.windows().count(),
        0,
        "a lost window is not saved as if known"
    );
    let mut counter = Counter::provision(MemoryStore::default(), 16).unwrap();
    for msg in [recording.clone(), {
        let (n, _) = client
            .protect_request(outer, &plain, &mut out, &mut scratch)
            .unwrap();
        out[..n].to_vec()
    }] {
        let mut m = msg.clone();
        match server.unprotect_request(&mut m, &mut scratch).unwrap() {
            GroupVerified::EchoRequired { sender, id } => {
                assert_eq!(&sender[..], &client_kid[..]);
                assert!(!id.may_reuse_nonce());
                // Its nonce is never reused for an answer.
                let p = Plain {
                    code: 0x44,
                    options: &[],
                    payload: &[],
                };
                assert_eq!(
                    server.protect_response(id, outer, &p, &mut out).err(),
                    Some(Error::InvalidConfig)
                );
            }
            GroupVerified::Fresh(_) => panic!("acted on a request of unknown freshness"),
        }
        assert!(
            !m.windows(2).any(|w| w == b"on"),
            "plaintext left in the buffer"
        );
    }
    // The challenge, under the server's own Partial IV; the client reads the Echo value.
    let (n, req_id) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    let mut m = out[..n].to_vec();
    let id = match server.unprotect_request(&mut m, &mut scratch).unwrap() {
        GroupVerified::EchoRequired { id, .. } => id,
        GroupVerified::Fresh(_) => panic!("fresh without Echo"),
    };
    let echo = [0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8];
    let cn = server
        .protect_echo_challenge(&id, outer, echo, &mut counter, &mut out)
        .unwrap();
    assert_eq!(
        counter.peek(),
        1,
        "the challenge took the server's own number"
    );
    let mut resp = out[..cn].to_vec();
    let (from, inner) = client.unprotect_response(&req_id, &mut resp).unwrap();
    assert_eq!((&from[..], inner.code), (&server_kid[..], 0x81));
    assert_eq!(inner.option(252), Some(&echo[..]));
    // The request again with the Echo value: fresh, and it sets the window.
    let with_echo = [CoapOption::new(11, b"lamp"), CoapOption::new(252, &echo)];
    let echoed = Plain {
        code: 0x03,
        options: &with_echo,
        payload: b"on",
    };
    let (n, _) = client
        .protect_request(outer, &echoed, &mut out, &mut scratch)
        .unwrap();
    let mut m = out[..n].to_vec();
    let req = server
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .expect("fresh with the Echo value");
    assert_eq!(req.inner.payload, b"on");
    assert_eq!(server.windows().count(), 1);
    // Everything from before the recovery stays refused; new requests pass.
    let mut m = recording.clone();
    assert!(matches!(
        server.unprotect_request(&mut m, &mut scratch).err(),
        Some(Error::Replay | Error::TooOld)
    ));
    let (n, _) = client
        .protect_request(outer, &plain, &mut out, &mut scratch)
        .unwrap();
    let mut m = out[..n].to_vec();
    assert!(server
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .is_some());
    // A challenge for a member whose window is known is refused.
    let mut m = recording;
    let _ = server.unprotect_request(&mut m, &mut scratch);
    assert_eq!(
        server
            .protect_echo_challenge(&id, outer, echo, &mut counter, &mut out)
            .err(),
        Some(Error::InvalidConfig)
    );
}

#[test]
fn group_mode_responses_are_signed_and_verified_by_any_member() {
    use meshseal::oscore::coap::{CoapOption, MessageType};
    use meshseal::oscore::group_endpoint::{GroupServer, Member};
    use meshseal::oscore::{Error, Outer, Plain};

    let v = vectors();
    let group = Group::of(&v);
    let (g, gid) = (group.params(), &group.gid);
    let (client_m, server_m) = (&v["members"][0], &v["members"][1]);
    let client_kid = hex_of(&client_m["sender_id"]);
    let server_kid = hex_of(&server_m["sender_id"]);
    let client_cred = hex_of(&client_m["credential"]);
    let client_key = g.member_key(&client_kid).unwrap();
    let server_key = g.member_key(&server_kid).unwrap();
    let vk = |m: &Value| {
        VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap()
    };
    let server_signing =
        SigningKey::from_bytes(&hex_of(&server_m["ed25519_seed"]).try_into().unwrap());
    let mut server = GroupServer::<2>::new(gid, g.common().unwrap())
        .unwrap()
        .answering_as(&server_kid, &hex_of(&server_m["credential"]))
        .unwrap()
        .signing_responses(&server_key, server_signing);
    server
        .add(
            Member::new(&client_kid, &client_key, &client_cred, vk(client_m))
                .unwrap()
                .pairwise(&pairwise_of(&v, 1, 0)),
        )
        .unwrap();
    let mut client = member0_client(
        &v,
        SigningKey::from_bytes(&hex_of(&client_m["ed25519_seed"]).try_into().unwrap()),
    );
    client
        .add_peer(
            &server_kid,
            &pairwise_of(&v, 0, 1),
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    let outer = Outer {
        msg_type: MessageType::NonConfirmable,
        message_id: 5,
        token: &[7],
    };
    let path = [CoapOption::new(11, b"temp")];
    let get = Plain {
        code: 0x01,
        options: &path,
        payload: &[],
    };
    let content = Plain {
        code: 0x45,
        options: &[],
        payload: b"21.5 C",
    };
    let (mut out, mut scratch) = ([0u8; 256], [0u8; 512]);
    let (n, req_id) = client
        .protect_request(outer, &get, &mut out, &mut scratch)
        .unwrap();
    let mut m = out[..n].to_vec();
    let id = server
        .unprotect_request(&mut m, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap()
        .id;
    let rn = server
        .protect_group_response(id.clone(), outer, &content, &mut out, &mut scratch)
        .unwrap();
    let response = out[..rn].to_vec();
    // Answered once, in either mode.
    assert_eq!(
        server.protect_response(id, outer, &content, &mut out).err(),
        Some(Error::InvalidConfig)
    );
    // A client that does not accept this responder's group-mode responses refuses it.
    let mut r = response.clone();
    assert_eq!(
        client.verify_response(&req_id, &mut r, &mut scratch).err(),
        Some(Error::UnknownKid)
    );
    client
        .accept_group_responses(&server_kid, &server_key, vk(server_m))
        .unwrap();
    let mut r = response.clone();
    let (from, inner) = client
        .verify_response(&req_id, &mut r, &mut scratch)
        .unwrap();
    assert_eq!(
        (&from[..], inner.code, inner.payload),
        (&server_kid[..], 0x45, &b"21.5 C"[..])
    );
    // Pairwise-only verification refuses a group-mode response.
    let mut r = response.clone();
    assert_eq!(
        client.unprotect_response(&req_id, &mut r).err(),
        Some(Error::MalformedOption)
    );
    // Every single-bit change is refused: the signature covers the ciphertext.
    let start = response.iter().position(|&b| b == 0xff).unwrap();
    for i in start..response.len() {
        let mut r = response.clone();
        r[i] ^= 0x01;
        assert!(
            client
                .verify_response(&req_id, &mut r, &mut scratch)
                .is_err(),
            "byte {i}"
        );
    }
    // A responder claiming another member's key is refused: the signature does not verify.
    let mut other = member0_client(&v, SigningKey::from_bytes(&[9; 32]));
    other
        .add_responder(
            &server_kid,
            &pairwise_of(&v, 0, 1).recipient_key,
            &hex_of(&server_m["credential"]),
        )
        .unwrap();
    other
        .accept_group_responses(&server_kid, &server_key, vk(&v["members"][2]))
        .unwrap();
    let mut r = response;
    assert_eq!(
        other.verify_response(&req_id, &mut r, &mut scratch).err(),
        Some(Error::BadSignature)
    );
}

/// An AEAD backend standing in for a platform's CCM engine: RustCrypto underneath, counting
/// the calls that reach it.
struct Platform(meshseal::RustCryptoCcm, std::cell::Cell<u32>);

impl meshseal::AeadBackend for Platform {
    fn seal_in_place(
        &self,
        nonce: &[u8; 13],
        aad: &[u8],
        buf: &mut [u8],
    ) -> Result<[u8; 8], meshseal::Error> {
        self.1.set(self.1.get() + 1);
        self.0.seal_in_place(nonce, aad, buf)
    }

    fn open_in_place(
        &self,
        nonce: &[u8; 13],
        aad: &[u8],
        buf: &mut [u8],
        tag: &[u8; 8],
    ) -> Result<(), meshseal::Error> {
        self.1.set(self.1.get() + 1);
        self.0.open_in_place(nonce, aad, buf, tag)
    }
}

#[test]
fn a_group_server_runs_on_any_aead_backend() {
    use meshseal::oscore::group_endpoint::{GroupServer, Member};
    let v = vectors();
    let group = Group::of(&v);
    let g = group.params();
    let m = &v["members"][0];
    let kid = hex_of(&m["sender_id"]);
    let key = g.member_key(&kid).unwrap();
    let vk = VerifyingKey::from_bytes(&hex_of(&m["ed25519_public"]).try_into().unwrap()).unwrap();
    let platform = Platform(meshseal::RustCryptoCcm::new(&key), std::cell::Cell::new(0));
    let mut server: GroupServer<2, Platform> =
        GroupServer::new(&group.gid, g.common().unwrap()).unwrap();
    server
        .add(Member::with_backend(&kid, platform, &hex_of(&m["credential"]), vk).unwrap())
        .unwrap();
    let mut buf = hex_of(&v["group_request"]["message"]);
    let mut scratch = [0u8; 512];
    let req = server
        .unprotect_request(&mut buf, &mut scratch)
        .unwrap()
        .fresh()
        .unwrap();
    assert_eq!(
        req.inner.payload,
        [0x01],
        "aiocoap's request, through the platform's AEAD"
    );
}
