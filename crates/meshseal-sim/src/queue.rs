//! The event queue: a binary heap ordered by time, ties broken by insertion order, so a run is
//! a pure function of its seed (no two events ever compare equal).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Simulated time in microseconds.
pub type Micros = u64;

/// What happens at an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A node takes a reading and seals it.
    Generate {
        /// The node.
        node: u32,
    },
    /// A packet is sent over the link `from → to` (one attempt).
    Transmit {
        /// The packet (slab index).
        pkt: u32,
        /// Sending node.
        from: u32,
        /// Next hop.
        to: u32,
    },
    /// A packet arrives at a node (received over a link or injected by the attacker).
    Arrive {
        /// The packet (slab index).
        pkt: u32,
        /// Receiving node.
        at: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Event {
    at: Micros,
    order: u64,
    kind: Kind,
}

impl Ord for Event {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap, the earliest event must come out first.
        (other.at, other.order).cmp(&(self.at, self.order))
    }
}

impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Pending events, earliest first.
#[derive(Debug, Default)]
pub struct Queue {
    heap: BinaryHeap<Event>,
    next: u64,
}

impl Queue {
    /// Schedules `kind` at `at`.
    pub fn push(&mut self, at: Micros, kind: Kind) {
        self.heap.push(Event {
            at,
            order: self.next,
            kind,
        });
        self.next += 1;
    }

    /// The earliest event, if any.
    pub fn pop(&mut self) -> Option<(Micros, Kind)> {
        self.heap.pop().map(|e| (e.at, e.kind))
    }

    /// Events pending.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earliest_first_ties_in_insertion_order() {
        let mut q = Queue::default();
        q.push(30, Kind::Generate { node: 3 });
        q.push(10, Kind::Generate { node: 1 });
        q.push(30, Kind::Generate { node: 4 });
        q.push(20, Kind::Generate { node: 2 });
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            vec![
                (10, Kind::Generate { node: 1 }),
                (20, Kind::Generate { node: 2 }),
                (30, Kind::Generate { node: 3 }),
                (30, Kind::Generate { node: 4 }),
            ]
        );
        assert!(q.is_empty());
    }
}
