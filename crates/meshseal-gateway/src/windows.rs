//! Replay windows and membership in hash tables: the core's `PeerTable` scans linearly and
//! has a fixed capacity, which suits a device with a handful of peers, not a gateway with
//! thousands. Nothing here is ever evicted: the gateway holds a window for every member.

use std::collections::{HashMap, HashSet};

use meshseal::context::Membership;
use meshseal::replay::{Lane, ReplayStore, ReplayWindow, WindowKey};

/// One 64-frame replay window per sender, never evicted. Each window records the key epoch of
/// the numbers it holds (a sender's first frame of a newer epoch opens a new window, as in the
/// core); `.1` is the epoch the gateway was started in, given to windows restored from a store
/// that recorded none. Plain group frames only: the gateway holds no source keys and never
/// accepts a pairwise or signed frame.
#[derive(Debug, Clone, Default)]
pub struct Windows(pub HashMap<u32, ReplayWindow>, pub u16);

impl ReplayStore<1> for Windows {
    fn get(&mut self, key: WindowKey) -> Option<&mut ReplayWindow> {
        if key.lane != Lane::Group {
            return None;
        }
        self.0.get_mut(&key.sender)
    }

    fn insert(&mut self, key: WindowKey, window: ReplayWindow) -> Option<WindowKey> {
        if key.lane != Lane::Group {
            return Some(key);
        }
        self.0.insert(key.sender, window);
        None
    }
}

/// The group's members, looked up in constant time.
#[derive(Debug, Clone, Default)]
pub struct Members(pub HashSet<u32>);

impl Membership for Members {
    fn contains(&self, sender: u32) -> bool {
        self.0.contains(&sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshseal::OrderPolicy;

    #[test]
    fn windows_hold_every_sender() {
        let mut w = Windows::default();
        for s in 0..5000 {
            assert_eq!(
                w.insert(WindowKey::group(s), ReplayWindow::provisioned()),
                None
            );
        }
        let win = w.get(WindowKey::group(4321)).expect("held");
        win.accept(7);
        assert_eq!(
            w.get(WindowKey::group(4321))
                .map(|x| x.check(7, OrderPolicy::Window)),
            Some(Err(meshseal::Error::Replay))
        );
        assert!(w.get(WindowKey::group(5000)).is_none());
        assert!(w.get(WindowKey::source(4321)).is_none());
        let m = Members((1..=3).collect());
        assert!(m.contains(2) && !m.contains(4));
    }
}
