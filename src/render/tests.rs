//! Table tests of the renderer: one row per rule, with the exact text expected.

use chrono::{TimeZone, Utc};
use rstest::rstest;

use super::*;
use crate::config::{ContentWarningRule, ReplyPolicy, RepostPolicy, RouteSettings};
use crate::model::{Facet, PostRef};
use crate::profile::CountingRule;

/// A post by `me` whose facets are found the way X marks them: whitespace-separated words
/// starting with `https://`, `@` or `#`, without trailing punctuation.
fn post(text: &str) -> Post {
    let mut facets = Vec::new();
    let mut offset = 0;
    for word in text.split_inclusive(char::is_whitespace) {
        let start = offset;
        offset += word.len();
        let token = word
            .trim_end()
            .trim_end_matches(['.', ',', '!', '?', ':', ';', ')', '\'']);
        let kind = if token.starts_with("https://") {
            FacetKind::Link {
                url: token.to_owned(),
            }
        } else if let Some(name) = token.strip_prefix('@') {
            let name = name.split('\'').next().unwrap_or(name);
            if name.is_empty() || name.contains('@') {
                continue;
            }
            facets.push(Facet {
                range: start..start + 1 + name.len(),
                kind: FacetKind::Mention {
                    username: name.to_owned(),
                },
            });
            continue;
        } else if let Some(tag) = token.strip_prefix('#') {
            FacetKind::Hashtag {
                tag: tag.to_owned(),
            }
        } else {
            continue;
        };
        facets.push(Facet {
            range: start..start + token.len(),
            kind,
        });
    }
    Post {
        created_at: Utc.with_ymd_and_hms(2020, 1, 2, 3, 4, 5).unwrap(),
        facets,
        language: Some("en".into()),
        url: "https://x.com/me/status/100".into(),
        ..Post::sample("100", text)
    }
}

fn photo(alt: Option<&str>) -> Media {
    media(MediaKind::Photo, alt)
}

fn media(kind: MediaKind, alt: Option<&str>) -> Media {
    Media {
        kind,
        source: MediaSource::File("a.jpg".into()),
        alt_text: alt.map(str::to_owned),
        width: None,
        height: None,
        original_url: Some("https://pbs.twimg.com/media/a.jpg".into()),
    }
}

/// A route-settings edit for a table row (a function pointer, so rows can hold one).
fn e(edit: fn(&mut RouteSettings)) -> fn(&mut RouteSettings) {
    edit
}

fn settings(edit: impl FnOnce(&mut RouteSettings)) -> RouteSettings {
    let mut s = RouteSettings::with_defaults("s", &["t"]);
    edit(&mut s);
    s
}

fn live(edit: impl FnOnce(&mut RouteSettings)) -> RoutePolicy {
    RoutePolicy::from_settings(&settings(edit))
}

fn defaults() -> RoutePolicy {
    live(|_| {})
}

fn mastodon() -> TargetProfile {
    TargetProfile::mastodon_default()
}

fn mirrored(first: &str, last: &str, url: &str) -> MirroredPost {
    MirroredPost {
        first_id: first.into(),
        first_url: Some(url.into()),
        last_id: last.into(),
    }
}

fn render_default(p: &Post) -> Rendered {
    render(p, &mastodon(), &defaults(), &Lookups::default())
}

fn texts(r: &Rendered) -> Vec<&str> {
    r.parts.iter().map(|p| p.text.as_str()).collect()
}

fn map_wikipedia(s: &mut RouteSettings) {
    s.mention_map
        .insert("wikipedia".into(), "@wikipedia@wikis.world".into());
}

