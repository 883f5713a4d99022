//! The two-node mode of the load generator (`--url-far`): step 11 (or the
//! Node original with its Redis adapter) runs as two processes sharing one
//! chat through Redis, and the clients are split over them.
//!
//! The split is fixed and simple, so that what crosses Redis is known: the
//! first half of the clients ([`Split::halves`], the larger half when the
//! count is odd) connect to the *near* node, the rest to the *far* node,
//! and the senders (always the first clients) are all near. So every
//! delivery to a far client went through Redis, and none to a near client
//! had to; the difference between the two sides' latencies is what Redis
//! adds. Latency histograms and counts are kept per side
//! ([`SideFigures`]); loss is counted over all.

use serde::{Deserialize, Serialize};

use crate::latency::LatencySummary;

/// Which node a client is connected to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Side {
    /// `--url`, where the senders are (the only node of a one-node run).
    #[default]
    Near,
    /// `--url-far`.
    Far,
}

/// How many clients each node gets. Clients `0..near` are near, the rest far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Split {
    pub near: u32,
    pub far: u32,
}

impl Split {
    /// Every client on the one node.
    pub fn single(clients: u32) -> Split {
        Split {
            near: clients,
            far: 0,
        }
    }

    /// Half and half; the near node gets the odd one out, since it also has
    /// the senders.
    pub fn halves(clients: u32) -> Split {
        Split {
            near: clients - clients / 2,
            far: clients / 2,
        }
    }

    /// The side of client `index`.
    pub fn side_of(&self, index: u32) -> Side {
        if index < self.near {
            Side::Near
        } else {
            Side::Far
        }
    }
}

/// What the clients of one node saw.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SideFigures {
    pub clients: u64,
    /// Deliveries of measured messages this side's clients should have had.
    pub deliveries_expected: u64,
    pub deliveries_received: u64,
    /// Deliveries (of any message) that arrived in the measured window, and
    /// per second.
    pub deliveries_in_window: u64,
    pub deliveries_per_second: f64,
    /// From the senders' write to this side's clients' read, on the one clock.
    pub latency: Option<LatencySummary>,
}

/// The near and far sides of a two-node run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TwoNodeFigures {
    pub near_url: String,
    pub far_url: String,
    pub near: SideFigures,
    pub far: SideFigures,
}

impl TwoNodeFigures {
    /// How much later than the near side the far side's median delivery
    /// came: what crossing Redis costs (the bar of issue 14 is 0.5 ms).
    pub fn far_minus_near_p50_ms(&self) -> Option<f64> {
        Some(self.far.latency?.p50_ms - self.near.latency?.p50_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An even count splits evenly, an odd one gives the near node the extra
    /// client, and the first half is near.
    #[test]
    fn halves_put_the_first_half_near() {
        let even = Split::halves(100);
        let odd = Split::halves(7);

        assert_eq!((even.near, even.far), (50, 50));
        assert_eq!((odd.near, odd.far), (4, 3));
        assert_eq!(even.side_of(49), Side::Near);
        assert_eq!(even.side_of(50), Side::Far);
        assert_eq!((0..7).filter(|&i| odd.side_of(i) == Side::Far).count(), 3);
    }

    /// One node: nobody is far.
    #[test]
    fn a_single_node_has_everyone_near() {
        let split = Split::single(10);

        assert!((0..10).all(|i| split.side_of(i) == Side::Near));
    }
}
