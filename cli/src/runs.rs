//! `herald run` (start a run of a saved report and follow it with a progress bar over its
//! entries) and `herald runs show` / `herald runs list` (read run records).

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use herald_core::config::QueueConfig;
use herald_core::context::Context;
use herald_core::domain::{EntryCounts, Run, RunId, RunTrigger, Workspace};
use herald_core::lambda::Worker;
use herald_core::pipeline::start_run::{RunRequest, start_run};
use herald_core::pipeline::workers;
use herald_core::store::{PageRequest, RunCreation};

/// How often the progress is read while a run works.
const POLL: Duration = Duration::from_millis(200);

/// Entries the closing summary of `herald run` lists (`herald runs show` lists every one).
const SUMMARY_ENTRIES: usize = 10;

/// Width of the progress bar, in characters.
const BAR: usize = 30;

/// Starts a run of `report` now and follows it until it is finished (or Ctrl-C: the run goes
/// on, and the next start of `herald serve` picks up what is left).
pub async fn run(ctx: Arc<Context>, workspace: &str, report: &str, params: &[String]) -> anyhow::Result<()> {
    let workspace = resolve_workspace(&ctx, workspace).await?;
    let report = ctx.store.resolve_report(workspace.id, report).await.with_context(|| format!("report `{report}`"))?;
    let mut request = RunRequest::now(report, RunTrigger::Manual, crate::parse_params(params)?);
    request.timezone = workspace.settings.zone();
    let run = match start_run(&ctx, request).await? {
        RunCreation::Created(run) => *run,
        RunCreation::Existing(id) => ctx.store.get_run(id).await?,
    };
    eprintln!("Run {} of {} started.", run.id, run.inputs.report.code);

    let (stop, stopping) = tokio::sync::watch::channel(false);
    let workers = (ctx.config.queue == QueueConfig::Local).then(|| {
        let concurrency = workers::render_concurrency();
        (
            tokio::spawn(workers::run_workers(ctx.clone(), Worker::Render, concurrency, stopping.clone())),
            tokio::spawn(workers::run_workers(ctx.clone(), Worker::Deliver, workers::DELIVER_CONCURRENCY, stopping)),
        )
    });
    let mut progress = Progress::new();
    let interrupted = tokio::select! {
        result = follow(&ctx, run.id, &mut progress) => { result?; false }
        () = crate::shutdown_signal() => true,
    };
    progress.done();
    let _ = stop.send(true);
    if let Some((render, deliver)) = workers {
        let _ = tokio::join!(render, deliver);
    }
    if interrupted {
        eprintln!("Stopped following; the run goes on and `herald serve` picks up what is left.");
    }
    show_run(&ctx, &ctx.store.get_run(run.id).await?, Some(SUMMARY_ENTRIES)).await
}

