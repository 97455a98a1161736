//! Helpers shared by the black-box tests: a real Herald server on a free loopback port, on
//! the embedded store or on DynamoDB in the local AWS emulator, with an admin token.

use std::sync::Arc;

use herald_core::clock::Clock;
use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::pipeline::admin::{self, Access};

pub mod surface;

/// Every log line the servers of one test binary write, kept for the test to read.
pub mod logs {
    use std::io::Write;
    use std::sync::{Mutex, Once};

    static LINES: Mutex<Vec<u8>> = Mutex::new(Vec::new());

    struct Captured;

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            LINES.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Starts capturing, at `filter` (an `EnvFilter` directive), as JSON lines with the span
    /// list when `json`; once per binary (later calls do nothing).
    pub fn capture(filter: &str, json: bool) {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            let builder = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_writer(|| Captured);
            let set = if json {
                tracing::subscriber::set_global_default(builder.json().with_span_list(true).finish())
            } else {
                tracing::subscriber::set_global_default(builder.finish())
            };
            set.expect("one subscriber per test binary");
        });
    }

    /// What was captured so far.
    pub fn text() -> String {
        String::from_utf8_lossy(&LINES.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }
}

pub struct TestServer {
    pub url: String,
    pub ctx: Arc<Context>,
    /// The workspace the server was started with and its admin token.
    pub access: Access,
    pub client: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// Which store the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    DynamoDb,
}

