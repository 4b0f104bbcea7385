//! A server's answer and what it means: the server's own message, the status a write
//! created, and the refusals that are not the part's fault (media still processing,
//! Pixelfed's repeated idempotency key). Read leniently, as every answer is
//! ([`super::lenient`]).

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::targets::{Delivered, TargetError};

/// A server's answer, whatever its status.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers (rate limits).
    pub headers: HeaderMap,
    /// The body, read leniently: not JSON gives `Value::String` of the text.
    pub body: Value,
}

impl Answer {
    /// The server's own message, for errors: Mastodon's `error` field (Laravel's and
    /// Pixelfed's `message`, OAuth's `error_description`, others' `detail`), else the text.
    pub fn message(&self) -> String {
        let text = match &self.body {
            Value::Object(_) => error_field(&self.body).unwrap_or_else(|| self.body.to_string()),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = text.trim();
        // Error pages can be whole HTML documents; a message is a line.
        let cut: String = text.chars().take(300).collect();
        if cut.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            cut
        }
    }
}

/// The message of a JSON error body, from the first field servers put one in.
pub fn error_field(body: &Value) -> Option<String> {
    ["error_description", "error", "message", "detail"]
        .iter()
        .find_map(|k| body[*k].as_str().filter(|m| !m.trim().is_empty()))
        .map(str::to_owned)
}

impl Answer {
    /// The status a write answered with: its id (a string, or a number as some servers
    /// send) and its URL (`url`, else `uri`). A 2xx without an id leaves the outcome
    /// unknown.
    pub fn delivered(&self) -> Result<Delivered, TargetError> {
        let id = match &self.body["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(TargetError::UnknownOutcome {
                    message: format!("HTTP {} without a status id", self.status),
                })
            }
        };
        Ok(Delivered {
            remote_id: id,
            url: self.body["url"]
                .as_str()
                .or_else(|| self.body["uri"].as_str())
                .map(str::to_owned),
        })
    }

    /// Pixelfed's 400 "Duplicate idempotency key." for a key it saw within the hour.
    pub fn is_duplicate_key(&self) -> bool {
        self.status == 400
            && self
                .message()
                .to_ascii_lowercase()
                .contains("idempotency key")
    }

    /// Mastodon's "Cannot attach files that have not finished processing".
    pub fn is_processing(&self) -> bool {
        let m = self.message().to_ascii_lowercase();
        m.contains("processing") || m.contains("not processed")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn messages_come_from_the_error_field_and_are_cut() {
        let a = Answer {
            status: 422,
            headers: HeaderMap::new(),
            body: json!({"error": "Validation failed: Text character limit of 500 exceeded"}),
        };
        assert_eq!(
            a.message(),
            "Validation failed: Text character limit of 500 exceeded"
        );
        let long = Answer {
            body: Value::String("x".repeat(1000)),
            ..a.clone()
        };
        assert_eq!(long.message().len(), 300);
        let laravel = Answer {
            body: json!({"message": "The status must not be greater than 500 characters.", "errors": {"status": ["..."]}}),
            ..a.clone()
        };
        assert_eq!(
            laravel.message(),
            "The status must not be greater than 500 characters."
        );
        let odd = Answer {
            body: json!({"error": 42}),
            ..a.clone()
        };
        assert_eq!(odd.message(), "{\"error\":42}");
        let empty = Answer {
            body: Value::String(String::new()),
            ..a
        };
        assert_eq!(empty.message(), "HTTP 422");
    }
}
