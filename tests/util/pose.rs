//! The value the typed tests and benches send: a pose whose JSON is 64
//! bytes. Shared by `tests/typed.rs` and `benches/typed.rs`.

use serde::{Deserialize, Serialize};

/// Where something is, and when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pose {
    pub(crate) x: f64,
    pub(crate) y: f64,
    pub(crate) z: f64,
    pub(crate) yaw: f64,
    pub(crate) t: u64,
}

/// A pose stamped `t`: its JSON is 64 bytes while `t` stays under 8e12.
pub(crate) fn pose(t: u64) -> Pose {
    Pose {
        x: 12.375,
        y: -3.25,
        z: 0.5625,
        yaw: 1.5625,
        t: 1_700_000_000_000 + t,
    }
}
