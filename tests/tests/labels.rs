//! Rows named as people know them, seen from outside: a source declares a label (a column of
//! its own rows, or a dataset's column looked up by the row's id), and the narrative, the
//! tables and the charts say the name where the data holds an id; a row without a name keeps
//! its id; a label naming a column that is not there fails the entry saying which.

use herald_tests::{TestServer, offer_completions};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Offer ids as a real catalogue has them: nothing a reader could recognise.
const SPRING: &str = "7f3a9c0e5d2b4e1f9a8c6b5d4e3f2a1b";
const LOYALTY: &str = "2b81d4f6a9c3e5b7d1f2a4c6e8b0d3f5";
const UNNAMED: &str = "c0ffee00c0ffee00c0ffee00c0ffee00";

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

async fn run_now(s: &TestServer, code: &str) -> Value {
    let r = s.post(&s.ws(&format!("/reports/{code}/runs"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    s.settled_run(body(r).await["id"].as_str().unwrap()).await
}

async fn artifact(s: &TestServer, run: &Value, format: &str) -> String {
    let artifacts = run["entry_list"]["data"][0]["artifacts"].as_array().unwrap();
    let found = artifacts.iter().find(|a| a["format"] == format).unwrap_or_else(|| panic!("no {format}: {run}"));
    s.client.get(found["download_url"].as_str().unwrap()).send().await.unwrap().text().await.unwrap()
}

async fn offers_named_from_a_dataset_are_spoken_of_by_name_and_never_by_id(s: TestServer) {
    s.run_workers();
    let catalogue = format!("id,name\n{SPRING},Spring BOGO · 7 days\n{LOYALTY},Loyalty discount\n");
    let upload = s.client.put(s.ws("/datasets/offers")).bearer_auth(&s.access.secret);
    let r = upload.header("content-type", "text/csv").body(catalogue).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    // Spring falls from 9 to 2, Loyalty rises from 3 to 4, the unnamed offer from 4 to 3.
    let mut events = Vec::new();
    for (offer, before, now) in [(SPRING, 9, 2), (LOYALTY, 3, 4), (UNNAMED, 4, 3)] {
        events.extend(offer_completions(offer, 12, before));
        events.extend(offer_completions(offer, 19, now));
    }
    let r = s.post(&s.ws("/interactions")).json(&events).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());

    let report = json!({"code": "named-offers", "name": "Named offers", "formats": ["markdown", "csv"],
        "parameters": [{"name": "as_of", "type": "date", "default": "2026-11-22"}],
        "sources": [{"name": "offers", "type": "offer_performance", "period": "7d",
                     "label": {"dataset": "offers", "column": "name"}}],
        "sections": [
            {"type": "table", "title": "Offers", "source": "offers",
             "columns": [{"key": "offer_id", "label": "Offer"}, {"key": "completed"}, {"key": "completed_change"}]},
            {"type": "chart", "title": "Completions", "source": "offers", "chart": "bar", "x": "offer_id",
             "y": ["completed"]}],
        "narrative": {"enabled": true, "prompt_addendum": "Flag any offer with >15% week-over-week drop."}});
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    let run = run_now(&s, "named-offers").await;
    assert_eq!(run["status"], "finished", "{run}");
    let narrative = &run["narrative"];
    let summary = narrative["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "Completions fell 43.8% against the previous period, driven most by offer Spring BOGO · 7 days \
             (down 77.8%, to 2 from 9)."
        ),
        "{summary}"
    );
    assert!(summary.contains("offer Loyalty discount: up 33.3% to 4 from 3"), "{summary}");
    let prose = format!("{summary} {}", narrative["takeaways"]);
    for id in [SPRING, LOYALTY] {
        assert!(!prose.contains(id) && !prose.contains(&id[..8]), "{id} in {prose}");
    }
    assert!(prose.contains(UNNAMED), "an offer without a name keeps its id: {prose}");
    assert_eq!(narrative["dropped"], json!([]), "{narrative}");

    let markdown = artifact(&s, &run, "markdown").await;
    assert!(markdown.contains("| Offer | Completed | Completed change |"), "{markdown}");
    assert!(markdown.contains("| Spring BOGO · 7 days | 2 | -77.8% |"), "{markdown}");
    assert!(markdown.contains(&format!("| {UNNAMED} | 3 |")), "{markdown}");
    let chart = markdown.split("## Completions").nth(1).unwrap_or_default();
    assert!(chart.contains("| Spring BOGO · 7 days | 2 |"), "the chart's categories are names too: {markdown}");
    for id in [SPRING, LOYALTY] {
        assert!(!markdown.contains(id), "{id} in the document");
    }
    let csv = artifact(&s, &run, "csv").await;
    assert!(csv.contains("Spring BOGO · 7 days,2,"), "{csv}");
}

async fn a_label_column_of_the_rows_names_them_and_a_missing_one_says_which(s: TestServer) {
    s.run_workers();
    let rows = json!([{"customer_id": "cus_8f2k", "customer_name": "Ada Lovelace", "balance": 120},
                      {"customer_id": "cus_9x1q", "customer_name": "", "balance": 80}]);
    let report = |label: Value| {
        json!({"code": "balances", "name": "Balances", "formats": ["markdown"],
               "sources": [{"name": "accounts", "type": "inline", "rows": rows, "label": label}],
               "sections": [{"type": "table", "source": "accounts", "totals": true}]})
    };

    // Looking names up in a dataset needs to know which column holds the ids.
    let r = s.post(&s.ws("/reports")).json(&report(json!({"dataset": "people", "column": "name"}))).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body(r).await.to_string().contains("sources[0].label.id"));

    let named = report(json!({"column": "customer_name", "id": "customer_id"}));
    assert_eq!(s.post(&s.ws("/reports")).json(&named).send().await.unwrap().status(), StatusCode::CREATED);
    let run = run_now(&s, "balances").await;
    let markdown = artifact(&s, &run, "markdown").await;
    assert!(markdown.contains("| Customer name | Balance |"), "shown once, under the name's heading: {markdown}");
    assert!(markdown.contains("| Ada Lovelace | 120 |"), "{markdown}");
    assert!(markdown.contains(r"| cus\_9x1q | 80 |"), "a blank name keeps the id: {markdown}");
    assert!(!markdown.contains("8f2k"), "{markdown}");

    let mut misnamed = report(json!({"column": "nom", "id": "customer_id"}));
    misnamed["code"] = json!("misnamed");
    assert_eq!(s.post(&s.ws("/reports")).json(&misnamed).send().await.unwrap().status(), StatusCode::CREATED);
    let run = run_now(&s, "misnamed").await;
    assert_eq!(run["counts"]["errors"], 1, "{run}");
    let entry = &run["entry_list"]["data"][0];
    assert_eq!(entry["status"], "GenerationFailed", "{run}");
    let error = entry["error"].to_string();
    assert!(error.contains("the rows have no column `nom`") && error.contains("customer_name"), "{error}");
}

herald_tests::on_every_store!(
    offers_named_from_a_dataset_are_spoken_of_by_name_and_never_by_id,
    a_label_column_of_the_rows_names_them_and_a_missing_one_says_which,
);
