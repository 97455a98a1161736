//! Runs that burst into one entry per row (seed `003`), seen from outside: one entry per row
//! of the repeating source with parameters bound to the row's columns, a row that cannot give a
//! required value failing only its entry, an empty source making a finished run that says
//! why, a source that cannot be read failing the run, run-time overrides leaving the saved
//! defaults alone, several reports per entry run in order with a failure kept to its report, and
//! a preview taking its row-bound parameters from the first row.

use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"))
}

async fn server() -> TestServer {
    let s = TestServer::start(Backend::Sqlite).await.expect("server");
    s.run_workers();
    s
}

async fn upload(s: &TestServer, code: &str, csv: &str) {
    let r = s.client.put(s.ws(&format!("/datasets/{code}"))).bearer_auth(&s.access.secret);
    let r = r.header("content-type", "text/csv").body(csv.to_owned()).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

async fn create(s: &TestServer, report: Value) -> Value {
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await
}

async fn run(s: &TestServer, code: &str, params: Value) -> Value {
    let r = s.post(&s.ws(&format!("/reports/{code}/runs"))).json(&json!({"params": params})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    s.settled_run(&id).await
}

fn entries(run: &Value) -> &Vec<Value> {
    run["entry_list"]["data"].as_array().unwrap()
}

const CUSTOMERS: &str = "id,name,email\nc1,Ada,ada@example.com\nc2,Grace,grace@example.com\n,Nobody,\n";

fn statement(code: &str) -> Value {
    json!({
        "code": code, "name": "Statement", "formats": ["markdown"],
        "parameters": [
            {"name": "customer_id", "type": "string", "required": true, "from_row": "id"},
            {"name": "period", "type": "string", "default": "2026-10"}
        ],
        "sources": [{"name": "customers", "type": "dataset", "dataset": "customers", "role": "repeating"}],
        "sections": [{"type": "text", "title": "Statement", "markdown": "For {customer_id} ({customers.name}), {period}."}]
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_row_makes_an_entry_with_its_bound_parameters_and_a_row_without_a_value_fails_alone() {
    let s = server().await;
    upload(&s, "customers", CUSTOMERS).await;
    create(&s, statement("statement")).await;
    let run = run(&s, "statement", json!({"period": "2026-11"})).await;
    assert_eq!((run["entries"].as_u64(), run["counts"]["completed"].as_u64()), (Some(3), Some(2)), "{run}");
    assert_eq!(run["counts"]["errors"], 1);
    let list = entries(&run);
    assert_eq!(list[0]["parameters"], json!({"customer_id": "c1", "period": "2026-11"}));
    assert_eq!(list[1]["row"]["name"], "Grace");
    assert_eq!(list[2]["status"], "GenerationFailed");
    assert_eq!(list[2]["error"], "row 3 has no `id` for parameter `customer_id`");
    let text = s.client.get(list[1]["artifacts"][0]["download_url"].as_str().unwrap()).send().await.unwrap();
    assert!(text.text().await.unwrap().contains("For c2 (Grace), 2026-11."));

    // The override was for that run only.
    let saved = body(s.get(&s.ws("/reports/statement")).send().await.unwrap()).await;
    assert_eq!(saved["parameters"][1]["default"], "2026-10");
    assert_eq!(run["inputs"]["parameters"]["period"], "2026-11");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_binds_row_parameters_from_the_first_row_and_says_when_there_is_none() {
    let s = server().await;
    upload(&s, "customers", CUSTOMERS).await;
    create(&s, statement("statement")).await;
    let preview = |format: &'static str| {
        s.post(&s.ws("/reports/preview")).json(&json!({"report_id": "statement", "format": format})).send()
    };
    let markdown = preview("markdown").await.unwrap();
    assert_eq!(markdown.status(), StatusCode::OK);
    assert!(markdown.text().await.unwrap().contains("For c1 (Ada), 2026-10."));
    let summary = body(preview("json").await.unwrap()).await;
    assert_eq!(summary["entries"], 3, "{summary}");

    upload(&s, "customers", "id,name,email\n").await;
    let empty = preview("json").await.unwrap();
    assert_eq!(empty.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = body(empty).await;
    assert!(error["error"]["message"].as_str().unwrap().contains("no rows to preview"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_repeating_source_makes_a_finished_run_that_says_why() {
    let s = server().await;
    upload(&s, "customers", "id,name,email\n").await;
    create(&s, statement("statement")).await;
    let run = run(&s, "statement", json!({})).await;
    assert_eq!((run["status"].as_str(), run["entries"].as_u64()), (Some("finished"), Some(0)), "{run}");
    assert_eq!(run["note"], "the repeating source `customers` returned no rows, so the run has no entries");
    assert!(run["error"].is_null());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeating_source_that_cannot_be_read_fails_the_run_with_the_reason() {
    let s = server().await;
    upload(&s, "customers", CUSTOMERS).await;
    create(&s, statement("statement")).await;
    assert_eq!(s.delete(&s.ws("/datasets/customers")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let run = run(&s, "statement", json!({})).await;
    assert_eq!((run["status"].as_str(), run["entries"].as_u64()), (Some("failed"), Some(0)), "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(error.starts_with("repeating source `customers`:") && error.contains("customers"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn included_reports_run_in_order_for_each_entry_and_a_failing_one_leaves_the_others() {
    let s = server().await;
    upload(&s, "customers", "id,name,email\nc1,Ada,ada@example.com\nc2,Grace,grace@example.com\n").await;
    create(
        &s,
        json!({
            "code": "cover", "name": "Cover", "formats": ["markdown"],
            "parameters": [{"name": "who", "type": "string", "required": true}],
            "sections": [{"type": "text", "markdown": "Cover for {who}"}]
        }),
    )
    .await;
    create(&s, json!({
        "code": "detail", "name": "Detail", "formats": ["markdown"],
        "parameters": [{"name": "customer", "type": "string", "required": true}, {"name": "period", "type": "string"}],
        "sources": [{"name": "me", "type": "dataset", "dataset": "customers", "filter": {"id": "{customer}"}}],
        "sections": [{"type": "text", "markdown": "Detail of {me.name} for {period}"}]
    }))
    .await;
    create(
        &s,
        json!({
            "code": "broken", "name": "Broken", "formats": ["markdown"],
            "sources": [{"name": "me", "type": "dataset", "dataset": "customers"}],
            "sections": [{"type": "table", "source": "me", "columns": [{"key": "no_such_column"}]}]
        }),
    )
    .await;
    let job = json!({
        "code": "monthly", "name": "Monthly pack", "formats": ["markdown"],
        "parameters": [{"name": "period", "type": "string", "default": "2026-11"}],
        "sources": [{"name": "customers", "type": "dataset", "dataset": "customers", "role": "repeating"}],
        "includes": [
            {"report": "cover", "bindings": {"who": {"row": "name"}}},
            {"report": "broken"},
            {"report": "detail", "bindings": {"customer": {"row": "id"}, "period": {"param": "period"}}}
        ]
    });
    let bad = json!({"code": "bad", "name": "Bad", "formats": ["pdf"],
        "includes": [{"report": "nope"}, {"report": "cover", "bindings": {"whom": {"value": "x"}, "who": {"row": "id"}}}]});
    let r = s.post(&s.ws("/reports")).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    let mut fields: Vec<&str> =
        v["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    fields.sort();
    assert_eq!(fields, ["includes[0].report", "includes[1].bindings.who", "includes[1].bindings.whom"]);
    create(&s, job).await;

    let run = run(&s, "monthly", json!({})).await;
    assert_eq!((run["entries"].as_u64(), run["counts"]["errors"].as_u64()), (Some(2), Some(2)), "{run}");
    for (entry, name) in entries(&run).iter().zip(["Ada", "Grace"]) {
        assert_eq!(entry["status"], "CompletedWithErrors", "{entry}");
        let files: Vec<&str> =
            entry["artifacts"].as_array().unwrap().iter().map(|a| a["file_name"].as_str().unwrap()).collect();
        assert_eq!(files, ["cover.md", "detail.md"]);
        let cover = s.client.get(entry["artifacts"][0]["download_url"].as_str().unwrap()).send().await.unwrap();
        assert!(cover.text().await.unwrap().contains(&format!("Cover for {name}")));
        let detail = s.client.get(entry["artifacts"][1]["download_url"].as_str().unwrap()).send().await.unwrap();
        assert!(detail.text().await.unwrap().contains(&format!("Detail of {name} for 2026-11")));
        let errors = entry["generation_errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1);
        assert!(errors[0].as_str().unwrap().starts_with("report `broken`:"), "{errors:?}");
    }
}
