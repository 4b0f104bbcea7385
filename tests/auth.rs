//! `birdbridge auth` end to end: the binary registers with the fake server, prints the
//! authorisation address, a "browser" (an HTTP GET) opens it and reads the code off the page,
//! the code is typed on the binary's stdin, and the token lands in the target's token file
//! (mode 0600) after the account was verified. Once per fake personality.

mod fake_fedi;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use birdbridge::auth::{COARSE_SCOPES, GRANULAR_SCOPES, OOB};
use birdbridge::clock::Clock;
use fake_fedi::{FakeFedi, Personality, TOKEN};
use rstest::rstest;
use tempfile::TempDir;

struct Setup {
    dir: TempDir,
    config: PathBuf,
    token_file: PathBuf,
}

impl Setup {
    fn new(kind: &str, url: &str) -> Self {
        Self::with_token(kind, url, None)
    }

    /// `token_line` replaces `token_file = PATH` in the target's table.
    fn with_token(kind: &str, url: &str, token_line: Option<&str>) -> Self {
        let dir = TempDir::new().unwrap();
        let config = dir.path().join("bridge.toml");
        let token_file = dir.path().join("secrets/home.token");
        let token_line = token_line.map_or_else(
            || format!("token_file = {:?}", token_file.display().to_string()),
            str::to_owned,
        );
        let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
        std::fs::write(
            &config,
            format!(
                "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
                 [targets.home]\nkind = \"{kind}\"\nurl = \"{url}\"\n{token_line}\n\n\
                 [routes.demo]\nsource = \"sample\"\ntargets = [\"home\"]\n",
                archive.display().to_string(),
            ),
        )
        .unwrap();
        Self {
            dir,
            config,
            token_file,
        }
    }

