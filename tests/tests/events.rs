//! Every sample event of `events/` through its function's real handler (`lambda::invoke`, what
//! `herald invoke` runs), on DynamoDB in the local AWS emulator: the scheduler's tasks answer
//! their reports, the API events are answered by the router, and the SQS batches render and
//! then deliver the very entries their message bodies name.

use std::path::PathBuf;
use std::sync::Arc;

use herald_core::domain::{EntryId, EntryStatus, RunId};
use herald_core::lambda::{Function, invoke};
use herald_core::testing::fixtures;
use herald_tests::{Backend, TestServer};
use serde_json::{Value, json};

fn events() -> Vec<(String, String)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|f| f.path().extension().is_some_and(|e| e == "json"))
        .map(|f| (f.file_name().to_string_lossy().into_owned(), std::fs::read_to_string(f.path()).unwrap()))
        .collect();
    // The deliver batch follows the render batch: it delivers what that one rendered.
    files.sort_by_key(|(name, _)| (name == "sqs-deliver.json", name.clone()));
    files
}

fn function_of(file: &str) -> Function {
    match file.split(['-', '.']).next() {
        Some("api") => Function::Api,
        Some("tick" | "maintenance") => Function::Tick,
        Some("sqs") if file.contains("render") => Function::Render,
        Some("sqs") => Function::Deliver,
        _ => panic!("{file}: which function receives it? (name it api-, tick, maintenance- or sqs-)"),
    }
}

/// The run and entry ids the SQS samples name.
fn named_ids(event: &str) -> (RunId, Vec<EntryId>) {
    let event: Value = serde_json::from_str(event).unwrap();
    let bodies: Vec<Value> = event["Records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(r["body"].as_str().unwrap()).unwrap())
        .collect();
    let run = bodies[0]["run_id"].as_str().unwrap().parse().unwrap();
    (run, bodies.iter().map(|b| b["entry_id"].as_str().unwrap().parse().unwrap()).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sample_event_runs_through_its_functions_handler() {
    let Some(s) = TestServer::start(Backend::DynamoDb).await else { return };
    let all = events();
    assert!(all.len() >= 8, "{all:?}");
    let render_event = &all.iter().find(|(f, _)| f == "sqs-render.json").unwrap().1;

    // The run the SQS samples name: two entries of a report emailing the outbox.
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": "Ops", "config": {"type": "email"}})).send().await;
    let destination: Value = r.unwrap().json().await.unwrap();
    let report = s
        .post(&s.ws("/reports"))
        .json(&json!({
            "code": "digest", "name": "Digest", "formats": ["pdf"],
            "sources": [{"name": "sales", "type": "inline", "rows": [{"region": "North", "revenue": 10}]}],
            "sections": [{"type": "table", "source": "sales"}],
            "deliveries": [{"destination_id": destination["id"], "to": ["ops@example.com"]}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(report.status(), 201);
    let report = s.ctx.store.resolve_report(s.access.workspace.id, "digest").await.unwrap();
    let (run_id, entry_ids) = named_ids(render_event);
    let now = s.ctx.clock.now();
    let mut run = fixtures::run(&report, now);
    run.id = run_id;
    let mut entries = fixtures::entries(&run, entry_ids.len(), now);
    for (entry, id) in entries.iter_mut().zip(&entry_ids) {
        entry.id = *id;
    }
    s.ctx.store.create_run(&run, &entries, now).await.unwrap();

    // As on AWS, a render hands its deliveries to the deliver queue (the SQS event below), not
    // to a task of its own process.
    let mut lambda = (*s.ctx).clone();
    lambda.handoff = None;
    let lambda = Arc::new(lambda);
    for (file, event) in &all {
        let function = function_of(file);
        let answer = invoke(lambda.clone(), function, event).await.unwrap_or_else(|e| panic!("{file}: {e}"));
        match file.as_str() {
            "tick.json" => assert_eq!(answer["ok"], true, "{file}: {answer}"),
            "maintenance-export-interactions.json" | "maintenance-cleanup.json" => {
                assert_eq!(answer["ok"], true, "{file}: {answer}");
                assert!(answer["tenants"].as_array().is_some_and(|t| !t.is_empty()), "{file}: {answer}");
            }
            "maintenance-approvals-expire.json" => assert_eq!(answer["expired"], 0, "{file}: {answer}"),
            "api-health.json" => {
                assert_eq!(answer["statusCode"], 200, "{file}: {answer}");
                let body: Value = serde_json::from_str(answer["body"].as_str().unwrap()).unwrap();
                assert_eq!(body["status"], "ok");
                assert!(answer["headers"]["x-correlation-id"].is_string());
            }
            "api-get-workspace.json" => {
                // The sample's token is a placeholder: refused with the envelope.
                assert_eq!(answer["statusCode"], 401, "{file}: {answer}");
                assert!(answer["body"].as_str().unwrap().contains(r#""unauthorized""#));
            }
            "sqs-render.json" | "sqs-deliver.json" => {
                assert_eq!(answer["batchItemFailures"], json!([]), "{file}: {answer}");
                let expected = if file.contains("render") { EntryStatus::InProgress } else { EntryStatus::Completed };
                for id in &entry_ids {
                    let entry = s.ctx.store.get_entry(run_id, *id).await.unwrap();
                    assert_eq!(entry.status, expected, "{file}: {entry:?}");
                    assert_eq!(entry.artifacts.len(), 1);
                }
            }
            other => panic!("{other}: add what its handler should answer to this test"),
        }
    }
    let outbox = std::fs::read_dir(&s.ctx.config.outbox_dir).unwrap().flatten();
    let emails = outbox.filter(|f| f.file_name().to_string_lossy().ends_with(".eml")).count();
    assert_eq!(emails, entry_ids.len(), "the deliver batch emailed each entry once");
    assert!(s.ctx.store.get_run(run_id).await.unwrap().is_finished());
}
