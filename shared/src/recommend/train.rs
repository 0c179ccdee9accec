//! Training as the job runs it: the inputs and the champion read, the pure training run
//! ([`super::training`]) off the async threads, the version stored and the champion moved, the metrics.

use super::inputs::{latest_curated_date, read_inputs, Inputs};
use super::model_store::ModelCard;
use super::training::{self, TrainingData};
use super::{RecommendError, Recommender, TrainSummary, inputs, seen};
use crate::metrics::Metric;
use crate::trigger::latest_plausible_date;
use chrono::{DateTime, NaiveDate, Utc};
use std::sync::Arc;
use std::time::Instant;

impl Recommender {
    /// Trains on a curated date (default: the latest one transform committed, up to tomorrow by
    /// `now`: a date after it cannot be real, and must not steer training). An `explicit` train (a
    /// person's, not the schedule's): a promoted model replaces the champion even when it is pinned.
    pub async fn train(&self, date: Option<NaiveDate>, explicit: bool, run_id: &str, now: DateTime<Utc>) -> Result<TrainSummary, RecommendError> {
        let date = match date {
            Some(d) => d,
            None => {
                latest_curated_date(self.store.as_ref(), Some(latest_plausible_date(now))).await?
            }
        };
        let inputs = Arc::new(self.read_for_training(date).await?);
        self.train_on(&inputs, run_id, explicit).await
    }

    /// The champion as the candidate is compared with it: its recipe, and the stored model with
    /// the `(user, track)` pairs it was trained on, or why they cannot be read. The pairs are
    /// stored with the version, and only those of users both samples hold (the champion's,
    /// and the candidate's: `inputs`) are kept. A version stored before they were, or whose
    /// pairs are damaged, has its curated date re-read instead, under the same two samples.
    async fn champion_input(&self, version: &str, inputs: &Arc<Inputs>) -> Result<Option<training::ChampionInput>, RecommendError> {
        let models = self.models();
        let Some(card) = models.card(version).await? else { return Ok(None) };
        let (candidate, champion) = (self.config.hyper, card.hyper);
        let in_both_samples = move |user_id: i64| candidate.trains_on(user_id) && champion.trains_on(user_id);
        let served = async {
            let model = self.load_serving(version).await.map_err(|e| format!("the stored champion is not readable: {e}"))?;
            let stored = models.seen(version, &in_both_samples).await.unwrap_or_else(|e| {
                tracing::warn!(champion = version, error = %e, "the champion's training pairs are not readable: its date is re-read");
                None
            });
            let seen = match stored {
                Some(seen) => seen,
                None => {
                    let seen_inputs = match card.data_date == inputs.date {
                        true => inputs.clone(),
                        false => Arc::new(read_inputs(&self.store, card.data_date, &in_both_samples).await.map_err(|e| format!("the champion's training listens are not readable: {e}"))?),
                    };
                    let mut seen: Vec<(i64, i64)> = seen_inputs.listens.iter().filter(|l| in_both_samples(l.user_id)).map(|l| (l.user_id, l.track_id)).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    seen
                }
            };
            Ok(training::ServedChampion { model, seen })
        }
        .await;
        if let Err(why) = &served {
            tracing::warn!(champion = version, why, "the champion is compared as its recipe only");
        }
        Ok(Some(training::ChampionInput { version: version.to_owned(), data_date: card.data_date, hyper: card.hyper, served }))
    }

    /// A score run's training on `inputs` ([`Self::train_on`]). An empty sample of users (a share
    /// too small for the users there are) leaves the champion serving, with a warning: the run
    /// still scores. Without a champion it fails the run, which has nothing but cold start to serve.
    pub(super) async fn train_for_scoring(&self, inputs: &Arc<Inputs>, run_id: &str) -> Result<Option<TrainSummary>, RecommendError> {
        match self.train_on(inputs, run_id, false).await {
            Err(RecommendError::EmptySample { date, share }) if self.models().champion().await?.is_some() => {
                tracing::warn!(%date, share, "the sample of users training reads has no listens: the champion keeps serving; raise ALS_TRAIN_USER_SHARE");
                Ok(None)
            }
            other => other.map(Some),
        }
    }

