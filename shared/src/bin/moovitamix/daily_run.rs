//! `moovitamix run`: the three jobs of each date, in order, against the source or the built-in
//! simulator, optionally fanned out by buckets of users.

use crate::AnyError;
use crate::cli::SimulatorArgs;
use crate::console::say;
use crate::summaries::{print_fanout, print_fetch, print_score, print_transform};
use chrono::{NaiveDate, Utc};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender};
use moovitamix::simulator::RunningSimulator;
use moovitamix::transform::Transformer;

pub(crate) async fn run(date: Option<NaiveDate>, range: Option<(NaiveDate, NaiveDate)>, allow_past: bool, fanout: Option<(u32, Option<u32>)>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let now = Utc::now();
    let dates: Vec<NaiveDate> = match (date, range) {
        (_, Some((from, to))) if from > to => return Err(format!("--from {from} is after --to {to}").into()),
        (_, Some((from, to))) => from.iter_days().take_while(|d| *d <= to).collect(),
        (Some(d), None) => vec![d],
        (None, None) => vec![now.date_naive()],
    };
    let mut config = Config::from_env()?;
    // The built-in simulator stands in for the source unless SOURCE_API_URL names one.
    let real_source = std::env::var("SOURCE_API_URL").ok().filter(|v| !v.trim().is_empty());
    // Every date is checked before anything runs. The simulator serves each date's own data
    // set, so an old date is honest there; a real source serves only the present.
    for date in &dates {
        let allowed = allow_past || real_source.is_none();
        moovitamix::trigger::check_logical_date(*date, now, Some(config.fetch.max_past_days), allowed)?;
    }
    let simulator = match real_source {
        Some(_) => None,
        None => {
            let s = RunningSimulator::start(sim.config(dates[0])).await?;
            config.source.base_url = s.url();
            say!("source: the built-in simulator at {} (seed {}, from {})", s.url(), sim.sim_seed, sim.sim_start);
            Some(s)
        }
    };
    say!("data:   {}", config.data_url);
    let fanout = match fanout {
        None => None,
        Some((buckets, workers)) => {
            config.fetch.listen_buckets = buckets;
            let workers = workers.map_or_else(moovitamix::fanout::LocalFanout::default_workers, |w| w as usize);
            say!("fan-out: {buckets} bucket(s), {workers} child process(es) at once");
            Some(moovitamix::fanout::LocalFanout { program: std::env::current_exe()?, workers, attempts: 2, env: Vec::new() })
        }
    };
    // One AWS configuration for the three jobs, as one per Lambda container.
    let aws = AwsConfig::new();
    let fetcher = Fetcher::from_config(&config, &aws).await?;
    let transformer = Transformer::from_config(&config, &aws).await?;
    let recommender = Recommender::from_config(&config, &aws).await;
    let backfill = (dates.len() > 1).then(|| moovitamix::progress::Task::start("backfill: dates", dates.len() as u64));
    let mut rows_so_far = 0;
    for date in dates {
        if let Some(s) = &simulator {
            s.control().set_date(date);
        }
        let summary = fetcher.run(date, moovitamix::job::Invocation::new()).await?;
        print_fetch(&summary);
        match &fanout {
            Some(runner) => {
                let fanned = runner.transform(&transformer, date, moovitamix::job::Invocation::new()).await?;
                print_transform(&fanned.summary);
                print_fanout(&fanned);
            }
            None => print_transform(&transformer.run(date, moovitamix::job::Invocation::new()).await?),
        }
        match &fanout {
            Some(runner) => {
                let fanned = runner.score(&recommender, date, moovitamix::job::Invocation::new()).await?;
                print_score(&fanned.summary);
                print_fanout(&fanned);
            }
            None => match recommender.run(Request::Score { date }, moovitamix::job::Invocation::new()).await? {
                Outcome::Score(s) => print_score(&s),
                other => unreachable!("a score request answers a score: {other:?}"),
            },
        }
        if let Some(task) = &backfill {
            rows_so_far += summary.entities.values().map(|e| e.accepted).sum::<u64>();
            task.advance(1);
            task.describe(|| format!("{date} done, {rows_so_far} rows fetched so far"));
        }
    }
    if let Some(s) = simulator {
        s.shutdown().await;
    }
    Ok(())
}
