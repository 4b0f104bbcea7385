//! The archive source end to end: the bundled sample archive (as a folder, a zip, and a zip
//! of its folder), small archives written per case for the format facts, the classic
//! fixture, and broken inputs with the errors they must give.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use birdbridge::model::{FacetKind, MediaKind, MediaSource, Post, PostId, PostKind};
use birdbridge::sources::archive::{Archive, ArchiveContents, ArchiveError, Manifest};
use rstest::rstest;
use serde_json::{json, Value};
use tempfile::TempDir;

const OWNER: &str = "birdbridge_demo";

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

/// Zips every file under `src` with names `<prefix><relative path>`.
fn zip_folder(src: &Path, zip_path: &Path, prefix: &str) {
    fn add(zip: &mut zip::ZipWriter<fs::File>, root: &Path, dir: &Path, prefix: &str) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                add(zip, root, &path, prefix);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .replace('\\', "/");
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated);
                zip.start_file(format!("{prefix}{rel}"), options).unwrap();
                zip.write_all(&fs::read(&path).unwrap()).unwrap();
            }
        }
    }
    let mut zip = zip::ZipWriter::new(fs::File::create(zip_path).unwrap());
    add(&mut zip, src, src, prefix);
    zip.finish().unwrap();
}

#[derive(Debug, Clone, Copy)]
enum Packing {
    Folder,
    Zip,
    /// The unpacked folder zipped again, so everything sits one folder down.
    NestedZip,
}

/// Opens a copy of `src` packed as asked; the `TempDir` keeps it alive.
fn open_packed(src: &Path, packing: Packing) -> (TempDir, Archive) {
    let tmp = TempDir::new().unwrap();
    let path = match packing {
        Packing::Folder => src.to_owned(),
        Packing::Zip => {
            let path = tmp.path().join("twitter-2024-11-20-abc123.zip");
            zip_folder(src, &path, "");
            path
        }
        Packing::NestedZip => {
            let path = tmp.path().join("rezipped.zip");
            zip_folder(src, &path, "twitter-2024-11-20-abc123/");
            path
        }
    };
    let archive = Archive::open(&path).unwrap();
    (tmp, archive)
}

fn post_with<'a>(contents: &'a ArchiveContents, start: &str) -> &'a Post {
    contents
        .posts
        .iter()
        .find(|p| p.text.starts_with(start))
        .unwrap_or_else(|| panic!("no post starting with {start:?}"))
}

/// Facets as `start..end label`, labels `link <url>`, `@user`, `#tag`.
fn facets(post: &Post) -> Vec<String> {
    post.facets
        .iter()
        .map(|f| {
            let label = match &f.kind {
                FacetKind::Link { url } => format!("link {url}"),
                FacetKind::Mention { username } => format!("@{username}"),
                FacetKind::Hashtag { tag } => format!("#{tag}"),
            };
            format!("{}..{} {label}", f.range.start, f.range.end)
        })
        .collect()
}

/// The invariants every post must keep: facets on char boundaries, showing what they say,
/// in order; canonical URL; author is the owner.
fn assert_well_formed(post: &Post, owner: &str) {
    let mut last_end = 0;
    for facet in &post.facets {
        assert!(facet.range.start >= last_end, "facets overlap in {post:?}");
        last_end = facet.range.end;
        let shown = post
            .text
            .get(facet.range.clone())
            .unwrap_or_else(|| panic!("facet {facet:?} off char boundaries in {:?}", post.text));
        match &facet.kind {
            FacetKind::Link { url } => assert_eq!(shown, url),
            FacetKind::Mention { username } => assert!(shown[1..].eq_ignore_ascii_case(username)),
            FacetKind::Hashtag { tag } => assert_eq!(shown[1..].to_lowercase(), tag.to_lowercase()),
        }
    }
    assert_eq!(post.author.username, owner);
    assert_eq!(post.url, Post::canonical_url(owner, &post.id));
    assert_eq!(post.text, post.text.trim_end(), "trailing whitespace");
    for bad in ["https://t.co/", "&amp;", "&lt;", "&gt;"] {
        assert!(!post.text.contains(bad), "{bad} left in {:?}", post.text);
    }
}

fn media_file_name(source: &MediaSource) -> String {
    match source {
        MediaSource::File(path) => {
            assert!(path.is_file(), "{} missing", path.display());
            path.file_name().unwrap().to_str().unwrap().to_owned()
        }
        MediaSource::ZipEntry { archive, entry } => {
            let mut zip = zip::ZipArchive::new(fs::File::open(archive).unwrap()).unwrap();
            assert!(
                zip.by_name(entry).is_ok(),
                "{entry} not in {}",
                archive.display()
            );
            assert!(entry.contains("data/tweets_media/"), "{entry}");
            entry.rsplit('/').next().unwrap().to_owned()
        }
        other => panic!("expected a file, got {other:?}"),
    }
}

