//! In-process work queue for the local all-in-one server (`herald serve`), with the semantics
//! of SQS standard queues that the pipeline relies on:
//!
//! - jobs come out roughly in the order they were sent;
//! - a received job is invisible to every other receiver until it is acknowledged, until its
//!   visibility timeout passes (then it is received again with `receive_count + 1`), or until
//!   the delay given to [`Queue::retry_later`] passes;
//! - every receive hands out a fresh receipt; once a job has been received again, the older
//!   receipts are [`QueueError::UnknownReceipt`];
//! - [`Queue::receive`] waits for work without busy-looping: it sleeps on a
//!   [`tokio::sync::Notify`] (woken by sends and visibility changes) and, when jobs are in
//!   flight, until the earliest of them becomes visible again.
//!
//! All timing uses `tokio::time`, so it follows a paused test clock.
//!
//! **This queue is not durable by itself**: its jobs live in memory and are lost when the
//! process stops. That is fine because the store is the source of truth and queue messages
//! only carry ids: on start-up (and at an interval) the recovery sweep re-enqueues every entry
//! left `queued`/`in_progress`, so unfinished work resumes after a restart.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{Job, Queue, QueueError, Received};

/// An in-process queue with SQS-like visibility semantics. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct MemoryQueue {
    visibility_timeout: Duration,
    state: Mutex<State>,
    /// Woken whenever a job may have become receivable earlier than waiters expect.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    /// Every job not yet acknowledged, by sequence number.
    messages: HashMap<u64, Message>,
    /// Visible jobs in the order they became visible. May hold stale sequence numbers (of jobs
    /// acknowledged or received since); they are skipped when popped.
    ready: VecDeque<u64>,
    /// Jobs in flight, by the instant they become visible again. Entries whose `generation`
    /// no longer matches the message are stale and skipped.
    in_flight: BinaryHeap<Reverse<(Instant, u64, u64)>>,
    /// Current receipt → sequence number of the job it belongs to.
    receipts: HashMap<String, u64>,
    next_seq: u64,
    next_receipt: u64,
}

#[derive(Debug)]
struct Message {
    job: Job,
    receive_count: u32,
    /// The receipt of the latest receive, if the job was ever received.
    receipt: Option<String>,
    /// `Some(instant)` while in flight: invisible until then. `None` when visible.
    invisible_until: Option<Instant>,
    /// Bumped on every visibility change, to recognise stale `in_flight` entries.
    generation: u64,
}

impl MemoryQueue {
    /// An empty queue whose received jobs stay invisible for `visibility_timeout` unless
    /// acknowledged or rescheduled first.
    pub fn new(visibility_timeout: Duration) -> Self {
        Self { visibility_timeout, state: Mutex::new(State::default()), changed: Notify::new() }
    }

    /// The visibility timeout this queue was created with.
    pub fn visibility_timeout(&self) -> Duration {
        self.visibility_timeout
    }

    /// Jobs not yet acknowledged, visible or in flight.
    pub fn len(&self) -> usize {
        self.lock().messages.len()
    }

    /// Whether every job sent so far has been acknowledged.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent even if a holder panicked: every mutation is completed
        // before anything that could panic, so a poisoned lock is safe to keep using.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    /// Moves in-flight jobs whose time has come back to the visible queue.
    fn promote_due(&mut self, now: Instant) {
        while let Some(&Reverse((at, seq, generation))) = self.in_flight.peek() {
            if at > now {
                break;
            }
            self.in_flight.pop();
            if let Some(message) = self.messages.get_mut(&seq)
                && message.generation == generation
                && message.invisible_until.is_some()
            {
                message.invisible_until = None;
                message.generation += 1;
                self.ready.push_back(seq);
            }
        }
    }

