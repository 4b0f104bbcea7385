//! Tests for `bridge.toml` loading: the embedded example, every kind of mistake and its
//! message, environment overrides, path resolution, default ledger paths, and secrets.
//!
//! The environment is always passed as a map (`load_with_env`): tests run in parallel and
//! must not set process variables.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use birdbridge::config::{
    AltTextPolicy, ArchiveSourceSettings, ConfigError, ContentWarningRule, DeskSettings,
    DryRunTargetSettings, FediverseSourceSettings, FediverseTargetSettings, FeedSourceSettings,
    LedgerSettings, MetricsSettings, ReplyPolicy, RepostPolicy, RouteSettings, SecretSource,
    ServerKind, Settings, SourceSettings, TargetSettings, Visibility, XCredentials,
    XSourceSettings, XTargetSettings, EXAMPLE_CONFIG,
};
use rstest::rstest;
use serde::de::{self, Deserialize, Deserializer, Visitor};
use tempfile::TempDir;

/// Writes `text` as `bridge.toml` in a fresh folder.
fn write_config(text: &str) -> (TempDir, PathBuf) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
        .collect()
}

fn load(text: &str, vars: &[(&str, &str)]) -> (TempDir, Result<Settings, ConfigError>) {
    let (dir, path) = write_config(text);
    let result = Settings::load_with_env(&path, env(vars));
    (dir, result)
}

const SOURCE: &str = "[sources.s]\nkind = \"archive\"\npath = \"a.zip\"\n";
const TARGET: &str = "[targets.t]\nkind = \"dry-run\"\n";
const ROUTE: &str = "[routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n";
const X_SOURCE: &str = "[sources.s]\nkind = \"x\"\nusername = \"Wikipedia\"\ntoken_env = \"X\"\n";

#[test]
fn the_example_loads_with_its_sources_targets_and_routes() {
    let (dir, settings) = load(EXAMPLE_CONFIG, &[]);
    let settings = settings.unwrap();
    assert_eq!(settings.file, dir.path().join("bridge.toml"));

    let SourceSettings::X(x) = &settings.sources["wikipedia"] else {
        panic!(
            "wikipedia is not an x source: {:?}",
            settings.sources["wikipedia"]
        );
    };
    assert_eq!(x.username, "Wikipedia");
    assert_eq!(x.schedule, "0 */5 * * * *");
    assert_eq!(x.api_url, "https://api.x.com");
    assert!(matches!(&x.token, SecretSource::File(path)
        if path == Path::new("/run/credentials/birdbridge.service/x-token")));
    let SourceSettings::Archive(archive) = &settings.sources["old-tweets"] else {
        panic!("old-tweets is not an archive");
    };
    assert_eq!(archive.path, Path::new("/srv/twitter-2024-05-01.zip"));
    let SourceSettings::Feed(feed) = &settings.sources["blog"] else {
        panic!("blog is not a feed");
    };
    assert_eq!(feed.url, "https://blog.example.org/feed.xml");
    let SourceSettings::Fediverse(fedi) = &settings.sources["org-fedi"] else {
        panic!("org-fedi is not a fediverse source");
    };
    assert_eq!(fedi.server, ServerKind::Mastodon);
    assert_eq!(fedi.url, "https://social.example.org");
    assert!(fedi.stream);
    assert_eq!(settings.sources.len(), 4);

    let TargetSettings::Fediverse(mastodon) = &settings.targets["wikis-world"] else {
        panic!("wikis-world is not a fediverse target");
    };
    assert_eq!(mastodon.kind, ServerKind::Mastodon);
    assert_eq!(mastodon.url, "https://wikis.world");
    let TargetSettings::Fediverse(gts) = &settings.targets["archive-mirror"] else {
        panic!("archive-mirror is not a fediverse target");
    };
    assert_eq!(gts.kind, ServerKind::GoToSocial);
    assert!(matches!(&gts.token, SecretSource::Env(var) if var == "GTS_TOKEN"));
    let TargetSettings::DryRun(preview) = &settings.targets["preview"] else {
        panic!("preview is not a dry run");
    };
    assert_eq!(preview.output, "-");
    assert_eq!(
        (
            preview.max_characters,
            preview.max_media_attachments,
            preview.characters_reserved_per_url,
            preview.description_limit
        ),
        (500, 4, 23, 1500)
    );
    let TargetSettings::X(x) = &settings.targets["x-org"] else {
        panic!("x-org is not an x target");
    };
    assert!(
        matches!(&x.credentials, XCredentials::OAuth1 { access_token: SecretSource::File(p), .. }
        if p == Path::new("/var/lib/birdbridge/x-access-token"))
    );
    assert_eq!(x.max_spend_per_day, Some(2.0));
    assert_eq!(settings.targets.len(), 4);

    let summary: Vec<(&str, &str, Vec<&str>, Visibility)> = settings
        .routes
        .iter()
        .map(|(name, route)| {
            (
                name.as_str(),
                route.source.as_str(),
                route.targets.iter().map(String::as_str).collect(),
                route.visibility,
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "backfill",
                "old-tweets",
                vec!["archive-mirror"],
                Visibility::Unlisted
            ),
            (
                "fediverse-first",
                "org-fedi",
                vec!["x-org"],
                Visibility::Public
            ),
            (
                "wikipedia",
                "wikipedia",
                vec!["wikis-world", "preview"],
                Visibility::Public
            ),
        ]
    );
}

/// The keys written in the example, active or commented out (`# key = value`), per table.
fn example_keys_by_table() -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in EXAMPLE_CONFIG.lines() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            tables.entry(header.to_owned()).or_default();
            current = Some(header.to_owned());
            continue;
        }
        let Some(table) = &current else { continue };
        let assignment = line.strip_prefix('#').unwrap_or(line).trim();
        let Some((key, _)) = assignment.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let is_key = key.starts_with(|c: char| c.is_ascii_lowercase())
            && key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if is_key {
            tables.get_mut(table).unwrap().insert(key.to_owned());
        }
    }
    tables
}

/// The keys a settings type accepts, as its `Deserialize` impl declares them: serde hands a
/// struct's field names to `deserialize_struct` (the same list unknown keys are refused
/// against), and this deserializer only records them.
fn accepted_keys<'de, T: Deserialize<'de>>() -> BTreeSet<String> {
    struct Fields<'a>(&'a mut BTreeSet<String>);
    impl<'de> Deserializer<'de> for Fields<'_> {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("not a table"))
        }
        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0
                .extend(fields.iter().map(|field| (*field).to_owned()));
            Err(de::Error::custom("recorded"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }
    let mut keys = BTreeSet::new();
    let _ = T::deserialize(Fields(&mut keys));
    assert!(
        !keys.is_empty(),
        "{} is not read as a table",
        std::any::type_name::<T>()
    );
    keys
}

/// The keys of a `[sources.NAME]` or `[targets.NAME]` table: `kind` and its variant's keys.
fn with_kind(mut keys: BTreeSet<String>) -> BTreeSet<String> {
    keys.insert("kind".to_owned());
    keys
}

