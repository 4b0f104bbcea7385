//! A server's answer and what it means: the server's own message, the status a write
//! created, and the refusals that are not the part's fault (media still processing,
//! Pixelfed's repeated idempotency key). Read leniently, as every answer is
//! ([`super::lenient`]).

use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::targets::{Delivered, RepliesTo, TargetError};

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

/// The longest message read from an answer, in characters; longer ones are cut with `…`.
pub const MESSAGE_CHARS: usize = 200;

impl Answer {
    /// The server's own message, for errors: Mastodon's `error` field (Laravel's and
    /// Pixelfed's `message`, OAuth's `error_description`, others' `detail`), else the text:
    /// an error page (Takahē and snac answer some errors with HTML) as a person reads it
    /// ([`readable`]).
    pub fn message(&self) -> String {
        let text = match &self.body {
            Value::Object(_) => error_field(&self.body).unwrap_or_else(|| self.body.to_string()),
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = readable(&text);
        if text.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            text
        }
    }
}

/// An answer's text as one readable line: an HTML page (which starts with a tag) read as
/// its text by the one HTML reader ([`crate::html`]: no markup, head and scripts left out),
/// whitespace collapsed, cut to [`MESSAGE_CHARS`] characters.
pub fn readable(text: &str) -> String {
    let text = text.trim();
    let read;
    let text = if text.starts_with('<') && text.contains('>') {
        read = crate::html::to_text(text).text;
        read.as_str()
    } else {
        text
    };
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() <= MESSAGE_CHARS {
        return line;
    }
    let mut cut: String = line.chars().take(MESSAGE_CHARS - 1).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
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
            replies_to: self.replies_to(),
        })
    }

    /// What the status answered replies to: its `in_reply_to_id` (a string, or a number as
    /// some servers send); `null` is nothing, a missing field says nothing.
    fn replies_to(&self) -> RepliesTo {
        let Some(parent) = self.body.get("in_reply_to_id") else {
            return RepliesTo::Unsaid;
        };
        match parent {
            Value::String(id) if !id.is_empty() => RepliesTo::Status(id.clone()),
            Value::Number(n) => RepliesTo::Status(n.to_string()),
            _ => RepliesTo::Nothing,
        }
    }

    /// Pixelfed's 400 "Duplicate idempotency key." for a key it saw within the hour.
    pub fn is_duplicate_key(&self) -> bool {
        self.status == 400
            && self
                .message()
                .to_ascii_lowercase()
                .contains("idempotency key")
    }

    /// Takahē's 400 "Invalid Bearer token", its answer to a token it does not know on any
    /// call.
    pub fn is_bad_token(&self) -> bool {
        self.status == 400
            && self
                .message()
                .to_ascii_lowercase()
                .contains("invalid bearer token")
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
        assert_eq!(long.message().chars().count(), MESSAGE_CHARS);
        assert!(long.message().ends_with('…'));
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

    /// Takahē's error pages (its `templates/404.html` and `500.html`) and its bad-token
    /// answer, as a person should read them.
    #[rstest::rstest]
    #[case::not_found(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>Page Not Found - Takahē</title>\n\
         <link rel=\"stylesheet\" href=\"/static/css/style.css\">\n<script>var x = 1;</script>\n\
         </head>\n<body>\n<main>\n<h1>Page Not Found</h1>\n<section class=\"markdown\">\n\
         <p>Sorry about that.</p>\n</section>\n</main>\n</body>\n</html>\n",
        "Page Not Found Sorry about that."
    )]
    #[case::server_error(
        "<!DOCTYPE html>\n<html lang=\"en\">\n    <head>\n        <title>Internal Error</title>\n\
         <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n    </head>\n\
         <body>\n        <main>\n            <section class=\"markdown\">\n\
         <h1 class=\"above\">Internal Server Error</h1>\n\
         <p>The server encountered an error trying to process your request.</p>\n\
         </section>\n        </main>\n    </body>\n</html>",
        "Internal Server Error The server encountered an error trying to process your request."
    )]
    #[case::plain_text("Invalid Bearer token", "Invalid Bearer token")]
    #[case::entities("<p>Fish &amp; chips &lt;3</p>", "Fish & chips <3")]
    fn html_error_pages_read_as_text(#[case] body: &str, #[case] read: &str) {
        let a = Answer {
            status: 404,
            headers: HeaderMap::new(),
            body: Value::String(body.to_owned()),
        };
        assert_eq!(a.message(), read);
    }

    #[rstest::rstest]
    #[case(json!({"id": "2", "in_reply_to_id": "1"}), RepliesTo::Status("1".into()))]
    #[case(json!({"id": "2", "in_reply_to_id": 1}), RepliesTo::Status("1".into()))]
    #[case(json!({"id": "2", "in_reply_to_id": null}), RepliesTo::Nothing)]
    #[case(json!({"id": "2"}), RepliesTo::Unsaid)]
    fn a_status_answer_says_what_it_replies_to(#[case] body: Value, #[case] replies: RepliesTo) {
        let a = Answer {
            status: 200,
            headers: HeaderMap::new(),
            body,
        };
        assert_eq!(a.delivered().unwrap().replies_to, replies);
    }

    #[test]
    fn a_long_page_is_cut_short() {
        let page = format!("<html><body><p>{}</p></body></html>", "word ".repeat(200));
        let read = readable(&page);
        assert!(
            read.chars().count() <= MESSAGE_CHARS && read.ends_with('…'),
            "{read}"
        );
        assert!(!read.contains('<'));
    }
}
