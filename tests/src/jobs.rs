//! The fetch and transform jobs of an end-to-end test, built the one way every test builds them.

use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::source::SourceClient;
use moovitamix::storage::{ScopedStore, Store};
use moovitamix::transform::Transformer;
use moovitamix::transform::config::SaltSource;
use moovitamix::transform::pii::Pii;
use std::collections::HashMap;
use std::sync::Arc;

/// Two jobs over one store, each with its own in-memory metrics.
pub struct Jobs {
    pub fetcher: Fetcher,
    pub transformer: Transformer,
    pub fetch_metrics: Arc<MemorySink>,
    pub transform_metrics: Arc<MemorySink>,
}

/// The e-mail hashing key of a test that names none (`PII_SALT` in `env` overrides it).
pub const TEST_SALT: &str = "e2e-salt";

/// Fetch (reading the source at `url`) and transform over `store`, each reaching only the zones
/// its IAM role allows (`moovitamix::storage::ACCESS`), configured as the environment
/// `env` says over the documented defaults, as a container would be (but with test metrics and
/// no AWS configuration).
pub fn jobs(url: &str, store: Arc<dyn Store>, env: &[(&str, &str)]) -> Jobs {
    let mut vars: HashMap<&str, &str> = [("SOURCE_API_URL", url), ("PII_SALT", TEST_SALT)].into();
    vars.extend(env.iter().copied());
    let config = Config::from_lookup(|k| vars.get(k).map(|v| v.to_string())).expect("a valid test configuration");
    let SaltSource::Value(salt) = config.transform.salt.clone() else { panic!("tests hash with PII_SALT") };
    let (fetch_metrics, transform_metrics) = (Arc::new(MemorySink::default()), Arc::new(MemorySink::default()));
    let fetcher = Fetcher {
        store: Arc::new(ScopedStore::new(store.clone(), moovitamix::fetch::FUNCTION)),
        source: SourceClient::new(config.source.clone()).expect("a valid source client"),
        metrics: Metrics::new(moovitamix::fetch::FUNCTION, "MooVitamix/Test", fetch_metrics.clone()),
        part_rows: config.part_rows,
        limits: config.fetch,
        commit: config.commit(),
    };
    let commit = config.commit();
    let transformer = Transformer {
        store: Arc::new(ScopedStore::new(store, moovitamix::transform::FUNCTION)),
        metrics: Metrics::new(moovitamix::transform::FUNCTION, "MooVitamix/Test", transform_metrics.clone()),
        pii: Pii::new(salt, config.transform.keep_names),
        config: config.transform,
        commit,
    };
    Jobs { fetcher, transformer, fetch_metrics, transform_metrics }
}