#[test]
fn the_example_documents_exactly_the_keys_the_parser_accepts() {
    let (_dir, settings) = load(EXAMPLE_CONFIG, &[]);
    let settings = settings.unwrap();
    let mut documented: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (table, table_keys) in example_keys_by_table() {
        let (section, name) = table.split_once('.').unwrap_or((table.as_str(), ""));
        let group = match section {
            "ledger" => "ledger",
            "metrics" => "metrics",
            "desk" => "desk",
            "sources" => match &settings.sources[name] {
                SourceSettings::X(_) => "x source",
                SourceSettings::Archive(_) => "archive source",
                SourceSettings::Feed(_) => "feed source",
                SourceSettings::Fediverse(_) => "fediverse source",
            },
            "targets" => match &settings.targets[name] {
                TargetSettings::Fediverse(_) => "fediverse target",
                TargetSettings::DryRun(_) => "dry-run target",
                TargetSettings::X(_) => "x target",
            },
            "routes" => "route",
            other => panic!("unexpected table [{other}] in the example"),
        };
        documented.entry(group).or_default().extend(table_keys);
        documented
            .entry("top")
            .or_default()
            .insert(section.to_owned());
    }
    let accepted: BTreeMap<&str, BTreeSet<String>> = BTreeMap::from([
        ("top", accepted_keys::<Settings>()),
        ("ledger", accepted_keys::<LedgerSettings>()),
        ("metrics", accepted_keys::<MetricsSettings>()),
        ("desk", accepted_keys::<DeskSettings>()),
        ("x source", with_kind(accepted_keys::<XSourceSettings>())),
        (
            "archive source",
            with_kind(accepted_keys::<ArchiveSourceSettings>()),
        ),
        (
            "feed source",
            with_kind(accepted_keys::<FeedSourceSettings>()),
        ),
        (
            "fediverse source",
            with_kind(accepted_keys::<FediverseSourceSettings>()),
        ),
        (
            "fediverse target",
            with_kind(accepted_keys::<FediverseTargetSettings>()),
        ),
        (
            "dry-run target",
            with_kind(accepted_keys::<DryRunTargetSettings>()),
        ),
        ("x target", with_kind(accepted_keys::<XTargetSettings>())),
        ("route", accepted_keys::<RouteSettings>()),
    ]);
    assert_eq!(
        documented.keys().collect::<Vec<_>>(),
        accepted.keys().collect::<Vec<_>>(),
        "the example lacks a kind of table"
    );
    for (group, want) in accepted {
        assert_eq!(
            documented.get(group),
            Some(&want),
            "keys documented for {group} differ from the accepted ones"
        );
    }
}

#[rstest]
#[case::unknown_key_with_hint(
    &[SOURCE, TARGET, "outptu = \"-\"\n", ROUTE],
    "unknown key `targets.t.outptu` (did you mean `output`?)"
)]
#[case::unknown_section(&["[ledgr]\npath = \"x\"\n", SOURCE, TARGET, ROUTE],
    "unknown key `ledgr` (did you mean `ledger`?)")]
#[case::key_of_another_kind(&[SOURCE, "username = \"a\"\n", TARGET, ROUTE],
    "unknown key `sources.s.username`")]
#[case::unknown_target_kind(
    &[SOURCE, "[targets.t]\nkind = \"mastadon\"\n", ROUTE],
    "`targets.t.kind`: unknown kind `mastadon`, expected one of `mastodon`, `pleroma`, \
     `gotosocial`, `friendica`, `firefish`, `pixelfed`, `snac`, `takahe`, `auto`, `dry-run`, `x` \
     (did you mean `mastodon`?)"
)]
#[case::unknown_source_kind(&["[sources.s]\nkind = \"rss\"\n", TARGET, ROUTE],
    "`sources.s.kind`: unknown kind `rss`, expected one of `x`, `archive`, `feed`")]
#[case::kind_not_a_string(&["[sources.s]\nkind = 1\n", TARGET, ROUTE],
    "`sources.s.kind`: expected a string, found integer `1`")]
#[case::number_as_string(&[SOURCE, TARGET, "max_characters = \"500\"\n", ROUTE],
    "`targets.t.max_characters`: expected a non-negative integer, found string \"500\"")]
#[case::negative_number(&[SOURCE, TARGET, "description_limit = -1\n", ROUTE],
    "`targets.t.description_limit`: expected a non-negative integer, found integer `-1`")]
#[case::zero_characters(&[SOURCE, TARGET, "max_characters = 0\n", ROUTE],
    "`targets.t.max_characters`: must be at least 1")]
#[case::section_not_a_table(&["sources = 5\n", TARGET, ROUTE],
    "`sources`: expected a table, found integer `5`")]
#[case::named_entry_not_a_table(&["[sources]\ns = \"archive\"\n", TARGET, ROUTE],
    "`sources.s`: expected a table, found string \"archive\"")]
#[case::missing_kind(&["[sources.s]\npath = \"a.zip\"\n", TARGET, ROUTE],
    "missing key `sources.s.kind`")]
#[case::missing_path(&["[sources.s]\nkind = \"archive\"\n", TARGET, ROUTE],
    "missing key `sources.s.path`")]
#[case::missing_schedule(&[X_SOURCE, TARGET, ROUTE], "missing key `sources.s.schedule`")]
#[case::missing_token(
    &[SOURCE, "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n", ROUTE],
    "missing key `targets.t.token_file` (or one of `targets.t.token_env`, `targets.t.token`)"
)]
#[case::two_token_forms(
    &[SOURCE, "[targets.t]\nkind = \"auto\"\nurl = \"https://a.example\"\n\
               token = \"s3cr3t\"\ntoken_file = \"tok\"\n", ROUTE],
    "`targets.t.token_file` and `targets.t.token` are both set; give only one"
)]
#[case::empty_token_env(
    &[SOURCE, "[targets.t]\nkind = \"auto\"\nurl = \"https://a.example\"\ntoken_env = \"\"\n",
      ROUTE],
    "`targets.t.token_env`: must not be empty"
)]
#[case::bad_url(
    &[SOURCE, "[targets.t]\nkind = \"mastodon\"\nurl = \"wikis.world\"\ntoken_env = \"T\"\n",
      ROUTE],
    "`targets.t.url`: `wikis.world` is not an http:// or https:// URL"
)]
#[case::bad_feed_url(
    &["[sources.s]\nkind = \"feed\"\nurl = \"https:///feed\"\nschedule = \"0 0 * * * *\"\n",
      TARGET, ROUTE],
    "`sources.s.url`: `https:///feed` has no host"
)]
#[case::bad_api_url(&[X_SOURCE, "schedule = \"0 * * * * *\"\napi_url = \"localhost:8080\"\n",
    TARGET, ROUTE], "`sources.s.api_url`: `localhost:8080` is not an http")]
#[case::five_field_cron(&[X_SOURCE, "schedule = \"*/5 * * * *\"\n", TARGET, ROUTE],
    "`sources.s.schedule`: `*/5 * * * *` has 5 fields, but schedules start with a seconds field")]
