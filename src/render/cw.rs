//! Content warnings (Mastodon's `spoiler_text`). Sources of a warning, in this order: the
//! source's sensitive flag (the route's `sensitive_label`), the route's keyword and hashtag
//! rules, a first line `CW: ...` / `TW: ...` / `CN: ...` in the post, and, only when none of
//! these applies, the route's default. Several join into one warning, separated by "; ",
//! each label once (compared without regard to case).

use crate::config::ContentWarningRule;
use crate::model::{FacetKind, Post};
use crate::policy::RoutePolicy;

/// Separates the labels of a joined warning.
const JOIN: &str = "; ";

/// A first line that is a content warning: its label, and the byte offset in `text` where
/// the rest of the post starts. Only when something follows it: a post that is nothing
/// but "CW: x" has no content to hide.
pub(super) fn first_line(text: &str) -> Option<(String, usize)> {
    let (line, rest) = text.split_once('\n')?;
    let prefix = line.get(..2)?;
    if !["cw", "tw", "cn"].contains(&prefix.to_ascii_lowercase().as_str()) {
        return None;
    }
    let label = line[2..].trim_start().strip_prefix(':')?.trim();
    if label.is_empty() || rest.trim().is_empty() {
        return None;
    }
    let rest_start = text.len() - rest.len();
    Some((label.to_owned(), rest_start))
}

/// What put a label into a post's warning (the desk shows it next to the warning field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WarnedBy {
    /// The source marked the post sensitive (`sensitive_label`).
    SensitiveFlag,
    /// The route's `content_warnings` rule at this index.
    Rule(usize),
    /// The post's own first line `CW: ...` (`content_warning_first_line`).
    FirstLine,
    /// The route's `default_content_warning`.
    Default,
}

impl WarnedBy {
    /// The setting, as `bridge.toml` names it.
    pub fn describe(self) -> String {
        match self {
            WarnedBy::SensitiveFlag => {
                "sensitive_label (the source marked the post sensitive)".to_owned()
            }
            WarnedBy::Rule(i) => format!("content_warnings rule {}", i + 1),
            WarnedBy::FirstLine => "the post's first line (content_warning_first_line)".to_owned(),
            WarnedBy::Default => "default_content_warning".to_owned(),
        }
    }
}

/// The labels a warning for `post` joins, each with what set it, in joining order and
/// before duplicates are removed: the source's flag, the rules, the first line, and the
/// default only when none of these applies.
pub(super) fn sources<'p>(
    post: &Post,
    policy: &'p RoutePolicy,
    first_line: Option<&'p str>,
) -> Vec<(&'p str, WarnedBy)> {
    let s = &policy.settings;
    let mut labels: Vec<(&str, WarnedBy)> = Vec::new();
    if post.sensitive {
        labels.push((&s.sensitive_label, WarnedBy::SensitiveFlag));
    }
    let words = searchable_text(post);
    let tags = post.tags_lowercase();
    for (i, rule) in s.content_warnings.iter().enumerate() {
        if rule_matches(rule, &words, &tags) {
            labels.push((&rule.label, WarnedBy::Rule(i)));
        }
    }
    if let Some(label) = first_line {
        labels.push((label, WarnedBy::FirstLine));
    }
    if labels.is_empty() {
        if let Some(default) = s.default_content_warning.as_deref() {
            labels.push((default, WarnedBy::Default));
        }
    }
    labels
}

/// The warning for `post`, given the label of its first-line warning, if it had one, no
/// longer than `max` characters (code points) when the server limits warnings apart from
/// the text (Pixelfed: 140, refused with 422 beyond).
pub(super) fn warning(
    post: &Post,
    policy: &RoutePolicy,
    first_line: Option<&str>,
    max: Option<usize>,
) -> Option<String> {
    let labels = sources(post, policy, first_line);
    let mut unique: Vec<&str> = Vec::new();
    for (label, _) in labels {
        if !unique
            .iter()
            .any(|u| u.to_lowercase() == label.to_lowercase())
        {
            unique.push(label);
        }
    }
    (!unique.is_empty()).then(|| fit(&unique, max))
}

/// The labels joined, within `max` characters: whole labels from the first while they fit
/// (the first one is the strongest reason: the source's own flag, then the route's rules);
/// a first label longer than `max` alone is cut, ending in "…".
fn fit(labels: &[&str], max: Option<usize>) -> String {
    let joined = labels.join(JOIN);
    let Some(max) = max else {
        return joined;
    };
    if joined.chars().count() <= max {
        return joined;
    }
    let mut kept = String::new();
    for label in labels {
        let candidate = if kept.is_empty() {
            (*label).to_owned()
        } else {
            format!("{kept}{JOIN}{label}")
        };
        if candidate.chars().count() > max {
            break;
        }
        kept = candidate;
    }
    if kept.is_empty() {
        kept = labels[0].chars().take(max.saturating_sub(1)).collect();
        kept.push('…');
    }
    kept
}

