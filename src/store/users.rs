//! Admin users, their login sessions and their personal API tokens.
//!
//! Only hashes of session and API tokens are stored (keyed with the service's secret), so
//! a copy of the database does not let anyone sign in.

use std::{fmt, str::FromStr};

use serde::Serialize;
use sqlx::AssertSqlSafe;

use super::{ConflictOnUnique, Store, StoreError, StoreResult, query};

/// What an admin may do: an operator watches (queue, subscribers); an editor also edits
/// and sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AdminRole {
    Editor,
    Operator,
}

impl AdminRole {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Editor => "editor",
            Self::Operator => "operator",
        }
    }

    /// Editors may do everything an operator may.
    pub fn can_operate(self) -> bool {
        true
    }

    pub fn can_edit(self) -> bool {
        self == Self::Editor
    }
}

impl fmt::Display for AdminRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AdminRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "editor" => Ok(Self::Editor),
            "operator" => Ok(Self::Operator),
            other => Err(format!(
                "unknown role {other:?}: use \"editor\" or \"operator\""
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct AdminUser {
    pub id: i64,
    pub email: String,
    #[serde(skip)]
    pub password_hash: String,
    pub role: AdminRole,
    pub failed_logins: i64,
    pub locked_until: Option<i64>,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
pub(crate) struct AdminUserRow {
    id: i64,
    email: String,
    password_hash: String,
    role: String,
    failed_logins: i64,
    locked_until: Option<i64>,
    last_login_at: Option<i64>,
    created_at: i64,
}

const USER_COLUMNS: &str =
    "id, email, password_hash, role, failed_logins, locked_until, last_login_at, created_at";

/// The same columns prefixed with `u.`, for joins.
const USER_COLUMNS_U: &str = "u.id, u.email, u.password_hash, u.role, u.failed_logins, \
    u.locked_until, u.last_login_at, u.created_at";

impl super::Decoded for AdminUser {
    type Row = AdminUserRow;
}

impl TryFrom<AdminUserRow> for AdminUser {
    type Error = StoreError;
    fn try_from(r: AdminUserRow) -> Result<Self, Self::Error> {
        Ok(AdminUser {
            id: r.id,
            role: r.role.parse().map_err(StoreError::Corrupt)?,
            email: r.email,
            password_hash: r.password_hash,
            failed_logins: r.failed_logins,
            locked_until: r.locked_until,
            last_login_at: r.last_login_at,
            created_at: r.created_at,
        })
    }
}

/// A live session and the user it belongs to.
#[derive(Debug, Clone)]
pub struct AdminSession {
    pub user: AdminUser,
    pub csrf_token: String,
    pub expires_at: i64,
}

#[derive(sqlx::FromRow)]
struct SessionRow {
    csrf_token: String,
    expires_at: i64,
    #[sqlx(flatten)]
    user: AdminUserRow,
}

/// What a personal API token may do: act with its owner's role, or only read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiAccess {
    Full,
    Read,
}

impl ApiAccess {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Read => "read",
        }
    }

    /// Unknown values read as the narrower access.
    fn from_column(s: &str) -> Self {
        if s == "full" { Self::Full } else { Self::Read }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ApiTokenInfo {
    pub id: i64,
    pub user_id: i64,
    pub name: String,
    pub access: ApiAccess,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
}

#[derive(sqlx::FromRow)]
pub(crate) struct ApiTokenRow {
    id: i64,
    user_id: i64,
    name: String,
    access: String,
    created_at: i64,
    last_used_at: Option<i64>,
    expires_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, user_id, name, access, created_at, last_used_at, expires_at";

impl super::Decoded for ApiTokenInfo {
    type Row = ApiTokenRow;
}

impl From<ApiTokenRow> for ApiTokenInfo {
    fn from(r: ApiTokenRow) -> Self {
        ApiTokenInfo {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            access: ApiAccess::from_column(&r.access),
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            expires_at: r.expires_at,
        }
    }
}

/// A new personal token's settings.
#[derive(Debug, Clone)]
pub struct NewApiToken<'a> {
    pub user_id: i64,
    pub name: &'a str,
    pub token_hash: &'a str,
    pub access: ApiAccess,
    pub expires_at: Option<i64>,
}

/// Admin emails are compared without regard to case; we keep them lower-cased.
fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

impl Store {
    /// Adds an admin; an address already present is a `Conflict`.
    pub async fn insert_admin_user(
        &self,
        email: &str,
        password_hash: &str,
        role: AdminRole,
        now: i64,
    ) -> StoreResult<AdminUser> {
        let sql = format!(
            "INSERT INTO admin_users (email, password_hash, role, created_at) VALUES ($1, $2, $3, $4) \
             RETURNING {USER_COLUMNS}"
        );
        self.decode_one(
            query(AssertSqlSafe(sql.as_str()))
                .bind(normalise_email(email))
                .bind(password_hash)
                .bind(role.as_str())
                .bind(now),
        )
        .await
        .conflict_on_unique(|| "an admin with this address already exists".into())
    }

    pub async fn admin_user(&self, id: i64) -> StoreResult<AdminUser> {
        let sql = format!("SELECT {USER_COLUMNS} FROM admin_users WHERE id = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(id))
            .await?
            .ok_or(StoreError::NotFound)
    }

    pub async fn admin_user_by_email(&self, email: &str) -> StoreResult<Option<AdminUser>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM admin_users WHERE email = $1");
        self.decode_optional(query(AssertSqlSafe(sql.as_str())).bind(normalise_email(email)))
            .await
    }

    pub async fn list_admin_users(&self) -> StoreResult<Vec<AdminUser>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM admin_users ORDER BY email");
        self.decode_all(query(AssertSqlSafe(sql.as_str()))).await
    }

    /// Removes an admin with their sessions and tokens; `NotFound` when there is none.
    pub async fn delete_admin_user(&self, email: &str) -> StoreResult<()> {
        let user = self
            .admin_user_by_email(email)
            .await?
            .ok_or(StoreError::NotFound)?;
        self.delete_sessions_of(user.id).await?;
        self.exec(query("DELETE FROM api_tokens WHERE user_id = $1").bind(user.id))
            .await?;
        self.exec(query("DELETE FROM admin_users WHERE id = $1").bind(user.id))
            .await?;
        Ok(())
    }

    /// Replaces the password and ends every session, so a stolen cookie dies with the old
    /// password; also lifts every lock-out of the account.
    pub async fn set_admin_password(&self, user_id: i64, password_hash: &str) -> StoreResult<()> {
        self.exec_found(query(
            "UPDATE admin_users SET password_hash = $1, failed_logins = 0, locked_until = NULL WHERE id = $2",
        )
        .bind(password_hash)
        .bind(user_id)).await?;
        self.exec(query(
            "DELETE FROM login_attempts WHERE account = (SELECT email FROM admin_users WHERE id = $1)",
        )
        .bind(user_id)).await?;
        self.delete_sessions_of(user_id).await
    }

    pub async fn record_successful_login(&self, user_id: i64, now: i64) -> StoreResult<()> {
        self.exec(query(
            "UPDATE admin_users SET failed_logins = 0, locked_until = NULL, last_login_at = $1 WHERE id = $2",
        )
        .bind(now)
        .bind(user_id)).await?;
        Ok(())
    }

    /// Reserves one sign-in attempt for (`account`, `client`) before the password is
    /// checked: `Some(n)` when it is the n-th attempt of the current window (a window
    /// older than `window_starts_after` starts afresh), `None` when `max` attempts of the
    /// window are already taken. One conditional statement, so a burst of concurrent
    /// guesses cannot get more than `max` password checks.
    pub async fn reserve_login_attempt(
        &self,
        account: &str,
        client: &str,
        now: i64,
        window_starts_after: i64,
        max: i64,
    ) -> StoreResult<Option<i64>> {
        let sql = "INSERT INTO login_attempts (account, client, window_start, attempts) \
             VALUES ($1, $2, $3, 1) \
             ON CONFLICT (account, client) DO UPDATE SET \
             attempts = CASE WHEN login_attempts.window_start <= $4 THEN 1 \
                        ELSE login_attempts.attempts + 1 END, \
             window_start = CASE WHEN login_attempts.window_start <= $4 THEN $3 \
                        ELSE login_attempts.window_start END \
             WHERE login_attempts.window_start <= $4 OR login_attempts.attempts < $5 \
             RETURNING attempts";
        let n: Option<i64> = self
            .scalar_optional(
                query(sql)
                    .bind(normalise_email(account))
                    .bind(client)
                    .bind(now)
                    .bind(window_starts_after)
                    .bind(max),
            )
            .await?;
        Ok(n)
    }

    /// When the current window of (`account`, `client`) began, if one is recorded.
    pub async fn login_window_start(
        &self,
        account: &str,
        client: &str,
    ) -> StoreResult<Option<i64>> {
        let at: Option<i64> = self
            .scalar_optional(
                query("SELECT window_start FROM login_attempts WHERE account = $1 AND client = $2")
                    .bind(normalise_email(account))
                    .bind(client),
            )
            .await?;
        Ok(at)
    }

    /// Forgets the attempts of (`account`, `client`) after a successful sign-in.
    pub async fn clear_login_attempts(&self, account: &str, client: &str) -> StoreResult<()> {
        self.exec(
            query("DELETE FROM login_attempts WHERE account = $1 AND client = $2")
                .bind(normalise_email(account))
                .bind(client),
        )
        .await?;
        Ok(())
    }

    /// Forgets every window that has run out, so guesses at made-up addresses do not pile
    /// up (an index range on `window_start`).
    pub async fn prune_login_attempts(&self, window_starts_after: i64) -> StoreResult<u64> {
        let n = self
            .exec(
                query("DELETE FROM login_attempts WHERE window_start <= $1")
                    .bind(window_starts_after),
            )
            .await?;
        Ok(n)
    }

    /// Lifts every lock-out of `account` (after `users passwd`).
    pub async fn clear_all_login_attempts(&self, account: &str) -> StoreResult<()> {
        self.exec(
            query("DELETE FROM login_attempts WHERE account = $1").bind(normalise_email(account)),
        )
        .await?;
        Ok(())
    }

    pub async fn insert_admin_session(
        &self,
        token_hash: &str,
        user_id: i64,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        self.exec(query(
            "INSERT INTO admin_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(token_hash)
        .bind(user_id)
        .bind(csrf_token)
        .bind(now)
        .bind(expires_at)).await?;
        Ok(())
    }

    /// The session with this hash, whether or not it has expired (the caller decides, so
    /// that it can say "your session expired" rather than "please sign in").
    pub async fn admin_session(&self, token_hash: &str) -> StoreResult<Option<AdminSession>> {
        let sql = format!(
            "SELECT s.csrf_token, s.expires_at, {USER_COLUMNS_U} FROM admin_sessions s \
             JOIN admin_users u ON u.id = s.user_id WHERE s.token_hash = $1"
        );
        let row: Option<SessionRow> = self
            .fetch_optional(query(AssertSqlSafe(sql.as_str())).bind(token_hash))
            .await?;
        row.map(|r| {
            Ok(AdminSession {
                user: r.user.try_into()?,
                csrf_token: r.csrf_token,
                expires_at: r.expires_at,
            })
        })
        .transpose()
    }

    pub async fn delete_admin_session(&self, token_hash: &str) -> StoreResult<()> {
        self.exec(query("DELETE FROM admin_sessions WHERE token_hash = $1").bind(token_hash))
            .await?;
        Ok(())
    }

    pub async fn delete_sessions_of(&self, user_id: i64) -> StoreResult<()> {
        self.exec(query("DELETE FROM admin_sessions WHERE user_id = $1").bind(user_id))
            .await?;
        Ok(())
    }

    /// Forgets sessions that ended before `now`; returns how many.
    pub async fn delete_expired_sessions(&self, now: i64) -> StoreResult<u64> {
        let n = self
            .exec(query("DELETE FROM admin_sessions WHERE expires_at < $1").bind(now))
            .await?;
        Ok(n)
    }

    pub async fn insert_api_token(
        &self,
        t: &NewApiToken<'_>,
        now: i64,
    ) -> StoreResult<ApiTokenInfo> {
        let sql = format!(
            "INSERT INTO api_tokens (user_id, name, token_hash, access, expires_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING {TOKEN_COLUMNS}"
        );
        let row: ApiTokenRow = self
            .fetch_one(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(t.user_id)
                    .bind(t.name)
                    .bind(t.token_hash)
                    .bind(t.access.as_str())
                    .bind(t.expires_at)
                    .bind(now),
            )
            .await?;
        Ok(row.into())
    }

    /// The owner of the unexpired token with this hash and what the token may do,
    /// stamping its use.
    pub async fn api_token_user(
        &self,
        token_hash: &str,
        now: i64,
    ) -> StoreResult<Option<(AdminUser, ApiAccess)>> {
        #[derive(sqlx::FromRow)]
        struct Row {
            access: String,
            #[sqlx(flatten)]
            user: AdminUserRow,
        }
        let sql = format!(
            "SELECT t.access, {USER_COLUMNS_U} FROM api_tokens t JOIN admin_users u ON u.id = t.user_id \
             WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)"
        );
        let row: Option<Row> = self
            .fetch_optional(
                query(AssertSqlSafe(sql.as_str()))
                    .bind(token_hash)
                    .bind(now),
            )
            .await?;
        let Some(row) = row else { return Ok(None) };
        self.exec(
            query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(now)
                .bind(token_hash),
        )
        .await?;
        Ok(Some((
            row.user.try_into()?,
            ApiAccess::from_column(&row.access),
        )))
    }

    /// Revokes every token of `user_id` (after a password change); returns how many.
    pub async fn delete_api_tokens_of(&self, user_id: i64) -> StoreResult<u64> {
        let n = self
            .exec(query("DELETE FROM api_tokens WHERE user_id = $1").bind(user_id))
            .await?;
        Ok(n)
    }

    pub async fn list_api_tokens(&self, user_id: i64) -> StoreResult<Vec<ApiTokenInfo>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE user_id = $1 ORDER BY id");
        self.decode_all(query(AssertSqlSafe(sql.as_str())).bind(user_id))
            .await
    }

    /// Revokes one of `user_id`'s tokens; `NotFound` when it is not theirs.
    pub async fn delete_api_token(&self, user_id: i64, token_id: i64) -> StoreResult<()> {
        self.exec_found(
            query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
                .bind(token_id)
                .bind(user_id),
        )
        .await?;
        Ok(())
    }
}
