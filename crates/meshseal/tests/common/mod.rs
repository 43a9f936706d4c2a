//! Helpers shared by the integration tests.
#![allow(dead_code)]

use meshseal::counter::MemoryStore;
use meshseal::replay::PeerTable;
use meshseal::{GroupKeys, Recipient, RecipientConfig, Sender, SenderConfig};

pub const SECRET: [u8; 32] = [0x42; 32];
pub const GROUP: u32 = 7;

pub fn keys(epoch: u16) -> GroupKeys {
    GroupKeys::derive(&SECRET, b"", GROUP, epoch).unwrap()
}

pub fn sender(id: u32) -> Sender<MemoryStore> {
    Sender::provision(keys(0), SenderConfig::new(id), MemoryStore::default()).unwrap()
}

pub fn sender_at(id: u32, seq: u64, cfg: impl FnOnce(&mut SenderConfig)) -> Sender<MemoryStore> {
    let mut c = SenderConfig::new(id);
    cfg(&mut c);
    Sender::new(
        keys(0),
        c,
        MemoryStore {
            limit: Some(seq),
            writes: 0,
        },
    )
    .unwrap()
}

pub type Rx = Recipient<PeerTable<8>, core::ops::RangeInclusive<u32>>;

/// A receiver (id 100) provisioned for senders 1..=3, accepting members 0..=1000.
pub fn recipient() -> Rx {
    let mut r = Recipient::new(
        keys(0),
        RecipientConfig {
            own_id: Some(100),
            ..Default::default()
        },
        0..=1000,
        PeerTable::new(),
    );
    for s in 1..=3 {
        r.provision(s);
    }
    r
}
