//! The simulator's HTTP side: the axum router, its control handle, stats, and a loopback server.
//!
//! A request to an endpoint goes through `routes.rs` (counting) to `page.rs`, which draws the
//! request's faults, answers the ones in front of the app (`inject.rs`), validates the paging
//! (`paging.rs`) and writes the page. `state.rs` is what every request shares, `control.rs`
//! the handle that changes it, `running.rs` the loopback server, `responses.rs` and `docs.rs`
//! the fixed answers.

mod control;
mod docs;
mod inject;
mod page;
mod paging;
mod responses;
mod routes;
mod running;
mod state;

pub use control::{SimulatorControl, SimulatorStats};
pub use routes::router;
pub use running::RunningSimulator;