#[rstest]
#[case::plain("hello & <world>", e(|_| {}), "hello & <world>")]
#[case::mention_becomes_profile_link("thanks @ann_example!", e(|_| {}), "thanks https://x.com/ann_example!")]
#[case::mention_before_a_possessive("@ann's talk", e(|_| {}), "https://x.com/ann 's talk")]
#[case::mapped_mention(
    "cc @Wikipedia, please",
    map_wikipedia,
    "cc @wikipedia@wikis.world, please"
)]
#[case::fediverse_handle_kept("I am @me@mastodon.social now", e(|_| {}), "I am @me@mastodon.social now")]
#[case::hashtag_kept("#rustlang is fun", e(|_| {}), "#rustlang is fun")]
#[case::tracking_removed("read https://example.org/a?utm_source=tw&id=2 now", e(|_| {}), "read https://example.org/a?id=2 now")]
#[case::x_share_parameters_removed("https://x.com/other/status/5?s=20&t=xyz", e(|_| {}), "https://x.com/other/status/5")]
#[case::tracking_kept_when_disabled("https://example.org/a?utm_source=tw", e(|s| s.tracking_parameters.clear()), "https://example.org/a?utm_source=tw")]
#[case::opt_in_tag_removed("hello #XP world", e(|s| s.opt_in_tag = Some("xp".into())), "hello world")]
#[case::opt_in_tag_removed_at_start("#xp at the start", e(|s| s.opt_in_tag = Some("xp".into())), "at the start")]
#[case::opt_in_tag_removed_at_end("at the end #xp", e(|s| s.opt_in_tag = Some("xp".into())), "at the end")]
#[case::first_line_warning_moved("CW: spoilers\nThe butler did it.", e(|_| {}), "The butler did it.")]
#[case::first_line_warning_kept("CW: spoilers\nThe butler did it.", e(|s| s.content_warning_first_line = false), "CW: spoilers\nThe butler did it.")]
fn text_rules(#[case] text: &str, #[case] edit: fn(&mut RouteSettings), #[case] want: &str) {
    let r = render(&post(text), &mastodon(), &live(edit), &Lookups::default());
    assert_eq!(texts(&r), vec![want]);
}

#[test]
fn a_mention_the_source_did_not_mark_is_neutralised_too() {
    let mut p = post("hi @bob and @carol");
    p.facets.clear();
    assert_eq!(
        texts(&render_default(&p)),
        vec!["hi https://x.com/bob and https://x.com/carol"]
    );
}

#[rstest]
#[case::mirrored(
    "see https://x.com/me/status/42?s=20 too",
    true,
    "see https://example.social/@me/420 too"
)]
#[case::not_mirrored(
    "see https://x.com/me/status/43?s=20 too",
    true,
    "see https://x.com/me/status/43 too"
)]
#[case::rewriting_off(
    "see https://x.com/me/status/42 too",
    false,
    "see https://x.com/me/status/42 too"
)]
fn links_to_own_posts(#[case] text: &str, #[case] rewrite: bool, #[case] want: &str) {
    let p = post(text);
    let mut lookups = Lookups::default();
    let wanted = wanted_lookups(&p);
    assert!(wanted
        .iter()
        .all(|id| id.as_str() == "42" || id.as_str() == "43"));
    lookups.insert(
        PostId::new("42"),
        mirrored("420", "421", "https://example.social/@me/420"),
    );
    let mut s = RouteSettings::with_defaults("s", &["t"]);
    s.rewrite_own_links = rewrite;
    let r = render(&p, &mastodon(), &RoutePolicy::from_settings(&s), &lookups);
    assert_eq!(texts(&r), vec![want]);
}

fn cw_rules(s: &mut RouteSettings) {
    s.content_warnings = vec![ContentWarningRule {
        label: "US politics".into(),
        matches: vec!["election".into(), "#vote".into()],
    }];
}

#[rstest]
#[case::none("hello", false, e(|_| {}), None)]
#[case::sensitive_flag("hello", true, e(|_| {}), Some("Sensitive media"))]
#[case::own_label("hello", true, e(|s| s.sensitive_label = "Spoilers".into()), Some("Spoilers"))]
#[case::keyword("before the Election.", false, cw_rules, Some("US politics"))]
#[case::hashtag("go #Vote", false, cw_rules, Some("US politics"))]
#[case::first_line("TW: food\nsoup", false, e(|_| {}), Some("food"))]
#[case::joined(
    "CN: war\nafter the election",
    true,
    cw_rules,
    Some("Sensitive media; US politics; war")
)]
#[case::default_only_alone("hello", false, e(|s| s.default_content_warning = Some("From X".into())), Some("From X"))]
fn content_warnings(
    #[case] text: &str,
    #[case] sensitive: bool,
    #[case] edit: fn(&mut RouteSettings),
    #[case] want: Option<&str>,
) {
    let mut p = post(text);
    p.sensitive = sensitive;
    let r = render(&p, &mastodon(), &live(edit), &Lookups::default());
    assert_eq!(r.parts[0].spoiler_text.as_deref(), want);
}

