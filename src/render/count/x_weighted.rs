//! X's weighted length (`docs/x-target.md`, "Weighted length"): the text is normalised to
//! NFC, then every character counts 1 or 2 by its range, every emoji (a whole sequence:
//! ZWJ families, skin tones, flags, keycaps) counts 2 and every URL counts 23. A post may
//! weigh 280.
//!
//! X finds URLs with a large grammar and a list of top-level domains. This module does not
//! copy that grammar; it errs on one side only: it may count a post longer than X does (the
//! renderer then splits a little early), never shorter (X would refuse the post with a 400).
//! So a URL counts 23 only when X certainly sees one (`http(s)://`, an ASCII host whose
//! top-level domain is in the public suffix list, ending where X's URLs may end); anything
//! X might or might not take for a URL (a bare `example.com`, an odd host) counts the
//! larger of 23 and its own weight.

use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

/// What one URL counts, whatever its length.
pub const URL_WEIGHT: usize = 23;

/// The weighted length of `text` as X counts it (the unit is one Latin character; the
/// limit is 280).
pub fn length(text: &str) -> usize {
    let text: String = text.nfc().collect();
    let mut total = 0;
    let mut plain_from = 0;
    for link in links(&text) {
        total += plain(&text[plain_from..link.start]);
        let own = plain(&text[link.start..link.end]);
        total += if link.certain {
            URL_WEIGHT
        } else {
            own.max(URL_WEIGHT)
        };
        plain_from = link.end;
    }
    total + plain(&text[plain_from..])
}

/// The first lines of a post on X that carries a content warning (X has none of its own):
/// `CW: <warning>` and a blank line, before the text. Counted by
/// [`crate::render::count::length`] and written by the X target, so both agree.
pub fn warning_line(warning: &str) -> String {
    format!("CW: {warning}\n\n")
}

/// A post's text on X: the warning line (when there is a warning), then the text.
pub fn with_warning(warning: Option<&str>, text: &str) -> String {
    match warning {
        Some(w) if text.is_empty() => warning_line(w).trim_end().to_owned(),
        Some(w) => format!("{}{text}", warning_line(w)),
        None => text.to_owned(),
    }
}

/// Whether X would see a URL in `text` (billing: a post with a URL costs more). Counts
/// possible URLs too, so that a price is never underestimated.
pub fn has_url(text: &str) -> bool {
    let text: String = text.nfc().collect();
    !links(&text).is_empty()
}

/// The weight of text without URLs: 2 per emoji sequence, else per character.
fn plain(text: &str) -> usize {
    text.graphemes(true)
        .map(|g| {
            if emojis::get(g).is_some() {
                2
            } else {
                g.chars().map(char_weight).sum()
            }
        })
        .sum()
}

/// 1 for the ranges X weighs 100 (Latin and most alphabetic scripts, some punctuation),
/// 2 for everything else (CJK included).
fn char_weight(c: char) -> usize {
    match u32::from(c) {
        0..=0x10FF | 0x2000..=0x200D | 0x2010..=0x201F | 0x2032..=0x2037 => 1,
        _ => 2,
    }
}

/// A URL or a possible one, as a byte range of the normalised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Link {
    start: usize,
    end: usize,
    /// X certainly counts it as a URL (else it may or may not).
    certain: bool,
}

/// The characters a URL found here may contain: ASCII letters, digits and the punctuation
/// X's URL grammar accepts inside a path or query. Anything else ends the URL (X may go on
/// further; its characters are then counted one by one here, which only counts more).
fn url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#@!$&'*+,;=%".contains(c)
}

/// The characters a URL may end with: a URL never ends with `.`, `,`, `!`, `?` and the
/// like, which belong to the sentence.
fn url_end_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "=_#/-".contains(c)
}

/// Before a URL X wants neither a letter or digit nor `@`, `$`, `#` (a mention, cashtag or
/// hashtag would swallow it).
fn may_precede(before: Option<char>) -> bool {
    before.is_none_or(|c| !(c.is_alphanumeric() || "@$#＠＃_.".contains(c)))
}

/// The URLs and possible URLs of `text`, in order.
fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < text.len() {
        let rest = &text[at..];
        let Some(c) = rest.chars().next() else { break };
        let before = text[..at].chars().next_back();
        if url_char(c) && c != '/' && may_precede(before) {
            if let Some(link) = link_at(text, at) {
                at = link.end;
                found.push(link);
                continue;
            }
        }
        at += c.len_utf8();
    }
    found
}

