//! The bad-input catalogue, through the real binary: broken configurations (exit 78, the
//! message names the file and the key), corrupt archives (a clear error naming the archive
//! and the file inside it; nothing written: no ledger rows, no output) and archive quirks
//! that must be read whole (a BOM, CRLF line ends, no manifest, a manifest naming absent
//! files).
//!
//! Then hostile X API answers and feeds (deep nesting, huge strings, wrong types, entity
//! indices out of range, XML entity expansion) and media downloads (redirect loops, bodies
//! over the limit without a length, a name resolving to a private address). Mutated
//! answers are in `tests/fuzz.rs`; literal private addresses and announced sizes in
//! `tests/feed.rs`; media types a server refuses in `tests/fediverse.rs`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use rstest::rstest;
use tempfile::TempDir;

fn sample_archive() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive")
}

const TARGET: &str = "[targets.t]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n";
const ROUTE: &str = "[routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n";

fn source(archive: &Path) -> String {
    format!(
        "[sources.s]\nkind = \"archive\"\npath = {:?}\n",
        archive.display().to_string()
    )
}

/// A folder with `bridge.toml` holding `text`.
struct Case {
    dir: TempDir,
}

impl Case {
    fn new(text: &str) -> Self {
        let dir = TempDir::new().unwrap();
        fs::write(dir.path().join("bridge.toml"), text).unwrap();
        Self { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("bridge.toml")
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::cargo_bin("birdbridge").unwrap();
        cmd.arg("--config").arg(self.config()).args(args);
        cmd.env("BIRDBRIDGE_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// Nothing was written next to the configuration but the configuration itself (and
    /// an empty ledger, which opening may create).
    fn assert_nothing_written(&self) {
        let ledger = self.dir.path().join("ledger.sqlite");
        if ledger.exists() {
            let conn = rusqlite_free_count(&ledger);
            assert_eq!(conn, 0, "the ledger holds parts");
        }
        let out = self.dir.path().join("out.jsonl");
        assert!(
            !out.exists() || fs::read(&out).unwrap().is_empty(),
            "the dry-run output was written"
        );
    }
}

/// Parts in a ledger, through the library (read-only use).
fn rusqlite_free_count(ledger: &Path) -> u64 {
    let ledger = birdbridge::store::Ledger::open(ledger).unwrap();
    ledger.state_counts().unwrap().iter().map(|c| c.count).sum()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// ---------------------------------------------------------------------------------------
// Configurations

const LEDGER: &str = "[ledger]\npath = \"ledger.sqlite\"\n";
const X: &str = "[sources.x]\nkind = \"x\"\nusername = \"birdbridge_t\"\ntoken_file = \"x.token\"\nschedule = \"0 */5 * * * *\"\n";
const MASTODON: &str =
    "[targets.m]\nkind = \"mastodon\"\nurl = \"https://m.example\"\ntoken_file = \"m.token\"\n";

/// 30 broken configurations; each must exit 78 with a message naming the file and `key`.
#[rstest]
#[case::unknown_top_level_key(&["colour = \"blue\"\n"], "colour")]
#[case::ledger_path_not_a_string(&["[ledger]\npath = 5\n"], "ledger.path")]
#[case::ledger_unknown_key(&["[ledger]\npath = \"l\"\njournal = \"wal\"\n"], "ledger.journal")]
#[case::source_without_kind(&["[sources.s]\npath = \"a.zip\"\n", TARGET, ROUTE], "sources.s.kind")]
#[case::archive_path_not_a_string(&["[sources.s]\nkind = \"archive\"\npath = [1]\n", TARGET, ROUTE], "sources.s.path")]
#[case::x_bad_username(&[&X.replace("birdbridge_t", "not valid!"), TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.username")]
#[case::x_bad_schedule(&[&X.replace("0 */5 * * * *", "hourly"), TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.schedule")]
#[case::x_api_url_not_a_url(&[X, "api_url = \"api.x.com\"\n", TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.api_url")]
#[case::x_without_token(&["[sources.x]\nkind = \"x\"\nusername = \"a\"\nschedule = \"0 * * * * *\"\n", TARGET, "[routes.r]\nsource = \"x\"\ntargets = [\"t\"]\n"], "sources.x.token_file")]
#[case::feed_url_not_http(&["[sources.f]\nkind = \"feed\"\nurl = \"ftp://feeds.example/a\"\nschedule = \"0 * * * * *\"\n", TARGET, "[routes.r]\nsource = \"f\"\ntargets = [\"t\"]\n"], "sources.f.url")]
#[case::target_kind_typo(&["SOURCE", "[targets.t]\nkind = \"gotosocail\"\n", ROUTE], "targets.t.kind")]
#[case::target_without_url(&["SOURCE", "[targets.m]\nkind = \"mastodon\"\ntoken_file = \"m.token\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.url")]
#[case::target_url_not_a_url(&["SOURCE", &MASTODON.replace("https://m.example", "m example"), "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.url")]
#[case::target_two_token_forms(&["SOURCE", MASTODON, "token_env = \"TOK\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.token")]
#[case::target_empty_token_env(&["SOURCE", "[targets.m]\nkind = \"mastodon\"\nurl = \"https://m.example\"\ntoken_env = \"\"\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.token_env")]
#[case::dry_run_output_not_a_string(&["SOURCE", "[targets.t]\nkind = \"dry-run\"\noutput = 5\n", ROUTE], "targets.t.output")]
#[case::max_characters_zero(&["SOURCE", MASTODON, "max_characters = 0\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.max_characters")]
#[case::max_media_negative(&["SOURCE", MASTODON, "max_media_attachments = -4\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.max_media_attachments")]
#[case::backfill_share_above_one(&["SOURCE", MASTODON, "backfill_share = 1.5\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.backfill_share")]
#[case::timeout_zero(&["SOURCE", MASTODON, "timeout_seconds = 0\n", "[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n"], "targets.m.timeout_seconds")]
#[case::route_unknown_source(&["SOURCE", TARGET, "[routes.r]\nsource = \"nope\"\ntargets = [\"t\"]\n"], "routes.r.source")]
#[case::route_unknown_target(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\"\ntargets = [\"tt\"]\n"], "routes.r.targets")]
#[case::route_no_targets(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\"\ntargets = []\n"], "routes.r.targets")]
#[case::route_bad_visibility(&["SOURCE", TARGET, ROUTE, "visibility = \"everyone\"\n"], "routes.r.visibility")]
#[case::route_bad_reposts(&["SOURCE", TARGET, ROUTE, "reposts = \"always\"\n"], "routes.r.reposts")]
#[case::route_max_age_negative(&["SOURCE", TARGET, ROUTE, "max_age_days = -1\n"], "routes.r.max_age_days")]
#[case::route_opt_out_tags_not_a_list(&["SOURCE", TARGET, ROUTE, "opt_out_tags = \"noxp\"\n"], "routes.r.opt_out_tags")]
#[case::route_mention_map_bad_handle(&["SOURCE", TARGET, ROUTE, "mention_map = { ann_example = \"ann\" }\n"], "routes.r.mention_map")]
#[case::toml_duplicate_key(&["SOURCE", "[targets.t]\nkind = \"dry-run\"\nkind = \"dry-run\"\noutput = \"o\"\n", ROUTE], "kind")]
#[case::toml_unclosed_string(&["SOURCE", TARGET, "[routes.r]\nsource = \"s\ntargets = [\"t\"]\n"], "line")]
fn broken_configurations_exit_78_naming_the_file_and_key(
    #[case] parts: &[&str],
    #[case] key: &str,
) {
    let archive = source(&sample_archive());
    let ledger = if parts[0].starts_with("[ledger]") {
        ""
    } else {
        LEDGER
    };
    let text: String = std::iter::once(ledger)
        .chain(
            parts
                .iter()
                .map(|p| if *p == "SOURCE" { archive.as_str() } else { p }),
        )
        .collect();
    let case = Case::new(&text);
    for args in [&["backfill", "--route", "r"][..], &["once"], &["status"]] {
        let out = case.run(args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(78), "{args:?}: {err}");
        assert!(
            err.contains("bridge.toml"),
            "{args:?}: no file named: {err}"
        );
        assert!(err.contains(key), "{args:?}: key `{key}` not named: {err}");
    }
    case.assert_nothing_written();
}

/// An environment override with a broken value is named by its key too.
#[test]
fn a_broken_environment_override_exits_78_naming_the_key() {
    let case = Case::new(&format!(
        "{LEDGER}{}{MASTODON}[routes.r]\nsource = \"s\"\ntargets = [\"m\"]\n",
        source(&sample_archive())
    ));
    let out = case.run(
        &["backfill", "--route", "r"],
        &[("BIRDBRIDGE__TARGETS__M__MAX_CHARACTERS", "many")],
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(78), "{err}");
    assert!(err.contains("max_characters"), "{err}");
    case.assert_nothing_written();
}

// ---------------------------------------------------------------------------------------
// Archives

/// A copy of the sample archive as a folder, changed by `edit`.
fn sample_copy(dir: &Path, edit: impl FnOnce(&Path)) -> PathBuf {
    let root = dir.join("archive");
    copy_dir(&sample_archive(), &root);
    edit(&root);
    root
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A zip at `path` with `entries` (name, bytes), deflated.
fn write_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    for (name, bytes) in entries {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(bytes.len() > u32::MAX as usize);
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn sample_file(name: &str) -> Vec<u8> {
    fs::read(sample_archive().join("data").join(name)).unwrap()
}

fn account() -> (&'static str, Vec<u8>) {
    ("data/account.js", sample_file("account.js"))
}

/// How a corrupt archive is made, in a scratch folder; returns its path.
type Make = fn(&Path) -> PathBuf;

fn truncated_zip(dir: &Path) -> PathBuf {
    let path = dir.join("a.zip");
    write_zip(
        &path,
        &[account(), ("data/tweets.js", sample_file("tweets.js"))],
    );
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    path
}

fn empty_zip_file(dir: &Path) -> PathBuf {
    let path = dir.join("a.zip");
    fs::write(&path, b"").unwrap();
    path
}

fn not_a_zip(dir: &Path) -> PathBuf {
    let path = dir.join("a.zip");
    fs::write(&path, b"<html>404 Not Found</html>").unwrap();
    path
}

fn entry_escaping_its_folder(dir: &Path) -> PathBuf {
    let path = dir.join("a.zip");
    write_zip(
        &path,
        &[account(), ("../data/tweets.js", sample_file("tweets.js"))],
    );
    path
}

fn zip_bomb(dir: &Path) -> PathBuf {
    // 24 MiB of one string (the bound is 8 MiB): a few hundred kilobytes packed.
    let mut bytes = b"window.YTD.tweets.part0 = [ { \"tweet\" : { \"full_text\" : \"".to_vec();
    bytes.resize(bytes.len() + 24 * 1024 * 1024, b'a');
    bytes.extend_from_slice(b"\" } } ]");
    let path = dir.join("a.zip");
    write_zip(&path, &[account(), ("data/tweets.js", bytes)]);
    path
}

fn utf16_posts(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        let text = String::from_utf8(sample_file("tweets.js")).unwrap();
        let mut bytes = vec![0xff, 0xfe];
        for unit in text.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        fs::write(root.join("data/tweets.js"), bytes).unwrap();
    })
}

fn latin1_bytes_in_a_string(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        let mut bytes = sample_file("tweets.js");
        let at = bytes.windows(6).position(|w| w == b"Launch").unwrap();
        bytes[at] = 0xe9;
        fs::write(root.join("data/tweets.js"), bytes).unwrap();
    })
}

fn empty_posts_file(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::write(root.join("data/tweets.js"), b"").unwrap();
    })
}