#[rstest]
#[case::photo_fallback(MediaKind::Photo, None, e(|_| {}), Some("Image from the original post; no description was provided."))]
#[case::video_fallback(MediaKind::Video, None, e(|_| {}), Some("Video from the original post; no description was provided."))]
#[case::gif_fallback(MediaKind::Gif, None, e(|_| {}), Some("Animated GIF from the original post; no description was provided."))]
#[case::blank_is_missing(MediaKind::Photo, Some(" "), e(|_| {}), Some("Image from the original post; no description was provided."))]
#[case::own_template(MediaKind::Photo, None, e(|s| s.alt_text_fallback = "An {kind} posted on X.".into()), Some("An image posted on X."))]
#[case::omit(MediaKind::Photo, None, e(|s| s.alt_text = AltTextPolicy::Omit), None)]
#[case::given_is_kept(MediaKind::Photo, Some("a cat"), e(|s| s.alt_text = AltTextPolicy::Omit), Some("a cat"))]
fn alt_text(
    #[case] kind: MediaKind,
    #[case] alt: Option<&str>,
    #[case] edit: fn(&mut RouteSettings),
    #[case] want: Option<&str>,
) {
    let mut p = post("pic");
    p.media = vec![media(kind, alt)];
    let r = render(&p, &mastodon(), &live(edit), &Lookups::default());
    assert_eq!(r.parts[0].media[0].description.as_deref(), want);
    assert_eq!(
        r.warnings.len(),
        usize::from(alt.is_none_or(|a| a.trim().is_empty())),
        "{:?}",
        r.warnings
    );
}

#[test]
fn alt_text_is_cut_at_the_limit_on_a_word_boundary() {
    let mut p = post("pic");
    p.media = vec![photo(Some("a very long description of a picture"))];
    let profile = TargetProfile {
        description_limit: 20,
        ..mastodon()
    };
    let r = render(&p, &profile, &defaults(), &Lookups::default());
    assert_eq!(
        r.parts[0].media[0].description.as_deref(),
        Some("a very long…")
    );
    assert_eq!(r.warnings[0].message, "alt text cut to 20 characters");
}

/// A 40-character server, to see threads at work on short texts.
fn tiny() -> TargetProfile {
    TargetProfile {
        max_characters: 40,
        ..mastodon()
    }
}

const THREAD: &str =
    "One short sentence. Then a second sentence follows it.\n\nA new paragraph here.";

#[rstest]
#[case::numbered(THREAD, 40, e(|_| {}), false, &[
    "One short sentence. 1/3",
    "Then a second sentence follows it. 2/3",
    "A new paragraph here. 3/3",
])]
// Without numbering the first sentence alone would leave the part less than half full.
#[case::unnumbered(THREAD, 40, e(|s| s.numbering = false), false, &[
    "One short sentence. Then a second",
    "sentence follows it.",
    "A new paragraph here.",
])]
#[case::date_line_on_the_first_part(THREAD, 60, e(|_| {}), true, &[
    "One short sentence. 1/3\n\nOriginally posted on 2020-01-02",
    "Then a second sentence follows it. 2/3",
    "A new paragraph here. 3/3",
])]
#[case::urls_count_23_and_stay_whole("please see https://example.org/a/very/long/path/that/goes/on and so on", 40, e(|_| {}), false, &[
    "please see https://example.org/a/very/long/path/that/goes/on 1/2",
    "and so on 2/2",
])]
#[case::mentions_stay_whole("thanks a lot to @someone_with_a_long_name for it", 40, e(|_| {}), false, &[
    "thanks a lot to 1/2",
    "https://x.com/someone_with_a_long_name for it 2/2",
])]
fn threads(
    #[case] text: &str,
    #[case] limit: usize,
    #[case] edit: fn(&mut RouteSettings),
    #[case] backfill: bool,
    #[case] want: &[&str],
) {
    let mut policy = live(edit);
    policy.backfill = backfill;
    let profile = TargetProfile {
        max_characters: limit,
        ..mastodon()
    };
    let r = render(&post(text), &profile, &policy, &Lookups::default());
    assert_eq!(texts(&r), want);
    for part in &r.parts {
        assert!(
            count::length(&profile, None, &part.text) <= limit,
            "{part:?}"
        );
    }
}

