//! The workspace of the path, as its tokens see it.

use axum::Json;
use serde_json::Value;

use crate::domain::{Secret, Workspace};
use crate::http::auth::Caller;
use crate::http::extract::object;
use crate::http::openapi::{ReadErrors, WorkspacePath, views};

/// The API shape of a workspace: secrets replaced by a placeholder.
pub fn view(ws: &Workspace) -> Value {
    let mut ws = ws.clone();
    if let Some(smtp) = &mut ws.settings.smtp {
        smtp.password = smtp.password.as_ref().map(|_| Secret::new(Secret::REDACTED));
    }
    object("workspace", &ws)
}

/// The workspace of the path, by id or code.
#[utoipa::path(
    get,
    path = "/api/v1/ws/{workspace}",
    operation_id = "get_workspace",
    tag = "workspaces",
    security(("personal_access_token" = [])),
    params(WorkspacePath),
    responses(
        (status = 200, description = "The workspace", body = views::WorkspaceView),
        ReadErrors,
    )
)]
pub async fn get(caller: Caller) -> Json<Value> {
    Json(view(&caller.workspace))
}
