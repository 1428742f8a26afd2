//! The libgit2 callbacks of a fetch: credentials (tried once, never in a loop)
//! and host key checking against a `known_hosts` file.

use std::cell::RefCell;

use git2::{CertificateCheckStatus, Cred, CredentialType, RemoteCallbacks};

use super::credentials::{Credentials, TOKEN_USERNAME};
use super::known_hosts::{HostKeyCheck, KnownHosts};
use super::network::CallbackReport;

/// The SSH user name when the URL has none.
const DEFAULT_SSH_USER: &str = "git";

/// Callbacks for one fetch. `report` records why authentication or the host
/// key check was given up, for the error message.
pub(crate) fn remote_callbacks<'a>(
    credentials: &'a Credentials,
    known_hosts: Option<&'a KnownHosts>,
    port: Option<u16>,
    report: &'a RefCell<CallbackReport>,
) -> RemoteCallbacks<'a> {
    let mut callbacks = RemoteCallbacks::new();
    let mut http_attempts = 0u32;
    let mut ssh_attempts = 0u32;

    callbacks.credentials(move |_url, username_from_url, allowed| {
        let fail = |reason: &str| {
            report.borrow_mut().auth_failure = Some(reason.to_owned());
            Err(git2::Error::from_str(reason))
        };
        if allowed.contains(CredentialType::USERNAME) {
            return Cred::username(username_from_url.unwrap_or(DEFAULT_SSH_USER));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            ssh_attempts += 1;
            let user = username_from_url.unwrap_or(DEFAULT_SSH_USER);
            return match (&credentials.ssh_key, ssh_attempts) {
                (Some(key), 1) => Cred::ssh_key(
                    user,
                    None,
                    &key.private_key,
                    key.passphrase.as_ref().map(|p| p.expose()),
                ),
                (Some(_), _) => fail("the SSH key was rejected"),
                (None, 1) => Cred::ssh_key_from_agent(user),
                (None, _) => fail("no SSH key is configured and the SSH agent had no accepted key"),
            };
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            http_attempts += 1;
            return match (&credentials.http, http_attempts) {
                (Some(auth), 1) => {
                    let user = auth
                        .username
                        .as_deref()
                        .or(username_from_url)
                        .unwrap_or(TOKEN_USERNAME);
                    Cred::userpass_plaintext(user, auth.secret.expose())
                }
                (Some(_), _) => fail("the credentials were rejected"),
                (None, _) if username_from_url.is_some() => {
                    fail("the credentials in the URL were rejected")
                }
                (None, _) => fail("the server requires credentials and none are configured"),
            };
        }
        fail("the server asked for an unsupported kind of credentials")
    });

    callbacks.certificate_check(move |cert, host| {
        let (Some(known_hosts), Some(hostkey)) = (known_hosts, cert.as_hostkey()) else {
            // HTTPS certificates, and SSH without an explicit known_hosts file:
            // libgit2's own checks decide.
            return Ok(CertificateCheckStatus::CertificatePassthrough);
        };
        let key_type = hostkey.hostkey_type().map(|t| t.name()).unwrap_or("unknown");
        let Some(key) = hostkey.hostkey() else {
            let why = format!("the SSH host key of {host} is not available for checking");
            report.borrow_mut().certificate_failure = Some(why.clone());
            return Err(git2::Error::from_str(&why));
        };
        let why = match known_hosts.check(host, port, key_type, key) {
            HostKeyCheck::Match => return Ok(CertificateCheckStatus::CertificateOk),
            HostKeyCheck::Mismatch => format!(
                "the {key_type} host key of {host} does not match {}: possible man-in-the-middle attack",
                known_hosts.path().display()
            ),
            HostKeyCheck::Unknown => format!(
                "{host} has no {key_type} host key in {}",
                known_hosts.path().display()
            ),
            HostKeyCheck::Revoked => format!("the {key_type} host key of {host} is revoked"),
        };
        report.borrow_mut().certificate_failure = Some(why.clone());
        Err(git2::Error::from_str(&why))
    });

    callbacks
}