    /// Trains, gates and stores a model; `explicit` (a train request, not a score run's
    /// automatic training) may replace a pinned champion. `inputs` hold the listens training
    /// keeps: the recipe's sample of users, read so or dropped by the caller.
    pub(super) async fn train_on(&self, inputs: &Arc<Inputs>, run_id: &str, explicit: bool) -> Result<TrainSummary, RecommendError> {
        let hyper = self.config.hyper;
        let models = self.models();
        let champion = models.champion().await?;
        let champion_input = match &champion {
            Some((c, _)) => self.champion_input(&c.version, inputs).await?,
            None => None,
        };
        let champion_data_date = champion_input.as_ref().map(|c| c.data_date);
        let settings = training::TrainSettings { holdout_share: self.config.holdout_share, gate: self.config.gate };
        let (listens, config) = (inputs.clone(), self.config.clone());
        let (data, trained, seen, train_ms) = tokio::task::spawn_blocking(move || {
            let data = TrainingData::new(&listens.listens);
            let cold = training::ColdStartInputs {
                listens: &listens.listens,
                catalog: &listens.catalog,
                recent: &listens.recent,
                recent_days: config.cold_start_recent_days,
                sample_share: config.cold_start_sample_share,
            };
            let cold = (config.cold_start_sample_share > 0.0).then_some(&cold);
            let drift = training::DriftInputs { recent: &listens.recent, recent_days: config.cold_start_recent_days };
            let clock = Instant::now();
            let trained = (!data.pairs.is_empty()).then(|| training::train(&data, hyper, champion_input.as_ref(), &settings, cold, Some(&drift)));
            let train_ms = clock.elapsed().as_millis() as u64;
            let seen = trained.is_some().then(|| seen::encode(data.seen_pairs()));
            (data, trained, seen, train_ms)
        })
        .await
        .expect("training does not panic");
        let trained = trained.ok_or(match hyper.train_user_share < 1.0 {
            true => RecommendError::EmptySample { date: inputs.date, share: hyper.train_user_share },
            false => RecommendError::NoListens { date: inputs.date },
        })?;
        let e = &trained.evaluation;
        tracing::info!(version = run_id, candidate_ndcg10 = e.candidate.ndcg_at_10, baseline_ndcg10 = e.baseline.ndcg_at_10,
            champion_ndcg10 = e.champion.map(|s| s.ndcg_at_10), promoted = trained.decision.promoted(), reason = trained.decision.reason(),
            train_ms, "model trained and gated");

        // A pinned champion (set by rollback) stays until an explicit train or an unpin.
        let held_by_pin = champion.as_ref().filter(|(c, _)| c.pinned && !explicit && trained.decision.promoted()).map(|(c, _)| c.version.clone());
        // A model of older data never replaces a newer one, explicit or not: a rollback is the way back.
        let newer_champion = champion_data_date.filter(|d| *d > inputs.date && trained.decision.promoted());
        let promoted = trained.decision.promoted() && held_by_pin.is_none() && newer_champion.is_none();
        let reason = match (&held_by_pin, newer_champion) {
            (Some(v), _) => format!("{}; kept as a candidate: the champion {v} is pinned by a rollback (an explicit train or unpin replaces it)", trained.decision.reason()),
            (None, Some(d)) => format!(
                "{}; kept as a candidate: it is trained on curated {}, older than the champion's {d} (`rollback` makes an older model the champion)",
                trained.decision.reason(),
                inputs.date
            ),
            (None, None) => trained.decision.reason().to_owned(),
        };
        let now = Utc::now();
        let micros = |m: Option<i64>| m.and_then(DateTime::from_timestamp_micros);
        let card = ModelCard {
            version: run_id.to_owned(),
            trained_at: now,
            data_date: inputs.date,
            hyper,
            users: data.users.len() as u64,
            tracks: data.tracks.len() as u64,
            listens: inputs.listens.len() as u64,
            first_listen: micros(data.first_listen_micros),
            last_listen: micros(data.last_listen_micros),
            evaluation: trained.evaluation.clone(),
            decision: trained.decision.clone(),
            held_by_pin: held_by_pin.clone(),
            held_by_newer_champion: newer_champion,
            train_ms,
            code_version: crate::manifest::code_version(),
        };
        models.save(&card, trained.model.to_bytes(), &trained.ids, seen.unwrap_or_default()).await?;
        let champion_now = match promoted {
            true => Some(models.set_champion(run_id, "promoted", champion, now).await?.version),
            false => champion.map(|(c, _)| c.version),
        };
        let refused_streak = models.refused_streak().await?;
        let pruned_versions = models.prune(self.config.keep_versions, champion_now.as_deref()).await?;

        self.metrics.record(Metric::TrainDurationMs, train_ms as f64);
        let served = e.served.as_ref().map(|s| s.champion).filter(|_| e.served.as_ref().is_some_and(|s| s.users > 0));
        for (name, scores) in [("candidate", Some(e.candidate)), ("baseline", Some(e.baseline)), ("champion", e.champion), ("champion_served", served)] {
            let Some(s) = scores else { continue };
            self.metrics.record_with(Metric::Ndcg10, &[("Model", name)], s.ndcg_at_10);
            self.metrics.record_with(Metric::Precision10, &[("Model", name)], s.precision_at_10);
            self.metrics.record_with(Metric::Recall10, &[("Model", name)], s.recall_at_10);
        }
        if let Some(gate) = &e.gate {
            self.metrics.record(Metric::GateEvaluatedUsers, gate.test_users as f64);
            self.metrics.record_with(Metric::GateDifferenceLower, &[("Versus", "baseline")], gate.versus_baseline.lower);
            if let Some((_, c)) = &gate.versus_champion {
                self.metrics.record_with(Metric::GateDifferenceLower, &[("Versus", "champion")], c.lower);
            }
        }
        self.metrics.record(Metric::Promoted, promoted as u8 as f64);
        self.metrics.record(Metric::GateRefusedStreak, f64::from(refused_streak));
        Ok(TrainSummary {
            date: inputs.date,
            version: run_id.to_owned(),
            promoted,
            reason,
            evaluation: trained.evaluation,
            hyper,
            users: card.users,
            tracks: card.tracks,
            listens: card.listens,
            train_ms,
            champion: champion_now,
            refused_streak,
            pruned_versions,
        })
    }

