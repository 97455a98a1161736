//! The HTTP API seen from outside: conventions (envelope, correlation id, body limit,
//! pagination), authentication and workspace scoping, tokens, runs and signed downloads.
//! Every test runs against a real server on the embedded store and on DynamoDB.

use std::time::Duration;

use chrono::Utc;
use herald_core::domain::Role;
use herald_core::pipeline::admin;
use herald_core::testing::fixtures;
use herald_tests::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(response: reqwest::Response) -> Value {
    response.json().await.expect("JSON body")
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

async fn health_answers_with_a_fresh_or_echoed_correlation_id(s: TestServer) {
    let r = s.client.get(format!("{}/health", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let generated = r.headers()["x-correlation-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 26);
    assert_eq!(body(r).await["status"], "ok");
    let r = s.client.get(format!("{}/health", s.url)).header("X-Correlation-ID", "trace-42").send().await.unwrap();
    assert_eq!(r.headers()["x-correlation-id"], "trace-42");
}

async fn unknown_paths_get_the_error_envelope_with_the_request_id(s: TestServer) {
    let r = s.client.get(format!("{}/api/v1/nope", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let id = r.headers()["x-correlation-id"].to_str().unwrap().to_string();
    let v = body(r).await;
    assert_eq!(code(&v), "not_found");
    assert_eq!(v["request_id"], id.as_str());
    let r = s.client.delete(format!("{}/health", s.url)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(body(r).await["request_id"].is_string());
}

async fn requests_without_a_valid_token_are_unauthorized(s: TestServer) {
    let url = s.ws("");
    for auth in [None, Some("Bearer hrld_pat_nope"), Some("Basic dXNlcjpwYXNz"), Some("Bearer ")] {
        let mut request = s.client.get(&url);
        if let Some(value) = auth {
            request = request.header("Authorization", value);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{auth:?}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        assert_eq!(code(&body(r).await), "unauthorized");
    }
}

async fn a_workspace_resolves_by_id_and_by_code(s: TestServer) {
    let ws = &s.access.workspace;
    for key in [ws.id.to_string(), ws.code.to_string()] {
        let r = s.get(&format!("{}/api/v1/ws/{key}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let v = body(r).await;
        assert_eq!((v["object"].as_str(), v["id"].as_str()), (Some("workspace"), Some(ws.id.to_string().as_str())));
    }
}

async fn another_workspaces_token_sees_not_found_like_a_missing_workspace(s: TestServer) {
    let code_b = herald_core::testing::unique_name("beta").replace('_', "-");
    let other = admin::create_workspace(&s.ctx, &code_b, "Beta").await.unwrap();
    let foreign = s.get(&format!("{}/api/v1/ws/{code_b}", s.url)).send().await.unwrap();
    let missing = s.get(&format!("{}/api/v1/ws/no-such-workspace", s.url)).send().await.unwrap();
    assert_eq!((foreign.status(), missing.status()), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(code(&body(foreign).await), "not_found");
    // Their own token works there.
    let own = s.client.get(format!("{}/api/v1/ws/{}", s.url, other.workspace.id)).bearer_auth(&other.secret);
    assert_eq!(own.send().await.unwrap().status(), StatusCode::OK);
}

async fn tokens_are_shown_once_listed_without_hashes_and_revocable(s: TestServer) {
    let r = s.post(&s.ws("/tokens")).json(&json!({"name": "ci", "role": "editor"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("hrld_pat_"));
    assert_eq!(created["role"], "editor");
    assert!(created.get("hash").is_none());

    let as_new = s.client.get(s.ws("")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(as_new.status(), StatusCode::OK);
    let listed = body(s.get(&s.ws("/tokens")).send().await.unwrap()).await;
    assert_eq!(listed["object"], "list");
    let tokens = listed["data"].as_array().unwrap();
    assert_eq!(tokens.len(), 2);
    assert!(tokens.iter().all(|t| t.get("hash").is_none() && t.get("secret").is_none()));

    let id = created["id"].as_str().unwrap();
    let revoked = s.client.delete(s.ws(&format!("/tokens/{id}"))).bearer_auth(&s.access.secret).send().await.unwrap();
    assert_eq!(revoked.status(), StatusCode::OK);
    assert!(body(revoked).await["revoked_at"].is_string());
    let after = s.client.get(s.ws("")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::UNAUTHORIZED);
}

async fn nobody_can_mint_a_token_stronger_than_their_own(s: TestServer) {
    let (viewer, viewer_secret) = fixtures::token(&s.access.workspace, Role::Viewer, Utc::now());
    s.ctx.store.create_token(&viewer).await.unwrap();
    let r =
        s.client.post(s.ws("/tokens")).bearer_auth(&viewer_secret).json(&json!({"name": "x"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(r).await["error"]["message"], "This token lacks the `tokens:write` permission");

    let (editor, editor_secret) = fixtures::token(&s.access.workspace, Role::Editor, Utc::now());
    s.ctx.store.create_token(&editor).await.unwrap();
    let r = s
        .client
        .post(s.ws("/tokens"))
        .bearer_auth(&editor_secret)
        .json(
            &json!({"name": "x", "role": "admin", "scopes": ["settings:write"], "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    assert_eq!(code(&v), "validation_error");
    let fields: Vec<&str> =
        v["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["role", "scopes[0]", "expires_at"]);
}

async fn bad_bodies_are_rejected_with_details_and_change_nothing(s: TestServer) {
    let url = s.ws("/tokens");
    let cases: Vec<(reqwest::RequestBuilder, StatusCode)> = vec![
        (s.post(&url).header("content-type", "application/json").body("{not json"), StatusCode::BAD_REQUEST),
        (s.post(&url).json(&json!({"name": "x", "colour": "red"})), StatusCode::BAD_REQUEST),
        (s.post(&url).json(&json!({"name": "x", "role": "overlord"})), StatusCode::BAD_REQUEST),
        (s.post(&url).body(r#"{"name":"x"}"#), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (s.post(&url).json(&json!({"name": "x".repeat(70_000)})), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (request, status) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status);
        let v = body(r).await;
        assert_eq!(code(&v), "body_validation_error", "{v}");
        assert!(v["error"]["details"]["reason"].is_string());
    }
    let listed = body(s.get(&url).send().await.unwrap()).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1, "nothing was created");
}

async fn runs_are_listed_newest_first_page_by_page(s: TestServer) {
    let now = Utc::now();
    let report = s.ctx.store.create_report(&fixtures::report(&s.access.workspace, "digest", now)).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let at = now + chrono::Duration::seconds(i);
        let run = fixtures::run(&report, at);
        s.ctx.store.create_run(&run, &fixtures::entries(&run, 2, at), at).await.unwrap();
        ids.push(run.id.to_string());
    }
    let mut seen = Vec::new();
    let mut url = s.ws("/runs?limit=2");
    loop {
        let page = body(s.get(&url).send().await.unwrap()).await;
        seen.extend(page["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()));
        match page["next_cursor"].as_str() {
            Some(cursor) => url = s.ws(&format!("/runs?limit=2&cursor={cursor}")),
            None => break,
        }
    }
    ids.reverse();
    assert_eq!(seen, ids);

    let detail = body(s.get(&s.ws(&format!("/runs/{}", ids[0]))).send().await.unwrap()).await;
    assert_eq!(detail["object"], "report_run");
    assert_eq!((detail["finished"].as_bool(), detail["entries"].as_u64()), (Some(false), Some(2)));
    assert_eq!(detail["counts"]["queued"], 2);
    let filtered = body(s.get(&s.ws(&format!("/runs?report_id={}", report.id))).send().await.unwrap()).await;
    assert_eq!(filtered["data"].as_array().unwrap().len(), 5);

    for (path, status, expected) in [
        ("/runs?limit=0".to_string(), StatusCode::BAD_REQUEST, "validation_error"),
        ("/runs?cursor=garbage".to_string(), StatusCode::BAD_REQUEST, "validation_error"),
        ("/runs?report_id=nope".to_string(), StatusCode::NOT_FOUND, "not_found"),
        ("/runs/not-an-id".to_string(), StatusCode::NOT_FOUND, "not_found"),
        (format!("/runs/{}", herald_core::domain::RunId::generate(now)), StatusCode::NOT_FOUND, "not_found"),
    ] {
        let r = s.get(&s.ws(&path)).send().await.unwrap();
        assert_eq!(r.status(), status, "{path}");
        assert_eq!(code(&body(r).await), expected, "{path}");
    }
}

async fn a_signed_download_link_works_until_it_is_tampered_with(s: TestServer) {
    let key = "runs/demo/statement.pdf";
    s.ctx.blobs.put(key, bytes::Bytes::from_static(b"%PDF-1.7 test"), "application/pdf").await.unwrap();
    let url = s.ctx.blobs.signed_url(key, Duration::from_secs(60), Utc::now()).await.unwrap();
    assert!(url.starts_with(&s.url), "{url}");
    let r = s.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"%PDF-1.7 test");
    let tampered = url.replace("statement.pdf", "other.pdf");
    assert_eq!(s.client.get(&tampered).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let unsigned = format!("{}/blobs/{key}?expires=9999999999&signature=00", s.url);
    assert_eq!(s.client.get(&unsigned).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

async fn reports_are_created_read_by_code_changed_and_deleted(s: TestServer) {
    let digest = json!({
        "code": "weekly-digest",
        "name": "Weekly digest",
        "formats": ["pdf", "csv"],
        "sources": [
            {"name": "offers", "type": "offer_performance", "period": "7d"},
            {"name": "channels", "type": "channel_effectiveness"}
        ],
        "sections": [{"type": "table", "source": "offers", "title": "Offer performance"}],
        "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >15% week-over-week drop."}
    });
    let r = s.post(&s.ws("/reports")).json(&digest).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!((created["object"].as_str(), created["version"].as_u64()), (Some("report"), Some(1)));
    assert_eq!(created["enabled"], true);

    let by_code = body(s.get(&s.ws("/reports/weekly-digest")).send().await.unwrap()).await;
    assert_eq!(by_code["id"], created["id"]);
    let r =
        s.patch(&s.ws("/reports/weekly-digest")).json(&json!({"enabled": false, "version": 1})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(body(r).await["enabled"], false);
    let stale =
        s.patch(&s.ws("/reports/weekly-digest")).json(&json!({"name": "x", "version": 1})).send().await.unwrap();
    assert_eq!(stale.status(), StatusCode::CONFLICT);
    let dup = s.post(&s.ws("/reports")).json(&digest).send().await.unwrap();
    assert_eq!(dup.status(), StatusCode::CONFLICT);
    assert_eq!(body(dup).await["error"]["message"], "report code `weekly-digest` is taken");

    let listed = body(s.get(&s.ws("/reports")).send().await.unwrap()).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(s.delete(&s.ws("/reports/weekly-digest")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let gone = s.get(&s.ws("/reports/weekly-digest")).send().await.unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

async fn an_invalid_report_gets_every_problem_at_once_and_nothing_is_saved(s: TestServer) {
    let r = s
        .post(&s.ws("/reports"))
        .json(&json!({
            "code": "bad",
            "name": "Bad",
            "formats": [],
            "sources": [
                {"name": "a", "role": "repeating", "type": "inline", "rows": []},
                {"name": "b", "role": "repeating", "type": "inline", "rows": []}
            ],
            "sections": [{"type": "table", "source": "nope"}],
            "deliveries": [{"destination_id": "01JD0000000000000000000000"}]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    let fields: Vec<&str> =
        v["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["formats", "sources", "sections[0].source", "deliveries[0].destination_id"]);
    let missing = s.post(&s.ws("/reports")).json(&json!({"name": "No code"})).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = body(missing).await["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(fields, ["code", "formats"]);
    let listed = body(s.get(&s.ws("/reports")).send().await.unwrap()).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
}

async fn new_report(s: &TestServer, code: &str) -> Value {
    let r =
        s.post(&s.ws("/reports")).json(&json!({"code": code, "name": code, "formats": ["pdf"]})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    body(r).await
}

async fn schedules_are_created_under_a_report_with_their_next_run(s: TestServer) {
    new_report(&s, "digest").await;
    let r = s
        .post(&s.ws("/reports/digest/schedules"))
        .json(&json!({"name": "Daily 8am UTC", "rule": {"type": "cron", "expression": "0 8 * * *"}, "timezone": "UTC"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let created = body(r).await;
    assert_eq!(created["object"], "schedule");
    assert_eq!((created["overlap"].as_str(), created["catch_up_minutes"].as_u64()), (Some("buffer_one"), Some(60)));
    let next = chrono::DateTime::parse_from_rfc3339(created["next_run_at"].as_str().unwrap()).unwrap();
    assert_eq!(next.format("%H:%M:%S").to_string(), "08:00:00");
    assert!(next > Utc::now());

    // An RRULE sets the rule and its timezone; the stored schedule shows it back as text.
    let id = created["id"].as_str().unwrap();
    let text = "DTSTART;TZID=America/New_York:20260105T090000\nRRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1";
    let r = s
        .patch(&s.ws(&format!("/schedules/{id}")))
        .json(&json!({"rule": {"type": "rrule", "text": text}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let changed = body(r).await;
    assert_eq!(changed["timezone"], "America/New_York");
    assert_eq!(changed["rule"]["type"], "recurrence");
    assert!(changed["rrule"].as_str().unwrap().contains("BYSETPOS=1"));
    let listed = body(s.get(&s.ws("/reports/digest/schedules")).send().await.unwrap()).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    assert_eq!(s.delete(&s.ws(&format!("/schedules/{id}"))).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get(&s.ws(&format!("/schedules/{id}"))).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

async fn a_rule_that_never_fires_or_does_not_parse_is_refused_with_the_reason(s: TestServer) {
    new_report(&s, "digest").await;
    for (rule, timezone, field, says) in [
        (json!({"type": "cron", "expression": "0 0 30 2 *"}), "UTC", "rule", "never fires"),
        (json!({"type": "cron", "expression": "0 0 8 * * *"}), "UTC", "rule", "seconds"),
        (json!({"type": "cron", "expression": "0 8 * * *"}), "Mars/Olympus", "timezone", "IANA"),
        (json!({"type": "preset", "name": "Hourly at noon"}), "UTC", "rule.name", "unknown preset"),
    ] {
        let r = s
            .post(&s.ws("/reports/digest/schedules"))
            .json(&json!({"name": "x", "rule": rule, "timezone": timezone}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{rule}");
        let v = body(r).await;
        let error = &v["error"]["details"]["errors"][0];
        assert_eq!(error["field"], field, "{v}");
        assert!(error["message"].as_str().unwrap().contains(says), "{v}");
    }
    let listed = body(s.get(&s.ws("/schedules")).send().await.unwrap()).await;
    assert!(listed["data"].as_array().unwrap().is_empty());
}

async fn the_preview_gives_utc_and_local_times_and_flags_dst_moves(s: TestServer) {
    let r = s
        .post(&s.ws("/schedules/preview"))
        .json(&json!({
            "rule": {"type": "cron", "expression": "30 2 * * *"},
            "timezone": "America/New_York",
            "after": "2026-03-06T12:00:00Z",
            "count": 3
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = body(r).await;
    assert_eq!(v["object"], "schedule_preview");
    let times: Vec<(&str, &str, bool)> = v["occurrences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["at"].as_str().unwrap(), o["local"].as_str().unwrap(), o["dst_shifted"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        times,
        [
            ("2026-03-07T07:30:00Z", "2026-03-07T02:30:00-05:00", false),
            ("2026-03-08T07:00:00Z", "2026-03-08T03:00:00-04:00", true),
            ("2026-03-09T06:30:00Z", "2026-03-09T02:30:00-04:00", false),
        ]
    );
    let preset = s
        .post(&s.ws("/schedules/preview"))
        .json(
            &json!({"rule": {"type": "preset", "name": "Weekly Mon 8am"}, "after": "2026-11-22T00:00:00Z", "count": 1}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(body(preset).await["occurrences"][0]["at"], "2026-11-23T08:00:00Z");
    let too_many = s
        .post(&s.ws("/schedules/preview"))
        .json(&json!({"rule": {"type": "cron", "expression": "@daily"}, "count": 1000}))
        .send()
        .await
        .unwrap();
    assert_eq!(too_many.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

async fn settings_change_field_by_field_and_never_show_the_smtp_password(s: TestServer) {
    let url = s.ws("/settings");
    let initial = body(s.get(&url).send().await.unwrap()).await;
    assert_eq!(initial["object"], "workspace_settings");
    assert_eq!(initial["legal_hold"], false);
    let smtp = json!({"host": "mail.example.com", "port": 587, "username": "reports", "password": "s3cret",
        "from": "reports@example.com"});
    let r = s
        .patch(&url)
        .json(&json!({"smtp": smtp, "retention": {"run_days": 30}, "legal_hold": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let changed = body(r).await;
    assert_eq!(changed["retention"]["run_days"], 30);
    assert_eq!(changed["retention"]["history_days"], initial["retention"]["history_days"]);
    assert_eq!((changed["legal_hold"].as_bool(), changed["smtp"]["password"].as_str()), (Some(true), Some("********")));
    assert!(!changed.to_string().contains("s3cret"));
    let stored = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    assert_eq!(stored.settings.smtp.unwrap().password.unwrap().expose(), "s3cret");

    // The redacted password sent back keeps the stored one while the server is the same;
    // every problem is reported at once.
    let mut resent = changed["smtp"].clone();
    resent["from"] = json!("digest@acme.test");
    let r = s
        .patch(&url)
        .json(&json!({"smtp": resent, "network": {"allowed_addresses": ["10.0.0.0/8"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stored = s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap();
    let smtp = stored.settings.smtp.clone().unwrap();
    assert_eq!((smtp.from.as_str(), smtp.password.unwrap().expose()), ("digest@acme.test", "s3cret"));
    let bad = json!({"retention": {"run_days": 0}, "smtp": {"host": "", "port": 25, "from": "nope"}});
    let r = s.patch(&url).json(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let v = body(r).await;
    let fields: Vec<&str> =
        v["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"settings.retention.run_days") && fields.contains(&"settings.smtp.host"), "{fields:?}");
    assert!(fields.contains(&"settings.smtp.from"), "{fields:?}");
    for bad in [json!({"colour": "red"}), json!({"legal_hold": "yes"}), json!({"version": 0})] {
        let r = s.patch(&url).json(&bad).send().await.unwrap();
        assert!(r.status().is_client_error(), "{bad}");
    }
    assert_eq!(s.ctx.store.get_workspace(s.access.workspace.id).await.unwrap(), stored, "nothing changed");
    let r = s.patch(&url).json(&json!({"smtp": null})).send().await.unwrap();
    assert!(body(r).await["smtp"].is_null());
}

async fn runs_are_filtered_by_status_trigger_and_creation_window(s: TestServer) {
    use herald_core::domain::{RunStatus, RunTrigger};
    let start = Utc::now() - chrono::Duration::hours(3);
    let report = s.ctx.store.create_report(&fixtures::report(&s.access.workspace, "digest", start)).await.unwrap();
    let mut ids = Vec::new();
    for hour in 0..3 {
        let at = start + chrono::Duration::hours(hour);
        let mut run = fixtures::run(&report, at);
        run.trigger = if hour == 1 { RunTrigger::Schedule } else { RunTrigger::Api };
        s.ctx.store.create_run(&run, &fixtures::entries(&run, 1, at), at).await.unwrap();
        ids.push(run.id.to_string());
    }
    s.ctx.store.transition_run(ids[0].parse().unwrap(), RunStatus::Running, RunStatus::Finished, |_| {}).await.unwrap();
    let s = &s;
    let listed = |query: String| async move {
        let page = body(s.get(&s.ws(&format!("/runs?{query}"))).send().await.unwrap()).await;
        page["data"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect::<Vec<_>>()
    };
    assert_eq!(listed("status=finished".into()).await, [ids[0].clone()]);
    assert_eq!(listed("trigger=schedule".into()).await, [ids[1].clone()]);
    assert_eq!(listed("trigger=api&status=running".into()).await, [ids[2].clone()]);
    let from = (start + chrono::Duration::minutes(30)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let before = (start + chrono::Duration::minutes(90)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert_eq!(listed(format!("created_from={from}&created_before={before}")).await, [ids[1].clone()]);
    assert_eq!(listed(format!("created_from={from}&report_id=digest&limit=1")).await, [ids[2].clone()]);
    for bad in [
        "status=sleeping",
        "trigger=pigeon",
        "created_from=yesterday",
        "colour=red",
        &format!("created_from={before}&created_before={from}"),
    ] {
        let r = s.get(&s.ws(&format!("/runs?{bad}"))).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(code(&body(r).await), "validation_error", "{bad}");
    }
}

/// A run of three queued entries, entry `taken` already in a worker's hands.
async fn run_of_three_with_one_taken(
    s: &TestServer,
    taken: usize,
) -> (chrono::DateTime<Utc>, herald_core::domain::Report, herald_core::domain::Run, Vec<herald_core::domain::Entry>) {
    use herald_core::domain::EntryStatus;
    let now = Utc::now();
    let report = s.ctx.store.create_report(&fixtures::report(&s.access.workspace, "digest", now)).await.unwrap();
    let run = fixtures::run(&report, now);
    let entries = fixtures::entries(&run, 3, now);
    s.ctx.store.create_run(&run, &entries, now).await.unwrap();
    let id = entries[taken].id;
    s.ctx.store.transition_entry(run.id, id, EntryStatus::Queued, EntryStatus::InProgress, now, |_| {}).await.unwrap();
    (now, report, run, entries)
}

async fn entries_are_listed_by_status_and_read_one_by_one(s: TestServer) {
    let (now, _, run, entries) = run_of_three_with_one_taken(&s, 1).await;
    let all = body(s.get(&s.ws(&format!("/runs/{}/entries?limit=2", run.id))).send().await.unwrap()).await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2);
    assert!(all["next_cursor"].is_string());
    let busy = body(s.get(&s.ws(&format!("/runs/{}/entries?status=InProgress", run.id))).send().await.unwrap()).await;
    let busy: Vec<&str> = busy["data"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(busy, [entries[1].id.to_string()]);
    let one = body(s.get(&s.ws(&format!("/runs/{}/entries/{}", run.id, entries[2].id))).send().await.unwrap()).await;
    assert_eq!((one["object"].as_str(), one["seq"].as_u64()), (Some("run_entry"), Some(2)));
    assert!(one["deliveries"].as_array().unwrap().is_empty());
    for (path, status) in [
        (format!("/runs/{}/entries/{}", run.id, herald_core::domain::EntryId::generate(now)), StatusCode::NOT_FOUND),
        (format!("/runs/{}/entries/nope", run.id), StatusCode::NOT_FOUND),
        (format!("/runs/{}/entries?status=Sleeping", run.id), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(s.get(&s.ws(&path)).send().await.unwrap().status(), status, "{path}");
    }
}

async fn cancelling_a_run_cancels_its_waiting_entries_once(s: TestServer) {
    use herald_core::domain::{EntryStatus, RunStatus};
    let (now, report, run, entries) = run_of_three_with_one_taken(&s, 0).await;
    let url = s.ws(&format!("/runs/{}/cancel", run.id));
    let r = s.post(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v = body(r).await;
    assert_eq!((v["status"].as_str(), v["cancelled_entries"].as_u64()), (Some("cancelled"), Some(2)));
    // The entry a worker holds finishes its step; the run is finished once it is done.
    assert_eq!((v["counts"]["cancelled"].as_u64(), v["finished"].as_bool()), (Some(2), Some(false)));
    let again = body(s.post(&url).send().await.unwrap()).await;
    assert_eq!(again["cancelled_entries"], 0);
    s.ctx
        .store
        .transition_entry(run.id, entries[0].id, EntryStatus::InProgress, EntryStatus::Completed, now, |_| {})
        .await
        .unwrap();
    let detail = body(s.get(&s.ws(&format!("/runs/{}", run.id))).send().await.unwrap()).await;
    assert_eq!((detail["status"].as_str(), detail["finished"].as_bool()), (Some("cancelled"), Some(true)));

    let finished = fixtures::run(&report, now);
    s.ctx.store.create_run(&finished, &[], now).await.unwrap();
    s.ctx.store.transition_run(finished.id, RunStatus::Running, RunStatus::Finished, |_| {}).await.unwrap();
    let r = s.post(&s.ws(&format!("/runs/{}/cancel", finished.id))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let other =
        s.post(&s.ws(&format!("/runs/{}/cancel", herald_core::domain::RunId::generate(now)))).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND);
}

async fn the_seed_run_path_reads_runs_of_the_tokens_workspace(s: TestServer) {
    let now = Utc::now();
    let report = s.ctx.store.create_report(&fixtures::report(&s.access.workspace, "digest", now)).await.unwrap();
    let run = fixtures::run(&report, now);
    s.ctx.store.create_run(&run, &fixtures::entries(&run, 1, now), now).await.unwrap();
    let url = format!("{}/api/v1/reports/runs/{}", s.url, run.id);
    let v = body(s.get(&url).send().await.unwrap()).await;
    assert_eq!((v["object"].as_str(), v["id"].as_str()), (Some("report_run"), Some(run.id.to_string().as_str())));
    assert_eq!(v["entry_list"]["data"].as_array().unwrap().len(), 1);
    assert_eq!(s.client.get(&url).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let other = admin::create_workspace(&s.ctx, &herald_core::testing::unique_name("other").replace('_', "-"), "Other")
        .await
        .unwrap();
    let r = s.client.get(&url).bearer_auth(&other.secret).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

herald_tests::on_every_store!(
    health_answers_with_a_fresh_or_echoed_correlation_id,
    unknown_paths_get_the_error_envelope_with_the_request_id,
    requests_without_a_valid_token_are_unauthorized,
    a_workspace_resolves_by_id_and_by_code,
    another_workspaces_token_sees_not_found_like_a_missing_workspace,
    tokens_are_shown_once_listed_without_hashes_and_revocable,
    nobody_can_mint_a_token_stronger_than_their_own,
    bad_bodies_are_rejected_with_details_and_change_nothing,
    runs_are_listed_newest_first_page_by_page,
    a_signed_download_link_works_until_it_is_tampered_with,
    reports_are_created_read_by_code_changed_and_deleted,
    an_invalid_report_gets_every_problem_at_once_and_nothing_is_saved,
    schedules_are_created_under_a_report_with_their_next_run,
    a_rule_that_never_fires_or_does_not_parse_is_refused_with_the_reason,
    the_preview_gives_utc_and_local_times_and_flags_dst_moves,
    settings_change_field_by_field_and_never_show_the_smtp_password,
    runs_are_filtered_by_status_trigger_and_creation_window,
    entries_are_listed_by_status_and_read_one_by_one,
    cancelling_a_run_cancels_its_waiting_entries_once,
    the_seed_run_path_reads_runs_of_the_tokens_workspace,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_past_its_rate_limit_gets_429_with_retry_after_and_others_go_on() {
    let s = TestServer::start_with(herald_tests::Backend::Sqlite, None, &[("HERALD_RATE_LIMIT_PER_MINUTE", "3")])
        .await
        .expect("server");
    for _ in 0..3 {
        assert_eq!(s.get(&s.ws("/reports")).send().await.unwrap().status(), StatusCode::OK);
    }
    let r = s.get(&s.ws("/reports")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "20");
    let v = body(r).await;
    assert_eq!((code(&v), v["error"]["details"]["retry_after_seconds"].as_u64()), ("rate_limit_exceeded", Some(20)));
    assert!(v["request_id"].is_string());
    let (viewer, secret) = fixtures::token(&s.access.workspace, Role::Viewer, Utc::now());
    s.ctx.store.create_token(&viewer).await.unwrap();
    let r = s.client.get(s.ws("/reports")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another token has its own allowance");
}
