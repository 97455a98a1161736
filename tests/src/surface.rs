//! The API surface as the served OpenAPI document describes it, for tests that go over every
//! operation: the operations with their security schemes and request bodies, a workspace
//! holding one real resource of every kind the paths name (so path parameters can be filled
//! with ids that exist), and a snapshot of the workspace's state to prove a refused request
//! changed nothing.

use std::collections::BTreeMap;

use herald_core::domain::WorkspaceId;
use herald_core::store::PageRequest;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::TestServer;

/// The address of the document.
pub const DOCUMENT: &str = "/swagger/v1/swagger.json";

/// A well-formed id that names nothing.
pub const UNKNOWN_ID: &str = "01ARZ3NDEKTSV4RRFFQ69G5FAV";

/// One operation of the document.
#[derive(Debug, Clone)]
pub struct Operation {
    pub id: String,
    pub method: Method,
    /// The path template, e.g. `/api/v1/ws/{workspace}/reports/{report}`.
    pub template: String,
    /// The security schemes any of which the operation accepts.
    pub schemes: Vec<String>,
    /// The media types of the request body, if it has one.
    pub body_types: Vec<String>,
    /// The schema of the JSON request body, if it takes JSON.
    pub json_schema: Option<Value>,
}

impl Operation {
    /// Whether the operation changes something (by its method).
    pub fn writes(&self) -> bool {
        self.method != Method::GET
    }

    pub fn uses(&self, scheme: &str) -> bool {
        self.schemes.iter().any(|s| s == scheme)
    }

    /// The names of the path's parameters.
    pub fn parameters(&self) -> Vec<&str> {
        self.template
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(|s| s.trim_start_matches('*'))
            .collect()
    }
}

/// The served document.
pub async fn document(s: &TestServer) -> Value {
    let r = s.client.get(format!("{}{DOCUMENT}", s.url)).send().await.expect("document");
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.expect("JSON document")
}

/// Every operation of the document, in document order.
pub fn operations(doc: &Value) -> Vec<Operation> {
    let methods = [Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE];
    let mut found = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for method in &methods {
            let Some(op) = item.get(method.as_str().to_lowercase()) else { continue };
            let schemes = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_object)
                .flat_map(|requirement| requirement.keys().cloned())
                .collect();
            let content = op["requestBody"]["content"].as_object();
            found.push(Operation {
                id: op["operationId"].as_str().expect("operationId").to_owned(),
                method: method.clone(),
                template: template.clone(),
                schemes,
                body_types: content.into_iter().flat_map(|c| c.keys().cloned()).collect(),
                json_schema: content.and_then(|c| c.get("application/json")).map(|c| c["schema"].clone()),
            });
        }
    }
    found
}

/// `schema` with its `$ref` followed (one level of the document's components).
pub fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            resolve(doc, &doc["components"]["schemas"][reference.trim_start_matches("#/components/schemas/")])
        }
        None => schema,
    }
}

/// What is wrong with `body` as an error envelope with `code`.
pub fn envelope_problems(body: &Value, code: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if body["error"]["code"] != code {
        problems.push(format!("error.code is {} instead of `{code}`", body["error"]["code"]));
    }
    if body["error"]["message"].as_str().is_none_or(str::is_empty) {
        problems.push("error.message is missing".into());
    }
    if body["request_id"].as_str().is_none_or(str::is_empty) {
        problems.push("request_id is missing".into());
    }
    problems
}

/// Real resources of the server's workspace, one of each kind a path can name.
#[derive(Debug, Clone)]
pub struct World {
    pub report: String,
    pub report_id: String,
    pub schedule: String,
    /// A scheduled report (seed `004`: another schedule of the report) and its configuration.
    pub scheduled_report: String,
    pub configuration: String,
    pub destination: String,
    pub run: String,
    /// An entry still waiting for review.
    pub pending_entry: String,
    pub delivery: String,
    pub dataset: String,
    /// A token that is neither the admin's nor one the tests call with.
    pub spare_token: String,
    pub suppression: String,
    pub temporary_file: String,
    pub connection: String,
    pub alert_rule: String,
    /// The names of the resources (a refusal must not show them).
    pub names: Vec<String>,
}

async fn created(r: reqwest::Response, what: &str) -> Value {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "creating {what}: {status} {body}");
    body
}

fn text(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("a string: {v}")).to_owned()
}

