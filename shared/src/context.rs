//! The context: every port, built once from the configuration and shared by the handlers of
//! one process (a Lambda's lifetime, or `herald serve`).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::blob::fs::FsBlobs;
use crate::blob::{Blobs, LinkSigner};
use crate::clock::{Clock, SystemClock};
use crate::config::{BlobConfig, Config, QueueConfig, StoreConfig};
use crate::deliver::Senders;
use crate::http::rate_limit::RateLimiter;
use crate::narrate::Narrators;
use crate::net::OutboundHttp;
use crate::pipeline::workers::Handoff;
use crate::queue::Queue;
use crate::queue::memory::MemoryQueue;
use crate::source::sql::Databases;
use crate::store::sqlite::SqliteTable;
use crate::store::{Store, Table};
use crate::wiring::{NoTick, TickSource};

/// Where the local server listens unless told otherwise.
pub const LOCAL_URL: &str = "http://127.0.0.1:8080";

/// How long a locally received job stays invisible before it is offered again.
const LOCAL_VISIBILITY_TIMEOUT: Duration = Duration::from_secs(300);

#[derive(Clone)]
pub struct Context {
    pub config: Arc<Config>,
    pub store: Store,
    pub blobs: Arc<dyn Blobs>,
    pub render_queue: Arc<dyn Queue>,
    pub deliver_queue: Arc<dyn Queue>,
    pub clock: Arc<dyn Clock>,
    /// Checks Herald's own download links (`/blobs/{key}?expires=…&signature=…`): those of the
    /// filesystem store, and of S3 when a signing key is configured.
    pub links: Option<LinkSigner>,
    /// What makes schedules fire (for the cron status endpoint).
    pub tick_source: Arc<dyn TickSource>,
    /// The narrator each workspace gets.
    pub narrators: Arc<Narrators>,
    /// Every outbound HTTP request (HTTP sources, chat and webhook deliveries) goes through it.
    pub outbound: Arc<OutboundHttp>,
    /// The connection pools of the databases `sql` sources read.
    pub databases: Arc<Databases>,
    /// The sender of each destination kind.
    pub senders: Arc<Senders>,
    /// Requests per token and minute.
    pub rate_limiter: Arc<RateLimiter>,
    /// Where render jobs hand their entries' deliveries when this process delivers too (the
    /// local queues); `None` sends them through the deliver queue.
    pub handoff: Option<Handoff>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot open the store: {0}")]
    Store(#[from] crate::store::TableError),
    #[error("cannot prepare the signing key at {path}: {source}")]
    SigningKey { path: String, source: std::io::Error },
}

impl Context {
    /// Builds every adapter the configuration names.
    pub async fn from_config(config: Config) -> Result<Self, ContextError> {
        #[cfg(feature = "aws")]
        let aws = {
            let loaded = if config.uses_aws() { Some(crate::aws::load_sdk_config().await) } else { None };
            move || {
                loaded.clone().unwrap_or_else(|| {
                    aws_config::SdkConfig::builder().behavior_version(aws_config::BehaviorVersion::latest()).build()
                })
            }
        };

        let table: Arc<dyn Table> = match &config.store {
            StoreConfig::Sqlite(path) => Arc::new(SqliteTable::open(path)?),
            #[cfg(feature = "aws")]
            StoreConfig::DynamoDb { table } => {
                Arc::new(crate::store::dynamodb::DynamoTable::new(aws_sdk_dynamodb::Client::new(&aws()), table.clone()))
            }
        };
        let (blobs, links): (Arc<dyn Blobs>, _) = match &config.blobs {
            BlobConfig::Fs(root) => {
                let key = match &config.signing_key {
                    Some(key) => key.expose().as_bytes().to_vec(),
                    None => local_signing_key(root)?,
                };
                let fs = FsBlobs::new(root.clone(), config.public_url.clone().unwrap_or_else(|| LOCAL_URL.into()), key);
                let links = fs.links().clone();
                (Arc::new(fs), Some(links))
            }
            #[cfg(feature = "aws")]
            BlobConfig::S3 { bucket } => {
                // Links that outlive the function's temporary credentials need Herald's own
                // signature; without a public URL (the API function) it only checks them.
                let links = config
                    .signing_key
                    .as_ref()
                    .map(|key| LinkSigner::new(key.expose().as_bytes().to_vec(), config.public_url.clone()));
                let mut s3 = crate::blob::S3Blobs::new(crate::aws::s3_client(&aws()), bucket.clone());
                if let Some(links) = &links {
                    s3 = s3.with_links(links.clone());
                }
                (Arc::new(s3), links)
            }
        };
        let (render_queue, deliver_queue): (Arc<dyn Queue>, Arc<dyn Queue>) = match &config.queue {
            QueueConfig::Local => (
                Arc::new(MemoryQueue::new(LOCAL_VISIBILITY_TIMEOUT)),
                Arc::new(MemoryQueue::new(LOCAL_VISIBILITY_TIMEOUT)),
            ),
            #[cfg(feature = "aws")]
            QueueConfig::Sqs { render_url, deliver_url } => {
                let sqs = aws_sdk_sqs::Client::new(&aws());
                (
                    Arc::new(crate::queue::SqsQueue::new(sqs.clone(), render_url.clone())),
                    Arc::new(crate::queue::SqsQueue::new(sqs, deliver_url.clone())),
                )
            }
        };
        let handoff = (config.queue == QueueConfig::Local).then(Handoff::default);
        let tick_source: Arc<dyn TickSource> = Arc::new(NoTick);
        #[cfg(feature = "aws")]
        let tick_source: Arc<dyn TickSource> = match &config.tick_schedule {
            Some(schedule) => {
                Arc::new(crate::wiring::EventBridgeTick::new(aws_sdk_scheduler::Client::new(&aws()), schedule))
            }
            None => tick_source,
        };
        let outbound = Arc::new(OutboundHttp::new());
        let narrators = Narrators::new(outbound.clone());
        #[cfg(feature = "aws")]
        let narrators = narrators.with_bedrock(&aws(), config.bedrock_model_id.clone());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let store = Store::new(table);
        let senders = Senders::new(&config, outbound.clone(), clock.clone(), store.clone());
        #[cfg(feature = "aws")]
        let senders = senders.with_aws(&aws());
        let rate_limiter = Arc::new(RateLimiter::new(config.rate_limit_per_minute));
        Ok(Self {
            config: Arc::new(config),
            store,
            blobs,
            render_queue,
            deliver_queue,
            clock,
            links,
            tick_source,
            narrators: Arc::new(narrators),
            outbound,
            databases: Arc::new(Databases::new()),
            senders: Arc::new(senders),
            rate_limiter,
            handoff,
        })
    }
}

/// The signing key of a local blob store: kept in `signing.key` beside the blob folder,
/// created (random, owner-readable only) on first use so links survive restarts.
fn local_signing_key(blob_root: &Path) -> Result<Vec<u8>, ContextError> {
    let path = blob_root.parent().unwrap_or(blob_root).join("signing.key");
    let error = |source| ContextError::SigningKey { path: path.display().to_string(), source };
    match std::fs::read(&path) {
        Ok(key) if key.len() >= 32 => return Ok(key),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(error(e)),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(error)?;
    }
    let key = hex::encode(rand::random::<[u8; 32]>()).into_bytes();
    write_private(&path, &key).map_err(error)?;
    Ok(key)
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)?;
    file.write_all(bytes)
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, bytes)
}