#[case::garbage_cron(&[X_SOURCE, "schedule = \"every minute\"\n", TARGET, ROUTE],
    "`sources.s.schedule`: `every minute` is not a cron expression")]
#[case::x_without_credentials(
    &[SOURCE, "[targets.t]\nkind = \"x\"\n", ROUTE],
    "missing key `targets.t.consumer_key_file` (or one of `targets.t.consumer_key_env`, `targets.t.consumer_key`)"
)]
#[case::x_missing_one_oauth1_key(
    &[SOURCE, "[targets.t]\nkind = \"x\"\nconsumer_key_env = \"A\"\nconsumer_secret_env = \"B\"\n\
               access_token_env = \"C\"\n", ROUTE],
    "missing key `targets.t.access_token_secret_file`"
)]
#[case::x_both_kinds_of_credentials(
    &[SOURCE, "[targets.t]\nkind = \"x\"\noauth2_token_file = \"x.json\"\nclient_id = \"c\"\n\
               consumer_key_env = \"A\"\n", ROUTE],
    "`targets.t.oauth2_token_file` and `targets.t.consumer_key` are both set; give only one"
)]
#[case::x_oauth2_without_client(
    &[SOURCE, "[targets.t]\nkind = \"x\"\noauth2_token_file = \"x.json\"\n", ROUTE],
    "missing key `targets.t.client_id`"
)]
#[case::x_client_without_token_file(
    &[SOURCE, "[targets.t]\nkind = \"x\"\nclient_id = \"c\"\n", ROUTE],
    "`targets.t.client_id`: is for OAuth 2.0"
)]
#[case::x_negative_cap(
    &[SOURCE, "[targets.t]\nkind = \"x\"\noauth2_token_file = \"x.json\"\nclient_id = \"c\"\n\
               max_spend_per_day = -2\n", ROUTE],
    "`targets.t.max_spend_per_day`: expected a non-negative price in dollars"
)]
#[case::x_unknown_cw(
    &[SOURCE, "[targets.t]\nkind = \"x\"\noauth2_token_file = \"x.json\"\nclient_id = \"c\"\n\
               cw = \"hide\"\n", ROUTE],
    "`targets.t.cw`"
)]
#[case::share_above_one(
    &[SOURCE, "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken_env = \"T\"\n\
               backfill_share = 1.5\n", ROUTE],
    "`targets.t.backfill_share`: expected a number from 0 to 1 (a share, e.g. 0.8), found float `1.5`"
)]
#[case::zero_timeout(
    &[SOURCE, "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken_env = \"T\"\n\
               timeout_seconds = 0\n", ROUTE],
    "`targets.t.timeout_seconds`: must be at least 1"
)]
#[case::bad_username(
    &["[sources.s]\nkind = \"x\"\nusername = \"@Wikipedia\"\ntoken_env = \"X\"\n\
       schedule = \"0 * * * * *\"\n", TARGET, ROUTE],
    "`sources.s.username`: write the handle without `@`"
)]
#[case::route_missing_source(&[SOURCE, TARGET, "[routes.r]\nsource = \"z\"\ntargets = [\"t\"]\n"],
    "`routes.r.source`: no source named `z`")]
#[case::route_missing_target(
    &[SOURCE, TARGET, "[routes.r]\nsource = \"s\"\ntargets = [\"t\", \"x\"]\n"],
    "`routes.r.targets[1]`: no target named `x`"
)]
#[case::route_target_typo(
    &[SOURCE, "[targets.preview]\nkind = \"dry-run\"\n",
      "[routes.r]\nsource = \"s\"\ntargets = [\"preveiw\"]\n"],
    "`routes.r.targets[0]`: no target named `preveiw` (did you mean `preview`?)"
)]
#[case::route_duplicate_target(
    &[SOURCE, TARGET, "[routes.r]\nsource = \"s\"\ntargets = [\"t\", \"t\"]\n"],
    "`routes.r.targets[1]`: target `t` is listed twice"
)]
#[case::route_no_targets(&[SOURCE, TARGET, "[routes.r]\nsource = \"s\"\ntargets = []\n"],
    "`routes.r.targets`: lists no targets")]
#[case::route_targets_not_a_list(&[SOURCE, TARGET, "[routes.r]\nsource = \"s\"\ntargets = \"t\"\n"],
    "`routes.r.targets`: expected a list of strings, found string \"t\"")]
#[case::route_bad_visibility(&[SOURCE, TARGET, ROUTE, "visibility = \"friends\"\n"],
    "`routes.r.visibility`: unknown visibility `friends`, expected one of `public`, \
     `unlisted`, `private`, `direct`")]
#[case::route_bad_reposts(&[SOURCE, TARGET, ROUTE, "reposts = \"retweet\"\n"],
    "`routes.r.reposts`: unknown reposts `retweet`, expected one of `skip`, `boost`, `link`")]
#[case::route_bad_replies(&[SOURCE, TARGET, ROUTE, "replies = \"public\"\n"],
    "`routes.r.replies`: unknown replies `public`, expected one of `skip`, `unlisted`")]
#[case::route_bad_alt_text(&[SOURCE, TARGET, ROUTE, "alt_text = \"holdd\"\n"],
    "`routes.r.alt_text`: unknown alt_text `holdd`, expected one of `fallback`, `omit`, `hold` \
     (did you mean `hold`?)")]
#[case::route_bad_continuation(&[SOURCE, TARGET, ROUTE, "continuation_visibility = \"quiet\"\n"],
    "`routes.r.continuation_visibility`: unknown continuation_visibility `quiet`")]
#[case::route_bool_as_string(&[SOURCE, TARGET, ROUTE, "numbering = \"yes\"\n"],
    "`routes.r.numbering`: expected true or false, found string \"yes\"")]
#[case::route_bad_tag(&[SOURCE, TARGET, ROUTE, "opt_out_tags = [\"no xp\"]\n"],
    "`routes.r.opt_out_tags[0]`: `no xp` is not a hashtag")]
#[case::route_bad_opt_in_tag(&[SOURCE, TARGET, ROUTE, "opt_in_tag = \"#\"\n"],
    "`routes.r.opt_in_tag`: `#` is not a hashtag")]
#[case::route_empty_label(&[SOURCE, TARGET, ROUTE, "sensitive_label = \" \"\n"],
    "`routes.r.sensitive_label`: must not be empty")]
#[case::route_empty_fallback(&[SOURCE, TARGET, ROUTE, "alt_text_fallback = \"\"\n"],
    "`routes.r.alt_text_fallback`: must not be empty; to post without a description")]
#[case::route_bad_tracking(&[SOURCE, TARGET, ROUTE, "tracking_parameters = [\"utm_source=x\"]\n"],
    "`routes.r.tracking_parameters[0]`: `utm_source=x` is not a parameter name")]
#[case::route_mention_not_a_handle(&[SOURCE, TARGET, ROUTE, "mention_map = { wikipedia = \"wikipedia\" }\n"],
    "`routes.r.mention_map.wikipedia`: `wikipedia` is not a fediverse handle")]