impl World {
    /// Creates the resources through the API (the workers must be running) and waits until
    /// nothing is left in flight.
    pub async fn create(s: &TestServer) -> World {
        let destination = created(
            s.post(&s.ws("/destinations"))
                .json(&json!({"name": "Ledger mail", "config": {"type": "email", "transport": "outbox",
                    "from": "reports@acme.test"}}))
                .send()
                .await
                .unwrap(),
            "a destination",
        )
        .await;
        let destination = text(&destination["id"]);
        let report = json!({
            "code": "ledger-statements", "name": "Ledger statements", "formats": ["pdf"], "hold_for_review": true,
            "sources": [{"name": "customers", "role": "repeating", "type": "inline",
                "rows": [{"name": "Ada"}, {"name": "Brook"}]}],
            "sections": [{"type": "text", "markdown": "Statement for {customers.name}"}],
            "deliveries": [{"destination_id": destination, "to": ["ops@acme.test"]}]
        });
        let report = created(s.post(&s.ws("/reports")).json(&report).send().await.unwrap(), "a report").await;
        let report_id = text(&report["id"]);
        let schedule = json!({"name": "Ledger mornings", "rule": {"type": "cron", "expression": "0 8 * * 1"},
            "timezone": "Europe/London"});
        let schedule = created(
            s.post(&s.ws("/reports/ledger-statements/schedules")).json(&schedule).send().await.unwrap(),
            "a schedule",
        )
        .await;
        let weekly = json!({"report": "ledger-statements", "frequency": "weekly", "name": "Ledger weekly"});
        let weekly =
            created(s.post(&s.ws("/scheduled-reports")).json(&weekly).send().await.unwrap(), "a scheduled report")
                .await;
        let configuration = json!({"name": "Ledger north", "active": false});
        let configurations = s.ws(&format!("/scheduled-reports/{}/configurations", text(&weekly["id"])));
        let configuration =
            created(s.post(&configurations).json(&configuration).send().await.unwrap(), "a configuration").await;
        let started = created(s.post(&s.ws("/reports/ledger-statements/runs")).send().await.unwrap(), "a run").await;
        let run = text(&started["id"]);
        let detail = s.settled_run(&run).await;
        let entries: Vec<String> =
            detail["entry_list"]["data"].as_array().expect("entries").iter().map(|e| text(&e["id"])).collect();
        assert_eq!(entries.len(), 2, "{detail}");
        created(
            s.post(&s.ws(&format!("/runs/{run}/entries/{}/approve", entries[0]))).send().await.unwrap(),
            "an approval",
        )
        .await;
        let mut delivery = None;
        for _ in 0..300 {
            let detail = s.settled_run(&run).await;
            let sent = &detail["entry_list"]["data"][0]["deliveries"][0];
            if sent["status"] == "sent" {
                delivery = Some(text(&sent["id"]));
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let delivery = delivery.expect("the approved entry is delivered");

        let upload = s.client.put(s.ws("/datasets/ledger-regions")).bearer_auth(&s.access.secret);
        created(
            upload.header("content-type", "text/csv").body("region,amount\nnorth,1\n").send().await.unwrap(),
            "a dataset",
        )
        .await;
        let token = json!({"name": "Ledger spare", "role": "viewer"});
        let token = created(s.post(&s.ws("/tokens")).json(&token).send().await.unwrap(), "a token").await;
        let suppression = "blocked@acme.test".to_owned();
        created(
            s.client
                .put(s.ws(&format!("/suppressions/{suppression}")))
                .bearer_auth(&s.access.secret)
                .send()
                .await
                .unwrap(),
            "a suppression",
        )
        .await;
        let file = created(
            s.post(&s.ws(&format!("/jobs/ledger-statements/runs/{run}/generate-review-document")))
                .send()
                .await
                .unwrap(),
            "a review document",
        )
        .await;
        let temporary_file = text(&file["temporaryFileId"]);
        for _ in 0..300 {
            let file: Value =
                s.get(&s.ws(&format!("/temporary-files/{temporary_file}"))).send().await.unwrap().json().await.unwrap();
            if file["status"] != "pending" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let connection = json!({"name": "ledger-db", "kind": "postgres", "host": "10.9.8.7", "database": "ledger",
            "user": "reader", "password": "ledger-db-password"});
        let connection =
            created(s.post(&s.ws("/connections")).json(&connection).send().await.unwrap(), "a connection").await;
        let rule = json!({"name": "Ledger watch", "enabled": false,
            "source": {"name": "regions", "type": "dataset", "dataset": "ledger-regions"},
            "metric": {"aggregate": "sum", "column": "amount"}, "condition": {"op": ">", "threshold": 100}});
        let rule = created(s.post(&s.ws("/alerts")).json(&rule).send().await.unwrap(), "an alert rule").await;
        World {
            alert_rule: text(&rule["id"]),
            connection: text(&connection["id"]),
            report: "ledger-statements".into(),
            report_id,
            schedule: text(&schedule["id"]),
            scheduled_report: text(&weekly["id"]),
            configuration: text(&configuration["id"]),
            destination,
            run,
            pending_entry: entries[1].clone(),
            delivery,
            dataset: "ledger-regions".into(),
            spare_token: text(&token["id"]),
            suppression,
            temporary_file,
            names: [
                "Ledger mail",
                "Ledger statements",
                "Ledger mornings",
                "Ledger weekly",
                "Ledger north",
                "Ledger spare",
                "ledger-db",
                "Ledger watch",
            ]
            .map(String::from)
            .into(),
        }
    }

    /// The value of path parameter `name` whose segment follows `previous`: a real resource
    /// where the workspace has one of that kind, else a well-formed unknown id.
    pub fn parameter(&self, s: &TestServer, previous: &str, name: &str) -> String {
        let value = match (name, previous) {
            ("workspace", _) => s.access.workspace.code.as_str(),
            ("report" | "job", _) => &self.report,
            ("code", "datasets") => &self.dataset,
            ("address", _) => &self.suppression,
            ("entry", _) => &self.pending_entry,
            ("delivery", _) => &self.delivery,
            ("run", _) | ("id", "runs") => &self.run,
            ("id", "schedules") => &self.schedule,
            ("id", "scheduled-reports") => &self.scheduled_report,
            ("configuration", _) => &self.configuration,
            ("id", "destinations") => &self.destination,
            ("id", "tokens") => &self.spare_token,
            ("id", "temporary-files") => &self.temporary_file,
            ("id", "connections") => &self.connection,
            ("id", "alerts") => &self.alert_rule,
            _ => UNKNOWN_ID,
        };
        value.to_owned()
    }

    /// The operation's path with every parameter filled by `fill(previous segment, name)`.
    pub fn path_with(&self, op: &Operation, mut fill: impl FnMut(&str, &str) -> String) -> String {
        let mut previous = "";
        let mut segments = Vec::new();
        for segment in op.template.split('/') {
            match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => segments.push(fill(previous, name.trim_start_matches('*'))),
                None => segments.push(segment.to_owned()),
            }
            previous = segment;
        }
        segments.join("/")
    }

    /// The operation's path with real resources of the workspace.
    pub fn path(&self, s: &TestServer, op: &Operation) -> String {
        self.path_with(op, |previous, name| self.parameter(s, previous, name))
    }

    /// The ids of the resources (a refusal to another workspace must not show them).
    pub fn ids(&self) -> Vec<&str> {
        vec![
            &self.report_id,
            &self.schedule,
            &self.scheduled_report,
            &self.configuration,
            &self.destination,
            &self.run,
            &self.pending_entry,
            &self.delivery,
            &self.spare_token,
            &self.temporary_file,
            &self.connection,
            &self.alert_rule,
        ]
        .into_iter()
        .map(String::as_str)
        .collect()
    }
}

/// Everything a request could change in workspace `ws`, read from the store: the workspace
/// and its settings, reports, schedules, destinations, runs with their entries and deliveries,
/// tokens (but when they were last used), datasets, suppressions, connections and alert rules
/// with their instances and state changes.
pub async fn snapshot(s: &TestServer, ws: WorkspaceId) -> BTreeMap<String, Value> {
    let store = &s.ctx.store;
    let page = PageRequest::first(200);
    let mut state = BTreeMap::new();
    state.insert("workspace".into(), to_json(&store.get_workspace(ws).await.expect("workspace")));
    state.insert("reports".into(), to_json(&store.list_reports(ws, &page).await.expect("reports").items));
    state.insert("schedules".into(), to_json(&store.list_schedules(ws, &page).await.expect("schedules").items));
    state
        .insert("destinations".into(), to_json(&store.list_destinations(ws, &page).await.expect("destinations").items));
    state.insert("datasets".into(), to_json(&store.list_datasets(ws, &page).await.expect("datasets").items));
    state.insert("connections".into(), to_json(&store.list_connections(ws, &page).await.expect("connections").items));
    let rules = store.list_alert_rules(ws, &page).await.expect("alert rules").items;
    for rule in &rules {
        let instances = store.alert_instances(rule.id).await.expect("alert instances");
        let events = store.alert_events(rule.id, &page).await.expect("alert events").items;
        state.insert(format!("alert {}", rule.id), json!([to_json(&instances), to_json(&events)]));
    }
    state.insert("alert rules".into(), to_json(&rules));
    state
        .insert("suppressions".into(), to_json(&store.list_suppressions(ws, &page).await.expect("suppressions").items));
    let mut tokens = to_json(&store.list_tokens(ws, &page).await.expect("tokens").items);
    for token in tokens.as_array_mut().into_iter().flatten() {
        if let Some(token) = token.as_object_mut() {
            token.remove("last_used_at");
            token.remove("version");
        }
    }
    state.insert("tokens".into(), tokens);
    let runs = store.list_runs(ws, None, &page).await.expect("runs").items;
    for run in &runs {
        let entries = store.list_entries(run.id, &page).await.expect("entries").items;
        let deliveries = store.list_deliveries(run.id, None, &page).await.expect("deliveries").items;
        state.insert(format!("run {}", run.id), json!([to_json(run), to_json(&entries), to_json(&deliveries)]));
    }
    state.insert("runs".into(), to_json(&runs));
    state
}

/// The differences between two snapshots, by part.
pub fn changes(before: &BTreeMap<String, Value>, after: &BTreeMap<String, Value>) -> Vec<String> {
    let mut keys: Vec<&String> = before.keys().chain(after.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| before.get(*k) != after.get(*k))
        .map(|k| format!("{k}: {} → {}", before.get(k).unwrap_or(&Value::Null), after.get(k).unwrap_or(&Value::Null)))
        .collect()
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).expect("a serializable value")
}
