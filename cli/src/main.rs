//! `herald`: the local all-in-one server and the operator's commands. Errors print one line
//! and exit non-zero.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{ArgGroup, Parser, Subcommand};
use herald_core::config::{Config, QueueConfig};
use herald_core::context::Context;
use herald_core::domain::Format;
use herald_core::lambda::Worker;
use herald_core::pipeline::preview::PreviewRequest;
use herald_core::pipeline::schedules::{self, RuleInput};
use herald_core::pipeline::{admin, demo_data, recovery, tick, workers};

mod runs;

#[derive(Debug, Parser)]
#[command(name = "herald", version, about = "Scheduled, narrated reports, delivered.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the API (and the work it starts) in one local process.
    Serve {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8080")]
        bind: SocketAddr,
        /// Folder for the embedded store and artifacts (unless HERALD_STORE/HERALD_BLOBS say otherwise).
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Create the demo workspace if needed and print a fresh admin token for it.
        #[arg(long)]
        demo: bool,
    },
    /// Load the demo workspace: offers/customers/interaction history, datasets and example reports.
    Demo {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
        /// Customers to generate.
        #[arg(long, default_value_t = DEMO_CUSTOMERS)]
        customers: usize,
        /// Days of interaction history, ending today.
        #[arg(long, default_value_t = DEMO_DAYS)]
        days: i64,
    },
    /// Render a report to a file without recording a run (a saved report by code or id, or a
    /// report definition in a JSON file).
    #[command(group(ArgGroup::new("what").required(true).args(["report", "file"])))]
    Render {
        /// Code or id of a saved report.
        report: Option<String>,
        /// A report definition (the API's report fields) to render instead.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Workspace code or id.
        #[arg(long, default_value = "demo")]
        workspace: String,
        /// pdf, csv, markdown or html.
        #[arg(long, default_value = "pdf")]
        format: String,
        /// Parameter values for this render: --param name=value (values are JSON when they parse as JSON).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        /// Output file (default: the artifact's own name in the current folder); '-' for stdout.
        #[arg(long, short)]
        out: Option<PathBuf>,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Run a saved report now and follow it to the end with a progress bar over its entries.
    Run {
        /// Code or id of the report.
        report: String,
        /// Workspace code or id.
        #[arg(long, default_value = "demo")]
        workspace: String,
        /// Parameter values for this run only: --param name=value (values are JSON when they parse as JSON).
        #[arg(long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Read run records.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Run one tick now: fire due schedules, recover stale work.
    Tick {
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Run a maintenance task now and print its report: export-interactions, cleanup or
    /// approvals-expire (the same tasks as the /api/v1/cron endpoints and the tick function's
    /// schedules).
    Maintenance {
        task: String,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Run one function's real handler on a sample event (as `sam local invoke` would, without
    /// Docker) against the configured store, blobs and queues; prints the function's answer.
    /// Needs a build with the `aws` feature.
    Invoke {
        /// api, tick, render or deliver.
        function: String,
        /// The event, e.g. events/tick.json ('-' for stdin).
        #[arg(long)]
        event: PathBuf,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Work with schedule rules.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Bootstrap and operations.
    #[command(subcommand)]
    Admin(Admin),
}

#[derive(Debug, Subcommand)]
enum ScheduleCommand {
    /// Print the next fire times of a rule: one UTC instant per line (RFC 3339), strictly after
    /// --after.
    #[command(group(ArgGroup::new("rule").required(true).args(["cron", "rrule", "preset"])))]
    Preview {
        /// Five-field cron expression, e.g. '0 8 * * 1'.
        #[arg(long)]
        cron: Option<String>,
        /// RFC 5545 text: 'DTSTART;TZID=Zone:YYYYMMDDTHHMMSS' and an 'RRULE:' line.
        #[arg(long)]
        rrule: Option<String>,
        /// A preset: 'Daily 8am', 'Weekly Mon 8am', 'Monthly 1st 8am'.
        #[arg(long)]
        preset: Option<String>,
        /// IANA timezone the rule is evaluated in (default UTC; an RRULE's TZID otherwise).
        #[arg(long)]
        tz: Option<String>,
        /// Fire times strictly after this instant (RFC 3339); now when absent.
        #[arg(long)]
        after: Option<DateTime<Utc>>,
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// Also print the local time and mark times a DST transition moved.
        #[arg(long)]
        local: bool,
    },
}

#[derive(Debug, Subcommand)]
enum RunsCommand {
    /// A run with its counts, entries, artifacts and per-destination deliveries.
    Show {
        id: String,
        #[arg(long, default_value = "demo")]
        workspace: String,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// The latest runs, newest first.
    List {
        #[arg(long, default_value = "demo")]
        workspace: String,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum Admin {
    /// Create a workspace and print its first admin token (shown once).
    CreateWorkspace {
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "./data")]
        data_dir: PathBuf,
    },
    /// Create the DynamoDB table (same layout as template.yaml) for a deployment without SAM.
    /// Needs a build with the `aws` feature.
    CreateTable {
        #[arg(long)]
        table: String,
    },
}

/// Size of the demo data `make run` loads.
const DEMO_CUSTOMERS: usize = 300;
const DEMO_DAYS: i64 = 90;

/// Configuration from the environment, with the data folder as the default location of the
/// embedded store and blobs.
fn config(data_dir: &Path, public_url: Option<String>) -> anyhow::Result<Config> {
    let defaults = |name: &str| match name {
        "HERALD_STORE" => Some(format!("sqlite:{}", data_dir.join("herald.db").display())),
        "HERALD_BLOBS" => Some(format!("fs:{}", data_dir.join("blobs").display())),
        "HERALD_OUTBOX" => Some(data_dir.join("outbox").display().to_string()),
        "HERALD_PUBLIC_URL" => public_url.clone(),
        _ => None,
    };
    let lookup = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).or_else(|| defaults(name));
    Ok(Config::from_lookup(lookup)?)
}

async fn context(config: Config) -> anyhow::Result<Arc<Context>> {
    herald_core::telemetry::init(config.log_format);
    Ok(Arc::new(Context::from_config(config).await?))
}

async fn serve(bind: SocketAddr, data_dir: &Path, demo: bool) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("cannot listen on {bind}"))?;
    let url = format!("http://{}", listener.local_addr()?);
    let config = config(data_dir, Some(url.clone()))?;
    herald_core::telemetry::init(config.log_format);
    let mut ctx = Context::from_config(config).await?;
    if ctx.config.tick_schedule.is_none() {
        ctx.tick_source = Arc::new(herald_core::wiring::LocalTick);
    }
    let ctx = Arc::new(ctx);

    if ctx.config.queue == QueueConfig::Local {
        // The in-process queue starts empty: hand out all unfinished work again.
        let report = recovery::recover_at_start(&ctx).await?;
        tracing::info!(?report, "start-up recovery");
    }
    println!("Herald is running at {url}");
    println!("Console: {url}/console (sign in with a personal access token)");
    if demo {
        let access = admin::demo_access(&ctx).await?;
        let load = demo_data::load(&ctx, &access.workspace, DEMO_CUSTOMERS, DEMO_DAYS).await?;
        println!(
            "Demo data: {} customers, {} interactions loaded now, reports: weekly-digest, customer-statement, monthly-statements, monthly-statements-sql (run one: herald run monthly-statements)",
            load.customers, load.interactions
        );
        println!("Demo workspace: {} ({})", access.workspace.code, access.workspace.id);
        println!("Demo admin token (shown once): {}", access.secret);
        println!("Try: curl -H 'Authorization: Bearer {}' {url}/api/v1/ws/demo", access.secret);
    }
    let ticker = tokio::spawn(minute_ticker(ctx.clone()));
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let workers = (ctx.config.queue == QueueConfig::Local).then(|| {
        let render = tokio::spawn(workers::run_workers(
            ctx.clone(),
            Worker::Render,
            workers::render_concurrency(),
            stopping.clone(),
        ));
        let deliver = tokio::spawn(workers::run_workers(
            ctx.clone(),
            Worker::Deliver,
            workers::DELIVER_CONCURRENCY,
            stopping.clone(),
        ));
        (render, deliver)
    });
    herald_core::http::serve::serve(listener, herald_core::http::router(ctx), shutdown_signal()).await?;
    ticker.abort();
    // Let the jobs in flight finish; whatever is left queued is handed out again at start-up.
    let _ = stop.send(true);
    if let Some((render, deliver)) = workers {
        let _ = tokio::join!(render, deliver);
    }
    println!("Herald stopped.");
    Ok(())
}

/// The local stand-in for the EventBridge Scheduler tick: one tick at the start of every minute.
async fn minute_ticker(ctx: Arc<Context>) {
    loop {
        let now = ctx.clock.now();
        let into_minute = std::time::Duration::from_millis(u64::from(now.timestamp_subsec_millis()))
            + std::time::Duration::from_secs(u64::from(chrono::Timelike::second(&now)));
        tokio::time::sleep(std::time::Duration::from_secs(60).saturating_sub(into_minute)).await;
        match tick::tick(&ctx).await {
            Ok(report) if !report.ok => tracing::warn!(errors = ?report.errors, "tick finished with errors"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "tick failed"),
        }
    }
}

fn preview(
    rule: RuleInput,
    tz: Option<String>,
    after: Option<DateTime<Utc>>,
    count: usize,
    local: bool,
) -> anyhow::Result<()> {
    let (rule, timezone) = rule.resolve(tz.as_deref())?;
    let preview = schedules::preview(&rule, &timezone, after.unwrap_or_else(Utc::now), count)?;
    for o in preview.occurrences {
        let at = o.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        if local {
            let moved = if o.dst_shifted { "  (moved by a DST change)" } else { "" };
            println!("{at}  {}{moved}", o.local.to_rfc3339());
        } else {
            println!("{at}");
        }
    }
    Ok(())
}

/// `herald render`: a transient render to a file.
async fn render(
    ctx: &Context,
    report: Option<String>,
    file: Option<PathBuf>,
    workspace: &str,
    format: &str,
    params: &[String],
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    let format: Format = serde_json::from_value(serde_json::Value::String(format.to_owned()))
        .map_err(|_| anyhow::anyhow!("unknown format `{format}`: use pdf, csv, markdown or html"))?;
    let workspace = ctx.store.resolve_workspace(workspace).await.with_context(|| format!("workspace `{workspace}`"))?;
    let report = match (report, file) {
        (Some(code), _) => {
            ctx.store.resolve_report(workspace.id, &code).await.with_context(|| format!("report `{code}`"))?
        }
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            let mut value: serde_json::Value =
                serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            let now = ctx.clock.now();
            for (key, default) in [
                ("id", serde_json::json!(herald_core::domain::ReportId::generate(now))),
                ("workspace_id", serde_json::json!(workspace.id)),
                ("code", serde_json::json!("report")),
                ("name", serde_json::json!("Report")),
                ("formats", serde_json::json!([format])),
                ("created_at", serde_json::json!(now)),
                ("updated_at", serde_json::json!(now)),
            ] {
                if value.get(key).is_none() {
                    value[key] = default;
                }
            }
            serde_json::from_value(value).with_context(|| format!("{} is not a report definition", path.display()))?
        }
        (None, None) => anyhow::bail!("give a report code or --file"),
    };
    let request = PreviewRequest { report, overrides: parse_params(params)?, data: serde_json::Value::Null };
    let files = herald_core::pipeline::preview::preview(ctx, &workspace, request).await?.render(format).await?;
    let Some(file) = files.into_iter().next() else { anyhow::bail!("the report has no table to write as CSV") };
    match out.as_deref() {
        Some(path) if path == Path::new("-") => {
            use std::io::Write;
            std::io::stdout().write_all(&file.bytes)?;
        }
        path => {
            let path = path.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(&file.file_name));
            std::fs::write(&path, &file.bytes).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("Wrote {} ({} bytes)", path.display(), file.bytes.len());
        }
    }
    Ok(())
}

