//! Reports (templates): typed parameters, data sources (shared or the one repeating source),
//! sections, output formats, narrative and deliveries. `Report::validate` reports every
//! problem with a field path so the API can answer with all of them at once.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use chrono_tz::Tz;

use super::relative_date::{self, RelativeDate, RelativeTime, RunTime};
use super::{Code, DestinationId, FieldError, Ident, Name, ReportId, ValidationErrors, WorkspaceId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Report {
    pub id: ReportId,
    pub workspace_id: WorkspaceId,
    pub code: Code,
    pub name: Name,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default = "super::values::default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub parameters: Vec<Parameter>,
    #[serde(default)]
    pub sources: Vec<SourceSpec>,
    #[serde(default)]
    pub sections: Vec<Section>,
    pub formats: Vec<Format>,
    /// Paper size and orientation of the PDF.
    #[serde(default)]
    pub page: PageSetup,
    #[serde(default)]
    pub narrative: Narrative,
    #[serde(default)]
    pub deliveries: Vec<DeliverySpec>,
    /// Seed `003`'s "Enable scheduled generation": off, the report runs only when asked (Run
    /// now, the API) and its schedules record their slots as paused, with the reason.
    #[serde(default = "super::values::default_true")]
    pub scheduled: bool,
    /// Entries wait in `PendingReview` for approval before any delivery fires.
    #[serde(default)]
    pub hold_for_review: bool,
    /// Other saved reports each entry also runs, in order, after this report's own sections
    /// (seed `003`: "a cover page plus a financial detail plus a KPI summary" in one job).
    /// Each makes its own files; one failing does not stop the others.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub includes: Vec<IncludedReport>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(default)]
    pub version: u64,
}

impl Report {
    /// A report with nothing in it yet: no sources or sections, PDF output, narration on.
    pub fn new(id: ReportId, workspace_id: WorkspaceId, code: Code, name: Name, now: DateTime<Utc>) -> Self {
        Report {
            id,
            workspace_id,
            code,
            name,
            description: None,
            enabled: true,
            parameters: vec![],
            sources: vec![],
            sections: vec![],
            formats: vec![Format::Pdf],
            page: PageSetup::default(),
            narrative: Narrative::default(),
            deliveries: vec![],
            scheduled: true,
            hold_for_review: false,
            includes: vec![],
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// The repeating source, if one is marked.
    pub fn repeating_source(&self) -> Option<&SourceSpec> {
        self.sources.iter().find(|s| s.role == SourceRole::Repeating)
    }

    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        if self.formats.is_empty() {
            errors.push(FieldError::new("formats", "pick at least one of pdf, csv, markdown, html"));
        }
        if self.formats.iter().collect::<BTreeSet<_>>().len() != self.formats.len() {
            errors.push(FieldError::new("formats", "must not repeat a format"));
        }
        if self.description.as_ref().is_some_and(|d| d.len() > 2_000) {
            errors.push(FieldError::new("description", "must be at most 2000 characters"));
        }

        unique_names(self.parameters.iter().map(|p| &p.name), "parameters", &mut errors);
        for (i, p) in self.parameters.iter().enumerate() {
            if let Some(default) = &p.default
                && let Err(message) = p.kind.check(default)
            {
                errors.push(FieldError::new(format!("parameters[{i}].default"), message));
            }
            if let Some(column) = &p.from_row {
                if column.trim().is_empty() {
                    errors.push(FieldError::new(format!("parameters[{i}].from_row"), "must name a column"));
                } else if self.repeating_source().is_none() {
                    errors.push(FieldError::new(
                        format!("parameters[{i}].from_row"),
                        "needs a repeating source whose rows give the value",
                    ));
                }
            }
        }

        unique_names(self.sources.iter().map(|s| &s.name), "sources", &mut errors);
        let repeating = self.sources.iter().filter(|s| s.role == SourceRole::Repeating).count();
        if repeating > 1 {
            errors.push(FieldError::new("sources", "at most one source may be repeating"));
        }
        for (i, s) in self.sources.iter().enumerate() {
            s.check(&format!("sources[{i}]"), &mut errors);
        }

        let source_names: BTreeSet<&str> = self.sources.iter().map(|s| s.name.as_str()).collect();
        for (i, section) in self.sections.iter().enumerate() {
            if let Some(source) = section.kind.source()
                && !source_names.contains(source.as_str())
            {
                errors.push(FieldError::new(format!("sections[{i}].source"), format!("no source is named `{source}`")));
            }
        }

        for (i, include) in self.includes.iter().enumerate() {
            if include.report.trim().is_empty() {
                errors.push(FieldError::new(format!("includes[{i}].report"), "must name a saved report"));
            } else if include.report == self.code.as_str() || include.report == self.id.to_string() {
                errors.push(FieldError::new(format!("includes[{i}].report"), "a report cannot include itself"));
            }
            for (name, binding) in &include.bindings {
                match binding {
                    Binding::Param(p) if !self.parameters.iter().any(|q| q.name.as_str() == p) => {
                        errors.push(FieldError::new(
                            format!("includes[{i}].bindings.{name}"),
                            format!("no parameter is named `{p}`"),
                        ))
                    }
                    Binding::Row(_) if self.repeating_source().is_none() => errors.push(FieldError::new(
                        format!("includes[{i}].bindings.{name}"),
                        "a row binding needs a repeating source",
                    )),
                    _ => {}
                }
            }
        }
        if self.includes.len() > 10 {
            errors.push(FieldError::new("includes", "at most 10 reports can be included"));
        }

        if self.prompt_addendum_len() > 2_000 {
            errors.push(FieldError::new("narrative.prompt_addendum", "must be at most 2000 characters"));
        }
        for (i, d) in self.deliveries.iter().enumerate() {
            if d.subject.as_ref().is_some_and(|s| s.trim().is_empty()) {
                errors.push(FieldError::new(format!("deliveries[{i}].subject"), "must not be blank"));
            }
        }
        ValidationErrors::into_result(errors)
    }

    fn prompt_addendum_len(&self) -> usize {
        self.narrative.prompt_addendum.as_deref().map_or(0, str::len)
    }
}

fn unique_names<'a>(names: impl Iterator<Item = &'a Ident>, field: &str, errors: &mut Vec<FieldError>) {
    let mut seen = BTreeSet::new();
    for (i, name) in names.enumerate() {
        if !seen.insert(name.as_str()) {
            errors.push(FieldError::new(format!("{field}[{i}].name"), format!("`{name}` is used twice")));
        }
    }
}

/// A typed input of a report (seed `003`, step 2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Parameter {
    pub name: Ident,
    #[serde(rename = "type")]
    pub kind: ParamType,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub description: Option<String>,
    /// A column of the repeating row that gives each entry its value (seed `003`: "bind the
    /// `customerId` parameter to the repeating row's `id`"); the run's value otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_row: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParamType {
    String,
    Number,
    /// `YYYY-MM-DD`, or (as a default or a run's value) a derived date such as
    /// `start_of_month`, worked out when the run starts.
    Date,
    /// An instant: RFC 3339, a wall-clock `YYYY-MM-DDTHH:MM[:SS]` of the run's timezone, or a
    /// derived time such as `now` or `start_of_day`, worked out when the run starts and
    /// recorded in RFC 3339 with the zone's offset.
    #[serde(rename = "datetime")]
    DateTime,
    Boolean,
}