#[rstest]
#[case::folder(Packing::Folder)]
#[case::zip(Packing::Zip)]
#[case::nested_zip(Packing::NestedZip)]
fn sample_archive_loads_in_order_without_circle_or_old_edits(#[case] packing: Packing) {
    let (_tmp, archive) = open_packed(&sample_dir(), packing);
    assert_eq!(archive.owner().username, OWNER);
    assert_eq!(archive.owner().id.as_deref(), Some("1101234567890123456"));
    assert_eq!(
        archive.owner().display_name.as_deref(),
        Some("Birdbridge Demo")
    );
    let contents = archive.load().unwrap();
    assert!(contents.malformed.is_empty(), "{:?}", contents.malformed);
    assert_eq!(contents.circle_excluded, 1);
    // 19 entries in tweets.js: one circle post and one superseded edit are left out.
    assert_eq!(contents.posts.len(), 17);
    assert!(contents
        .posts
        .windows(2)
        .all(|w| w[0].created_at <= w[1].created_at));
    assert!(contents
        .posts
        .iter()
        .all(|p| !p.text.contains("Close friends only")));
    assert!(contents.posts.iter().all(|p| !p.text.ends_with("Try it!")));
    post_with(
        &contents,
        "Leap day release of birdbridge is out. Try it, and tell me what breaks!",
    );
    for post in &contents.posts {
        assert_well_formed(post, OWNER);
    }
}

#[rstest]
#[case::folder(Packing::Folder)]
#[case::zip(Packing::Zip)]
fn sample_media_photos_video_gif(#[case] packing: Packing) {
    let (_tmp, archive) = open_packed(&sample_dir(), packing);
    let contents = archive.load().unwrap();

    let sunrise = post_with(&contents, "Morning over the harbour");
    assert_eq!(
        sunrise.text,
        "Morning over the harbour 🌅🌊 #sunrise #photography"
    );
    // Two emoji (8 bytes) before the hashtags: byte ranges, from code-point indices.
    assert_eq!(facets(sunrise), ["34..42 #sunrise", "43..55 #photography"]);
    let [photo] = sunrise.media.as_slice() else {
        panic!("{:?}", sunrise.media)
    };
    assert_eq!(photo.kind, MediaKind::Photo);
    assert_eq!(
        photo.alt_text.as_deref(),
        Some("A calm harbour at sunrise: orange sky, two fishing boats moored at a wooden pier.")
    );
    assert_eq!((photo.width, photo.height), (Some(2048), Some(1365)));
    assert_eq!(
        photo.original_url.as_deref(),
        Some("https://pbs.twimg.com/media/D8kQx2aWsAE4yTn.jpg")
    );
    assert_eq!(
        media_file_name(&photo.source),
        format!("{}-D8kQx2aWsAE4yTn.jpg", sunrise.id)
    );

    let sketches = post_with(&contents, "Two pages from an old notebook");
    assert_eq!(sketches.text, "Two pages from an old notebook");
    let [first, second] = sketches.media.as_slice() else {
        panic!("{:?}", sketches.media)
    };
    assert_eq!(
        media_file_name(&first.source),
        format!("{}-EXa1Bc2De3Fg4Hi.png", sketches.id)
    );
    assert_eq!(first.alt_text, None);
    assert_eq!(
        second.source,
        MediaSource::Unavailable,
        "its file is left out of the sample"
    );
    assert_eq!(
        second.original_url.as_deref(),
        Some("https://pbs.twimg.com/media/EXa9Zy8Xw7Vu6Ts.jpg")
    );

    let video = post_with(&contents, "Time-lapse of the build");
    assert_eq!(
        video.text,
        "Time-lapse of the build, 40 minutes in 20 seconds 🎬"
    );
    let [clip] = video.media.as_slice() else {
        panic!("{:?}", video.media)
    };
    assert_eq!(clip.kind, MediaKind::Video);
    assert_eq!(
        media_file_name(&clip.source),
        format!("{}-k3JdT0xYq2pWm8Rv.mp4", video.id)
    );
    assert!(clip
        .original_url
        .as_deref()
        .is_some_and(|u| u.ends_with("/1280x720/k3JdT0xYq2pWm8Rv.mp4?tag=10")));
    assert_eq!((clip.width, clip.height), (Some(1280), Some(720)));

    let gif = post_with(&contents, "When the tests pass");
    let [loop_] = gif.media.as_slice() else {
        panic!("{:?}", gif.media)
    };
    assert_eq!(loop_.kind, MediaKind::Gif);
    assert_eq!(
        media_file_name(&loop_.source),
        format!("{}-ExGifDemoAbC12.mp4", gif.id)
    );
    assert_eq!(
        loop_.original_url.as_deref(),
        Some("https://video.twimg.com/tweet_video/ExGifDemoAbC12.mp4")
    );
}

