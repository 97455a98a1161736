//! The maintenance tasks of seed `002` from outside, on both stores: the interaction export
//! (checkpoints exact across calls, rows still arriving left for a later call, a failing
//! workspace isolated and retried) and retention cleanup (past-retention data gone, legal
//! hold respected per table, a failing table reported without stopping the rest, a second
//! call a no-op). Both endpoints take `CRON_SECRET` and refuse everything without it.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use herald_core::clock::{Clock, ManualClock};
use herald_core::config::BlobConfig;
use herald_core::domain::{Artifact, CheckpointStatus, EntryStatus, Format, Suppression, SuppressionReason, Workspace};
use herald_core::pipeline::admin;
use herald_core::pipeline::maintenance::export::export_workspace;
use herald_core::testing::fixtures;
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

const SECRET: &str = "maintenance-secret-for-tests";

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 9, 0, 0).unwrap()
}

async fn server(backend: Backend) -> Option<(TestServer, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::new(start()));
    let held: Arc<dyn Clock> = clock.clone();
    let s = TestServer::start_with(backend, Some(held), &[("CRON_SECRET", SECRET)]).await?;
    Some((s, clock))
}

async fn call(s: &TestServer, task: &str) -> Value {
    let r = s.client.get(format!("{}/api/v1/cron/{task}", s.url)).header("X-Cron-Secret", SECRET).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    r.json().await.unwrap()
}

/// Sends `count` interactions to `ws` through the API; their client ids.
async fn ingest(s: &TestServer, ws: &admin::Access, tag: &str, count: usize, occurred: DateTime<Utc>) -> Vec<String> {
    let ids: Vec<String> = (0..count).map(|i| format!("{tag}-{i:04}")).collect();
    let rows: Vec<Value> = ids
        .iter()
        .map(|id| {
            json!({"id": id, "customer_id": "c1", "type": "received", "offer_id": "o1", "channel": "email",
            "occurred_at": occurred})
        })
        .collect();
    let url = format!("{}/api/v1/ws/{}/interactions", s.url, ws.workspace.code);
    let r = s.client.post(url).bearer_auth(&ws.secret).json(&rows).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    ids
}

/// Every exported row's client id per workspace code, with the files read back.
async fn exported(s: &TestServer) -> BTreeMap<String, Vec<String>> {
    let mut rows: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in s.ctx.blobs.list("exports/interactions/").await.unwrap() {
        let code = key.split('/').find_map(|p| p.strip_prefix("workspace=")).unwrap().to_owned();
        let body = s.ctx.blobs.get(&key).await.unwrap();
        for line in std::str::from_utf8(&body).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            rows.entry(code.clone()).or_default().push(row["client_id"].as_str().unwrap().to_owned());
        }
    }
    for ids in rows.values_mut() {
        ids.sort();
    }
    rows
}

fn tenant<'a>(report: &'a Value, ws: &Workspace) -> &'a Value {
    report["tenants"].as_array().unwrap().iter().find(|t| t["workspaceId"] == ws.id.to_string().as_str()).unwrap()
}

async fn the_export_moves_every_row_once_and_leaves_rows_still_arriving_for_later(backend: Backend) {
    let Some((s, clock)) = server(backend).await else { return };
    let first = ingest(&s, &s.access, "a", 30, start()).await;

    // Just received: not settled yet, nothing is exported.
    let report = call(&s, "export-interactions").await;
    assert_eq!((report["ok"].as_bool(), report["exported"].as_u64()), (Some(true), Some(0)), "{report}");

    clock.advance(Duration::minutes(3));
    let second = ingest(&s, &s.access, "b", 20, start()).await;
    let report = call(&s, "export-interactions").await;
    assert_eq!(tenant(&report, &s.access.workspace)["rows"], 30, "{report}");
    let file = tenant(&report, &s.access.workspace)["files"][0].as_str().unwrap().to_owned();
    let prefix = format!("exports/interactions/workspace={}/year=2026/month=06/day=01/part-", s.access.workspace.code);
    assert!(file.starts_with(&prefix) && file.ends_with(".ndjson"), "{file}");
    assert_eq!(call(&s, "export-interactions").await["exported"], 0, "a second call is a no-op");

    clock.advance(Duration::minutes(3));
    let report = call(&s, "export-interactions").await;
    assert_eq!(tenant(&report, &s.access.workspace)["rows"], 20);
    let mut all = [first, second].concat();
    all.sort();
    assert_eq!(exported(&s).await[s.access.workspace.code.as_str()], all, "every row exactly once");
    let checkpoint = s.ctx.store.export_checkpoint(s.access.workspace.id).await.unwrap();
    assert_eq!((checkpoint.rows_exported, checkpoint.status), (50, CheckpointStatus::Ok));
}