async fn follow(ctx: &Context, id: RunId, progress: &mut Progress) -> anyhow::Result<()> {
    loop {
        let run = ctx.store.get_run(id).await?;
        progress.draw(&run.counts);
        // Finished, or nothing left to do but a reviewer's decision.
        if !run.is_working() {
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `herald runs show <id>`.
pub async fn show(ctx: &Context, workspace: &str, id: &str) -> anyhow::Result<()> {
    let workspace = resolve_workspace(ctx, workspace).await?;
    let run_id: RunId = id.parse().map_err(|_| anyhow::anyhow!("`{id}` is not a run id"))?;
    let run = ctx.store.get_run_in(workspace.id, run_id).await.with_context(|| format!("run `{id}`"))?;
    show_run(ctx, &run, None).await
}

/// `herald runs list`: newest first.
pub async fn list(ctx: &Context, workspace: &str, limit: usize) -> anyhow::Result<()> {
    let workspace = resolve_workspace(ctx, workspace).await?;
    let runs = ctx.store.list_runs(workspace.id, None, &PageRequest::first(limit.clamp(1, 200))).await?;
    if runs.items.is_empty() {
        println!("No runs yet.");
    }
    for run in &runs.items {
        println!(
            "{}  {}  {:<15} {:<9} {}",
            run.id,
            run.created_at.format("%Y-%m-%d %H:%M:%S"),
            run.status.as_str(),
            trigger(run.trigger),
            run.inputs.report.code
        );
    }
    Ok(())
}

async fn resolve_workspace(ctx: &Context, workspace: &str) -> anyhow::Result<Workspace> {
    ctx.store.resolve_workspace(workspace).await.with_context(|| format!("workspace `{workspace}`"))
}

fn trigger(trigger: RunTrigger) -> &'static str {
    match trigger {
        RunTrigger::Manual => "manual",
        RunTrigger::Schedule => "schedule",
        RunTrigger::Api => "api",
    }
}

/// Prints a run, its entries and their deliveries: the first `limit` entries when given (so
/// the store is read a bounded number of times however large the run), else every one.
async fn show_run(ctx: &Context, run: &Run, limit: Option<usize>) -> anyhow::Result<()> {
    let c = &run.counts;
    println!("Run {}  ({}, {})", run.id, run.inputs.report.name, run.inputs.report.code);
    println!("  status    {}{}", run.status.as_str(), if run.is_finished() { " (finished)" } else { "" });
    println!("  trigger   {}", trigger(run.trigger));
    println!("  started   {}", run.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    if let Some(ms) = run.duration_ms() {
        println!("  duration  {:.1} s", ms as f64 / 1000.0);
    }
    println!(
        "  entries   {} (queued {}, completed {}, errors {}, review {}, cancelled {})",
        c.total, c.queued, c.completed, c.errors, c.review, c.cancelled
    );
    if let Some(error) = &run.error {
        println!("  error     {error}");
    }
    if let Some(narrative) = run.narrative.as_ref().filter(|n| !n.summary.is_empty()) {
        println!("  summary   {}", narrative.summary);
    }
    let mut page = PageRequest::first(limit.unwrap_or(200).clamp(1, 200));
    loop {
        let entries = ctx.store.list_entries(run.id, &page).await?;
        for entry in &entries.items {
            let files: Vec<&str> = entry.artifacts.iter().map(|a| a.file_name.as_str()).collect();
            println!("  #{:<5} {:<20} {}", entry.seq + 1, entry.status.as_str(), files.join(", "));
            if let Some(error) = &entry.error {
                println!("         error: {error}");
            }
            let deliveries = ctx.store.list_deliveries(run.id, Some(entry.id), &PageRequest::first(200)).await?;
            for d in &deliveries.items {
                let detail = d.error.as_deref().or(d.provider_message_id.as_deref()).unwrap_or("");
                println!("         → {:<18} {} {detail}", d.status.as_str(), d.destination_id);
            }
        }
        match (entries.cursor, limit) {
            (Some(cursor), None) => page.cursor = Some(cursor),
            (Some(_), Some(shown)) => {
                let more = c.total.saturating_sub(shown as u64);
                println!("  … and {more} more entries (`herald runs show {}` lists them all)", run.id);
                break;
            }
            (None, _) => break,
        }
    }
    Ok(())
}

/// A one-line progress bar on a terminal; plain lines at each change elsewhere.
struct Progress {
    terminal: bool,
    last: Option<EntryCounts>,
}

impl Progress {
    fn new() -> Self {
        Self { terminal: std::io::stderr().is_terminal(), last: None }
    }

    fn draw(&mut self, counts: &EntryCounts) {
        if self.last.as_ref() == Some(counts) {
            return;
        }
        self.last = Some(*counts);
        let line = progress_line(counts);
        let mut err = std::io::stderr();
        let _ = if self.terminal { write!(err, "\r{line}\x1b[K") } else { writeln!(err, "{line}") };
        let _ = err.flush();
    }

    fn done(&self) {
        if self.terminal && self.last.is_some() {
            eprintln!();
        }
    }
}

/// `[##########--------------------] 12/36 entries · 1 error · 2 for review`
fn progress_line(c: &EntryCounts) -> String {
    let settled = c.total.saturating_sub(c.queued);
    let filled = if c.total == 0 { BAR } else { (settled as usize * BAR) / c.total as usize };
    let mut line = format!("[{}{}] {settled}/{} entries", "#".repeat(filled), "-".repeat(BAR - filled), c.total);
    for (n, one, many) in
        [(c.errors, "error", "errors"), (c.review, "for review", "for review"), (c.cancelled, "cancelled", "cancelled")]
    {
        if n > 0 {
            line.push_str(&format!(" · {n} {}", if n == 1 { one } else { many }));
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bar_fills_with_settled_entries_and_names_problems() {
        let counts = EntryCounts { total: 4, queued: 2, completed: 1, errors: 1, review: 0, cancelled: 0 };
        assert_eq!(progress_line(&counts), format!("[{}{}] 2/4 entries · 1 error", "#".repeat(15), "-".repeat(15)));
        let empty = EntryCounts::default();
        assert_eq!(progress_line(&empty), format!("[{}] 0/0 entries", "#".repeat(BAR)));
    }
}
