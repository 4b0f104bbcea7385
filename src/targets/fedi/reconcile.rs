//! Finding a part among the account's recent statuses, after a write whose outcome is
//! unknown (a timeout, a crash between the server's answer and the ledger's record), so it
//! is adopted instead of posted twice (ARCHITECTURE.md "Exactly once, in detail").
//!
//! Servers return a status's text as HTML (links shortened with hidden spans, mentions and
//! hashtags wrapped in links, paragraphs and line breaks as tags). [`crate::html`] reads it
//! back as the text sent: links in full, a mention as the full `@user@host` handle
//! birdbridge writes. Texts are compared with whitespace collapsed; the status must also
//! reply to the same status as the part would.

use crate::html;

/// A recent status of the account, as far as matching needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The status id.
    pub id: String,
    /// Its URL.
    pub url: Option<String>,
    /// Its HTML content.
    pub content: String,
    /// Its content warning.
    pub spoiler_text: String,
    /// What it replies to.
    pub in_reply_to_id: Option<String>,
}

/// The candidate that is this part: same reply target, same spoiler, and a text that starts
/// with the part's text (the target may have appended links to media it could not upload).
pub fn find<'c>(
    candidates: &'c [Candidate],
    text: &str,
    spoiler_text: Option<&str>,
    in_reply_to: Option<&str>,
) -> Option<&'c Candidate> {
    let want = normalise(text);
    let want_spoiler = normalise(spoiler_text.unwrap_or(""));
    candidates.iter().find(|c| {
        c.in_reply_to_id.as_deref() == in_reply_to
            && normalise(&c.spoiler_text) == want_spoiler
            && normalise(&html::to_text(&c.content).text).starts_with(&want)
    })
}

/// Whitespace collapsed to single spaces, trimmed.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(id: &str, content: &str, reply: Option<&str>) -> Candidate {
        Candidate {
            id: id.into(),
            url: None,
            content: content.into(),
            spoiler_text: String::new(),
            in_reply_to_id: reply.map(str::to_owned),
        }
    }

    #[test]
    fn a_part_is_found_by_text_and_reply_target() {
        let statuses = [
            cand("3", "<p>2/3 Every post</p>", Some("1")),
            cand("2", "<p>2/3 Every post</p>", Some("9")),
            cand(
                "1",
                "<p>Two pages</p><p>https://pbs.example/x.jpg</p>",
                None,
            ),
        ];
        assert_eq!(
            find(&statuses, "2/3  Every\npost", None, Some("9")).map(|c| c.id.as_str()),
            Some("2")
        );
        assert_eq!(
            find(&statuses, "Two pages", None, None).map(|c| c.id.as_str()),
            Some("1")
        );
        assert_eq!(find(&statuses, "2/3 Every post", None, None), None);
        assert_eq!(
            find(&statuses, "2/3 Every post", Some("cw"), Some("9")),
            None
        );
    }

    /// A mapped mention is sent as `@user@server`; the server shows `@user` in a link.
    #[test]
    fn a_part_with_a_mention_is_found() {
        let statuses = [cand(
            "4",
            "<p>thanks <span class=\"h-card\"><a href=\"https://wikis.world/@wikipedia\" class=\"u-url mention\">@<span>wikipedia</span></a></span> &amp; all</p>",
            None,
        )];
        assert_eq!(
            find(&statuses, "thanks @wikipedia@wikis.world & all", None, None)
                .map(|c| c.id.as_str()),
            Some("4")
        );
    }
}
