//! One small pool of database connections per workspace connection, kept for the life of the
//! process (a warm Lambda, or `herald serve`). A pool is made on first use, after the host is
//! resolved and every address is vetted against the workspace's network policy; it connects
//! only to the vetted address. A changed connection (a new version) or a changed network
//! policy gets a new pool, and the old one is closed. Athena is there in builds with the `aws`
//! feature; without it, an Athena connection fails with the reason.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use super::{Bound, Placeholder, bind, mysql, postgres};
use crate::domain::{Connection, ConnectionConfig, ConnectionId, DatabaseServer};
use crate::net::{NetError, NetworkPolicy};
use crate::source::template::Bindings;
use crate::source::{RowSet, SourceError};

#[derive(Clone)]
enum Pool {
    Postgres(deadpool_postgres::Pool),
    Mysql(mysql_async::Pool),
    /// Athena needs no connections: a client of its HTTP API.
    #[cfg(feature = "aws")]
    Athena(aws_sdk_athena::Client),
}

struct Pooled {
    /// The connection's version and the policy its address was vetted under.
    made_for: (u64, NetworkPolicy),
    pool: Pool,
}

/// The connection pools of this process.
#[derive(Default)]
pub struct Databases {
    pools: Mutex<HashMap<ConnectionId, Pooled>>,
    /// The AWS configuration, loaded from the environment when an Athena connection is first
    /// used (a local server without AWS never loads it).
    #[cfg(feature = "aws")]
    aws: tokio::sync::OnceCell<aws_config::SdkConfig>,
}

/// What testing a connection found.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct ConnectionCheck {
    /// The server's own description of itself (`PostgreSQL 15.8 …`).
    pub server_version: String,
    /// The user the connection logs in as, as the server names it.
    pub user: String,
    /// What the user could do beyond reading (a superuser, the database's owner, write
    /// privileges); queries still run read-only.
    pub warnings: Vec<String>,
    pub latency_ms: u64,
}

impl Databases {
    pub fn new() -> Self {
        Self::default()
    }

    /// Runs `query` with `bindings` bound on `connection`.
    pub async fn query(
        &self,
        connection: &Connection,
        policy: &NetworkPolicy,
        query: &str,
        bindings: &Bindings<'_>,
    ) -> Result<RowSet, SourceError> {
        let Some(options) = connection.config.options().copied() else {
            return Err(not_a_database(connection));
        };
        match self.pool(connection, policy).await? {
            Pool::Postgres(pool) => {
                let bound = bind(query, bindings, Placeholder::Dollar)?;
                postgres::query(&pool, &bound, &options).await
            }
            Pool::Mysql(pool) => {
                let bound: Bound = bind(query, bindings, Placeholder::Question)?;
                mysql::query(&pool, &bound, &options).await
            }
            #[cfg(feature = "aws")]
            Pool::Athena(client) => {
                let bound = bind(query, bindings, Placeholder::Question)?;
                super::athena::query(&client, athena_of(connection)?, &bound, &options).await
            }
        }
    }

    /// Connects, and reports the server, the user and what the user may do.
    pub async fn check(&self, connection: &Connection, policy: &NetworkPolicy) -> Result<ConnectionCheck, SourceError> {
        let started = Instant::now();
        let (server_version, user, warnings) = match self.pool(connection, policy).await? {
            Pool::Postgres(pool) => postgres::check(&pool).await?,
            Pool::Mysql(pool) => mysql::check(&pool).await?,
            #[cfg(feature = "aws")]
            Pool::Athena(client) => super::athena::check(&client, athena_of(connection)?).await?,
        };
        let latency_ms = started.elapsed().as_millis() as u64;
        Ok(ConnectionCheck { server_version, user, warnings, latency_ms })
    }

    /// The pool of `connection`, made (or remade) when missing or outdated.
    async fn pool(&self, connection: &Connection, policy: &NetworkPolicy) -> Result<Pool, SourceError> {
        let made_for = (connection.version, policy.clone());
        if let Some(pooled) = self.lock().get(&connection.id)
            && pooled.made_for == made_for
        {
            return Ok(pooled.pool.clone());
        }
        let pool = match &connection.config {
            ConnectionConfig::Postgres(server) => Pool::Postgres(postgres::pool(server, vet(server, policy).await?)?),
            ConnectionConfig::Mysql(server) => Pool::Mysql(mysql::pool(server, vet(server, policy).await?)),
            #[cfg(feature = "aws")]
            ConnectionConfig::Athena(settings) => {
                let sdk = self.aws.get_or_init(crate::aws::load_sdk_config).await;
                Pool::Athena(super::athena::client(sdk, settings))
            }
            #[cfg(not(feature = "aws"))]
            ConnectionConfig::Athena(_) => return Err(SourceError::Unavailable(crate::config::WITHOUT_AWS)),
            ConnectionConfig::GoogleServiceAccount(_) => return Err(not_a_database(connection)),
        };
        let replaced = self.lock().insert(connection.id, Pooled { made_for, pool: pool.clone() });
        if let Some(Pooled { pool: Pool::Mysql(old), .. }) = replaced {
            tokio::spawn(async move { old.disconnect().await });
        }
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ConnectionId, Pooled>> {
        self.pools.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn not_a_database(connection: &Connection) -> SourceError {
    SourceError::Sql(format!("`{}` is a {} connection, not a database", connection.name, connection.config.kind()))
}

#[cfg(feature = "aws")]
fn athena_of(connection: &Connection) -> Result<&crate::domain::AthenaWorkgroup, SourceError> {
    match &connection.config {
        ConnectionConfig::Athena(settings) => Ok(settings),
        _ => Err(SourceError::Sql("the connection is not an Athena connection".into())),
    }
}

/// The first address of `server`'s host that `policy` permits.
async fn vet(server: &DatabaseServer, policy: &NetworkPolicy) -> Result<IpAddr, SourceError> {
    let host = server.host.trim_start_matches('[').trim_end_matches(']').to_string();
    let found: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => tokio::net::lookup_host((host.as_str(), 0))
            .await
            .map_err(|e| NetError::Resolve { host: host.clone(), message: e.to_string() })?
            .map(|a| a.ip())
            .collect(),
    };
    match (found.iter().find(|ip| policy.permits(**ip)), found.first()) {
        (Some(ip), _) => Ok(*ip),
        (None, Some(first)) => Err(NetError::Blocked { host, address: *first }.into()),
        (None, None) => Err(NetError::Resolve { host, message: "the name has no addresses".into() }.into()),
    }
}

/// TLS that checks the server's certificate against the system's roots and its name.
pub(super) fn tls_config() -> Result<rustls::ClientConfig, SourceError> {
    use rustls_platform_verifier::BuilderVerifierExt;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map(|builder| builder.with_no_client_auth())
        .map_err(|e| SourceError::Sql(format!("TLS could not be set up: {e}")))
}