fn wrapper_only(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::write(root.join("data/tweets.js"), b"window.YTD.tweets.part0 = ").unwrap();
    })
}

fn truncated_posts(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        let bytes = sample_file("tweets.js");
        fs::write(root.join("data/tweets.js"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    })
}

fn posts_an_object(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::write(
            root.join("data/tweets.js"),
            b"window.YTD.tweets.part0 = { }",
        )
        .unwrap();
    })
}

fn broken_manifest(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::write(
            root.join("data/manifest.js"),
            b"window.__THAR_CONFIG = { \"userInfo\" : ",
        )
        .unwrap();
    })
}

fn broken_circle_file(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        let bytes = sample_file("twitter-circle-tweet.js");
        fs::write(
            root.join("data/twitter-circle-tweet.js"),
            &bytes[..bytes.len() / 2],
        )
        .unwrap();
    })
}

fn no_posts_file(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::remove_file(root.join("data/tweets.js")).unwrap();
        fs::remove_file(root.join("data/manifest.js")).unwrap();
    })
}

fn no_owner(dir: &Path) -> PathBuf {
    sample_copy(dir, |root| {
        fs::remove_file(root.join("data/manifest.js")).unwrap();
        fs::remove_file(root.join("data/account.js")).unwrap();
    })
}

fn missing_path(dir: &Path) -> PathBuf {
    dir.join("twitter-2024-01-01-nothing.zip")
}