#[test]
fn the_content_warning_is_on_every_part_and_counts_against_each() {
    let mut p = post(THREAD);
    p.sensitive = true;
    let policy = live(|s| s.sensitive_label = "Spoilers".into());
    let r = render(&p, &tiny(), &policy, &Lookups::default());
    assert_eq!(
        texts(&r),
        vec![
            "One short sentence. 1/4",
            "Then a second sentence 2/4",
            "follows it.\n\nA new paragraph 3/4",
            "here. 4/4",
        ]
    );
    for part in &r.parts {
        assert_eq!(part.spoiler_text.as_deref(), Some("Spoilers"));
        assert!(count::length(&tiny(), Some("Spoilers"), &part.text) <= 40);
    }
}

#[rstest]
#[case::defaults(e(|_| {}), &[Visibility::Public, Visibility::Unlisted, Visibility::Unlisted])]
#[case::all_public(e(|s| s.continuation_visibility = Visibility::Public), &[Visibility::Public; 3])]
#[case::never_wider_than_the_route(e(|s| s.visibility = Visibility::Private), &[Visibility::Private; 3])]
fn continuation_visibility(#[case] edit: fn(&mut RouteSettings), #[case] want: &[Visibility]) {
    let r = render(&post(THREAD), &tiny(), &live(edit), &Lookups::default());
    let got: Vec<Visibility> = r.parts.iter().map(|p| p.visibility).collect();
    assert_eq!(got, want);
}

#[test]
fn dressing_with_a_link_and_without_a_date() {
    let mut policy = live(|s| {
        s.backfill_date_line = None;
        s.backfill_link = true;
    });
    policy.backfill = true;
    let r = render(&post("hello"), &mastodon(), &policy, &Lookups::default());
    assert_eq!(texts(&r), vec!["hello\n\nhttps://x.com/me/status/100"]);
    policy.settings.backfill_date_line = Some("From {date}:".into());
    let r = render(&post("hello"), &mastodon(), &policy, &Lookups::default());
    assert_eq!(
        texts(&r),
        vec!["hello\n\nFrom 2020-01-02:\nhttps://x.com/me/status/100"]
    );
    let r = render(
        &post("hello"),
        &mastodon(),
        &live(|_| {}),
        &Lookups::default(),
    );
    assert_eq!(texts(&r), vec!["hello"], "live posts are not dressed");
}

#[test]
fn long_post_becomes_numbered_parts_within_the_limit() {
    let sentence = "This sentence has exactly some words in it. ";
    let text = sentence.repeat(30);
    let profile = mastodon();
    let r = render(
        &post(text.trim()),
        &profile,
        &defaults(),
        &Lookups::default(),
    );
    let n = r.parts.len();
    assert!(n >= 3, "{n}");
    for (i, p) in r.parts.iter().enumerate() {
        assert!(count::length(&profile, None, &p.text) <= 500, "part {i}");
        assert!(p.text.ends_with(&format!(" {}/{n}", i + 1)), "{}", p.text);
        let want = if i == 0 {
            ReplyTo::Nothing
        } else {
            ReplyTo::PreviousPart
        };
        assert_eq!(p.reply_to, want);
    }
    let joined: Vec<&str> = r
        .parts
        .iter()
        .enumerate()
        .map(|(i, p)| p.text.trim_end_matches(&format!(" {}/{n}", i + 1)))
        .collect();
    assert_eq!(joined.join(" "), text.trim());
    assert_eq!(
        r.warnings[0].message,
        format!("text longer than 500 characters: split into {n} parts")
    );
}

