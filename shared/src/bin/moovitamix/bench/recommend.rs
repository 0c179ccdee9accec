//! `bench recommend`: the configured ALS recipe's quality on MovieLens-100k (vs popularity) and its training and scoring cost at scale.
//!
//! Quality: each ml-100k rating is one listen of weight 1, each user's latest `EVAL_HOLDOUT_SHARE`
//! (by timestamp, ties by item id) is held out, exactly as `training.rs` splits. Scale: a
//! deterministic synthetic matrix with a popularity skew (100k users x 20k items x 5M listens by
//! default), timed against the targets of 6 s to train and 3 s to score everyone on 2 threads.

use crate::usage::{cpu_time, peak_memory_mib, reset_peak_memory};
use crate::AnyError;
use moovitamix::config::Config;
use moovitamix::recommend::config::RecommendConfig;
use moovitamix::recommend::als::{AlsModel, AlsParams};
use moovitamix::recommend::evaluate::{RankingMetrics, evaluate, popularity};
use moovitamix::recommend::interactions::{Csr, IdMap};
use moovitamix::recommend::recipe::{Recipe, TrainMatrix};
use moovitamix::recommend::split::{WeightedListen, temporal_split, triples, validation_split};
use moovitamix::recommend::topk::{self, Ranked, recommend_all};
use moovitamix::recommend::cold_start::RecentListen;
use moovitamix::recommend::drift;
use moovitamix::recommend::inputs::{Catalog, Listen as InputListen};
use moovitamix::recommend::training::{ColdStartInputs, DriftInputs, EVAL_K, TrainSettings, TrainingData, train};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

const WHEEL: &str = "recbole-1.2.1-py3-none-any.whl";
const MEMBER: &str = "recbole/dataset_example/ml-100k/ml-100k.inter";
/// Targets for the synthetic set, in seconds, on 2 threads.
const TRAIN_TARGET_S: f64 = 6.0;
const SCORE_TARGET_S: f64 = 3.0;

#[derive(clap::Args)]
pub struct Args {
    /// MovieLens-100k in RecBole's format (`ml-100k.inter`); default: taken from RecBole 1.2.1's
    /// wheel, downloaded once by pip into `.tools/cache/recbole`.
    #[arg(long)]
    ml100k: Option<PathBuf>,
    #[arg(long, default_value_t = 100_000)]
    synthetic_users: usize,
    #[arg(long, default_value_t = 20_000)]
    synthetic_items: usize,
    #[arg(long, default_value_t = 5_000_000)]
    synthetic_listens: usize,
    #[arg(long)]
    skip_synthetic: bool,
    #[arg(long)]
    skip_ml100k: bool,
    /// Seeds of the gate check on the simulator (random taste: must refuse; structured: must promote); 0 skips it.
    #[arg(long, default_value_t = 20)]
    gate_seeds: u64,
    #[arg(long, default_value_t = 5_000)]
    gate_users: usize,
    /// Re-run the hyper-parameter grid on ml-100k's validation slice and print the best.
    #[arg(long)]
    tune: bool,
}

pub fn run(a: &Args) -> Result<(), AnyError> {
    println!("recommend benchmark: {}", command(a));
    let config = Config::from_env()?.recommend;
    let hyper = config.hyper;
    println!("recipe (ALS_* settings): {}", recipe(&hyper));
    println!("machine: {} cores; rayon threads {}", std::thread::available_parallelism().map_or(0, |n| n.get()), rayon::current_num_threads());
    if !a.skip_ml100k {
        match a.ml100k.clone().map_or_else(ml100k_file, Ok) {
            Ok(path) => ml100k(&path, &config, a.tune)?,
            Err(why) => println!(
                "\nml-100k part skipped: {why}\n  to run it, get the file: python3 -m pip download recbole==1.2.1 --no-deps -d DIR \
                 && unzip -p DIR/{WHEEL} {MEMBER} > ml-100k.inter, then pass --ml100k ml-100k.inter"
            ),
        }
    }
    if a.gate_seeds > 0 {
        gate_on_the_simulator(a.gate_seeds, a.gate_users, &config);
    }
    if !a.skip_synthetic {
        synthetic(a.synthetic_users, a.synthetic_items, a.synthetic_listens, &hyper)?;
    }
    Ok(())
}

