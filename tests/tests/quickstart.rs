//! The seed `003` quickstart end to end, over HTTP only: a customers dataset uploaded through
//! the datasets API, the "Monthly Customer Statements" job (repeating customers source, a
//! `period` parameter, `customer_id` bound to the row's `id`, a monthly schedule, one email
//! per row to the row's address, guarded by a condition), Run now, and the outcome: one entry
//! per customer, one email per address each with that customer's own PDF, the customer
//! without an address skipped by the condition and shown as such. Then the same job held for
//! review: nothing leaves until the run is delivered.

use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Customers in the dataset; the one at [`NO_EMAIL`] has no address.
const CUSTOMERS: usize = 50;
const NO_EMAIL: usize = 17;

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

fn name(i: usize) -> String {
    format!("Customer {i:02} Quickstart")
}

fn address(i: usize) -> String {
    format!("customer{i:02}@example.com")
}

/// Uploads the `customers` dataset as CSV: id, name, email (empty for one row), tier.
async fn upload_customers(s: &TestServer) {
    let mut csv = String::from("id,name,email,tier\n");
    for i in 0..CUSTOMERS {
        let email = if i == NO_EMAIL { String::new() } else { address(i) };
        csv.push_str(&format!("c{i:03},{},{email},{}\n", name(i), if i % 3 == 0 { "gold" } else { "green" }));
    }
    let r = s
        .client
        .put(s.ws("/datasets/customers"))
        .bearer_auth(&s.access.secret)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    assert_eq!(body(r).await["row_count"], CUSTOMERS);
}