    fn spawn(&self, args: &[&str]) -> Child {
        Command::new(env!("CARGO_BIN_EXE_birdbridge"))
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// What the binary printed and how it ended.
struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs `auth --target home` through the whole dance; `code` turns the code on the page
/// into what the person types.
async fn authorize(s: &Setup, extra: &[&str], code: fn(String) -> String) -> Outcome {
    let mut args = vec!["auth", "--target", "home"];
    args.extend_from_slice(extra);
    let mut child = s.spawn(&args);
    let stdout = child.stdout.take().unwrap();
    // The binary blocks on stdin: read its prompt on a blocking thread.
    let (url, mut reader, mut printed) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                return (None, reader, printed);
            }
            printed.push_str(&line);
            if let Some(url) = line
                .split_whitespace()
                .find(|w| w.contains("/oauth/authorize?"))
            {
                return (Some(url.to_owned()), reader, printed);
            }
        }
    })
    .await
    .unwrap();
    if let Some(url) = url {
        // The browser: opens the address and shows the code.
        let page = reqwest::Client::builder()
            .user_agent("a browser")
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .unwrap();
        assert!(page.status().is_success(), "{}", page.status());
        let page = page.text().await.unwrap();
        let start = page.find("oob-code-").expect(&page);
        let shown: String = page[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{}", code(shown)).unwrap();
    }
    tokio::task::spawn_blocking(move || {
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        printed.push_str(&rest);
        let out = child.wait_with_output().unwrap();
        Outcome {
            success: out.status.success(),
            stdout: printed,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

#[rstest]
// The last value: whether megalodon registers the app and exchanges the code (its
// authorisation address carries a `state`; `src/auth/megalodon.rs` says why not elsewhere).
#[case::mastodon(Personality::Mastodon, "mastodon", GRANULAR_SCOPES, true)]
#[case::gotosocial_0_17(Personality::GoToSocial, "gotosocial", COARSE_SCOPES, true)]
#[case::minimal_auto(Personality::Minimal, "auto", COARSE_SCOPES, false)]
#[case::akkoma(Personality::Akkoma, "pleroma", GRANULAR_SCOPES, true)]
#[case::akkoma_auto(Personality::Akkoma, "auto", GRANULAR_SCOPES, true)]
#[case::snac_auto(Personality::Snac, "auto", COARSE_SCOPES, false)]
#[case::snac(Personality::Snac, "snac", COARSE_SCOPES, false)]
#[case::iceshrimp(Personality::Iceshrimp, "firefish", COARSE_SCOPES, false)]
#[case::pixelfed(Personality::Pixelfed, "pixelfed", COARSE_SCOPES, false)]
#[case::friendica(Personality::Friendica, "friendica", COARSE_SCOPES, true)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_obtains_verifies_and_stores_a_token(
    #[case] personality: Personality,
    #[case] kind: &str,
    #[case] scopes: &str,
    #[case] megalodon: bool,
) {
    let fake = FakeFedi::start(personality, Clock::System).await;
    let s = Setup::new(kind, &fake.url);
    let out = authorize(&s, &[], |code| format!("  {code}  ")).await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.contains("&state="), megalodon, "{}", out.stdout);
    assert!(out.stdout.contains("Then enter the code"), "{}", out.stdout);
    assert!(
        out.stdout.contains(&format!(
            "token for @mirror written to {}",
            s.token_file.display()
        )),
        "{}",
        out.stdout
    );
    // Neither the token nor the client secret is printed.
    assert!(!out.stdout.contains(TOKEN) && !out.stderr.contains(TOKEN));
    assert!(!out.stdout.contains("s3cr3t") && !out.stderr.contains("s3cr3t"));
    assert_eq!(
        std::fs::read_to_string(&s.token_file).unwrap(),
        format!("{TOKEN}\n")
    );
    let mode = std::fs::metadata(&s.token_file)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    {
        let st = fake.state();
        let apps: Vec<_> = st.oauth.apps.values().collect();
        assert_eq!(apps.len(), 1);
        assert_eq!(
            (
                apps[0].name.as_str(),
                apps[0].redirect_uri.as_str(),
                apps[0].scopes.as_str()
            ),
            ("birdbridge", OOB, scopes)
        );
        assert_eq!(st.oauth.tokens_issued, [scopes]);
    }

    // The stored token works for the rest of birdbridge.
    let check = s.spawn(&["check"]).wait_with_output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );

    // A second run refuses to replace it, before asking the server anything.
    let out = authorize(&s, &[], |code| code).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("exists already: pass --force"),
        "{}",
        out.stderr
    );
    assert_eq!(fake.state().oauth.apps.len(), 1);

    // With --force it is replaced (a new app, a new token).
    let out = authorize(&s, &["--force"], |code| code).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(fake.state().oauth.tokens_issued.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_code_writes_nothing_and_says_what_the_server_said() {
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    let s = Setup::new("mastodon", &fake.url);
    let out = authorize(&s, &[], |code| format!("{code}-typo")).await;
    assert!(!out.success);
    assert!(
        out.stderr.contains("exchanging the code for a token")
            && out.stderr.contains("400")
            && out.stderr.contains("authorization grant is invalid"),
        "{}",
        out.stderr
    );
    assert!(!s.token_file.exists());
    assert!(s
        .dir
        .path()
        .join("secrets")
        .read_dir()
        .map_or(true, |mut d| d.next().is_none()));

    // An empty line: nothing is sent to the token endpoint.
    let out = authorize(&s, &[], |_| String::new()).await;
    assert!(!out.success);
    assert!(out.stderr.contains("no code was entered"), "{}", out.stderr);
    assert!(!s.token_file.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_file_option_writes_where_it_says() {
    let fake = FakeFedi::start(Personality::Mastodon, Clock::System).await;
    // The configuration names the credential's copy, which only systemd writes.
    let s = Setup::with_token("mastodon", &fake.url, Some("token_env = \"HOME_TOKEN\""));
    let out = authorize(&s, &["--token-file", s.token_file.to_str().unwrap()], |c| c).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(&s.token_file).unwrap(),
        format!("{TOKEN}\n")
    );
}

#[test]
fn auth_needs_a_token_file() {
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("bridge.toml");
    std::fs::write(
        &config,
        "[sources.sample]\nkind = \"archive\"\npath = \".\"\n\n\
         [targets.home]\nkind = \"mastodon\"\nurl = \"http://127.0.0.1:9\"\ntoken_env = \"HOME_TOKEN\"\n\n\
         [routes.demo]\nsource = \"sample\"\ntargets = [\"home\"]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_birdbridge"))
        .arg("--config")
        .arg(&config)
        .args(["auth", "--target", "home"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("set `token_file = \"PATH\"` in [targets.home]"));
}

#[rstest]
#[case::mastodon(Personality::Mastodon, "mastodon", "read:accounts read:statuses")]
#[case::gotosocial(Personality::GoToSocial, "gotosocial", "read")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fediverse_source_gets_read_scopes_only(
    #[case] personality: Personality,
    #[case] server: &str,
    #[case] scopes: &str,
) {
    let fake = FakeFedi::start(personality, Clock::System).await;
    let dir = TempDir::new().unwrap();
    let config = dir.path().join("bridge.toml");
    let token_file = dir.path().join("home.token");
    std::fs::write(
        &config,
        format!(
            "[sources.home]\nkind = \"fediverse\"\nserver = \"{server}\"\nurl = \"{}\"\n\
             token_file = {:?}\nschedule = \"0 * * * * *\"\n\n\
             [targets.out]\nkind = \"dry-run\"\n\n[routes.r]\nsource = \"home\"\ntargets = [\"out\"]\n",
            fake.url,
            token_file.display().to_string()
        ),
    )
    .unwrap();
    let s = Setup {
        dir,
        config,
        token_file,
    };
    let out = authorize(&s, &[], |code| code).await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(
        std::fs::read_to_string(&s.token_file).unwrap(),
        format!("{TOKEN}\n")
    );
    let st = fake.state();
    let apps: Vec<_> = st.oauth.apps.values().collect();
    assert_eq!(apps[0].scopes, scopes);
    assert_eq!(st.oauth.tokens_issued, [scopes]);
}

/// `auth` run while a backfill has used up the account's window: `GoToSocial` answers 429
/// (the reset in its headers, no `Retry-After`). `auth` waits for the reset, says how long,
/// and goes on to store the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_up_window_is_waited_out_saying_how_long() {
    let fake = FakeFedi::start(Personality::GoToSocial, Clock::System).await;
    fake.set_limit("requests", 2, chrono::Duration::seconds(3));
    // The backfill's requests: the window is used up.
    let http = reqwest::Client::builder()
        .user_agent("another client")
        .build()
        .unwrap();
    for _ in 0..2 {
        let answer = http
            .get(format!("{}/api/v1/instance", fake.url))
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success());
    }
    let s = Setup::new("gotosocial", &fake.url);
    let out = authorize(&s, &[], |code| code).await;
    assert!(out.success, "{}\n{}", out.stdout, out.stderr);
    assert!(fake.too_many() >= 1, "the window was not used up");
    assert!(
        out.stderr.contains("rate limit is reached") && out.stderr.contains("waiting "),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&s.token_file).unwrap(),
        format!("{TOKEN}\n")
    );
}
