//! Connections of a workspace (PostgreSQL, MySQL/MariaDB, Athena, Google service accounts):
//! create, list, read, change, delete, test; and running a query on a connection (or the
//! built-in `datasets`) for the editor's "Run query". Connections are workspace settings:
//! admins (`settings:write`) manage them, anyone who can read settings sees them. The password
//! and the service-account key are write-only: answers show `********`; a change that sends a
//! password back keeps it only while the kind, host, port and user stay the same, and a new
//! key replaces the old one in place. Testing a service account fetches a token with its key.

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::context::Context;
use crate::domain::{
    Access, Area, Code, Connection, ConnectionConfig, ConnectionId, DATASETS_CONNECTION, FieldError, Ident, RunTime,
    SourceKind, SourceRole, SourceSpec, ValidationErrors, check_connection_name,
};
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::extract::{ApiQuery, JsonBody, PageParams, list};
use crate::http::openapi::{ConflictErrors, ReadErrors, WorkspacePath, WriteErrors};
use crate::net::NetworkPolicy;
use crate::source::{ColumnMeta, SourceContext, SourceError};

/// A connection as the API shows it (the password reads `********`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    /// Always `connection`.
    #[schema(example = "connection")]
    pub object: &'static str,
    #[serde(flatten)]
    pub connection: Connection,
}

impl ConnectionView {
    fn of(connection: Connection) -> Self {
        Self { object: "connection", connection }
    }
}

fn view(connection: &Connection) -> Value {
    serde_json::to_value(ConnectionView::of(connection.clone())).unwrap_or(Value::Null)
}

/// A new connection: its name and its configuration (`kind` and that kind's fields).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateConnectionBody {
    /// What `sql` sources call it: lowercase letters, digits, `-` and `_`.
    pub name: Code,
    #[serde(flatten)]
    pub config: ConnectionConfig,
}

/// A change: any fields of the connection; a `kind` other than the stored one replaces the
/// whole configuration.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct UpdateConnectionBody {
    pub name: Option<Code>,
    /// The version the change is based on; a newer stored version is a conflict.
    #[serde(default, deserialize_with = "crate::http::extract::version")]
    #[schema(minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub version: Option<u64>,
    /// The configuration's fields to change (`host`, `password`, `options`, …).
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

/// An error for each field of a request a connection of this kind does not have.
fn unknown<'a>(config: &ConnectionConfig, given: impl IntoIterator<Item = &'a String>) -> Vec<FieldError> {
    let fields = config.unknown_fields(given, &["name", "version"]);
    fields
        .into_iter()
        .map(|f| FieldError::new(f, format!("a `{}` connection has no such field", config.kind())))
        .collect()
}

/// A 422 naming `field`.
fn invalid(field: &str, message: impl Into<String>) -> ApiError {
    ValidationErrors(vec![FieldError::new(field, message)]).into()
}

fn named(name: &Code) -> ApiResult<()> {
    check_connection_name(name).map_err(|e| ValidationErrors(vec![e]).into())
}

/// Creates a connection.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/connections",
    operation_id = "create_connection",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    request_body = CreateConnectionBody,
    responses(
        (status = 201, description = "The connection, its password redacted", body = ConnectionView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn create(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    body: JsonBody,
) -> ApiResult<(StatusCode, Json<ConnectionView>)> {
    caller.require(Area::Settings, Access::Write)?;
    let given: Map<String, Value> = body.parse()?;
    let CreateConnectionBody { name, mut config } = body.parse()?;
    let mut errors: Vec<FieldError> = check_connection_name(&name).err().into_iter().collect();
    errors.extend(unknown(&config, given.keys()));
    errors.extend(config.resolve(None, ctx.clock.now()).err().into_iter().flat_map(|e| e.0));
    ValidationErrors::into_result(errors)?;
    let now = ctx.clock.now();
    let connection = Connection {
        id: ConnectionId::generate(now),
        workspace_id: caller.workspace.id,
        name,
        config,
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let connection = ctx.store.create_connection(&connection).await?;
    Ok((StatusCode::CREATED, Json(ConnectionView::of(connection))))
}

/// Lists the connections of the workspace (the built-in `datasets` is not listed).
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/connections",
    operation_id = "list_connections",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, PageParams),
    responses(
        (status = 200, description = "A page of connections", body = crate::http::openapi::views::List<ConnectionView>),
        ReadErrors,
    )
)]
pub async fn list_connections(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    ApiQuery(params): ApiQuery<PageParams>,
) -> ApiResult<Json<Value>> {
    caller.require(Area::Settings, Access::Read)?;
    let listing = ctx.store.list_connections(caller.workspace.id, &params.page()?).await?;
    Ok(Json(list(listing, view)))
}