#[case::route_mention_bad_x_handle(&[SOURCE, TARGET, ROUTE, "mention_map = { \"not-x\" = \"@a@b.example\" }\n"],
    "`routes.r.mention_map.not-x`: `not-x` is not an X handle")]
#[case::route_cw_rule_unknown_key(&[SOURCE, TARGET, ROUTE,
    "content_warnings = [{ lable = \"x\", match = [\"a\"] }]\n"],
    "unknown key `routes.r.content_warnings[0].lable` (did you mean `label`?)")]
#[case::route_cw_rule_no_label(&[SOURCE, TARGET, ROUTE, "content_warnings = [{ match = [\"a\"] }]\n"],
    "missing key `routes.r.content_warnings[0].label`")]
#[case::route_cw_rule_nothing_to_match(&[SOURCE, TARGET, ROUTE,
    "content_warnings = [{ label = \"x\", match = [] }]\n"],
    "`routes.r.content_warnings[0].match`: lists nothing to match")]
#[case::route_cw_rule_two_words(&[SOURCE, TARGET, ROUTE,
    "content_warnings = [{ label = \"x\", match = [\"two words\"] }]\n"],
    "`routes.r.content_warnings[0].match[0]`: `two words` is not a word or #tag")]
#[case::route_cw_not_a_list(&[SOURCE, TARGET, ROUTE, "content_warnings = \"politics\"\n"],
    "`routes.r.content_warnings`: expected a list of tables, found string \"politics\"")]
#[case::no_routes(&[SOURCE, TARGET], "`routes`: no routes")]
#[case::metrics_listen_not_an_address(&["[metrics]\nlisten = \"localhost\"\n", SOURCE, TARGET, ROUTE],
    "`metrics.listen`: \"localhost\" is not an address and port such as \"127.0.0.1:9187\"")]
#[case::metrics_without_listen(&["[metrics]\n", SOURCE, TARGET, ROUTE], "missing key `metrics.listen`")]
#[case::empty_ledger_path(&["[ledger]\npath = \"\"\n", SOURCE, TARGET, ROUTE],
    "`ledger.path`: must not be empty")]
#[case::typo_of_kind(&[SOURCE, "knid = \"feed\"\n", TARGET, ROUTE],
    "unknown key `sources.s.knid` (did you mean `kind`?)")]
#[case::plain_name_for_a_kind_table(&["[sources]\ns = \"rss\"\n", TARGET, ROUTE],
    "`sources.s`: expected a table, found string \"rss\"")]
#[case::quoted_name(&["[sources.\"my src\"]\nkind = \"archive\"\n", TARGET, ROUTE],
    "missing key `sources.\"my src\".path`")]
fn mistakes_are_reported_with_the_key_and_the_file(#[case] parts: &[&str], #[case] want: &str) {
    let (dir, result) = load(&parts.concat(), &[]);
    let message = result.unwrap_err().to_string();
    let file = dir.path().join("bridge.toml");
    assert!(
        message.starts_with(&format!("{}: ", file.display())),
        "message does not name the file: {message}"
    );
    assert!(message.contains(want), "want {want:?} in {message:?}");
    assert!(
        !message.contains("s3cr3t"),
        "message shows the token: {message}"
    );
}

#[rstest]
#[case::near_typo("max_character", Some("max_characters"))]
#[case::swap("outptu", Some("output"))]
#[case::far("colour", None)]
#[case::too_short("k", None)]
fn unknown_keys_hint_only_plausible_typos(#[case] key: &str, #[case] hint: Option<&str>) {
    let (_dir, result) = load(
        &[SOURCE, TARGET, &format!("{key} = 1\n"), ROUTE].concat(),
        &[],
    );
    let message = result.unwrap_err().to_string();
    let want = format!("unknown key `targets.t.{key}`");
    match hint {
        Some(hint) => assert!(
            message.ends_with(&format!("{want} (did you mean `{hint}`?)")),
            "{message}"
        ),
        None => assert!(message.ends_with(&want), "{message}"),
    }
}

#[rstest]
#[case("https://wikis.world/", Ok("https://wikis.world"))]
#[case("http://localhost:8080//", Ok("http://localhost:8080"))]
#[case("https://example.org/sub", Ok("https://example.org/sub"))]
#[case("wikis.world", Err("not an http"))]
#[case("ftp://wikis.world", Err("not an http"))]
#[case("https://", Err("no host"))]
#[case("https://:443/", Err("no host"))]
#[case("https://wikis world", Err("whitespace"))]
#[case("https://wikis.world/?a=1", Err("query or fragment"))]
fn base_urls_are_checked_and_normalised(#[case] url: &str, #[case] want: Result<&str, &str>) {
    let target = format!("[targets.t]\nkind = \"mastodon\"\nurl = {url:?}\ntoken_env = \"T\"\n");
    let (_dir, result) = load(&[SOURCE, &target, ROUTE].concat(), &[]);
    match (result, want) {
        (Ok(settings), Ok(want)) => {
            let TargetSettings::Fediverse(target) = &settings.targets["t"] else {
                panic!("not a fediverse target");
            };
            assert_eq!(target.url, want);
        }
        (Err(err), Err(want)) => {
            let message = err.to_string();
            assert!(message.contains("`targets.t.url`: "), "{message}");
            assert!(message.contains(want), "{message}");
        }
        (got, want) => panic!("{url}: got {got:?}, want {want:?}"),
    }
}

#[rstest]
#[case("Wikipedia", true)]
#[case("a_1", true)]
#[case("fifteen_chars_x", true)]
#[case("sixteen_chars_xx", false)]
#[case("", false)]
#[case("@Wikipedia", false)]
#[case("wiki-pedia", false)]
#[case("wikipédia", false)]
fn usernames_follow_x_rules(#[case] username: &str, #[case] valid: bool) {
    let source = format!(
        "[sources.s]\nkind = \"x\"\nusername = {username:?}\ntoken_env = \"X\"\n\
         schedule = \"0 * * * * *\"\n"
    );
    let (_dir, result) = load(&[&source, TARGET, ROUTE].concat(), &[]);
    match result {
        Ok(_) => assert!(valid, "{username} was accepted"),
        Err(err) => {
            assert!(!valid, "{username}: {err}");
            assert!(err.to_string().contains("`sources.s.username`: "), "{err}");
        }
    }
}

#[test]
fn names_that_are_not_bare_keys_are_quoted_in_key_paths() {
    let text = "[sources.\"a.b\"]\nkind = \"archive\"\npath = 5\n";
    let (_dir, result) = load(&[text, TARGET, ROUTE].concat(), &[]);
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains("`sources.\"a.b\".path`: expected a string, found integer `5`"),
        "{message}"
    );
}

#[test]
fn toml_syntax_errors_give_the_position() {
    let (dir, result) = load(&[SOURCE, TARGET, ROUTE, "[routes.x\n"].concat(), &[]);
    let err = result.unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.starts_with(&format!(
        "{}: invalid TOML",
        dir.path().join("bridge.toml").display()
    )));
    assert!(message.contains("line 9"), "{message}");
}