/// `--param name=value` pairs; values are JSON when they parse as JSON, text otherwise.
pub(crate) fn parse_params(params: &[String]) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    let mut overrides = serde_json::Map::new();
    for param in params {
        let (name, raw) =
            param.split_once('=').ok_or_else(|| anyhow::anyhow!("--param `{param}` is not NAME=VALUE"))?;
        let value = serde_json::from_str(raw).unwrap_or_else(|_| serde_json::Value::String(raw.to_owned()));
        overrides.insert(name.to_owned(), value);
    }
    Ok(overrides)
}

pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { bind, data_dir, demo } => serve(bind, &data_dir, demo).await,
        Command::Demo { data_dir, customers, days } => {
            let ctx = context(config(&data_dir, None)?).await?;
            let access = admin::demo_access(&ctx).await?;
            let load = demo_data::load(&ctx, &access.workspace, customers, days).await?;
            println!("Workspace {} ({}):", access.workspace.code, access.workspace.id);
            println!("  {} customers, {} transactions", load.customers, load.transactions);
            println!("  {} interactions loaded now (history is loaded once)", load.interactions);
            println!(
                "  reports created: {}",
                if load.reports_created.is_empty() {
                    "none (already there)".to_owned()
                } else {
                    load.reports_created.join(", ")
                }
            );
            println!("Admin token (shown once): {}", access.secret);
            Ok(())
        }
        Command::Render { report, file, workspace, format, params, out, data_dir } => {
            let ctx = context(config(&data_dir, None)?).await?;
            render(&ctx, report, file, &workspace, &format, &params, out).await
        }
        Command::Run { report, workspace, params, data_dir } => {
            let config = config(&data_dir, None)?;
            // Warnings only: the progress bar is the output.
            herald_core::telemetry::init_with_default(config.log_format, "warn");
            let ctx = context(config).await?;
            runs::run(ctx, &workspace, &report, &params).await
        }
        Command::Runs(RunsCommand::Show { id, workspace, data_dir }) => {
            let ctx = context(config(&data_dir, None)?).await?;
            runs::show(&ctx, &workspace, &id).await
        }
        Command::Runs(RunsCommand::List { workspace, limit, data_dir }) => {
            let ctx = context(config(&data_dir, None)?).await?;
            runs::list(&ctx, &workspace, limit).await
        }
        Command::Tick { data_dir } => {
            let ctx = context(config(&data_dir, None)?).await?;
            println!("{}", serde_json::to_string_pretty(&tick::tick(&ctx).await?)?);
            Ok(())
        }
        #[cfg(not(feature = "aws"))]
        Command::Invoke { .. } | Command::Admin(Admin::CreateTable { .. }) => {
            anyhow::bail!(herald_core::config::WITHOUT_AWS)
        }
        #[cfg(feature = "aws")]
        Command::Invoke { function, event, data_dir } => {
            let function: herald_core::lambda::Function = function.parse()?;
            let text = if event == Path::new("-") {
                std::io::read_to_string(std::io::stdin())?
            } else {
                std::fs::read_to_string(&event).with_context(|| format!("cannot read {}", event.display()))?
            };
            let ctx = context(config(&data_dir, None)?).await?;
            let answer = herald_core::lambda::invoke(ctx, function, &text).await?;
            println!("{}", serde_json::to_string_pretty(&answer)?);
            Ok(())
        }
        Command::Maintenance { task, data_dir } => {
            let task: herald_core::lambda::Task = serde_json::from_value(serde_json::Value::String(task.clone()))
                .ok()
                .filter(|t| *t != herald_core::lambda::Task::Tick)
                .ok_or_else(|| {
                    anyhow::anyhow!("unknown task `{task}`: use export-interactions, cleanup or approvals-expire")
                })?;
            let ctx = context(config(&data_dir, None)?).await?;
            let report = herald_core::lambda::handle_tick(&ctx, herald_core::lambda::TickEvent { task }).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Command::Schedule(ScheduleCommand::Preview { cron, rrule, preset, tz, after, count, local }) => {
            let rule = match (cron, rrule, preset) {
                (Some(expression), _, _) => RuleInput::Cron { expression },
                (_, Some(text), _) => RuleInput::Rrule { text },
                (_, _, Some(name)) => RuleInput::Preset { name },
                _ => anyhow::bail!("give one of --cron, --rrule or --preset"),
            };
            preview(rule, tz, after, count, local)
        }
        Command::Admin(Admin::CreateWorkspace { code, name, data_dir }) => {
            let ctx = context(config(&data_dir, None)?).await?;
            let access = admin::create_workspace(&ctx, &code, &name).await?;
            println!("Workspace {} created (id {}).", access.workspace.code, access.workspace.id);
            println!("Admin token (shown once, store it safely): {}", access.secret);
            Ok(())
        }
        #[cfg(feature = "aws")]
        Command::Admin(Admin::CreateTable { table }) => {
            let sdk = herald_core::aws::load_sdk_config().await;
            herald_core::store::dynamodb::create_table(&aws_sdk_dynamodb::Client::new(&sdk), &table).await?;
            println!("Table {table} is ready.");
            Ok(())
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: {error:#}");
            ExitCode::FAILURE
        }
    }
}
