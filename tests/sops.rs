//! SOPS-encrypted Secrets: decrypted as the fleet is loaded with the age
//! keys given (`--sops-age-key-file`, `SOPS_AGE_KEY_FILE`); without a key,
//! or with a wrong one, or after tampering, the file is named and refused;
//! values stay masked in diffs.
//!
//! The fixtures are encrypted here by SOPS' format rules (what
//! `sops --encrypt --age <recipient> --encrypted-regex '^(data|stringData)$'`
//! writes): a random data key sealed to the age recipient (armored), each
//! value `ENC[AES256_GCM,data:,iv:,tag:,type:]` with its path as additional
//! data, and the MAC over every value.

mod support;

use std::path::Path;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha512};

type SopsGcm = AesGcm<Aes256, aes_gcm::aead::consts::U32>;

const LASTMODIFIED: &str = "2026-11-30T12:00:00Z";

struct Encryptor {
    key: [u8; 32],
    counter: u8,
    audit: Sha512,
}

impl Encryptor {
    fn enc(&mut self, plain: &str, kind: &str, aad: &str) -> String {
        self.counter += 1;
        let iv = [self.counter; 32];
        let cipher = SopsGcm::new_from_slice(&self.key).unwrap();
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&iv),
                Payload {
                    msg: plain.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .unwrap();
        let (data, tag) = sealed.split_at(sealed.len() - 16);
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        format!(
            "ENC[AES256_GCM,data:{},iv:{},tag:{},type:{kind}]",
            b64(data),
            b64(&iv),
            b64(tag)
        )
    }

    fn walk(&mut self, v: &Value, path: &mut Vec<String>, encrypt: bool) -> Value {
        match v {
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, child) in m {
                    let encrypt =
                        encrypt || (path.is_empty() && (k == "data" || k == "stringData"));
                    path.push(k.clone());
                    out.insert(k.clone(), self.walk(child, path, encrypt));
                    path.pop();
                }
                Value::Object(out)
            }
            Value::Array(a) => {
                Value::Array(a.iter().map(|c| self.walk(c, path, encrypt)).collect())
            }
            Value::String(s) => {
                self.audit.update(s.as_bytes());
                if encrypt {
                    Value::String(self.enc(s, "str", &format!("{}:", path.join(":"))))
                } else {
                    v.clone()
                }
            }
            other => {
                self.audit.update(other.to_string().as_bytes());
                other.clone()
            }
        }
    }
}

/// `doc` encrypted for `recipient` as SOPS writes it, as YAML.
fn sops_encrypt(doc: &Value, recipient: &age::x25519::Recipient) -> String {
    let key: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37).wrapping_add(11));
    let mut e = Encryptor {
        key,
        counter: 0,
        audit: Sha512::new(),
    };
    let mut out = e.walk(doc, &mut Vec::new(), false);
    let hash: String = std::mem::take(&mut e.audit)
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let mac = e.enc(&hash, "str", LASTMODIFIED);
    let sealed = age::encrypt_and_armor(recipient, &key).unwrap();
    out["sops"] = json!({
        "age": [{"recipient": recipient.to_string(), "enc": sealed}],
        "lastmodified": LASTMODIFIED,
        "mac": mac,
        "encrypted_regex": "^(data|stringData)$",
        "version": "3.9.4",
    });
    flotilla_core::yaml::to_string(&out)
}

const FLEET: &str = "apiVersion: flotilla.dev/v1alpha1\nkind: Fleet\nmetadata: {name: shop}\nspec:\n  clusters:\n    - name: c1\n      connection: {directory: out/c1}\n  bases:\n    - name: web\n      path: bases/web\n";
const PASSWORD: &str = "hunter2-very-secret";

fn secret(password: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "type": "Opaque",
        "stringData": {"password": password, "user": "app"},
    })
}

struct Keys {
    good: age::x25519::Identity,
    other: age::x25519::Identity,
}

fn keys() -> Keys {
    Keys {
        good: age::x25519::Identity::generate(),
        other: age::x25519::Identity::generate(),
    }
}

fn key_file(dir: &Path, name: &str, identity: &age::x25519::Identity) -> String {
    use age::secrecy::ExposeSecret;
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "# created: test\n{}\n",
            identity.to_string().expose_secret()
        ),
    )
    .unwrap();
    path.to_str().unwrap().to_string()
}

/// A fleet whose base holds the encrypted Secret and a ConfigMap.
fn repo(dir: &Path, encrypted: &str) {
    support::files::write(dir, "fleet.yaml", FLEET);
    support::files::write(dir, "bases/web/secret.enc.yaml", encrypted);
    support::files::write(
        dir,
        "bases/web/web.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web, namespace: shop}\n",
    );
}