#[test]
fn a_missing_config_file_is_named() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("nowhere.toml");
    let err = Settings::load_with_env(&path, HashMap::new()).unwrap_err();
    assert!(matches!(err, ConfigError::Unreadable { .. }), "{err:?}");
    assert!(err
        .to_string()
        .starts_with(&format!("{}: cannot read", path.display())));
}

#[test]
fn load_reads_the_process_environment_without_needing_it() {
    let (_dir, path) = write_config(&[SOURCE, TARGET, ROUTE].concat());
    let settings = Settings::load(&path).unwrap();
    assert_eq!(settings.routes["r"].targets, ["t"]);
}

#[rstest]
#[case::mastodon("mastodon", ServerKind::Mastodon)]
#[case::pleroma("pleroma", ServerKind::Pleroma)]
#[case::gotosocial("gotosocial", ServerKind::GoToSocial)]
#[case::friendica("friendica", ServerKind::Friendica)]
#[case::firefish("firefish", ServerKind::Firefish)]
#[case::pixelfed("pixelfed", ServerKind::Pixelfed)]
#[case::auto("auto", ServerKind::Auto)]
fn every_server_kind_loads(#[case] kind: &str, #[case] want: ServerKind) {
    let target = format!(
        "[targets.t]\nkind = \"{kind}\"\nurl = \"https://a.example/\"\ntoken_env = \"T\"\n"
    );
    let (_dir, settings) = load(&[SOURCE, &target, ROUTE].concat(), &[]);
    let TargetSettings::Fediverse(target) = &settings.unwrap().targets["t"] else {
        panic!("not a fediverse target");
    };
    assert_eq!(target.kind, want);
    assert_eq!(want.as_str(), kind);
    assert_eq!(target.url, "https://a.example");
    assert_eq!(target.request_timeout, std::time::Duration::from_secs(30));
    assert_eq!(target.profile_refresh, chrono::Duration::hours(24));
    assert!((target.backfill_share - 0.8).abs() < f64::EPSILON);
}

#[test]
fn fediverse_tuning_keys_load_from_the_file_and_the_environment() {
    let target =
        "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken_env = \"T\"\n\
                  timeout_seconds = 5\nprofile_refresh_hours = 2\nbackfill_share = 1\n";
    let (_dir, settings) = load(
        &[SOURCE, target, ROUTE].concat(),
        &[("BIRDBRIDGE__TARGETS__T__BACKFILL_SHARE", "0.25")],
    );
    let TargetSettings::Fediverse(target) = &settings.unwrap().targets["t"] else {
        panic!("not a fediverse target");
    };
    assert_eq!(target.request_timeout, std::time::Duration::from_secs(5));
    assert_eq!(target.profile_refresh, chrono::Duration::hours(2));
    assert!((target.backfill_share - 0.25).abs() < f64::EPSILON);
}

#[rstest]
#[case("public", Visibility::Public)]
#[case("unlisted", Visibility::Unlisted)]
#[case("private", Visibility::Private)]
#[case("direct", Visibility::Direct)]
fn every_visibility_loads(#[case] name: &str, #[case] want: Visibility) {
    let route = format!("{ROUTE}visibility = \"{name}\"\n");
    let (_dir, settings) = load(&[SOURCE, TARGET, &route].concat(), &[]);
    assert_eq!(settings.unwrap().routes["r"].visibility, want);
    assert_eq!(want.as_str(), name);
}

const OVERRIDABLE: &str = "[ledger]\npath = \"/file/ledger.sqlite\"\n\
    [sources.s]\nkind = \"archive\"\npath = \"/file/a.zip\"\n\
    [targets.wikis-world]\nkind = \"mastodon\"\nurl = \"https://file.example\"\ntoken_env = \"T\"\n\
    [targets.t]\nkind = \"dry-run\"\nmax_characters = 500\n\
    [routes.r]\nsource = \"s\"\ntargets = [\"t\"]\n";

#[test]
fn the_environment_wins_over_the_file() {
    let (_dir, settings) = load(
        OVERRIDABLE,
        &[
            ("BIRDBRIDGE__LEDGER__PATH", "/env/ledger.sqlite"),
            (
                "BIRDBRIDGE__TARGETS__WIKIS-WORLD__URL",
                "https://env.example/",
            ),
            ("BIRDBRIDGE__TARGETS__T__MAX_CHARACTERS", "280"),
            ("BIRDBRIDGE__ROUTES__R__TARGETS", "t, wikis-world"),
            ("BIRDBRIDGE__ROUTES__R__VISIBILITY", "unlisted"),
            // Not ours: a single underscore after the prefix, and an unrelated variable.
            ("BIRDBRIDGE_LOG", "debug"),
            ("PATH", "/usr/bin"),
        ],
    );
    let settings = settings.unwrap();
    assert_eq!(settings.ledger.path, Path::new("/env/ledger.sqlite"));
    let TargetSettings::Fediverse(fedi) = &settings.targets["wikis-world"] else {
        panic!("not a fediverse target");
    };
    assert_eq!(fedi.url, "https://env.example");
    let TargetSettings::DryRun(dry_run) = &settings.targets["t"] else {
        panic!("not a dry run");
    };
    assert_eq!(dry_run.max_characters, 280);
    assert_eq!(settings.routes["r"].targets, ["t", "wikis-world"]);
    assert_eq!(settings.routes["r"].visibility, Visibility::Unlisted);
}

#[rstest]
#[case::bad_number(
    ("BIRDBRIDGE__TARGETS__T__MAX_CHARACTERS", "lots"),
    "`targets.t.max_characters` (set by `BIRDBRIDGE__TARGETS__T__MAX_CHARACTERS`): \
     expected a non-negative integer, found string \"lots\""
)]
#[case::unknown_key(
    ("BIRDBRIDGE__TARGETS__T__OUTPTU", "-"),
    "unknown key `targets.t.outptu` (set by `BIRDBRIDGE__TARGETS__T__OUTPTU`) \
     (did you mean `output`?)"
)]
#[case::missing_target(
    ("BIRDBRIDGE__ROUTES__R__TARGETS", "t,nope"),
    "`routes.r.targets[1]` (set by `BIRDBRIDGE__ROUTES__R__TARGETS`): no target named `nope`"
)]
fn bad_overrides_name_their_variable(#[case] var: (&str, &str), #[case] want: &str) {
    let (dir, result) = load(OVERRIDABLE, &[var]);
    let message = result.unwrap_err().to_string();
    assert!(message.starts_with(&format!("{}: ", dir.path().join("bridge.toml").display())));
    assert!(message.contains(want), "want {want:?} in {message:?}");
}

#[test]
fn overrides_cannot_reach_capitalised_tables_and_say_so() {
    let text = "[sources.Blog]\nkind = \"archive\"\npath = \"a.zip\"\n\
                [targets.t]\nkind = \"dry-run\"\n\
                [routes.r]\nsource = \"Blog\"\ntargets = [\"t\"]\n";
    let (_dir, result) = load(text, &[("BIRDBRIDGE__SOURCES__BLOG__PATH", "/b.zip")]);
    let message = result.unwrap_err().to_string();
    assert!(message.contains("`sources.blog`"), "{message}");
    assert!(message.contains("cannot override `Blog`"), "{message}");
}

