//! Snapshots of the bundled sample archive as each kind of server would receive it, under
//! a route with the default policy (and one with every manner option turned on). The
//! posts go oldest first, as a backfill sends them, and each mirrored post is remembered
//! the way the ledger would, so self-threads and links to own posts resolve.
//!
//! Review changes with `cargo insta review` (or `INSTA_UPDATE=always cargo test --test
//! render_sample` and `git diff`); CI never writes snapshots.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use birdbridge::config::{ContentWarningRule, ReplyPolicy, RepostPolicy, RouteSettings};
use birdbridge::model::{MediaSource, PostId};
use birdbridge::policy::{decide, Decision, RoutePolicy};
use birdbridge::render::{render, wanted_lookups, Lookups, ReplyTo};
use birdbridge::sources::archive::Archive;
use birdbridge::store::MirroredPost;
use birdbridge::targets::{CountingRule, TargetProfile};
use chrono::{TimeZone, Utc};

/// The sample rendered for `profile`: one block per post, parts with visibility, content
/// warning, text, media (file name and description), what they reply to, and warnings.
fn render_sample(profile: &TargetProfile, settings: &RouteSettings) -> String {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
    let contents = Archive::open(&sample).unwrap().load().unwrap();
    let policy = RoutePolicy::from_settings(settings).for_backfill();
    let now = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    let mut mirrored: HashMap<PostId, MirroredPost> = HashMap::new();
    let mut out = String::new();
    for (n, post) in contents.posts.iter().enumerate() {
        let _ = writeln!(
            out,
            "## {} · {}",
            post.id,
            post.created_at.format("%Y-%m-%d")
        );
        match decide(post, &policy, now) {
            Decision::Mirror => {}
            other => {
                let _ = writeln!(out, "not mirrored: {other:?}\n");
                continue;
            }
        }
        let mut lookups = Lookups::default();
        for id in wanted_lookups(post) {
            if let Some(m) = mirrored.get(&id) {
                lookups.insert(id, m.clone());
            }
        }
        let rendered = render(post, profile, &policy, &lookups);
        let total = rendered.parts.len();
        for (i, part) in rendered.parts.iter().enumerate() {
            let _ = writeln!(out, "[{}/{total} · {}]", i + 1, part.visibility.as_str());
            if let Some(cw) = &part.spoiler_text {
                let _ = writeln!(out, "CW: {cw}");
            }
            for line in part.text.lines() {
                let _ = writeln!(out, "| {line}");
            }
            for m in &part.media {
                let name = match &m.source {
                    MediaSource::File(p) => p.file_name().unwrap().to_string_lossy().into_owned(),
                    other => format!("{other:?}"),
                };
                let _ = writeln!(
                    out,
                    "media: {} {name}{} · {:?}",
                    m.kind.as_str(),
                    if part.sensitive { " (sensitive)" } else { "" },
                    m.description
                );
            }
            match &part.reply_to {
                ReplyTo::Nothing => {}
                ReplyTo::PreviousPart => {
                    let _ = writeln!(out, "replies to: the previous part");
                }
                ReplyTo::Status(id) => {
                    let _ = writeln!(out, "replies to: {id}");
                }
            }
            if let Some(id) = &part.quote_of {
                let _ = writeln!(out, "quotes: {id}");
            }
            for w in rendered.warnings.iter().filter(|w| w.part == i) {
                let _ = writeln!(out, "warning: {}", w.message);
            }
        }
        out.push('\n');
        mirrored.insert(
            post.id.clone(),
            MirroredPost {
                first_id: format!("s{n}-1"),
                first_url: Some(format!("https://fedi.example/@demo/s{n}-1")),
                last_id: format!("s{n}-{total}"),
            },
        );
    }
    out
}

fn defaults() -> RouteSettings {
    RouteSettings::with_defaults("demo", &["target"])
}

#[test]
fn sample_on_mastodon_500() {
    let profile = TargetProfile::mastodon_default();
    insta::assert_snapshot!("mastodon_500", render_sample(&profile, &defaults()));
}

#[test]
fn sample_on_gotosocial_5000_code_points() {
    let profile = TargetProfile {
        max_characters: 5000,
        max_media_attachments: 6,
        characters_reserved_per_url: 25,
        counting: CountingRule::CodePoints,
        ..TargetProfile::mastodon_default()
    };
    insta::assert_snapshot!("gotosocial_5000", render_sample(&profile, &defaults()));
}

#[test]
fn sample_on_a_100000_character_server() {
    let profile = TargetProfile {
        max_characters: 100_000,
        ..TargetProfile::mastodon_default()
    };
    insta::assert_snapshot!("large_100000", render_sample(&profile, &defaults()));
}

/// A 200-character server with every manner option on, so the sample shows threads,
/// content-warning rules, mapped mentions, reposts as links and replies mirrored unlisted.
#[test]
fn sample_with_every_option_on_a_small_server() {
    let profile = TargetProfile {
        max_characters: 200,
        ..TargetProfile::mastodon_default()
    };
    let mut settings = defaults();
    settings.reposts = RepostPolicy::Link;
    settings.replies = ReplyPolicy::Unlisted;
    settings.content_warnings = vec![ContentWarningRule {
        label: "Food".into(),
        matches: vec!["chips".into(), "#food".into()],
    }];
    settings
        .mention_map
        .insert("ann_example".into(), "@ann@social.example".into());
    settings.backfill_link = true;
    insta::assert_snapshot!("all_options_200", render_sample(&profile, &settings));
}