impl TestServer {
    /// Starts a server; `None` only when AWS tests are explicitly skipped.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with_clock(backend, None).await
    }

    /// Starts a server whose clock the test controls.
    pub async fn start_with_clock(backend: Backend, clock: Option<Arc<dyn Clock>>) -> Option<Self> {
        Self::start_with(backend, clock, &[]).await
    }

    /// Starts a server with a controlled clock and extra configuration variables.
    pub async fn start_with(
        backend: Backend,
        clock: Option<Arc<dyn Clock>>,
        extra: &[(&'static str, &str)],
    ) -> Option<Self> {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = match backend {
            Backend::Sqlite => format!("sqlite:{}", dir.path().join("herald.db").display()),
            Backend::DynamoDb => {
                let sdk = herald_core::testing::emulator().await?;
                let table = herald_core::testing::unique_name("herald-api");
                let client = aws_sdk_dynamodb::Client::new(&sdk);
                herald_core::store::dynamodb::create_table(&client, &table).await.expect("create table");
                format!("dynamodb:{table}")
            }
        };
        let blobs = format!("fs:{}", dir.path().join("blobs").display());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let mut vars = vec![
            ("HERALD_STORE", store),
            ("HERALD_BLOBS", blobs),
            ("HERALD_OUTBOX", dir.path().join("outbox").display().to_string()),
            ("HERALD_PUBLIC_URL", url.clone()),
            ("HERALD_BODY_LIMIT_BYTES", "65536".to_string()),
            ("HERALD_RATE_LIMIT_PER_MINUTE", "0".to_string()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let config =
            Config::from_lookup(|name| vars.iter().rfind(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("config");
        let mut ctx = Context::from_config(config).await.expect("context");
        if let Some(clock) = clock {
            ctx.clock = clock;
        }
        let ctx = Arc::new(ctx);
        let code = herald_core::testing::unique_name("acme").replace('_', "-");
        let access = admin::create_workspace(&ctx, &code, "Acme").await.expect("workspace");
        let router = herald_core::http::router(ctx.clone());
        tokio::spawn(herald_core::http::serve::serve(listener, router, std::future::pending()));
        Some(Self { url, ctx, access, client: reqwest::Client::new(), _dir: dir })
    }

    /// Starts the in-process render and deliver workers, as `herald serve` does.
    pub fn run_workers(&self) {
        use herald_core::lambda::Worker;
        use herald_core::pipeline::workers::run_workers;
        let (stop, stopping) = tokio::sync::watch::channel(false);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let _stop = stop;
            tokio::join!(
                run_workers(ctx.clone(), Worker::Render, 2, stopping.clone()),
                run_workers(ctx, Worker::Deliver, 4, stopping)
            );
        });
    }

    /// Polls a run until nothing is left for the workers to do (it finished, or its entries
    /// wait for review), and returns its detail.
    pub async fn settled_run(&self, id: &str) -> serde_json::Value {
        for _ in 0..300 {
            let run: serde_json::Value =
                self.get(&self.ws(&format!("/runs/{id}"))).send().await.expect("run").json().await.expect("json");
            if run["finished"] == true || run["status"] == "awaiting_review" {
                return run;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("run {id} did not settle in 30 s");
    }

    /// `{url}/api/v1/ws/{code}{path}`.
    pub fn ws(&self, path: &str) -> String {
        format!("{}/api/v1/ws/{}{path}", self.url, self.access.workspace.code)
    }

    pub fn get(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.get(url).bearer_auth(&self.access.secret)
    }

    pub fn post(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.post(url).bearer_auth(&self.access.secret)
    }

    pub fn patch(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.patch(url).bearer_auth(&self.access.secret)
    }

    pub fn delete(&self, url: &str) -> reqwest::RequestBuilder {
        self.client.delete(url).bearer_auth(&self.access.secret)
    }
}

/// The emails in the server's outbox, each addressed from a row's data: recipient → (subject,
/// the text of its one attached PDF). A message to a customer must link nowhere inside Herald.
pub fn outbox(s: &TestServer) -> std::collections::BTreeMap<String, Vec<(String, String)>> {
    use herald_core::testing::mail;
    let mut sent: std::collections::BTreeMap<String, Vec<(String, String)>> = Default::default();
    let Ok(files) = std::fs::read_dir(&s.ctx.config.outbox_dir) else { return sent };
    for file in files.flatten().filter(|f| f.file_name().to_string_lossy().ends_with(".eml")) {
        if file.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let message = mail::parse(&std::fs::read(file.path()).unwrap());
        let to = message.header("to").unwrap().trim().to_owned();
        let text: String = message.leaves().iter().filter(|p| p.file_name().is_none()).map(|p| p.text()).collect();
        assert!(
            !text.contains("/console") && !text.contains("/api/v1/"),
            "an internal link in the mail to {to}: {text}"
        );
        let subject = mail::decode_words(message.header("subject").unwrap());
        let pdfs: Vec<String> = message
            .leaves()
            .into_iter()
            .filter(|p| p.file_name().is_some_and(|n| n.ends_with(".pdf")))
            .map(|p| pdf_text(&p.body))
            .collect();
        assert_eq!(pdfs.len(), 1, "one PDF per email to {to}");
        sent.entry(to).or_default().push((subject, pdfs.into_iter().next().unwrap_or_default()));
    }
    sent
}

/// The text of a PDF as `pdftotext -layout` extracts it (poppler-utils, which `make test`
/// installs).
pub fn pdf_text(pdf: &[u8]) -> String {
    use std::io::Write;
    let mut child = std::process::Command::new("pdftotext")
        .args(["-layout", "-enc", "UTF-8", "-", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("pdftotext is needed to read PDFs back (apt-get install poppler-utils; `make test` installs it)");
    child.stdin.take().expect("stdin").write_all(pdf).expect("write the PDF");
    let out = child.wait_with_output().expect("pdftotext output");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("UTF-8 text")
}

/// Interactions for `n` completions of `offer` on `day` of November 2026 (each offer received
/// first), to post to `/interactions`.
pub fn offer_completions(offer: &str, day: u32, n: usize) -> Vec<serde_json::Value> {
    (0..n)
        .flat_map(|i| {
            let at = format!("2026-11-{day:02}T10:{i:02}:00Z");
            ["received", "completed"].map(|kind| {
                serde_json::json!({"id": format!("{offer}-{day}-{i}-{kind}"), "customer_id": format!("c{i}"),
                    "type": kind, "offer_id": offer, "offer_kind": "bogo", "channel": "email", "amount": 1,
                    "occurred_at": at})
            })
        })
        .collect()
}

/// A command of the pinned tool venv that `infra/tools.sh` builds: `$HERALD_TOOLS_VENV/bin/NAME`,
/// else `<repository>/.tools/venv/bin/NAME`, else `NAME` on the `PATH` (`infra/test.sh` puts the
/// venv there).
pub fn venv_tool(name: &str) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venvs = std::env::var_os("HERALD_TOOLS_VENV").map(std::path::PathBuf::from).into_iter();
    venvs
        .chain([root.join(".tools/venv")])
        .map(|venv| venv.join("bin").join(name))
        .find(|tool| tool.is_file())
        .unwrap_or_else(|| name.into())
}

/// Defines each named `async fn(TestServer)` test twice: on the embedded store (`sqlite`) and
/// on DynamoDB in the emulator (`dynamodb`, skipped only when AWS tests are skipped).
#[macro_export]
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let server = $crate::TestServer::start($crate::Backend::Sqlite).await.expect("server");
                    super::$name(server).await;
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(server) = $crate::TestServer::start($crate::Backend::DynamoDb).await else { return };
                    super::$name(server).await;
                }
            )+
        }
    };
}
