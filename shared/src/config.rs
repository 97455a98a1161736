//! Typed configuration, read from the environment once at start. Every problem is collected
//! and reported together. Variable names match `template.yaml`.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `HERALD_STORE` | `sqlite:PATH` or `dynamodb:TABLE` | `sqlite:./data/herald.db` |
//! | `HERALD_BLOBS` | `fs:DIR` or `s3:BUCKET` | `fs:./data/blobs` |
//! | `HERALD_QUEUE` | `local` (in-process) or `sqs` | `local` |
//! | `HERALD_RENDER_QUEUE_URL`, `HERALD_DELIVER_QUEUE_URL` | SQS queue URLs (with `sqs`) | |
//! | `HERALD_PUBLIC_URL` | base URL of the API, for links in messages | taken from each request when unset |
//! | `HERALD_SIGNING_KEY` | key for signed download links of the `fs` blob store | generated in the data folder |
//! | `HERALD_BODY_LIMIT_BYTES` | largest request body accepted | 6 MiB |
//! | `HERALD_EMAIL_SENDER` | sender address for SES email | |
//! | `HERALD_OUTBOX` | folder the `outbox` email transport writes `.eml` files to | `./data/outbox` |
//! | `HERALD_ATTACHMENT_LIMIT_BYTES` | largest total of email attachments; past it, download links | 10 MiB |
//! | `HERALD_BEDROCK_MODEL_ID` | Bedrock model for narration | |
//! | `HERALD_LOG_FORMAT` | `json` or `text` | `text` |
//! | `CRON_TOKEN` | secret for `POST /api/cron/tick` (falls back to `CRON_SECRET`) | unset: endpoint refuses all |
//! | `CRON_SECRET` | secret for `/api/v1/cron/*` maintenance endpoints | unset: endpoints refuse all |
//! | `HERALD_TICK_SCHEDULE` | EventBridge Scheduler schedule of the tick, `[group/]name` (for its status) | |
//! | `APPROVAL_MAX_AGE_HOURS` | age at which pending approvals expire; invalid values fall back | 168 |
//! | `HERALD_TEMPORARY_FILE_HOURS` | how long temporary files (review documents) stay downloadable | 24 |
//!
//! DynamoDB, S3, SQS, the tick schedule, the Bedrock model and the SES configuration set need a
//! build with the `aws` feature; a build without it refuses them with [`WITHOUT_AWS`].

use std::fmt;
use std::path::PathBuf;

use crate::domain::Secret;

/// What a build without the `aws` feature answers when asked for an AWS service.
pub const WITHOUT_AWS: &str =
    "this herald was built without AWS support; rebuild with `cargo build --release -p herald-cli --features aws`";

