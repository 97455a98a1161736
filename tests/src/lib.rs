//! Helpers shared by the black-box tests: a real Herald server on a free loopback port, on
//! the embedded store or on DynamoDB in the local AWS emulator, with an admin token.

use std::sync::Arc;

use herald_core::clock::Clock;
use herald_core::config::Config;
use herald_core::context::Context;
use herald_core::pipeline::admin::{self, Access};

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
            ("HERALD_PUBLIC_URL", url.clone()),
            ("HERALD_BODY_LIMIT_BYTES", "65536".to_string()),
        ];
        vars.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let config =
            Config::from_lookup(|name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).expect("config");
        let mut ctx = Context::from_config(config).await.expect("context");
        if let Some(clock) = clock {
            ctx.clock = clock;
        }
        let ctx = Arc::new(ctx);
        let code = herald_core::testing::unique_name("acme").replace('_', "-");
        let access = admin::create_workspace(&ctx, &code, "Acme").await.expect("workspace");
        let router = herald_core::http::router(ctx.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Some(Self { url, ctx, access, client: reqwest::Client::new(), _dir: dir })
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
