//! The data behind reports, seen from outside: interaction ingest (JSON, NDJSON, duplicates,
//! refused batches that store nothing) and datasets (CSV and JSON uploads, metadata, paged
//! rows, replacement, deletion, workspace isolation). Every test runs against a real server on
//! the embedded store and on DynamoDB.

use chrono::NaiveDate;
use herald_core::pipeline::admin;
use herald_core::store::PageRequest;
use herald_tests::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

fn error_fields(v: &Value) -> Vec<String> {
    v["error"]["details"]["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["field"].as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

fn offer_event(id: &str, kind: &str, day: u32) -> Value {
    json!({
        "id": id, "customer_id": "c1", "type": kind, "offer_id": "offer-a", "offer_kind": "bogo",
        "channel": "email", "occurred_at": format!("2026-11-{day:02}T09:30:00Z")
    })
}

/// (received, viewed, completed, transactions, amount in cents) over November 2026.
async fn totals(s: &TestServer) -> (i64, i64, i64, i64, i64) {
    let day = |d| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
    let summaries = s.ctx.store.daily_summaries(s.access.workspace.id, day(1), day(30)).await.unwrap();
    summaries.iter().fold((0, 0, 0, 0, 0), |t, x| {
        (t.0 + x.received, t.1 + x.viewed, t.2 + x.completed, t.3 + x.transactions, t.4 + x.amount_cents)
    })
}

async fn post_ndjson(s: &TestServer, text: String) -> reqwest::Response {
    s.post(&s.ws("/interactions")).header("content-type", "application/x-ndjson").body(text).send().await.unwrap()
}

async fn interactions_are_ingested_as_json_or_ndjson_and_a_resent_one_counts_once(s: TestServer) {
    let batch =
        json!([offer_event("e1", "received", 20), offer_event("e2", "viewed", 20), offer_event("e3", "completed", 21)]);
    let r = s.post(&s.ws("/interactions")).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, json!({"object": "interaction_ingest", "accepted": 3, "duplicates": 0, "late": 3}));

    // The same events again inside the wrapper object, plus a transaction.
    let mut again = batch.as_array().unwrap().clone();
    again.push(json!({"id": "t1", "customer_id": "c1", "type": "transaction", "amount": 12.5, "channel": "web",
                      "occurred_at": "2026-11-21T10:00:00Z"}));
    let r = s.post(&s.ws("/interactions")).json(&json!({"interactions": again})).send().await.unwrap();
    assert_eq!(body(r).await, json!({"object": "interaction_ingest", "accepted": 1, "duplicates": 3, "late": 1}));

    let lines = [offer_event("e3", "completed", 21), offer_event("e4", "completed", 22)];
    let text = lines.iter().map(Value::to_string).collect::<Vec<_>>().join("\n\n") + "\n";
    let r = post_ndjson(&s, text).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await, json!({"object": "interaction_ingest", "accepted": 1, "duplicates": 1, "late": 1}));

    assert_eq!(totals(&s).await, (1, 1, 2, 1, 1250));
    let received =
        s.ctx.store.interactions_received(s.access.workspace.id, None, &PageRequest::first(50)).await.unwrap();
    assert_eq!(received.items.len(), 5);
}

async fn a_batch_with_a_bad_line_is_refused_naming_every_problem_and_nothing_is_stored(s: TestServer) {
    let good = offer_event("g1", "received", 20).to_string();
    let no_offer = json!({"customer_id": "c1", "type": "viewed", "occurred_at": "2026-11-20T00:00:00Z"}).to_string();
    let text = format!("{good}\n{good}\n{no_offer}\n{{not json\n");
    let r = post_ndjson(&s, text).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    assert_eq!(v["error"]["code"], "validation_error");
    assert_eq!(error_fields(&v), ["line 3.offer_id", "line 4"]);

    let batch = json!([offer_event("g2", "received", 20), {"customer_id": "c", "type": "clicked", "offer_id": "o",
                       "occurred_at": "2026-11-20T00:00:00Z"}]);
    let r = s.post(&s.ws("/interactions")).json(&batch).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body(r).await), ["interactions[1].type"]);

    assert_eq!(totals(&s).await, (0, 0, 0, 0, 0));
    let stored = s.ctx.store.interactions_received(s.access.workspace.id, None, &PageRequest::first(10)).await.unwrap();
    assert!(stored.items.is_empty());
}

