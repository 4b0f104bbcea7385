//! Finding a post among the account's own recent posts (`docs/x-target.md`,
//! "Reconciliation"). X has no idempotency key: after an unknown outcome, or X's "duplicate
//! content" answer, the part counts as posted only if the account's recent posts show it;
//! otherwise it may be sent again.
//!
//! X shows a post's text with its links replaced by `t.co` links, `&`, `<` and `>` escaped
//! as HTML entities, and a link to the media appended. So texts are compared with every link
//! (and a trailing run of links) set aside, entities read back, whitespace folded and NFC
//! applied; the parent post and the number of media must match too.

use chrono::{DateTime, Utc};
use unicode_normalization::UnicodeNormalization;

use super::client::OwnPost;
use crate::render::count::x_weighted;

/// What was sent, as far as X's copy can show it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sent<'a> {
    /// The text sent.
    pub text: &'a str,
    /// The post it replied to.
    pub reply_to: Option<&'a str>,
    /// The post it quoted.
    pub quote_of: Option<&'a str>,
    /// How many media it carried.
    pub media: usize,
    /// Posts created before this time are not it (an older post with the same text).
    pub not_before: Option<DateTime<Utc>>,
}

/// The first post (newest first, as X lists them) that is the one sent.
pub fn find<'a>(posts: &'a [OwnPost], sent: &Sent<'_>) -> Option<&'a OwnPost> {
    let want = comparable(sent.text);
    posts.iter().find(|p| {
        p.repost_of.is_none()
            && p.reply_to.as_deref() == sent.reply_to
            && p.quote_of.as_deref() == sent.quote_of
            && p.media == sent.media
            && sent
                .not_before
                .is_none_or(|t| p.created_at.is_none_or(|c| c >= t))
            && comparable(&p.text) == want
    })
}

/// The account's repost of `post_id`, if it has one.
pub fn find_repost<'a>(posts: &'a [OwnPost], post_id: &str) -> Option<&'a OwnPost> {
    posts
        .iter()
        .find(|p| p.repost_of.as_deref() == Some(post_id))
}

/// The words of `text` with links as one marker and trailing links dropped.
fn comparable(text: &str) -> Vec<String> {
    let unescaped = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let normal: String = unescaped.nfc().collect();
    let mut words: Vec<String> = normal
        .split_whitespace()
        .map(|w| {
            if x_weighted::has_url(w) {
                "\u{1}link".to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    while words.last().is_some_and(|w| w == "\u{1}link") {
        words.pop();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(id: &str, text: &str, reply_to: Option<&str>, media: usize) -> OwnPost {
        OwnPost {
            id: id.to_owned(),
            text: text.to_owned(),
            created_at: None,
            reply_to: reply_to.map(str::to_owned),
            quote_of: None,
            repost_of: None,
            media,
        }
    }

    #[test]
    fn x_copy_of_a_post_is_recognised() {
        let posts = [
            post("3", "other", None, 0),
            post(
                "2",
                "Tom &amp; Jerry &lt;3 read https://t.co/AbC123 now https://t.co/media1",
                Some("1"),
                1,
            ),
        ];
        let sent = Sent {
            text: "Tom & Jerry <3 read https://example.org/a/long/path now",
            reply_to: Some("1"),
            media: 1,
            ..Sent::default()
        };
        assert_eq!(find(&posts, &sent).map(|p| p.id.as_str()), Some("2"));
        // Another parent, or no media: not it.
        assert!(find(
            &posts,
            &Sent {
                reply_to: None,
                ..sent
            }
        )
        .is_none());
        assert!(find(&posts, &Sent { media: 0, ..sent }).is_none());
    }

    #[test]
    fn a_trailing_link_and_a_decomposed_accent_still_match() {
        let posts = [post("9", "Café news https://t.co/x", None, 0)];
        let sent = Sent {
            text: "Cafe\u{301} news\nhttps://mastodon.example/@org/1",
            ..Sent::default()
        };
        assert!(find(&posts, &sent).is_some());
    }

    #[test]
    fn an_older_post_with_the_same_text_is_not_it() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let mut old = post("1", "hello", None, 0);
        old.created_at = Some(t("2026-01-01T00:00:00Z"));
        let sent = Sent {
            text: "hello",
            not_before: Some(t("2026-03-01T00:00:00Z")),
            ..Sent::default()
        };
        assert!(find(&[old], &sent).is_none());
    }

    #[test]
    fn reposts_are_found_by_what_they_repost() {
        let mut rt = post("5", "RT @org: hi", None, 0);
        rt.repost_of = Some("4".to_owned());
        assert_eq!(find_repost(&[rt], "4").map(|p| p.id.as_str()), Some("5"));
    }
}