/// The gate on simulated days, one per seed: random taste (listens drawn by popularity alone)
/// must be refused on at least 95% of the seeds, the simulator's taste structure promoted.
fn gate_on_the_simulator(seeds: u64, users: usize, config: &RecommendConfig) {
    use moovitamix::simulator::{Dataset, SimulatorConfig};
    println!("\ngate on the simulator: {seeds} seeds, {users} users, {} tracks, 10 listens per user, default gate settings", users / 2);
    let settings = TrainSettings { holdout_share: config.holdout_share, gate: config.gate };
    for (name, taste_strength) in [("random taste (0)", 0.0), ("structured (0.8)", 0.8)] {
        let (mut promoted, clock) = (0, Instant::now());
        let mut lowers = Vec::new();
        for seed in 0..seeds {
            let sim = SimulatorConfig { seed, users, tracks: users / 2, listens_per_user: 10, taste_strength, ..SimulatorConfig::default() };
            let mut listens = Vec::new();
            for row in Dataset::new(&sim).rows("listen_history") {
                let user_id = row["user_id"].as_i64().unwrap_or_default();
                let created: chrono::NaiveDateTime = row["created_at"].as_str().and_then(|t| t.parse().ok()).unwrap_or_default();
                for (position, track) in row["items"].as_array().into_iter().flatten().enumerate() {
                    let created_at_micros = created.and_utc().timestamp_micros();
                    listens.push(InputListen { user_id, track_id: track.as_i64().unwrap_or_default(), created_at_micros, position: position as i32 });
                }
            }
            let t = train(&TrainingData::new(&listens), config.hyper, None, &settings, None, None);
            promoted += u32::from(t.decision.promoted());
            lowers.extend(t.evaluation.gate.map(|g| g.versus_baseline.lower));
        }
        lowers.sort_by(f64::total_cmp);
        println!(
            "  {name:<17} promoted {promoted} of {seeds}, refused {:.0}%; lower bound of the NDCG@10 gain over popularity: min {:+.4}, median {:+.4}, max {:+.4} ({:.1} s)",
            100.0 * (seeds - u64::from(promoted)) as f64 / seeds as f64,
            lowers.first().unwrap_or(&f64::NAN),
            lowers.get(lowers.len() / 2).unwrap_or(&f64::NAN),
            lowers.last().unwrap_or(&f64::NAN),
            clock.elapsed().as_secs_f64()
        );
    }
}

/// The command line that reproduces this run, settings that change the recipe included.
fn command(a: &Args) -> String {
    let mut env: Vec<String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("ALS_") || k.starts_with("GATE_") || k.starts_with("COLD_START_") || k == "EVAL_HOLDOUT_SHARE" || k == "RAYON_NUM_THREADS")
        .map(|(k, v)| format!("{k}={v} "))
        .collect();
    env.sort();
    let mut c = format!("{}cargo run --release -p moovitamix -- bench recommend", env.concat());
    match &a.ml100k {
        _ if a.skip_ml100k => c += " --skip-ml100k",
        Some(p) => c += &format!(" --ml100k {}", p.display()),
        None => {}
    }
    if a.tune && !a.skip_ml100k {
        c += " --tune";
    }
    c += &format!(" --gate-seeds {} --gate-users {}", a.gate_seeds, a.gate_users);
    match a.skip_synthetic {
        true => c += " --skip-synthetic",
        false => c += &format!(" --synthetic-users {} --synthetic-items {} --synthetic-listens {}", a.synthetic_users, a.synthetic_items, a.synthetic_listens),
    }
    c
}

fn recipe(h: &Recipe) -> String {
    format!(
        "factors {}, regularization {}, alpha {}, iterations {}, cg_steps {}, seed {}, recency beta {} power {}, max tracks per user {}",
        h.als.factors, h.als.regularization, h.als.alpha, h.als.iterations, h.als.cg_steps, h.als.seed, h.recency_beta, h.recency_power, h.max_tracks_per_user
    )
}

