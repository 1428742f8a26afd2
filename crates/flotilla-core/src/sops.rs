//! SOPS-encrypted documents (<https://github.com/getsops/sops>), decrypted
//! with age keys as the fleet is loaded.
//!
//! A SOPS document carries a top-level `sops:` mapping: the data key (32
//! bytes) encrypted to each `age` recipient as an armored age file, the
//! `lastmodified` time and a `mac`. Every encrypted value is
//! `ENC[AES256_GCM,data:<b64>,iv:<b64>,tag:<b64>,type:<str|int|float|bool|bytes>]`:
//! AES-256-GCM under the data key with a 32-byte IV, the additional data
//! being the value's path (mapping keys joined by `:`, list positions left
//! out, with a trailing `:`, e.g. `data:password:`). The MAC is the
//! upper-case hex SHA-512 of every value of the document in order (the
//! plaintext of encrypted ones; booleans as `True`/`False`), encrypted the
//! same way with `lastmodified` as additional data; a document whose MAC
//! does not match was altered and is refused.
//!
//! Pure: the keys come in as text ([`AgeKeys`]); nothing here reads a file.

use std::fmt;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine;
use serde_json::{Map, Value};
use sha2::{Digest, Sha512};

/// AES-256-GCM with SOPS' 32-byte IVs.
type SopsGcm = AesGcm<Aes256, aes_gcm::aead::consts::U32>;

/// age identities (`AGE-SECRET-KEY-1...`), as in an age key file. Never
/// shown: `Debug` prints how many there are.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AgeKeys {
    keys: Vec<String>,
}

impl fmt::Debug for AgeKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgeKeys({} key(s), redacted)", self.keys.len())
    }
}

impl AgeKeys {
    /// Reads an age key file's text: one `AGE-SECRET-KEY-1...` a line;
    /// `#` comments and blank lines are skipped. The error says which line
    /// is not a key (without showing it).
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if line.parse::<age::x25519::Identity>().is_err() {
                return Err(format!(
                    "line {} is not an age secret key (AGE-SECRET-KEY-1...)",
                    i + 1
                ));
            }
            keys.push(line.to_string());
        }
        if keys.is_empty() {
            return Err("holds no age secret key (AGE-SECRET-KEY-1...)".into());
        }
        Ok(Self { keys })
    }

    /// Adds the keys of `other`.
    pub fn extend(&mut self, other: AgeKeys) {
        self.keys.extend(other.keys);
    }

    fn identities(&self) -> Vec<age::x25519::Identity> {
        self.keys.iter().filter_map(|k| k.parse().ok()).collect()
    }
}

/// Why a SOPS document could not be decrypted. Never holds a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SopsError {
    /// No age key was given.
    #[error(
        "it is SOPS-encrypted and no age key was given (--sops-age-key-file, SOPS_AGE_KEY_FILE or sopsAgeKeyFile)"
    )]
    NoKey,
    /// None of the keys given is a recipient of the document.
    #[error("none of the age keys given can decrypt it (its recipients: {0})")]
    WrongKey(String),
    /// The `sops:` metadata is not as SOPS writes it.
    #[error("malformed SOPS metadata: {0}")]
    Malformed(String),
    /// A value does not decrypt (altered, or moved to another path).
    #[error("the value at {0} does not decrypt: the file was altered")]
    Value(String),
    /// The MAC does not match the values: the file was altered.
    #[error("its MAC does not match its values: the file was altered")]
    Mac,
}

/// Whether a parsed document is SOPS-encrypted (has a `sops:` mapping with
/// a `mac`).
pub fn is_encrypted(doc: &Value) -> bool {
    doc.get("sops")
        .and_then(Value::as_object)
        .is_some_and(|s| s.contains_key("mac"))
}

/// The document with every value decrypted and the `sops:` metadata
/// removed.
pub fn decrypt(doc: &Value, keys: Option<&AgeKeys>) -> Result<Value, SopsError> {
    let meta = doc
        .get("sops")
        .and_then(Value::as_object)
        .ok_or_else(|| SopsError::Malformed("no sops mapping".into()))?;
    let keys = keys.ok_or(SopsError::NoKey)?;
    let data_key = data_key(meta, keys)?;
    let Value::Object(map) = doc else {
        return Err(SopsError::Malformed("the document is not a mapping".into()));
    };
    let mut audit = Sha512::new();
    let mut out = Map::new();
    for (k, v) in map {
        if k == "sops" {
            continue;
        }
        let mut path = vec![k.as_str()];
        out.insert(k.clone(), walk(v, &mut path, &data_key, &mut audit)?);
    }
    let mac = meta
        .get("mac")
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Malformed("no mac".into()))?;
    let lastmodified = meta
        .get("lastmodified")
        .and_then(Value::as_str)
        .ok_or_else(|| SopsError::Malformed("no lastmodified".into()))?;
    let expected = decrypt_value(mac, &data_key, lastmodified)
        .map_err(|_| SopsError::Mac)?
        .0;
    let computed: String = audit
        .finalize()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    if expected != computed.as_bytes() {
        return Err(SopsError::Mac);
    }
    Ok(Value::Object(out))
}

