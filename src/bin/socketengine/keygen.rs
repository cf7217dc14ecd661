//! `socketengine keygen`: a client's key, and the line that admits it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use socketengine::Credential;

use crate::lib;

/// Options of `socketengine keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// The client's name, as it will connect (`--name`) and as the host's
    /// auth file lists it.
    name: String,
    /// The key file: written with a new Ed25519 key (readable by its owner
    /// only) if it does not exist; read if it does (a key, or a shared
    /// token written as `token:SECRET`), to print its line again.
    #[arg(long, value_name = "FILE")]
    key: PathBuf,
}

/// Writes or reads the key, then prints the auth file's line for it (the
/// public half, or the token's SHA-256: never the secret).
pub(crate) fn run(args: &KeygenArgs) -> anyhow::Result<()> {
    let bad = |c: char| c.is_whitespace() || c == '#';
    if args.name.is_empty() || args.name.len() > 255 || args.name.contains(bad) {
        anyhow::bail!("a name for an auth file is 1 to 255 bytes without spaces or '#'");
    }
    let credential = match args.key.exists() {
        true => Credential::from_file(&args.key).map_err(lib)?,
        false => {
            let credential = Credential::generate().map_err(lib)?;
            write_secret(&args.key, &credential)?;
            eprintln!(
                "wrote a new Ed25519 key to {} (keep it secret; clients use it with --key)",
                args.key.display()
            );
            credential
        }
    };
    eprintln!(
        "the host admits {:?} with this line in its --auth file (edit its permissions; \
         a token's line proves the name as the token does: keep the file private):",
        args.name
    );
    println!("{} {} all", args.name, credential.verifier());
    Ok(())
}

/// Creates `path` (never overwriting) readable and writable by its owner only.
fn write_secret(path: &std::path::Path, credential: &Credential) -> anyhow::Result<()> {
    let text = credential
        .to_key_file()
        .context("a generated key has a key file")?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))
}