/// `ml-100k.inter` out of RecBole's wheel (it ships the set as an example), fetched once.
fn ml100k_file() -> Result<PathBuf, String> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the crate is inside the workspace");
    let cache = workspace.join(".tools/cache/recbole");
    let file = cache.join("ml-100k.inter");
    if file.exists() {
        return Ok(file);
    }
    std::fs::create_dir_all(&cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let wheel = cache.join(WHEEL);
    if !wheel.exists() {
        println!("ml-100k: downloading recbole 1.2.1 with pip into {}", cache.display());
        let out = Command::new("python3")
            .args(["-m", "pip", "download", "recbole==1.2.1", "--no-deps", "-d"])
            .arg(&cache)
            .output()
            .map_err(|e| format!("running python3 -m pip: {e}"))?;
        if !out.status.success() || !wheel.exists() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(format!("pip download recbole==1.2.1 failed ({}): {}", out.status, stderr.lines().last().unwrap_or("no message")));
        }
    }
    // Extract to a temporary name first, so an interrupted run never leaves a truncated file to reuse.
    let partial = cache.join("ml-100k.inter.partial");
    let status = Command::new("python3")
        .args(["-c", "import zipfile,sys; open(sys.argv[3],'wb').write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))"])
        .arg(&wheel)
        .arg(MEMBER)
        .arg(&partial)
        .status()
        .map_err(|e| format!("running python3: {e}"))?;
    if !status.success() {
        return Err(format!("extracting {MEMBER} from {} failed ({status})", wheel.display()));
    }
    std::fs::rename(&partial, &file).map_err(|e| format!("renaming to {}: {e}", file.display()))?;
    Ok(file)
}

/// Every rating as a listen of weight 1, in dense indices; returns (listens, users, items).
fn load_ml100k(path: &Path) -> Result<(Vec<WeightedListen>, usize, usize), AnyError> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, header)) if header.starts_with("user_id:token\titem_id:token") => {}
        other => return Err(format!("{}: not RecBole's ml-100k.inter (header {:?})", path.display(), other.map(|l| l.1)).into()),
    }
    let mut rows = Vec::with_capacity(100_000);
    for (n, line) in lines.filter(|(_, l)| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let parsed = (f.len() == 4).then(|| Some((f[0].parse::<i64>().ok()?, f[1].parse::<i64>().ok()?, f[3].parse::<f64>().ok()? as i64))).flatten();
        rows.push(parsed.ok_or_else(|| format!("{} line {}: unreadable row {line:?}", path.display(), n + 1))?);
    }
    let users = IdMap::from_ids(rows.iter().map(|r| r.0));
    let items = IdMap::from_ids(rows.iter().map(|r| r.1));
    let index = |m: &IdMap, id| m.index(id).expect("a listed id");
    let listens = rows.iter().map(|&(u, i, t)| WeightedListen { user: index(&users, u), item: index(&items, i), weight: 1.0, timestamp: t }).collect();
    Ok((listens, users.len(), items.len()))
}

