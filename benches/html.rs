//! The HTML reader's cost on ordinary status HTML and on hostile markup at the reader's
//! bounds ([`birdbridge::html::MAX_HTML_BYTES`], [`birdbridge::html::MAX_TAGS`]): the
//! standard's tree building is quadratic in the tags of some shapes (deep unclosed blocks,
//! misnested formatting) and in the attributes of one tag, which the bounds cap. Prints the
//! slowest of a few runs per input; asserts nothing.
//!
//! `cargo bench --bench html`.

use std::fmt::Write;
use std::time::{Duration, Instant};

use birdbridge::html::{self, MAX_HTML_BYTES, MAX_TAGS};

fn main() {
    let status = "<p>Hi <span class=\"h-card\" translate=\"no\"><a href=\"https://mastodon.social/@Gargron\" \
        class=\"u-url mention\">@<span>Gargron</span></a></span>, we&rsquo;re shipping 2.0 &mdash; read \
        <a href=\"https://example.com/very/long/path\" rel=\"nofollow noopener\" translate=\"no\">\
        <span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/very/lon</span>\
        <span class=\"invisible\">g/path</span></a><br />\
        <a href=\"https://mastodon.social/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>rust</span></a></p>";
    let fill = |unit: &str| unit.repeat(MAX_HTML_BYTES / unit.len() + 1);
    let numbered = |open: &str, then: &str| {
        let mut s = String::new();
        let mut i = 0;
        while s.len() < MAX_HTML_BYTES / 2 {
            let _ = write!(s, "<{open} a{i}>");
            i += 1;
        }
        while s.len() < MAX_HTML_BYTES {
            s += then;
        }
        s
    };
    let mut attributes = String::from("<a ");
    for i in 0.. {
        if attributes.len() >= MAX_HTML_BYTES {
            break;
        }
        let _ = write!(attributes, "a{i} ");
    }
    let inputs = [
        ("a Mastodon status (one)", status.to_owned()),
        ("text and entities", fill("We&rsquo;re &mdash; ")),
        ("unclosed <div>s", fill("<div>")),
        ("unclosed <blockquote>s", fill("<blockquote>")),
        ("distinct <b>s, then paragraphs", numbered("b", "<p>x")),
        ("distinct <i>s, then misnested ends", numbered("i", "</i>x")),
        ("one tag, distinct attributes", attributes),
        ("comments", fill("<!--x-->")),
    ];
    println!("bounds: {MAX_HTML_BYTES} bytes, {MAX_TAGS} tags");
    for (name, input) in &inputs {
        let slowest = (0..5).map(|_| time(input)).max().unwrap_or_default();
        println!(
            "{name:38} {:>6} bytes in: {:>9.3} ms",
            input.len(),
            slowest.as_secs_f64() * 1000.0
        );
    }
}

fn time(input: &str) -> Duration {
    let start = Instant::now();
    let read = html::to_text(input);
    std::hint::black_box(read);
    start.elapsed()
}
