//! `breakfast users …`: admin accounts and their personal API tokens.

use std::io::{BufRead, IsTerminal, Write};

use clap::Subcommand;

use crate::{
    accounts::{check_new_password, hash_password, new_api_token},
    config::Config,
    store::{
        StoreError,
        users::{AdminRole, ApiAccess, NewApiToken},
    },
};

#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add an admin. Prompts for the password (or reads one line from stdin when it is
    /// not a terminal, or with --password-stdin).
    Add {
        email: String,
        /// editor: everything; operator: the queue and subscribers only.
        #[arg(long, value_parser = parse_role)]
        role: AdminRole,
        /// Read the password from the first line of stdin, without prompting.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List admins with their role and last sign-in.
    List,
    /// Remove an admin, their sessions and API tokens.
    Remove { email: String },
    /// Set a new password (signs the admin out everywhere and lifts a lock-out). Their API
    /// tokens keep working unless --revoke-tokens is given (or you say so when asked).
    Passwd {
        email: String,
        #[arg(long)]
        password_stdin: bool,
        /// Also revoke every personal API token of the admin.
        #[arg(long)]
        revoke_tokens: bool,
    },
    /// Create a personal API token for the JSON API and print it (shown only once).
    Token {
        email: String,
        /// What the token is for.
        #[arg(long)]
        name: String,
        /// A token that may only read (GET), whatever the admin's role.
        #[arg(long)]
        read_only: bool,
        /// Days until the token stops working (default: never).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_days: Option<u32>,
    },
}

fn parse_role(s: &str) -> Result<AdminRole, String> {
    s.parse()
}

pub async fn run(command: UsersCommand, config: Config) -> anyhow::Result<()> {
    let app = super::open(config).await?;
    let result = match command {
        UsersCommand::Add {
            email,
            role,
            password_stdin,
        } => {
            let email = check_email(&email)?;
            if app.store.admin_user_by_email(&email).await?.is_some() {
                anyhow::bail!("an admin with the address {email} already exists");
            }
            let password = read_new_password(password_stdin)?;
            let hash = hash_password(&password)?;
            let user = app
                .store
                .insert_admin_user(&email, &hash, role, app.now_ms())
                .await
                .map_err(conflict_message)?;
            println!("added {} ({})", user.email, user.role);
            Ok(())
        }
        UsersCommand::List => {
            let users = app.store.list_admin_users().await?;
            if users.is_empty() {
                println!("no admins yet: add one with `breakfast users add EMAIL --role editor`");
            }
            for u in users {
                let last = u.last_login_at.map_or("never signed in".into(), |t| {
                    format!(
                        "last sign-in {}",
                        crate::domain::clock::from_ms(t).to_rfc3339()
                    )
                });
                println!("{:<40} {:<9} {last}", u.email, u.role.as_str());
            }
            Ok(())
        }
        UsersCommand::Remove { email } => match app.store.delete_admin_user(&email).await {
            Ok(()) => {
                println!("removed {email}");
                Ok(())
            }
            Err(StoreError::NotFound) => Err(anyhow::anyhow!("no admin with the address {email}")),
            Err(e) => Err(e.into()),
        },
        UsersCommand::Passwd {
            email,
            password_stdin,
            revoke_tokens,
        } => {
            let user = app
                .store
                .admin_user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no admin with the address {email}"))?;
            let password = read_new_password(password_stdin)?;
            app.store
                .set_admin_password(user.id, &hash_password(&password)?)
                .await?;
            println!(
                "password changed for {}; their sessions have ended",
                user.email
            );
            let tokens = app.store.list_api_tokens(user.id).await?.len();
            if tokens > 0 {
                if revoke_tokens
                    || (!password_stdin
                        && ask_yes(&format!(
                            "{} has {tokens} API token(s), which still work. Revoke them? [y/N] ",
                            user.email
                        ))?)
                {
                    let n = app.store.delete_api_tokens_of(user.id).await?;
                    println!("revoked {n} API token(s)");
                } else {
                    println!(
                        "{tokens} API token(s) still work; revoke them with --revoke-tokens or in the admin"
                    );
                }
            }
            Ok(())
        }
        UsersCommand::Token {
            email,
            name,
            read_only,
            expires_days,
        } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                anyhow::bail!("--name must be 1 to 100 characters");
            }
            let user = app
                .store
                .admin_user_by_email(&email)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no admin with the address {email}"))?;
            let (token, hash) = new_api_token(&app);
            let now = app.now_ms();
            let new = NewApiToken {
                user_id: user.id,
                name,
                token_hash: &hash,
                access: if read_only {
                    ApiAccess::Read
                } else {
                    ApiAccess::Full
                },
                expires_at: expires_days.map(|d| now + i64::from(d) * 86_400_000),
            };
            app.store.insert_api_token(&new, now).await?;
            println!("{token}");
            eprintln!("(this token is shown only once; keep it somewhere safe)");
            Ok(())
        }
    };
    app.close().await;
    result
}

fn conflict_message(e: StoreError) -> anyhow::Error {
    match e {
        StoreError::Conflict(m) => anyhow::anyhow!("{m}"),
        e => e.into(),
    }
}

fn check_email(raw: &str) -> anyhow::Result<String> {
    let e = crate::domain::EmailAddress::parse(raw)
        .map_err(|e| anyhow::anyhow!("{raw:?} is not a usable email address: {e}"))?;
    Ok(e.as_str().to_lowercase())
}

/// A new password: from stdin's first line when asked or when stdin is not a terminal;
/// otherwise prompted twice on the terminal without echo.
fn read_new_password(from_stdin: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    let password = if from_stdin || !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = prompt_hidden("Password: ")?;
        check_new_password(&first).map_err(|e| anyhow::anyhow!("{e}"))?;
        let again = prompt_hidden("Again: ")?;
        if first != again {
            anyhow::bail!("the two passwords differ; nothing was changed");
        }
        first
    };
    check_new_password(&password).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(password)
}

/// Asks a yes/no question on the terminal; no terminal means no.
fn ask_yes(question: &str) -> anyhow::Result<bool> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Ok(false);
    }
    eprint!("{question}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    stdin.lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// Reads a line from the terminal with echo off (via `stty`, restored afterwards).
fn prompt_hidden(prompt: &str) -> anyhow::Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let stty = |arg: &str| {
        std::process::Command::new("stty")
            .arg(arg)
            .stdin(std::process::Stdio::inherit())
            .status()
    };
    let _ = stty("-echo");
    let mut line = String::new();
    let read = std::io::stdin().lock().read_line(&mut line);
    let _ = stty("echo");
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