fn ml100k(path: &Path, config: &RecommendConfig, tune: bool) -> Result<(), AnyError> {
    let (listens, nu, ni) = load_ml100k(path)?;
    let h = config.hyper;
    let (train_listens, test_listens) = temporal_split(&listens, config.holdout_share, 2);
    println!("\nml-100k ({}): {nu} users, {ni} items, {} listens (each rating = one listen of weight 1)", path.display(), listens.len());
    println!(
        "temporal split per user by timestamp (ties by item id): latest {} held out -> {} train, {} test listens",
        config.holdout_share,
        train_listens.len(),
        test_listens.len()
    );
    println!("validation: the recipe was chosen on a validation slice carved from the training listens (validation_split), never on the test listens{}", if tune { "; re-run below (--tune)" } else { "; --tune re-runs that grid" });
    // Recency weighting on the training side only: the test listens are a relevant set, unweighted.
    let train = h.matrix(nu, ni, &train_listens);
    let test = Csr::from_triples(nu, ni, &triples(&test_listens));
    if h.max_tracks_per_user > 0 {
        let (heard, cap) = (train.heard(), h.max_tracks_per_user as usize);
        println!(
            "bounded training (ALS_MAX_TRACKS_PER_USER {cap}): {} users over the cap; {} of {} training pairs kept ({:.1}%)",
            (0..nu).filter(|&u| heard.by_user.row_len(u) > cap).count(),
            train.fit.nnz(),
            heard.nnz(),
            100.0 * train.fit.nnz() as f64 / heard.nnz().max(1) as f64
        );
    }
    println!(
        "{:<11} {:>7} {:>7} {:>8} {:>7} {:>9} {:>8} {:>8} {:>9}",
        "model", "P@10", "R@10", "NDCG@10", "MAP@10", "coverage", "train s", "score s", "peak MiB"
    );
    let row = |name: &str, m: &RankingMetrics, train_s: Option<f64>, score_s: f64, peak: f64| {
        let train_s = train_s.map_or("-".to_owned(), |s| format!("{s:.3}"));
        println!(
            "{name:<11} {:>7.4} {:>7.4} {:>8.4} {:>7.4} {:>9.4} {train_s:>8} {score_s:>8.3} {peak:>9.1}",
            m.precision, m.recall, m.ndcg, m.map, m.coverage
        );
    };
    reset_peak_memory();
    let clock = Instant::now();
    let recs = popularity(train.heard(), EVAL_K);
    let score_s = clock.elapsed().as_secs_f64();
    row("popularity", &evaluate(&recs, &test, EVAL_K, ni), None, score_s, peak_memory_mib());
    reset_peak_memory();
    let (train_s, score_s, recs) = fit_and_score(&h.als, &train);
    row("als", &evaluate(&recs, &test, EVAL_K, ni), Some(train_s), score_s, peak_memory_mib());
    println!("(coverage over all {ni} items; scoring = top-{EVAL_K} for all {nu} users; peak = process RSS)");
    if h.train_user_share < 1.0 {
        let (lists, trained_users, train_s) = user_sample(&train_listens, nu, ni, &h);
        let m = evaluate(&lists, &test, EVAL_K, ni);
        println!(
            "training on a user sample (ALS_TRAIN_USER_SHARE {}): {trained_users} of {nu} users trained on ({:.1}%), the others folded in; all users: P@10 {:.4}, NDCG@10 {:.4}, coverage {:.4}; train s {train_s:.3}",
            h.train_user_share,
            100.0 * trained_users as f64 / nu as f64,
            m.precision,
            m.ndcg,
            m.coverage
        );
    }
    drift_on_ml100k(&listens, &train_listens, &test_listens, nu, ni, &h, config);
    as_a_train_run(path, config)?;
    if tune {
        tune_on_validation(&train_listens, nu, ni, &h, config.holdout_share);
    }
    Ok(())
}

/// The drift blend on ml-100k: its weight chosen as a train run chooses it, but on the validation
/// slice (fit on the rest of the training listens, the trend from the training listens' last days),
/// then the test split scored with it (the trend from the last days of all listens); each user's
/// trend never counts their own listens (`drift::ndcg_by_weight`).
fn drift_on_ml100k(all: &[WeightedListen], train_listens: &[WeightedListen], test_listens: &[WeightedListen], nu: usize, ni: usize, h: &Recipe, config: &RecommendConfig) {
    let days = config.cold_start_recent_days;
    let (users, tracks) = (IdMap::from_ids(0..nu as i64), IdMap::from_ids(0..ni as i64));
    let recent_of = |listens: &[WeightedListen]| -> Vec<RecentListen> {
        let last = listens.iter().map(|l| l.timestamp).max().unwrap_or(0);
        let age = |l: &WeightedListen| ((last - l.timestamp) / 86_400) as u32;
        listens.iter().map(|l| RecentListen { user_id: i64::from(l.user), track_id: i64::from(l.item), age_days: age(l) }).filter(|r| r.age_days < days).collect()
    };
    let (fit, validation) = validation_split(train_listens, config.holdout_share, 2);
    let fit = h.matrix(nu, ni, &fit);
    let validation = Csr::from_triples(nu, ni, &triples(&validation));
    let choice = drift::choose(&AlsModel::train(&h.als, &fit.fit), &fit, &validation, &users, &tracks, &recent_of(train_listens), days, config.gate.confidence, EVAL_K);
    let by_weight: Vec<String> = choice.ndcg_at_10.iter().map(|w| format!("{} {:.4}", w.weight, w.ndcg)).collect();
    let v = &choice.versus_none;
    println!("\ndrift blend (trend = the last {days} days' listens): on validation, NDCG@10 by weight: {}", by_weight.join(", "));
    println!("the best against weight 0: {:+.4} [{:+.4}, {:+.4}] over {} users; chosen: {}", v.mean_difference, v.lower, v.upper, v.users, choice.weight);
    let train = h.matrix(nu, ni, train_listens);
    let test = Csr::from_triples(nu, ni, &triples(test_listens));
    let (_, on_test) = drift::ndcg_by_weight(&AlsModel::train(&h.als, &train.fit), &train, &test, &users, &tracks, &recent_of(all), days, &[0.0, choice.weight], EVAL_K);
    println!("on the test split: NDCG@10 {:.4} without the blend, {:.4} with the chosen weight {}", on_test[0].ndcg, on_test[1].ndcg, choice.weight);
}