async fn small_batches_resume_exactly_where_the_last_one_stopped(backend: Backend) {
    let Some((s, clock)) = server(backend).await else { return };
    let mut all = ingest(&s, &s.access, "x", 23, start()).await;
    clock.advance(Duration::minutes(1));
    all.extend(ingest(&s, &s.access, "y", 10, start()).await);
    clock.advance(Duration::minutes(5));
    let ws = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    let mut calls = 0;
    loop {
        let batch = export_workspace(&s.ctx, &ws, clock.now(), 7).await;
        assert!(batch.error.is_none(), "{batch:?}");
        calls += 1;
        if !batch.has_more {
            break;
        }
        assert_eq!(batch.rows, 7);
    }
    assert_eq!(calls, 5);
    all.sort();
    assert_eq!(exported(&s).await[ws.code.as_str()], all);
}

async fn a_failing_workspace_is_reported_and_retried_while_the_others_export(backend: Backend) {
    let Some((s, clock)) = server(backend).await else { return };
    let other = admin::create_workspace(&s.ctx, &herald_core::testing::unique_name("beta").replace('_', "-"), "Beta")
        .await
        .unwrap();
    let mine = ingest(&s, &s.access, "a", 5, start()).await;
    let theirs = ingest(&s, &other, "b", 4, start()).await;
    clock.advance(Duration::minutes(5));

    // A file where the workspace's export folder should be: writing there fails.
    let BlobConfig::Fs(root) = &s.ctx.config.blobs else { panic!("fs blobs") };
    let blocked = root.join(format!("exports/interactions/workspace={}", other.workspace.code));
    std::fs::create_dir_all(blocked.parent().unwrap()).unwrap();
    std::fs::write(&blocked, b"in the way").unwrap();

    let report = call(&s, "export-interactions").await;
    assert_eq!(report["ok"], false);
    assert_eq!(tenant(&report, &s.access.workspace)["rows"], 5);
    let failed = tenant(&report, &other.workspace);
    assert_eq!(failed["rows"], 0);
    assert!(failed["error"].as_str().is_some_and(|e| e.contains("cannot write")), "{failed}");
    let checkpoint = s.ctx.store.export_checkpoint(other.workspace.id).await.unwrap();
    assert_eq!((checkpoint.status, checkpoint.position), (CheckpointStatus::Failed, None));

    std::fs::remove_file(&blocked).unwrap();
    let report = call(&s, "export-interactions").await;
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(
        (tenant(&report, &s.access.workspace)["rows"].as_u64(), tenant(&report, &other.workspace)["rows"].as_u64()),
        (Some(0), Some(4))
    );
    let files = exported(&s).await;
    assert_eq!(
        (files[s.access.workspace.code.as_str()].clone(), files[other.workspace.code.as_str()].clone()),
        (mine, theirs)
    );
    assert_eq!(s.ctx.store.export_checkpoint(other.workspace.id).await.unwrap().status, CheckpointStatus::Ok);
}

/// A finished run of `ws` created at `at` with one stored artifact; (run id, artifact key).
async fn settled_run(
    s: &TestServer,
    ws: &Workspace,
    code: &str,
    at: DateTime<Utc>,
) -> (herald_core::domain::RunId, String) {
    let report = s.ctx.store.create_report(&fixtures::report(ws, code, at)).await.unwrap();
    let run = fixtures::run(&report, at);
    let mut entries = fixtures::entries(&run, 1, at);
    let key = format!("runs/{}/{}/statement.pdf", run.id, entries[0].id);
    s.ctx.blobs.put(&key, Bytes::from_static(b"%PDF-1.7 statement"), "application/pdf").await.unwrap();
    entries[0].artifacts.push(Artifact {
        report_id: report.id,
        format: Format::Pdf,
        key: key.clone(),
        file_name: "statement.pdf".into(),
        content_type: "application/pdf".into(),
        size: 18,
        sha256: String::new(),
    });
    s.ctx.store.create_run(&run, &entries, at).await.unwrap();
    s.ctx
        .store
        .transition_entry(run.id, entries[0].id, EntryStatus::Queued, EntryStatus::InProgress, at, |_| {})
        .await
        .unwrap();
    s.ctx
        .store
        .transition_entry(run.id, entries[0].id, EntryStatus::InProgress, EntryStatus::Completed, at, |_| {})
        .await
        .unwrap();
    (run.id, key)
}