/// Whether this build has the AWS adapters.
pub const AWS: bool = cfg!(feature = "aws");

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Sqlite(PathBuf),
    #[cfg(feature = "aws")]
    DynamoDb {
        table: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobConfig {
    Fs(PathBuf),
    #[cfg(feature = "aws")]
    S3 {
        bucket: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueConfig {
    Local,
    #[cfg(feature = "aws")]
    Sqs {
        render_url: String,
        deliver_url: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub store: StoreConfig,
    pub blobs: BlobConfig,
    pub queue: QueueConfig,
    /// Base URL of the API; when unset, links are built from the request's host.
    pub public_url: Option<String>,
    pub signing_key: Option<Secret>,
    pub body_limit_bytes: usize,
    /// Requests each token may make per minute (and its burst); 0 turns the limit off.
    pub rate_limit_per_minute: u32,
    pub email_sender: Option<String>,
    /// The SES configuration set (event publishing) of email destinations that name none.
    pub ses_configuration_set: Option<String>,
    /// Where the `outbox` email transport writes `.eml` files.
    pub outbox_dir: PathBuf,
    /// Largest total size of an email's attachments; past it, signed links instead.
    pub attachment_limit_bytes: usize,
    pub bedrock_model_id: Option<String>,
    pub log_format: LogFormat,
    pub cron_token: Option<Secret>,
    pub cron_secret: Option<Secret>,
    pub approval_max_age_hours: u32,
    /// How long a temporary file (a consolidated review document) stays downloadable.
    pub temporary_file_hours: u32,
    /// The EventBridge Scheduler schedule that runs the tick, `[group/]name`.
    pub tick_schedule: Option<String>,
    /// Serve the web console's files from this folder instead of the copies built in.
    pub console_dir: Option<PathBuf>,
    /// Google's token endpoint and APIs; only the test setting `HERALD_TEST_DRIVE_URL` (a local
    /// Drive peer) changes them.
    pub google: crate::google::Endpoints,
}

pub const DEFAULT_BODY_LIMIT_BYTES: usize = 6 * 1024 * 1024;
pub const DEFAULT_RATE_LIMIT_PER_MINUTE: u32 = 600;
pub const DEFAULT_ATTACHMENT_LIMIT_BYTES: usize = 10 * 1024 * 1024;
pub const DEFAULT_APPROVAL_MAX_AGE_HOURS: u32 = 168;
pub const DEFAULT_TEMPORARY_FILE_HOURS: u32 = 24;

/// Every problem found in the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError(pub Vec<String>);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}", self.0.join("; "))
    }
}

/// Notes that `setting` needs a build with the `aws` feature; there is no value to use.
fn without_aws<T>(needs_aws: &mut Vec<&'static str>, setting: &'static str) -> Option<T> {
    needs_aws.push(setting);
    None
}

impl Config {
    /// The base of the links Herald hands out: `HERALD_PUBLIC_URL`, or the local server's
    /// default address.
    pub fn public_base_url(&self) -> &str {
        self.public_url.as_deref().unwrap_or(crate::context::LOCAL_URL)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let mut problems = Vec::new();
        // The settings that need AWS in a build without it, reported together.
        let mut needs_aws = Vec::new();
        let aws_only = ["HERALD_TICK_SCHEDULE", "HERALD_BEDROCK_MODEL_ID", "HERALD_SES_CONFIGURATION_SET"];
        for name in aws_only.into_iter().filter(|name| !AWS && var(name).is_some()) {
            without_aws::<()>(&mut needs_aws, name);
        }

        let store = match var("HERALD_STORE").as_deref().unwrap_or("sqlite:./data/herald.db").split_once(':') {
            Some(("sqlite", path)) if !path.is_empty() => Some(StoreConfig::Sqlite(PathBuf::from(path))),
            #[cfg(feature = "aws")]
            Some(("dynamodb", table)) if !table.is_empty() => Some(StoreConfig::DynamoDb { table: table.into() }),
            Some(("dynamodb", _)) if !AWS => without_aws(&mut needs_aws, "HERALD_STORE=dynamodb"),
            _ => {
                problems.push("HERALD_STORE must be `sqlite:PATH` or `dynamodb:TABLE`".to_string());
                None
            }
        };
        let blobs = match var("HERALD_BLOBS").as_deref().unwrap_or("fs:./data/blobs").split_once(':') {
            Some(("fs", dir)) if !dir.is_empty() => Some(BlobConfig::Fs(PathBuf::from(dir))),
            #[cfg(feature = "aws")]
            Some(("s3", bucket)) if !bucket.is_empty() => Some(BlobConfig::S3 { bucket: bucket.into() }),
            Some(("s3", _)) if !AWS => without_aws(&mut needs_aws, "HERALD_BLOBS=s3"),
            _ => {
                problems.push("HERALD_BLOBS must be `fs:DIR` or `s3:BUCKET`".to_string());
                None
            }
        };
        let queue = match var("HERALD_QUEUE").as_deref().unwrap_or("local") {
            "local" => Some(QueueConfig::Local),
            "sqs" if !AWS => without_aws(&mut needs_aws, "HERALD_QUEUE=sqs"),
            #[cfg(feature = "aws")]
            "sqs" => {
                let render = var("HERALD_RENDER_QUEUE_URL");
                let deliver = var("HERALD_DELIVER_QUEUE_URL");
                for (name, value) in [("HERALD_RENDER_QUEUE_URL", &render), ("HERALD_DELIVER_QUEUE_URL", &deliver)] {
                    if value.is_none() {
                        problems.push(format!("{name} is required when HERALD_QUEUE=sqs"));
                    }
                }
                render.zip(deliver).map(|(render_url, deliver_url)| QueueConfig::Sqs { render_url, deliver_url })
            }
            other => {
                problems.push(format!("HERALD_QUEUE must be `local` or `sqs`, not `{other}`"));
                None
            }
        };
        let public_url = var("HERALD_PUBLIC_URL").map(|url| url.trim_end_matches('/').to_string());
        if public_url.as_ref().is_some_and(|url| !(url.starts_with("http://") || url.starts_with("https://"))) {
            problems.push("HERALD_PUBLIC_URL must be an http(s) URL".to_string());
        }
        let signing_key = var("HERALD_SIGNING_KEY").map(Secret::new);
        if signing_key.as_ref().is_some_and(|k| k.expose().len() < 32) {
            problems.push("HERALD_SIGNING_KEY must be at least 32 characters".to_string());
        }
        let body_limit_bytes = match var("HERALD_BODY_LIMIT_BYTES").map(|v| v.parse::<usize>()) {
            None => DEFAULT_BODY_LIMIT_BYTES,
            Some(Ok(n)) if (1024..=64 * 1024 * 1024).contains(&n) => n,
            Some(_) => {
                problems
                    .push("HERALD_BODY_LIMIT_BYTES must be a number of bytes between 1024 and 67108864".to_string());
                DEFAULT_BODY_LIMIT_BYTES
            }
        };
        let log_format = match var("HERALD_LOG_FORMAT").as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                problems.push(format!("HERALD_LOG_FORMAT must be `text` or `json`, not `{other}`"));
                LogFormat::Text
            }
        };
        let cron_secret = var("CRON_SECRET").map(Secret::new);
        let cron_token = var("CRON_TOKEN").map(Secret::new).or_else(|| cron_secret.clone());
        // Seed 002: invalid values fall back to the default.
        let approval_max_age_hours = var("APPROVAL_MAX_AGE_HOURS")
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|h| *h > 0)
            .unwrap_or(DEFAULT_APPROVAL_MAX_AGE_HOURS);
        let temporary_file_hours = match var("HERALD_TEMPORARY_FILE_HOURS").map(|v| v.parse::<u32>()) {
            None => DEFAULT_TEMPORARY_FILE_HOURS,
            Some(Ok(hours)) if (1..=24 * 366).contains(&hours) => hours,
            Some(_) => {
                problems.push("HERALD_TEMPORARY_FILE_HOURS must be a whole number of hours from 1 to 8784".to_string());
                DEFAULT_TEMPORARY_FILE_HOURS
            }
        };

        let rate_limit_per_minute = match var("HERALD_RATE_LIMIT_PER_MINUTE").map(|v| v.parse::<u32>()) {
            None => DEFAULT_RATE_LIMIT_PER_MINUTE,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                problems
                    .push("HERALD_RATE_LIMIT_PER_MINUTE must be a whole number (0 turns the limit off)".to_string());
                DEFAULT_RATE_LIMIT_PER_MINUTE
            }
        };
        let attachment_limit_bytes = match var("HERALD_ATTACHMENT_LIMIT_BYTES").map(|v| v.parse::<usize>()) {
            None => DEFAULT_ATTACHMENT_LIMIT_BYTES,
            Some(Ok(limit)) if limit > 0 => limit,
            Some(_) => {
                problems.push("HERALD_ATTACHMENT_LIMIT_BYTES must be a positive whole number of bytes".to_string());
                DEFAULT_ATTACHMENT_LIMIT_BYTES
            }
        };

        if !needs_aws.is_empty() {
            problems.push(format!("{}: {WITHOUT_AWS}", needs_aws.join(", ")));
        }

        match (store, blobs, queue) {
            (Some(store), Some(blobs), Some(queue)) if problems.is_empty() => Ok(Config {
                store,
                blobs,
                queue,
                public_url,
                signing_key,
                body_limit_bytes,
                rate_limit_per_minute,
                email_sender: var("HERALD_EMAIL_SENDER"),
                ses_configuration_set: var("HERALD_SES_CONFIGURATION_SET"),
                outbox_dir: PathBuf::from(var("HERALD_OUTBOX").unwrap_or_else(|| "./data/outbox".into())),
                attachment_limit_bytes,
                bedrock_model_id: var("HERALD_BEDROCK_MODEL_ID"),
                log_format,
                cron_token,
                cron_secret,
                approval_max_age_hours,
                temporary_file_hours,
                tick_schedule: var("HERALD_TICK_SCHEDULE"),
                console_dir: var("HERALD_CONSOLE_DIR").map(PathBuf::from),
                google: var("HERALD_TEST_DRIVE_URL")
                    .map_or_else(crate::google::Endpoints::google, |url| crate::google::Endpoints::local(&url)),
            }),
            _ => Err(ConfigError(problems)),
        }
    }

    /// Whether any adapter talks to AWS (and so needs the SDK configuration).
    #[cfg(feature = "aws")]
    pub fn uses_aws(&self) -> bool {
        self.tick_schedule.is_some()
            || matches!(self.store, StoreConfig::DynamoDb { .. })
            || matches!(self.blobs, BlobConfig::S3 { .. })
            || matches!(self.queue, QueueConfig::Sqs { .. })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn an_empty_environment_gives_the_embedded_local_setup() {
        let c = config(&[]).unwrap();
        assert_eq!(c.store, StoreConfig::Sqlite("./data/herald.db".into()));
        assert_eq!(c.blobs, BlobConfig::Fs("./data/blobs".into()));
        assert_eq!(c.queue, QueueConfig::Local);
        assert!(!c.uses_aws());
        assert!(c.cron_token.is_none() && c.cron_secret.is_none());
        assert_eq!(c.approval_max_age_hours, 168);
    }

    #[test]
    fn the_aws_setup_of_the_template_is_understood() {
        let c = config(&[
            ("HERALD_STORE", "dynamodb:herald-prod"),
            ("HERALD_BLOBS", "s3:herald-artifacts"),
            ("HERALD_QUEUE", "sqs"),
            ("HERALD_RENDER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/render"),
            ("HERALD_DELIVER_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/1/deliver"),
            ("HERALD_LOG_FORMAT", "json"),
            ("CRON_SECRET", "s3cret"),
            ("HERALD_SES_CONFIGURATION_SET", "herald-prod-events"),
        ])
        .unwrap();
        assert_eq!(c.store, StoreConfig::DynamoDb { table: "herald-prod".into() });
        assert_eq!(c.ses_configuration_set.as_deref(), Some("herald-prod-events"));
        assert!(c.uses_aws());
        assert_eq!(c.log_format, LogFormat::Json);
        assert_eq!(c.cron_token.as_ref().map(Secret::expose), Some("s3cret"), "CRON_TOKEN falls back to CRON_SECRET");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let err = config(&[
            ("HERALD_STORE", "postgres://x"),
            ("HERALD_BLOBS", "s3:"),
            ("HERALD_QUEUE", "sqs"),
            ("HERALD_BODY_LIMIT_BYTES", "lots"),
            ("HERALD_LOG_FORMAT", "xml"),
        ])
        .unwrap_err();
        assert_eq!(err.0.len(), 6, "{err}");
        assert!(err.to_string().contains("HERALD_RENDER_QUEUE_URL is required"));
    }

    #[test]
    fn an_invalid_approval_age_falls_back_to_the_default() {
        assert_eq!(config(&[("APPROVAL_MAX_AGE_HOURS", "soon")]).unwrap().approval_max_age_hours, 168);
        assert_eq!(config(&[("APPROVAL_MAX_AGE_HOURS", "24")]).unwrap().approval_max_age_hours, 24);
        assert_eq!(config(&[]).unwrap().temporary_file_hours, 24);
        assert_eq!(config(&[("HERALD_TEMPORARY_FILE_HOURS", "48")]).unwrap().temporary_file_hours, 48);
        assert!(config(&[("HERALD_TEMPORARY_FILE_HOURS", "0")]).is_err());
    }
}