/// ml-100k through the job's own training path (`training::train`, as a train run does): the
/// gate's paired statistics, the cold-start policies on hidden users, and the model for users
/// with few listens. ml-100k's users declare no favourite genre, so the genre policy falls back
/// to overall popularity there.
fn as_a_train_run(path: &Path, config: &RecommendConfig) -> Result<(), AnyError> {
    let text = std::fs::read_to_string(path)?;
    let mut listens = Vec::with_capacity(100_000);
    for line in text.lines().skip(1).filter(|l| !l.is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let (user_id, track_id, seconds) = (f[0].parse::<i64>()?, f[1].parse::<i64>()?, f[3].parse::<f64>()? as i64);
        listens.push(InputListen { user_id, track_id, created_at_micros: seconds * 1_000_000, position: 0 });
    }
    let last = listens.iter().map(|l| l.created_at_micros).max().unwrap_or(0);
    let day_micros = 86_400 * 1_000_000;
    let recent: Vec<RecentListen> = listens
        .iter()
        .map(|l| RecentListen { user_id: l.user_id, track_id: l.track_id, age_days: ((last - l.created_at_micros) / day_micros) as u32 })
        .filter(|r| r.age_days < config.cold_start_recent_days)
        .collect();
    let mut tracks: Vec<i64> = listens.iter().map(|l| l.track_id).collect();
    tracks.sort_unstable();
    tracks.dedup();
    let mut users: Vec<i64> = listens.iter().map(|l| l.user_id).collect();
    users.sort_unstable();
    users.dedup();
    let catalog = Catalog { users: users.into_iter().map(|u| (u, None)).collect(), tracks: tracks.into_iter().map(|t| (t, None)).collect() };
    let cold = ColdStartInputs { listens: &listens, catalog: &catalog, recent: &recent, recent_days: config.cold_start_recent_days, sample_share: config.cold_start_sample_share };
    let settings = TrainSettings { holdout_share: config.holdout_share, gate: config.gate };
    let data = TrainingData::new(&listens);
    let clock = Instant::now();
    let drift = DriftInputs { recent: &recent, recent_days: config.cold_start_recent_days };
    let t = train(&data, config.hyper, None, &settings, (config.cold_start_sample_share > 0.0).then_some(&cold), Some(&drift));
    let e = &t.evaluation;
    println!(
        "\nas a train run (training::train; {:.0}% of users hidden for cold start, so the candidate trains on the others), {:.1} s:",
        config.cold_start_sample_share * 100.0,
        clock.elapsed().as_secs_f64()
    );
    println!("  candidate NDCG@10 {:.4}, popularity {:.4}, on {} held-out users and {} listens", e.candidate.ndcg_at_10, e.baseline.ndcg_at_10, e.test_users, e.test_listens);
    println!("  gate: {}: {}", if t.decision.promoted() { "promoted" } else { "refused" }, t.decision.reason());
    if let Some(d) = &e.drift {
        let by_weight: Vec<String> = d.ndcg_at_10.iter().map(|w| format!("{} {:.4}", w.weight, w.ndcg)).collect();
        let v = &d.versus_none;
        println!("  drift weight on {} held-out users (NDCG@10 by weight; trend = the last {} days): {}", d.users, d.recent_days, by_weight.join(", "));
        println!("  the best against weight 0: {:+.4} [{:+.4}, {:+.4}]; chosen: {}", v.mean_difference, v.lower, v.upper, d.weight);
    }
    if let Some(c) = &e.cold_start {
        let policies: Vec<String> = c.policies.ndcg_at_10.iter().map(|(p, v)| format!("{p} {v:.4}")).collect();
        println!("  cold start on {} hidden users (NDCG@10 of their listens): {}; chosen: {}", c.policies.users, policies.join(", "), c.policy.name());
        println!("  (recent = the last {} days of the data set, weighted 1 - age/days; genre = overall here: ml-100k users declare no genre)", c.recent_days);
        for f in &c.few_listens {
            println!("  hidden users with {} known listens ({} users): model folded in {:.4}, cold start {:.4}", f.known, f.users, f.cf_ndcg_at_10, f.cold_start_ndcg_at_10);
        }
        println!("  fold-in threshold chosen: users with fewer than {} known listens get cold start", c.fold_in_min_listens);
    }
    Ok(())
}

