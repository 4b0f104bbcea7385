//! Finding a part among the account's recent statuses, after a write whose outcome is
//! unknown (a timeout, a crash between the server's answer and the ledger's record), so it
//! is adopted instead of posted twice (DESIGN.md "Exactly once").
//!
//! Servers return a status's text as HTML (links shortened with hidden spans, mentions and
//! hashtags wrapped in links, paragraphs and line breaks as tags). Removing the tags and
//! decoding entities gives back the text as sent, links in full, because the hidden spans
//! keep the hidden parts of each URL. Texts are compared with whitespace collapsed; the
//! status must also reply to the same status as the part would.

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
            && normalise(&html_to_text(&c.content)).starts_with(&want)
    })
}

/// Whitespace collapsed to single spaces, trimmed.
fn normalise(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of a status's HTML: tags removed (`<br>` and paragraph ends as line breaks),
/// entities decoded.
pub fn html_to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&decode_entities(&rest[..start]));
        let Some(end) = rest[start..].find('>') else {
            // A lone `<` is text.
            out.push_str(&decode_entities(&rest[start..]));
            return out;
        };
        let tag = rest[start + 1..start + end].trim().to_ascii_lowercase();
        if tag.starts_with("br") || tag == "/p" {
            out.push('\n');
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(&decode_entities(rest));
    out
}

fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp..];
        let decoded = after.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let name = &after[1..semi];
            let ch = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some('\u{a0}'),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            ch.map(|c| (c, semi))
        });
        if let Some((c, semi)) = decoded {
            out.push(c);
            rest = &after[semi + 1..];
        } else {
            out.push('&');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("<p>fish &amp; chips &lt;3</p>", "fish & chips <3\n")]
    #[case("<p>a<br>b<br />c</p><p>d</p>", "a\nb\nc\nd\n")]
    #[case(
        "<p>see <a href=\"https://example.org/birdbridge/release\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.org/birdbridge/rel</span><span class=\"invisible\">ease</span></a></p>",
        "see https://example.org/birdbridge/release\n"
    )]
    #[case(
        "<p>#<span>rust</span> @<span>ann</span> &#128640; &#x1F680; &bogus; a < b</p>",
        "#rust @ann 🚀 🚀 &bogus; a "
    )]
    fn html_becomes_the_text_sent(#[case] html: &str, #[case] text: &str) {
        assert_eq!(html_to_text(html), text);
    }

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
}
