//! Bounded fuzzing with proptest: inputs seeded from the fixtures are mutated (bytes
//! flipped, cut, repeated, hostile tokens spliced in; JSON nodes replaced by hostile values
//! of other types, huge strings, deep nesting, out-of-range numbers) and fed to every reader
//! of outside data. None may panic; what they accept must be well formed (facets on
//! character boundaries inside the text), and every accepted post must render under tiny and
//! ordinary limits without panicking.
//!
//! Targets: the archive post normaliser (current and classic elements), whole archive files
//! (`Archive::open` + `load`), the X API page parser, the feed normaliser (RSS/Atom through
//! `feed-rs`), the HTML reader (fediverse status and feed HTML, read both ways, and entity
//! decoding), the configuration loader, and the renderer (fed by all of the above).
//!
//! Seeds: `tests/fixtures`, `examples/sample-archive`, `bridge.toml.example`, and
//! `../shared/fixtures` when present (skipped with a message when not). Cases per target:
//! `BIRDBRIDGE_FUZZ_CASES` (default 200; e.g. 20000 for a long run). Each target prints how
//! many inputs it ran. A crash found becomes a regression test next to its reader's tests.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use birdbridge::config::{RouteSettings, Settings};
use birdbridge::html::{self, PlainText};
use birdbridge::model::{Author, Post, PostId, References};
use birdbridge::normalize::archive::{normalize_tweet, TweetContext};
use birdbridge::normalize::feed::{normalize_entry, FeedContext};
use birdbridge::normalize::note_tweet::NoteIndex;
use birdbridge::normalize::x::parse_page;
use birdbridge::policy::RoutePolicy;
use birdbridge::render::{render, Lookups};
use birdbridge::sources::archive::Archive;
use birdbridge::targets::{CountingRule, TargetProfile};
use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cases() -> u32 {
    std::env::var("BIRDBRIDGE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Inputs are seeds plus mutations; a failure is kept as a regression case by hand.
        failure_persistence: None,
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    }
}

/// Runs `check` on `cases` inputs from `strategy`; prints the executions; fails (with the
/// shrunk input) when `check` panicked.
fn fuzz<S: Strategy>(name: &str, cases: u32, strategy: S, check: impl Fn(S::Value)) {
    let runs = AtomicU64::new(0);
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    let result = runner.run(&strategy, |input| {
        runs.fetch_add(1, Ordering::Relaxed);
        check(input);
        Ok(())
    });
    let runs = runs.load(Ordering::Relaxed);
    match result {
        Ok(()) => eprintln!("fuzz {name}: {runs} executions, 0 crashes"),
        Err(e) => panic!("fuzz {name}: crash after {runs} executions: {e}"),
    }
}

// ---------------------------------------------------------------------------------------
// Mutations

/// Tokens that break parsers: quotes, brackets, escapes, lone surrogates, big numbers.
const TOKENS: &[&str] = &[
    "\"",
    "\\",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "null",
    "-1",
    "1e999",
    "18446744073709551616",
    "\\uD83D",
    "\\uDD01",
    "\\u0000",
    "\u{feff}",
    "\u{1f501}",
    "\u{200d}",
    "&amp;",
    "&#x0;",
    "<",
    "]]>",
    "<!ENTITY x \"y\">",
    "&x;",
    "\r\n",
    "\0",
    "\u{fffd}",
    "=",
    "[[",
    "'''",
    "\"\"\"",
    "<a href=\"https://h.example/@u\" class=\"u-url mention\">@",
    "<a href=\"https://h.example/x\">",
    "</a>",
    "<p>",
    "<br>",
    "<pre>\n ",
    "<blockquote>",
    "<script>",
    "<img src=\"https://h.example/i.png\">",
    "&rsquo;",
    "&#x1F680;",
    "\u{a0}",
    "@",
    "#",
];

#[derive(Debug, Clone)]
enum ByteOp {
    Flip(Index, u8),
    Delete(Index, u8),
    Insert(Index, Index),
    Repeat(Index, u8),
    Truncate(Index),
}

fn byte_ops() -> impl Strategy<Value = Vec<ByteOp>> {
    let op = prop_oneof![
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| ByteOp::Flip(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, n)| ByteOp::Delete(i, n)),
        (any::<Index>(), any::<Index>()).prop_map(|(i, t)| ByteOp::Insert(i, t)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, n)| ByteOp::Repeat(i, n)),
        any::<Index>().prop_map(ByteOp::Truncate),
    ];
    prop::collection::vec(op, 1..6)
}