fn flotilla(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> support::run::Run {
    support::run::run(dir, args, env, Duration::from_secs(60))
}

#[test]
fn a_sops_secret_is_decrypted_with_the_age_key() {
    let k = keys();
    let encrypted = sops_encrypt(&secret(PASSWORD), &k.good.to_public());
    assert!(!encrypted.contains(PASSWORD));
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), &encrypted);
    let key = key_file(dir.path(), "keys.txt", &k.good);

    let run = flotilla(
        dir.path(),
        &["validate", "--repo", ".", "--sops-age-key-file", &key],
        &[],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "{run}"
    );

    // The rendered Secret holds the plaintext and no SOPS metadata; the key
    // also comes from SOPS_AGE_KEY_FILE.
    let run = flotilla(
        dir.path(),
        &["sync", "--repo", "."],
        &[("SOPS_AGE_KEY_FILE", &key)],
    );
    assert_eq!(run.code, 0, "{run}");
    assert!(
        !run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD),
        "{run}"
    );
    let written: String = std::fs::read_dir(dir.path().join("out/c1"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap_or_default())
        .collect();
    assert!(written.contains(PASSWORD), "{written}");
    assert!(!written.contains("ENC[AES256_GCM"), "{written}");
    assert!(!written.contains("lastmodified"), "{written}");
}

#[test]
fn validate_without_a_key_names_the_file_it_could_not_decrypt() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        &sops_encrypt(&secret(PASSWORD), &k.good.to_public()),
    );
    let run = flotilla(dir.path(), &["validate", "--repo", "."], &[]);
    assert_ne!(run.code, 0, "{run}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("bases/web/secret.enc.yaml"), "{run}");
    assert!(all.contains("no age key was given"), "{run}");
}

#[test]
fn a_wrong_key_is_refused() {
    let k = keys();
    let dir = tempfile::tempdir().unwrap();
    repo(
        dir.path(),
        &sops_encrypt(&secret(PASSWORD), &k.good.to_public()),
    );
    let wrong = key_file(dir.path(), "wrong.txt", &k.other);
    let run = flotilla(
        dir.path(),
        &["sync", "--repo", ".", "--sops-age-key-file", &wrong],
        &[],
    );
    assert_ne!(run.code, 0, "{run}");
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(all.contains("bases/web/secret.enc.yaml"), "{run}");
    assert!(
        all.contains("none of the age keys given can decrypt it"),
        "{run}"
    );
    assert!(
        all.contains(&k.good.to_public().to_string()),
        "names the recipient: {run}"
    );
    // Nothing was written.
    assert!(
        !dir.path().join("out/c1").exists()
            || std::fs::read_dir(dir.path().join("out/c1"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[test]
fn a_tampered_sops_file_is_refused() {
    let k = keys();
    let encrypted = sops_encrypt(&secret(PASSWORD), &k.good.to_public());
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "keys.txt", &k.good);
    // An unencrypted value changed: only the MAC catches it.
    repo(
        dir.path(),
        &encrypted.replace("namespace: shop", "namespace: prod"),
    );
    let run = flotilla(
        dir.path(),
        &["validate", "--repo", ".", "--sops-age-key-file", &key],
        &[],
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("MAC does not match"),
        "{run}"
    );
    // An encrypted value moved to another key: its path no longer decrypts it.
    let v: Value = flotilla_core::yaml::parse_file("x", &encrypted).unwrap();
    let mut moved = v.clone();
    let pw = moved["stringData"]["password"].clone();
    moved["stringData"]["user"] = pw;
    repo(dir.path(), &flotilla_core::yaml::to_string(&moved));
    let run = flotilla(
        dir.path(),
        &["validate", "--repo", ".", "--sops-age-key-file", &key],
        &[],
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("stringData.user does not decrypt"),
        "{run}"
    );
}

#[test]
fn a_sops_document_that_is_not_a_secret_is_refused() {
    let k = keys();
    let mut cm = secret(PASSWORD);
    cm["kind"] = json!("ConfigMap");
    let dir = tempfile::tempdir().unwrap();
    repo(dir.path(), &sops_encrypt(&cm, &k.good.to_public()));
    let key = key_file(dir.path(), "keys.txt", &k.good);
    let run = flotilla(
        dir.path(),
        &["validate", "--repo", ".", "--sops-age-key-file", &key],
        &[],
    );
    assert_ne!(run.code, 0, "{run}");
    assert!(
        format!("{}{}", run.stdout, run.stderr).contains("must be v1 Secrets"),
        "{run}"
    );
}

#[test]
fn a_changed_sops_secret_is_masked_in_the_revision_diff() {
    let k = keys();
    let f = support::Fixture::new();
    let key = key_file(f.path(), "keys.txt", &k.good);
    f.write("fleet.yaml", FLEET);
    f.write(
        "bases/web/secret.enc.yaml",
        &sops_encrypt(&secret(PASSWORD), &k.good.to_public()),
    );
    let from = f.commit("v1");
    f.write(
        "bases/web/secret.enc.yaml",
        &sops_encrypt(&secret("new-password-42"), &k.good.to_public()),
    );
    let to = f.commit("v2");
    let work = f.work.to_str().unwrap();
    let run = flotilla(
        f.path(),
        &[
            "diff",
            "--repo",
            work,
            "--from",
            &from,
            "--to",
            &to,
            "--sops-age-key-file",
            &key,
        ],
        &[],
    );
    let all = format!("{}{}", run.stdout, run.stderr);
    assert!(
        all.contains("Secret shop/db"),
        "the Secret shows as changed: {run}"
    );
    assert!(
        !all.contains(PASSWORD) && !all.contains("new-password-42"),
        "{run}"
    );
}
