//! Schemas of the API's answers: the domain records as the `view` functions of the route
//! modules send them (with `object` and the fields they add or leave out), and the shapes of
//! answers built as JSON in the handlers.

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use chrono::{DateTime, Utc};

use crate::domain::{
    ApiToken, Artifact, Channel, Code, Delivery, Destination, Entry, EntryId, EntryStatus, InteractionKind, Name,
    OfferKind, Report, ReportId, Review, Run, RunId, Schedule, Suppression, TemporaryFileId, TemporaryFileStatus,
    Workspace, WorkspaceId, WorkspaceSettings,
};
use crate::pipeline::preview::PreviewSummary;
use crate::source::ColumnMeta;
use crate::wiring::TickWiring;

/// A page of a listing, newest or first items first.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    pub data: Vec<T>,
    pub has_more: bool,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthView {
    /// Always `health`.
    #[schema(example = "health")]
    pub object: String,
    #[schema(example = "ok")]
    pub status: String,
    /// The running version of Herald.
    pub version: String,
}

/// A workspace; SMTP passwords read as `********`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceView {
    /// Always `workspace`.
    #[schema(example = "workspace")]
    pub object: String,
    #[serde(flatten)]
    pub workspace: Workspace,
}

/// A personal access token (never its secret or hash).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    /// Always `api_token`.
    #[schema(example = "api_token")]
    pub object: String,
    #[serde(flatten)]
    pub token: ApiToken,
}

/// Who is calling: the bearer token and the workspace it belongs to (the console's sign-in).
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionView {
    /// Always `session`.
    #[schema(example = "session")]
    pub object: String,
    pub token: TokenView,
    pub workspace: WorkspaceView,
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedTokenView {
    #[serde(flatten)]
    pub token: TokenView,
    /// The bearer secret (`hrld_pat_…`); store it now, it is not shown again.
    pub secret: String,
}

/// A report; HTTP source header secrets read as `********`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    /// Always `report`.
    #[schema(example = "report")]
    pub object: String,
    #[serde(flatten)]
    pub report: Report,
}

/// The preview pane's summary of a report rendered transiently.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportPreviewView {
    /// Always `report_preview`.
    #[schema(example = "report_preview")]
    pub object: String,
    #[serde(flatten)]
    pub summary: PreviewSummary,
}

/// A file answered as is (PDF, CSV, Markdown, HTML, or any stored artifact).
pub struct FileBody;

impl utoipa::PartialSchema for FileBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        crate::domain::values::string_schema("The file's bytes", Some("binary"), None, None, None)
    }
}

impl ToSchema for FileBody {}

/// A schedule, with its recurrence rule also as RFC 5545 text.
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    /// Always `schedule`.
    #[schema(example = "schedule")]
    pub object: String,
    #[serde(flatten)]
    pub schedule: Schedule,
    /// The recurrence rule as RFC 5545 text (recurrence rules only).
    pub rrule: Option<String>,
}

/// A destination; its secrets read as `********`.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationView {
    /// Always `destination`.
    #[schema(example = "destination")]
    pub object: String,
    /// The kind of destination: `email`, `slack`, `teams`, `webhook` or `s3`.
    #[serde(rename = "type")]
    #[schema(example = "email")]
    pub kind: String,
    #[serde(flatten)]
    pub destination: Destination,
}

/// What the provider answered to a test message.
#[derive(Debug, Serialize, ToSchema)]
pub struct DestinationTestView {
    /// Always `destination_test`.
    #[schema(example = "destination_test")]
    pub object: String,
    pub destination_id: String,
    /// Whether the provider accepted the message.
    pub ok: bool,
    /// The provider's id of the message (when accepted).
    pub provider_message_id: Option<String>,
    /// The provider's error (when refused).
    pub error: Option<String>,
    /// Whether retrying could help (when refused).
    pub transient: Option<bool>,
}

/// A run: its record, whether it is finished, and the seed `003` bucket counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunView {
    /// Always `report_run`.
    #[schema(example = "report_run")]
    pub object: String,
    #[serde(flatten)]
    pub run: Run,
    /// True once every entry reached a final state.
    pub finished: bool,
    pub duration_ms: Option<i64>,
    /// The number of entries.
    pub entries: u64,
}

/// A run in detail: its first entries with their deliveries and artifact links.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDetailView {
    #[serde(flatten)]
    pub run: RunView,
    pub entry_list: EntryList,
}

/// The entries shown in a run's detail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryList {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    pub data: Vec<EntryView>,
    pub next_cursor: Option<String>,
}

