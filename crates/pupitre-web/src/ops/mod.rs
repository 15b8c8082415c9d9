//! The operations behind both the REST API and the HTML pages. Each takes the caller,
//! checks their permissions on the objects involved, validates input and calls the store,
//! so that the UI can do nothing the API cannot.

pub mod agents;
pub mod asset_csv;
pub mod assets;
pub mod audit;
pub mod channels;
pub mod check_templates;
pub mod checks;
pub mod credentials;
pub mod entities;
pub mod incidents;
pub mod intake;
pub mod locations;
pub mod mail;
pub mod maintenance;
pub mod me;
pub mod metrics;
pub mod notify;
pub mod paging;
pub mod profiles;
pub mod runbooks;
pub mod shiftlog;
pub mod silences;
pub mod teams;
pub mod templates;
pub mod users;

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::error::AppError;
use pupitre_store::Page;

pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 500;

/// Cursor pagination parameters shared by every list.
#[derive(Debug, Default, Deserialize, IntoParams, ToSchema)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many items (1–500, default 50).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    pub fn page(&self) -> Result<Page, AppError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(AppError::invalid(
                "limit",
                format!("must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(c) => Some(decode_cursor(c)?),
        };
        Ok(Page { after, limit })
    }
}

/// Cursors are opaque to clients: `c` followed by the last id, in base 36.
pub fn encode_cursor(id: i64) -> String {
    let mut n = id.unsigned_abs();
    let mut digits = Vec::new();
    loop {
        digits.push(char::from_digit((n % 36) as u32, 36).unwrap_or('0'));
        n /= 36;
        if n == 0 {
            break;
        }
    }
    digits.reverse();
    format!("c{}", digits.into_iter().collect::<String>())
}

pub fn decode_cursor(text: &str) -> Result<i64, AppError> {
    text.strip_prefix('c')
        .and_then(|d| i64::from_str_radix(d, 36).ok())
        .ok_or_else(|| AppError::invalid("cursor", "is not a cursor returned by this API"))
}

/// The next cursor of a full page, `None` when the list is exhausted.
pub fn next_cursor<T>(items: &[T], limit: i64, id: impl Fn(&T) -> i64) -> Option<String> {
    if items.len() as i64 == limit {
        items.last().map(|i| encode_cursor(id(i)))
    } else {
        None
    }
}

pub fn check_time_zone(field: &str, tz: &str) -> Result<(), AppError> {
    jiff::tz::TimeZone::get(tz).map(|_| ()).map_err(|_| {
        AppError::invalid(
            field,
            format!("`{tz}` is not a known IANA time zone, e.g. Europe/Paris"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        for id in [0, 1, 35, 36, 10_000, i64::MAX] {
            assert_eq!(decode_cursor(&encode_cursor(id)).ok(), Some(id));
        }
        assert!(decode_cursor("42").is_err());
    }
}
