//! The contract every [`Queue`] adapter must meet, written once against `&dyn Queue` and run
//! per adapter by the `queue::tests` macros. Each case takes the queue (fresh and empty) and
//! its visibility timeout.
//!
//! Timing assertions are generous: SQS (and its emulator) works in whole seconds and a
//! long-polling receive may return up to a second late.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::{Job, Queue, QueueError, Received};
use crate::domain::{DeliveryId, EntryId, RunId, WorkspaceId};

/// The longest single wait used by the suite; long enough for one SQS long poll.
const POLL: Duration = Duration::from_secs(1);
/// Slack added to every "within" deadline.
const SLACK: Duration = Duration::from_secs(5);

use crate::testing::fixtures::render_job;

fn deliver_job(one_delivery: bool) -> Job {
    let now = Utc::now();
    Job::Deliver {
        workspace_id: WorkspaceId::generate(now),
        run_id: RunId::generate(now),
        entry_id: EntryId::generate(now),
        delivery_id: one_delivery.then(|| DeliveryId::generate(now)),
    }
}

/// Receives until `count` jobs arrived (acknowledging none) or `within` passed.
async fn receive_n(queue: &dyn Queue, count: usize, within: Duration) -> Vec<Received> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    while got.len() < count && Instant::now() < deadline {
        let batch = queue.receive(count - got.len(), POLL).await.unwrap();
        got.extend(batch);
    }
    got
}

fn key(job: &Job) -> String {
    serde_json::to_string(job).unwrap()
}

fn sorted_keys<'a>(jobs: impl IntoIterator<Item = &'a Job>) -> Vec<String> {
    let mut keys: Vec<String> = jobs.into_iter().map(key).collect();
    keys.sort();
    keys
}

pub async fn sent_jobs_are_received_with_their_exact_contents(q: &dyn Queue, _vt: Duration) {
    let jobs = vec![render_job(), deliver_job(true), deliver_job(false)];
    q.send(&jobs).await.unwrap();

    let got = receive_n(q, jobs.len(), SLACK).await;
    assert_eq!(sorted_keys(got.iter().map(|r| &r.job)), sorted_keys(&jobs), "the same jobs, field for field");
    for received in &got {
        assert!(jobs.contains(&received.job));
        assert_eq!(received.receive_count, 1);
        assert!(!received.receipt.is_empty());
        q.ack(&received.receipt).await.unwrap();
    }
    let receipts: HashSet<&str> = got.iter().map(|r| r.receipt.as_str()).collect();
    assert_eq!(receipts.len(), got.len(), "one receipt per received job");
}

pub async fn acked_jobs_are_not_received_again(q: &dyn Queue, vt: Duration) {
    q.send(&[render_job()]).await.unwrap();
    let got = receive_n(q, 1, SLACK).await;
    assert_eq!(got.len(), 1);
    q.ack(&got[0].receipt).await.unwrap();

    // Past the visibility timeout: an unacknowledged job would be back by now.
    let deadline = Instant::now() + vt + POLL;
    while Instant::now() < deadline {
        let again = q.receive(1, POLL).await.unwrap();
        assert!(again.is_empty(), "acked job received again: {again:?}");
    }
}

pub async fn unacked_jobs_reappear_after_the_visibility_timeout(q: &dyn Queue, vt: Duration) {
    let job = deliver_job(true);
    q.send(std::slice::from_ref(&job)).await.unwrap();
    let first = receive_n(q, 1, SLACK).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].receive_count, 1);
    let received_at = Instant::now();

    assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty(), "invisible while in flight");

    let again = receive_n(q, 1, vt + SLACK).await;
    assert_eq!(again.len(), 1, "the job came back");
    assert!(received_at.elapsed() + Duration::from_millis(50) >= vt, "not before the visibility timeout");
    assert_eq!(again[0].job, job);
    assert_eq!(again[0].receive_count, 2);
    assert_ne!(again[0].receipt, first[0].receipt, "a fresh receipt");
    q.ack(&again[0].receipt).await.unwrap();
}

