//! How Friendica shows a status text: it reads the `status` as Markdown and converts the
//! HTML to `BBCode` (`Markdown::toBBCode`). The fake stores what a reader then sees: markup
//! characters are gone (emphasis, code ticks, a link's address), a list or quote loses its
//! markers, unknown HTML tags are dropped with their name, escapes are undone. `CommonMark`
//! (pulldown-cmark) stands in for Friendica's Markdown Extra; they agree on the constructs
//! birdbridge escapes, not on every corner (Markdown Extra's tables and footnotes, say).

use pulldown_cmark::{Event, Parser, Tag, TagEnd};

/// The plain text a reader sees for the Markdown `text`.
pub fn seen(text: &str) -> String {
    let mut out = String::new();
    let mut block_ended = false;
    for event in Parser::new(text) {
        match event {
            Event::Text(t) | Event::Code(t) => {
                if block_ended && !out.is_empty() {
                    out.push_str("\n\n");
                }
                block_ended = false;
                out.push_str(&t);
            }
            Event::SoftBreak | Event::HardBreak => out.push('\n'),
            Event::End(
                TagEnd::Paragraph | TagEnd::Heading(_) | TagEnd::Item | TagEnd::CodeBlock,
            )
            | Event::Start(Tag::List(_) | Tag::BlockQuote(_))
            | Event::Rule => block_ended = true,
            // Tags Friendica's HTML-to-BBCode conversion does not know are dropped.
            _ => {}
        }
    }
    out
}