/// The URL starting at byte `start`, if one does.
fn link_at(text: &str, start: usize) -> Option<Link> {
    let rest = &text[start..];
    let run = rest.find(|c: char| !url_char(c)).unwrap_or(rest.len());
    let trimmed = rest[..run].trim_end_matches(|c: char| !url_end_char(c));
    let candidate = &rest[..trimmed.len()];
    let lower = candidate.to_ascii_lowercase();
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|s| lower.starts_with(s));
    let after_scheme = &candidate[scheme.map_or(0, str::len)..];
    let host_end = after_scheme
        .find(['/', '?', '#'])
        .unwrap_or(after_scheme.len());
    let authority = &after_scheme[..host_end];
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let end = start + candidate.len();
    match scheme {
        Some(_) => (!host.is_empty()).then(|| Link {
            start,
            end,
            certain: port_ok && valid_host(host),
        }),
        // Without a scheme only a host with a known top-level domain may be a URL, and X may
        // or may not take it for one.
        None => (port_ok && valid_host(host)).then_some(Link {
            start,
            end,
            certain: false,
        }),
    }
}

/// An ASCII host of at least two labels of letters, digits and inner hyphens, each 1 to
/// 63 long, whose last label is a top-level domain of the public suffix list.
fn valid_host(host: &str) -> bool {
    let labels: Vec<&str> = host.split('.').collect();
    let label_ok = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let Some(tld) = labels.last() else {
        return false;
    };
    let tld = tld.to_ascii_lowercase();
    labels.len() >= 2
        && labels.iter().all(label_ok)
        && tld.chars().all(|c| c.is_ascii_alphabetic())
        && psl::suffix(tld.as_bytes()).is_some_and(|s| s.is_known())
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    /// Cases in the manner of twitter-text's conformance tables for its v3 configuration
    /// (the weighted counter with emoji counted as 2), written here for this module.
    #[rstest]
    #[case::plain_sentence("Counting is fun.", 16)]
    #[case::greeting_and_url("Hi http://test.co", 3 + 23)]
    #[case::only_a_url("http://test.co", 23)]
    #[case::https_url("https://example.com/a/long/path/that/goes/on/and/on", 23)]
    #[case::url_then_full_stop("see https://example.com/x.", 4 + 23 + 1)]
    #[case::url_then_closing_paren("(https://example.com/x)", 1 + 23 + 1)]
    #[case::two_urls_and_a_bare_domain(
        "Go https://test.com or https://test.com or test.com now",
        3 + 23 + 4 + 23 + 4 + 23 + 4
    )]
    #[case::ten_urls(&"https://www.twitter.com/aloha ".repeat(10), 240)]
    #[case::bare_domain_counts_at_least_23("test.com", 23)]
    #[case::long_bare_domain_counts_in_full(
        "randomurlrandomurlrandomurlrandomurlrandomurlrandomurlrandomurls.com",
        68
    )]
    #[case::an_email_is_not_a_url("write to someone@example.com", 28)]
    #[case::unknown_tld_counts_at_least_23("http://localhost", 23)]
    #[case::label_over_63_is_no_url_for_sure(
        &format!("https://{}.com/x", "a".repeat(64)),
        8 + 64 + 6
    )]
    #[case::cjk_counts_2("故人西辞黄鹤楼", 14)]
    #[case::latin_then_cjk("the故人", 3 + 4)]
    #[case::hangul_counts_2("트위터", 6)]
    #[case::accented_latin_counts_1("arøünd", 6)]
    #[case::decomposed_accent_is_one_after_nfc("A\u{301}B", 2)]
    #[case::presentation_form_becomes_three("A\u{FB2C}", 4)]
    #[case::cat_and_smiley("H🐱☺", 1 + 2 + 2)]
    #[case::zwj_family_is_one_emoji("👨‍👩‍👧‍👦", 2)]
    #[case::skin_tone_and_zwj_sequences("🙋🏽👨‍🎤", 4)]
    #[case::keycap_without_selector("1\u{20E3}", 2)]
    #[case::tag_flag("🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}", 2)]
    #[case::five_emoji("😷👾😡🔥💩", 10)]
    #[case::general_punctuation_counts_1("\u{2000}\u{200A}\u{2014}\u{201C}\u{2032}\u{2037}", 6)]
    #[case::outside_the_punctuation_ranges("\u{200E}\u{2020}\u{2026}", 6)]
    #[case::empty("", 0)]
    fn weighted_length(#[case] text: &str, #[case] expected: usize) {
        assert_eq!(length(text), expected, "{text:?}");
    }

    #[test]
    fn the_limit_falls_where_x_puts_it() {
        let base = "x".repeat(280);
        assert_eq!(length(&base), 280);
        assert_eq!(length(&format!("{base}y")), 281);
        assert_eq!(length(&"の".repeat(140)), 280);
        assert_eq!(length(&"😷".repeat(140)), 280);
        assert_eq!(length(&"👨‍👩‍👧‍👦".repeat(140)), 280);
    }

    #[rstest]
    #[case("see https://example.com", true)]
    #[case("example.org is ours", true)]
    #[case("no link here.", false)]
    #[case("mail someone@example.com", false)]
    #[case("version 1.2.3", false)]
    fn urls_are_found_for_billing(#[case] text: &str, #[case] expected: bool) {
        assert_eq!(has_url(text), expected, "{text:?}");
    }
}
