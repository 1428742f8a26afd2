//! Hashing and encoding, over the RustCrypto and
//! `base64` crates: SHA-1 names cache folders and fingerprints applied objects, HMAC-SHA1 checks hashed
//! `known_hosts` entries, base64 decodes host keys and salts.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha1::{Digest, Sha1};

/// The SHA-1 of `data`, as lower-case hex.
pub fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA1 of `message` under `key` (as OpenSSH hashes known host names).
pub fn hmac_sha1(key: &[u8], message: &[u8]) -> [u8; 20] {
    let mut mac = Hmac::<Sha1>::new_from_slice(key).expect("HMAC takes a key of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Decodes standard base64 (with padding); `None` when it is not valid.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text.trim()).ok()
}

/// Encodes bytes as standard base64 (with padding).
pub fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_and_hmac_match_the_standard_vectors() {
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        // RFC 2202, test case 2.
        let mac = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    #[test]
    fn base64_round_trips_and_rejects_garbage() {
        assert_eq!(
            base64_decode(&base64_encode(b"host key")).unwrap(),
            b"host key"
        );
        assert_eq!(base64_decode("not base64!"), None);
    }
}
