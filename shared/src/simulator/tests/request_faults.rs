//! The faults of a request: transient errors at their rates, timeouts and latency.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::faults::{Transient, draw_request};
use super::*;

/// Statuses of `n` sequential `size=1` requests to `/tracks`.
async fn statuses(c: &reqwest::Client, sim: &RunningSimulator, n: usize) -> Vec<Got> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(page(c, sim, "tracks", 1 + (i as u64 % 20), 1).await);
    }
    out
}

#[tokio::test]
async fn transient_faults_fire_at_their_rates_and_repeat() {
    let c = client();
    let n = 300;
    let within = |count: usize| (36..=84).contains(&count); // 20% of 300 is 60
    let clean = RunningSimulator::start(config(50, 20)).await.unwrap();
    let clean_pages = statuses(&c, &clean, 20).await;

    let cases: [(&str, Faults); 4] = [
        (
            "error",
            Faults {
                error_rate: 0.2,
                ..Faults::default()
            },
        ),
        (
            "rate_limit",
            Faults {
                rate_limit_rate: 0.2,
                retry_after_secs: 7,
                ..Faults::default()
            },
        ),
        (
            "html",
            Faults {
                html_rate: 0.2,
                ..Faults::default()
            },
        ),
        (
            "truncate",
            Faults {
                truncate_rate: 0.2,
                ..Faults::default()
            },
        ),
    ];
    for (kind, faults) in cases {
        let sim = RunningSimulator::start(with_faults(faults.clone()))
            .await
            .unwrap();
        let got = statuses(&c, &sim, n).await;
        let faulted: Vec<(usize, &Got)> = got
            .iter()
            .enumerate()
            .filter(|(i, g)| g.body != clean_pages[i % 20].body)
            .collect();
        assert!(
            within(faulted.len()),
            "{kind}: {} of {n} faulted",
            faulted.len()
        );
        assert_eq!(
            sim.control().stats().faults[kind],
            faulted.len() as u64,
            "{kind}"
        );
        let mut seen_status = HashSet::new();
        for (i, g) in &faulted {
            seen_status.insert(g.status);
            match kind {
                "error" => assert!([500, 502, 503].contains(&g.status)),
                "rate_limit" => {
                    assert_eq!(g.status, 429);
                    assert_eq!(g.header("retry-after"), Some("7"));
                }
                "html" => {
                    assert!([200, 502].contains(&g.status));
                    assert!(g.header("content-type").unwrap().starts_with("text/html"));
                }
                _ => {
                    assert_eq!(g.status, 200);
                    assert_eq!(
                        g.header("content-length"),
                        Some(g.body.len().to_string().as_str())
                    );
                    assert!(
                        serde_json::from_slice::<Value>(&g.body).is_err(),
                        "a cut body is not JSON"
                    );
                    assert!(
                        clean_pages[i % 20].body.starts_with(&g.body),
                        "cut from the real page"
                    );
                }
            }
        }
        let expected_statuses = match kind {
            "error" => 3,
            "html" => 2,
            _ => 1,
        };
        assert_eq!(
            seen_status.len(),
            expected_statuses,
            "{kind}: {seen_status:?}"
        );
        // The unfaulted requests are exactly the clean pages.
        for (i, g) in got.iter().enumerate() {
            assert!(g.body == clean_pages[i % 20].body || faulted.iter().any(|(j, _)| *j == i));
        }
        // Same faults again after a reset of the fault clock, and the draws are the server's.
        sim.control().set_faults(faults.clone());
        let again = statuses(&c, &sim, n).await;
        let pattern = |v: &[Got]| {
            v.iter()
                .map(|g| (g.status, g.body.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(&got), pattern(&again), "{kind}: deterministic");
        for (i, g) in got.iter().enumerate() {
            let drawn = draw_request(&faults, 42, 0, Resource::Tracks, i as u64).transient;
            assert_eq!(
                drawn != Transient::None,
                g.body != clean_pages[i % 20].body,
                "{kind} request {i}"
            );
        }
        sim.shutdown().await;
    }
    clean.shutdown().await;
}

#[tokio::test]
async fn timeouts_hang_past_the_client_timeout_and_latency_delays() {
    let faults = Faults {
        timeout_rate: 0.5,
        timeout: Duration::from_secs(5),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(faults.clone()))
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let mut timed_out = Vec::new();
    for i in 0..12u64 {
        let r = c.get(format!("{}/tracks?size=1", sim.url())).send().await;
        timed_out.push(r.is_err_and(|e| e.is_timeout()));
        let drawn =
            draw_request(&faults, 42, 0, Resource::Tracks, i).transient == Transient::Timeout;
        assert_eq!(timed_out[i as usize], drawn, "request {i}");
    }
    let n = timed_out.iter().filter(|&&t| t).count();
    assert!((2..=10).contains(&n), "{n} of 12 timed out");
    assert_eq!(sim.control().stats().faults["timeout"], n as u64);
    // Shutdown does not wait for hanging requests.
    let started = Instant::now();
    sim.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));

    let slow = Faults {
        latency: Duration::from_millis(40),
        latency_jitter: Duration::from_millis(20),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(slow)).await.unwrap();
    let c = client();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(page(&c, &sim, "users", 1, 10).await.status, 200);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    assert_eq!(sim.control().stats().faults["latency"], 5);
    sim.shutdown().await;
}
