//! One error type for every handler, rendered as the JSON envelope
//! `{"error": {"code", "message", "field"}}` for the API and as an HTML page for the UI.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pupitre_core::validate::FieldError;
use pupitre_store::StoreError;

#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
    /// Every field error, when input had several (`field` and `message` are the first).
    pub errors: Vec<FieldError>,
}

impl AppError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            code,
            message: message.into(),
            field: None,
            errors: Vec::new(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> AppError {
        AppError {
            field: Some(field.into()),
            ..AppError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", message)
        }
    }

    /// Several field errors at once: the first is `field` and `message`, all are in `errors`.
    pub fn from_field_errors(errors: Vec<FieldError>) -> AppError {
        let Some(first) = errors.first() else {
            return AppError::bad_request("invalid input");
        };
        AppError {
            errors: errors.clone(),
            ..AppError::invalid(first.field.clone(), first.message.clone())
        }
    }

    pub fn from_field_error(e: FieldError) -> AppError {
        AppError::invalid(e.field, e.message)
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthenticated() -> AppError {
        AppError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "log in or send a valid API token",
        )
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// Objects the caller may not see are "not found", so that ids leak nothing.
    pub fn not_found(what: &str) -> AppError {
        AppError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn internal() -> AppError {
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
    }

    /// Maps a store error for an object called `what` ("user", "team").
    pub fn from_store(what: &str, e: StoreError) -> AppError {
        match e {
            StoreError::NotFound => AppError::not_found(what),
            StoreError::Conflict { field, message } => AppError {
                field: Some(field),
                ..AppError::conflict(message)
            },
            StoreError::Rejected(m) => AppError::conflict(m),
            other => {
                tracing::error!(error = %other, object = what, "store error");
                AppError::internal()
            }
        }
    }
}

impl From<FieldError> for AppError {
    fn from(e: FieldError) -> AppError {
        AppError::invalid(e.field, e.message)
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        AppError::from_store("object", e)
    }
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let mut body = serde_json::json!({
            "error": {"code": self.code, "message": self.message, "field": self.field}
        });
        if !self.errors.is_empty() {
            body["error"]["errors"] = self
                .errors
                .iter()
                .map(|e| serde_json::json!({"field": e.field, "message": e.message}))
                .collect();
        }
        (self.status, axum::Json(body)).into_response()
    }
}