#[test]
fn code_point_servers_count_urls_at_full_length() {
    let url = format!("https://example.org/{}", "a".repeat(30));
    let text = format!("look at this {url}");
    let gts = TargetProfile {
        max_characters: 60,
        counting: CountingRule::CodePoints,
        ..mastodon()
    };
    let r = render(&post(&text), &gts, &defaults(), &Lookups::default());
    assert_eq!(texts(&r), vec!["look at this 1/2", &format!("{url} 2/2")]);
    let masto = TargetProfile {
        max_characters: 60,
        ..mastodon()
    };
    let r = render(&post(&text), &masto, &defaults(), &Lookups::default());
    assert_eq!(texts(&r), vec![text.as_str()], "23 per URL on Mastodon");
}

fn reply_to(p: &mut Post, id: &str, username: &str) {
    p.references.reply_to = Some(PostRef {
        id: Some(PostId::new(id)),
        username: Some(username.into()),
        url: None,
    });
}

#[test]
fn self_thread_reply_drops_leading_mention_and_continues_the_mirrored_thread_unlisted() {
    let mut p = post("@me and the story goes on");
    reply_to(&mut p, "99", "me");
    let mut lookups = Lookups::default();
    lookups.insert(
        PostId::new("99"),
        mirrored("1", "remote-last", "https://example.social/@me/1"),
    );
    let r = render(&p, &mastodon(), &defaults(), &lookups);
    assert_eq!(texts(&r), vec!["and the story goes on"]);
    assert_eq!(r.parts[0].reply_to, ReplyTo::Status("remote-last".into()));
    assert_eq!(r.parts[0].visibility, Visibility::Unlisted);
}

#[test]
fn reply_to_an_unmirrored_post_starts_a_new_public_conversation_with_a_warning() {
    let mut p = post("more");
    reply_to(&mut p, "99", "me");
    let r = render_default(&p);
    assert_eq!(r.parts[0].reply_to, ReplyTo::Nothing);
    assert_eq!(r.parts[0].visibility, Visibility::Public);
    assert_eq!(r.warnings.len(), 1);
}

#[test]
fn a_reply_to_another_account_is_unlisted_and_mentions_safely() {
    let mut p = post("@other good point");
    reply_to(&mut p, "7", "other");
    let policy = live(|s| s.replies = ReplyPolicy::Unlisted);
    let r = render(&p, &mastodon(), &policy, &Lookups::default());
    assert_eq!(texts(&r), vec!["https://x.com/other good point"]);
    assert_eq!(r.parts[0].visibility, Visibility::Unlisted);
}

fn repost_of(p: &mut Post, url: Option<&str>) {
    p.references.repost_of = Some(PostRef {
        id: None,
        username: Some("rustlang".into()),
        url: url.map(str::to_owned),
    });
}

#[rstest]
#[case::archive_repost(None, e(|s| s.reposts = RepostPolicy::Link), "Reposted from https://x.com/rustlang:\n\nNew release #rust", 1)]
#[case::with_link(Some("https://x.com/rustlang/status/5?s=20"), e(|s| s.reposts = RepostPolicy::Link), "Reposted from https://x.com/rustlang:\n\nNew release #rust\n\nhttps://x.com/rustlang/status/5", 0)]
#[case::mapped(None, e(|s| { s.reposts = RepostPolicy::Link; s.mention_map.insert("rustlang".into(), "@rust@social.example".into()); }), "Reposted from @rust@social.example:\n\nNew release #rust", 1)]
fn reposts_as_links(
    #[case] url: Option<&str>,
    #[case] edit: fn(&mut RouteSettings),
    #[case] want: &str,
    #[case] warnings: usize,
) {
    let mut p = post("New release #rust");
    repost_of(&mut p, url);
    let r = render(&p, &mastodon(), &live(edit), &Lookups::default());
    assert_eq!(texts(&r), vec![want]);
    assert_eq!(r.warnings.len(), warnings, "{:?}", r.warnings);
}

#[test]
fn a_boost_is_one_part_that_boosts_the_first_mirrored_status() {
    let mut p = post("New release");
    repost_of(&mut p, None);
    let r = boost(
        &p,
        &defaults(),
        &mirrored("first", "last", "https://e.example/1"),
    );
    assert_eq!(r.parts.len(), 1);
    assert_eq!(r.parts[0].boost_of.as_deref(), Some("first"));
    assert_eq!(r.parts[0].text, "");
}

