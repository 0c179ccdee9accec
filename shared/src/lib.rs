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
//! | [`commit`] | the commit protocol of every stage ([`commit::with_run`]): lease and heartbeat, per-run folders, one conditional switch, symlink manifests, clean-up |
//! | [`job`] | what every run shares around its work: invocation (run id, deadline), span, run metrics, error classes |
//! | [`manifest`] | what a committed partition records about itself |
//! | [`metrics`] | metric names, and the CloudWatch and local sinks |
//! | [`records`] | the source's rows and their validation (accepted / warned / rejected) |
//! | [`source`] | the paginated HTTP client of the source API, with retries |
//! | [`fetch`] | the fetch job: every endpoint, every page, into raw partitions |
//! | [`transform`] | the transform job: raw into curated Parquet tables (SCD2 history of tracks and users, listen events and their daily delta), with data-quality checks and quarantine |
//! | [`transform::scd2`] | the pure SCD2 merge of (previous history, today's snapshot, as_of) |
//! | [`transform::listen_events`] | listen history flattened per item, and the day's new pairs |
//! | [`transform::quality`] | blocking and warning checks, thresholds, the data-quality report |
//! | [`transform::parquet_io`] | the curated tables' Parquet schemas, part files, reading back |
//! | [`transform::pii`] | the keyed e-mail hash (HMAC-SHA256) and its key id, the names policy, the key from SSM |
//! | [`transform::curated`], [`transform::raw`] | curated business rows and their hash; reading (and, for tests, writing) a committed raw date |
//! | [`recommend`] | the recommend job: daily scoring with the champion ALS model, gated retraining, rollback |
//! | [`recommend::als`] | implicit-feedback ALS solved by conjugate gradient, multi-threaded |
//! | [`recommend::training`], [`recommend::gate`] | temporal split, evaluation against popularity and the champion, the promotion gate |
//! | [`recommend::scoring`], [`recommend::cold_start`] | top-K per user with fold-in of changed users; genre popularity for cold start |
//! | [`recommend::model_store`] | stored model versions and the champion pointer |
//! | [`trigger`] | the events that start a run, and the logical date they carry |
//! | [`buckets`] | buckets of users by a stable hash of `user_id`: the unit of fan-out of the listen tables |
//! | [`transform::fanout`] | transform fanned out over buckets: prepare, one bucket, one commit; the state machine's step events |
//! | [`fanout`] | the local fan-out runner: buckets as child processes, the parent committing |
//! | [`erase`] | a user's personal data removed from every committed date of raw, quarantine and curated |
//! | [`telemetry`] | logging set-up (JSON in Lambda; locally warnings on the terminal, the full log to a file) |
//! | [`progress`] | progress of long work (a handle the jobs call; the local command draws it on a terminal) |
//! | [`report`] | the HTML report of a data folder: runs, data quality, models and the gate, top tracks |

#[cfg(test)]
mod arbitrary_json;
pub mod buckets;
pub mod commit;
pub mod job;
pub mod config;
pub mod erase;
pub mod fanout;
pub mod fetch;
pub mod manifest;
pub mod metrics;
pub mod partition;
pub mod progress;
pub mod recommend;
pub mod records;
pub mod report;
pub mod source;
pub mod storage;
pub mod telemetry;
pub mod transform;
pub mod trigger;
/// The built-in simulator of the source API (tests, local runs, benchmarks).
#[cfg(feature = "simulator")]
pub mod simulator;
