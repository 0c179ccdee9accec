//! Stored model versions and the champion pointer, under `models/als/`.
//!
//! | key | what |
//! | --- | --- |
//! | `models/als/version=<id>/factors.bin` | the ALS factors ([`super::als::AlsModel::to_bytes`]) |
//! | `models/als/version=<id>/ids.bin` | id maps: user ids with a hash of each user's training listens, track ids ([`IdTable`]) |
//! | `models/als/version=<id>/model.json` | the model card ([`ModelCard`]): written last, it makes the version exist |
//! | `models/als/champion.json` | the pointer to the version in use ([`Champion`]), replaced only by a conditional write |
//!
//! A version id is the training run's id (`YYYYMMDDTHHMMSSZ-xxxxxxxx`), so versions sort by time.

use super::evaluation::Evaluation;
use super::gate::Decision;
use super::ids::IdTable;
use super::recipe::Recipe;
use crate::partition::{CHAMPION_KEY, MODELS_PREFIX, model_version_key as version_key, parse_model_version_key};
use crate::storage::{ETag, PutMode, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

const CARD_FILE: &str = "model.json";
const SEEN_FILE: &str = "seen.bin";

#[derive(Debug, thiserror::Error)]
pub enum ModelStoreError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("no model version `{version}` under {MODELS_PREFIX} (stored versions: {known})")]
    NoSuchVersion { version: String, known: String },
    #[error("the champion pointer changed while this run replaced it (another run promoted or rolled back); re-run to decide again")]
    ChampionMoved,
}

/// What a stored version records about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub version: String,
    pub trained_at: DateTime<Utc>,
    /// The curated date whose `listen_events` it was trained on.
    pub data_date: NaiveDate,
    pub hyper: Recipe,
    pub users: u64,
    /// Distinct tracks in the listens read; the model knows those it was fitted on (`ids.bin`).
    pub tracks: u64,
    pub listens: u64,
    pub first_listen: Option<DateTime<Utc>>,
    pub last_listen: Option<DateTime<Utc>>,
    pub evaluation: Evaluation,
    pub decision: Decision,
    /// When the gate promoted this model but an automatic run left the pinned champion (this
    /// version) in place.
    #[serde(default)]
    pub held_by_pin: Option<String>,
    /// When the gate promoted this model but the champion was trained on a later curated date
    /// (that date): a model of older data does not replace it.
    #[serde(default)]
    pub held_by_newer_champion: Option<NaiveDate>,
    pub train_ms: u64,
    pub code_version: String,
}

impl ModelCard {
    /// Why a model the gate promoted did not become the champion, if it did not.
    pub fn held(&self) -> Option<String> {
        match (&self.held_by_pin, self.held_by_newer_champion) {
            (Some(pinned), _) => Some(format!("held: the champion {pinned} is pinned")),
            (None, Some(date)) => Some(format!("held: the champion is trained on a later date, {date}")),
            (None, None) => None,
        }
    }
}

/// `models/als/champion.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Champion {
    pub version: String,
    pub since: DateTime<Utc>,
    /// `promoted` (by the gate) or `rollback`.
    pub how: String,
    pub previous: Option<String>,
    /// Set by a rollback: automatic retraining (a score run's) stores candidates but does not
    /// replace this champion; an explicit train or an unpin does.
    #[serde(default)]
    pub pinned: bool,
}

/// A version read back whole.
#[derive(Debug, Clone)]
pub struct StoredModel {
    pub card: ModelCard,
    pub factors: Bytes,
    pub ids: IdTable,
}

/// The model area of a store.
#[derive(Debug, Clone)]
pub struct ModelStore {
    store: Arc<dyn Store>,
}