/// An entry of a run: its record (see `Entry`), each artifact with a download link, and its
/// deliveries.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryView {
    /// Always `run_entry`.
    #[schema(example = "run_entry")]
    pub object: String,
    pub id: EntryId,
    pub run_id: RunId,
    pub workspace_id: WorkspaceId,
    /// Position in the run (0-based, the row index of the repeating source).
    pub seq: u32,
    pub status: EntryStatus,
    /// The repeating row this entry was made for.
    pub row: Option<Map<String, Value>>,
    /// Parameter values after per-row bindings.
    pub parameters: Map<String, Value>,
    /// The rendered files, each with a signed download link.
    pub artifacts: Vec<ArtifactView>,
    pub error: Option<String>,
    /// Reports of the entry that could not be generated while others were.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub generation_errors: Vec<String>,
    pub review: Option<Review>,
    /// How many times a worker picked the entry up.
    pub attempts: u32,
    /// A worker holds the entry until then.
    pub lease_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
    /// The entry's deliveries (in a run's detail and an entry's own; not in entry listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<Vec<DeliveryView>>,
}

/// A rendered file of an entry.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArtifactView {
    #[serde(flatten)]
    pub artifact: Artifact,
    /// A signed link that downloads the file for an hour.
    pub download_url: String,
}

/// One (entry × delivery) record.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Always `delivery`.
    #[schema(example = "delivery")]
    pub object: String,
    #[serde(flatten)]
    pub delivery: Delivery,
}

/// What "Deliver (N selected)" queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunDeliveryView {
    /// Always `run_delivery`.
    #[schema(example = "run_delivery")]
    pub object: String,
    pub run_id: RunId,
    /// Entries queued for delivery.
    pub queued: u64,
    /// Entries left as they are, with their status.
    pub skipped: Vec<SkippedEntry>,
}

/// An entry "Deliver" left as it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedEntry {
    pub id: EntryId,
    /// The entry's status, or `changed meanwhile`.
    pub status: String,
}

/// One interaction of an ingest batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionInput {
    /// The caller's id of the interaction; a stored id counts as a duplicate.
    pub id: Option<String>,
    pub customer_id: String,
    #[serde(rename = "type")]
    pub kind: InteractionKind,
    /// Required for `received`, `viewed` and `completed`.
    pub offer_id: Option<String>,
    pub offer_kind: Option<OfferKind>,
    pub channel: Option<Channel>,
    /// Required for `transaction`; the reward for `completed`.
    pub amount: Option<f64>,
    /// When it happened (RFC 3339); now when absent.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// An ingest batch as JSON: an array of interactions, or this object.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum InteractionBatch {
    Array(InteractionList),
    Object(InteractionBatchObject),
}

/// `{"interactions": [...]}`, nothing else.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InteractionBatchObject {
    pub interactions: InteractionList,
}

/// One to 10,000 interactions.
#[derive(Debug, Serialize)]
pub struct InteractionList(pub Vec<InteractionInput>);

impl utoipa::PartialSchema for InteractionList {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ArrayBuilder::new()
            .items(utoipa::openapi::Ref::from_schema_name("InteractionInput"))
            .min_items(Some(1))
            .max_items(Some(crate::domain::MAX_INGEST_BATCH))
            .into()
    }
}

impl ToSchema for InteractionList {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        schemas.push(("InteractionInput".into(), <InteractionInput as utoipa::PartialSchema>::schema()));
        <InteractionInput as ToSchema>::schemas(schemas);
    }
}

/// What an ingest stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct InteractionIngestView {
    /// Always `interaction_ingest`.
    #[schema(example = "interaction_ingest")]
    pub object: String,
    /// Interactions stored.
    pub accepted: u64,
    /// Interactions already stored before (by `id`).
    pub duplicates: u64,
    /// Stored interactions that arrived more than an hour after they occurred (counted on the
    /// Data health dashboard).
    pub late: u64,
}

/// A dataset's metadata.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetView {
    /// Always `dataset`.
    #[schema(example = "dataset")]
    pub object: String,
    pub code: crate::domain::Code,
    pub row_count: u64,
    pub columns: Vec<ColumnMeta>,
    pub format: crate::domain::DatasetFormat,
    pub size_bytes: u64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: u64,
}

/// A page of a dataset's rows, each an object keyed by column name.
#[derive(Debug, Serialize, ToSchema)]
pub struct DatasetRows {
    /// Always `list`.
    #[schema(example = "list")]
    pub object: String,
    pub columns: Vec<ColumnMeta>,
    pub data: Vec<Map<String, Value>>,
    pub has_more: bool,
    pub next_cursor: Option<String>,
}

/// Whether anything makes schedules fire, and when it last did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CronStatusView {
    /// Always `cron_status`.
    #[schema(example = "cron_status")]
    pub object: String,
    /// The tick is enabled and ran in the last five minutes.
    pub ok: bool,
    pub tick: TickWiring,
    pub last_tick_at: Option<DateTime<Utc>>,
    pub ticking: bool,
}