#[test]
fn sample_thread_replies_reposts_quotes() {
    let contents = Archive::open(&sample_dir()).unwrap().load().unwrap();

    let one = post_with(&contents, "A short thread");
    let two = post_with(&contents, "2/3 Every post");
    let three = post_with(&contents, "3/3 Retries");
    assert_eq!(one.references.reply_to, None);
    for (child, parent) in [(two, one), (three, two)] {
        let reply = child.references.reply_to.as_ref().unwrap();
        assert_eq!(reply.id.as_ref(), Some(&parent.id));
        assert_eq!(reply.username.as_deref(), Some(OWNER));
        assert_eq!(
            child.kind(),
            PostKind::Original,
            "a self-thread is the owner's own"
        );
    }
    assert!(
        two.facets.is_empty(),
        "the hidden reply mention is gone: {:?}",
        two.facets
    );
    assert_eq!(
        facets(three),
        [
            "56..65 #rustlang",
            "72..103 link https://doc.rust-lang.org/book/"
        ]
    );

    let reply = post_with(&contents, "@ann_example Thanks!");
    assert_eq!(reply.kind(), PostKind::ReplyToOther);
    let parent = reply.references.reply_to.as_ref().unwrap();
    assert_eq!(
        parent.id.as_ref().map(PostId::as_str),
        Some("1428123456789012345")
    );
    assert_eq!(
        parent.url.as_deref(),
        Some("https://x.com/ann_example/status/1428123456789012345")
    );
    assert_eq!(facets(reply), ["0..12 @ann_example"]);

    let repost = post_with(&contents, "Announcing a new release");
    assert_eq!(repost.kind(), PostKind::Repost);
    let original = repost.references.repost_of.as_ref().unwrap();
    assert_eq!(
        (original.id.as_ref(), original.username.as_deref()),
        (None, Some("rustlang_example"))
    );
    assert!(repost.text.ends_with("testing the betas and…"));
    assert!(facets(repost).iter().any(|f| f.ends_with(" #rustlang")));

    let quote = post_with(&contents, "This is exactly what I meant");
    assert_eq!(quote.text, "This is exactly what I meant 👇");
    assert_eq!(quote.kind(), PostKind::Quote);
    assert!(quote.facets.is_empty());
    let quoted = quote.references.quote_of.as_ref().unwrap();
    assert_eq!(
        quoted.id.as_ref().map(PostId::as_str),
        Some("1542312345678901249")
    );
    assert_eq!(quoted.username.as_deref(), Some("someone_else"));
    assert_eq!(
        quoted.url.as_deref(),
        Some("https://x.com/someone_else/status/1542312345678901249")
    );
}

#[test]
fn sample_text_long_post_escapes_flags() {
    let contents = Archive::open(&sample_dir()).unwrap().load().unwrap();

    let long = post_with(&contents, "Why mirror an archive");
    assert!(long.text.chars().count() > 280);
    assert!(long.text.contains("threads & replies"));
    assert!(long
        .text
        .ends_with("Details: https://example.org/birdbridge/why #fediverse #archives"));
    let labels: Vec<String> = facets(long)
        .into_iter()
        .map(|f| f.split_once(' ').unwrap().1.to_owned())
        .collect();
    assert_eq!(
        labels,
        [
            "@ann_example",
            "link https://example.org/birdbridge/why",
            "#fediverse",
            "#archives"
        ]
    );

    let escaped = post_with(&contents, "Friday plan");
    assert_eq!(
        escaped.text,
        "Friday plan: fish & chips <3 with @chipshop_example. Ratings 1>0, obviously."
    );
    assert_eq!(facets(escaped), ["34..51 @chipshop_example"]);

    let first = post_with(&contents, "Hello, fediverse-to-be!");
    assert_eq!(
        facets(first),
        [
            "32..43 #birdbridge",
            "92..128 link https://example.org/birdbridge/notes"
        ]
    );

    let launch = post_with(&contents, "🚀 Launch day!");
    assert_eq!(
        facets(launch),
        [
            "24..36 @ann_example",
            "52..63 #opensource",
            "64..102 link https://example.org/birdbridge/release"
        ]
    );

    assert!(post_with(&contents, "Season finale").sensitive);
    assert!(!launch.sensitive);
    assert_eq!(
        post_with(&contents, "🎉🎉🎉").language,
        None,
        "und is no language"
    );
    assert_eq!(launch.language.as_deref(), Some("en"));
    assert_eq!(first.created_at.to_rfc3339(), "2019-03-14T09:26:53+00:00");
}

// ---- Small archives written per case ------------------------------------------------------

/// A post object as the current archive writes it (every number a string).
fn tweet(id: &str, created_at: &str, full_text: &str) -> Value {
    json!({
        "id_str": id, "id": id, "created_at": created_at, "full_text": full_text,
        "lang": "en", "favorite_count": "0", "retweet_count": "0", "truncated": false,
        "display_text_range": ["0", full_text.chars().count().to_string()],
        "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
    })
}

const AT: &str = "Wed Oct 10 20:19:24 +0000 2018";

fn wrap(global: &str, items: &[Value]) -> String {
    format!(
        "window.YTD.{global}.part0 = {}",
        serde_json::to_string_pretty(items).unwrap()
    )
}

/// Writes an unpacked archive owned by `tester` (through `account.js`, no manifest) with
/// `tweets` in `data/tweets.js` and `extra` files.
fn write_archive(tweets: &[Value], extra: &[(&str, String)]) -> TempDir {
    let tmp = TempDir::new().unwrap();
    let data = tmp.path().join("data");
    fs::create_dir_all(&data).unwrap();
    let account = json!({"account": {"username": "tester", "accountId": "42", "accountDisplayName": "Tester"}});
    fs::write(data.join("account.js"), wrap("account", &[account])).unwrap();
    let wrapped: Vec<Value> = tweets.iter().map(|t| json!({ "tweet": t })).collect();
    fs::write(data.join("tweets.js"), wrap("tweets", &wrapped)).unwrap();
    for (name, text) in extra {
        let path = tmp.path().join(name);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }
    tmp
}