fn quoting(p: &mut Post) {
    p.references.quote_of = Some(PostRef {
        id: Some(PostId::new("7")),
        username: Some("other".into()),
        url: Some("https://x.com/other/status/7?s=20".into()),
    });
}

#[rstest]
#[case::original_link(false, false, "look at this\n\nhttps://x.com/other/status/7", None)]
#[case::original_link_without_native_support(
    false,
    true,
    "look at this\n\nhttps://x.com/other/status/7",
    None
)]
#[case::mirrored_link(true, false, "look at this\n\nhttps://example.social/@me/9", None)]
#[case::native_quote(true, true, "look at this", Some("9"))]
fn quotes(
    #[case] is_mirrored: bool,
    #[case] native: bool,
    #[case] want: &str,
    #[case] quote_of: Option<&str>,
) {
    let mut p = post("look at this");
    quoting(&mut p);
    let mut lookups = Lookups::default();
    if is_mirrored {
        lookups.insert(
            PostId::new("7"),
            mirrored("9", "10", "https://example.social/@me/9"),
        );
    }
    let profile = TargetProfile {
        supports_quote_posts: native,
        ..mastodon()
    };
    let r = render(&p, &profile, &defaults(), &lookups);
    assert_eq!(texts(&r), vec![want]);
    assert_eq!(r.parts[0].quote_of.as_deref(), quote_of);
}

#[test]
fn media_over_the_attachment_limit_moves_to_a_second_part() {
    let mut p = post("six photos");
    p.media = (0..6).map(|_| photo(Some("a photo"))).collect();
    p.sensitive = true;
    let r = render_default(&p);
    assert_eq!(texts(&r), vec!["six photos 1/2", "2/2"]);
    assert_eq!(r.parts[0].media.len(), 4);
    assert_eq!(r.parts[1].media.len(), 2);
    assert!(r.parts[0].sensitive && r.parts[1].sensitive);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.part == 1 && w.message.contains("moved to part 2")));
}

#[test]
fn missing_media_file_is_linked_with_its_description() {
    let mut p = post("two photos");
    let mut gone = photo(Some("a gull on a post"));
    gone.source = MediaSource::Unavailable;
    let mut undescribed = photo(None);
    undescribed.source = MediaSource::Unavailable;
    p.media = vec![photo(Some("y")), gone, undescribed];
    let r = render_default(&p);
    assert_eq!(r.parts[0].media.len(), 1);
    assert_eq!(
        texts(&r),
        vec![
            "two photos\n\nhttps://pbs.twimg.com/media/a.jpg\nImage description: a gull on a post\n\nhttps://pbs.twimg.com/media/a.jpg"
        ]
    );
    assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
}

#[test]
fn an_over_long_word_is_cut_with_a_warning() {
    let r = render(
        &post(&"x".repeat(50)),
        &tiny(),
        &live(|s| s.numbering = false),
        &Lookups::default(),
    );
    assert_eq!(texts(&r), vec!["x".repeat(40), "x".repeat(10)]);
    assert!(r
        .warnings
        .iter()
        .any(|w| w.part == 0 && w.message == "a word longer than a whole status was cut"));
}

#[rstest]
#[case(Visibility::Public, Visibility::Unlisted, Visibility::Unlisted)]
#[case(Visibility::Direct, Visibility::Unlisted, Visibility::Direct)]
#[case(Visibility::Private, Visibility::Private, Visibility::Private)]
fn narrowest_visibility(#[case] a: Visibility, #[case] b: Visibility, #[case] want: Visibility) {
    assert_eq!(narrowest(a, b), want);
    assert_eq!(narrowest(b, a), want);
}

// ---------------------------------------------------------------------------------------
// X's rules (`TargetProfile::x`)

