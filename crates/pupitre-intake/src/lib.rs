//! Decodes what field inventory agents upload into [`InventoryReport`]s.
//!
//! Two agent protocols arrive over HTTP POST, each body possibly compressed:
//!
//! - [`ocs`]: FusionInventory agent 2.x speaks the OCS-NG XML protocol (`PROLOG`, then
//!   `INVENTORY`).
//! - [`glpi`]: GLPI Agent 1.x speaks GLPI's JSON protocol (`contact`, then `inventory`).
//!
//! [`decode`] undoes the body's zlib or gzip compression, bounded so that a compression bomb
//! costs no more memory than the caller's limit, and compresses replies the same way. The two
//! formats carry the same inventory sections (the JSON keys are the XML element names in lower
//! case), so one private module, `sections`, turns either into an [`InventoryReport`].
//!
//! This crate does no IO and knows no HTTP: the web layer hands it bytes and sends back the
//! strings it returns. Every error is the sender's fault (a 4xx), and its message says what is
//! wrong with the body.
//!
//! [`InventoryReport`]: pupitre_core::inventory::InventoryReport

pub mod decode;
pub mod glpi;
pub mod ocs;
mod sections;

use decode::Encoding;

/// Why an upload could not be decoded. The message is meant for the agent's operator.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IntakeError {
    /// The body inflates to more than the caller's limit (answer 413).
    #[error("the decompressed body is larger than the limit of {limit} bytes")]
    TooLarge { limit: usize },
    /// The compressed stream is truncated or corrupt.
    #[error("the {encoding} body is truncated or corrupt: {detail}")]
    Corrupt { encoding: Encoding, detail: String },
    /// The body is not well-formed XML.
    #[error("malformed XML at byte {position}: {detail}")]
    Xml { position: u64, detail: String },
    /// The body is not well-formed JSON.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// Well-formed, but not a message of the protocol (a required element or key is missing).
    #[error("{0}")]
    Protocol(String),
}

/// Whether a (decompressed) body is JSON rather than XML: its first non-blank byte is `{`.
///
/// GLPI Agent sends JSON and FusionInventory sends XML to the same URL, both often with a
/// compression content type, so the body itself is the only reliable sign.
pub fn is_json(body: &[u8]) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_told_from_xml() {
        assert!(is_json(br#"{"action":"contact"}"#));
        assert!(is_json(b" \r\n\t{}"));
        assert!(!is_json(b"<?xml version=\"1.0\"?><REQUEST/>"));
        assert!(!is_json(b"   "));
        assert!(!is_json(b""));
        assert!(!is_json(b"[1]"));
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(
            IntakeError::TooLarge { limit: 1024 }.to_string(),
            "the decompressed body is larger than the limit of 1024 bytes"
        );
        assert_eq!(
            IntakeError::Corrupt {
                encoding: Encoding::Zlib,
                detail: "the stream ends early".into()
            }
            .to_string(),
            "the zlib body is truncated or corrupt: the stream ends early"
        );
    }
}
