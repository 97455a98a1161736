//! Narration providers seen from outside: a workspace chooses an OpenAI-compatible server in
//! its AI settings (the key write-only, kept only for the same server), the Test button's
//! endpoint narrates a sample through it, and a run whose model fails still renders, with the
//! built-in summary and the provider's failure on the run.

use herald_core::testing::recorder::{Recorder, Reply};
use herald_tests::TestServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

const KEY: &str = "sk-narration-test-key";

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

fn completion(content: &str) -> String {
    json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]})
        .to_string()
}

async fn settings(s: &TestServer, change: Value) -> reqwest::Response {
    s.patch(&s.ws("/settings")).json(&change).send().await.unwrap()
}

async fn an_openai_compatible_server_is_configured_tested_and_fallen_back_from(s: TestServer) {
    let answer = completion(r#"{"summary": "Completions reached 1,240.", "takeaways": ["Offers received: 8,650."]}"#);
    let model = Recorder::start(vec![Reply::new(200, &answer)]).await;
    let ai = json!({"enabled": true, "narrator": "openai_compatible", "base_url": model.url(""),
                    "model_id": "small-model", "api_key": KEY});
    let r = settings(&s, json!({"ai": ai})).await;
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let saved = body(r).await;
    assert_eq!(saved["ai"]["api_key"], "********", "{saved}");

    // The model server is on loopback: refused until the workspace allows it.
    let test = body(s.post(&s.ws("/settings/ai/test")).send().await.unwrap()).await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(test["error"].as_str().unwrap().contains("not a public address"), "{test}");
    settings(&s, json!({"network": {"allowed_addresses": ["127.0.0.1"]}})).await;
    let test = body(s.post(&s.ws("/settings/ai/test")).send().await.unwrap()).await;
    assert_eq!((test["ok"].clone(), test["narrator"].clone()), (json!(true), json!("openai_compatible")), "{test}");
    assert_eq!(test["summary"], "Completions reached 1,240.");
    let request = &model.requests()[0];
    assert_eq!(request.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(request.json()["model"], "small-model");

    // The masked key stays for the same server, and is refused for another.
    let mut same = ai.clone();
    same["api_key"] = json!("********");
    assert_eq!(settings(&s, json!({"ai": same.clone()})).await.status(), StatusCode::OK);
    let mut elsewhere = same;
    elsewhere["base_url"] = json!("https://models.example.com");
    let r = settings(&s, json!({"ai": elsewhere})).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(r).await["error"]["details"]["errors"][0]["field"], "ai.api_key");

    // A run whose model fails renders with the built-in summary, and says why.
    let failing = Recorder::start(vec![Reply::new(400, r#"{"error": {"message": "model not found"}}"#)]).await;
    let ai = json!({"enabled": true, "narrator": "openai_compatible", "base_url": failing.url(""),
                    "model_id": "missing", "api_key": KEY});
    assert_eq!(settings(&s, json!({"ai": ai})).await.status(), StatusCode::OK);
    s.run_workers();
    let report = json!({"code": "digest", "name": "Digest", "formats": ["pdf"],
        "sources": [{"name": "sales", "type": "inline", "rows": [{"region": "north", "amount": 120}]}],
        "sections": [{"type": "table", "source": "sales", "totals": true}],
        "narrative": {"enabled": true}});
    assert_eq!(s.post(&s.ws("/reports")).json(&report).send().await.unwrap().status(), StatusCode::CREATED);
    let run = body(s.post(&s.ws("/reports/digest/runs")).send().await.unwrap()).await;
    let run = s.settled_run(run["id"].as_str().unwrap()).await;
    assert_eq!(run["status"], "finished", "{run}");
    let narrative = &run["narrative"];
    assert_eq!(narrative["narrator"], "builtin", "{narrative}");
    assert_eq!(narrative["provider"], "openai_compatible");
    assert!(narrative["fallback_reason"].as_str().unwrap().contains("HTTP 400: model not found"), "{narrative}");
    assert!(!narrative["summary"].as_str().unwrap().is_empty());
    assert!(!run.to_string().contains(KEY));
}

herald_tests::on_every_store!(an_openai_compatible_server_is_configured_tested_and_fallen_back_from);
