//! Counting a status's length the way the target server does. One function per
//! [`CountingRule`]; the splitter and any validation call [`length`], so they always agree
//! with each other.

pub mod x_weighted;

use unicode_segmentation::UnicodeSegmentation;

use crate::profile::{CountingRule, TargetProfile};

/// The length of a status with this spoiler text and text, under the profile's rule.
pub fn length(profile: &TargetProfile, spoiler_text: Option<&str>, text: &str) -> usize {
    let spoiler = spoiler_text.unwrap_or("");
    match profile.counting {
        CountingRule::Mastodon => {
            graphemes(spoiler) + mastodon_text(text, profile.characters_reserved_per_url)
        }
        CountingRule::CodePoints => spoiler.chars().count() + text.chars().count(),
        CountingRule::Utf16 => spoiler.encode_utf16().count() + text.encode_utf16().count(),
        // X has no content warnings: the X target writes the warning as the post's first
        // line (`x_weighted::warning_line`), which is what is counted.
        CountingRule::XWeighted => {
            spoiler_text.map_or(0, |w| x_weighted::length(&x_weighted::warning_line(w)))
                + x_weighted::length(text)
        }
    }
}

fn graphemes(s: &str) -> usize {
    s.graphemes(true).count()
}

/// Mastodon's rule: graphemes, except that every URL counts as `per_url` and every
/// `@user@domain` mention as `@user`. URLs and mentions are found per whitespace-separated
/// word, as Mastodon's own scanner finds them in practice for the texts we produce.
fn mastodon_text(text: &str, per_url: usize) -> usize {
    let mut total = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let word_start = rest
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len());
        total += graphemes(&rest[..word_start]);
        rest = &rest[word_start..];
        let word_end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        total += mastodon_word(&rest[..word_end], per_url);
        rest = &rest[word_end..];
    }
    total
}

fn mastodon_word(word: &str, per_url: usize) -> usize {
    if let Some(start) = word.find("http://").or_else(|| word.find("https://")) {
        // Punctuation that closes a sentence is not part of the URL for Mastodon either.
        let url_end = word
            .trim_end_matches(['.', ',', ';', ':', '!', '?', ')', '"', '\''])
            .len();
        if url_end > start {
            return graphemes(&word[..start]) + per_url + graphemes(&word[url_end..]);
        }
    }
    if let Some(local) = remote_mention_local_part(word) {
        return graphemes(local) + 1;
    }
    graphemes(word)
}

/// `@user@example.social` → `user`; anything else → `None`.
fn remote_mention_local_part(word: &str) -> Option<&str> {
    let rest = word.strip_prefix('@')?;
    let (local, domain) = rest.split_once('@')?;
    let valid_local = !local.is_empty() && local.chars().all(|c| c.is_alphanumeric() || c == '_');
    let valid_domain = domain.contains('.') && !domain.ends_with('.');
    (valid_local && valid_domain).then_some(local)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn mastodon() -> TargetProfile {
        TargetProfile::mastodon_default()
    }

    fn code_points() -> TargetProfile {
        TargetProfile {
            counting: CountingRule::CodePoints,
            ..TargetProfile::mastodon_default()
        }
    }

    #[rstest]
    #[case::plain("hello", 5)]
    #[case::url_counts_23("see https://example.com/a/very/long/path/indeed", 4 + 23)]
    #[case::url_then_period("go https://example.com/x.", 3 + 23 + 1)]
    #[case::remote_mention_local_part("@alice@example.social hi", 6 + 3)]
    #[case::local_mention_as_is("@alice hi", 9)]
    #[case::family_emoji_is_one_grapheme("👨‍👩‍👧", 1)]
    #[case::combining_mark("e\u{301}", 1)]
    fn mastodon_rule(#[case] text: &str, #[case] expected: usize) {
        assert_eq!(length(&mastodon(), None, text), expected);
    }

    #[rstest]
    #[case::url_full_length("see https://example.com/abc", 27)]
    #[case::family_emoji_is_five_code_points("👨‍👩‍👧", 5)]
    fn code_point_rule(#[case] text: &str, #[case] expected: usize) {
        assert_eq!(length(&code_points(), None, text), expected);
    }

    #[rstest]
    #[case::ascii("hello", None, 5)]
    #[case::bmp_accent_is_one("café", None, 4)]
    #[case::emoji_outside_the_bmp_is_two("🚀 go", None, 2 + 3)]
    #[case::family_emoji_is_eight("👨‍👩‍👧", None, 8)]
    #[case::spoiler_too("hi", Some("🌊"), 2 + 2)]
    fn utf16_rule(#[case] text: &str, #[case] spoiler: Option<&str>, #[case] expected: usize) {
        let profile = TargetProfile {
            counting: CountingRule::Utf16,
            ..TargetProfile::mastodon_default()
        };
        assert_eq!(length(&profile, spoiler, text), expected);
    }

    #[test]
    fn x_rule_weighs_text_and_spoiler() {
        let profile = TargetProfile {
            max_characters: 280,
            counting: CountingRule::XWeighted,
            ..TargetProfile::mastodon_default()
        };
        // The warning goes as a first line "CW: ..." and a blank line.
        assert_eq!(
            length(&profile, Some("戦争"), "see https://example.com/a/b 👍🏽"),
            4 + 4 + 2 + 4 + 23 + 1 + 2
        );
        assert_eq!(length(&profile, None, "hi"), 2);
    }

    #[test]
    fn spoiler_counts_against_the_limit() {
        assert_eq!(length(&mastodon(), Some("CW: war"), "hello"), 7 + 5);
    }
}