/// A workspace's settings; the SMTP password reads as `********`.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceSettingsView {
    /// Always `workspace_settings`.
    #[schema(example = "workspace_settings")]
    pub object: String,
    pub workspace_id: WorkspaceId,
    /// Send it back as `version` to change the settings only if nobody changed them meanwhile.
    pub version: u64,
    #[serde(flatten)]
    pub settings: WorkspaceSettings,
}

/// A run after it was cancelled.
#[derive(Debug, Serialize, ToSchema)]
pub struct CancelledRunView {
    #[serde(flatten)]
    pub run: RunView,
    /// Entries this call cancelled (0 when the run was already cancelled).
    pub cancelled_entries: u64,
}

/// An entry's record, after a review decision.
#[derive(Debug, Serialize, ToSchema)]
pub struct EntryRecordView {
    /// Always `run_entry`.
    #[schema(example = "run_entry")]
    pub object: String,
    #[serde(flatten)]
    pub entry: Entry,
}

/// What a bulk approval did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunApprovalView {
    /// Always `run_approval`.
    #[schema(example = "run_approval")]
    pub object: String,
    pub run_id: RunId,
    /// Entries approved (their deliveries queued).
    pub approved: u64,
    /// Entries left as they are, with their status.
    pub skipped: Vec<SkippedEntry>,
}

/// What a bulk rejection did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RunRejectionView {
    /// Always `run_rejection`.
    #[schema(example = "run_rejection")]
    pub object: String,
    pub run_id: RunId,
    /// Entries rejected (cancelled, their files kept).
    pub rejected: u64,
    /// Entries left as they are, with their status.
    pub skipped: Vec<SkippedEntry>,
}

/// What the approvals expiry did.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalsExpiryView {
    /// Always `approvals_expiry`.
    #[schema(example = "approvals_expiry")]
    pub object: String,
    /// True when no workspace had errors.
    pub ok: bool,
    /// Entries held since this instant or earlier were expired.
    pub cutoff: DateTime<Utc>,
    pub max_age_hours: u32,
    pub expired: u64,
    pub workspaces: Vec<WorkspaceExpiryView>,
}

/// The approvals expiry in one workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceExpiryView {
    pub workspace_id: WorkspaceId,
    pub expired: u64,
    /// Entries that could not be expired, and why (tried again next time).
    pub errors: Vec<String>,
}

/// A job (a report) as the seed's job list shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobView {
    /// Always `job`.
    #[schema(example = "job")]
    pub object: String,
    pub id: ReportId,
    pub code: Code,
    pub name: Name,
    pub description: Option<String>,
    pub enabled: bool,
    /// The job fires by itself: its scheduled generation is on and it has an enabled schedule.
    pub scheduled: bool,
    pub hold_for_review: bool,
}

/// The run a job run request started.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRunView {
    /// Always `job_run`.
    #[schema(example = "job_run")]
    pub object: String,
    #[serde(rename = "jobRunId")]
    pub job_run_id: RunId,
}

/// The seed's `JobRunStatus`.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRunStatusView {
    /// Always `job_run_status`.
    #[schema(example = "job_run_status")]
    pub object: String,
    /// True when no entry is queued or running.
    pub finished: bool,
    /// Entries in the run.
    pub entries: u64,
    pub status: JobRunBuckets,
}

/// Entry counts by bucket.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobRunBuckets {
    pub queued: u64,
    pub completed: u64,
    pub errors: u64,
    pub review: u64,
}

/// A review document was asked for.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemporaryFileRequestView {
    /// Always `temporary_file_request`.
    #[schema(example = "temporary_file_request")]
    pub object: String,
    #[serde(rename = "temporaryFileId")]
    pub temporary_file_id: TemporaryFileId,
}

/// A temporary file: its status, and a download link once ready.
#[derive(Debug, Serialize, ToSchema)]
pub struct TemporaryFileView {
    /// Always `temporary_file`.
    #[schema(example = "temporary_file")]
    pub object: String,
    pub id: TemporaryFileId,
    pub workspace_id: WorkspaceId,
    pub run_id: RunId,
    pub status: TemporaryFileStatus,
    pub file_name: String,
    pub content_type: String,
    pub size: Option<u64>,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub version: u64,
    /// A signed link to the file (once ready).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

/// A suppressed email address.
#[derive(Debug, Serialize, ToSchema)]
pub struct SuppressionView {
    /// Always `suppression`.
    #[schema(example = "suppression")]
    pub object: String,
    #[serde(flatten)]
    pub suppression: Suppression,
}