/// Reads a connection by id or name.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}/connections/{id}",
    operation_id = "get_connection",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, description = "The connection, its password redacted", body = ConnectionView),
        ReadErrors,
    )
)]
pub async fn get(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Area::Settings, Access::Read)?;
    Ok(Json(ConnectionView::of(ctx.store.resolve_connection(caller.workspace.id, &id).await?)))
}

/// Changes a connection; a changed connection gets fresh database connections on next use.
#[utoipa::path(
    patch,
    path = "/api/v1/ws/{workspace}/connections/{id}",
    operation_id = "update_connection",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The connection's id or name")),
    request_body = UpdateConnectionBody,
    responses(
        (status = 200, description = "The changed connection", body = ConnectionView),
        WriteErrors,
        ConflictErrors,
    )
)]
pub async fn update(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<ConnectionView>> {
    caller.require(Area::Settings, Access::Write)?;
    let body: UpdateConnectionBody = body.parse()?;
    let mut connection = ctx.store.resolve_connection(caller.workspace.id, &id).await?;
    if body.version.is_some_and(|v| v != connection.version) {
        return Err(ApiError::conflict("the connection changed since that version; read it again"));
    }
    if let Some(name) = body.name {
        named(&name)?;
        connection.name = name;
    }
    if !body.fields.is_empty() {
        let given: Vec<String> = body.fields.keys().cloned().collect();
        let mut config = merged(&connection.config, body.fields)?;
        ValidationErrors::into_result(unknown(&config, &given))?;
        config.resolve(Some(&connection.config), ctx.clock.now())?;
        connection.config = config;
    }
    connection.updated_at = ctx.clock.now();
    Ok(Json(ConnectionView::of(ctx.store.update_connection(&connection).await?)))
}

/// The stored configuration with `fields` laid over it (the password as its mask, which
/// [`ConnectionConfig::resolve`] then keeps or refuses); a new `kind` starts afresh.
fn merged(stored: &ConnectionConfig, fields: Map<String, Value>) -> ApiResult<ConnectionConfig> {
    let same_kind = fields.get("kind").is_none_or(|kind| kind.as_str() == Some(stored.kind()));
    let mut config = match serde_json::to_value(stored) {
        Ok(Value::Object(map)) if same_kind => map,
        _ => Map::new(),
    };
    config.extend(fields);
    serde_json::from_value(Value::Object(config)).map_err(|e| invalid("body", e.to_string()))
}

/// Deletes a connection; reports that use it fail until they name another.
#[utoipa::path(
    delete,
    path = "/api/v1/ws/{workspace}/connections/{id}",
    operation_id = "delete_connection",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 204, description = "Deleted"),
        ReadErrors,
        ConflictErrors,
    )
)]
pub async fn delete(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    caller.require(Area::Settings, Access::Write)?;
    let connection = ctx.store.resolve_connection(caller.workspace.id, &id).await?;
    ctx.store.delete_connection(caller.workspace.id, connection.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What testing a connection found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionTestView {
    /// Always `connection_test`.
    #[schema(example = "connection_test")]
    pub object: &'static str,
    pub connection_id: ConnectionId,
    /// Whether Herald connected and could ask the server about itself.
    pub ok: bool,
    /// The server's own description of itself (when connected).
    pub server_version: Option<String>,
    /// The user the connection logs in as (when connected).
    pub user: Option<String>,
    /// What the user could do beyond reading (a superuser, the owner, write privileges).
    pub warnings: Vec<String>,
    pub latency_ms: Option<u64>,
    /// Why it failed, in the database's or the network's words (when not connected).
    pub error: Option<String>,
}

/// Test connection: connect and report the server, the user, and any privilege beyond reading.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/connections/{id}/test",
    operation_id = "test_connection",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The connection's id or name")),
    responses(
        (status = 200, description = "What the server answered", body = ConnectionTestView),
        WriteErrors,
    )
)]
pub async fn test(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Json<ConnectionTestView>> {
    caller.require(Area::Settings, Access::Write)?;
    let connection = ctx.store.resolve_connection(caller.workspace.id, &id).await?;
    let policy = NetworkPolicy::of(&caller.workspace.settings.network);
    let view = ConnectionTestView {
        object: "connection_test",
        connection_id: connection.id,
        ok: false,
        server_version: None,
        user: None,
        warnings: vec![],
        latency_ms: None,
        error: None,
    };
    if let ConnectionConfig::GoogleServiceAccount(account) = &connection.config {
        let started = Instant::now();
        let checked = ctx.senders.drive().check_key(account, ctx.clock.now()).await;
        let latency_ms = Some(started.elapsed().as_millis() as u64);
        return Ok(Json(match checked {
            Ok(()) => ConnectionTestView { ok: true, user: Some(account.client_email.clone()), latency_ms, ..view },
            Err(error) => ConnectionTestView { error: Some(error.to_string()), latency_ms, ..view },
        }));
    }
    Ok(Json(match ctx.databases.check(&connection, &policy).await {
        Ok(check) => ConnectionTestView {
            ok: true,
            server_version: Some(check.server_version),
            user: Some(check.user),
            warnings: check.warnings,
            latency_ms: Some(check.latency_ms),
            ..view
        },
        Err(error) => ConnectionTestView { error: Some(error.to_string()), ..view },
    }))
}

/// A query to run for the editor.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryBody {
    #[schema(min_length = 1, max_length = 100000)]
    pub query: String,
    /// Run parameter values the query's `{placeholders}` take (the editor's preview values).
    #[serde(default)]
    pub parameters: Map<String, Value>,
    /// The run's data payload (`{data.…}`).
    #[serde(default)]
    pub data: Value,
    /// How many rows to answer (1 to 200; the query still runs under the connection's cap).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 200)]
    pub limit: Option<usize>,
}