    /// Whether a score run of `date` must train first: no champion, or more listen events added
    /// since the champion's data date (the days' `listen_events_delta`) than `retrain_share` of
    /// the listens it was trained on. With a pinned champion, since the newest stored version's
    /// (the candidates it keeps are not retrained every day). A reference model trained on a date
    /// after tomorrow (by `now`) cannot be judged by dates: it trains.
    pub(super) async fn needs_training(&self, date: NaiveDate, now: DateTime<Utc>) -> Result<bool, RecommendError> {
        let models = self.models();
        let Some((champion, _)) = models.champion().await? else { return Ok(true) };
        let reference = match champion.pinned {
            true => models.versions().await?.pop().unwrap_or_else(|| champion.version.clone()),
            false => champion.version.clone(),
        };
        let Some(card) = models.card(&reference).await? else { return Ok(true) };
        if card.data_date > latest_plausible_date(now) {
            tracing::warn!(champion = %champion.version, trained_on = %card.data_date, "the reference model's data date is in the future: training");
            return Ok(true);
        }
        let added = inputs::listens_added(self.store.as_ref(), card.data_date, date).await?;
        // `added` counts everyone's listens; a model trained on a sample of users read about
        // `listens / share` of them. A card's share outside (0, 1] cannot be: read as everyone.
        let share = Some(card.hyper.train_user_share).filter(|s| *s > 0.0 && *s <= 1.0).unwrap_or_else(|| {
            tracing::warn!(reference = %reference, share = card.hyper.train_user_share, "the model card's train_user_share is outside (0, 1]: read as 1");
            1.0
        });
        let needed = added as f64 > card.listens as f64 / share * self.config.retrain_share;
        tracing::info!(champion = %champion.version, trained_on = %card.data_date, added, trained_listens = card.listens, needed, "retraining check");
        Ok(needed)
    }
}
