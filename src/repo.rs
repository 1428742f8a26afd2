//! The `--repo` options shared by every command, and opening the source.

use std::path::PathBuf;

use anyhow::Context;
use flotilla_core::snapshot::Snapshot;
use flotilla_source::{Credentials, Source, SourceSpec};

/// Where the fleet repository is.
#[derive(clap::Args)]
pub struct RepoArgs {
    /// The fleet repository: a local folder, or a Git URL (file://, git://,
    /// http(s)://, ssh:// or user@host:path).
    #[arg(long, default_value = ".", env = "FLOTILLA_REPO")]
    repo: String,
    /// Branch, tag or commit to read; a local folder's work tree, or a
    /// remote's default branch, when not given.
    #[arg(long, env = "FLOTILLA_REV")]
    rev: Option<String>,
    /// Where remote repositories are cached (bare, fetched incrementally).
    #[arg(long, env = "FLOTILLA_CACHE_DIR")]
    cache_dir: Option<PathBuf>,
    /// A file holding Git credentials (a token, or username=/password= lines).
    #[arg(long, env = "FLOTILLA_GIT_CREDENTIALS")]
    git_credentials: Option<PathBuf>,
    /// Read only commits signed by a key of this Git SSH allowed_signers
    /// file (a work tree cannot be verified: give --rev or a URL).
    #[arg(long, env = "FLOTILLA_ALLOWED_SIGNERS")]
    allowed_signers: Option<PathBuf>,
    /// Read only commits signed by a key of this OpenPGP keyring
    /// (`gpg --export > keyring.gpg`).
    #[arg(long, env = "FLOTILLA_GPG_KEYRING")]
    gpg_keyring: Option<PathBuf>,
    /// An age key file (AGE-SECRET-KEY-1... lines) to decrypt
    /// SOPS-encrypted Secrets with.
    #[arg(long, env = "SOPS_AGE_KEY_FILE")]
    sops_age_key_file: Option<PathBuf>,
}

impl RepoArgs {
    /// Opens the source the arguments name.
    pub fn open(&self) -> anyhow::Result<Source> {
        let credentials = Credentials::from_env_and_file(self.git_credentials.as_deref())
            .context("reading Git credentials")?;
        let mut spec = SourceSpec::new(&self.repo)
            .with_credentials(credentials)
            .with_verification(flotilla_source::Verification {
                allowed_signers: self.allowed_signers.clone(),
                gpg_keyring: self.gpg_keyring.clone(),
            });
        if let Some(rev) = &self.rev {
            spec = spec.with_rev(rev);
        }
        if let Some(path) = &self.sops_age_key_file {
            spec = spec.with_sops_keys(read_age_keys(path)?);
        }
        if let Some(dir) = &self.cache_dir {
            spec = spec.with_cache_dir(dir);
        }
        Ok(Source::open(spec)?)
    }

    /// The local folder `--repo` names, for watching; an error for a URL or
    /// with `--rev` (a commit does not change).
    pub fn local_folder(&self) -> anyhow::Result<PathBuf> {
        anyhow::ensure!(
            self.rev.is_none(),
            "--watch reads the work tree: drop --rev"
        );
        let path = PathBuf::from(&self.repo);
        anyhow::ensure!(
            path.is_dir(),
            "--watch needs a local folder, not {:?}",
            self.repo
        );
        Ok(path)
    }

    /// The folder relative `directory:` connections resolve against, the
    /// same from any working directory: the repository folder when `--repo`
    /// is a local folder; for a Git URL, `$FLOTILLA_STATE_DIR` when set
    /// (else the working directory, `None`).
    pub fn directory_base(&self) -> Option<PathBuf> {
        flotilla_hub::config::directory_base(&self.repo)
    }

    /// The snapshot at `rev`, or at `--rev` when `rev` is `None`.
    pub fn snapshot(&self, rev: Option<&str>) -> anyhow::Result<Snapshot> {
        let mut source = self.open()?;
        let rev = rev.or(self.rev.as_deref());
        Ok(source.snapshot(rev)?)
    }
}

/// Reads an age key file for SOPS; the error names the file, never a key.
pub fn read_age_keys(path: &std::path::Path) -> anyhow::Result<flotilla_core::sops::AgeKeys> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the age key file {}", path.display()))?;
    flotilla_core::sops::AgeKeys::parse(&text)
        .map_err(|e| anyhow::anyhow!("age key file {}: {e}", path.display()))
}
