//! Mesh topology: nodes on a square grid with the gateway in the middle; each node forwards
//! towards the gateway through the neighbour with the fewest hops to it (ties: lowest id), so
//! routes form a tree and frames of one origin travel one FIFO path.

/// The gateway's node id (it is also the receiver of all readings).
pub const GATEWAY: u32 = 0;

/// Where each node forwards, and how far it is from the gateway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// `parent[i]`: next hop of node `i` towards the gateway (`parent[0]` is 0).
    pub parent: Vec<u32>,
    /// `hops[i]`: hops from node `i` to the gateway.
    pub hops: Vec<u32>,
}

impl Topology {
    /// A grid of `nodes` sensor nodes plus the gateway.
    pub fn grid(nodes: u32) -> Self {
        let total = nodes as usize + 1;
        let side = (total as f64).sqrt().ceil() as usize;
        // Cells in row-major order; the gateway takes the middle cell, nodes the others in order.
        let centre = (side / 2) * side + side / 2;
        let gateway_cell = centre.min(total - 1);
        let mut cell_of = Vec::with_capacity(total);
        cell_of.push(gateway_cell);
        cell_of.extend((0..total).filter(|&c| c != gateway_cell));
        let mut node_at = vec![u32::MAX; side * side];
        for (id, &c) in cell_of.iter().enumerate() {
            node_at[c] = id as u32;
        }
        let mut hops = vec![u32::MAX; total];
        let mut parent = vec![GATEWAY; total];
        hops[0] = 0;
        let mut frontier = std::collections::VecDeque::from([GATEWAY]);
        while let Some(n) = frontier.pop_front() {
            let c = cell_of[n as usize];
            let (x, y) = (c % side, c / side);
            let mut neighbours = [None; 4];
            if x > 0 {
                neighbours[0] = Some(c - 1);
            }
            if x + 1 < side {
                neighbours[1] = Some(c + 1);
            }
            if y > 0 {
                neighbours[2] = Some(c - side);
            }
            if y + 1 < side {
                neighbours[3] = Some(c + side);
            }
            let mut found: Vec<u32> = neighbours
                .iter()
                .flatten()
                .map(|&c| node_at[c])
                .filter(|&m| m != u32::MAX && hops[m as usize] == u32::MAX)
                .collect();
            found.sort_unstable();
            for m in found {
                hops[m as usize] = hops[n as usize] + 1;
                parent[m as usize] = n;
                frontier.push_back(m);
            }
        }
        // A cell left unreachable (cannot happen on a filled grid prefix, kept total anyway)
        // is attached to the gateway directly.
        for h in hops.iter_mut().skip(1) {
            if *h == u32::MAX {
                *h = 1;
            }
        }
        Topology { parent, hops }
    }

    /// Number of nodes including the gateway.
    pub fn len(&self) -> usize {
        self.parent.len()
    }

    /// Whether the topology holds only the gateway.
    pub fn is_empty(&self) -> bool {
        self.parent.len() <= 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_routes_lead_to_the_gateway() {
        let t = Topology::grid(24);
        assert_eq!(t.len(), 25);
        for n in 1..t.len() as u32 {
            let mut at = n;
            let mut steps = 0;
            while at != GATEWAY {
                let next = t.parent[at as usize];
                assert_eq!(t.hops[next as usize] + 1, t.hops[at as usize]);
                at = next;
                steps += 1;
                assert!(steps <= 25);
            }
            assert_eq!(steps, t.hops[n as usize]);
        }
        // 5×5 grid with the gateway in the middle: the corners are 4 hops away.
        assert_eq!(t.hops.iter().max(), Some(&4));
    }

    #[test]
    fn single_node_is_one_hop() {
        let t = Topology::grid(1);
        assert_eq!(t.hops, vec![0, 1]);
    }
}