impl ModelStore {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self { store }
    }

    /// Writes a version: its data first (`seen`: [`super::seen::encode`] of the pairs it was
    /// trained on), its card last (create-only: a version is never rewritten).
    pub async fn save(&self, card: &ModelCard, factors: Vec<u8>, ids: &IdTable, seen: Vec<u8>) -> Result<(), ModelStoreError> {
        let v = &card.version;
        self.store.put(&version_key(v, "factors.bin"), Bytes::from(factors), PutMode::Overwrite).await?;
        self.store.put(&version_key(v, "ids.bin"), Bytes::from(ids.to_bytes()), PutMode::Overwrite).await?;
        self.store.put(&version_key(v, SEEN_FILE), Bytes::from(seen), PutMode::Overwrite).await?;
        let json = serde_json::to_vec_pretty(card).expect("a model card serialises");
        self.store.put(&version_key(v, CARD_FILE), Bytes::from(json), PutMode::Create).await?;
        Ok(())
    }

    /// Every stored version, oldest first.
    pub async fn versions(&self) -> Result<Vec<String>, ModelStoreError> {
        let objects = self.store.list(MODELS_PREFIX).await?;
        Ok(objects
            .iter()
            .filter_map(|o| parse_model_version_key(&o.key).filter(|(_, file)| *file == CARD_FILE).map(|(version, _)| version.to_owned()))
            .collect())
    }

    pub async fn card(&self, version: &str) -> Result<Option<ModelCard>, ModelStoreError> {
        let key = version_key(version, CARD_FILE);
        let Some(object) = self.store.get_opt(&key).await? else { return Ok(None) };
        serde_json::from_slice(&object.data).map(Some).map_err(|e| ModelStoreError::Corrupt { key, detail: e.to_string() })
    }

    /// A version's card, factors and ids; a missing version names the stored ones.
    pub async fn load(&self, version: &str) -> Result<StoredModel, ModelStoreError> {
        let Some(card) = self.card(version).await? else {
            let known = self.versions().await?;
            let known = if known.is_empty() { "none".to_owned() } else { known.join(", ") };
            return Err(ModelStoreError::NoSuchVersion { version: version.to_owned(), known });
        };
        let factors = self.store.get(&version_key(version, "factors.bin")).await?.data;
        let ids_key = version_key(version, "ids.bin");
        let ids_data = self.store.get(&ids_key).await?.data;
        let ids = IdTable::from_bytes(&ids_data).map_err(|detail| ModelStoreError::Corrupt { key: ids_key, detail })?;
        Ok(StoredModel { card, factors, ids })
    }

    /// The `(user id, track id)` pairs a version was trained on, sorted and distinct, of the
    /// users `keep` accepts; `None` for a version stored before they were kept.
    pub async fn seen(&self, version: &str, keep: &dyn Fn(i64) -> bool) -> Result<Option<Vec<(i64, i64)>>, ModelStoreError> {
        let key = version_key(version, SEEN_FILE);
        let Some(object) = self.store.get_opt(&key).await? else { return Ok(None) };
        super::seen::decode(&object.data, keep).map(Some).map_err(|detail| ModelStoreError::Corrupt { key, detail })
    }

    /// The champion pointer and its entity tag (for the conditional replace), if there is one.
    pub async fn champion(&self) -> Result<Option<(Champion, ETag)>, ModelStoreError> {
        let Some(object) = self.store.get_opt(CHAMPION_KEY).await? else { return Ok(None) };
        let champion = serde_json::from_slice(&object.data)
            .map_err(|e| ModelStoreError::Corrupt { key: CHAMPION_KEY.into(), detail: e.to_string() })?;
        Ok(Some((champion, object.etag)))
    }

    /// Points the champion at `version`, if the pointer is still what this run read (`read`):
    /// created when there was none, replaced by entity tag otherwise. The version must exist.
    pub async fn set_champion(&self, version: &str, how: &str, read: Option<(Champion, ETag)>, at: DateTime<Utc>) -> Result<Champion, ModelStoreError> {
        if self.card(version).await?.is_none() {
            let known = self.versions().await?.join(", ");
            return Err(ModelStoreError::NoSuchVersion { version: version.to_owned(), known });
        }
        let (previous, mode) = match read {
            Some((c, etag)) => (Some(c.version), PutMode::Replace(etag)),
            None => (None, PutMode::Create),
        };
        let champion = Champion { version: version.to_owned(), since: at, how: how.to_owned(), previous, pinned: how == "rollback" };
        self.write_champion(champion, mode).await
    }

    /// Clears the pin of the champion this run read (`read`), by a conditional write.
    pub async fn unpin(&self, read: (Champion, ETag)) -> Result<Champion, ModelStoreError> {
        let (champion, etag) = read;
        self.write_champion(Champion { pinned: false, ..champion }, PutMode::Replace(etag)).await
    }

    async fn write_champion(&self, champion: Champion, mode: PutMode) -> Result<Champion, ModelStoreError> {
        let json = Bytes::from(serde_json::to_vec_pretty(&champion).expect("a pointer serialises"));
        match self.store.put(CHAMPION_KEY, json, mode).await {
            Ok(_) => Ok(champion),
            Err(StoreError::Precondition { .. } | StoreError::AlreadyExists { .. }) => Err(ModelStoreError::ChampionMoved),
            Err(e) => Err(e.into()),
        }
    }

    /// How many of the newest versions in a row the gate refused.
    pub async fn refused_streak(&self) -> Result<u32, ModelStoreError> {
        let mut streak = 0;
        for version in self.versions().await?.iter().rev() {
            match self.card(version).await? {
                Some(card) if !card.decision.promoted() => streak += 1,
                _ => break,
            }
        }
        Ok(streak)
    }

    /// Deletes all but the newest `keep` versions, never the champion; returns the deleted ids.
    pub async fn prune(&self, keep: usize, champion: Option<&str>) -> Result<Vec<String>, ModelStoreError> {
        let versions = self.versions().await?;
        let old = versions.len().saturating_sub(keep);
        let mut deleted = Vec::new();
        let objects = self.store.list(MODELS_PREFIX).await?;
        let mut by_version: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for o in &objects {
            if let Some((v, _)) = parse_model_version_key(&o.key) {
                by_version.entry(v).or_default().push(&o.key);
            }
        }
        for version in versions.iter().take(old).filter(|v| Some(v.as_str()) != champion) {
            // The card goes first: a half-deleted version no longer counts as a version.
            let mut keys = by_version.get(version.as_str()).cloned().unwrap_or_default();
            keys.sort_by_key(|k| !k.ends_with(CARD_FILE));
            for key in keys {
                self.store.delete(key).await?;
            }
            deleted.push(version.clone());
        }
        Ok(deleted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::evaluation::Scores;
    use crate::recommend::ids::listens_hash;
    use crate::recommend::seen;
    use crate::storage::MemoryStore;

    fn card(version: &str, promoted: bool) -> ModelCard {
        let decision = if promoted { Decision::Promote { reason: "ok".into() } } else { Decision::Refuse { reason: "no".into() } };
        ModelCard {
            version: version.into(),
            trained_at: "2026-11-21T06:00:00Z".parse().unwrap(),
            data_date: "2026-11-21".parse().unwrap(),
            hyper: Recipe {
                als: crate::recommend::als::AlsParams { factors: 8, regularization: 0.1, alpha: 2.0, iterations: 3, cg_steps: 3, seed: 1 },
                recency_beta: 0.0,
                recency_power: 1.0,
                max_tracks_per_user: 0,
                train_user_share: 1.0,
            },
            users: 2,
            tracks: 3,
            listens: 4,
            first_listen: None,
            last_listen: None,
            evaluation: Evaluation {
                candidate: Scores::default(),
                baseline: Scores::default(),
                champion: None,
                champion_version: None,
                test_users: 0,
                test_listens: 0,
                served: None,
                served_unavailable: None,
                gate: None,
                cold_start: None,
                drift: None,
            },
            decision,
            held_by_pin: None,
            held_by_newer_champion: None,
            train_ms: 1,
            code_version: "test".into(),
        }
    }

    fn ids() -> IdTable {
        IdTable { users: vec![10, -3], user_hashes: vec![listens_hash(&[1, 2]), 7], tracks: vec![1, 2, 3] }
    }

    #[tokio::test]
    async fn versions_champion_rollback_streak_and_pruning() {
        let models = ModelStore::new(Arc::new(MemoryStore::default()));
        let at: DateTime<Utc> = "2026-11-21T06:00:00Z".parse().unwrap();
        for (v, promoted) in [("v1", true), ("v2", true), ("v3", false), ("v4", false)] {
            models.save(&card(v, promoted), vec![1, 2, 3], &ids(), seen::encode([(1, 2)])).await.unwrap();
        }
        assert!(matches!(models.save(&card("v1", true), vec![], &ids(), seen::encode([])).await, Err(ModelStoreError::Store(StoreError::AlreadyExists { .. }))));
        assert_eq!(models.versions().await.unwrap(), ["v1", "v2", "v3", "v4"]);
        let loaded = models.load("v2").await.unwrap();
        assert_eq!((loaded.card, &loaded.factors[..], loaded.ids), (card("v2", true), &[1u8, 2, 3][..], ids()));
        assert_eq!(models.refused_streak().await.unwrap(), 2);
        assert_eq!(models.seen("v2", &|_| true).await.unwrap(), Some(vec![(1, 2)]));
        assert_eq!(models.seen("v9", &|_| true).await.unwrap(), None, "a version stored before the pairs were kept has none");
        models.store.put(&version_key("v4", SEEN_FILE), Bytes::from_static(b"damaged"), PutMode::Overwrite).await.unwrap();
        assert!(matches!(models.seen("v4", &|_| true).await, Err(ModelStoreError::Corrupt { .. })));

        assert!(models.champion().await.unwrap().is_none());
        models.set_champion("v1", "promoted", None, at).await.unwrap();
        let read = models.champion().await.unwrap();
        // A second writer that read "no champion" loses.
        assert!(matches!(models.set_champion("v2", "promoted", None, at).await, Err(ModelStoreError::ChampionMoved)));
        let c = models.set_champion("v2", "promoted", read.clone(), at).await.unwrap();
        assert_eq!((c.version.as_str(), c.previous.as_deref()), ("v2", Some("v1")));
        // A stale read loses too; a rollback with a fresh one wins.
        assert!(matches!(models.set_champion("v1", "rollback", read, at).await, Err(ModelStoreError::ChampionMoved)));
        let fresh = models.champion().await.unwrap();
        assert!(!fresh.as_ref().unwrap().0.pinned, "a promotion does not pin");
        let rolled = models.set_champion("v1", "rollback", fresh, at).await.unwrap();
        assert!(rolled.how == "rollback" && rolled.pinned, "a rollback pins: {rolled:?}");
        // Unpinning keeps the champion, by a conditional write too.
        let pinned = models.champion().await.unwrap().unwrap();
        let unpinned = models.unpin(pinned.clone()).await.unwrap();
        assert_eq!(unpinned, Champion { pinned: false, ..pinned.0.clone() });
        assert_eq!(models.champion().await.unwrap().unwrap().0, unpinned);
        assert!(matches!(models.unpin(pinned).await, Err(ModelStoreError::ChampionMoved)), "a stale read loses");
        let old_pointer = br#"{"version": "v1", "since": "2026-11-21T06:00:00Z", "how": "rollback", "previous": null}"#;
        assert!(!serde_json::from_slice::<Champion>(old_pointer).unwrap().pinned, "pointers written before pins: unpinned");
        let err = models.set_champion("v9", "rollback", models.champion().await.unwrap(), at).await.unwrap_err();
        assert!(err.to_string().contains("v9") && err.to_string().contains("v1, v2, v3, v4"), "{err}");

        assert_eq!(models.prune(2, Some("v1")).await.unwrap(), ["v2"], "the two newest and the champion stay");
        assert_eq!(models.versions().await.unwrap(), ["v1", "v3", "v4"]);
        assert!(models.load("v2").await.is_err());
    }
}
