//! English and French catalogues for the web UI. Each catalogue is a `key = value` file in
//! `locales/`, embedded in the binary; a missing key renders as `??key??` so that the browser
//! test and people notice it.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::{HeaderMap, header};

const EN: &str = include_str!("../locales/en.txt");
const FR: &str = include_str!("../locales/fr.txt");

fn parse(text: &'static str) -> HashMap<&'static str, &'static str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .collect()
}

fn catalogue(lang: &str) -> &'static HashMap<&'static str, &'static str> {
    static EN_MAP: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    static FR_MAP: OnceLock<HashMap<&str, &str>> = OnceLock::new();
    match lang {
        "fr" => FR_MAP.get_or_init(|| parse(FR)),
        _ => EN_MAP.get_or_init(|| parse(EN)),
    }
}

/// The translations of one language, handed to templates.
#[derive(Clone, Copy, Debug)]
pub struct Tr {
    pub lang: &'static str,
}

impl Tr {
    pub fn new(lang: &str) -> Tr {
        Tr {
            lang: if lang == "fr" { "fr" } else { "en" },
        }
    }

    /// The language a person gets: their preference, otherwise the browser's Accept-Language.
    pub fn negotiate(preference: Option<&str>, headers: &HeaderMap) -> Tr {
        if let Some(p) = preference {
            return Tr::new(p);
        }
        let accept = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mut best: Option<(&str, f32)> = None;
        for part in accept.split(',') {
            let mut it = part.trim().split(';');
            let tag = it.next().unwrap_or("").trim();
            let q = it
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            let lang = tag.split('-').next().unwrap_or("").to_ascii_lowercase();
            let lang = match lang.as_str() {
                "fr" => "fr",
                "en" => "en",
                _ => continue,
            };
            if best.is_none_or(|(_, bq)| q > bq) {
                best = Some((lang, q));
            }
        }
        Tr::new(best.map_or("en", |(l, _)| l))
    }

    pub fn t(&self, key: &str) -> String {
        match catalogue(self.lang).get(key) {
            Some(v) => (*v).to_owned(),
            None => format!("??{key}??"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogues_have_the_same_keys() {
        let en = parse(EN);
        let fr = parse(FR);
        let mut missing: Vec<_> = en.keys().filter(|k| !fr.contains_key(*k)).collect();
        missing.extend(fr.keys().filter(|k| !en.contains_key(*k)));
        assert!(
            missing.is_empty(),
            "keys in one catalogue only: {missing:?}"
        );
    }

    #[test]
    fn accept_language_picks_the_best_supported() {
        let cases = [
            ("fr-FR,fr;q=0.9,en;q=0.8", "fr"),
            ("de-DE,en;q=0.5,fr;q=0.7", "fr"),
            ("de", "en"),
            ("", "en"),
        ];
        for (header_value, want) in cases {
            let mut h = HeaderMap::new();
            h.insert(header::ACCEPT_LANGUAGE, header_value.parse().unwrap());
            assert_eq!(Tr::negotiate(None, &h).lang, want, "{header_value}");
        }
        assert_eq!(Tr::negotiate(Some("fr"), &HeaderMap::new()).lang, "fr");
    }
}
