//! Connections: how a workspace reaches a database its reports read with `sql` sources
//! (PostgreSQL, MySQL/MariaDB, Athena), and the Google Cloud service accounts its Drive
//! deliveries upload as. A source or destination names a connection by its `name` (a code, so
//! it reads well in a query's source and can never be mistaken for an id) or its id. The name
//! `datasets` is the built-in connection to the workspace's uploaded datasets and cannot be
//! taken. The password and the service-account key are [`Secret`]s: write-only; a password is
//! kept on a change only while the server and user it is sent to stay the same.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{Code, ConnectionId, FieldError, Secret, ValidationErrors, WorkspaceId};

/// The name of the built-in connection: SQL over the workspace's uploaded datasets.
pub const DATASETS_CONNECTION: &str = "datasets";

/// Most rows a query may return (a run makes at most this many entries too).
pub const MAX_QUERY_ROWS: u32 = 50_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Connection {
    pub id: ConnectionId,
    pub workspace_id: WorkspaceId,
    /// What `sql` sources call it (`warehouse`).
    pub name: Code,
    #[serde(flatten)]
    pub config: ConnectionConfig,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ConnectionConfig {
    /// PostgreSQL (and servers speaking its protocol).
    Postgres(DatabaseServer),
    /// MySQL or MariaDB.
    Mysql(DatabaseServer),
    /// Amazon Athena: SQL over data in S3.
    Athena(AthenaWorkgroup),
    /// A Google Cloud service account (seed `003`'s Google Drive deliveries).
    GoogleServiceAccount(ServiceAccount),
}

/// A Google Cloud service account, by the JSON key file Google Cloud issued for it. The key is
/// checked when it is uploaded and never shown again; the account's email, the key's id and
/// when it was uploaded are read from it, for people to tell keys apart. A new key replaces
/// the old one in place, so deliveries that name the connection use it from then on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ServiceAccount {
    /// The JSON key file (its whole text); write-only.
    pub key: Secret,
    /// The account's email, from the key (read-only: what a client sends is replaced).
    #[serde(default)]
    #[schema(read_only)]
    pub client_email: String,
    /// The key's id, from the key (read-only).
    #[serde(default)]
    #[schema(read_only)]
    pub private_key_id: String,
    /// When the key was uploaded (read-only; anything a client sends is ignored).
    #[serde(default, deserialize_with = "ignored_unless_a_time")]
    #[schema(read_only)]
    pub key_uploaded_at: Option<DateTime<Utc>>,
}

/// A read-only time as stored; what is not one (a client's guess) is dropped, not refused,
/// since it is replaced anyway.
fn ignored_unless_a_time<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// A database server reached over the network. (Unknown fields are refused by the API routes,
/// not here: a schema that forbids other properties could not be combined with `kind` and
/// `name` in the API document.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DatabaseServer {
    /// Host name or IP address; a private address needs `settings.network.allowed_addresses`.
    pub host: String,
    /// The server's port (5432 for PostgreSQL, 3306 for MySQL when absent).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    pub database: String,
    pub user: String,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub tls: TlsMode,
    #[serde(default)]
    pub options: QueryOptions,
}

/// Athena's workgroup, where its results go, and the database queries run in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AthenaWorkgroup {
    /// The Glue database unqualified table names refer to.
    pub database: String,
    #[serde(default = "default_catalog")]
    pub catalog: String,
    #[serde(default = "default_workgroup")]
    pub workgroup: String,
    /// `s3://bucket/prefix/` for query results; the workgroup's setting when absent.
    #[serde(default)]
    pub output_location: Option<String>,
    /// The AWS region of the workgroup; the deployment's when absent.
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub options: QueryOptions,
}

fn default_catalog() -> String {
    "AwsDataCatalog".into()
}

fn default_workgroup() -> String {
    "primary".into()
}

/// Whether the connection is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain TCP (a database on the same private network).
    #[default]
    Disable,
    /// TLS, with the server's certificate checked against the system's roots and its name.
    Require,
}