/// The post text in lower case with links blanked out, so a word in a URL's path does not
/// trigger a rule.
fn searchable_text(post: &Post) -> String {
    let mut text = post.text.clone();
    for facet in &post.facets {
        if matches!(facet.kind, FacetKind::Link { .. }) {
            if let Some(span) = text.get(facet.range.clone()) {
                let blank = " ".repeat(span.len());
                text.replace_range(facet.range.clone(), &blank);
            }
        }
    }
    text.to_lowercase()
}

fn rule_matches(rule: &ContentWarningRule, words: &str, tags: &[String]) -> bool {
    rule.matches.iter().any(|m| match m.strip_prefix('#') {
        Some(tag) => tags.iter().any(|t| t == tag),
        None => has_whole_word(words, m),
    })
}

/// Whether `word` occurs in `text` with no letter, digit or `_` right before or after it.
fn has_whole_word(text: &str, word: &str) -> bool {
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_';
    text.match_indices(word).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + word.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

#[cfg(test)]
mod tests {

    use rstest::rstest;

    use super::*;
    use crate::config::RouteSettings;
    use crate::model::Facet;

    #[rstest]
    #[case::cw("CW: spoilers\nThe end", Some(("spoilers", 13)))]
    #[case::tw_lower("tw:  food \nsoup", Some(("food", 11)))]
    #[case::cn_space_before_colon("CN : war\nnews", Some(("war", 9)))]
    #[case::nothing_after("CW: spoilers\n  ", None)]
    #[case::one_line("CW: spoilers", None)]
    #[case::empty_label("CW:\ntext", None)]
    #[case::not_at_start("hello CW: x\ny", None)]
    #[case::word_starting_with_cw("Cwm valley: nice\nyes", None)]
    fn first_lines(#[case] text: &str, #[case] want: Option<(&str, usize)>) {
        assert_eq!(
            first_line(text),
            want.map(|(label, at)| (label.to_owned(), at))
        );
    }

    fn post(text: &str, sensitive: bool) -> Post {
        let mut facets = Vec::new();
        if let Some(start) = text.find("#Vote") {
            facets.push(Facet {
                range: start..start + 5,
                kind: FacetKind::Hashtag { tag: "Vote".into() },
            });
        }
        if let Some(start) = text.find("https://") {
            facets.push(Facet {
                range: start..text.len(),
                kind: FacetKind::Link {
                    url: text[start..].to_owned(),
                },
            });
        }
        Post {
            facets,
            sensitive,
            ..Post::sample("1", text)
        }
    }

    fn policy(default: Option<&str>) -> RoutePolicy {
        let mut s = RouteSettings::with_defaults("s", &["t"]);
        s.content_warnings = vec![
            ContentWarningRule {
                label: "US politics".into(),
                matches: vec!["election".into(), "#vote".into()],
            },
            ContentWarningRule {
                label: "Food".into(),
                matches: vec!["soup".into()],
            },
        ];
        s.default_content_warning = default.map(str::to_owned);
        RoutePolicy::from_settings(&s)
    }

    #[rstest]
    #[case::none("hello", false, None, None, None)]
    #[case::sensitive("hello", true, None, None, Some("Sensitive media"))]
    #[case::keyword_any_case("The ELECTION is near", false, None, None, Some("US politics"))]
    #[case::keyword_whole_word_only("elections and reelection", false, None, None, None)]
    #[case::keyword_next_to_punctuation("soup!", false, None, None, Some("Food"))]
    #[case::hashtag_rule("go #Vote", false, None, None, Some("US politics"))]
    #[case::word_in_link_ignored("see https://example.org/election", false, None, None, None)]
    #[case::several_in_order(
        "soup before the election",
        true,
        Some("spoilers"),
        None,
        Some("Sensitive media; US politics; Food; spoilers")
    )]
    #[case::same_label_once("soup", false, Some("food"), None, Some("Food"))]
    #[case::default_when_nothing_else(
        "hello",
        false,
        None,
        Some("Mirrored from X"),
        Some("Mirrored from X")
    )]
    #[case::default_not_added("soup", false, None, Some("Mirrored from X"), Some("Food"))]
    fn warnings(
        #[case] text: &str,
        #[case] sensitive: bool,
        #[case] first: Option<&str>,
        #[case] default: Option<&str>,
        #[case] want: Option<&str>,
    ) {
        assert_eq!(
            warning(&post(text, sensitive), &policy(default), first, None).as_deref(),
            want
        );
    }

    #[rstest]
    #[case::fits(&["Food", "US politics"], Some(17), "Food; US politics")]
    #[case::no_limit(&["Food", "US politics"], None, "Food; US politics")]
    #[case::whole_labels_only(&["Food", "US politics", "Spoilers"], Some(20), "Food; US politics")]
    #[case::first_label_cut(&["Sensitive media in a very long label"], Some(10), "Sensitive…")]
    #[case::emoji_count_once(&["🍲🍲🍲", "Food"], Some(9), "🍲🍲🍲; Food")]
    fn warnings_fit_the_server_limit(
        #[case] labels: &[&str],
        #[case] max: Option<usize>,
        #[case] want: &str,
    ) {
        let got = fit(labels, max);
        assert_eq!(got, want);
        if let Some(max) = max {
            assert!(got.chars().count() <= max, "{got}");
        }
    }
}
