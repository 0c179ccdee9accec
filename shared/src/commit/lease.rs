//! The lease that keeps two runs of one stage and date apart: `<zone>/_run/dt=D/_lease.json`.
//!
//! Taken with a create-only write, or by a conditional replace of a lease that was released or
//! has lapsed; renewed by the holder (a heartbeat, and once more right before it commits) with a
//! conditional replace on the entity tag of its own last write; released by a last conditional
//! replace that marks it free. Every write is conditional, so a run never overwrites nor frees a
//! successor's lease, and a holder that was taken over learns it at its next renewal.
//!
//! **Clocks.** The holder judges its own lease by its own clock (renewed less than one TTL ago).
//! A contender compares the holder's `expires_at` with its own clock, and waits
//! `max_clock_skew` longer: that is the skew between two writers' clocks the protocol tolerates
//! without taking a live lease. A larger skew costs only that: the early holder is fenced at its
//! next renewal, and the conditional write of the run manifest (see [`super::run`]) keeps either
//! commit whole. No clock is trusted for the data's safety.

use super::clock::Clock;
use super::{CommitError, RunId};
use crate::partition::{Partition, Zone};
use crate::storage::{ETag, PutMode, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How leases are held and waited for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LeaseSettings {
    /// A lease not renewed for this long has lapsed (`LEASE_TTL_SECONDS`).
    pub ttl: Duration,
    /// The clock skew between two writers tolerated before a lapsed lease is taken over.
    pub max_clock_skew: Duration,
    /// How long a run waits for a held lease to be released or to lapse before it gives up
    /// with [`CommitError::Busy`] (`LEASE_WAIT_SECONDS`).
    pub wait: Duration,
}

impl LeaseSettings {
    /// The holder renews this often: four chances per TTL.
    pub fn heartbeat(&self) -> Duration {
        self.ttl / 4
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseBody {
    run_id: RunId,
    acquired_at: DateTime<Utc>,
    renewed_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    /// Set by the holder's release: the lease is free.
    #[serde(default)]
    released: bool,
}

impl LeaseBody {
    fn to_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a lease serialises"))
    }
}

#[derive(Debug)]
struct Held {
    etag: ETag,
    body: LeaseBody,
    /// Why the lease is no longer ours, once it is not.
    lost: Option<String>,
}

/// A held lease on one stage and date.
#[derive(Debug)]
pub struct Lease {
    store: Arc<dyn Store>,
    key: String,
    partition: String,
    settings: LeaseSettings,
    clock: Arc<dyn Clock>,
    held: Mutex<Held>,
    lost: tokio::sync::Notify,
    /// One conditional write of the lease at a time (heartbeat, pre-commit renewal, release):
    /// two in flight would refuse each other.
    writing: tokio::sync::Mutex<()>,
}

fn after(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    t + chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Lease {
    /// Takes the lease of `zone`'s date, waiting up to `settings.wait` for a holder to finish.
    pub async fn acquire(
        store: Arc<dyn Store>,
        zone: Zone,
        date: NaiveDate,
        run_id: &RunId,
        settings: LeaseSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Lease, CommitError> {
        let partition = Partition::run(zone, date);
        let key = partition.lease_key();
        let give_up_at = after(clock.now(), settings.wait);
        let fresh = |now| LeaseBody { run_id: run_id.clone(), acquired_at: now, renewed_at: now, expires_at: after(now, settings.ttl), released: false };
        let held = |etag, body| Lease {
            store: store.clone(),
            key: key.clone(),
            partition: partition.to_string(),
            settings,
            clock: clock.clone(),
            held: Mutex::new(Held { etag, body, lost: None }),
            lost: tokio::sync::Notify::new(),
            writing: tokio::sync::Mutex::new(()),
        };
        // The holder's lease as this run first saw it: a lease whose entity tag stays the same
        // for a TTL (plus the skew) by this run's own clock has lapsed, whatever the holder's
        // clock wrote into it, so a holder whose clock runs ahead cannot block the date longer.
        let mut first_seen: Option<(ETag, DateTime<Utc>)> = None;
        loop {
            let body = fresh(clock.now());
            match store.put(&key, body.to_bytes(), PutMode::Create).await {
                Ok(etag) => return Ok(held(etag, body)),
                Err(StoreError::AlreadyExists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
            let Some(current) = store.get_opt(&key).await? else { continue };
            // Judge the holder by the clock as it reads now, not before the two calls.
            let now = clock.now();
            let body = fresh(now);
            let holder: Option<LeaseBody> = serde_json::from_slice(&current.data).ok();
            if let Some(h) = holder.as_ref().filter(|h| h.run_id == *run_id && !h.released) {
                // Our own create landed though its answer was lost (a retried request): it is ours.
                return Ok(held(current.etag, h.clone()));
            }
            if first_seen.as_ref().is_none_or(|(etag, _)| *etag != current.etag) {
                first_seen = Some((current.etag.clone(), now));
            }
            let seen_since = first_seen.as_ref().map_or(now, |(_, at)| *at);
            let lapses_unchanged_at = after(after(seen_since, settings.ttl), settings.max_clock_skew);
            let free_at = holder.as_ref().map(|h| match h.released {
                true => now,
                false => after(h.expires_at, settings.max_clock_skew).min(lapses_unchanged_at),
            });
            match (&holder, free_at) {
                (Some(h), Some(free_at)) if free_at > now => {
                    if free_at > give_up_at || now >= give_up_at {
                        return Err(CommitError::Busy { partition: partition.to_string(), holder: h.run_id.to_string(), until: h.expires_at });
                    }
                    tracing::info!(lease = %key, holder = %h.run_id, until = %h.expires_at, "the date is held by another run; waiting for it to finish or lapse");
                    // Poll: a holder that finishes releases early; one that renews moves `free_at`.
                    let step = (free_at - now).to_std().unwrap_or_default().min(settings.heartbeat()).max(Duration::from_millis(100));
                    clock.sleep(step).await;
                }
                _ => match store.put(&key, body.to_bytes(), PutMode::Replace(current.etag)).await {
                    Ok(etag) => {
                        if let Some(h) = holder.as_ref().filter(|h| !h.released) {
                            tracing::warn!(lease = %key, stale_holder = %h.run_id, "took over a lapsed lease (a previous run died or stalled without releasing it)");
                        }
                        return Ok(held(etag, body));
                    }
                    // Another contender won that replace: look again.
                    Err(StoreError::Precondition { .. }) => {}
                    Err(e) => return Err(e.into()),
                },
            }
        }
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    /// Proves the lease is still ours by renewing it with a conditional write. Fails with
    /// [`CommitError::LeaseLost`] when another run took it over, or when this run has not renewed
    /// it for a whole TTL (by its own clock: another run may have taken it since).
    pub async fn renew(&self) -> Result<(), CommitError> {
        let _writing = self.writing.lock().await;
        let now = self.clock.now();
        let (etag, body) = {
            let held = self.held.lock().expect("lease lock");
            if let Some(why) = &held.lost {
                return Err(self.lost_error(why.clone()));
            }
            if now > after(held.body.renewed_at, self.settings.ttl) {
                drop(held);
                let why = format!("not renewed since more than its TTL ({:?}); another run may have taken the date over", self.settings.ttl);
                return Err(self.mark_lost(why));
            }
            let body = LeaseBody { renewed_at: now, expires_at: after(now, self.settings.ttl), ..held.body.clone() };
            (held.etag.clone(), body)
        };
        let etag = match self.store.put(&self.key, body.to_bytes(), PutMode::Replace(etag)).await {
            Ok(etag) => etag,
            // Refused: unless it is our own write that landed while its answer was lost (a
            // retried request), another run took the date over.
            Err(StoreError::Precondition { .. }) => match self.store.get_opt(&self.key).await? {
                Some(current) if serde_json::from_slice::<LeaseBody>(&current.data).is_ok_and(|b| b.run_id == body.run_id && b.renewed_at == body.renewed_at && !b.released) => current.etag,
                _ => return Err(self.mark_lost("another run took the date over".into())),
            },
            Err(e) => return Err(e.into()),
        };
        let mut held = self.held.lock().expect("lease lock");
        held.etag = etag;
        held.body = body;
        Ok(())
    }

    /// Fails unless the lease was renewed less than a TTL ago by this run's clock (no I/O).
    pub fn check_fresh(&self) -> Result<(), CommitError> {
        self.check_fresh_for(Duration::ZERO)
    }

    /// Fails unless the lease stays fresh for `margin` more (no I/O): the last check before the
    /// commit point, whose write is abandoned after `margin`, so that it lands, if ever, while the
    /// lease is still this run's.
    pub fn check_fresh_for(&self, margin: Duration) -> Result<(), CommitError> {
        let held = self.held.lock().expect("lease lock");
        if let Some(why) = &held.lost {
            return Err(self.lost_error(why.clone()));
        }
        if after(self.clock.now(), margin) > after(held.body.renewed_at, self.settings.ttl) {
            drop(held);
            return Err(self.mark_lost("its last renewal is older than its TTL".into()));
        }
        Ok(())
    }

    /// The error of a lost lease, with its reason.
    pub fn lost_reason(&self) -> CommitError {
        let why = self.held.lock().expect("lease lock").lost.clone().unwrap_or_else(|| "lost".into());
        self.lost_error(why)
    }

    /// True while no renewal has found the lease taken.
    pub fn is_held(&self) -> bool {
        self.held.lock().expect("lease lock").lost.is_none()
    }

    fn mark_lost(&self, why: String) -> CommitError {
        self.held.lock().expect("lease lock").lost.get_or_insert(why.clone());
        self.lost.notify_waiters();
        self.lost.notify_one();
        self.lost_error(why)
    }

    fn lost_error(&self, why: String) -> CommitError {
        CommitError::LeaseLost { partition: self.partition.clone(), why }
    }

    /// Resolves once a renewal found the lease lost.
    pub async fn lost(&self) {
        loop {
            let notified = self.lost.notified();
            if !self.is_held() {
                return;
            }
            notified.await;
        }
    }

    /// Renews the lease every [`LeaseSettings::heartbeat`] until it is lost or the task is
    /// aborted. A failed renewal is retried at the next beat; the lease is lost once a renewal is
    /// refused or none succeeded for a TTL.
    pub async fn keep_alive(self: Arc<Self>) {
        loop {
            tokio::time::sleep(self.settings.heartbeat()).await;
            match self.renew().await {
                Ok(()) => {}
                Err(e @ CommitError::LeaseLost { .. }) => {
                    tracing::error!(error = %e, "the run lost its lease; stopping it");
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "could not renew the lease; trying again at the next beat"),
            }
        }
    }

    /// Stops the heartbeat task between two renewals, never in the middle of one (a renewal
    /// cancelled after its write was sent would leave this run holding a stale entity tag).
    pub async fn stop_heartbeat(&self, heartbeat: &tokio::task::JoinHandle<()>) {
        let _writing = self.writing.lock().await;
        heartbeat.abort();
    }

    /// Marks the lease free, if it is still ours (a conditional replace: never a successor's).
    pub async fn release(&self) -> Result<(), CommitError> {
        let _writing = self.writing.lock().await;
        let (etag, body) = {
            let held = self.held.lock().expect("lease lock");
            if held.lost.is_some() {
                return Ok(());
            }
            (held.etag.clone(), LeaseBody { renewed_at: self.clock.now(), released: true, ..held.body.clone() })
        };
        match self.store.put(&self.key, body.to_bytes(), PutMode::Replace(etag)).await {
            Ok(_) | Err(StoreError::Precondition { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::clock::{ManualClock, SystemClock};
    use crate::storage::MemoryStore;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    fn settings(wait: u64) -> LeaseSettings {
        LeaseSettings { ttl: Duration::from_secs(60), max_clock_skew: Duration::from_secs(10), wait: Duration::from_secs(wait) }
    }

    async fn take(store: &Arc<dyn Store>, run: &str, clock: &Arc<ManualClock>, wait: u64) -> Result<Lease, CommitError> {
        Lease::acquire(store.clone(), Zone::Raw, date(), &RunId::from(run), settings(wait), clock.clone()).await
    }

    #[tokio::test]
    async fn a_lease_keeps_a_second_run_out_until_released_or_lapsed() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let held = take(&store, "run1", &clock, 0).await.unwrap();
        let err = take(&store, "run2", &clock, 0).await.unwrap_err();
        assert!(matches!(&err, CommitError::Busy { holder, .. } if holder == "run1"), "{err}");
        held.release().await.unwrap();
        let second = take(&store, "run2", &clock, 0).await.unwrap();
        // Lapsed, but within the tolerated skew: still busy.
        clock.advance(Duration::from_secs(65));
        assert!(matches!(take(&store, "run3", &clock, 0).await, Err(CommitError::Busy { .. })));
        clock.advance(Duration::from_secs(10));
        let third = take(&store, "run3", &clock, 0).await.unwrap();
        // run2 was taken over: its renewal and its release change nothing.
        let err = second.renew().await.unwrap_err();
        assert!(matches!(err, CommitError::LeaseLost { .. }), "{err}");
        second.release().await.unwrap();
        let err = take(&store, "run4", &clock, 0).await.unwrap_err();
        assert!(matches!(&err, CommitError::Busy { holder, .. } if holder == "run3"), "{err}");
        third.renew().await.unwrap();
    }

    #[tokio::test]
    async fn a_contender_waits_for_a_dead_holder_to_lapse() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let _dead = take(&store, "run1", &clock, 0).await.unwrap();
        let t0 = clock.now();
        // A wait shorter than the lapse is refused at once; a long enough one succeeds after the lapse.
        assert!(matches!(take(&store, "run2", &clock, 30).await, Err(CommitError::Busy { .. })));
        assert_eq!(clock.now(), t0, "a hopeless wait does not wait");
        take(&store, "run2", &clock, 120).await.unwrap();
        let waited = (clock.now() - t0).num_seconds();
        assert!((70..=75).contains(&waited), "waited {waited} s: TTL plus skew");
    }

    #[tokio::test]
    async fn a_holder_that_did_not_renew_for_a_ttl_knows_it_lost_the_lease() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let lease = take(&store, "run1", &clock, 0).await.unwrap();
        clock.advance(Duration::from_secs(30));
        lease.renew().await.unwrap();
        clock.advance(Duration::from_secs(61));
        assert!(matches!(lease.renew().await, Err(CommitError::LeaseLost { .. })));
        assert!(!lease.is_held());
        lease.lost().await;
    }

    #[tokio::test]
    async fn the_heartbeat_keeps_a_lease_alive_and_notices_a_takeover() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let settings = LeaseSettings { ttl: Duration::from_millis(200), max_clock_skew: Duration::ZERO, wait: Duration::ZERO };
        let lease = Arc::new(Lease::acquire(store.clone(), Zone::Raw, date(), &RunId::from("run1"), settings, Arc::new(SystemClock)).await.unwrap());
        let beat = tokio::spawn(lease.clone().keep_alive());
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(lease.is_held(), "renewed every 50 ms, so never lapsed");
        let other = Lease::acquire(store.clone(), Zone::Raw, date(), &RunId::from("run2"), settings, Arc::new(SystemClock)).await;
        assert!(matches!(other, Err(CommitError::Busy { .. })));
        // Someone overwrites the lease behind the holder's back: the next beat notices.
        let current = store.get(lease.key()).await.unwrap();
        store.put(lease.key(), Bytes::from_static(b"{}"), PutMode::Replace(current.etag)).await.unwrap();
        tokio::time::timeout(Duration::from_secs(2), lease.lost()).await.expect("the heartbeat noticed");
        beat.await.unwrap();
    }
}
