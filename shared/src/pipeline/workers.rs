//! In-process queue workers for the local server: each pulls jobs from its queue and runs
//! them with bounded concurrency, the way the render and deliver Lambdas consume SQS. A job
//! that fails is offered again after a back-off; on shutdown the workers stop taking jobs and
//! let the running ones finish (anything cut short is still in the store, and the start-up
//! recovery sweep hands it out again).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::context::Context;
use crate::lambda::{Worker, run_job};
use crate::queue::Queue;

/// How long a failed job waits before it is offered again (times the attempt, capped).
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// Deliveries the local server sends at once (they wait on the network, not the CPU).
pub const DELIVER_CONCURRENCY: usize = 8;

/// Render jobs the local server runs at once: two per core, so one entry's waits on the
/// store and the files overlap another's rendering.
pub fn render_concurrency() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from) * 2
}

/// Deliveries handed by a render job straight to a task of the same process (the local
/// server), instead of through the deliver queue: the entry, its run and its workspace are
/// still in hand, so nothing is read again. At most [`DELIVER_CONCURRENCY`] run at once; a
/// render job waits for a free slot, so rendering slows to the pace of delivering. A
/// hand-off cut short by a crash is in the store like any delivery: the recovery sweep
/// hands the entry out again.
#[derive(Clone)]
pub struct Handoff {
    slots: Arc<Semaphore>,
}

impl Default for Handoff {
    fn default() -> Self {
        Self { slots: Arc::new(Semaphore::new(DELIVER_CONCURRENCY)) }
    }
}

impl Handoff {
    /// Waits for a free slot, then runs `work` on a task of its own.
    pub async fn spawn(&self, work: impl Future<Output = ()> + Send + 'static) {
        // The semaphore is never closed, so a slot always comes.
        if let Ok(slot) = self.slots.clone().acquire_owned().await {
            tokio::spawn(async move {
                work.await;
                drop(slot);
            });
        }
    }

    /// Waits until every delivery handed off has finished.
    pub async fn drain(&self) {
        let _all = self.slots.acquire_many(DELIVER_CONCURRENCY as u32).await;
    }
}

/// Runs `worker` jobs from its queue until `shutdown` turns true, at most `concurrency` at a
/// time; returns once the jobs in flight have finished.
pub async fn run_workers(ctx: Arc<Context>, worker: Worker, concurrency: usize, mut shutdown: watch::Receiver<bool>) {
    let queue: Arc<dyn Queue> = match worker {
        Worker::Render => ctx.render_queue.clone(),
        Worker::Deliver => ctx.deliver_queue.clone(),
    };
    let slots = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    while !*shutdown.borrow() {
        // Wait for a free slot first, so received jobs never sit invisible behind busy ones.
        let permit = tokio::select! {
            permit = slots.clone().acquire_many_owned(1) => permit,
            _ = shutdown.changed() => break,
        };
        let Ok(permit) = permit else { break };
        let free = slots.available_permits() + 1;
        let received = tokio::select! {
            received = queue.receive(free, Duration::from_secs(1)) => received,
            _ = shutdown.changed() => break,
        };
        drop(permit);
        let jobs = match received {
            Ok(jobs) => jobs,
            Err(error) => {
                tracing::error!(?worker, %error, "cannot receive jobs");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        for message in jobs {
            let Ok(permit) = slots.clone().acquire_owned().await else { break };
            let (ctx, queue) = (ctx.clone(), queue.clone());
            running.spawn(async move {
                let _permit = permit;
                match run_job(&ctx, worker, &message.job).await {
                    Ok(()) => {
                        if let Err(error) = queue.ack(&message.receipt).await {
                            tracing::warn!(%error, "could not acknowledge a finished job");
                        }
                    }
                    Err(error) => {
                        tracing::error!(job = ?message.job, %error, attempt = message.receive_count, "job failed");
                        let delay = RETRY_DELAY * message.receive_count.clamp(1, 12);
                        if let Err(error) = queue.retry_later(&message.receipt, delay).await {
                            tracing::warn!(%error, "could not schedule a retry; the visibility timeout will");
                        }
                    }
                }
            });
        }
        // Reap finished tasks so the set does not grow without bound.
        while running.try_join_next().is_some() {}
    }
    while running.join_next().await.is_some() {}
    if let (Worker::Render, Some(handoff)) = (worker, &ctx.handoff) {
        handoff.drain().await;
    }
}