#[test]
fn relative_paths_are_resolved_against_the_config_folder() {
    let text = "[ledger]\npath = \"state/ledger.sqlite\"\n\
                [sources.s]\nkind = \"archive\"\npath = \"sample-archive\"\n\
                [sources.abs]\nkind = \"archive\"\npath = \"/srv/a.zip\"\n\
                [targets.f]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token_file = \"secrets/token\"\n\
                [targets.t]\nkind = \"dry-run\"\noutput = \"out/preview.jsonl\"\n\
                [targets.stdout]\nkind = \"dry-run\"\noutput = \"-\"\n\
                [routes.r]\nsource = \"s\"\ntargets = [\"t\", \"f\", \"stdout\"]\n";
    let dir = TempDir::new().unwrap();
    let conf = dir.path().join("conf");
    std::fs::create_dir(&conf).unwrap();
    let path = conf.join("bridge.toml");
    std::fs::write(&path, text).unwrap();
    let settings = Settings::load_with_env(&path, HashMap::new()).unwrap();

    assert_eq!(settings.ledger.path, conf.join("state/ledger.sqlite"));
    let archive_path = |name: &str| match &settings.sources[name] {
        SourceSettings::Archive(archive) => archive.path.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(archive_path("s"), conf.join("sample-archive"));
    assert_eq!(archive_path("abs"), Path::new("/srv/a.zip"));
    let TargetSettings::Fediverse(fedi) = &settings.targets["f"] else {
        panic!("not a fediverse target");
    };
    assert!(matches!(&fedi.token, SecretSource::File(p) if *p == conf.join("secrets/token")));
    let output = |name: &str| match &settings.targets[name] {
        TargetSettings::DryRun(dry_run) => dry_run.output.clone(),
        other @ (TargetSettings::Fediverse(_) | TargetSettings::X(_)) => panic!("{other:?}"),
    };
    assert_eq!(Path::new(&output("t")), conf.join("out/preview.jsonl"));
    assert_eq!(output("stdout"), "-");
}

#[rstest]
#[case::state_directory(
    Some("/var/lib/bb"),
    Some("/home/u/.local/state"),
    "/var/lib/bb/ledger.sqlite"
)]
#[case::first_of_several(Some("/var/lib/bb:/var/lib/other"), None, "/var/lib/bb/ledger.sqlite")]
#[case::empty_state_directory(
    Some(""),
    Some("/home/u/.local/state"),
    "/home/u/.local/state/birdbridge/ledger.sqlite"
)]
#[case::user_state_dir(
    None,
    Some("/home/u/.local/state"),
    "/home/u/.local/state/birdbridge/ledger.sqlite"
)]
#[case::system_fallback(None, None, "/var/lib/birdbridge/ledger.sqlite")]
fn default_ledger_path_rules(
    #[case] state_directory: Option<&str>,
    #[case] user_state_dir: Option<&str>,
    #[case] want: &str,
) {
    let got = LedgerSettings::default_path(state_directory, user_state_dir.map(Path::new));
    assert_eq!(got, Path::new(want));
}

#[test]
fn the_default_ledger_path_follows_state_directory_from_the_environment() {
    let (_dir, settings) = load(
        &[SOURCE, TARGET, ROUTE].concat(),
        &[("STATE_DIRECTORY", "/var/lib/birdbridge-test")],
    );
    assert_eq!(
        settings.unwrap().ledger.path,
        Path::new("/var/lib/birdbridge-test/ledger.sqlite")
    );
}

#[test]
fn secrets_never_print() {
    let text = "[sources.s]\nkind = \"x\"\nusername = \"a\"\ntoken = \"x-secret-4711\"\n\
                schedule = \"0 * * * * *\"\n\
                [targets.inline]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token = \"fedi-secret-4712\"\n\
                [targets.file]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token_file = \"/run/credentials/tok\"\n\
                [targets.env]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token_env = \"FEDI_TOKEN\"\n\
                [routes.r]\nsource = \"s\"\ntargets = [\"inline\", \"file\", \"env\"]\n";
    let (_dir, settings) = load(text, &[]);
    let settings = settings.unwrap();
    let debug = format!("{settings:?}");
    for secret in ["x-secret-4711", "fedi-secret-4712"] {
        assert!(!debug.contains(secret), "Debug shows {secret}: {debug}");
        assert!(!format!("{settings:#?}").contains(secret));
    }
    assert!(debug.contains("Inline([redacted])"), "{debug}");
    assert!(debug.contains("File(\"/run/credentials/tok\")"), "{debug}");
    assert!(debug.contains("Env(\"FEDI_TOKEN\")"), "{debug}");

    let TargetSettings::Fediverse(inline) = &settings.targets["inline"] else {
        panic!("not a fediverse target");
    };
    let secret = inline.token.load("targets.inline").unwrap();
    assert_eq!(secret.expose(), "fedi-secret-4712");
    assert_eq!(secret.to_string(), "[redacted]");
    assert_eq!(format!("{secret:?}"), "[redacted]");
}

#[rstest]
#[case::newline("tok-123\n")]
#[case::crlf("tok-123\r\n")]
#[case::no_newline("tok-123")]
#[case::spaces("  tok-123 \n\n")]
fn token_files_are_read_and_trimmed(#[case] content: &str) {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, content).unwrap();
    let secret = SecretSource::File(path).load("targets.t").unwrap();
    assert_eq!(secret.expose(), "tok-123");
}

#[test]
fn unreadable_secrets_name_the_key_and_where_but_not_the_content() {
    let dir = TempDir::new().unwrap();
    let missing = dir.path().join("missing-token");
    let message = SecretSource::File(missing.clone())
        .load("targets.t.token_file")
        .unwrap_err()
        .to_string();
    assert!(message.contains("`targets.t.token_file`"), "{message}");
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );

    let blank = dir.path().join("blank-token");
    std::fs::write(&blank, "\n").unwrap();
    let err = SecretSource::File(blank.clone())
        .load("targets.t")
        .unwrap_err();
    assert!(matches!(err, ConfigError::SecretEmpty { .. }), "{err:?}");
    assert!(err.to_string().contains(&blank.display().to_string()));

    let variable = "BIRDBRIDGE_TEST_VARIABLE_NOBODY_SETS_5d1c";
    let message = SecretSource::Env(variable.to_owned())
        .load("sources.s.token_env")
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        format!("`sources.s.token_env`: environment variable `{variable}` is not set")
    );
}