fn unsupported_compression(dir: &Path) -> PathBuf {
    // A stored entry relabelled as bzip2, which this build does not inflate.
    let path = dir.join("a.zip");
    let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
    for (name, bytes) in [account(), ("data/tweets.js", sample_file("tweets.js"))] {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        zip.start_file(name, options).unwrap();
        zip.write_all(&bytes).unwrap();
    }
    zip.finish().unwrap();
    let mut bytes = fs::read(&path).unwrap();
    for (signature, offset) in [(b"PK\x03\x04", 8), (b"PK\x01\x02", 10)] {
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(4).position(|w| w == signature) {
            let header = at + found;
            bytes[header + offset] = 12;
            at = header + 4;
        }
    }
    fs::write(&path, bytes).unwrap();
    path
}

fn a_folder_of_something_else(dir: &Path) -> PathBuf {
    let root = dir.join("photos");
    fs::create_dir_all(root.join("2024")).unwrap();
    fs::write(root.join("2024/beach.jpg"), b"\xff\xd8\xff").unwrap();
    root
}

/// Corrupt archives: each fails (exit 1) with a message naming the archive (and, where
/// there is one, the file inside it and what is wrong), and nothing is written.
#[rstest]
#[case::truncated_zip(truncated_zip, "not a readable zip")]
#[case::empty_zip_file(empty_zip_file, "not a readable zip")]
#[case::not_a_zip(not_a_zip, "not a readable zip")]
#[case::entry_escaping_its_folder(entry_escaping_its_folder, "no posts file found")]
#[case::zip_bomb(zip_bomb, "larger than")]
#[case::utf16_posts(utf16_posts, "data/tweets.js")]
#[case::latin1_bytes_in_a_string(latin1_bytes_in_a_string, "data/tweets.js")]
#[case::empty_posts_file(empty_posts_file, "data/tweets.js")]
#[case::wrapper_only(wrapper_only, "data/tweets.js")]
#[case::truncated_posts(truncated_posts, "ends before the JSON is complete")]
#[case::posts_an_object(posts_an_object, "data/tweets.js")]
#[case::broken_manifest(broken_manifest, "data/manifest.js")]
#[case::broken_circle_file(broken_circle_file, "data/twitter-circle-tweet.js")]
#[case::no_posts_file(no_posts_file, "no posts file found")]
#[case::no_owner(no_owner, "cannot tell whose archive")]
#[case::missing_path(missing_path, "no such file or folder")]
#[case::unsupported_compression(unsupported_compression, "cannot read")]
#[case::a_folder_of_something_else(a_folder_of_something_else, "no posts file found")]
fn corrupt_archives_fail_clearly_and_write_nothing(#[case] make: Make, #[case] what: &str) {
    let scratch = TempDir::new().unwrap();
    let archive = make(scratch.path());
    let case = Case::new(&format!("{LEDGER}{}{TARGET}{ROUTE}", source(&archive)));
    let started = std::time::Instant::now();
    let out = case.run(&["backfill", "--route", "r"], &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let shown = archive.display().to_string();
    assert!(err.contains(&shown), "the archive is not named: {err}");
    assert!(err.contains(what), "`{what}` not said: {err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    case.assert_nothing_written();
}

/// Quirks of real archives that must be read whole: the posts come out as from the
/// untouched sample.
#[rstest]
#[case::byte_order_mark(|root: &Path| {
    let mut bytes = b"\xef\xbb\xbf".to_vec();
    bytes.extend(sample_file("tweets.js"));
    fs::write(root.join("data/tweets.js"), bytes).unwrap();
})]
#[case::crlf_line_ends(|root: &Path| {
    let text = String::from_utf8(sample_file("tweets.js")).unwrap();
    fs::write(root.join("data/tweets.js"), text.replace('\n', "\r\n")).unwrap();
})]
#[case::no_manifest(|root: &Path| fs::remove_file(root.join("data/manifest.js")).unwrap())]
#[case::manifest_naming_absent_files(|root: &Path| {
    let text = String::from_utf8(sample_file("manifest.js")).unwrap();
    let text = text.replace("data/tweets.js", "data/tweets-part7.js");
    assert!(text.contains("tweets-part7"));
    fs::write(root.join("data/manifest.js"), text).unwrap();
})]
fn archive_quirks_are_read_whole(#[case] edit: fn(&Path)) {
    let scratch = TempDir::new().unwrap();
    let archive = sample_copy(scratch.path(), edit);
    let edited = birdbridge::sources::archive::Archive::open(&archive)
        .unwrap()
        .load()
        .unwrap();
    let sample = birdbridge::sources::archive::Archive::open(&sample_archive())
        .unwrap()
        .load()
        .unwrap();
    assert!(edited.malformed.is_empty(), "{:?}", edited.malformed);
    // Media paths point into each copy; the rest is the same.
    let summary = |posts: &[birdbridge::model::Post]| -> Vec<(String, String, usize)> {
        posts
            .iter()
            .map(|p| (p.id.as_str().to_owned(), p.text.clone(), p.media.len()))
            .collect()
    };
    assert_eq!(summary(&edited.posts), summary(&sample.posts));
}