/// Training on the users a train run reads (`Recipe::trains_on`), then every other user folded in
/// from their training listens (the recipe's row, tracks the model was fitted on) as scoring folds
/// them in; everyone's lists exclude everything they heard. Returns (lists, users trained on, train s).
fn user_sample(train_listens: &[WeightedListen], nu: usize, ni: usize, h: &Recipe) -> (Vec<Ranked>, usize, f64) {
    let trains_on = |u: usize| h.trains_on(u as i64);
    let sampled: Vec<WeightedListen> = train_listens.iter().filter(|l| trains_on(l.user as usize)).copied().collect();
    let fit = h.matrix(nu, ni, &sampled);
    let clock = Instant::now();
    let model = AlsModel::train(&h.als, &fit.fit);
    let train_s = clock.elapsed().as_secs_f64();
    let everyone = h.matrix(nu, ni, train_listens);
    let fitted: Vec<bool> = (0..ni).map(|i| fit.fit.by_item.row_len(i) > 0).collect();
    let (yty, f) = (model.item_gramian(), model.factors());
    let mut factors = model.user_factors.clone();
    for u in (0..nu).filter(|&u| !trains_on(u)) {
        let (items, weights) = everyone.fit.by_user.row(u);
        let (idx, w): (Vec<u32>, Vec<f32>) = items.iter().zip(weights).filter(|(i, _)| fitted[**i as usize]).map(|(&i, &w)| (i, w)).unzip();
        let folded = if idx.is_empty() { vec![0.0; f] } else { model.fold_in(&yty, &idx, &w) };
        factors[u * f..(u + 1) * f].copy_from_slice(&folded);
    }
    let users: Vec<u32> = (0..nu as u32).collect();
    let lists = topk::top_k(&factors, &model.item_factors, f, &users, &everyone.heard().by_user, &fitted, EVAL_K);
    (lists, (0..nu).filter(|&u| trains_on(u)).count(), train_s)
}

/// Trains and scores top-K for every user: (train seconds, score seconds, lists).
fn fit_and_score(params: &AlsParams, train: &TrainMatrix) -> (f64, f64, Vec<Ranked>) {
    let clock = Instant::now();
    let model = AlsModel::train(params, &train.fit);
    let train_s = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let recs = recommend_all(&model, train, EVAL_K);
    (train_s, clock.elapsed().as_secs_f64(), recs)
}

/// The grid the recipe was picked from, on validation listens only; best NDCG@10 among the
/// settings that cover at least 30% of the catalogue (so a popularity-like model cannot win).
fn tune_on_validation(train_listens: &[WeightedListen], nu: usize, ni: usize, h: &Recipe, share: f64) {
    let (fit, validation) = validation_split(train_listens, share, 2);
    let train = h.matrix(nu, ni, &fit);
    let validation = Csr::from_triples(nu, ni, &triples(&validation));
    println!("\ntuning on validation (the latest {share} of each user's training listens; fit on the rest), other settings as the recipe:");
    println!("{:>7} {:>6} {:>5} {:>8} {:>7} {:>9}", "factors", "reg", "alpha", "NDCG@10", "P@10", "coverage");
    let mut best: Option<(f64, Recipe)> = None;
    for factors in [32, 64, 128] {
        for regularization in [10.0, 40.0, 80.0] {
            for alpha in [0.3, 1.0] {
                let q = Recipe { als: AlsParams { factors, regularization, alpha, ..h.als }, ..*h };
                let (_, _, recs) = fit_and_score(&q.als, &train);
                let m = evaluate(&recs, &validation, EVAL_K, ni);
                println!("{factors:>7} {regularization:>6} {alpha:>5} {:>8.4} {:>7.4} {:>9.4}", m.ndcg, m.precision, m.coverage);
                if m.coverage >= 0.30 && best.is_none_or(|(ndcg, _)| m.ndcg > ndcg) {
                    best = Some((m.ndcg, q));
                }
            }
        }
    }
    match best {
        Some((ndcg, q)) => println!(
            "best on validation (coverage >= 0.30): NDCG@10 {ndcg:.4} with factors {}, regularization {}, alpha {}{}",
            q.als.factors,
            q.als.regularization,
            q.als.alpha,
            if q == *h { " (the configured recipe)" } else { " (differs from the configured recipe)" }
        ),
        None => println!("no setting of the grid reached coverage 0.30 on validation"),
    }
}