pub async fn retried_jobs_become_visible_again_after_the_delay(q: &dyn Queue, vt: Duration) {
    let job = render_job();
    q.send(std::slice::from_ref(&job)).await.unwrap();
    let first = receive_n(q, 1, SLACK).await;
    assert_eq!(first.len(), 1);

    // No delay: visible again at once, well before the visibility timeout.
    q.retry_later(&first[0].receipt, Duration::ZERO).await.unwrap();
    let second = receive_n(q, 1, SLACK).await;
    assert_eq!(second.len(), 1, "visible again after retry_later(0)");
    assert_eq!(second[0].job, job);
    assert_eq!(second[0].receive_count, 2);

    // A delay longer than the visibility timeout: invisible until it passed.
    let delay = vt + Duration::from_secs(1);
    q.retry_later(&second[0].receipt, delay).await.unwrap();
    let retried_at = Instant::now();
    assert!(q.receive(1, Duration::ZERO).await.unwrap().is_empty());
    let third = receive_n(q, 1, delay + SLACK).await;
    assert_eq!(third.len(), 1, "visible again after the delay");
    assert!(
        retried_at.elapsed() + Duration::from_millis(50) >= delay,
        "not before the delay ({:?} < {delay:?})",
        retried_at.elapsed()
    );
    assert_eq!(third[0].receive_count, 3);
    q.ack(&third[0].receipt).await.unwrap();
}

pub async fn receiving_from_an_empty_queue_returns_nothing_after_the_wait(q: &dyn Queue, _vt: Duration) {
    let started = Instant::now();
    let got = q.receive(10, POLL).await.unwrap();
    let waited = started.elapsed();
    assert!(got.is_empty());
    assert!(waited + Duration::from_millis(100) >= POLL, "returned early: {waited:?}");
    assert!(waited < POLL + SLACK, "waited too long: {waited:?}");
}

pub async fn a_waiting_receiver_gets_a_job_sent_during_the_wait(q: &dyn Queue, _vt: Duration) {
    let job = render_job();
    let long_wait = Duration::from_secs(10);
    let started = Instant::now();
    let (got, ()) = tokio::join!(q.receive(1, long_wait), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        q.send(std::slice::from_ref(&job)).await.unwrap();
    });
    let got = got.unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].job, job);
    assert!(started.elapsed() < long_wait / 2, "woke late: {:?}", started.elapsed());
    q.ack(&got[0].receipt).await.unwrap();
}

pub async fn more_jobs_than_one_batch_are_each_delivered_exactly_once(q: &dyn Queue, _vt: Duration) {
    let jobs: Vec<Job> = (0..25)
        .map(|i| match i % 3 {
            0 => render_job(),
            1 => deliver_job(true),
            _ => deliver_job(false),
        })
        .collect();
    q.send(&jobs).await.unwrap();

    let mut received = Vec::new();
    let deadline = Instant::now() + SLACK * 2;
    while received.len() < jobs.len() && Instant::now() < deadline {
        for r in q.receive(10, POLL).await.unwrap() {
            q.ack(&r.receipt).await.unwrap();
            received.push(r.job);
        }
    }
    assert_eq!(received.len(), jobs.len(), "all 25, none twice");
    assert_eq!(sorted_keys(&received), sorted_keys(&jobs));
    assert!(q.receive(10, POLL).await.unwrap().is_empty(), "nothing left");
}

pub async fn concurrent_receivers_never_get_the_same_job(q: &dyn Queue, _vt: Duration) {
    let jobs: Vec<Job> = (0..20).map(|_| render_job()).collect();
    q.send(&jobs).await.unwrap();

    let receiver = || async move {
        let mut got = Vec::new();
        let deadline = Instant::now() + SLACK * 2;
        while Instant::now() < deadline {
            let batch = q.receive(3, POLL).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for r in batch {
                q.ack(&r.receipt).await.unwrap();
                got.push(r.job);
            }
        }
        got
    };
    let (a, b) = tokio::join!(receiver(), receiver());

    let a_keys: HashSet<String> = a.iter().map(key).collect();
    let b_keys: HashSet<String> = b.iter().map(key).collect();
    assert_eq!(a_keys.len(), a.len(), "one receiver got a job twice");
    assert_eq!(b_keys.len(), b.len(), "one receiver got a job twice");
    assert!(a_keys.is_disjoint(&b_keys), "both receivers got {:?}", a_keys.intersection(&b_keys).collect::<Vec<_>>());
    let all: Vec<Job> = a.into_iter().chain(b).collect();
    assert_eq!(sorted_keys(&all), sorted_keys(&jobs), "every job received");
}

pub async fn unknown_receipts_are_rejected(q: &dyn Queue, _vt: Duration) {
    let bogus = "not-a-receipt-of-this-queue";
    let ack = q.ack(bogus).await;
    assert!(matches!(ack, Err(QueueError::UnknownReceipt)), "{ack:?}");
    let retry = q.retry_later(bogus, Duration::ZERO).await;
    assert!(matches!(retry, Err(QueueError::UnknownReceipt)), "{retry:?}");
}
