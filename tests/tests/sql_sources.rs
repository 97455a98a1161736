//! `sql` sources on a real database, over HTTP only: the seed `003` quickstart on PostgreSQL
//! (a customers table, a connection, a repeating `sql` source narrowed by the `period`
//! parameter, a per-customer source bound to the row, one statement per customer emailed to
//! the row's address), and the connections API around it: the password never comes back, a
//! private address needs the workspace's permission, the test answer flags a powerful user,
//! a changed connection is used at once, and a report cannot name a connection that does
//! not exist.

use herald_core::testing::TestDatabase;
use herald_tests::{Backend, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn body(r: reqwest::Response) -> Value {
    r.json().await.expect("JSON body")
}

/// Creates the tables of the quickstart: customers (one without an address, one in another
/// period) and their invoice lines. The names of both.
async fn customers(db: &TestDatabase) -> (String, String) {
    let (customers, lines) = (db.table("customers"), db.table("lines"));
    db.execute(&[
        &format!(
            "CREATE TABLE {customers} (id varchar(10) PRIMARY KEY, name varchar(100), email varchar(200), \
             period date NOT NULL)"
        ),
        &format!(
            "INSERT INTO {customers} VALUES \
             ('c1', 'Ada Lovelace', 'ada@example.com', '2026-12-01'), \
             ('c2', 'Brook Zoë', 'brook@example.com', '2026-12-01'), \
             ('c3', 'Cy Nomail', NULL, '2026-12-01'), \
             ('c4', 'Dee Later', 'dee@example.com', '2026-11-01')"
        ),
        &format!("CREATE TABLE {lines} (customer_id varchar(10), item varchar(100), amount numeric(20,4))"),
        &format!(
            "INSERT INTO {lines} VALUES ('c1', 'Consulting', 1234567890123.4567), ('c1', 'Support', 10.0050), \
             ('c2', 'Licence', 99.9900), ('c3', 'Licence', 5)"
        ),
    ])
    .await;
    (customers, lines)
}

async fn allow_loopback(s: &TestServer) {
    let r = s
        .patch(&s.ws("/settings"))
        .json(&json!({"network": {"allowed_addresses": ["127.0.0.1/32"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
}

async fn create_connection(s: &TestServer, db: &TestDatabase, name: &str, as_admin: bool) -> Value {
    let mut config = db.config_json(as_admin);
    config["name"] = json!(name);
    let r = s.post(&s.ws("/connections")).json(&config).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    body(r).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_on_postgresql_emails_each_customer_of_the_period_their_own_statement() {
    let Some(db) = TestDatabase::postgres() else { return };
    let Some(s) = TestServer::start(Backend::Sqlite).await else { return };
    s.run_workers();
    let (customers, lines) = customers(&db).await;

    // The connection: refused on a private address until the workspace allows it.
    let connection = create_connection(&s, &db, "warehouse", false).await;
    assert_eq!(connection["password"], "********", "{connection}");
    assert!(!connection.to_string().contains(&db.password));
    let test = body(s.post(&s.ws("/connections/warehouse/test")).send().await.unwrap()).await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(test["error"].as_str().unwrap().contains("not a public address"), "{test}");
    allow_loopback(&s).await;
    let test = body(s.post(&s.ws("/connections/warehouse/test")).send().await.unwrap()).await;
    assert_eq!((test["ok"].clone(), test["user"].clone()), (json!(true), json!(db.user)), "{test}");
    assert_eq!(test["warnings"], json!([]), "a reader is not flagged: {test}");
    assert!(test["server_version"].as_str().unwrap().starts_with("PostgreSQL"), "{test}");

    // The job: customers of the period repeat; each entry reads its own lines.
    let r = s
        .post(&s.ws("/destinations"))
        .json(&json!({"name": "Statements", "config": {"type": "email", "transport": "outbox", "from": "billing@acme.test"}}))
        .send()
        .await
        .unwrap();
    let destination = body(r).await["id"].as_str().unwrap().to_owned();
    let job = json!({
        "code": "sql-statements", "name": "Monthly Customer Statements",
        "parameters": [
            {"name": "period", "type": "date", "default": "2026-11-01"},
            {"name": "customer_id", "type": "string", "from_row": "id"}
        ],
        "sources": [
            {"name": "customers", "role": "repeating", "type": "sql", "connection": "warehouse",
             "query": format!("SELECT id, name, email FROM {customers} WHERE period = {{period}} ORDER BY id")},
            {"name": "lines", "type": "sql", "connection": connection["id"],
             "query": format!("SELECT item, amount FROM {lines} WHERE customer_id = {{customer_id}} ORDER BY item")}
        ],
        "sections": [
            {"type": "text", "title": "Statement for {customers.name}", "markdown": "Period {period}."},
            {"type": "table", "source": "lines", "totals": true,
             "columns": [{"key": "item"}, {"key": "amount", "format": {"kind": "currency", "code": "USD"}}]}
        ],
        "formats": ["pdf"],
        "deliveries": [{
            "destination_id": destination, "to": ["{customers.email}"],
            "subject": "Your statement for {period}, {customers.name}",
            "condition": "{customers.email} != null"
        }]
    });
    let r = s.post(&s.ws("/reports")).json(&job).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());

    let r = s
        .post(&s.ws("/jobs/sql-statements/runs"))
        .json(&json!({"params": {"period": "2026-12-01"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    let id = body(r).await["jobRunId"].as_str().unwrap().to_owned();
    let run = s.settled_run(&id).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["counts"]["total"], 3, "the period narrowed the customers to three: {run}");

    let sent = herald_tests::outbox(&s);
    let recipients: Vec<&str> = sent.keys().map(String::as_str).collect();
    assert_eq!(recipients, ["ada@example.com", "brook@example.com"], "c3 has no address, c4 another period");
    let (subject, pdf) = &sent["ada@example.com"][0];
    assert_eq!(subject, "Your statement for 2026-12-01, Ada Lovelace");
    assert!(pdf.contains("Statement for Ada Lovelace"), "{pdf}");
    assert!(pdf.contains("$1,234,567,890,123.46"), "money keeps its digits: {pdf}");
    assert!(pdf.contains("$10.01"), "{pdf}");
    assert!(!pdf.contains("Licence"), "only Ada's own lines: {pdf}");
    let (_, pdf) = &sent["brook@example.com"][0];
    assert!(pdf.contains("Statement for Brook Zoë") && pdf.contains("$99.99"), "{pdf}");

    // Run query shows the first rows with the editor's parameter values.
    let query = format!("SELECT id, email FROM {customers} WHERE period = {{period}} ORDER BY id");
    let r = s
        .post(&s.ws("/connections/warehouse/query"))
        .json(&json!({"query": query, "parameters": {"period": "2026-11-01"}}))
        .send()
        .await
        .unwrap();
    let result = body(r).await;
    assert_eq!(result["rows"], json!([["c4", "dee@example.com"]]), "{result}");
    assert_eq!(result["columns"][0], json!({"name": "id", "type": "text"}));
    let r = s
        .post(&s.ws("/connections/warehouse/query"))
        .json(&json!({"query": format!("SELECT idd FROM {customers}")}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let error = body(r).await;
    let message = error["error"]["details"]["errors"][0]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("column \"idd\" does not exist (at character 8)"), "{error}");
}

async fn a_connection_keeps_its_password_secret_and_a_changed_one_is_used_at_once(s: TestServer) {
    let Some(db) = TestDatabase::mysql() else { return };
    allow_loopback(&s).await;
    let admin = create_connection(&s, &db, "shop", true).await;
    let test = body(s.post(&s.ws("/connections/shop/test")).send().await.unwrap()).await;
    assert_eq!(test["ok"], true, "{test}");
    assert!(!test["warnings"].as_array().unwrap().is_empty(), "the admin is flagged: {test}");

    // The mask keeps the password while the server and user stay; another user needs it again.
    let r = s.patch(&s.ws("/connections/shop")).json(&json!({"password": "********", "tls": "disable"})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let r = s.patch(&s.ws("/connections/shop")).json(&json!({"user": db.user})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(r).await;
    assert_eq!(refused["error"]["details"]["errors"][0]["field"], "password", "{refused}");
    let r = s
        .patch(&s.ws(&format!("/connections/{}", admin["id"].as_str().unwrap())))
        .json(&json!({"user": db.user, "password": db.password}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    let test = body(s.post(&s.ws("/connections/shop/test")).send().await.unwrap()).await;
    assert_eq!((test["ok"].clone(), test["warnings"].clone()), (json!(true), json!([])), "{test}");
    let listed = body(s.get(&s.ws("/connections")).send().await.unwrap()).await;
    assert!(!listed.to_string().contains(&db.password) && !listed.to_string().contains(&db.admin_password));

    // A wrong password fails with the database's words and never repeats it.
    let r = s.patch(&s.ws("/connections/shop")).json(&json!({"password": "not-the-password"})).send().await;
    assert_eq!(r.unwrap().status(), StatusCode::OK);
    let test = body(s.post(&s.ws("/connections/shop/test")).send().await.unwrap()).await;
    assert_eq!(test["ok"], false, "{test}");
    assert!(test["error"].as_str().unwrap().contains("Access denied"), "{test}");
    assert!(!test.to_string().contains("not-the-password"), "{test}");

    // Names are unique, `datasets` is taken, and a report must name a real connection.
    let mut again = db.config_json(false);
    again["name"] = json!("shop");
    assert_eq!(s.post(&s.ws("/connections")).json(&again).send().await.unwrap().status(), StatusCode::CONFLICT);
    again["name"] = json!("datasets");
    let r = s.post(&s.ws("/connections")).json(&again).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    again["name"] = json!("typo");
    again["hots"] = json!("db.example.com");
    let r = s.post(&s.ws("/connections")).json(&again).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body(r).await["error"]["details"]["errors"][0]["field"], "hots");
    let r = s.patch(&s.ws("/connections/shop")).json(&json!({"workgroup": "primary"})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "an Athena field on a MySQL connection");
    let report = json!({"code": "r", "name": "R", "formats": ["csv"],
        "sources": [{"name": "x", "type": "sql", "connection": "nowhere", "query": "SELECT 1 AS one"}],
        "sections": [{"type": "table", "source": "x"}]});
    let r = s.post(&s.ws("/reports")).json(&report).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let refused = body(r).await;
    assert_eq!(refused["error"]["details"]["errors"][0]["field"], "sources[0].connection", "{refused}");

    // Deleted, it is gone.
    let r = s.delete(&s.ws("/connections/shop")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get(&s.ws("/connections/shop")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demos_sql_statements_job_runs_over_the_uploaded_datasets_with_no_server() {
    let Some(s) = TestServer::start(Backend::Sqlite).await else { return };
    s.run_workers();
    let load = herald_core::pipeline::demo_data::load(&s.ctx, &s.access.workspace, 40, 60).await.unwrap();
    assert!(load.reports_created.contains(&"monthly-statements-sql".to_string()), "{load:?}");

    // Who bought something since the period start, computed from the demo data itself.
    let period = "2026-11-15";
    let people = herald_core::demo::customers(40, herald_core::pipeline::demo_data::SEED);
    let history =
        herald_core::demo::history(&people, s.ctx.clock.now().date_naive(), 60, herald_core::pipeline::demo_data::SEED);
    let mut buyers: Vec<&str> = history
        .transactions
        .iter()
        .filter(|t| t["date"].as_str().unwrap() >= period)
        .map(|t| t["customer_id"].as_str().unwrap())
        .collect();
    buyers.sort_unstable();
    buyers.dedup();

    let r = s
        .post(&s.ws("/reports/monthly-statements-sql/runs"))
        .json(&json!({"params": {"period": period}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED, "{}", r.text().await.unwrap());
    let id = body(r).await["id"].as_str().unwrap().to_owned();
    let run = s.settled_run(&id).await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["counts"]["total"], buyers.len(), "one statement per buyer of the period: {run}");
    let listing = body(s.get(&s.ws(&format!("/runs/{id}/entries?limit=100"))).send().await.unwrap()).await;
    let ids: Vec<&str> = listing["data"].as_array().unwrap().iter().map(|e| e["row"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, buyers);
}

herald_tests::on_every_store!(a_connection_keeps_its_password_secret_and_a_changed_one_is_used_at_once);