// ---------------------------------------------------------------------------------------
// Hostile X API answers and feeds

fn x_owner() -> birdbridge::model::Author {
    birdbridge::model::Author {
        id: Some("42".into()),
        username: "birdbridge_t".into(),
        display_name: None,
    }
}

fn x_page(data: &serde_json::Value) -> String {
    serde_json::json!({"data": [data], "meta": {"result_count": 1}}).to_string()
}

fn x_post(text: &str, entities: &serde_json::Value) -> serde_json::Value {
    serde_json::json!({
        "id": "1790000000000000001", "text": text, "author_id": "42",
        "created_at": "2024-05-13T09:00:00.000Z", "entities": entities,
        "edit_history_tweet_ids": ["1790000000000000001"]
    })
}

/// Hostile X API answers: each is either refused as a whole with a clear error, or read
/// with the bad entry listed as malformed, or read with the bad part ignored; never a
/// panic, and every facet of an accepted post lies on the text's character boundaries.
#[rstest]
#[case::deep_nesting({
    let mut v = String::from("1");
    for _ in 0..100_000 {
        v = format!("[{v}]");
    }
    format!("{{\"data\": {v}}}")
})]
#[case::huge_text(x_page(&x_post(&"long ".repeat(400_000), &serde_json::json!({}))))]
#[case::text_a_number(x_page(&serde_json::json!({"id": "1", "text": 5})))]
#[case::data_an_object("{\"data\": {\"id\": \"1\"}}".to_owned())]
#[case::id_an_object(x_page(&serde_json::json!({"id": {"x": 1}, "text": "t"})))]
#[case::indices_out_of_range(x_page(&x_post("short", &serde_json::json!({
    "urls": [{"start": 3, "end": 4_000_000_000_u64, "url": "https://t.co/x", "expanded_url": "https://e.org"}],
    "mentions": [{"start": 90, "end": 95, "username": "ghost"}]
}))))]
#[case::indices_reversed(x_page(&x_post("a #tag here", &serde_json::json!({
    "hashtags": [{"start": 6, "end": 2, "tag": "tag"}]
}))))]
#[case::indices_inside_an_emoji(x_page(&x_post("\u{1f469}\u{200d}\u{1f4bb} #dev", &serde_json::json!({
    "hashtags": [{"start": 1, "end": 2, "tag": "dev"}],
    "mentions": [{"start": 0, "end": 7, "username": "x"}]
}))))]
#[case::indices_negative(x_page(&x_post("a #tag", &serde_json::json!({
    "hashtags": [{"start": -2, "end": 6, "tag": "tag"}]
}))))]
#[case::entity_fields_wrong_types(x_page(&x_post("a #tag", &serde_json::json!({
    "hashtags": [{"start": "2", "end": [6], "tag": 7}], "urls": "none"
}))))]
#[case::null_everywhere(x_page(&serde_json::json!({
    "id": "1", "text": null, "entities": null, "attachments": null, "referenced_tweets": null
})))]
#[case::not_json("<html><body>Over capacity</body></html>".to_owned())]
fn hostile_x_answers_never_panic(#[case] body: String) {
    let started = std::time::Instant::now();
    match birdbridge::normalize::x::parse_page(&body, &x_owner()) {
        Err(e) => assert!(!e.to_string().is_empty()),
        Ok(page) => {
            for post in &page.posts {
                for facet in &post.post.facets {
                    assert!(
                        post.post.text.get(facet.range.clone()).is_some(),
                        "{facet:?} off the text {:?}",
                        post.post.text
                    );
                }
            }
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

/// XML entity expansion ("billion laughs") and an external entity in a feed: nothing is
/// expanded, no file is read, and the item (if read at all) stays small.
#[test]
fn feed_entity_expansion_is_not_performed() {
    let mut dtd = String::from(
        "<!DOCTYPE rss [<!ENTITY lol \"lol\"><!ENTITY xxe SYSTEM \"file:///etc/passwd\">",
    );
    for i in 1..10 {
        let prev = if i == 1 {
            "lol".to_owned()
        } else {
            format!("lol{}", i - 1)
        };
        let body = format!("&{prev};").repeat(10);
        dtd += &["<!ENTITY lol", &i.to_string(), " \"", &body, "\">"].concat();
    }
    dtd.push_str("]>");
    let xml = format!(
        "<?xml version=\"1.0\"?>{dtd}<rss version=\"2.0\"><channel><title>t</title>\
         <item><title>&lol9; &xxe;</title><description>&lol9;</description>\
         <link>https://nitter.local/u/status/1#m</link><guid>1</guid></item></channel></rss>"
    );
    let started = std::time::Instant::now();
    let cx = birdbridge::normalize::feed::FeedContext {
        fallback_author: "u",
        allow_private_media: false,
        now: chrono::Utc::now(),
    };
    if let Ok(feed) = feed_rs::parser::parse(xml.as_bytes()) {
        for entry in &feed.entries {
            if let Some(post) = birdbridge::normalize::feed::normalize_entry(entry, &cx) {
                assert!(
                    post.post.text.len() < 10_000,
                    "expanded: {} bytes",
                    post.post.text.len()
                );
                assert!(
                    !post.post.text.contains("root:"),
                    "an external entity was read"
                );
            }
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------------
// Media downloads (feeds name media by URL)

/// A small HTTP server on 127.0.0.1: `/loop` redirects to itself; `/endless.jpg` sends
/// 64 KiB in chunks without announcing a length.
async fn media_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let request = String::from_utf8_lossy(&request[..n]);
                if request.starts_with("GET /loop") {
                    let _ = socket
                        .write_all(
                            b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
                        )
                        .await;
                } else {
                    let _ = socket
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                        .await;
                    let chunk = [b"400\r\n".as_slice(), &[7u8; 1024], b"\r\n"].concat();
                    for _ in 0..64 {
                        if socket.write_all(&chunk).await.is_err() {
                            return;
                        }
                    }
                    let _ = socket.write_all(b"0\r\n\r\n").await;
                }
            });
        }
    });
    base
}