#[test]
fn offline_findings_report_what_is_missing_on_this_machine_and_accept_folders_a_dry_run_creates() {
    let text = "[sources.x]\nkind = \"x\"\nusername = \"a\"\ntoken_file = \"no-such-token\"\n\
                schedule = \"0 * * * * *\"\n\
                [sources.gone]\nkind = \"archive\"\npath = \"no-such-archive.zip\"\n\
                [sources.here]\nkind = \"archive\"\npath = \"archive\"\n\
                [targets.f]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token_env = \"BIRDBRIDGE_TEST_VARIABLE_NOBODY_SETS_9e2b\"\n\
                [targets.ok]\nkind = \"gotosocial\"\nurl = \"https://a.example\"\n\
                token_file = \"token\"\n\
                [targets.lost]\nkind = \"dry-run\"\noutput = \"token/out.jsonl\"\n\
                [targets.new]\nkind = \"dry-run\"\noutput = \"new-folder/out.jsonl\"\n\
                [targets.fine]\nkind = \"dry-run\"\noutput = \"out.jsonl\"\n\
                [routes.r]\nsource = \"x\"\ntargets = [\"f\"]\n";
    let (dir, settings) = load(text, &[]);
    std::fs::create_dir(dir.path().join("archive")).unwrap();
    std::fs::write(dir.path().join("token"), "t\n").unwrap();
    let findings = settings.unwrap().offline_findings();
    let keys: Vec<&str> = findings.iter().map(|f| f.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "sources.gone.path",
            "sources.x.token_file",
            "targets.f.token_env",
            "targets.lost.output",
        ]
    );
    assert!(
        findings[0].problem.contains("no-such-archive.zip"),
        "{findings:?}"
    );
    assert!(
        findings[1].problem.contains("no-such-token"),
        "{findings:?}"
    );
    assert!(findings[2].problem.contains("is not set"), "{findings:?}");
    assert!(
        findings[3].problem.contains("token is not a folder"),
        "{findings:?}"
    );
    assert_eq!(
        findings[2].to_string(),
        "`targets.f.token_env`: environment variable \
         `BIRDBRIDGE_TEST_VARIABLE_NOBODY_SETS_9e2b` is not set"
    );
}

#[test]
fn the_example_routes_use_the_default_policy() {
    let (_dir, settings) = load(EXAMPLE_CONFIG, &[]);
    let settings = settings.unwrap();
    let route = &settings.routes["wikipedia"];
    let mut want = RouteSettings::with_defaults("wikipedia", &["wikis-world", "preview"]);
    want.visibility = Visibility::Public;
    assert_eq!(route, &want);
}

#[test]
fn route_policy_defaults_are_fediverse_friendly() {
    let (_dir, settings) = load(&[SOURCE, TARGET, ROUTE].concat(), &[]);
    let route = &settings.unwrap().routes["r"];
    assert_eq!(route, &RouteSettings::with_defaults("s", &["t"]));
    assert_eq!(route.continuation_visibility, Visibility::Unlisted);
    assert!(route.numbering);
    assert_eq!(route.replies, ReplyPolicy::Skip);
    assert_eq!(route.reposts, RepostPolicy::Skip);
    assert_eq!(route.opt_out_tags, ["noxp", "nobridge"]);
    assert_eq!(route.opt_in_tag, None);
    assert_eq!(route.max_age_days, 0);
    assert_eq!(route.sensitive_label, "Sensitive media");
    assert!(route.content_warnings.is_empty());
    assert!(route.content_warning_first_line);
    assert_eq!(route.default_content_warning, None);
    assert_eq!(route.alt_text, AltTextPolicy::Fallback);
    assert_eq!(
        route.alt_text_fallback,
        "{Kind} from the original post; no description was provided."
    );
    assert!(route.tracking_parameters.iter().any(|p| p == "utm_*"));
    assert!(route.tracking_parameters.iter().any(|p| p == "x.com:s"));
    assert!(route.rewrite_own_links);
    assert!(route.mention_map.is_empty());
    assert_eq!(
        route.backfill_date_line.as_deref(),
        Some("Originally posted on {date}")
    );
    assert!(!route.backfill_link);
}

#[test]
fn every_route_policy_key_is_read() {
    let route = format!(
        "{ROUTE}continuation_visibility = \"private\"\nnumbering = false\nreplies = \"unlisted\"\n\
         reposts = \"link\"\nopt_out_tags = [\"#NoBird\"]\nopt_in_tag = \"#XP\"\nmax_age_days = 3\n\
         sensitive_label = \" Spoilers \"\n\
         content_warnings = [{{ label = \"US politics\", match = [\"Election\", \"#Vote\"] }}, \
         {{ label = \"Food\", match = [\"soup\"] }}]\n\
         content_warning_first_line = false\ndefault_content_warning = \"From X\"\n\
         alt_text = \"hold\"\nalt_text_fallback = \"An {{kind}}.\"\ntracking_parameters = []\n\
         rewrite_own_links = false\nmention_map = {{ WikiPedia = \"@wikipedia@wikis.world\" }}\n\
         backfill_date_line = \"\"\nbackfill_link = true\n"
    );
    let (_dir, settings) = load(&[SOURCE, TARGET, &route].concat(), &[]);
    let r = &settings.unwrap().routes["r"];
    assert_eq!(r.continuation_visibility, Visibility::Private);
    assert!(!r.numbering);
    assert_eq!(r.replies, ReplyPolicy::Unlisted);
    assert_eq!(r.reposts, RepostPolicy::Link);
    assert_eq!(r.opt_out_tags, ["nobird"]);
    assert_eq!(r.opt_in_tag.as_deref(), Some("xp"));
    assert_eq!(r.max_age_days, 3);
    assert_eq!(r.sensitive_label, "Spoilers");
    assert_eq!(
        r.content_warnings,
        [
            ContentWarningRule {
                label: "US politics".into(),
                matches: vec!["election".into(), "#vote".into()],
            },
            ContentWarningRule {
                label: "Food".into(),
                matches: vec!["soup".into()],
            },
        ]
    );
    assert!(!r.content_warning_first_line);
    assert_eq!(r.default_content_warning.as_deref(), Some("From X"));
    assert_eq!(r.alt_text, AltTextPolicy::Hold);
    assert_eq!(r.alt_text_fallback, "An {kind}.");
    assert!(r.tracking_parameters.is_empty());
    assert!(!r.rewrite_own_links);
    assert_eq!(
        r.mention_map.get("wikipedia").map(String::as_str),
        Some("@wikipedia@wikis.world")
    );
    assert_eq!(r.backfill_date_line, None);
    assert!(r.backfill_link);
}

#[test]
fn route_policy_keys_can_be_overridden_from_the_environment() {
    let (_dir, settings) = load(
        &[SOURCE, TARGET, ROUTE].concat(),
        &[
            ("BIRDBRIDGE__ROUTES__R__NUMBERING", "false"),
            ("BIRDBRIDGE__ROUTES__R__REPOSTS", "boost"),
            ("BIRDBRIDGE__ROUTES__R__OPT_OUT_TAGS", "noxp, private"),
            ("BIRDBRIDGE__ROUTES__R__MAX_AGE_DAYS", "14"),
            ("BIRDBRIDGE__ROUTES__R__ALT_TEXT", "omit"),
        ],
    );
    let r = &settings.unwrap().routes["r"];
    assert!(!r.numbering);
    assert_eq!(r.reposts, RepostPolicy::Boost);
    assert_eq!(r.opt_out_tags, ["noxp", "private"]);
    assert_eq!(r.max_age_days, 14);
    assert_eq!(r.alt_text, AltTextPolicy::Omit);
}