fn mutate_bytes(input: &[u8], ops: &[ByteOp]) -> Vec<u8> {
    let mut out = input.to_vec();
    for op in ops {
        let at = |i: &Index, len: usize| if len == 0 { 0 } else { i.index(len + 1) };
        match op {
            ByteOp::Flip(i, b) if !out.is_empty() => {
                let at = i.index(out.len());
                out[at] ^= b | 1;
            }
            ByteOp::Flip(..) => {}
            ByteOp::Delete(i, n) => {
                let start = at(i, out.len()).min(out.len());
                let end = (start + usize::from(*n)).min(out.len());
                out.drain(start..end);
            }
            ByteOp::Insert(i, t) => {
                let start = at(i, out.len()).min(out.len());
                let token = TOKENS[t.index(TOKENS.len())].as_bytes();
                out.splice(start..start, token.iter().copied());
            }
            ByteOp::Repeat(i, n) => {
                let start = at(i, out.len()).min(out.len());
                let end = (start + usize::from(*n)).min(out.len());
                let piece = out[start..end].to_vec();
                out.splice(end..end, piece);
            }
            ByteOp::Truncate(i) => {
                let len = at(i, out.len()).min(out.len());
                out.truncate(len);
            }
        }
    }
    out
}

/// Hostile JSON values, by index.
fn hostile(which: usize) -> Value {
    match which % 16 {
        0 => Value::Null,
        1 => Value::Bool(true),
        2 => serde_json::json!(-1),
        3 => serde_json::json!(u64::MAX),
        4 => serde_json::json!(1.5e300),
        5 => Value::String(String::new()),
        6 => Value::String("x".repeat(3_000)),
        7 => Value::String("\u{1f469}\u{200d}\u{1f4bb} ".repeat(2_000)),
        8 => serde_json::json!([]),
        9 => serde_json::json!({}),
        10 => serde_json::json!(["999999", "0"]),
        11 => serde_json::json!([5, 2]),
        12 => serde_json::json!([0, 4_294_967_296_u64]),
        13 => {
            let mut v = serde_json::json!("deep");
            for _ in 0..100 {
                v = serde_json::json!([v]);
            }
            v
        }
        14 => Value::String("-3".into()),
        _ => Value::String("\u{0}\u{7f}\u{fffd}".into()),
    }
}

#[derive(Debug, Clone)]
enum JsonOp {
    Replace(Index, usize),
    Remove(Index),
    Wrap(Index),
}