impl ParamType {
    /// Checks that `value` has this type.
    pub fn check(self, value: &Value) -> Result<(), String> {
        let text = value.as_str();
        let ok = match self {
            ParamType::String => value.is_string(),
            ParamType::Number => value.is_number(),
            ParamType::Boolean => value.is_boolean(),
            ParamType::Date => text
                .is_some_and(|s| NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() || s.parse::<RelativeDate>().is_ok()),
            ParamType::DateTime => text.is_some_and(|s| {
                s.parse::<RelativeTime>().is_ok()
                    || relative_date::parse_instant(s, RunTime::new(DateTime::UNIX_EPOCH, Tz::UTC)).is_some()
            }),
        };
        if ok {
            Ok(())
        } else {
            Err(match self {
                ParamType::String => "must be a string".into(),
                ParamType::Number => "must be a number".into(),
                ParamType::Boolean => "must be true or false".into(),
                ParamType::Date => format!("must be {}", relative_date::expected()),
                ParamType::DateTime => format!("must be {}", relative_date::expected_instant()),
            })
        }
    }

    /// The value a run at `time` uses for `value` (already [checked](Self::check)): a derived
    /// date or time worked out for the run, a datetime in RFC 3339 with the run's zone offset,
    /// anything else as it is.
    pub fn resolve(self, value: &Value, time: RunTime) -> Value {
        let Some(text) = value.as_str() else { return value.clone() };
        match self {
            ParamType::Date => match text.parse::<RelativeDate>() {
                Ok(rule) => Value::String(rule.on(time.day()).format("%Y-%m-%d").to_string()),
                Err(()) => value.clone(),
            },
            ParamType::DateTime => {
                let at = text.parse::<RelativeTime>().map(|rule| rule.at(time)).ok();
                match at.or_else(|| relative_date::parse_instant(text, time)) {
                    Some(at) => Value::String(time.format(at)),
                    None => value.clone(),
                }
            }
            _ => value.clone(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SourceRole {
    /// Same rows for every entry of the run.
    #[default]
    Shared,
    /// One entry per row.
    Repeating,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SourceSpec {
    /// The key the rows are bound to in templates and conditions (`{customers.email}`).
    pub name: Ident,
    #[serde(default)]
    pub role: SourceRole,
    #[serde(flatten)]
    pub kind: SourceKind,
    /// How the rows are named for people: prose and tables then say the name where the rows
    /// hold an id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<SourceLabel>,
}

/// The names of a source's rows: a column of the rows themselves (`customer_name`), or one
/// looked up in a dataset by each row's id (the `offers` dataset's `name` where its `id`
/// equals the row's `offer_id`). Where a row has a name, the narrative and the tables show
/// it instead of the id; a row without one keeps its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceLabel {
    /// The column holding the names: one of the rows', or the dataset's when `dataset` is set.
    #[schema(min_length = 1, max_length = 128)]
    pub column: String,
    /// The column holding the id each name stands for. Defaults to the column that names the
    /// subjects of the interaction analytics (`offer_id`, `channel`); other sources set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(min_length = 1, max_length = 128)]
    pub id: Option<String>,
    /// A dataset to look the names up in, by its `key` column. The name is added to the rows
    /// as a column called after the id (`offer_id` → `offer_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<Code>,
    /// The dataset's column matched against the row's id.
    #[serde(default = "default_label_key")]
    #[schema(min_length = 1, max_length = 128)]
    pub key: String,
}

fn default_label_key() -> String {
    "id".into()
}

impl SourceLabel {
    fn check(&self, field: &str, kind: &SourceKind, errors: &mut Vec<FieldError>) {
        let is_column = |c: &str| !c.trim().is_empty() && c.len() <= 128;
        if !is_column(&self.column) {
            errors.push(FieldError::new(format!("{field}.column"), "must name a column (1 to 128 characters)"));
        }
        if self.id.as_deref().is_some_and(|c| !is_column(c)) {
            errors.push(FieldError::new(format!("{field}.id"), "must name a column (1 to 128 characters)"));
        }
        if !is_column(&self.key) {
            errors.push(FieldError::new(format!("{field}.key"), "must name a column (1 to 128 characters)"));
        }
        let analytics = matches!(kind, SourceKind::OfferPerformance { .. } | SourceKind::ChannelEffectiveness { .. });
        if self.dataset.is_some() && self.id.is_none() && !analytics {
            errors.push(FieldError::new(
                format!("{field}.id"),
                "name the column holding the ids the dataset's names stand for",
            ));
        }
    }
}

/// The analytics period of the interaction sources (seeds `000`/`001`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
pub enum Period {
    #[serde(rename = "today")]
    Today,
    #[default]
    #[serde(rename = "7d")]
    Days7,
    #[serde(rename = "14d")]
    Days14,
    #[serde(rename = "30d")]
    Days30,
    #[serde(rename = "90d")]
    Days90,
}

/// The part of the interactions an analytics source counts (seed `001`'s dashboard segment):
/// one channel, one kind of offer, the customers a dataset picks, or any of them together;
/// everything when empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<super::Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offer_kind: Option<super::OfferKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customers: Option<CustomerSegment>,
}

/// Customers picked by a column of a dataset joined on their id: `{"dataset": "customers",
/// "column": "tier", "equals": "gold"}`. `equals` may be a `{param}`; when it is empty or null
/// after filling, every customer counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerSegment {
    pub dataset: Code,
    /// The dataset's column holding the customer ids interactions carry (`id` unless said).
    #[serde(default = "default_label_key")]
    pub key: String,
    pub column: String,
    /// A string, number or boolean (or `{param}`).
    pub equals: Value,
}

impl Segment {
    pub fn is_all(&self) -> bool {
        self.channel.is_none() && self.offer_kind.is_none() && self.customers.is_none()
    }

    /// Whether a summary of `channel` and `offer_kind` is in the segment (its customers are
    /// chosen when the interactions are read).
    pub fn holds(&self, channel: Option<super::Channel>, offer_kind: Option<super::OfferKind>) -> bool {
        self.channel.is_none_or(|c| channel == Some(c)) && self.offer_kind.is_none_or(|k| offer_kind == Some(k))
    }

    /// The segment in words, for a row set's note (`email only, bogo offers only, customers
    /// whose tier is gold`).
    pub fn describe(&self) -> Option<String> {
        let channel = self.channel.map(|c| format!("{} only", c.as_str()));
        let kind = self.offer_kind.map(|k| format!("{} offers only", k.as_str()));
        let customers = self.customers.as_ref().map(|c| {
            let value = match &c.equals {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            format!("customers whose {} is {value}", c.column)
        });
        let parts: Vec<String> = channel.into_iter().chain(kind).chain(customers).collect();
        (!parts.is_empty()).then(|| parts.join(", "))
    }

    fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
        let Some(customers) = &self.customers else { return };
        let is_column = |c: &str| !c.trim().is_empty() && c.len() <= 128;
        for (name, column) in [("key", &customers.key), ("column", &customers.column)] {
            if !is_column(column) {
                errors.push(FieldError::new(
                    format!("{field}.customers.{name}"),
                    "must name a column (1 to 128 characters)",
                ));
            }
        }
        if customers.equals.is_array() || customers.equals.is_object() {
            errors.push(FieldError::new(
                format!("{field}.customers.equals"),
                "must be a string, number, boolean or null",
            ));
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SourceKind {
    /// Offers over the period against the one before. A period of days ends with the last
    /// complete day (the day before the run's day) unless `include_today` asks for the day so
    /// far; `today` is the run's day itself.
    OfferPerformance {
        #[serde(default)]
        period: Period,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        include_today: bool,
        #[serde(default, skip_serializing_if = "Segment::is_all")]
        segment: Segment,
    },
    /// Channels over the period against the one before, counted as offers are.
    ChannelEffectiveness {
        #[serde(default)]
        period: Period,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        include_today: bool,
        #[serde(default, skip_serializing_if = "Segment::is_all")]
        segment: Segment,
    },
    /// What ingest took in by day of the run's timezone over the period (Data health):
    /// batches, refused and late ones, interactions received, duplicates and late ones. Every
    /// day of the period has a row, so a day nothing arrived shows as zeros.
    IngestHealth {
        #[serde(default)]
        period: Period,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        include_today: bool,
    },
    /// One row on how fresh the stored data is (Data health): when an interaction last
    /// arrived, the latest quarter-hour the summaries count, and how far the interaction
    /// export is behind.
    DataFreshness {},
    /// Rows the workspace uploaded, optionally only those whose columns equal the given values
    /// (`{"region": "{region}"}`: `{name}` is a run parameter).
    Dataset {
        dataset: Code,
        #[serde(default, skip_serializing_if = "Map::is_empty")]
        filter: Map<String, Value>,
    },
    /// A JSON endpoint; `{param}` placeholders in the URL are filled from parameters.
    Http {
        url: String,
        #[serde(default)]
        header_name: Option<String>,
        #[serde(default)]
        header_secret: Option<super::Secret>,
        #[serde(default = "default_http_timeout_ms")]
        timeout_ms: u32,
        #[serde(default = "default_http_max_bytes")]
        max_bytes: u32,
    },
    /// Rows written in the report itself.
    Inline { rows: Vec<Map<String, Value>> },
    /// One read-only SQL statement on a connection; the built-in `datasets` connection runs it
    /// over the workspace's uploaded datasets as tables. `{name}` placeholders are bound
    /// parameters; `[[ … ]]` clauses drop out when a parameter in them has no value.
    Sql {
        connection: String,
        #[schema(min_length = 1, max_length = 100000)]
        query: String,
    },
}

/// Whether `{param}` placeholders could choose where a URL template sends its request.
fn placeholder_in_origin(url: &str) -> bool {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    scheme.contains('{') || authority.contains('{')
}

fn default_http_timeout_ms() -> u32 {
    10_000
}

fn default_http_max_bytes() -> u32 {
    5 * 1024 * 1024
}

impl SourceSpec {
    /// Checks a source used on its own (an alert rule's), naming fields under `field`.
    pub fn validate_alone(&self, field: &str) -> Result<(), ValidationErrors> {
        let mut errors = Vec::new();
        self.check(field, &mut errors);
        ValidationErrors::into_result(errors)
    }

    fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
        self.kind.check(field, errors);
        if let Some(label) = &self.label {
            label.check(&format!("{field}.label"), &self.kind, errors);
        }
    }
}

impl SourceKind {
    fn check(&self, field: &str, errors: &mut Vec<FieldError>) {
        match self {
            SourceKind::Http { url, timeout_ms, max_bytes, header_name, header_secret } => {
                if !(url.starts_with("https://") || url.starts_with("http://")) {
                    errors.push(FieldError::new(format!("{field}.url"), "must be an http(s) URL"));
                }
                if !(100..=60_000).contains(timeout_ms) {
                    errors.push(FieldError::new(format!("{field}.timeout_ms"), "must be between 100 and 60000"));
                }
                if !(1..=50 * 1024 * 1024).contains(max_bytes) {
                    errors.push(FieldError::new(format!("{field}.max_bytes"), "must be between 1 byte and 50 MiB"));
                }
                if let Some(name) = header_name
                    && http::HeaderName::from_bytes(name.as_bytes()).is_err()
                {
                    errors.push(FieldError::new(format!("{field}.header_name"), "must be an HTTP header name"));
                }
                if header_name.is_some() && placeholder_in_origin(url) {
                    errors.push(FieldError::new(
                        format!("{field}.url"),
                        "parameters may fill the path and query of a source that sends a header secret, \
                         not its scheme, host or port",
                    ));
                }
                if header_name.is_some() != header_secret.is_some() {
                    errors.push(FieldError::new(
                        format!("{field}.header_secret"),
                        "header_name and header_secret go together",
                    ));
                }
            }
            SourceKind::Sql { connection, query } => {
                if connection.trim().is_empty() || connection.len() > 64 {
                    errors.push(FieldError::new(
                        format!("{field}.connection"),
                        "must name a connection of the workspace (`datasets`: the workspace's uploaded datasets)",
                    ));
                }
                if query.trim().is_empty() || query.chars().count() > 100_000 {
                    errors.push(FieldError::new(format!("{field}.query"), "must be 1 to 100000 characters"));
                }
            }
            SourceKind::OfferPerformance { segment, .. } | SourceKind::ChannelEffectiveness { segment, .. } => {
                segment.check(&format!("{field}.segment"), errors);
            }
            SourceKind::Inline { rows } if rows.len() > 10_000 => {
                errors.push(FieldError::new(format!("{field}.rows"), "at most 10000 inline rows"));
            }
            SourceKind::Dataset { filter, .. } => {
                for (column, wanted) in filter {
                    if column.is_empty() || column.len() > 128 {
                        errors.push(FieldError::new(format!("{field}.filter"), "column names are 1 to 128 characters"));
                    }
                    if wanted.is_array() || wanted.is_object() {
                        errors.push(FieldError::new(
                            format!("{field}.filter.{column}"),
                            "must be a string, number, boolean or null",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Section {
    #[serde(default)]
    pub title: Option<String>,
    #[serde(flatten)]
    pub kind: SectionKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SectionKind {
    Kpi {
        source: Ident,
        tiles: Vec<KpiTile>,
    },
    Table {
        source: Ident,
        #[serde(default)]
        columns: Vec<Column>,
        #[serde(default)]
        sort: Option<SortSpec>,
        #[serde(default)]
        totals: bool,
    },
    Chart {
        source: Ident,
        chart: ChartKind,
        x: String,
        y: Vec<String>,
    },
    Text {
        markdown: String,
    },
}

impl SectionKind {
    pub fn source(&self) -> Option<&Ident> {
        match self {
            SectionKind::Kpi { source, .. } | SectionKind::Table { source, .. } | SectionKind::Chart { source, .. } => {
                Some(source)
            }
            SectionKind::Text { .. } => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct KpiTile {
    pub label: String,
    pub column: String,
    #[serde(default)]
    pub aggregate: Aggregate,
    #[serde(default)]
    pub format: ValueFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    #[default]
    Sum,
    Avg,
    Min,
    Max,
    Count,
    First,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Column {
    pub key: String,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub format: ValueFormat,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ValueFormat {
    #[default]
    Text,
    Number {
        #[serde(default)]
        #[schema(minimum = 0, maximum = 255)]
        decimals: u8,
    },
    Currency {
        code: String,
    },
    Percent {
        #[serde(default = "one")]
        #[schema(minimum = 0, maximum = 255)]
        decimals: u8,
    },
    Date,
}

fn one() -> u8 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SortSpec {
    pub column: String,
    #[serde(default)]
    pub descending: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    Bar,
    Line,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Pdf,
    Csv,
    Markdown,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(default)]
pub struct PageSetup {
    pub size: PaperSize,
    pub orientation: Orientation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaperSize {
    #[default]
    A4,
    Letter,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Orientation {
    #[default]
    Portrait,
    Landscape,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default)]
pub struct Narrative {
    pub enabled: bool,
    pub prompt_addendum: Option<String>,
}

impl Default for Narrative {
    fn default() -> Self {
        Self { enabled: true, prompt_addendum: None }
    }
}

/// A saved report run for each entry of another one, with its parameters bound.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncludedReport {
    /// The saved report's id or code.
    pub report: String,
    /// Values of its parameters, by parameter name; the others take their defaults.
    #[serde(default)]
    pub bindings: std::collections::BTreeMap<String, Binding>,
}

/// Where an included report's parameter gets its value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Binding {
    /// A parameter of the including report (`{"param": "period"}`).
    Param(String),
    /// A column of the entry's repeating row (`{"row": "id"}`).
    Row(String),
    /// A fixed value (`{"value": "2026-05-01"}`).
    Value(Value),
}

impl utoipa::PartialSchema for Binding {
    /// One of `{"param": name}`, `{"row": column}`, `{"value": any}`, and nothing else.
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Type};
        let variant = |name: &str, about: &str, string: bool| {
            let value = if string { ObjectBuilder::new().schema_type(Type::String) } else { ObjectBuilder::new() };
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some(about))
                .property(name, value)
                .required(name)
                .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        };
        OneOfBuilder::new()
            .item(variant("param", "A parameter of the including report (`{\"param\": \"period\"}`)", true))
            .item(variant("row", "A column of the entry's repeating row (`{\"row\": \"id\"}`)", true))
            .item(variant("value", "A fixed value (`{\"value\": \"2026-05-01\"}`)", false))
            .description(Some("Where an included report's parameter gets its value"))
            .into()
    }
}

impl utoipa::ToSchema for Binding {}

impl Binding {
    /// The bound value for an entry, if it has one.
    pub fn resolve(&self, parameters: &Map<String, Value>, row: Option<&Map<String, Value>>) -> Option<Value> {
        let value = match self {
            Binding::Param(name) => parameters.get(name).cloned(),
            Binding::Row(column) => row.and_then(|r| r.get(column)).cloned(),
            Binding::Value(value) => Some(value.clone()),
        };
        value.filter(|v| !v.is_null())
    }
}

/// One delivery of a report: a destination plus the fields templated from the row, and an
/// optional condition (`{row.email} != null && {row.email} != ""`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliverySpec {
    pub destination_id: DestinationId,
    #[serde(default)]
    pub to: Vec<String>,
    #[serde(default)]
    pub cc: Vec<String>,
    #[serde(default)]
    pub bcc: Vec<String>,
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    /// File name pattern for S3 (and attachment names), e.g. `{customers.id}-{run.date}.pdf`.
    #[serde(default)]
    pub naming_pattern: Option<String>,
    /// Empty or absent means always deliver.
    #[serde(default)]
    pub condition: Option<String>,
}

impl DeliverySpec {
    /// Whether the recipients come from the data (`{customers.email}`, `{row.email}`): people
    /// outside the workspace, such as a customer receiving a statement, who get the report
    /// without any link into Herald.
    pub fn addressed_from_data(&self) -> bool {
        self.to.iter().chain(&self.cc).chain(&self.bcc).any(|address| address.contains('{'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn report(json: Value) -> Report {
        let mut json = json;
        if json.get("formats").is_none() {
            json["formats"] = json!(["pdf", "csv"]);
        }
        crate::testing::fixtures::report_json(json)
    }

    #[test]
    fn the_weekly_digest_of_seed_000_is_valid() {
        let r = report(json!({
            "sources": [
                {"name": "offers", "type": "offer_performance", "period": "7d"},
                {"name": "channels", "type": "channel_effectiveness"}
            ],
            "sections": [
                {"type": "table", "source": "offers", "title": "Offer performance"},
                {"type": "chart", "source": "channels", "chart": "bar", "x": "channel", "y": ["completions"]}
            ],
            "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >15% week-over-week drop."}
        }));
        r.validate().unwrap();
        assert!(r.repeating_source().is_none());
        assert_eq!(r.narrative.prompt_addendum.as_deref(), Some("Flag any offer with >15% week-over-week drop."));
    }

    #[test]
    fn a_customer_segment_names_its_columns_and_takes_only_a_plain_value() {
        let r = report(json!({
            "sources": [
                {"name": "offers", "type": "offer_performance",
                 "segment": {"customers": {"dataset": "customers", "column": " ", "equals": ["gold"]}}},
                {"name": "channels", "type": "channel_effectiveness",
                 "segment": {"customers": {"dataset": "customers", "key": "customer_id", "column": "tier", "equals": "{tier}"}}}
            ],
            "parameters": [{"name": "tier", "type": "string"}]
        }));
        let fields: Vec<String> = r.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["sources[0].segment.customers.column", "sources[0].segment.customers.equals"]);
    }

    #[test]
    fn every_structural_problem_is_reported_with_its_path() {
        let r = report(json!({
            "formats": [],
            "parameters": [
                {"name": "period", "type": "date", "default": "next_tuesday"},
                {"name": "period", "type": "string"}
            ],
            "sources": [
                {"name": "customers", "role": "repeating", "type": "dataset", "dataset": "customers"},
                {"name": "others", "role": "repeating", "type": "inline", "rows": []}
            ],
            "sections": [{"type": "table", "source": "missing"}]
        }));
        let errors = r.validate().unwrap_err().0;
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["formats", "parameters[1].name", "parameters[0].default", "sources", "sections[0].source"]);
    }

    #[test]
    fn parameters_cannot_choose_the_host_a_header_secret_goes_to() {
        for (url, refused) in [
            ("https://{host}/data", true),
            ("{scheme}://api.example.com/data", true),
            ("https://api.example.com:{port}/data", true),
            ("https://user{x}@api.example.com/data", true),
            ("https://api.example.com/{customer_id}/data?period={period}", false),
        ] {
            let r = report(json!({"sources": [
                {"name": "api", "type": "http", "url": url, "header_name": "X-Key", "header_secret": "k"}
            ]}));
            let fields: Vec<_> =
                r.validate().err().map(|e| e.0).unwrap_or_default().into_iter().map(|e| e.field).collect();
            assert_eq!(fields.contains(&"sources[0].url".to_string()), refused, "{url}");
        }
    }

    #[test]
    fn parameter_types_check_their_values() {
        assert!(ParamType::Date.check(&json!("2026-05-01")).is_ok());
        assert!(ParamType::Date.check(&json!("2026-13-01")).is_err());
        assert!(ParamType::Number.check(&json!(3.5)).is_ok());
        assert!(ParamType::Boolean.check(&json!("true")).is_err());
        for ok in ["2026-05-01T09:00:00Z", "2026-05-01T09:00:00.250+05:45", "2026-05-01T09:00", "now", "end_of_day"] {
            assert!(ParamType::DateTime.check(&json!(ok)).is_ok(), "{ok}");
        }
        for bad in [json!("2026-05-01"), json!("2026-05-01T25:00"), json!("tomorrow"), json!(1_700_000_000)] {
            let message = ParamType::DateTime.check(&bad).unwrap_err();
            assert!(message.starts_with("must be an instant (RFC 3339"), "{bad}: {message}");
        }
    }

    #[test]
    fn a_datetime_parameter_is_recorded_in_rfc3339_with_the_offset_of_the_run_zone() {
        let kind: ParamType = serde_json::from_value(json!("datetime")).unwrap();
        assert_eq!(kind, ParamType::DateTime);
        let time = RunTime::new("2026-07-01T06:00:00Z".parse().unwrap(), chrono_tz::Europe::Paris);
        assert_eq!(kind.resolve(&json!("start_of_day"), time), json!("2026-07-01T00:00:00+02:00"));
        assert_eq!(kind.resolve(&json!("2026-07-01T09:00"), time), json!("2026-07-01T09:00:00+02:00"));
        assert_eq!(kind.resolve(&json!("2026-07-01T09:00:00Z"), time), json!("2026-07-01T11:00:00+02:00"));
        assert_eq!(ParamType::Date.resolve(&json!("end_of_previous_day"), time), json!("2026-06-30"));
        assert_eq!(ParamType::String.resolve(&json!("now"), time), json!("now"));
    }
}
