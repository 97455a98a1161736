//! Every log line a worker writes while rendering or delivering an entry names the run, the
//! entry and the workspace it is about, even with two workspaces' entries worked on at once
//! by the same workers (spans follow their task across awaits, not the thread).

use std::collections::BTreeMap;

use herald_core::pipeline::admin;
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A report of `rows` entries, each delivered to the workspace's outbox.
async fn report(s: &TestServer, token: &str, ws: &str, rows: usize) {
    let url = |path: &str| format!("{}/api/v1/ws/{ws}{path}", s.url);
    let outbox = json!({"name": "Outbox", "config": {"type": "email", "transport": "outbox"}});
    let r = s.client.post(url("/destinations")).bearer_auth(token).json(&outbox).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let destination: Value = r.json().await.unwrap();
    let rows: Vec<Value> = (0..rows).map(|i| json!({"name": format!("{ws} customer {i}")})).collect();
    let report = json!({
        "code": "statements", "name": "Statements", "formats": ["pdf"],
        "sources": [{"name": "customers", "role": "repeating", "type": "inline", "rows": rows}],
        "sections": [{"type": "text", "markdown": "Statement for {customers.name}"}],
        "deliveries": [{"destination_id": destination["id"], "to": ["ops@example.com"]}]
    });
    let r = s.client.post(url("/reports")).bearer_auth(token).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn log_lines_of_two_workspaces_worked_on_at_once_each_name_their_own_workspace() {
    herald_tests::logs::capture("herald_core=debug", true);

    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    let other = admin::create_workspace(&s.ctx, "globex", "Globex").await.unwrap();
    let workspaces = [
        (s.access.workspace.code.to_string(), s.access.secret.clone()),
        (other.workspace.code.to_string(), other.secret.clone()),
    ];
    for (ws, token) in &workspaces {
        report(&s, token, ws, 30).await;
    }
    // Both runs start before the workers do, so their entries interleave.
    let mut tenant_of = BTreeMap::new();
    for (ws, token) in &workspaces {
        let r = s.client.post(format!("{}/api/v1/ws/{ws}/reports/statements/runs", s.url)).bearer_auth(token);
        let run: Value = r.send().await.unwrap().json().await.unwrap();
        tenant_of.insert(run["id"].as_str().unwrap().to_owned(), ws.clone());
    }
    s.run_workers();
    for (run, ws) in &tenant_of {
        let token = &workspaces.iter().find(|(w, _)| w == ws).unwrap().1;
        for _ in 0..600 {
            let url = format!("{}/api/v1/ws/{ws}/runs/{run}", s.url);
            let detail: Value = s.client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap();
            if detail["finished"] == true {
                assert_eq!(detail["counts"]["completed"], 30, "{detail}");
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    let logs = herald_tests::logs::text();
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    for line in logs.lines() {
        let Ok(event) = serde_json::from_str::<Value>(line) else { continue };
        // A line written by one entry's task sits in that entry's span alone: a span left
        // entered across an await would put another entry's (or workspace's) span around it.
        let work: Vec<&Value> = event["spans"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|span| matches!(span["name"].as_str(), Some("render" | "deliver")))
            .collect();
        assert!(work.len() <= 1, "a line inside two entries' spans: {line}");
        let Some(span) = work.first() else { continue };
        let run = span["run"].as_str().unwrap_or_default();
        let expected = tenant_of.get(run).unwrap_or_else(|| panic!("a line about an unknown run: {line}"));
        assert_eq!(span["tenant"].as_str(), Some(expected.as_str()), "a line names another tenant: {line}");
        *checked.entry(span["name"].as_str().unwrap_or_default().to_owned()).or_default() += 1;
    }
    assert!(checked.get("render").is_some_and(|n| *n >= 60), "render lines: {checked:?}");
    assert!(checked.get("deliver").is_some_and(|n| *n >= 60), "deliver lines: {checked:?}");
}
