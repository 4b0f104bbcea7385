//! Property tests of the renderer on random texts with emoji (ZWJ sequences, skin tones),
//! combining marks, URLs (some with tracking parameters), mentions and hashtags, under the
//! Mastodon and the code-point counting rules, with and without a content warning and the
//! backfill date line.
//!
//! What "joining the parts gives back the text" means here: remove from each part its
//! dressing (the first part's "\n\n<date line>") and its numbering (" i/n", or "i/n" alone);
//! what is left, the *bodies*, are consecutive slices of the rendered text, each separated
//! from the next by a non-empty run of whitespace (parts are cut at whitespace only), the
//! first starting at its beginning and the last ending at its end. The rendered text is the
//! source text with every mention written as its X profile URL and tracking parameters
//! removed: the test builds it independently, token by token.

use birdbridge::config::RouteSettings;
use birdbridge::model::{Author, Facet, FacetKind, Post, PostId, References};
use birdbridge::policy::RoutePolicy;
use birdbridge::render::{count, render, Lookups};
use birdbridge::targets::{CountingRule, TargetProfile};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;

/// One whitespace-separated token: its source text, its facet, and how it must appear
/// in the rendered text.
#[derive(Debug, Clone)]
struct Token {
    source: String,
    facet: Option<FacetKind>,
    rendered: String,
}

fn chars_of(
    alphabet: &'static [&'static str],
    len: std::ops::Range<usize>,
) -> BoxedStrategy<String> {
    prop::collection::vec(prop::sample::select(alphabet), len)
        .prop_map(|v| v.concat())
        .boxed()
}

const WORD_CHARS: &[&str] = &[
    "a",
    "b",
    "c",
    "o",
    "e",
    "x",
    "é",
    "e\u{301}",
    "z\u{308}\u{323}",
    "ß",
    "Ω",
    "漢",
    "字",
    "👍",
    "👍🏽",
    "👨\u{200d}👩\u{200d}👧",
    "🇫🇷",
    "1",
    "9",
    "-",
    // A lone combining mark or joiner: a word may start with one after a cut.
    "\u{301}",
    "\u{200d}",
];
const NAME_CHARS: &[&str] = &["a", "k", "z", "_", "0", "7", "q"];
const PATH_CHARS: &[&str] = &["a", "b", "z", "0", "9", "/", "-", "_", "."];

fn word() -> impl Strategy<Value = Token> {
    (
        chars_of(WORD_CHARS, 1..9),
        prop::sample::select(&["", "", ".", ",", "!", "?"][..]),
    )
        .prop_map(|(w, punct)| {
            let text = format!("{w}{punct}");
            Token {
                source: text.clone(),
                facet: None,
                rendered: text,
            }
        })
}

fn url() -> impl Strategy<Value = Token> {
    (chars_of(PATH_CHARS, 0..31), any::<bool>(), 0u8..3).prop_map(|(path, tracked, host)| {
        let host = ["example.org", "x.com", "ütf.example"][usize::from(host)];
        let clean = format!("https://{host}/{path}");
        let source = if tracked {
            format!("{clean}?utm_source=tw&fbclid=1")
        } else {
            clean.clone()
        };
        Token {
            facet: Some(FacetKind::Link {
                url: source.clone(),
            }),
            source,
            rendered: clean,
        }
    })
}

fn mention() -> impl Strategy<Value = Token> {
    chars_of(NAME_CHARS, 1..16).prop_map(|name| Token {
        source: format!("@{name}"),
        rendered: format!("https://x.com/{name}"),
        facet: Some(FacetKind::Mention { username: name }),
    })
}

fn hashtag() -> impl Strategy<Value = Token> {
    chars_of(NAME_CHARS, 1..12).prop_map(|tag| Token {
        source: format!("#{tag}"),
        rendered: format!("#{tag}"),
        facet: Some(FacetKind::Hashtag { tag }),
    })
}

fn token() -> impl Strategy<Value = Token> {
    prop_oneof![6 => word(), 1 => url(), 1 => mention(), 1 => hashtag()]
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(&[" ", " ", " ", " ", "  ", "\n", "\n\n"][..])
}