/// The first rows of a query.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryResultView {
    /// Always `query_result`.
    #[schema(example = "query_result")]
    pub object: &'static str,
    pub columns: Vec<ColumnMeta>,
    /// The first `limit` rows, positional.
    pub rows: Vec<Vec<Value>>,
    /// How many rows the query returned in all.
    pub row_count: usize,
    pub elapsed_ms: u64,
}

/// Run query: the first rows of a query on a connection (or `datasets`), for the editor. A
/// query the database refuses is a 422 with the database's own message under `query`.
#[utoipa::path(
    post,
    path = "/api/v1/ws/{workspace}/connections/{id}/query",
    operation_id = "run_query",
    tag = "connections",
    security(("personal_access_token" = [])),
    params(WorkspacePath, ("id" = String, Path, description = "The connection's id or name, or `datasets`")),
    request_body = QueryBody,
    responses(
        (status = 200, description = "The first rows", body = QueryResultView),
        WriteErrors,
    )
)]
pub async fn run_query(
    State(ctx): State<Arc<Context>>,
    caller: Caller,
    Path((_, id)): Path<(String, String)>,
    body: JsonBody,
) -> ApiResult<Json<QueryResultView>> {
    caller.require(Area::Reports, Access::Write)?;
    // An unknown connection is a 404 here (before the body is read), not a failed query.
    let connection = match id.as_str() {
        DATASETS_CONNECTION => id,
        _ => ctx.store.resolve_connection(caller.workspace.id, &id).await?.id.to_string(),
    };
    let body: QueryBody = body.parse()?;
    if body.query.trim().is_empty() || body.query.chars().count() > 100_000 {
        return Err(invalid("query", "must be 1 to 100000 characters"));
    }
    let limit = body.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(invalid("limit", "must be between 1 and 200"));
    }
    let spec = SourceSpec {
        name: Ident::parse("query").map_err(|e| invalid("query", e))?,
        role: SourceRole::Shared,
        kind: SourceKind::Sql { connection, query: body.query },
        label: None,
    };
    let sources = SourceContext {
        store: &ctx.store,
        blobs: ctx.blobs.as_ref(),
        http: &ctx.outbound,
        databases: &ctx.databases,
        workspace: &caller.workspace,
        parameters: &body.parameters,
        data: &body.data,
        time: RunTime::new(ctx.clock.now(), caller.workspace.settings.zone()),
    };
    let started = Instant::now();
    let rows = match crate::source::fetch(&sources, &spec).await {
        Ok(rows) => rows,
        Err(SourceError::Store(e)) => return Err(e.into()),
        Err(error) => return Err(invalid("query", error.to_string())),
    };
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let row_count = rows.rows.len();
    let mut shown = rows.rows;
    shown.truncate(limit);
    Ok(Json(QueryResultView { object: "query_result", columns: rows.columns, rows: shown, row_count, elapsed_ms }))
}