/// An email destination writing to the outbox; its id.
async fn outbox_destination(s: &TestServer) -> String {
    let config = json!({"type": "email", "transport": "outbox", "from": "statements@acme.test"});
    let r = s.post(&s.ws("/destinations")).json(&json!({"name": "Statements", "config": config})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await["id"].as_str().unwrap().to_owned()
}

/// Creates the quickstart job under `code` (steps 1–6), held for review or not.
async fn create_job(s: &TestServer, code: &str, hold: bool) {
    let destination = outbox_destination(s).await;
    let job = json!({
        // Step 1: configuration.
        "code": code, "name": "Monthly Customer Statements", "hold_for_review": hold,
        // Step 2: a `period` date parameter defaulting to the month start; step 4 binds the
        // statement's customer to the repeating row's `id`.
        "parameters": [
            {"name": "period", "type": "date", "default": "2026-11-01"},
            {"name": "customer_id", "type": "string", "required": true, "from_row": "id"}
        ],
        // Step 3: the customers data source, repeating.
        "sources": [{"name": "customers", "role": "repeating", "type": "dataset", "dataset": "customers"}],
        "sections": [
            {"type": "text", "title": "Statement for {customers.name}",
             "markdown": "Customer {customer_id}, {customers.tier} tier, statement of {period}."}
        ],
        "formats": ["pdf"],
        // Step 6: one email per row, to the row's address, skipped when it has none.
        "deliveries": [{
            "destination_id": destination,
            "to": ["{customers.email}"],
            "subject": "Your statement for {period}, {customers.name}",
            "message": "Hello {customers.name}, your statement is attached.",
            "condition": "{customers.email} != null && {customers.email} != \"\""
        }]
    });
    let r = s.post(&s.ws("/reports")).json(&job).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    // Step 5: monthly, on day 1 at 07:00.
    let rule =
        json!({"name": "Monthly 1st 7am", "rule": {"type": "cron", "expression": "0 7 1 * *"}, "timezone": "UTC"});
    let r = s.post(&s.ws(&format!("/reports/{code}/schedules"))).json(&rule).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
}

/// Run now through the jobs API, for one period; the run id.
async fn run_now(s: &TestServer, code: &str) -> String {
    let r = s
        .post(&s.ws(&format!("/jobs/{code}/runs")))
        .json(&json!({"params": {"period": "2026-12-01"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    body(r).await["jobRunId"].as_str().unwrap().to_owned()
}

/// Polls the jobs status endpoint until the run is finished; its status.
async fn finished_status(s: &TestServer, code: &str, id: &str) -> Value {
    for _ in 0..600 {
        let status = body(s.get(&s.ws(&format!("/jobs/{code}/runs/{id}/status"))).send().await.unwrap()).await;
        if status["finished"] == true {
            return status;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("run {id} did not finish in 60 s");
}

/// Every customer with an address got exactly one email, with their own statement.
fn assert_one_statement_each(s: &TestServer) {
    let sent = herald_tests::outbox(s);
    assert_eq!(sent.len(), CUSTOMERS - 1, "{:?}", sent.keys());
    for i in (0..CUSTOMERS).filter(|&i| i != NO_EMAIL) {
        let emails = sent.get(&address(i)).unwrap_or_else(|| panic!("nothing sent to {}", address(i)));
        assert_eq!(emails.len(), 1, "{} got {} emails", address(i), emails.len());
        let (subject, pdf) = &emails[0];
        assert_eq!(subject, &format!("Your statement for 2026-12-01, {}", name(i)));
        assert!(pdf.contains(&format!("Statement for {}", name(i))), "{}: {pdf}", address(i));
        assert!(pdf.contains(&format!("Customer c{i:03}")), "{}: {pdf}", address(i));
    }
}

/// The run detail's entries, each with its status and its deliveries' statuses.
async fn entries(s: &TestServer, id: &str) -> Vec<(String, Vec<String>)> {
    let run = s.settled_run(id).await;
    let list = run["entry_list"]["data"].as_array().unwrap();
    assert_eq!(list.len(), CUSTOMERS, "{run}");
    list.iter()
        .map(|e| {
            let deliveries = e["deliveries"].as_array().unwrap();
            let statuses = deliveries.iter().map(|d| d["status"].as_str().unwrap().to_owned()).collect();
            (e["status"].as_str().unwrap().to_owned(), statuses)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_job_emails_each_customer_their_own_statement_and_skips_the_one_without_an_address() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    upload_customers(&s).await;
    create_job(&s, "monthly-statements", false).await;
    let id = run_now(&s, "monthly-statements").await;

    let status = finished_status(&s, "monthly-statements", &id).await;
    assert_eq!(status["entries"], CUSTOMERS, "{status}");
    assert_eq!(status["status"], json!({"queued": 0, "completed": CUSTOMERS, "errors": 0, "review": 0}));
    let run = s.settled_run(&id).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["counts"]["total"], CUSTOMERS);
    assert_eq!(run["counts"]["completed"], CUSTOMERS);

    let entries = entries(&s, &id).await;
    for (i, (status, deliveries)) in entries.iter().enumerate() {
        assert_eq!(status, "Completed", "entry {i}");
        let expected = if i == NO_EMAIL { "skipped_condition" } else { "sent" };
        assert_eq!(deliveries, &[expected.to_owned()], "entry {i}");
    }
    // The skipped entry is in the entries listing too, with its row.
    let listing = body(s.get(&s.ws(&format!("/runs/{id}/entries?limit=100"))).send().await.unwrap()).await;
    let skipped = &listing["data"][NO_EMAIL];
    assert_eq!(skipped["status"], "Completed", "{skipped}");
    assert_eq!(skipped["row"]["id"], format!("c{NO_EMAIL:03}"), "{skipped}");
    assert_one_statement_each(&s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_quickstart_run_sends_nothing_until_it_is_delivered() {
    let s = TestServer::start(Backend::Sqlite).await.unwrap();
    s.run_workers();
    upload_customers(&s).await;
    create_job(&s, "held-statements", true).await;
    let id = run_now(&s, "held-statements").await;

    let status = finished_status(&s, "held-statements", &id).await;
    assert_eq!(status["status"], json!({"queued": 0, "completed": 0, "errors": 0, "review": CUSTOMERS}));
    let entries_held = entries(&s, &id).await;
    assert!(entries_held.iter().all(|(status, deliveries)| status == "PendingReview" && deliveries.is_empty()));
    assert!(herald_tests::outbox(&s).is_empty(), "nothing leaves before the run is delivered");

    let r = s.post(&s.ws(&format!("/jobs/held-statements/runs/{id}/deliver"))).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let mut status = finished_status(&s, "held-statements", &id).await;
    for _ in 0..600 {
        if status["status"]["completed"] == CUSTOMERS {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        status = finished_status(&s, "held-statements", &id).await;
    }
    assert_eq!(status["status"], json!({"queued": 0, "completed": CUSTOMERS, "errors": 0, "review": 0}));
    let delivered = entries(&s, &id).await;
    assert_eq!(delivered[NO_EMAIL].1, ["skipped_condition"]);
    assert_eq!(delivered.iter().filter(|(_, d)| d == &["sent"]).count(), CUSTOMERS - 1);
    assert_one_statement_each(&s);
}
