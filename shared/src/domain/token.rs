//! Personal access tokens: the secret shown once, its SHA-256 hash stored, and what the token
//! may do (a role and scopes per area).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

use super::{Name, TokenId, WorkspaceId};

/// Every token secret starts with this, so leaked tokens are easy to recognise and scan for.
pub const TOKEN_PREFIX: &str = "hrld_pat_";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: TokenId,
    pub workspace_id: WorkspaceId,
    pub name: Name,
    /// The first characters of the secret, to tell tokens apart in lists.
    pub hint: String,
    /// Hex SHA-256 of the secret; the secret itself is never stored.
    pub hash: TokenHash,
    pub role: Role,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// The token that created this one (none for tokens made from the CLI).
    pub created_by: Option<TokenId>,
}

impl ApiToken {
    /// Whether the token may be used at `now`.
    pub fn is_usable(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|exp| now < exp)
    }

    /// Whether the token grants `access` on `area`: its role must allow it and one of its
    /// scopes must cover it (write implies read).
    pub fn allows(&self, area: Area, access: Access) -> bool {
        self.role.allows(area, access) && self.scopes.iter().any(|s| s.area == area && s.access >= access)
    }
}

/// A freshly generated token secret and its hash. The secret is shown to the caller once.
pub struct NewSecret {
    pub secret: String,
    pub hash: TokenHash,
    pub hint: String,
}

impl NewSecret {
    pub fn generate() -> Self {
        let mut bytes = [0u8; 24];
        rand::rng().fill_bytes(&mut bytes);
        let secret = format!("{TOKEN_PREFIX}{}", hex::encode(bytes));
        let hint = secret[..TOKEN_PREFIX.len() + 4].to_string();
        Self { hash: TokenHash::of(&secret), secret, hint }
    }
}

/// Hex-encoded SHA-256 of a token secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TokenHash(String);

impl TokenHash {
    pub fn of(secret: &str) -> Self {
        Self(hex::encode(Sha256::digest(secret.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including tokens of others and workspace settings.
    Admin,
    /// Read and write everything but workspace settings and others' tokens.
    Editor,
    /// Read only.
    Viewer,
}

impl Role {
    pub fn allows(self, area: Area, access: Access) -> bool {
        match self {
            Role::Admin => true,
            Role::Editor => access == Access::Read || area != Area::Settings,
            Role::Viewer => access == Access::Read,
        }
    }

    /// The scopes a token of this role gets when none are asked for.
    pub fn default_scopes(self) -> Vec<Scope> {
        let access = if self == Role::Viewer { Access::Read } else { Access::Write };
        Area::ALL
            .iter()
            .map(|&area| Scope { area, access: if self.allows(area, access) { access } else { Access::Read } })
            .collect()
    }
}

/// A part of the API that permissions are granted on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Area {
    Reports,
    Schedules,
    Destinations,
    Runs,
    Jobs,
    Datasets,
    Interactions,
    Tokens,
    Settings,
}

impl Area {
    pub const ALL: [Area; 9] = [
        Area::Reports,
        Area::Schedules,
        Area::Destinations,
        Area::Runs,
        Area::Jobs,
        Area::Datasets,
        Area::Interactions,
        Area::Tokens,
        Area::Settings,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Area::Reports => "reports",
            Area::Schedules => "schedules",
            Area::Destinations => "destinations",
            Area::Runs => "runs",
            Area::Jobs => "jobs",
            Area::Datasets => "datasets",
            Area::Interactions => "interactions",
            Area::Tokens => "tokens",
            Area::Settings => "settings",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Access {
    Read,
    Write,
}

/// `area:access`, e.g. `reports:write`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Scope {
    pub area: Area,
    pub access: Access,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let access = if self.access == Access::Read { "read" } else { "write" };
        write!(f, "{}:{access}", self.area.as_str())
    }
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (area, access) =
            s.split_once(':').ok_or_else(|| format!("scope `{s}` must be `area:read` or `area:write`"))?;
        let area =
            Area::ALL.into_iter().find(|a| a.as_str() == area).ok_or_else(|| format!("unknown scope area `{area}`"))?;
        let access = match access {
            "read" => Access::Read,
            "write" => Access::Write,
            other => {
                return Err(format!("scope access must be `read` or `write`, not `{other}`"));
            }
        };
        Ok(Scope { area, access })
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Scope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(role: Role, scopes: &[&str]) -> ApiToken {
        let secret = NewSecret::generate();
        ApiToken {
            id: TokenId::generate(Utc::now()),
            workspace_id: WorkspaceId::generate(Utc::now()),
            name: Name::parse("ci").unwrap(),
            hint: secret.hint,
            hash: secret.hash,
            role,
            scopes: scopes.iter().map(|s| s.parse().unwrap()).collect(),
            created_at: Utc::now(),
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
            created_by: None,
        }
    }

    #[test]
    fn generated_secrets_are_prefixed_unique_and_hash_to_what_is_stored() {
        let a = NewSecret::generate();
        let b = NewSecret::generate();
        assert!(a.secret.starts_with(TOKEN_PREFIX));
        assert_ne!(a.secret, b.secret);
        assert_eq!(TokenHash::of(&a.secret), a.hash);
        assert_eq!(a.hash.as_str().len(), 64);
        assert!(a.secret.starts_with(&a.hint));
    }

    #[test]
    fn write_scope_implies_read_but_not_the_other_way_round() {
        let t = token(Role::Editor, &["reports:write", "runs:read"]);
        assert!(t.allows(Area::Reports, Access::Read));
        assert!(t.allows(Area::Reports, Access::Write));
        assert!(t.allows(Area::Runs, Access::Read));
        assert!(!t.allows(Area::Runs, Access::Write));
        assert!(!t.allows(Area::Jobs, Access::Read));
    }

    #[test]
    fn a_viewer_cannot_write_whatever_its_scopes_say() {
        let t = token(Role::Viewer, &["reports:write"]);
        assert!(t.allows(Area::Reports, Access::Read));
        assert!(!t.allows(Area::Reports, Access::Write));
    }

    #[test]
    fn default_scopes_follow_the_role() {
        let editor = token(Role::Editor, &[]);
        let editor = ApiToken { scopes: Role::Editor.default_scopes(), ..editor };
        assert!(editor.allows(Area::Reports, Access::Write));
        assert!(editor.allows(Area::Settings, Access::Read));
        assert!(!editor.allows(Area::Settings, Access::Write));
    }

    #[test]
    fn expired_and_revoked_tokens_are_unusable() {
        let now = Utc::now();
        let mut t = token(Role::Admin, &[]);
        assert!(t.is_usable(now));
        t.expires_at = Some(now);
        assert!(!t.is_usable(now));
        t.expires_at = None;
        t.revoked_at = Some(now);
        assert!(!t.is_usable(now));
    }

    #[test]
    fn scopes_parse_from_and_print_to_area_colon_access() {
        let s: Scope = "destinations:read".parse().unwrap();
        assert_eq!(s.to_string(), "destinations:read");
        assert!("reports".parse::<Scope>().is_err());
        assert!("nope:read".parse::<Scope>().unwrap_err().contains("unknown scope area"));
        assert!("reports:admin".parse::<Scope>().is_err());
    }
}
