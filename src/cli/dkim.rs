//! `breakfast dkim generate`: a new signing key and the DNS record that publishes it.

use std::{io::Write, os::unix::fs::OpenOptionsExt, path::PathBuf};

use clap::{Subcommand, ValueEnum};

use crate::{
    config::Config,
    mail::{MailIdentity, dkim},
};

#[derive(Debug, Subcommand)]
pub enum DkimCommand {
    /// Write a new private key (mode 0600) and print the DNS TXT record to publish.
    ///
    /// The record goes at SELECTOR._domainkey.DOMAIN, split into the 255-byte strings a
    /// TXT record is made of. Then add the key under [[mail.dkim]] and run
    /// `breakfast doctor`.
    Generate {
        /// The selector: letters, digits and '-', e.g. bf2026.
        #[arg(long)]
        selector: String,
        /// RSA-2048 (every receiver checks it) or Ed25519 (an optional second signature).
        #[arg(long, value_enum, default_value_t = KeyAlgorithm::Rsa)]
        algorithm: KeyAlgorithm,
        /// The signing domain (d=); the From address's domain by default.
        #[arg(long)]
        domain: Option<String>,
        /// Where to write the key; dkim-SELECTOR.pem in the current folder by default.
        /// An existing file is never overwritten.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeyAlgorithm {
    Rsa,
    Ed25519,
}

pub async fn run(command: DkimCommand, config: Config) -> anyhow::Result<()> {
    match command {
        DkimCommand::Generate {
            selector,
            algorithm,
            domain,
            out,
        } => generate(&config, &selector, algorithm, domain, out),
    }
}

fn generate(
    config: &Config,
    selector: &str,
    algorithm: KeyAlgorithm,
    domain: Option<String>,
    out: Option<PathBuf>,
) -> anyhow::Result<()> {
    if !dkim::is_dns_name(selector) {
        anyhow::bail!(
            "selector {selector:?} has characters DNS cannot carry (use letters, digits, '-' and '.')"
        );
    }
    let domain = match domain {
        Some(d) => d,
        None => MailIdentity::from_config(config)?.id_domain,
    };
    if !dkim::is_dns_name(&domain) {
        anyhow::bail!("domain {domain:?} is not a DNS name");
    }
    let algorithm = match algorithm {
        KeyAlgorithm::Rsa => dkim::Algorithm::Rsa,
        KeyAlgorithm::Ed25519 => dkim::Algorithm::Ed25519,
    };
    let path = out.unwrap_or_else(|| PathBuf::from(format!("dkim-{selector}.pem")));
    let (pem, record) = dkim::generate(algorithm)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    file.write_all(pem.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    let shown_path = std::fs::canonicalize(&path).unwrap_or(path);
    let name = format!("{selector}._domainkey.{domain}");
    let strings: Vec<String> = dkim::txt_strings(&record)
        .into_iter()
        .map(|s| format!("\"{s}\""))
        .collect();
    println!(
        "Wrote the {} private key to {} (mode 0600); keep it secret.",
        algorithm.dns_name(),
        shown_path.display()
    );
    println!();
    println!("1. Publish this DNS TXT record (zone-file form, one record of quoted strings):");
    println!();
    println!("{name}. 3600 IN TXT ( {} )", strings.join(" "));
    println!();
    println!("2. Add the key to your configuration file:");
    println!();
    println!("[[mail.dkim]]");
    println!("domain = {domain:?}");
    println!("selector = {selector:?}");
    println!("private_key_file = {:?}", shown_path.display().to_string());
    println!();
    println!("3. Once the record is published, check it with `breakfast doctor`.");
    Ok(())
}
