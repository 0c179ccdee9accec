//! The common crate of the MooVitamix pipeline.
//!
//! Three Lambda functions (`functions/fetch`, `transform`, `recommend`) are thin adapters over
//! this crate. The map:
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`config`] | the environment loader and the settings every stage shares; each stage's own settings and their table in `<stage>::config` |
//! | [`aws`] | the AWS SDK configuration, loaded once per container and handed to the S3, CloudWatch and SSM clients |
//! | [`ssm`] | the SSM adapter: transform's e-mail hashing key, a SecureString |
//! | [`partition`] | the `<zone>/<dataset>/dt=YYYY-MM-DD/<file>` key layout, built and parsed in one place |
//! | [`storage`] | the object store trait: local folder, S3, memory; each function's store scoped to the zones its IAM role allows |
//! | [`commit`] | the commit protocol of every stage ([`commit::with_run`]): lease and heartbeat, per-run folders, one conditional switch, symlink manifests, clean-up |
//! | [`job`] | what every run shares around its work: invocation (run id, deadline), span, run metrics, error classes |
//! | [`manifest`] | what a committed partition records about itself |
//! | [`metrics`] | metric names, and the CloudWatch and local sinks |
//! | [`records`] | the source's rows and their validation (accepted / warned / rejected) |
//! | [`source`] | the source API's pages: the [`source::PageSource`] seam with the listing rules, and the HTTP client with retries |
//! | [`fetch`] | the fetch job: every endpoint, every page, into raw partitions |
//! | [`quarantine`] | a quarantined row's JSON line, one shape for fetch's rejections and transform's |
//! | [`codec`] | the table codec, nothing table-specific: columns declared once, Parquet part files written and read back, gzipped JSON-lines parts |
//! | [`curated`] | the curated tables, the contract between the stages: one file per table (row type and columns), the SCD2 columns, the row hash, the table names |
//! | [`transform`] | the transform job: raw into curated Parquet tables (SCD2 history of tracks and users, listen events and their daily delta), with data-quality checks and quarantine |
//! | [`transform::scd2`] | the pure SCD2 merge of (previous history, today's snapshot, as_of) |
//! | [`transform::listen_events`] | listen history flattened per item, and the day's new pairs |
//! | [`transform::quality`] | blocking and warning checks, thresholds, the data-quality report |
//! | [`transform::rows`] | today's records as curated rows: derived columns, personal data through [`transform::pii`] |
//! | [`transform::pii`] | the keyed e-mail hash (HMAC-SHA256) and its key id, the names policy |
//! | [`transform::raw_date`] | reading (and, for tests, writing) a committed raw date |
//! | `transform::raw_lines` | a raw part's JSON lines, read in order or parsed on every core and taken in order |
//! | [`recommend`] | the recommend job: daily scoring with the champion ALS model, gated retraining, rollback |
//! | [`recommend::als`] | implicit-feedback ALS solved by conjugate gradient, multi-threaded |
//! | [`recommend::training`], [`recommend::gate`] | temporal split, evaluation against popularity and the champion, the promotion gate |
//! | [`recommend::scoring`], [`recommend::cold_start`] | top-K per user with fold-in of changed users; genre popularity for cold start |
//! | [`recommend::drift`] | the drift blend: a track's recent trend added to the model's scores, with a weight each train run chooses on held-out listens |
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
pub mod aws;
pub mod buckets;
pub mod codec;
pub mod commit;
pub mod curated;
pub mod job;
pub mod config;
pub mod erase;
pub mod fanout;
pub mod fetch;
pub mod manifest;
pub mod metrics;
pub mod partition;
pub mod progress;
pub mod quarantine;
pub mod recommend;
pub mod records;
pub mod report;
pub mod source;
pub mod ssm;
pub mod storage;
pub mod telemetry;
pub mod transform;
pub mod trigger;
/// The built-in simulator of the source API (tests, local runs, benchmarks).
#[cfg(feature = "simulator")]
pub mod simulator;

/// The README's map of concepts to files names files and folders that exist.
#[cfg(test)]
#[test]
fn the_readme_layout_names_existing_files() {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Repository layout").nth(1).expect("the README has a layout section");
    let map = section.split("(`shared/src/`").nth(1).expect("the layout maps concepts to files under shared/src/");
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut named = 0;
    for row in map.lines().filter(|l| l.starts_with("| ") && !l.starts_with("| concept") && !l.starts_with("| ---")) {
        let files = row.rsplit('|').nth(1).unwrap_or_default();
        let mut folder = String::new();
        for name in files.split('`').skip(1).step_by(2) {
            if name.ends_with('/') {
                folder = name.to_owned();
            }
            // A bare file name after a folder (`commit/` (`run.rs`)) is in that folder.
            let path = if name.contains('/') { src.join(name) } else { src.join(&folder).join(name) };
            assert!(path.exists(), "README layout: {name} ({}) does not exist", path.display());
            named += 1;
        }
    }
    assert!(named > 30, "the map names {named} files");
}
