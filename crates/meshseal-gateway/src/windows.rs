//! Replay windows and membership in hash tables: the core's `PeerTable` scans linearly and
//! has a fixed capacity, which suits a device with a handful of peers, not a gateway with
//! thousands. Nothing here is ever evicted: the gateway holds a window for every member.

use std::collections::{HashMap, HashSet};

use meshseal::context::Membership;
use meshseal::replay::{ReplayStore, ReplayWindow};

/// One 64-frame replay window per sender, never evicted.
#[derive(Debug, Clone, Default)]
pub struct Windows(pub HashMap<u32, ReplayWindow>);

impl ReplayStore<1> for Windows {
    fn get(&mut self, sender: u32) -> Option<&mut ReplayWindow> {
        self.0.get_mut(&sender)
    }

    fn insert(&mut self, sender: u32, window: ReplayWindow) -> Option<u32> {
        self.0.insert(sender, window);
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
            assert_eq!(w.insert(s, ReplayWindow::provisioned()), None);
        }
        let win = w.get(4321).expect("held");
        win.accept(7);
        assert_eq!(
            w.get(4321).map(|x| x.check(7, OrderPolicy::Window)),
            Some(Err(meshseal::Error::Replay))
        );
        assert!(w.get(5000).is_none());
        let m = Members((1..=3).collect());
        assert!(m.contains(2) && !m.contains(4));
    }
}