/// The data key, from the first `age` stanza one of `keys` opens.
fn data_key(meta: &Map<String, Value>, keys: &AgeKeys) -> Result<[u8; 32], SopsError> {
    let stanzas = meta
        .get("age")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            SopsError::Malformed("no age recipients (only age is supported, not PGP or KMS)".into())
        })?;
    let identities = keys.identities();
    let mut recipients = Vec::new();
    for stanza in stanzas {
        let recipient = stanza
            .get("recipient")
            .and_then(Value::as_str)
            .unwrap_or("?");
        recipients.push(recipient.to_string());
        let Some(enc) = stanza.get("enc").and_then(Value::as_str) else {
            continue;
        };
        for identity in &identities {
            if let Ok(key) = age::decrypt(identity, enc.as_bytes())
                && let Ok(key) = <[u8; 32]>::try_from(key.as_slice())
            {
                return Ok(key);
            }
        }
    }
    Err(SopsError::WrongKey(recipients.join(", ")))
}

/// Decrypts every value below `v`, feeding the MAC.
fn walk<'a>(
    v: &'a Value,
    path: &mut Vec<&'a str>,
    key: &[u8; 32],
    audit: &mut Sha512,
) -> Result<Value, SopsError> {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            for (k, child) in m {
                path.push(k);
                let d = walk(child, path, key, audit);
                path.pop();
                out.insert(k.clone(), d?);
            }
            Ok(Value::Object(out))
        }
        Value::Array(a) => a
            .iter()
            .map(|child| walk(child, path, key, audit))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Value::String(s) if s.starts_with("ENC[AES256_GCM,") => {
            let aad = format!("{}:", path.join(":"));
            let (plain, kind) =
                decrypt_value(s, key, &aad).map_err(|()| SopsError::Value(path.join(".")))?;
            audit.update(&plain);
            typed(plain, &kind).ok_or_else(|| SopsError::Value(path.join(".")))
        }
        Value::String(s) => {
            audit.update(s.as_bytes());
            Ok(v.clone())
        }
        Value::Bool(b) => {
            audit.update(if *b { b"True" as &[u8] } else { b"False" });
            Ok(v.clone())
        }
        Value::Number(n) => {
            audit.update(n.to_string().as_bytes());
            Ok(v.clone())
        }
        Value::Null => Ok(Value::Null),
    }
}

/// The plaintext of one decrypted value as a JSON value of its type.
fn typed(plain: Vec<u8>, kind: &str) -> Option<Value> {
    let text = String::from_utf8(plain).ok()?;
    Some(match kind {
        "str" | "bytes" => Value::String(text),
        "int" => Value::Number(text.parse::<i64>().ok()?.into()),
        "float" => serde_json::Number::from_f64(text.parse().ok()?).map(Value::Number)?,
        "bool" => Value::Bool(match text.as_str() {
            "True" | "true" => true,
            "False" | "false" => false,
            _ => return None,
        }),
        _ => return None,
    })
}

/// Decrypts `ENC[AES256_GCM,...]`: the plaintext and its type.
fn decrypt_value(s: &str, key: &[u8; 32], aad: &str) -> Result<(Vec<u8>, String), ()> {
    let inner = s
        .strip_prefix("ENC[AES256_GCM,")
        .and_then(|r| r.strip_suffix(']'))
        .ok_or(())?;
    let (mut data, mut iv, mut tag, mut kind) = (None, None, None, None);
    for part in inner.split(',') {
        let (k, v) = part.split_once(':').ok_or(())?;
        match k {
            "data" => data = Some(v),
            "iv" => iv = Some(v),
            "tag" => tag = Some(v),
            "type" => kind = Some(v),
            _ => {}
        }
    }
    let b64 = |s: Option<&str>| {
        base64::engine::general_purpose::STANDARD
            .decode(s.ok_or(())?)
            .map_err(|_| ())
    };
    let (mut data, iv, tag) = (b64(data)?, b64(iv)?, b64(tag)?);
    if iv.len() != 32 || tag.len() != 16 {
        return Err(());
    }
    data.extend_from_slice(&tag);
    let cipher = SopsGcm::new_from_slice(key).map_err(|_| ())?;
    let plain = cipher
        .decrypt(
            Nonce::from_slice(&iv),
            Payload {
                msg: &data,
                aad: aad.as_bytes(),
            },
        )
        .map_err(|_| ())?;
    Ok((plain, kind.unwrap_or("str").to_string()))
}