fn load_one(tweet: Value) -> Post {
    let tmp = write_archive(&[tweet], &[]);
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    assert!(contents.malformed.is_empty(), "{:?}", contents.malformed);
    let [post] = <[Post; 1]>::try_from(contents.posts).unwrap();
    assert_well_formed(&post, "tester");
    post
}

#[rstest]
#[case::code_points_after_emoji(
    "🎉🎉 hi @ann_example and @ann_example",
    json!({"user_mentions": [{"screen_name": "ann_example", "indices": ["23", "35"]}]}),
    "🎉🎉 hi @ann_example and @ann_example",
    &["29..41 @ann_example"]
)]
#[case::numbers_as_numbers(
    "🎉🎉 hi @ann_example and @ann_example",
    json!({"user_mentions": [{"screen_name": "ann_example", "indices": [23, 35]}]}),
    "🎉🎉 hi @ann_example and @ann_example",
    &["29..41 @ann_example"]
)]
#[case::escaped_text_then_link(
    "a &amp; b &lt; c https://t.co/abc",
    json!({"urls": [{"url": "https://t.co/abc", "expanded_url": "https://example.org/x", "indices": ["17", "33"]}]}),
    "a & b < c https://example.org/x",
    &["10..31 link https://example.org/x"]
)]
#[case::zwj_emoji_and_gt(
    "👩‍💻 dev &gt; ops #tag",
    json!({"hashtags": [{"text": "tag", "indices": ["17", "21"]}]}),
    "👩‍💻 dev > ops #tag",
    &["22..26 #tag"]
)]
#[case::non_ascii_hashtag(
    "Wahl #Grüne",
    json!({"hashtags": [{"text": "Grüne", "indices": ["5", "11"]}]}),
    "Wahl #Grüne",
    &["5..12 #Grüne"]
)]
#[case::lenient_quot_and_apos(
    "&quot;quoted&quot; &#39;single&#39; AT&T",
    json!({}),
    "\"quoted\" 'single' AT&T",
    &[]
)]
fn entity_indices_and_escapes(
    #[case] full_text: &str,
    #[case] entities: Value,
    #[case] text: &str,
    #[case] expected: &[&str],
) {
    let mut raw = tweet("100", AT, full_text);
    for (key, value) in entities.as_object().unwrap() {
        raw["entities"][key] = value.clone();
    }
    let post = load_one(raw);
    assert_eq!(post.text, text);
    assert_eq!(facets(&post), expected);
}

#[rstest]
#[case::photo("photo", MediaKind::Photo)]
#[case::video("video", MediaKind::Video)]
#[case::gif("animated_gif", MediaKind::Gif)]
fn trailing_media_link_is_removed(#[case] kind: &str, #[case] expected: MediaKind) {
    let mut raw = tweet("100", AT, "Look at this https://t.co/media");
    let media = json!({
        "url": "https://t.co/media", "indices": ["13", "31"], "type": kind,
        "media_url_https": "https://pbs.twimg.com/media/Abc.jpg",
        "sizes": {"large": {"w": "640", "h": "480", "resize": "fit"}},
        "video_info": {"variants": [
            {"bitrate": "320000", "content_type": "video/mp4", "url": "https://video.twimg.com/v/low.mp4?tag=1"},
            {"content_type": "application/x-mpegURL", "url": "https://video.twimg.com/v/pl.m3u8"},
            {"bitrate": "950000", "content_type": "video/mp4", "url": "https://video.twimg.com/v/high.mp4?tag=1"}]},
    });
    raw["entities"]["media"] = json!([media]);
    raw["extended_entities"] = json!({"media": [media]});
    let post = load_one(raw);
    assert_eq!(post.text, "Look at this");
    assert!(post.facets.is_empty());
    let [item] = post.media.as_slice() else {
        panic!("{:?}", post.media)
    };
    assert_eq!(item.kind, expected);
    assert_eq!(item.source, MediaSource::Unavailable);
    assert_eq!((item.width, item.height), (Some(640), Some(480)));
    let url = if expected == MediaKind::Photo {
        "https://pbs.twimg.com/media/Abc.jpg"
    } else {
        "https://video.twimg.com/v/high.mp4?tag=1"
    };
    assert_eq!(item.original_url.as_deref(), Some(url));
}

#[test]
fn video_file_is_the_highest_bitrate_mp4() {
    let mut raw = tweet("100", AT, "clip https://t.co/m");
    raw["extended_entities"] = json!({"media": [{
        "url": "https://t.co/m", "indices": ["5", "19"], "type": "video",
        "media_url_https": "https://pbs.twimg.com/thumb/x.jpg",
        "video_info": {"variants": [
            {"bitrate": "950000", "content_type": "video/mp4", "url": "https://video.twimg.com/v/high.mp4?tag=1"},
            {"bitrate": "320000", "content_type": "video/mp4", "url": "https://video.twimg.com/v/low.mp4?tag=1"}]},
    }]});
    let tmp = write_archive(
        &[raw],
        &[
            ("data/tweets_media/100-low.mp4", "x".into()),
            ("data/tweets_media/100-high.mp4", "x".into()),
        ],
    );
    let post = &Archive::open(tmp.path()).unwrap().load().unwrap().posts[0];
    assert_eq!(
        post.media[0].source,
        MediaSource::File(tmp.path().join("data/tweets_media/100-high.mp4"))
    );
}