    /// The instant the next in-flight job becomes visible, dropping stale entries on the way.
    fn next_visible_at(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, seq, generation))) = self.in_flight.peek() {
            let live =
                self.messages.get(&seq).is_some_and(|m| m.generation == generation && m.invisible_until.is_some());
            if live {
                return Some(at);
            }
            self.in_flight.pop();
        }
        None
    }

    /// Takes up to `max` visible jobs, making each invisible until `now + visibility`.
    fn take(&mut self, max: usize, now: Instant, visibility: Duration) -> Vec<Received> {
        let invisible_until = now + visibility;
        let mut out = Vec::new();
        while out.len() < max {
            let Some(seq) = self.ready.pop_front() else {
                break;
            };
            let Some(message) = self.messages.get_mut(&seq) else {
                continue; // acknowledged after it became visible
            };
            if message.invisible_until.is_some() {
                continue; // stale: already handed out since
            }
            let receipt = format!("mem-{seq}-{}", self.next_receipt);
            self.next_receipt += 1;
            if let Some(old) = message.receipt.replace(receipt.clone()) {
                self.receipts.remove(&old);
            }
            self.receipts.insert(receipt.clone(), seq);
            message.receive_count = message.receive_count.saturating_add(1);
            message.invisible_until = Some(invisible_until);
            message.generation += 1;
            self.in_flight.push(Reverse((invisible_until, seq, message.generation)));
            out.push(Received { job: message.job.clone(), receipt, receive_count: message.receive_count });
        }
        out
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn send(&self, jobs: &[Job]) -> Result<(), QueueError> {
        if jobs.is_empty() {
            return Ok(());
        }
        {
            let mut state = self.lock();
            for job in jobs {
                let seq = state.next_seq;
                state.next_seq += 1;
                state.messages.insert(
                    seq,
                    Message { job: job.clone(), receive_count: 0, receipt: None, invisible_until: None, generation: 0 },
                );
                state.ready.push_back(seq);
            }
        }
        self.changed.notify_waiters();
        Ok(())
    }

    async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Received>, QueueError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let deadline = Instant::now() + wait;
        loop {
            // Register for wake-ups before looking at the state, so a send that lands between
            // the look and the sleep is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();

            let now = Instant::now();
            let next_visible_at = {
                let mut state = self.lock();
                state.promote_due(now);
                let batch = state.take(max, now, self.visibility_timeout);
                if !batch.is_empty() {
                    return Ok(batch);
                }
                state.next_visible_at()
            };
            if now >= deadline {
                return Ok(Vec::new());
            }
            let wake_at = next_visible_at.map_or(deadline, |at| at.min(deadline));
            tokio::select! {
                () = &mut changed => {}
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let mut state = self.lock();
        let seq = state.receipts.remove(receipt).ok_or(QueueError::UnknownReceipt)?;
        state.messages.remove(&seq);
        Ok(())
    }

    async fn retry_later(&self, receipt: &str, delay: Duration) -> Result<(), QueueError> {
        {
            let mut state = self.lock();
            let seq = *state.receipts.get(receipt).ok_or(QueueError::UnknownReceipt)?;
            let at = Instant::now() + delay;
            let Some(message) = state.messages.get_mut(&seq) else {
                return Err(QueueError::UnknownReceipt);
            };
            message.generation += 1;
            let generation = message.generation;
            if delay.is_zero() {
                message.invisible_until = None;
                state.ready.push_back(seq);
            } else {
                message.invisible_until = Some(at);
                state.in_flight.push(Reverse((at, seq, generation)));
            }
        }
        // Waiters may be sleeping until a later instant than this job's new one.
        self.changed.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! Behaviour specific to the in-process queue; the shared behaviour is in the contract
    //! suite (`queue::tests::memory`).

    use std::sync::Arc;

    use super::*;
    use crate::testing::fixtures::render_job as job;

    #[tokio::test]
    async fn an_old_receipt_is_unknown_once_the_job_was_received_again() {
        let queue = MemoryQueue::new(Duration::from_millis(50));
        queue.send(&[job()]).await.unwrap();
        let first = queue.receive(1, Duration::ZERO).await.unwrap();
        let second = queue.receive(1, Duration::from_secs(2)).await.unwrap();
        assert_eq!(second[0].receive_count, 2);
        assert_ne!(first[0].receipt, second[0].receipt);

        let old = queue.ack(&first[0].receipt).await;
        assert!(matches!(old, Err(QueueError::UnknownReceipt)), "{old:?}");
        let old = queue.retry_later(&first[0].receipt, Duration::ZERO).await;
        assert!(matches!(old, Err(QueueError::UnknownReceipt)), "{old:?}");
        queue.ack(&second[0].receipt).await.unwrap();
        assert!(queue.is_empty());
    }

    #[tokio::test]
    async fn a_receipt_cannot_be_acknowledged_twice() {
        let queue = MemoryQueue::new(Duration::from_secs(30));
        queue.send(&[job()]).await.unwrap();
        let got = queue.receive(1, Duration::ZERO).await.unwrap();
        queue.ack(&got[0].receipt).await.unwrap();
        let again = queue.ack(&got[0].receipt).await;
        assert!(matches!(again, Err(QueueError::UnknownReceipt)), "{again:?}");
    }

    #[tokio::test]
    async fn receive_returns_at_most_max_jobs_in_the_order_they_were_sent() {
        let queue = MemoryQueue::new(Duration::from_secs(30));
        let jobs: Vec<Job> = (0..5).map(|_| job()).collect();
        queue.send(&jobs).await.unwrap();
        let first = queue.receive(3, Duration::ZERO).await.unwrap();
        let rest = queue.receive(10, Duration::ZERO).await.unwrap();
        let got: Vec<Job> = first.iter().chain(&rest).map(|r| r.job.clone()).collect();
        assert_eq!(first.len(), 3);
        assert_eq!(got, jobs);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_when_a_retry_is_brought_forward() {
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
        queue.send(&[job()]).await.unwrap();
        let got = queue.receive(1, Duration::ZERO).await.unwrap();
        queue.retry_later(&got[0].receipt, Duration::from_secs(30)).await.unwrap();

        let waiter = tokio::spawn({
            let queue = Arc::clone(&queue);
            async move { queue.receive(1, Duration::from_secs(10)).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let started = std::time::Instant::now();
        queue.retry_later(&got[0].receipt, Duration::from_millis(100)).await.unwrap();
        let again = waiter.await.unwrap().unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].receive_count, 2);
        assert!(started.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn many_concurrent_receivers_share_the_jobs_without_duplicates() {
        let queue = Arc::new(MemoryQueue::new(Duration::from_secs(60)));
        let jobs: Vec<Job> = (0..200).map(|_| job()).collect();
        let receivers: Vec<_> = (0..8)
            .map(|_| {
                let queue = Arc::clone(&queue);
                tokio::spawn(async move {
                    let mut got = Vec::new();
                    loop {
                        let batch = queue.receive(3, Duration::from_millis(200)).await.unwrap();
                        if batch.is_empty() {
                            return got;
                        }
                        got.extend(batch.into_iter().map(|r| r.job));
                    }
                })
            })
            .collect();
        for chunk in jobs.chunks(7) {
            queue.send(chunk).await.unwrap();
            tokio::task::yield_now().await;
        }
        let mut received = Vec::new();
        for receiver in receivers {
            received.extend(receiver.await.unwrap());
        }
        assert_eq!(received.len(), jobs.len(), "every job exactly once");
        let mut expected: Vec<String> = jobs.iter().map(|j| format!("{j:?}")).collect();
        let mut actual: Vec<String> = received.iter().map(|j| format!("{j:?}")).collect();
        expected.sort();
        actual.sort();
        assert_eq!(actual, expected);
    }
}