/// A case: tokens with the separators after them, a limit, a counting rule, a content
/// warning, and whether the post is backfilled (dressed with the date line).
#[derive(Debug, Clone)]
struct Case {
    tokens: Vec<(Token, &'static str)>,
    limit: usize,
    counting: CountingRule,
    warning: Option<String>,
    backfill: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop::collection::vec((token(), separator()), 1..90),
        150usize..=500,
        prop_oneof![Just(CountingRule::Mastodon), Just(CountingRule::CodePoints)],
        prop::option::of(chars_of(WORD_CHARS, 1..12)),
        any::<bool>(),
    )
        .prop_map(|(tokens, limit, counting, warning, backfill)| Case {
            tokens,
            limit,
            counting,
            warning,
            backfill,
        })
}

/// The post, and the rendered text the test expects, with the byte spans of every URL,
/// mention and hashtag in it.
fn build(case: &Case) -> (Post, String, Vec<std::ops::Range<usize>>) {
    let mut text = String::new();
    let mut facets = Vec::new();
    let mut expected = String::new();
    let mut spans = Vec::new();
    let last = case.tokens.len() - 1;
    for (i, (token, sep)) in case.tokens.iter().enumerate() {
        if let Some(kind) = &token.facet {
            facets.push(Facet {
                range: text.len()..text.len() + token.source.len(),
                kind: kind.clone(),
            });
            spans.push(expected.len()..expected.len() + token.rendered.len());
        }
        text.push_str(&token.source);
        expected.push_str(&token.rendered);
        if i != last {
            text.push_str(sep);
            expected.push_str(sep);
        }
    }
    let post = Post {
        id: PostId::new("1"),
        author: Author {
            id: None,
            username: "me".into(),
            display_name: None,
        },
        created_at: Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap(),
        text,
        facets,
        media: Vec::new(),
        references: References::default(),
        sensitive: case.warning.is_some(),
        language: None,
        url: "https://x.com/me/status/1".into(),
    };
    (post, expected, spans)
}

const DATE_LINE: &str = "Originally posted on 2020-01-02";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn parts_fit_rejoin_keep_entities_whole_and_carry_the_warning(case in case()) {
        let (post, expected, spans) = build(&case);
        let profile = TargetProfile {
            max_characters: case.limit,
            counting: case.counting,
            ..TargetProfile::mastodon_default()
        };
        let mut settings = RouteSettings::with_defaults("r", &["t"]);
        if let Some(label) = &case.warning {
            settings.sensitive_label.clone_from(label);
        }
        let mut policy = RoutePolicy::from_settings(&settings);
        policy.backfill = case.backfill;
        let rendered = render(&post, &profile, &policy, &Lookups::default());
        let n = rendered.parts.len();
        prop_assert!(n >= 1);

        let mut bodies = Vec::with_capacity(n);
        for (i, part) in rendered.parts.iter().enumerate() {
            // Fits under the target's own rule, warning included.
            let length = count::length(&profile, part.spoiler_text.as_deref(), &part.text);
            prop_assert!(length <= case.limit, "part {i}: {length} > {}: {:?}", case.limit, part.text);
            // Carries the warning.
            prop_assert_eq!(part.spoiler_text.as_deref(), case.warning.as_deref());
            // Minus dressing and numbering.
            let mut body = part.text.as_str();
            if case.backfill && i == 0 {
                body = body
                    .strip_suffix(&format!("\n\n{DATE_LINE}"))
                    .or_else(|| body.strip_suffix(DATE_LINE))
                    .expect("the first part ends with the date line");
            }
            if n > 1 {
                let number = format!("{}/{n}", i + 1);
                body = body
                    .strip_suffix(&format!(" {number}"))
                    .or_else(|| body.strip_suffix(number.as_str()))
                    .expect("numbered");
            }
            bodies.push(body);
        }

        // The bodies are consecutive slices separated by whitespace.
        let mut pos = 0;
        let mut body_spans = Vec::with_capacity(n);
        for (i, body) in bodies.iter().enumerate() {
            let rest = &expected[pos..];
            let gap = rest.len() - rest.trim_start().len();
            prop_assert!(i == 0 || gap > 0, "part {i} was not cut at whitespace");
            prop_assert_eq!(gap == 0, i == 0);
            prop_assert!(rest[gap..].starts_with(body), "part {i} {body:?} does not continue the text at {pos}");
            body_spans.push(pos + gap..pos + gap + body.len());
            pos += gap + body.len();
        }
        prop_assert_eq!(pos, expected.len(), "the parts end before the text does");

        // No URL, mention or hashtag is split.
        for span in &spans {
            prop_assert!(
                body_spans.iter().any(|b| b.start <= span.start && span.end <= b.end),
                "{:?} is split across parts", &expected[span.clone()]
            );
        }
    }
}
