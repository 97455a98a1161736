//! The workspace of the path, as its tokens see it.

use axum::Json;
use serde_json::Value;

use crate::domain::{Secret, Workspace};
use crate::http::auth::Caller;
use crate::http::extract::object;

/// The API shape of a workspace: secrets replaced by a placeholder.
pub fn view(ws: &Workspace) -> Value {
    let mut ws = ws.clone();
    if let Some(smtp) = &mut ws.settings.smtp {
        smtp.password = smtp.password.as_ref().map(|_| Secret::new(Secret::REDACTED));
    }
    object("workspace", &ws)
}

pub async fn get(caller: Caller) -> Json<Value> {
    Json(view(&caller.workspace))
}