/// Limits every query on the connection runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueryOptions {
    /// The server stops a statement running longer (100 to 300000).
    #[schema(minimum = 100, maximum = 300000)]
    pub statement_timeout_ms: u32,
    /// A query returning more rows fails (1 to 50000); the query itself is not rewritten.
    #[schema(minimum = 1, maximum = 50000)]
    pub max_rows: u32,
    /// A query returning more data fails (1 KiB to 256 MiB).
    #[schema(minimum = 1024, maximum = 268435456)]
    pub max_bytes: u32,
    /// Connections kept open per running process (1 to 10).
    #[schema(minimum = 1, maximum = 10)]
    pub pool_size: u8,
}

impl Default for QueryOptions {
    fn default() -> Self {
        Self { statement_timeout_ms: 30_000, max_rows: MAX_QUERY_ROWS, max_bytes: 64 << 20, pool_size: 2 }
    }
}

impl QueryOptions {
    fn check(&self, errors: &mut Vec<FieldError>) {
        let mut range = |field: &str, value: u64, min: u64, max: u64| {
            if !(min..=max).contains(&value) {
                errors.push(FieldError::new(format!("options.{field}"), format!("must be between {min} and {max}")));
            }
        };
        range("statement_timeout_ms", self.statement_timeout_ms.into(), 100, 300_000);
        range("max_rows", self.max_rows.into(), 1, MAX_QUERY_ROWS.into());
        range("max_bytes", self.max_bytes.into(), 1024, 256 << 20);
        range("pool_size", self.pool_size.into(), 1, 10);
    }
}

