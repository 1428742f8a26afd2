//! Signed commits: a commit is read only when it is signed by an allowed
//! key, where verification is asked for ([`Verification`]).
//!
//! libgit2 gives the signature and the signed data
//! (`Repository::extract_signature`); the signature is checked by the tools
//! Git itself uses: OpenSSH's `ssh-keygen -Y find-principals` and
//! `ssh-keygen -Y verify` (namespace `git`) against a Git `allowed_signers`
//! file for SSH signatures, and GnuPG's `gpgv` against a keyring file (made
//! with `gpg --export`) for OpenPGP signatures. Both must be on `PATH` when
//! that kind of key is configured; a missing tool refuses the commit (it is
//! never taken as verified).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use git2::{Oid, Repository};

use super::SourceError;

/// Which keys may sign the commits that are read. With neither file set,
/// nothing is verified.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Verification {
    /// A Git SSH `allowed_signers` file (`gpg.ssh.allowedSignersFile`).
    pub allowed_signers: Option<PathBuf>,
    /// An OpenPGP keyring file (`gpg --export > keyring.gpg`).
    pub gpg_keyring: Option<PathBuf>,
}

impl Verification {
    /// Whether any key is configured, so that commits must be verified.
    pub fn is_enabled(&self) -> bool {
        self.allowed_signers.is_some() || self.gpg_keyring.is_some()
    }
}

/// Checks that `commit` of `repo` is signed by a key `verification` allows;
/// returns who signed (the principal, or what `gpgv` says). Call only when
/// verification is enabled.
pub(crate) fn verify_commit(
    repo: &Repository,
    commit: Oid,
    verification: &Verification,
) -> Result<String, SourceError> {
    let refuse = |reason: String| SourceError::Unverified {
        commit: commit.to_string(),
        reason,
    };
    let (signature, data) = match repo.extract_signature(&commit, None) {
        Ok((s, d)) => (s.to_vec(), d.to_vec()),
        Err(e) if e.code() == git2::ErrorCode::NotFound => {
            return Err(refuse("the commit is not signed".into()));
        }
        Err(e) => {
            return Err(refuse(format!(
                "cannot read its signature: {}",
                e.message()
            )));
        }
    };
    let text = String::from_utf8_lossy(&signature);
    if text.contains("-----BEGIN SSH SIGNATURE-----") {
        match &verification.allowed_signers {
            Some(file) => verify_ssh(file, &signature, &data).map_err(refuse),
            None => Err(refuse(
                "it has an SSH signature, and no allowed signers file is configured".into(),
            )),
        }
    } else if text.contains("-----BEGIN PGP SIGNATURE-----") {
        match &verification.gpg_keyring {
            Some(file) => verify_gpg(file, &signature, &data).map_err(refuse),
            None => Err(refuse(
                "it has an OpenPGP signature, and no GPG keyring is configured".into(),
            )),
        }
    } else {
        Err(refuse(
            "its signature is neither an SSH nor an OpenPGP signature".into(),
        ))
    }
}

fn temp_file(contents: &[u8]) -> Result<tempfile::NamedTempFile, String> {
    let mut f = tempfile::NamedTempFile::new()
        .map_err(|e| format!("cannot write a temporary file: {e}"))?;
    f.write_all(contents)
        .and_then(|()| f.flush())
        .map_err(|e| format!("cannot write a temporary file: {e}"))?;
    Ok(f)
}

/// Runs `command` with `stdin`, bounded only by the tool itself (both read
/// local files and exit).
fn run(mut command: Command, stdin: &[u8]) -> Result<(bool, String), String> {
    let program = command.get_program().to_string_lossy().into_owned();
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {program} (needed to verify signatures): {e}"))?;
    if let Some(mut input) = child.stdin.take() {
        // A tool that exits early closes its stdin: not an error here.
        let _ = input.write_all(stdin);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{program} failed: {e}"))?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success(), text))
}

fn verify_ssh(allowed: &Path, signature: &[u8], data: &[u8]) -> Result<String, String> {
    if !allowed.is_file() {
        return Err(format!(
            "the allowed signers file {} cannot be read",
            allowed.display()
        ));
    }
    let sig = temp_file(signature)?;
    let mut find = Command::new("ssh-keygen");
    find.args(["-Y", "find-principals", "-s"])
        .arg(sig.path())
        .arg("-f")
        .arg(allowed);
    let (found, out) = run(find, b"")?;
    let principals: Vec<String> = out
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    if !found || principals.is_empty() {
        return Err(format!(
            "it is not signed by a key of the allowed signers file {}",
            allowed.display()
        ));
    }
    for principal in principals.iter().take(16) {
        let mut verify = Command::new("ssh-keygen");
        verify
            .args(["-Y", "verify", "-n", "git", "-f"])
            .arg(allowed)
            .arg("-I")
            .arg(principal)
            .arg("-s")
            .arg(sig.path());
        let (ok, _) = run(verify, data)?;
        if ok {
            return Ok(principal.clone());
        }
    }
    Err(format!(
        "its SSH signature does not verify (key of {} in {}; the commit may have been altered)",
        principals.join(", "),
        allowed.display()
    ))
}

fn verify_gpg(keyring: &Path, signature: &[u8], data: &[u8]) -> Result<String, String> {
    if !keyring.is_file() {
        return Err(format!(
            "the GPG keyring {} cannot be read",
            keyring.display()
        ));
    }
    let keyring = std::path::absolute(keyring).unwrap_or_else(|_| keyring.to_owned());
    let home = tempfile::tempdir().map_err(|e| format!("cannot make a GnuPG home: {e}"))?;
    let (sig, body) = (temp_file(signature)?, temp_file(data)?);
    let mut gpgv = Command::new("gpgv");
    gpgv.arg("--homedir")
        .arg(home.path())
        .arg("--keyring")
        .arg(&keyring)
        .arg(sig.path())
        .arg(body.path());
    let (ok, out) = run(gpgv, b"")?;
    if ok {
        let signer = out
            .lines()
            .find(|l| l.contains("Good signature"))
            .unwrap_or("good signature")
            .trim()
            .to_string();
        Ok(signer)
    } else {
        Err(format!(
            "it is not signed by a key of the GPG keyring {}",
            keyring.display()
        ))
    }
}
