//! The tick, run every minute by EventBridge Scheduler (or the local server's ticker): the
//! recovery sweep now; due schedules join it with the scheduler.

use serde::Serialize;

use super::PipelineError;
use super::recovery::{RecoveryReport, recover_stale_work};
use crate::context::Context;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TickReport {
    pub ok: bool,
    pub recovery: RecoveryReport,
    pub errors: Vec<String>,
}

pub async fn tick(ctx: &Context) -> Result<TickReport, PipelineError> {
    let recovery = recover_stale_work(ctx, ctx.clock.now()).await?;
    let errors = recovery.errors.clone();
    Ok(TickReport { ok: errors.is_empty(), recovery, errors })
}