#[rstest]
#[case::reply_to_other(json!({"in_reply_to_status_id_str": "7", "in_reply_to_screen_name": "ann"}), "@ann hi", PostKind::ReplyToOther, "@ann hi")]
#[case::self_reply(json!({"in_reply_to_status_id_str": "7", "in_reply_to_screen_name": "Tester"}), "more", PostKind::Original, "more")]
#[case::mention_without_reply(json!({"in_reply_to_screen_name": "ann"}), "@ann hi", PostKind::Original, "@ann hi")]
#[case::retweet(json!({}), "RT @bob_99: cut text…", PostKind::Repost, "cut text…")]
#[case::quote_at_end(
    json!({"entities": {"urls": [{"url": "https://t.co/q", "expanded_url": "https://twitter.com/bob/status/123?s=20", "indices": ["4", "18"]}]}}),
    "see https://t.co/q", PostKind::Quote, "see"
)]
#[case::status_link_inside_text(
    json!({"entities": {"urls": [{"url": "https://t.co/q", "expanded_url": "https://x.com/bob/status/123", "indices": ["4", "18"]}]}}),
    "see https://t.co/q for more", PostKind::Quote, "see https://x.com/bob/status/123 for more"
)]
#[case::show_more_link_is_no_quote(
    json!({"entities": {"urls": [{"url": "https://t.co/w", "expanded_url": "https://twitter.com/i/web/status/100", "indices": ["9", "23"]}]}}),
    "long te… https://t.co/w", PostKind::Original, "long te… https://twitter.com/i/web/status/100"
)]
fn references_and_kinds(
    #[case] fields: Value,
    #[case] full_text: &str,
    #[case] kind: PostKind,
    #[case] text: &str,
) {
    let mut raw = tweet("100", AT, full_text);
    for (key, value) in fields.as_object().unwrap() {
        raw[key] = value.clone();
    }
    let post = load_one(raw);
    assert_eq!(post.kind(), kind);
    assert_eq!(post.text, text);
    if kind == PostKind::Quote {
        let quote = post.references.quote_of.unwrap();
        assert_eq!(
            (quote.username.as_deref(), quote.id.unwrap().as_str()),
            (Some("bob"), "123")
        );
    }
}

#[rstest]
#[case::english(json!("en"), Some("en"))]
#[case::undetermined(json!("und"), None)]
#[case::media_only(json!("qme"), None)]
#[case::missing(Value::Null, None)]
fn language_tags(#[case] lang: Value, #[case] expected: Option<&str>) {
    let mut raw = tweet("100", AT, "text");
    raw["lang"] = lang;
    assert_eq!(load_one(raw).language.as_deref(), expected);
}

#[rstest]
#[case::flag(json!(true), true)]
#[case::string(json!("true"), true)]
#[case::false_(json!(false), false)]
#[case::missing(Value::Null, false)]
fn sensitive_flag(#[case] flag: Value, #[case] expected: bool) {
    let mut raw = tweet("100", AT, "text");
    raw["possibly_sensitive"] = flag;
    assert_eq!(load_one(raw).sensitive, expected);
}

fn note(created_at: &str, text: &str) -> Value {
    json!({"noteTweet": {"noteTweetId": "900", "createdAt": created_at, "core": {
        "text": text, "urls": [], "hashtags": [],
        "mentions": [{"screenName": "ann", "fromIndex": "0", "toIndex": "4"}]}}})
}

#[rstest]
#[case::same_second_and_prefix(
    "2018-10-10T20:19:24.000Z",
    "@ann fish & chips are great, and this goes on.",
    true
)]
#[case::other_second(
    "2018-10-10T20:19:25.000Z",
    "@ann fish & chips are great, and this goes on.",
    false
)]
#[case::other_text(
    "2018-10-10T20:19:24.000Z",
    "@ann something else entirely, long.",
    false
)]
fn note_tweet_join(#[case] created_at: &str, #[case] note_text: &str, #[case] joined: bool) {
    let truncated = "@ann fish &amp; chips are gr… https://t.co/more";
    let mut raw = tweet("100", AT, truncated);
    raw["entities"]["urls"] = json!([{"url": "https://t.co/more", "expanded_url": "https://twitter.com/i/web/status/100", "indices": ["30", "47"]}]);
    let notes = wrap("note_tweet", &[note(created_at, note_text)]);
    let tmp = write_archive(&[raw], &[("data/note-tweet.js", notes)]);
    let post = &Archive::open(tmp.path()).unwrap().load().unwrap().posts[0];
    if joined {
        assert_eq!(post.text, note_text);
        assert_eq!(facets(post), ["0..4 @ann"]);
    } else {
        assert_eq!(
            post.text,
            "@ann fish & chips are gr… https://twitter.com/i/web/status/100"
        );
    }
}

