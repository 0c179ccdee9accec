//! The common crate of the MooVitamix pipeline.
//!
//! Three Lambda functions (`functions/fetch`, `transform`, `recommend`) are thin adapters over
//! this crate. The map:
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`config`] | settings from environment variables, loaded once per container |
//! | [`partition`] | the `<zone>/<dataset>/dt=YYYY-MM-DD/<file>` key layout, built and parsed in one place |
//! | [`storage`] | the object store trait: local folder, S3, memory |
//! | [`commit`] | the partition commit protocol: lease, data objects, manifest last, clean-up |
//! | [`manifest`] | what a committed partition records about itself |
//! | [`metrics`] | metric names, and the CloudWatch and local sinks |
//! | [`records`] | the source's rows and their validation (accepted / warned / rejected) |
//! | [`source`] | the paginated HTTP client of the source API, with retries |
//! | [`fetch`] | the fetch job: every endpoint, every page, into raw partitions |
//! | [`trigger`] | the events that start a run, and the logical date they carry |
//! | [`telemetry`] | logging set-up (JSON in Lambda, text locally) |

pub mod commit;
pub mod config;
pub mod fetch;
pub mod manifest;
pub mod metrics;
pub mod partition;
pub mod records;
pub mod source;
pub mod storage;
pub mod telemetry;
pub mod trigger;
/// The built-in simulator of the source API (tests, local runs, benchmarks).
#[cfg(feature = "simulator")]
pub mod simulator;
