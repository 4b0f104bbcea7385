//! Reading the answers birdbridge depends on (`verify_credentials`, the account's statuses,
//! media uploads and their processing polls, error bodies) leniently, field by field, not
//! through strict entity types, which refuse a whole answer for one missing list (snac's
//! account has no `fields`; megalodon's `Account` refused it).
//!
//! Optional fields may be missing, `null`, or of an odd type (ids as numbers, counts as
//! strings); they are read as far as they make sense. A field birdbridge truly needs (an
//! account's or a status's `id`) that is missing is a [`Missing`] naming the field, the call
//! and the server software: not a temporary failure, since asking again gives the same answer.

use serde_json::Value;

use super::reconcile::Candidate;

/// A field birdbridge needs is missing from an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{software} answered {call} without `{field}`, which birdbridge needs; this server's Mastodon API is not compatible enough (report it with the server's name and version)")]
pub struct Missing {
    /// The field, as a JSON path (`id`, `[3].id`).
    pub field: String,
    /// The call (`GET /api/v1/accounts/verify_credentials`).
    pub call: &'static str,
    /// The server software, as far as known (`snac 2.94`, or the configured kind).
    pub software: String,
}

/// The account a token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Its id (a string, or a number some servers send).
    pub id: String,
    /// `acct`, else `username`.
    pub acct: String,
}

/// An id: a string, or a number as some servers send.
pub fn id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Whether a media attachment is processed: it has a `url` (`null` or missing while the
/// server works on it).
pub fn media_ready(v: &Value) -> bool {
    v["url"].as_str().is_some_and(|u| !u.trim().is_empty())
}

/// A text field: a string; `null`, missing or another type is empty.
pub fn text(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_owned()
}

/// A count: a number, or a string holding one (as some servers send).
pub fn count(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `verify_credentials`: needs `id` and a name (`acct` or `username`).
///
/// # Errors
/// [`Missing`] when the answer has no usable `id`, or no name at all.
pub fn account(body: &Value, call: &'static str, software: &str) -> Result<Account, Missing> {
    let missing = |field: &str| Missing {
        field: field.to_owned(),
        call,
        software: software.to_owned(),
    };
    let id = id(&body["id"]).ok_or_else(|| missing("id"))?;
    let acct = [&body["acct"], &body["username"]]
        .into_iter()
        .find_map(|v| v.as_str().filter(|s| !s.is_empty()))
        .ok_or_else(|| missing("acct"))?
        .to_owned();
    Ok(Account { id, acct })
}

/// The account's statuses, as reconciliation needs them: a list (`null` is an empty one) of
/// statuses each with an `id`; everything else optional.
///
/// # Errors
/// [`Missing`] when the answer is not a list, or a status has no usable `id`.
pub fn statuses(
    body: &Value,
    call: &'static str,
    software: &str,
) -> Result<Vec<Candidate>, Missing> {
    let missing = |field: String| Missing {
        field,
        call,
        software: software.to_owned(),
    };
    let list = match body {
        Value::Array(list) => list.as_slice(),
        Value::Null => &[],
        _ => return Err(missing("[]".to_owned())),
    };
    list.iter()
        .enumerate()
        .map(|(i, s)| {
            Ok(Candidate {
                id: id(&s["id"]).ok_or_else(|| missing(format!("[{i}].id")))?,
                url: s["url"]
                    .as_str()
                    .or_else(|| s["uri"].as_str())
                    .map(str::to_owned),
                content: text(&s["content"]),
                spoiler_text: text(&s["spoiler_text"]),
                in_reply_to_id: id(&s["in_reply_to_id"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const CALL: &str = "GET /api/v1/accounts/verify_credentials";

    #[test]
    fn a_sparse_account_is_read() {
        // snac: no `fields`, `moved`, `group`, `discoverable`.
        let a = json!({"id": "1234", "username": "mirror", "acct": "mirror", "source": {}});
        assert_eq!(
            account(&a, CALL, "snac 2.94"),
            Ok(Account {
                id: "1234".into(),
                acct: "mirror".into()
            })
        );
        let numeric =
            json!({"id": 42, "username": "mirror", "followers_count": "7", "fields": null});
        assert_eq!(account(&numeric, CALL, "x").unwrap().id, "42");
        assert_eq!(account(&numeric, CALL, "x").unwrap().acct, "mirror");
    }

    #[test]
    fn a_missing_id_names_the_field_the_call_and_the_software() {
        let err = account(&json!({"acct": "mirror"}), CALL, "snac 2.94").unwrap_err();
        assert_eq!(err.field, "id");
        let text = err.to_string();
        assert!(
            text.contains("snac 2.94") && text.contains("`id`") && text.contains(CALL),
            "{text}"
        );
    }

    #[test]
    fn statuses_tolerate_null_lists_and_odd_types() {
        let body = json!([
            {"id": 7, "content": "<p>hi</p>", "spoiler_text": null, "in_reply_to_id": 6, "media_attachments": null},
            {"id": "8", "uri": "https://x/8"}
        ]);
        let c = statuses(&body, "GET statuses", "snac").unwrap();
        assert_eq!(c[0].id, "7");
        assert_eq!(c[0].in_reply_to_id.as_deref(), Some("6"));
        assert_eq!(c[0].spoiler_text, "");
        assert_eq!(c[1].url.as_deref(), Some("https://x/8"));
        assert_eq!(statuses(&Value::Null, "GET statuses", "snac"), Ok(vec![]));
        let err = statuses(
            &json!([{"id": "1"}, {"content": ""}]),
            "GET statuses",
            "snac",
        )
        .unwrap_err();
        assert_eq!(err.field, "[1].id");
        assert!(statuses(&json!({"error": "x"}), "GET statuses", "snac").is_err());
    }

    #[test]
    fn ids_and_media_states_are_read_leniently() {
        assert_eq!(id(&json!("109")), Some("109".to_owned()));
        assert_eq!(id(&json!(109)), Some("109".to_owned()));
        assert_eq!(id(&json!(null)), None);
        assert_eq!(id(&json!("")), None);
        assert!(media_ready(&json!({"id": 1, "url": "https://x/m.png"})));
        assert!(!media_ready(&json!({"id": 1, "url": null})));
        assert!(!media_ready(&json!({"id": 1})));
        assert!(!media_ready(&json!({"id": 1, "url": ""})));
    }

    #[test]
    fn counts_may_be_strings() {
        assert_eq!(count(&json!("12")), Some(12));
        assert_eq!(count(&json!(12)), Some(12));
        assert_eq!(count(&json!(null)), None);
    }
}