#[test]
fn circle_posts_are_never_returned() {
    let circle = tweet("200", AT, "circle only");
    let elsewhere = tweet("300", AT, "circle only, not in tweets.js");
    let tmp = write_archive(
        &[tweet("100", AT, "public"), circle.clone()],
        &[(
            "data/twitter-circle-tweet.js",
            wrap(
                "twitter_circle_tweet",
                &[json!({"tweet": circle}), json!({"tweet": elsewhere})],
            ),
        )],
    );
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    let ids: Vec<&str> = contents.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["100"]);
    assert_eq!(contents.circle_excluded, 2);
}

#[test]
fn posts_sort_by_date_then_numeric_id() {
    let tmp = write_archive(
        &[
            tweet("1000", AT, "b"),
            tweet("999", AT, "a"),
            tweet("5", "Tue Oct 09 20:19:24 +0000 2018", "first"),
        ],
        &[],
    );
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    let ids: Vec<&str> = contents.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["5", "999", "1000"]);
}

#[test]
fn malformed_entries_are_reported_and_skipped() {
    let mut no_date = tweet("200", AT, "no date");
    no_date.as_object_mut().unwrap().remove("created_at");
    let mut bad_date = tweet("300", AT, "bad date");
    bad_date["created_at"] = json!("yesterday");
    let tmp = TempDir::new().unwrap();
    let good = tweet("100", AT, "fine");
    let text = format!(
        "window.YTD.tweets.part0 = [ {}, {}, 42, {}, {{\"tweet\": {{\"full_text\": \"no id\"}}}} ]",
        json!({ "tweet": good }),
        json!({ "tweet": no_date }),
        json!({ "tweet": bad_date }),
    );
    fs::create_dir_all(tmp.path().join("data")).unwrap();
    fs::write(tmp.path().join("data/tweets.js"), text).unwrap();
    fs::write(
        tmp.path().join("data/manifest.js"),
        r#"window.__THAR_CONFIG = {"userInfo": {"userName": "tester", "accountId": "42"}}"#,
    )
    .unwrap();
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    assert_eq!(contents.posts.len(), 1);
    let found: Vec<(Option<&str>, &str)> = contents
        .malformed
        .iter()
        .map(|m| (m.id.as_ref().map(PostId::as_str), m.location.as_str()))
        .collect();
    assert_eq!(
        found,
        [
            (Some("200"), "data/tweets.js, entry 2"),
            (None, "data/tweets.js, entry 3"),
            (Some("300"), "data/tweets.js, entry 4"),
            (None, "data/tweets.js, entry 5"),
        ]
    );
    assert!(contents.malformed[0].reason.contains("created_at"));
    assert!(contents.malformed[2].reason.contains("yesterday"));
}

#[test]
fn tweets_parts_are_found_by_name_without_a_manifest() {
    let tmp = write_archive(&[tweet("100", AT, "part zero")], &[]);
    let part = wrap("tweets", &[json!({"tweet": tweet("101", AT, "part one")})]);
    fs::write(tmp.path().join("data/tweets-part1.js"), part).unwrap();
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    assert_eq!(contents.posts.len(), 2);
}

#[test]
fn classic_archive_with_alt_text_and_retweet() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic-archive");
    let archive = Archive::open(&dir).unwrap();
    assert_eq!(archive.owner().username, "classic_demo");
    let contents = archive.load().unwrap();
    assert!(contents.malformed.is_empty(), "{:?}", contents.malformed);
    assert_eq!(contents.posts.len(), 3);
    for post in &contents.posts {
        assert_well_formed(post, "classic_demo");
    }

    let coffee = post_with(&contents, "☕");
    assert_eq!(coffee.text, "☕\u{fe0f} Coffee & code with @cafe_example");
    assert_eq!(facets(coffee), ["26..39 @cafe_example"]);
    assert_eq!(coffee.created_at.to_rfc3339(), "2013-01-31T19:12:56+00:00");
    let [photo] = coffee.media.as_slice() else {
        panic!("{:?}", coffee.media)
    };
    assert_eq!(
        photo.alt_text.as_deref(),
        Some("A flat white next to a laptop showing a terminal.")
    );
    assert_eq!(photo.source, MediaSource::Unavailable);
    assert_eq!((photo.width, photo.height), (Some(1024), Some(768)));

    let repost = post_with(&contents, "A long thread about trains");
    assert!(
        repost.text.ends_with("because it is long #rail"),
        "full text from retweeted_status"
    );
    let original = repost.references.repost_of.as_ref().unwrap();
    assert_eq!(
        original.id.as_ref().map(PostId::as_str),
        Some("303999999999999001")
    );
    assert_eq!(original.username.as_deref(), Some("rail_example"));

    assert_eq!(
        post_with(&contents, "@cafe_example see you").kind(),
        PostKind::ReplyToOther
    );
}

#[test]
fn edited_post_keeps_only_its_newest_version() {
    let mut first = tweet("100", AT, "draft");
    first["edit_info"] = json!({"initial": {"editTweetIds": ["100", "105"]}});
    let mut second = tweet("105", AT, "final");
    second["edit_info"] = json!({"edit": {"initialTweetId": "100", "editControlInitial": {"editTweetIds": ["100", "105"]}}});
    let mut lonely = tweet("200", AT, "edited, newest version missing");
    lonely["edit_info"] = json!({"initial": {"editTweetIds": ["200", "201"]}});
    let tmp = write_archive(&[second, first, lonely], &[]);
    let contents = Archive::open(tmp.path()).unwrap().load().unwrap();
    let texts: Vec<&str> = contents.posts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(texts, ["final", "edited, newest version missing"]);
}