async fn an_oversized_or_malformed_batch_is_refused_clearly(s: TestServer) {
    let r = post_ndjson(&s, "{}\n".repeat(10_001)).await;
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(body(r).await["error"]["message"].as_str().unwrap().contains("at most 10000 interactions"));

    let r = s.post(&s.ws("/interactions")).header("content-type", "text/plain").body("hi").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for bad in [json!({"events": []}), json!("x"), json!([])] {
        let r = s.post(&s.ws("/interactions")).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(body(r).await["error"]["code"], "body_validation_error");
    }
}

async fn data_health_counts_batches_refused_and_late_and_says_when_data_last_arrived(s: TestServer) {
    let now = chrono::Utc::now();
    let event = |id: &str, minutes_ago: i64| {
        json!({"id": id, "customer_id": "c1", "type": "transaction", "amount": 4,
               "occurred_at": (now - chrono::Duration::minutes(minutes_ago)).to_rfc3339()})
    };
    let r = s.post(&s.ws("/interactions")).json(&json!([event("h1", 5), event("h2", 6)])).send().await.unwrap();
    assert_eq!(body(r).await["late"], 0);
    let r = s.post(&s.ws("/interactions")).json(&json!([event("h3", 5), event("h4", 300)])).send().await.unwrap();
    assert_eq!(body(r).await["late"], 1, "five hours after it occurred");
    let r = post_ndjson(&s, "{not json\n".into()).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = s.post(&s.ws("/interactions")).json(&json!([event("h1", 5)])).send().await.unwrap();
    assert_eq!(body(r).await["duplicates"], 1);

    let url = format!("{}/api/v1/reports/preview", s.url);
    let report = json!({
        "sources": [{"name": "ingest", "type": "ingest_health", "period": "today"},
                    {"name": "fresh", "type": "data_freshness"}],
        "sections": [{"type": "table", "source": "ingest"}, {"type": "table", "source": "fresh"}]
    });
    let r = s.post(&url).json(&json!({"report": report, "format": "markdown"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.text().await.unwrap();
    let today = now.format("%Y-%m-%d").to_string();
    let row = text.lines().find(|l| l.starts_with(&format!("| {today}"))).unwrap_or_else(|| panic!("{text}"));
    let cells: Vec<&str> = row.split('|').map(str::trim).filter(|c| !c.is_empty()).collect();
    // Day, batches, refused, late batches, received, duplicates, late, late batch rate.
    assert_eq!(&cells[1..7], ["4", "1", "1", "4", "1", "1"], "{text}");
    assert!(text.contains("| 0 | ") && text.contains("| never run |"), "just received, never exported: {text}");
}

const CUSTOMERS: &str =
    "id,email,region,balance,vip\n1,a@example.com,EU,12.5,true\n2,b@example.com,US,,false\n3,,EU,7,true\n";

async fn put_csv(s: &TestServer, code: &str, csv: &'static str) -> reqwest::Response {
    s.client
        .put(s.ws(&format!("/datasets/{code}")))
        .bearer_auth(&s.access.secret)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap()
}

async fn a_csv_dataset_is_uploaded_read_back_page_by_page_replaced_and_deleted(s: TestServer) {
    let r = put_csv(&s, "customers", CUSTOMERS).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!((created["object"].as_str(), created["row_count"].as_u64()), (Some("dataset"), Some(3)));
    assert_eq!(created["format"], "csv");
    assert_eq!(created["sha256"].as_str().unwrap().len(), 64);
    assert!(created.get("blob_key").is_none());
    let types: Vec<(String, String)> = created["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().into(), c["type"].as_str().unwrap().into()))
        .collect();
    let expected = [("id", "number"), ("email", "text"), ("region", "text"), ("balance", "number"), ("vip", "boolean")];
    assert_eq!(types, expected.map(|(n, t)| (n.to_string(), t.to_string())));

    let meta = body(s.get(&s.ws("/datasets/customers")).send().await.unwrap()).await;
    assert_eq!(meta["sha256"], created["sha256"]);

    let first = body(s.get(&s.ws("/datasets/customers/rows?limit=2")).send().await.unwrap()).await;
    assert_eq!(
        first["data"][0],
        json!({"id": 1, "email": "a@example.com", "region": "EU", "balance": 12.5, "vip": true})
    );
    assert_eq!(first["data"][1]["balance"], Value::Null);
    assert_eq!(first["has_more"], true);
    let cursor = first["next_cursor"].as_str().unwrap();
    let second =
        body(s.get(&s.ws(&format!("/datasets/customers/rows?limit=2&cursor={cursor}"))).send().await.unwrap()).await;
    assert_eq!(second["data"].as_array().unwrap().len(), 1);
    assert_eq!(second["data"][0]["email"], Value::Null);
    assert_eq!(second["has_more"], false);

    let replaced = s
        .client
        .put(s.ws("/datasets/customers"))
        .bearer_auth(&s.access.secret)
        .json(&json!([{"id": 9, "region": "APAC"}]))
        .send()
        .await
        .unwrap();
    assert_eq!(replaced.status(), StatusCode::OK);
    let replaced = body(replaced).await;
    assert_eq!((replaced["row_count"].as_u64(), replaced["version"].as_u64()), (Some(1), Some(2)));
    assert_eq!(replaced["created_at"], created["created_at"]);
    // A cursor of the old upload is refused rather than silently skipping rows.
    let stale = s.get(&s.ws(&format!("/datasets/customers/rows?cursor={cursor}"))).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::BAD_REQUEST);

    put_csv(&s, "accounts", "id\n1\n").await;
    let listed = body(s.get(&s.ws("/datasets")).send().await.unwrap()).await;
    let codes: Vec<&str> = listed["data"].as_array().unwrap().iter().filter_map(|d| d["code"].as_str()).collect();
    assert_eq!(codes, ["accounts", "customers"]);

    let r = s.delete(&s.ws("/datasets/customers")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get(&s.ws("/datasets/customers")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(s.delete(&s.ws("/datasets/customers")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

async fn a_bad_upload_names_the_lines_at_fault_and_changes_nothing(s: TestServer) {
    let r = put_csv(&s, "customers", "id,email\n1,a@example.com\n2\n").await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_fields(&body(r).await), ["line 3"]);
    assert_eq!(s.get(&s.ws("/datasets/customers")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    let r = put_csv(&s, "Not A Code", "id\n1\n").await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = s
        .client
        .put(s.ws("/datasets/customers"))
        .bearer_auth(&s.access.secret)
        .header("content-type", "application/xml")
        .body("<rows/>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

async fn another_workspaces_dataset_is_not_found(s: TestServer) {
    let code_b = herald_core::testing::unique_name("beta").replace('_', "-");
    let other = admin::create_workspace(&s.ctx, &code_b, "Beta").await.unwrap();
    let theirs = s
        .client
        .put(format!("{}/api/v1/ws/{code_b}/datasets/secrets", s.url))
        .bearer_auth(&other.secret)
        .header("content-type", "text/csv")
        .body("k\nv\n")
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), StatusCode::CREATED);

    // Through our own workspace it does not exist; through theirs our token is refused as not found.
    for url in [
        s.ws("/datasets/secrets"),
        s.ws("/datasets/secrets/rows"),
        format!("{}/api/v1/ws/{code_b}/datasets/secrets", s.url),
    ] {
        let r = s.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{url}");
    }
    let listed = body(s.get(&s.ws("/datasets")).send().await.unwrap()).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
}

const ORDERS: &str = "order_id,customer_id,amount,placed\n10,1,30,2026-11-02\n11,1,12.5,2026-11-20\n12,2,99,2026-10-30\n13,3,5,2026-11-21\n";

/// A `sql` source on the built-in `datasets` connection: a join and an aggregate over two
/// uploaded datasets, a parameter bound (an injection attempt stays data), an optional clause,
/// one entry per row when it is the repeating source, and the engine's own word on a mistake.
async fn sql_over_uploaded_datasets_joins_aggregates_and_bursts(s: TestServer) {
    assert_eq!(put_csv(&s, "customers", CUSTOMERS).await.status(), StatusCode::CREATED);
    assert_eq!(put_csv(&s, "orders-2026", ORDERS).await.status(), StatusCode::CREATED);
    let query = "SELECT c.id, c.email, COUNT(o.order_id) AS orders, SUM(o.amount) AS spent \
                 FROM customers c JOIN orders_2026 o ON o.customer_id = c.id \
                 WHERE o.placed >= {since} [[AND c.region = {region}]] GROUP BY c.id, c.email ORDER BY c.id";
    let report = json!({
        "code": "spend", "name": "Spend", "formats": ["csv"],
        "parameters": [{"name": "since", "type": "date", "default": "2026-11-01"}, {"name": "region", "type": "string"}],
        "sources": [{"name": "spend", "role": "repeating", "type": "sql", "connection": "datasets", "query": query}],
        "sections": [{"type": "text", "markdown": "Customer {spend.id} spent {spend.spent}"}]
    });
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    let preview = |params: Value| {
        let url = format!("{}/api/v1/reports/preview", s.url);
        let call = s.post(&url).json(&json!({"report": {"sources": [{"name": "spend", "type": "sql",
            "connection": "datasets", "query": query}], "sections": [{"type": "table", "source": "spend"}],
            "parameters": [{"name": "since", "type": "string"}, {"name": "region", "type": "string"}]},
            "params": params, "format": "csv"}));
        async move { call.send().await.unwrap().text().await.unwrap() }
    };
    let all = preview(json!({"since": "2026-11-01"})).await;
    assert_eq!(
        all.trim_start_matches('\u{feff}').replace("\r\n", "\n"),
        "Id,Email,Orders,Spent\n1,a@example.com,2,42.5\n3,,1,5\n",
        "{all}"
    );
    let us = preview(json!({"since": "2026-10-01", "region": "US"})).await;
    assert_eq!(us.lines().count(), 2, "the optional clause narrowed the rows: {us}");
    let evil = preview(json!({"since": "2026-11-01", "region": "EU' OR '1'='1"})).await;
    assert_eq!(evil.lines().count(), 1, "a value is data, never SQL: {evil}");

    // The repeating source makes one entry per customer who spent since the date.
    s.run_workers();
    let r = s.post(&s.ws("/reports/spend/runs")).send().await.unwrap();
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    let run = s.settled_run(&id).await;
    assert_eq!((run["counts"]["total"].clone(), run["counts"]["completed"].clone()), (json!(2), json!(2)), "{run}");

    // A mistake is refused with the engine's own message; a write never runs.
    for (bad, says) in [("SELECT nme FROM customers", "no such column: nme"), ("DELETE FROM customers", "only reading")]
    {
        let r = s
            .post(&format!("{}/api/v1/reports/preview", s.url))
            .json(&json!({"report": {
            "sources": [{"name": "x", "type": "sql", "connection": "datasets", "query": bad}],
            "sections": [{"type": "table", "source": "x"}]}}))
            .send()
            .await
            .unwrap();
        let answer = r.text().await.unwrap();
        assert!(answer.contains(says), "{bad}: {answer}");
    }
    let kept = body(s.get(&s.ws("/datasets/customers")).send().await.unwrap()).await;
    assert_eq!(kept["row_count"], 3);
}

herald_tests::on_every_store!(
    sql_over_uploaded_datasets_joins_aggregates_and_bursts,
    interactions_are_ingested_as_json_or_ndjson_and_a_resent_one_counts_once,
    a_batch_with_a_bad_line_is_refused_naming_every_problem_and_nothing_is_stored,
    an_oversized_or_malformed_batch_is_refused_clearly,
    data_health_counts_batches_refused_and_late_and_says_when_data_last_arrived,
    a_csv_dataset_is_uploaded_read_back_page_by_page_replaced_and_deleted,
    a_bad_upload_names_the_lines_at_fault_and_changes_nothing,
    another_workspaces_dataset_is_not_found,
);