impl ConnectionConfig {
    pub fn kind(&self) -> &'static str {
        match self {
            ConnectionConfig::Postgres(_) => "postgres",
            ConnectionConfig::Mysql(_) => "mysql",
            ConnectionConfig::Athena(_) => "athena",
            ConnectionConfig::GoogleServiceAccount(_) => "google_service_account",
        }
    }

    /// The fields of `given` (a request body) this kind of connection does not have, besides
    /// `also` (`name`, `version`).
    pub fn unknown_fields<'a>(&self, given: impl IntoIterator<Item = &'a String>, also: &[&str]) -> Vec<String> {
        let known = match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => fields,
            _ => serde_json::Map::new(),
        };
        given.into_iter().filter(|f| !known.contains_key(*f) && !also.contains(&f.as_str())).cloned().collect()
    }

    /// The limits of queries on a database (none for a service account).
    pub fn options(&self) -> Option<&QueryOptions> {
        match self {
            ConnectionConfig::Postgres(server) | ConnectionConfig::Mysql(server) => Some(&server.options),
            ConnectionConfig::Athena(athena) => Some(&athena.options),
            ConnectionConfig::GoogleServiceAccount(_) => None,
        }
    }

    /// Makes a configuration a client sent ready to store at `now`, reporting every problem at
    /// once: a password sent as the mask (`********`) or left out keeps the stored one only
    /// while the kind, host, port and user are unchanged (an empty one removes it); a service
    /// account's key sent as the mask keeps the stored one, and a new key is read (what it says
    /// of itself replaces what the client sent); then every field is checked.
    pub fn resolve(&mut self, stored: Option<&ConnectionConfig>, now: DateTime<Utc>) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        let kind = self.kind();
        if let ConnectionConfig::GoogleServiceAccount(account) = self {
            let was = match stored {
                Some(ConnectionConfig::GoogleServiceAccount(was)) => Some(was),
                _ => None,
            };
            let mut key = Some(account.key.clone());
            match super::keep_masked("key", &mut key, was.map(|w| &w.key), was.is_some()) {
                Err(error) => errors.push(error),
                Ok(()) => match (was, key) {
                    (Some(was), Some(key)) if key == was.key => *account = was.clone(),
                    (_, Some(key)) => match crate::google::ServiceAccountKey::parse(key.expose()) {
                        Ok(parsed) => {
                            *account = ServiceAccount {
                                key,
                                client_email: parsed.client_email,
                                private_key_id: parsed.private_key_id,
                                key_uploaded_at: Some(now),
                            }
                        }
                        Err(reason) => errors.push(FieldError::new("key", format!("the key file {reason}"))),
                    },
                    (_, None) => errors.push(FieldError::new("key", "upload the service account's JSON key file")),
                },
            }
            return ValidationErrors::into_result(errors);
        }
        if let ConnectionConfig::Postgres(server) | ConnectionConfig::Mysql(server) = self {
            let was = match stored {
                Some(ConnectionConfig::Postgres(was) | ConnectionConfig::Mysql(was)) => Some(was),
                _ => None,
            };
            let same_target = stored.is_some_and(|stored| stored.kind() == kind)
                && was.is_some_and(|was| {
                    was.host.eq_ignore_ascii_case(&server.host) && was.port == server.port && was.user == server.user
                });
            let kept = was.and_then(|was| was.password.as_ref());
            if let Err(error) = super::keep_masked("password", &mut server.password, kept, same_target) {
                errors.push(error);
            }
            // An empty password is none: how a client removes a stored one.
            if server.password.as_ref().is_some_and(Secret::is_empty) {
                server.password = None;
            }
        }
        super::add_unreported(&mut errors, self.validate().err().into_iter().flat_map(|e| e.0));
        ValidationErrors::into_result(errors)
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        let mut text = |field: &str, value: &str, max: usize| {
            if value.trim().is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
                errors.push(FieldError::new(field, format!("must be 1 to {max} characters, no control characters")));
            }
        };
        match self {
            ConnectionConfig::Postgres(server) | ConnectionConfig::Mysql(server) => {
                text("host", &server.host, 253);
                text("database", &server.database, 128);
                text("user", &server.user, 128);
                if server.host.contains(['/', '@', ' ', '?', '#']) {
                    errors.push(FieldError::new("host", "must be a host name or an IP address"));
                }
                if server.port == Some(0) {
                    errors.push(FieldError::new("port", "must be between 1 and 65535"));
                }
                if server.password.as_ref().is_some_and(|p| p.expose().len() > 1024) {
                    errors.push(FieldError::new("password", "must be at most 1024 bytes"));
                }
                server.options.check(&mut errors);
            }
            ConnectionConfig::Athena(athena) => {
                text("database", &athena.database, 255);
                text("catalog", &athena.catalog, 255);
                text("workgroup", &athena.workgroup, 128);
                if !crate::config::AWS {
                    errors.push(FieldError::new("kind", crate::config::WITHOUT_AWS));
                }
                if let Some(location) = &athena.output_location
                    && !(location.starts_with("s3://") && location.len() > 5 && !location.chars().any(char::is_control))
                {
                    errors.push(FieldError::new("output_location", "must be an s3:// location"));
                }
                let region_like = |r: &str| {
                    (4..=30).contains(&r.len())
                        && r.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                };
                if athena.region.as_deref().is_some_and(|r| !region_like(r)) {
                    errors.push(FieldError::new("region", "must be an AWS region (us-east-1)"));
                }
                athena.options.check(&mut errors);
            }
            ConnectionConfig::GoogleServiceAccount(account) => {
                if account.key.expose().len() > 16 * 1024 {
                    errors.push(FieldError::new("key", "must be at most 16 KiB (a key file is about 2.3 KiB)"));
                }
            }
        }
        ValidationErrors::into_result(errors)
    }
}

/// Checks a connection's name: a code, and not the built-in one.
pub fn check_connection_name(name: &Code) -> Result<(), FieldError> {
    if name.as_str() == DATASETS_CONNECTION {
        return Err(FieldError::new("name", "`datasets` is the built-in connection to the uploaded datasets"));
    }
    Ok(())
}
