//! Group OSCORE key material against the frozen vectors (`vectors/group-oscore-v1.json`,
//! derived by aiocoap's `SimpleGroupContext` for fixed inputs): the Common IV, the Signature
//! Encryption Key, every member's group-mode Sender Key, the ECDH shared secret of every pair
//! from their Ed25519 keys, and both pairwise keys in both directions.
#![cfg(feature = "group-oscore")]

use ed25519_dalek::{SigningKey, VerifyingKey};
use meshseal::oscore::group::{pairwise_keys, shared_secret, GroupParams, Side};
use serde_json::Value;

fn vectors() -> Value {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/group-oscore-v1.json");
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

fn key16(v: &Value) -> [u8; 16] {
    hex_of(v).try_into().unwrap()
}

#[test]
fn the_group_context_matches_aiocoap() {
    let v = vectors();
    let (secret, salt, gid) = (
        hex_of(&v["master_secret"]),
        hex_of(&v["master_salt"]),
        hex_of(&v["gid"]),
    );
    let g = GroupParams {
        master_secret: &secret,
        master_salt: &salt,
        gid: &gid,
    };
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
            &gid,
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