fn json_ops() -> impl Strategy<Value = Vec<JsonOp>> {
    let op = prop_oneof![
        4 => (any::<Index>(), 0usize..16).prop_map(|(i, w)| JsonOp::Replace(i, w)),
        1 => any::<Index>().prop_map(JsonOp::Remove),
        1 => any::<Index>().prop_map(JsonOp::Wrap),
    ];
    prop::collection::vec(op, 1..5)
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

fn mutate_json(input: &Value, ops: &[JsonOp]) -> Value {
    let mut out = input.clone();
    for op in ops {
        let total = count_nodes(&out);
        let (JsonOp::Replace(i, _) | JsonOp::Remove(i) | JsonOp::Wrap(i)) = op;
        let mut n = i.index(total);
        // Walk to the node by path instead of holding a raw pointer across edits.
        let path = path_to(&out, &mut n);
        let Some(node) = get_path(&mut out, &path) else {
            continue;
        };
        match op {
            JsonOp::Replace(_, w) => *node = hostile(*w),
            JsonOp::Remove(_) => *node = Value::Null,
            JsonOp::Wrap(_) => *node = serde_json::json!([node.take()]),
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Step {
    At(usize),
    Key(String),
}

fn path_to(v: &Value, n: &mut usize) -> Vec<Step> {
    fn walk(v: &Value, n: &mut usize, path: &mut Vec<Step>) -> bool {
        if *n == 0 {
            return true;
        }
        *n -= 1;
        match v {
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    path.push(Step::At(i));
                    if walk(c, n, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            Value::Object(o) => {
                for (k, c) in o {
                    path.push(Step::Key(k.clone()));
                    if walk(c, n, path) {
                        return true;
                    }
                    path.pop();
                }
            }
            _ => {}
        }
        false
    }
    let mut path = Vec::new();
    walk(v, n, &mut path);
    path
}

fn get_path<'a>(v: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut cur = v;
    for step in path {
        cur = match step {
            Step::At(i) => cur.get_mut(*i)?,
            Step::Key(k) => cur.get_mut(k.as_str())?,
        };
    }
    Some(cur)
}

// ---------------------------------------------------------------------------------------
// Seeds

/// The JSON array of a `<wrapper> = [ ... ]` data file.
fn js_array(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    let start = text.find('[').unwrap();
    serde_json::from_str(&text[start..]).unwrap()
}

fn archive_elements() -> Vec<Value> {
    let mut out = js_array(&root().join("examples/sample-archive/data/tweets.js"));
    for dir in [
        "tests/fixtures/classic-archive",
        "tests/fixtures/classic-archive-2018",
    ] {
        let months = root().join(dir).join("data/js/tweets");
        let mut files: Vec<PathBuf> = std::fs::read_dir(months)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            out.extend(js_array(&file));
        }
    }
    out
}

fn x_pages() -> Vec<String> {
    let mut dirs = vec![root().join("tests/fixtures/x-api")];
    let shared = root().join("../shared/fixtures/x-api-v2");
    if shared.is_dir() {
        dirs.push(shared);
    } else {
        eprintln!("fuzz: ../shared/fixtures absent; seeding from tests/fixtures only");
    }
    let mut out = Vec::new();
    for dir in dirs {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        out.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    }
    out
}

fn feeds() -> Vec<String> {
    let item = |id: u32, title: &str, html: &str| {
        format!(
            "<item><title>{title}</title><dc:creator>@fuzz_user</dc:creator>\
             <description><![CDATA[{html}]]></description>\
             <pubDate>Mon, 13 May 2024 09:{id:02}:00 GMT</pubDate>\
             <guid>https://nitter.local/fuzz_user/status/17900000000000{id:05}#m</guid>\
             <link>https://nitter.local/fuzz_user/status/17900000000000{id:05}#m</link></item>"
        )
    };
    let rss = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <rss version=\"2.0\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><channel>\
         <title>fuzz</title><link>https://nitter.local/fuzz_user</link><description>d</description>{}{}{}</channel></rss>",
        item(1, "Hello &amp; welcome #tag", "<p>Hello &amp; <a href=\"https://example.org/x?utm_source=t\">link</a> #tag</p><img src=\"https://nitter.local/pic/media%2Fabc.jpg\"/>"),
        item(2, "RT by @fuzz_user: quoted", "<p>quoted</p><blockquote><b>@other</b> inner</blockquote>"),
        item(3, "R to @other: a reply \u{1f501}", "<p><a href=\"https://nitter.local/other\">@other</a> a reply \u{1f501}</p>"),
    );
    let atom = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
        <feed xmlns=\"http://www.w3.org/2005/Atom\"><title>a</title><id>urn:a</id><updated>2024-05-13T09:00:00Z</updated>\
        <entry><title type=\"html\">Atom &lt;b&gt;post&lt;/b&gt;</title><id>https://twitter.com/fuzz_user/status/1790000000000000001</id>\
        <link rel=\"alternate\" href=\"https://twitter.com/fuzz_user/status/1790000000000000001\"/>\
        <updated>2024-05-13T09:00:00Z</updated><content type=\"html\">&lt;p&gt;Atom &lt;a href=&quot;https://t.co/x&quot;&gt;https://example.org&lt;/a&gt;&lt;/p&gt;</content>\
        <link rel=\"enclosure\" type=\"image/jpeg\" href=\"http://127.0.0.1/private.jpg\"/></entry></feed>"
        .to_owned();
    vec![rss, atom]
}

// ---------------------------------------------------------------------------------------
// Checks shared by every reader

fn owner() -> Author {
    Author {
        id: Some("1".into()),
        username: "birdbridge_demo".into(),
        display_name: None,
    }
}

/// An accepted post is well formed, and renders under tiny and ordinary limits.
fn check_post(post: &Post) {
    for facet in &post.facets {
        assert!(
            post.text.get(facet.range.clone()).is_some(),
            "facet {facet:?} outside the text or off a character boundary: {:?}",
            post.text
        );
    }
    let policy =
        RoutePolicy::from_settings(&RouteSettings::with_defaults("s", &["t"])).for_backfill();
    for (max, counting) in [
        (11, CountingRule::Mastodon),
        (24, CountingRule::CodePoints),
        (500, CountingRule::Mastodon),
    ] {
        let profile = TargetProfile {
            max_characters: max,
            counting,
            ..TargetProfile::mastodon_default()
        };
        let rendered = render(post, &profile, &policy, &Lookups::default());
        let _ = rendered.parts.len();
    }
}

// ---------------------------------------------------------------------------------------
// Targets

fn run_element(element: &str) {
    let owner = owner();
    let notes = NoteIndex::default();
    let ctx = TweetContext {
        owner: &owner,
        notes: &notes,
        locate_media: &|_| None,
    };
    if let Ok(post) = normalize_tweet(element, &ctx) {
        check_post(&post.post);
    }
}

fn run_x_page(body: &str) {
    if let Ok(page) = parse_page(body, &owner()) {
        for post in &page.posts {
            check_post(&post.post);
        }
    }
}

fn run_feed(xml: &[u8]) {
    let cx = FeedContext {
        fallback_author: "fuzz_user",
        allow_private_media: false,
        now: Utc.with_ymd_and_hms(2024, 5, 14, 0, 0, 0).unwrap(),
    };
    if let Ok(feed) = feed_rs::parser::parse(xml) {
        for entry in &feed.entries {
            if let Some(post) = normalize_entry(entry, &cx) {
                check_post(&post.post);
            }
        }
    }
    run_html(&String::from_utf8_lossy(xml));
}

/// Status HTML as Mastodon, `GoToSocial`, Pleroma, Misskey and Friendica write it, and a
/// bridge's feed description.
fn status_html() -> Vec<String> {
    [
        "<p>Hi <span class=\"h-card\" translate=\"no\"><a href=\"https://mastodon.social/@Gargron\" class=\"u-url mention\">@<span>Gargron</span></a></span> \
         <a href=\"https://example.com/very/long/path?x=1&amp;y=2\" rel=\"nofollow noopener\" translate=\"no\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/very/lon</span><span class=\"invisible\">g/path?x=1&amp;y=2</span></a><br />\
         We&rsquo;re shipping 2.0 &mdash; faster&hellip;</p><p><a href=\"https://mastodon.social/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>rust</span></a></p>",
        "<p>Hi <span class=\"h-card\"><a href=\"https://gts.example.org/@someone\" class=\"u-url mention\" rel=\"nofollow noreferrer noopener\" target=\"_blank\">@<span>someone</span></a></span>, <a href=\"https://example.org/a\" rel=\"nofollow noreferrer noopener\">https://example.org/a</a></p><pre>  code\n\n  more</pre>",
        "<span class=\"h-card\"><a class=\"u-url mention\" data-user=\"9xYz\" href=\"https://pleroma.example/users/lain\" rel=\"ugc\">@<span>lain</span></a></span> thanks!<br/><br/><a class=\"hashtag\" data-tag=\"rust\" href=\"https://pleroma.example/tag/rust\" rel=\"tag ugc\">#rust</a>",
        "<p><a href=\"https://misskey.example/@alice\" class=\"u-url mention\">@alice@misskey.example</a> @<a class=\"userinfo mention\" href=\"https://friendica.example/profile/bob\">bob</a> <img class=\"emojione custom-emoji\" alt=\":blobcat:\" src=\"https://a.example/e.png\"></p>",
        "<p>Look <a href=\"https://nitter.net/ann\">@ann</a></p><img src=\"https://nitter.net/pic/a.jpg\"/><hr/><blockquote><b>Bob</b><p>quoted</p>\
         <footer><a href=\"https://nitter.net/bob/status/42#m\">nitter.net/bob/status/42#m</a></footer></blockquote><ul><li>one</li><li>two</li></ul>",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// What the reader gives is well formed: facets in order, apart, inside the trimmed text on
/// character boundaries; and the text renders as a post.
fn check_read(read: &PlainText) {
    assert_eq!(read.text, read.text.trim(), "untrimmed: {read:?}");
    let mut end = 0;
    for facet in &read.facets {
        assert!(
            facet.range.start >= end,
            "facets overlap or are out of order: {read:?}"
        );
        assert!(
            read.text
                .get(facet.range.clone())
                .is_some_and(|s| !s.is_empty()),
            "facet {facet:?} outside the text or off a character boundary: {read:?}"
        );
        end = facet.range.end;
    }
    check_post(&Post {
        id: PostId::new("1"),
        author: owner(),
        created_at: Utc.with_ymd_and_hms(2024, 5, 14, 0, 0, 0).unwrap(),
        text: read.text.clone(),
        facets: read.facets.clone(),
        media: Vec::new(),
        references: References::default(),
        sensitive: false,
        language: None,
        url: String::new(),
    });
}

fn run_html(text: &str) {
    let feed_like = html::Options {
        omit_blockquotes: true,
        canonical_link: Some(|href| Some(format!("{href}#canonical"))),
    };
    check_read(&html::to_text(text));
    check_read(&html::to_text_with(text, &feed_like));
    let _ = html::decode_entities(text);
}

fn run_config(text: &[u8]) {
    let dir = tempfile::TempDir::new().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    let _ = Settings::load_with_env(&path, HashMap::new());
}

fn run_archive_file(name: &str, content: &[u8]) {
    let dir = tempfile::TempDir::new().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(
        data.join("account.js"),
        std::fs::read(root().join("examples/sample-archive/data/account.js")).unwrap(),
    )
    .unwrap();
    std::fs::write(data.join(name), content).unwrap();
    if let Ok(archive) = Archive::open(dir.path()) {
        if let Ok(contents) = archive.load() {
            for post in &contents.posts {
                check_post(post);
            }
        }
    }
}

#[test]
fn archive_elements_json_mutations() {
    let seeds = archive_elements();
    fuzz(
        "archive elements, JSON mutations",
        cases(),
        (any::<Index>(), json_ops()),
        |(seed, ops)| {
            let element = mutate_json(&seeds[seed.index(seeds.len())], &ops);
            run_element(&element.to_string());
        },
    );
}

#[test]
fn archive_elements_byte_mutations() {
    let seeds: Vec<String> = archive_elements()
        .iter()
        .map(|e| serde_json::to_string_pretty(e).unwrap())
        .collect();
    fuzz(
        "archive elements, byte mutations",
        cases(),
        (any::<Index>(), byte_ops()),
        |(seed, ops)| {
            let bytes = mutate_bytes(seeds[seed.index(seeds.len())].as_bytes(), &ops);
            run_element(&String::from_utf8_lossy(&bytes));
        },
    );
}

#[test]
fn x_pages_json_mutations() {
    let seeds: Vec<Value> = x_pages()
        .iter()
        .map(|p| serde_json::from_str(p).unwrap())
        .collect();
    fuzz(
        "X API pages, JSON mutations",
        cases(),
        (any::<Index>(), json_ops()),
        |(seed, ops)| run_x_page(&mutate_json(&seeds[seed.index(seeds.len())], &ops).to_string()),
    );
}

#[test]
fn x_pages_byte_mutations() {
    let seeds = x_pages();
    fuzz(
        "X API pages, byte mutations",
        cases(),
        (any::<Index>(), byte_ops()),
        |(seed, ops)| {
            let bytes = mutate_bytes(seeds[seed.index(seeds.len())].as_bytes(), &ops);
            run_x_page(&String::from_utf8_lossy(&bytes));
        },
    );
}

#[test]
fn feeds_byte_mutations() {
    let seeds = feeds();
    fuzz(
        "feeds, byte mutations",
        cases(),
        (any::<Index>(), byte_ops()),
        |(seed, ops)| {
            run_feed(&mutate_bytes(
                seeds[seed.index(seeds.len())].as_bytes(),
                &ops,
            ));
        },
    );
}

#[test]
fn status_html_byte_mutations() {
    let seeds = status_html();
    fuzz(
        "status and feed HTML, byte mutations",
        cases(),
        (any::<Index>(), byte_ops()),
        |(seed, ops)| {
            let bytes = mutate_bytes(seeds[seed.index(seeds.len())].as_bytes(), &ops);
            run_html(&String::from_utf8_lossy(&bytes));
        },
    );
}

#[test]
fn configs_byte_mutations() {
    let seeds = [
        std::fs::read(root().join("bridge.toml.example")).unwrap(),
        std::fs::read(root().join("examples/demo.toml")).unwrap(),
    ];
    fuzz(
        "configuration files, byte mutations",
        cases(),
        (any::<Index>(), byte_ops()),
        |(seed, ops)| run_config(&mutate_bytes(&seeds[seed.index(seeds.len())], &ops)),
    );
}

/// Whole files go through the disk: fewer cases. A classic month's elements are put in a
/// current-format file, so that both shapes go through the streaming reader.
#[test]
fn archive_files_byte_mutations() {
    let current = std::fs::read(root().join("examples/sample-archive/data/tweets.js")).unwrap();
    let classic = std::fs::read_to_string(
        root().join("tests/fixtures/classic-archive-2018/data/js/tweets/2018_01.js"),
    )
    .unwrap();
    let classic = format!(
        "window.YTD.tweets.part0 = {}",
        &classic[classic.find('[').unwrap()..]
    )
    .into_bytes();
    let seeds = [current, classic];
    fuzz(
        "archive files, byte mutations",
        cases() / 4 + 1,
        (any::<Index>(), byte_ops()),
        |(seed, ops)| {
            run_archive_file(
                "tweets.js",
                &mutate_bytes(&seeds[seed.index(seeds.len())], &ops),
            );
        },
    );
}
