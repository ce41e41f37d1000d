//! Admin accounts as a service: password hashing and the rules for new passwords, sign-in
//! with its lock-out, and personal API tokens. No HTTP here: the web layer
//! ([`crate::web::auth`], [`crate::web::admin`]) and the CLI (`breakfast users`) both call
//! this module.

use std::net::IpAddr;

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{PasswordHasher, phc::PasswordHash},
};

use crate::{
    app::App,
    domain::token::{constant_time_eq, random_secret},
    store::users::AdminUser,
};

/// Why a login was refused, in words for the login form.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("That email address and password do not match an account.")]
    BadCredentials,
    /// The password was checked and was wrong, and that was the window's last attempt.
    #[error(
        "That email address and password do not match an account. Too many failed attempts: sign-in with this address from your network is locked for {minutes} more minute(s). Try again later, or ask someone to reset the password with `breakfast users passwd`."
    )]
    LastAttempt { minutes: i64 },
    /// Refused without checking the password.
    #[error(
        "Too many failed attempts: sign-in with this address from your network is locked for {minutes} more minute(s). Try again later, or ask someone to reset the password with `breakfast users passwd`."
    )]
    Locked { minutes: i64 },
    #[error("{0}")]
    Internal(#[from] anyhow::Error),
}

/// Checks a password for a sign-in from `client`.
///
/// The attempt is reserved in the store *before* the password is checked, per (address
/// typed, client): at most `admin.max_failed_logins` checks per `admin.lockout_minutes`
/// window, however many guesses arrive at once, and a stranger's guesses lock out only the
/// stranger. Unknown addresses take the same path — reservation, an argon2 check against
/// a dummy hash, the same answers — so nothing tells them apart from real accounts.
pub async fn authenticate(
    app: &App,
    email: &str,
    password: &str,
    client: IpAddr,
) -> Result<AdminUser, LoginError> {
    let now = app.now_ms();
    let window_ms = i64::from(app.config.admin.lockout_minutes.max(1)) * 60_000;
    let window_cutoff = now - window_ms;
    let max = i64::from(app.config.admin.max_failed_logins.max(1));
    let client = client.to_string();
    let minutes_left = |start: i64| ((start + window_ms - now).max(0) + 59_999) / 60_000;
    let store = &app.store;
    store
        .prune_login_attempts(window_cutoff)
        .await
        .map_err(anyhow::Error::from)?;
    let attempt = store
        .reserve_login_attempt(email, &client, now, window_cutoff, max)
        .await
        .map_err(anyhow::Error::from)?;
    let Some(attempt) = attempt else {
        let start = store
            .login_window_start(email, &client)
            .await
            .map_err(anyhow::Error::from)?
            .unwrap_or(now);
        return Err(LoginError::Locked {
            minutes: minutes_left(start).max(1),
        });
    };
    let user = store
        .admin_user_by_email(email)
        .await
        .map_err(anyhow::Error::from)?;
    let hash = user
        .as_ref()
        .map_or_else(|| DUMMY_HASH.to_string(), |u| u.password_hash.clone());
    let matches = verify_password(password.to_string(), hash).await;
    match user {
        Some(user) if matches => {
            store
                .clear_login_attempts(email, &client)
                .await
                .map_err(anyhow::Error::from)?;
            store
                .record_successful_login(user.id, now)
                .await
                .map_err(anyhow::Error::from)?;
            Ok(user)
        }
        _ if attempt >= max => Err(LoginError::LastAttempt {
            minutes: i64::from(app.config.admin.lockout_minutes.max(1)),
        }),
        _ => Err(LoginError::BadCredentials),
    }
}

/// A valid argon2id hash of a random password, for timing-equal refusals.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1n4DuyR7pHbJ8E2H2lsqAvUCUq5KhNJr5sDxXwS3yXc";

/// An argon2id PHC string for `password`.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Checks `password` against a stored hash off the async threads (argon2 is slow on
/// purpose).
pub async fn verify_password(password: String, hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_with_pooled_memory(password.as_bytes(), &hash))
        .await
        .unwrap_or(false)
}

/// Argon2's working memory (~19 MiB per check), kept and reused rather than freed: freed
/// blocks of that size stay in the allocator's per-thread arenas, so a stream of checks on
/// different threads grew the process by 19 MiB per thread. The pool holds at most as many
/// buffers as checks ever ran at once, which [`LoginGate`] bounds.
static ARGON2_MEMORY: std::sync::Mutex<Vec<Vec<Block>>> = std::sync::Mutex::new(Vec::new());

fn verify_with_pooled_memory(password: &[u8], phc: &str) -> bool {
    let mut memory = ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pop()
        .unwrap_or_default();
    let matches = verify_in(password, phc, &mut memory);
    ARGON2_MEMORY
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .push(memory);
    matches
}

/// Recomputes the PHC string's hash for `password` with its own algorithm, version,
/// parameters and salt, in `memory`, and compares in constant time.
fn verify_in(password: &[u8], phc: &str, memory: &mut Vec<Block>) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Ok(algorithm), Ok(params)) = (
        Algorithm::try_from(parsed.algorithm.as_str()),
        Params::try_from(&parsed),
    ) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let (Some(salt), Some(expected)) = (parsed.salt.as_ref(), parsed.hash.as_ref()) else {
        return false;
    };
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    let mut out = vec![0u8; expected.as_bytes().len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, &mut out, memory.as_mut_slice())
        .is_ok()
        && constant_time_eq(&out, expected.as_bytes())
}

/// Rules for new passwords, checked by the CLI and the web alike.
pub fn check_new_password(password: &str) -> Result<(), String> {
    if password.chars().count() < 10 {
        return Err("the password must be at least 10 characters long".into());
    }
    if password.len() > 1024 {
        return Err("the password is too long (at most 1024 bytes)".into());
    }
    Ok(())
}

/// A fresh personal API token (shown once) and the hash to store.
pub fn new_api_token(app: &App) -> (String, String) {
    let token = format!("bf_{}", random_secret());
    let hash = app.signer.fingerprint(&token);
    (token, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_round_trip_and_dummy_hash_parses() {
        let h = hash_password("correct horse battery").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(verify_with_pooled_memory(b"correct horse battery", &h));
        assert!(!verify_with_pooled_memory(b"correct horse batterY", &h));
        assert!(!verify_with_pooled_memory(b"x", "not a hash"));
        // The dummy hash is a real one: checking against it costs what a real check costs.
        assert!(!verify_with_pooled_memory(b"x", DUMMY_HASH));
    }
}