/// SplitMix64: a tiny deterministic generator, so the synthetic set is the same on every machine.
fn splitmix(x: &mut u64) -> u64 {
    *x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit(s: &mut u64) -> f64 {
    (splitmix(s) >> 11) as f64 / (1u64 << 53) as f64
}

fn synthetic(nu: usize, ni: usize, n: usize, h: &Recipe) -> Result<(), AnyError> {
    if nu == 0 || ni == 0 || nu > u32::MAX as usize || ni > u32::MAX as usize {
        return Err("--synthetic-users and --synthetic-items must be between 1 and 2^32 - 1".into());
    }
    let clock = Instant::now();
    // Skew: user = floor(nu * u^1.5) (some users far more active), item = floor(ni * u^2.5) (a
    // popular head, a long tail), weight 1..=5 (repeat listens); the order drawn stands for time.
    let mut s = 12345u64;
    let mut listens: Vec<WeightedListen> = (0..n)
        .map(|t| {
            let u = ((nu as f64 * unit(&mut s).powf(1.5)) as usize).min(nu - 1);
            let i = ((ni as f64 * unit(&mut s).powf(2.5)) as usize).min(ni - 1);
            WeightedListen { user: u as u32, item: i as u32, weight: 1.0 + (splitmix(&mut s) % 5) as f32, timestamp: t as i64 }
        })
        .collect();
    // One entry per pair, as training's pairs: weights summed, stamped with the latest listen.
    listens.sort_unstable_by_key(|l| (l.user, l.item, l.timestamp));
    listens.dedup_by(|later, kept| {
        let same = (later.user, later.item) == (kept.user, kept.item);
        if same {
            kept.weight += later.weight;
            kept.timestamp = later.timestamp;
        }
        same
    });
    let data = Recipe { recency_beta: 0.0, ..*h }.matrix(nu, ni, &listens);
    drop(listens);
    let threads = rayon::current_num_threads();
    println!(
        "\nsynthetic: {nu} users x {ni} items, {n} listens -> {} distinct pairs, {} trained on (ALS_MAX_TRACKS_PER_USER {}), generated in {:.1} s (not counted); rayon threads {threads}",
        data.heard().nnz(),
        data.fit.nnz(),
        h.max_tracks_per_user,
        clock.elapsed().as_secs_f64()
    );
    println!("(the raw weights are trained on: recency weighting only rescales them, at no ALS cost)");
    println!("{:<20} {:>8} {:>8} {:>9} {:>9}", "step", "wall s", "cpu s", "peak MiB", "target s");
    let report = |step: &str, wall: f64, cpu: f64, target: f64| {
        let verdict = if wall <= target { "met" } else { "missed" };
        println!("{step:<20} {wall:>8.3} {cpu:>8.2} {:>9.1} {target:>9.1} {verdict}", peak_memory_mib());
    };
    reset_peak_memory();
    let (cpu0, clock) = (cpu_time(), Instant::now());
    let model = AlsModel::train(&h.als, &data.fit);
    report(&format!("train ({} it, {} f)", h.als.iterations, h.als.factors), clock.elapsed().as_secs_f64(), (cpu_time() - cpu0).as_secs_f64(), TRAIN_TARGET_S);
    reset_peak_memory();
    let (cpu0, clock) = (cpu_time(), Instant::now());
    let recs = recommend_all(&model, &data, EVAL_K);
    report(&format!("top-{EVAL_K}, all users"), clock.elapsed().as_secs_f64(), (cpu_time() - cpu0).as_secs_f64(), SCORE_TARGET_S);
    std::hint::black_box(recs);
    println!(
        "(peak = process RSS during the step, the matrix and factors included; targets are for 2 threads{})",
        if threads == 2 { "" } else { ", this run used a different count: set RAYON_NUM_THREADS=2 to compare" }
    );
    Ok(())
}