// ---- Broken inputs ------------------------------------------------------------------------

fn open_err(path: &Path) -> ArchiveError {
    Archive::open(path).expect_err("should not open")
}

fn load_err(path: &Path) -> ArchiveError {
    Archive::open(path)
        .unwrap()
        .load()
        .expect_err("should not load")
}

#[test]
fn missing_path_is_named() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("nowhere.zip");
    let err = open_err(&path);
    assert!(matches!(err, ArchiveError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!("archive {}: no such file or folder", path.display())
    );
}

#[test]
fn corrupt_zip_is_named() {
    let tmp = TempDir::new().unwrap();
    let path = tmp.path().join("twitter.zip");
    fs::write(&path, b"PK\x03\x04 this is not really a zip file").unwrap();
    let err = open_err(&path);
    assert!(matches!(err, ArchiveError::Zip { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("archive {}: not a readable zip file", path.display())
    );
    assert!(
        std::error::Error::source(&err).is_some(),
        "the zip reader's cause is kept"
    );
}

const BROKEN_TWEETS: &str = "window.YTD.tweets.part0 = [\n  {\n    \"tweet\" : { \"id_str\" : \"1\" \"full_text\" : \"x\" }\n  }\n]";

#[rstest]
#[case::folder(false)]
#[case::zip(true)]
fn json_syntax_error_names_file_and_position(#[case] zipped: bool) {
    let tmp = write_archive(&[], &[("data/tweets.js", BROKEN_TWEETS.into())]);
    let zip_dir = TempDir::new().unwrap();
    let path = if zipped {
        let zip = zip_dir.path().join("broken.zip");
        zip_folder(tmp.path(), &zip, "");
        zip
    } else {
        tmp.path().to_owned()
    };
    let err = load_err(&path);
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "archive {}: data/tweets.js: JSON syntax error at line 3 column 32: expected `,` or `}}`",
            path.display()
        )),
        "{message}"
    );
}

#[rstest]
#[case::bare_json("[ {\"tweet\": {}} ]", "found \"[ {\\\"tweet\\\": {}} ]\"")]
#[case::html("<html><body>Not found</body></html>", "found \"<html><body>Not fo")]
#[case::empty("", "found \"\"")]
fn missing_wrapper_names_file(#[case] content: &str, #[case] found: &str) {
    let tmp = write_archive(&[], &[("data/tweets.js", content.into())]);
    let message = load_err(tmp.path()).to_string();
    let expected = format!(
        "archive {}: data/tweets.js: expected the file to start with `window.YTD.<name>.part0 = [`, {found}",
        tmp.path().display()
    );
    assert!(message.starts_with(&expected), "{message}\n{expected}");
}

#[test]
fn truncated_file_says_it_ends_early() {
    let tmp = write_archive(
        &[],
        &[(
            "data/tweets.js",
            "window.YTD.tweets.part0 = [ {\"tweet\": {".into(),
        )],
    );
    let message = load_err(tmp.path()).to_string();
    assert!(
        message.contains("data/tweets.js: JSON syntax error at line 1 column"),
        "{message}"
    );
    assert!(
        message.contains("the file ends before the JSON is complete"),
        "{message}"
    );
}

#[test]
fn archive_without_posts_file() {
    let tmp = write_archive(&[], &[]);
    fs::remove_file(tmp.path().join("data/tweets.js")).unwrap();
    let err = open_err(tmp.path());
    assert!(matches!(err, ArchiveError::NoPosts { .. }), "{err:?}");
    assert!(err.to_string().starts_with(&format!(
        "archive {}: no posts file found",
        tmp.path().display()
    )));
}

#[test]
fn archive_without_owner() {
    let tmp = write_archive(&[tweet("1", AT, "x")], &[]);
    fs::remove_file(tmp.path().join("data/account.js")).unwrap();
    assert!(matches!(open_err(tmp.path()), ArchiveError::NoOwner { .. }));
}

#[test]
fn broken_manifest_is_named_at_open() {
    let tmp = write_archive(
        &[tweet("1", AT, "x")],
        &[(
            "data/manifest.js",
            "window.__THAR_CONFIG = {\n  \"userInfo\" : ,\n}".into(),
        )],
    );
    let message = open_err(tmp.path()).to_string();
    assert!(
        message.starts_with(&format!(
            "archive {}: data/manifest.js: JSON syntax error at line 2",
            tmp.path().display()
        )),
        "{message}"
    );
}

// ---- The real manifest of a 2026 archive --------------------------------------------------