#[tokio::test]
async fn media_redirect_loops_and_unannounced_sizes_are_bounded() {
    use birdbridge::fetch::{FetchError, MediaFetcher};
    let base = media_server().await;
    let dir = TempDir::new().unwrap();
    let fetcher = MediaFetcher::new().unwrap();
    let looped = fetcher
        .download_to_file(&format!("{base}/loop"), true, 16 * 1024, dir.path())
        .await;
    assert!(
        matches!(&looped, Err(FetchError::Redirects(_))),
        "{looped:?}"
    );
    let endless = fetcher
        .download_to_file(&format!("{base}/endless.jpg"), true, 16 * 1024, dir.path())
        .await;
    assert!(
        matches!(endless, Err(FetchError::TooLarge { .. })),
        "{endless:?}"
    );
    // Nothing of the refused body is left behind.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    // Within the bound, the same body is read whole.
    let whole = fetcher
        .download_to_file(
            &format!("{base}/endless.jpg"),
            true,
            1024 * 1024,
            dir.path(),
        )
        .await
        .unwrap();
    assert_eq!(whole.size, 64 * 1024);
    assert_eq!(fs::metadata(&whole.path).unwrap().len(), 64 * 1024);
}

/// A name (not a literal address) that resolves to a non-public address is refused when
/// the connection is made: the resolver hands the client only checked addresses, so there
/// is no second lookup to rebind. This machine's own host name resolves to a private or
/// loopback address here.
#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_refused() {
    use birdbridge::fetch::{FetchError, MediaFetcher};
    let base = media_server().await;
    let port = base.rsplit(':').next().unwrap().to_owned();
    let Ok(host) = fs::read_to_string("/etc/hostname") else {
        eprintln!("no /etc/hostname; skipped");
        return;
    };
    let host = host.trim();
    let resolved: Vec<std::net::SocketAddr> = match tokio::net::lookup_host((host, 80)).await {
        Ok(found) => found.collect(),
        Err(_) => Vec::new(),
    };
    if host.is_empty()
        || resolved.is_empty()
        || resolved
            .iter()
            .any(|a| birdbridge::fetch::is_public(a.ip()))
    {
        eprintln!("the host name {host:?} does not resolve to private addresses only; skipped");
        return;
    }
    let dir = TempDir::new().unwrap();
    let fetcher = MediaFetcher::new().unwrap();
    let url = format!("http://{host}:{port}/endless.jpg");
    let refused = fetcher
        .download_to_file(&url, false, 1024 * 1024, dir.path())
        .await;
    assert!(
        matches!(&refused, Err(FetchError::Transport(e)) if format!("{e:?}").contains("non-public")),
        "{refused:?}"
    );
    // With the route's permission the same name is fetched.
    assert!(fetcher
        .download_to_file(&url, true, 1024 * 1024, dir.path())
        .await
        .is_ok());
}
