//! Bootstrap: the first workspace and its admin token, created from the CLI (there is no
//! token yet to call the API with), and the demo workspace of `make run`.

use chrono::{DateTime, Utc};

use super::PipelineError;
use crate::context::Context;
use crate::domain::{
    ApiToken, Code, FieldError, Name, Role, TokenGrant, ValidationErrors, Workspace, WorkspaceId, WorkspaceSettings,
};

/// A workspace and a freshly issued admin token (the secret is shown once).
#[derive(Debug)]
pub struct Access {
    pub workspace: Workspace,
    pub token: ApiToken,
    pub secret: String,
}

/// Creates a workspace and its first admin token.
pub async fn create_workspace(ctx: &Context, code: &str, name: &str) -> Result<Access, PipelineError> {
    let mut errors = Vec::new();
    let code = Code::parse(code).map_err(|m| errors.push(FieldError::new("code", m))).ok();
    let name = Name::parse(name).map_err(|m| errors.push(FieldError::new("name", m))).ok();
    let (Some(code), Some(name)) = (code, name) else {
        return Err(PipelineError::Invalid(ValidationErrors(errors)));
    };
    let now = ctx.clock.now();
    let workspace = Workspace {
        id: WorkspaceId::generate(now),
        code,
        name,
        active: true,
        settings: WorkspaceSettings::default(),
        created_at: now,
        updated_at: now,
        version: 0,
    };
    let workspace = ctx.store.create_workspace(&workspace).await?;
    let (token, secret) = issue_admin_token(ctx, &workspace, "admin (created from the CLI)", now).await?;
    Ok(Access { workspace, token, secret })
}

/// A new admin token for an existing workspace.
pub async fn issue_admin_token(
    ctx: &Context,
    workspace: &Workspace,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(ApiToken, String), PipelineError> {
    let name =
        Name::parse(name).map_err(|m| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("name", m)])))?;
    let grant = TokenGrant {
        workspace_id: workspace.id,
        name,
        role: Role::Admin,
        scopes: Role::Admin.default_scopes(),
        expires_at: None,
        created_by: None,
    };
    let (token, secret) = ApiToken::issue(grant, now);
    Ok((ctx.store.create_token(&token).await?, secret))
}

/// The `demo` workspace (created on first use) with a new admin token for this start.
pub async fn demo_access(ctx: &Context) -> Result<Access, PipelineError> {
    let code =
        Code::parse("demo").map_err(|m| PipelineError::Invalid(ValidationErrors(vec![FieldError::new("code", m)])))?;
    match ctx.store.workspace_by_code(&code).await? {
        Some(workspace) => {
            let (token, secret) = issue_admin_token(ctx, &workspace, "demo (make run)", ctx.clock.now()).await?;
            Ok(Access { workspace, token, secret })
        }
        None => create_workspace(ctx, "demo", "Demo workspace").await,
    }
}