#[test]
fn real_2026_manifest_is_understood() {
    let shared = std::env::var_os("BIRDBRIDGE_SHARED_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    let path = shared.join("fixtures/archive-format/manifest.js");
    if !path.is_file() {
        println!("skipping: ../shared/fixtures not found");
        return;
    }
    let manifest = Manifest::parse(&fs::read_to_string(path).unwrap()).unwrap();
    let owner = manifest.owner.unwrap();
    assert_eq!(owner.username, "milahu104");
    assert_eq!(owner.id.as_deref(), Some("1964312974236991488"));
    assert_eq!(manifest.tweet_files, ["data/tweets.js"]);
    assert_eq!(manifest.media_dirs, ["data/tweets_media"]);
    assert_eq!(manifest.note_files, ["data/note-tweet.js"]);
    assert!(manifest.circle_files.is_empty());
}

// ---- Load test (run by hand) --------------------------------------------------------------

/// Loads a large generated archive and prints time and peak memory:
/// `cargo run --release --example gen_archive -- 100000 /tmp/big &&
///  BIRDBRIDGE_LARGE_ARCHIVE=/tmp/big cargo test --release --test archive -- --ignored --nocapture`
#[test]
#[ignore = "needs BIRDBRIDGE_LARGE_ARCHIVE pointing at a generated archive"]
fn load_large_generated_archive() {
    let path = PathBuf::from(
        std::env::var_os("BIRDBRIDGE_LARGE_ARCHIVE").expect("BIRDBRIDGE_LARGE_ARCHIVE"),
    );
    let started = std::time::Instant::now();
    let contents = Archive::open(&path).unwrap().load().unwrap();
    let elapsed = started.elapsed();
    assert!(contents.malformed.is_empty());
    let peak = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .map(str::to_owned)
        })
        .unwrap_or_default();
    println!(
        "{} posts ({} circle excluded) in {elapsed:?}; {peak}",
        contents.posts.len(),
        contents.circle_excluded
    );
}

fn ref_id(reference: Option<&birdbridge::model::PostRef>) -> Option<&str> {
    reference?.id.as_ref().map(PostId::as_str)
}

/// A 2018 classic month in the shapes classic archives really use (media `sizes` as an
/// array, the Jackson pretty-printing, `\/` and surrogate-pair escapes, `media_alt`): every
/// entry is read, and the photo posts keep their alt text.
#[test]
fn classic_2018_month_reads_whole_with_alt_text() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/classic-archive-2018");
    let archive = Archive::open(&dir).unwrap();
    assert_eq!(archive.owner().username, "classic_2018");
    let contents = archive.load().unwrap();
    assert!(contents.malformed.is_empty(), "{:?}", contents.malformed);
    assert_eq!(contents.posts.len(), 6);
    for post in &contents.posts {
        assert_well_formed(post, "classic_2018");
    }
    let ids: Vec<&str> = contents.posts.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "948200000000000101",
            "948300000000000202",
            "948400000000000303",
            "948500000000000404",
            "948600000000000505",
            "948700000000000606"
        ],
        "oldest first"
    );

    let tide = post_with(&contents, "Low tide");
    assert_eq!(
        tide.text,
        "Low tide this morning \u{1f30a}\u{1f4f7} #harbour"
    );
    assert_eq!(facets(tide), ["31..39 #harbour"]);
    let [photo] = tide.media.as_slice() else {
        panic!("{:?}", tide.media)
    };
    assert_eq!(photo.kind, MediaKind::Photo);
    assert_eq!(
        photo.alt_text.as_deref(),
        Some("Mudflats at low tide, boats lying on their sides.")
    );
    assert_eq!((photo.width, photo.height), (Some(2048), Some(1536)));
    assert_eq!(
        photo.original_url.as_deref(),
        Some("https://pbs.twimg.com/media/DSaa1Bc2XcAAlow.jpg")
    );

    let maps = post_with(&contents, "Old map");
    assert_eq!(maps.text, "Old map & new map, side by side");
    let alts: Vec<Option<&str>> = maps.media.iter().map(|m| m.alt_text.as_deref()).collect();
    assert_eq!(alts, [Some("A hand-drawn 1890 map of the harbour."), None]);

    let repost = post_with(&contents, "Ferry schedule");
    assert_eq!(
        repost.text,
        "Ferry schedule changes from Monday \u{1f501} details below"
    );
    assert_eq!(
        ref_id(repost.references.repost_of.as_ref()),
        Some("948100000000000050")
    );
    let [rt_photo] = repost.media.as_slice() else {
        panic!("{:?}", repost.media)
    };
    assert_eq!(
        rt_photo.alt_text.as_deref(),
        Some("Timetable: ferries every 20 minutes.")
    );

    let tides = post_with(&contents, "Tide tables");
    assert_eq!(tides.kind(), PostKind::Original);
    assert_eq!(
        ref_id(tides.references.reply_to.as_ref()),
        Some("948200000000000101")
    );
    assert!(
        tides
            .text
            .contains("https://example.org/tides/2018/week-1?x=1&y=2"),
        "{}",
        tides.text
    );

    let quote = post_with(&contents, "This <3");
    assert_eq!(quote.text, "This <3 > everything");
    assert_eq!(
        ref_id(quote.references.quote_of.as_ref()),
        Some("948100000000000050")
    );

    let sun = post_with(&contents, "\u{2600}");
    let [sun_photo] = sun.media.as_slice() else {
        panic!("{:?}", sun.media)
    };
    assert_eq!(sun_photo.alt_text, None);
    assert_eq!((sun_photo.width, sun_photo.height), (Some(900), Some(1600)));
}