#[test]
fn on_x_a_video_or_gif_has_a_post_of_its_own() {
    use MediaKind::{Gif, Photo, Video};
    let mut p = post("a trip");
    p.media = vec![
        photo(Some("one")),
        photo(Some("two")),
        media(Video, Some("a clip")),
        photo(Some("three")),
        media(Gif, Some("a loop")),
        media(Gif, Some("another loop")),
    ];
    let r = render(&p, &TargetProfile::x(), &defaults(), &Lookups::default());
    let kinds: Vec<Vec<MediaKind>> = r
        .parts
        .iter()
        .map(|part| part.media.iter().map(|m| m.kind).collect())
        .collect();
    assert_eq!(
        kinds,
        vec![
            vec![Photo, Photo],
            vec![Video],
            vec![Photo],
            vec![Gif],
            vec![Gif]
        ]
    );
    assert_eq!(texts(&r), vec!["a trip 1/5", "2/5", "3/5", "4/5", "5/5"]);
    let moved = r
        .warnings
        .iter()
        .filter(|w| {
            w.message
                .contains("a video or GIF needs a status of its own")
        })
        .count();
    assert_eq!(moved, 4, "{:?}", r.warnings);
    // Five images: four, then one (the usual rule).
    p.media = (0..5).map(|_| photo(Some("a photo"))).collect();
    let r = render(&p, &TargetProfile::x(), &defaults(), &Lookups::default());
    assert_eq!(r.parts.len(), 2);
    assert_eq!(r.parts[0].media.len(), 4);
}

#[test]
fn on_x_the_warning_is_counted_as_its_first_line() {
    let words = "word ".repeat(60);
    let mut p = post(words.trim());
    p.sensitive = true;
    let r = render(&p, &TargetProfile::x(), &defaults(), &Lookups::default());
    assert!(r.parts.len() >= 2);
    for part in &r.parts {
        let on_x = count::x_weighted::with_warning(part.spoiler_text.as_deref(), &part.text);
        assert!(on_x.starts_with("CW: Sensitive media\n\n"), "{on_x}");
        assert!(count::x_weighted::length(&on_x) <= 280, "{on_x}");
    }
}

#[test]
fn with_links_dropped_birdbridge_adds_none_of_its_own() {
    let profile = TargetProfile {
        own_links: false,
        ..TargetProfile::x()
    };
    // The backfill link back to the original goes; the author's link stays.
    let mut policy = live(|s| {
        s.backfill_date_line = None;
        s.backfill_link = true;
    });
    policy.backfill = true;
    let p = post("hello https://blog.example/a");
    let r = render(&p, &profile, &policy, &Lookups::default());
    assert_eq!(texts(&r), vec!["hello https://blog.example/a"]);
    // A quote that cannot go natively, a repost as a link, a media file not in the archive.
    let mut p = post("look at this");
    quoting(&mut p);
    let r = render(&p, &profile, &defaults(), &Lookups::default());
    assert_eq!(texts(&r), vec!["look at this"]);
    let mut p = post("New release");
    repost_of(&mut p, Some("https://x.com/rustlang/status/5"));
    let links = live(|s| s.reposts = RepostPolicy::Link);
    let r = render(&p, &profile, &links, &Lookups::default());
    assert_eq!(
        texts(&r),
        vec!["Reposted from https://x.com/rustlang:\n\nNew release"]
    );
    let mut p = post("a photo");
    let mut gone = photo(Some("x"));
    gone.source = MediaSource::Unavailable;
    p.media = vec![gone];
    let r = render(&p, &profile, &defaults(), &Lookups::default());
    assert_eq!(texts(&r), vec!["a photo"]);
    assert!(
        r.warnings
            .iter()
            .any(|w| w.message.contains("links = \"drop\"")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn on_x_a_fediverse_handle_is_written_without_its_at() {
    let mut p = post("thanks @ann@example.social and @bob");
    p.facets = vec![
        Facet {
            range: 7..26,
            kind: FacetKind::Mention {
                username: "ann@example.social".into(),
            },
        },
        Facet {
            range: 31..35,
            kind: FacetKind::Mention {
                username: "bob".into(),
            },
        },
    ];
    let r = render(&p, &TargetProfile::x(), &defaults(), &Lookups::default());
    assert_eq!(
        texts(&r),
        vec!["thanks ann@example.social and https://x.com/bob"]
    );
    let r = render_default(&p);
    assert_eq!(
        texts(&r),
        vec!["thanks @ann@example.social and https://x.com/bob"]
    );
}
