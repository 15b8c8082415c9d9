//! Helpers the probes share to put outside text into plugin output, and to trust TLS roots.

use std::path::Path;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// Text safe on one line of plugin output: `|` (which would start performance data) and
/// control characters are shown escaped.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '|' => "\\x7c".to_owned(),
            c if c.is_control() => c.escape_default().to_string(),
            c => c.to_string(),
        })
        .collect()
}

/// Text safe as long output: each line made [`printable`].
pub(crate) fn printable_lines(text: &str) -> String {
    text.lines().map(printable).collect::<Vec<_>>().join("\n")
}

/// An error and its sources, each said once: `a: b: c`, [`printable`].
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = Some(error);
    while let Some(current) = source {
        let text = current.to_string();
        if !parts.iter().any(|part| part.contains(&text)) {
            parts.push(text);
        }
        source = current.source();
    }
    printable(&parts.join(": "))
}

/// The Mozilla roots, plus the PEM certificates of `extra`. The error says what is wrong
/// with the file.
pub fn trusted_roots(extra: Option<&Path>) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let Some(path) = extra else {
        return Ok(roots);
    };
    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    if certificates.is_empty() {
        return Err("holds no PEM certificate".to_owned());
    }
    for certificate in certificates {
        roots.add(certificate).map_err(|e| e.to_string())?;
    }
    Ok(roots)
}

/// A TLS client configuration (ring, TLS 1.2 and 1.3) trusting the Mozilla roots plus the
/// PEM certificates of `extra`, for the HTTP clients that post out (remote write,
/// notifications). The error says what is wrong with the file.
pub fn tls_client(extra: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let roots = trusted_roots(extra)?;
    Ok(
        rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outside_text_cannot_start_perfdata_or_a_new_line() {
        assert_eq!(printable("a|b\nc\u{7}"), "a\\x7cb\\nc\\u{7}");
        assert_eq!(printable_lines("a|b\nc"), "a\\x7cb\nc");
    }

    #[test]
    fn a_trust_file_without_certificates_is_refused() {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        assert_eq!(
            trusted_roots(Some(file.path())).err().as_deref(),
            Some("holds no PEM certificate")
        );
        assert!(trusted_roots(None).is_ok_and(|r| !r.is_empty()));
    }
}