async fn set_retention(s: &TestServer, ws: &Workspace, days: u32, legal_hold: bool) {
    let mut stored = s.ctx.store.get_workspace(ws.id).await.unwrap();
    stored.settings.retention.history_days = days;
    stored.settings.retention.summary_days = days;
    stored.settings.retention.run_days = days;
    stored.settings.legal_hold = legal_hold;
    s.ctx.store.update_workspace(&stored).await.unwrap();
}

async fn cleanup_purges_what_retention_allows_spares_legal_holds_and_then_does_nothing(backend: Backend) {
    let Some((s, clock)) = server(backend).await else { return };
    let held = admin::create_workspace(&s.ctx, &herald_core::testing::unique_name("held").replace('_', "-"), "Held")
        .await
        .unwrap();
    set_retention(&s, &s.access.workspace, 30, false).await;
    set_retention(&s, &held.workspace, 30, true).await;
    for ws in [&s.access, &held] {
        ingest(&s, ws, "old", 6, start() - Duration::days(1)).await;
    }
    let (old_run, old_file) = settled_run(&s, &s.access.workspace, "old", start()).await;
    let (held_run, held_file) = settled_run(&s, &held.workspace, "kept", start()).await;
    let unfinished = {
        let report = s.ctx.store.create_report(&fixtures::report(&s.access.workspace, "busy", start())).await.unwrap();
        let run = fixtures::run(&report, start());
        s.ctx.store.create_run(&run, &fixtures::entries(&run, 1, start()), start()).await.unwrap();
        run.id
    };
    let suppress = |address: &str, expires_at| Suppression {
        workspace_id: s.access.workspace.id,
        address: address.into(),
        reason: SuppressionReason::HardBounce,
        created_at: start(),
        expires_at,
        version: 0,
    };
    s.ctx.store.put_suppression(&suppress("bounced@example.com", Some(start() + Duration::days(7)))).await.unwrap();
    s.ctx.store.put_suppression(&suppress("complained@example.com", None)).await.unwrap();

    clock.set(start() + Duration::days(40));
    let fresh = ingest(&s, &s.access, "new", 2, clock.now()).await;
    let report = call(&s, "cleanup").await;
    assert_eq!((report["ok"].as_bool(), report["expiredSuppressions"].as_u64()), (Some(true), Some(1)), "{report}");
    let mine = tenant(&report, &s.access.workspace);
    assert_eq!(
        (mine["interactions"].as_u64(), mine["runs"].as_u64(), mine["artifacts"].as_u64(), mine["hasMore"].as_bool()),
        (Some(6), Some(1), Some(1), Some(false)),
        "{report}"
    );
    assert!(mine["summaries"].as_u64().unwrap() >= 1, "{report}");
    let skips: Vec<(String, String)> = report["legalHoldSkips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["workspaceId"].as_str().unwrap().to_owned(), s["table"].as_str().unwrap().to_owned()))
        .collect();
    let held_id = held.workspace.id.to_string();
    assert_eq!(skips, ["interactions", "summaries", "runs", "alerts"].map(|t| (held_id.clone(), t.to_owned())));
    assert!(report["tenants"].as_array().unwrap().iter().all(|t| t["workspaceId"] != held_id.as_str()));

    // What retention allowed is gone; what it did not, and everything under legal hold, stays.
    assert!(s.ctx.store.get_run(old_run).await.is_err());
    assert!(s.ctx.blobs.get(&old_file).await.is_err());
    assert!(s.ctx.store.get_run(unfinished).await.is_ok(), "unfinished runs are kept");
    assert!(s.ctx.store.get_run(held_run).await.is_ok() && s.ctx.blobs.get(&held_file).await.is_ok());
    let left = s.ctx.store.interactions_after(s.access.workspace.id, None, clock.now(), 100).await.unwrap();
    let mut left: Vec<String> = left.into_iter().map(|(_, i)| i.client_id.unwrap()).collect();
    left.sort();
    assert_eq!(left, fresh);
    let kept = s.ctx.store.interactions_after(held.workspace.id, None, clock.now(), 100).await.unwrap();
    assert_eq!(kept.len(), 6);
    let today = clock.now().date_naive();
    let summaries =
        s.ctx.store.daily_summaries(s.access.workspace.id, today - Duration::days(400), today).await.unwrap();
    assert!(summaries.iter().all(|d| d.day >= today - Duration::days(30)), "{summaries:?}");
    let ws = s.access.workspace.id;
    assert!(s.ctx.store.active_suppression(ws, "complained@example.com", clock.now()).await.unwrap().is_some());
    let listed = s.ctx.store.list_suppressions(ws, &herald_core::store::PageRequest::first(10)).await.unwrap();
    assert_eq!(listed.items.len(), 1);

    let again = call(&s, "cleanup").await;
    let mine = tenant(&again, &s.access.workspace);
    assert_eq!(
        (
            again["expiredSuppressions"].as_u64(),
            mine["interactions"].as_u64(),
            mine["summaries"].as_u64(),
            mine["runs"].as_u64()
        ),
        (Some(0), Some(0), Some(0), Some(0)),
        "a second call is a no-op: {again}"
    );
}

async fn a_failing_table_is_reported_for_its_workspace_and_the_rest_goes_on(backend: Backend) {
    let Some((s, clock)) = server(backend).await else { return };
    let broken =
        admin::create_workspace(&s.ctx, &herald_core::testing::unique_name("broken").replace('_', "-"), "Broken")
            .await
            .unwrap();
    for ws in [&s.access, &broken] {
        set_retention(&s, &ws.workspace, 10, false).await;
        ingest(&s, ws, "old", 3, start()).await;
    }
    let (old_run, _) = settled_run(&s, &s.access.workspace, "old", start()).await;
    // A run record of the broken workspace that cannot be read.
    let id = herald_core::domain::RunId::generate(start());
    let mut item =
        herald_core::store::Item::new(herald_core::store::Key::new(format!("RUN#{id}"), "RUN"), "{not json".into());
    item.indexes[0] = Some(herald_core::store::Key::new(format!("WS#{}#RUNS", broken.workspace.id), id.to_string()));
    s.ctx.store.table().put_all(vec![item]).await.unwrap();

    clock.set(start() + Duration::days(20));
    let report = call(&s, "cleanup").await;
    assert_eq!(report["ok"], false);
    let errors = report["perTenantErrors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report}");
    assert_eq!(
        (errors[0]["workspaceId"].as_str(), errors[0]["table"].as_str()),
        (Some(broken.workspace.id.to_string().as_str()), Some("runs"))
    );
    assert_eq!(tenant(&report, &broken.workspace)["interactions"], 3, "its other tables were cleaned");
    assert_eq!(tenant(&report, &s.access.workspace)["runs"], 1);
    assert!(s.ctx.store.get_run(old_run).await.is_err());
}

async fn the_maintenance_endpoints_refuse_calls_without_the_secret(backend: Backend) {
    let Some((s, _)) = server(backend).await else { return };
    for task in ["export-interactions", "cleanup"] {
        let url = format!("{}/api/v1/cron/{task}", s.url);
        for (name, value) in [("x-cron-secret", "wrong"), ("authorization", "Bearer wrong"), ("x-other", SECRET)] {
            let r = s.client.get(&url).header(name, value).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{task} {name}");
        }
        let r = s.client.get(&url).bearer_auth(SECRET).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{task}");
    }
    let unset = TestServer::start(Backend::Sqlite).await.unwrap();
    let r = unset.client.get(format!("{}/api/v1/cron/cleanup", unset.url)).bearer_auth("").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "fail-closed without CRON_SECRET");
}

macro_rules! on_both_stores {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(herald_tests::Backend::Sqlite).await;
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(herald_tests::Backend::DynamoDb).await;
                }
            )+
        }
    };
}

on_both_stores!(
    the_export_moves_every_row_once_and_leaves_rows_still_arriving_for_later,
    small_batches_resume_exactly_where_the_last_one_stopped,
    a_failing_workspace_is_reported_and_retried_while_the_others_export,
    cleanup_purges_what_retention_allows_spares_legal_holds_and_then_does_nothing,
    a_failing_table_is_reported_for_its_workspace_and_the_rest_goes_on,
    the_maintenance_endpoints_refuse_calls_without_the_secret,
);