#[test]
fn a_bad_boolean_from_the_environment_names_its_variable() {
    let (_dir, result) = load(
        &[SOURCE, TARGET, ROUTE].concat(),
        &[("BIRDBRIDGE__ROUTES__R__BACKFILL_LINK", "yes")],
    );
    let message = result.unwrap_err().to_string();
    assert!(
        message.contains(
            "`routes.r.backfill_link` (set by `BIRDBRIDGE__ROUTES__R__BACKFILL_LINK`): \
             expected true or false"
        ),
        "{message}"
    );
}

#[test]
fn an_x_target_reads_its_credentials_and_settings() {
    let text = format!(
        "{SOURCE}[targets.t]\nkind = \"x\"\noauth2_token_file = \"secrets/x.json\"\nclient_id = \"app\"\n\
         client_secret_env = \"X_SECRET\"\ncw = \"skip\"\nlinks = \"drop\"\nquotes = \"native\"\n\
         max_spend_per_day = 1.25\n{ROUTE}"
    );
    let (dir, settings) = load(&text, &[]);
    let settings = settings.unwrap();
    let TargetSettings::X(x) = &settings.targets["t"] else {
        panic!("not an x target");
    };
    let XCredentials::OAuth2 {
        token_file,
        client_id,
        client_secret,
    } = &x.credentials
    else {
        panic!("{:?}", x.credentials);
    };
    assert!(token_file.ends_with("secrets/x.json") && token_file.starts_with(dir.path()));
    assert_eq!(client_id, "app");
    assert!(matches!(client_secret, Some(SecretSource::Env(v)) if v == "X_SECRET"));
    assert_eq!(x.api_url, "https://api.x.com");
    assert_eq!(
        (x.cw.as_str(), x.links.as_str(), x.quotes.as_str()),
        ("skip", "drop", "native")
    );
    assert_eq!(x.max_spend_per_day, Some(1.25));
}

/// Each of a secret's three keys is read as its form, wherever the secret is (a source, a
/// fediverse target, each OAuth 1.0a key of an X target), a `_file` against the folder.
#[test]
fn each_secret_key_is_read_as_its_form() {
    let text = "[sources.s]\nkind = \"x\"\nusername = \"a\"\ntoken_env = \"X_TOKEN\"\n\
                schedule = \"0 * * * * *\"\n\
                [targets.f]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n\
                token_file = \"secrets/fedi\"\n\
                [targets.t]\nkind = \"x\"\nconsumer_key = \"ck\"\nconsumer_secret_file = \"cs\"\n\
                access_token_env = \"AT\"\naccess_token_secret_file = \"/abs/ats\"\n\
                [routes.r]\nsource = \"s\"\ntargets = [\"f\", \"t\"]\n";
    let (dir, settings) = load(text, &[]);
    let settings = settings.unwrap();
    let SourceSettings::X(source) = &settings.sources["s"] else {
        panic!("not an x source");
    };
    assert!(matches!(&source.token, SecretSource::Env(v) if v == "X_TOKEN"));
    let TargetSettings::Fediverse(fedi) = &settings.targets["f"] else {
        panic!("not a fediverse target");
    };
    assert!(matches!(&fedi.token, SecretSource::File(p) if *p == dir.path().join("secrets/fedi")));
    let TargetSettings::X(x) = &settings.targets["t"] else {
        panic!("not an x target");
    };
    let XCredentials::OAuth1 {
        consumer_key,
        consumer_secret,
        access_token,
        access_token_secret,
    } = &x.credentials
    else {
        panic!("{:?}", x.credentials);
    };
    assert_eq!(consumer_key.load("k").unwrap().expose(), "ck");
    assert!(matches!(consumer_secret, SecretSource::File(p) if *p == dir.path().join("cs")));
    assert!(matches!(access_token, SecretSource::Env(v) if v == "AT"));
    assert!(matches!(access_token_secret, SecretSource::File(p) if p == Path::new("/abs/ats")));
}

#[rstest]
#[case::two_forms_of_an_x_key(
    "[targets.t]\nkind = \"x\"\nconsumer_key = \"ck\"\nconsumer_key_env = \"CK\"\n",
    &[],
    "`targets.t.consumer_key_env` and `targets.t.consumer_key` are both set; give only one"
)]
#[case::the_environment_adds_a_second_form(
    "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken_file = \"tok\"\n",
    &[("BIRDBRIDGE__TARGETS__T__TOKEN_ENV", "T")],
    "`targets.t.token_file` and `targets.t.token_env` are both set; give only one"
)]
#[case::a_blank_inline_token(
    "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken = \"  \"\n",
    &[],
    "`targets.t.token`: must not be empty"
)]
#[case::a_source_without_its_token(
    "[targets.t]\nkind = \"dry-run\"\n[sources.x]\nkind = \"fediverse\"\n\
     url = \"https://a.example\"\nschedule = \"0 * * * * *\"\n",
    &[],
    "missing key `sources.x.token_file` (or one of `sources.x.token_env`, `sources.x.token`)"
)]
#[case::a_token_that_is_not_a_string(
    "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken_env = 5\n",
    &[],
    "`targets.t.token_env`: expected a string, found integer `5`"
)]
fn secret_mistakes_name_their_keys(
    #[case] table: &str,
    #[case] vars: &[(&str, &str)],
    #[case] want: &str,
) {
    let (_dir, result) = load(&format!("{SOURCE}{table}{ROUTE}"), vars);
    let message = result.unwrap_err().to_string();
    assert!(message.contains(want), "{message}");
}

/// An inline token written as a number (a token of digits, unquoted) is refused without
/// echoing it: the message names the key and what it must be, never the value.
#[test]
fn an_inline_token_that_is_not_a_string_is_not_echoed() {
    for value in [
        "918273645546372819",
        "9182736455.46",
        "true",
        "[\"918273645546372819\"]",
    ] {
        let table = format!(
            "[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\ntoken = {value}\n"
        );
        let (_dir, result) = load(&format!("{SOURCE}{table}{ROUTE}"), &[]);
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("`targets.t.token`: expected a string"),
            "{message}"
        );
        assert!(!message.contains("918273645546372819"), "{message}");
        assert!(!message.contains("9182736455"), "{message}");
        assert!(!message.contains("true"), "{message}");
    }
}

/// The environment may give a secret the file leaves out, in any of its forms.
#[test]
fn the_environment_can_give_a_secret() {
    let text =
        format!("{SOURCE}[targets.t]\nkind = \"mastodon\"\nurl = \"https://a.example\"\n{ROUTE}");
    let (_dir, settings) = load(&text, &[("BIRDBRIDGE__TARGETS__T__TOKEN", "from-env")]);
    let TargetSettings::Fediverse(fedi) = &settings.unwrap().targets["t"] else {
        panic!("not a fediverse target");
    };
    assert_eq!(fedi.token.load("k").unwrap().expose(), "from-env");
}
