//! `birdbridge auth --target NAME` for an X target, end to end through the binary against
//! the fake X's authorisation endpoints (`fake_x/oauth.rs`): the OAuth 1.0a PIN flow and
//! OAuth 2.0 with PKCE. The binary prints the address; the test approves it on the fake
//! (standing in for the person in a browser) and types the PIN, or pastes the address X
//! redirected to, on the binary's stdin. The credentials land in their files, mode 0600,
//! after the account was verified, and `check` then works with them.

mod fake_x;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use birdbridge::clock::Clock;
use fake_x::write as fx;
use fake_x::FakeX;
use tempfile::TempDir;

struct Setup {
    dir: TempDir,
    fake: FakeX,
}

impl Setup {
    /// An X target with `credentials` (the keys of its table).
    fn new(credentials: &str) -> Self {
        let fake = FakeX::start_in_thread(Clock::System);
        let dir = TempDir::new().unwrap();
        std::fs::write(dir.path().join("consumer-key"), fx::CONSUMER_KEY).unwrap();
        std::fs::write(dir.path().join("consumer-secret"), fx::CONSUMER_SECRET).unwrap();
        let archive = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample-archive");
        std::fs::write(
            dir.path().join("bridge.toml"),
            format!(
                "[ledger]\npath = \"ledger.sqlite\"\n\n[sources.sample]\nkind = \"archive\"\npath = {:?}\nmissing_media = \"link\"\n\n\
                 [targets.x]\nkind = \"x\"\napi_url = \"{}\"\n{credentials}\n\n\
                 [routes.r]\nsource = \"sample\"\ntargets = [\"x\"]\n",
                archive.display().to_string(),
                fake.url(),
            ),
        )
        .unwrap();
        Self { dir, fake }
    }

    fn oauth1() -> Self {
        Self::new(
            "consumer_key_file = \"consumer-key\"\nconsumer_secret_file = \"consumer-secret\"\n\
             access_token_file = \"secrets/x-access-token\"\naccess_token_secret_file = \"secrets/x-access-secret\"",
        )
    }

    fn oauth2() -> Self {
        Self::new(&format!(
            "oauth2_token_file = \"secrets/x-oauth2.json\"\nclient_id = \"{}\"",
            fx::CLIENT_ID
        ))
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_birdbridge"));
        cmd.arg("--config")
            .arg(self.path("bridge.toml"))
            .args(args)
            .env("BIRDBRIDGE_LOG", "warn");
        cmd
    }

    /// Runs `auth --target x` (with `extra` arguments): reads the prompt up to the line
    /// naming `marker`, hands that address to `answer`, types what it returns.
    fn auth(&self, extra: &[&str], marker: &str, answer: impl FnOnce(&str) -> String) -> Outcome {
        let mut args = vec!["auth", "--target", "x"];
        args.extend_from_slice(extra);
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            printed.push_str(&line);
            if let Some(url) = line.split_whitespace().find(|w| w.contains(marker)) {
                let typed = answer(url);
                writeln!(child.stdin.take().unwrap(), "{typed}").unwrap();
                break;
            }
        }
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        printed.push_str(&rest);
        let out = child.wait_with_output().unwrap();
        Outcome {
            success: out.status.success(),
            stdout: printed,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn check(&self) -> (bool, String) {
        let out = self.command(&["check"]).output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

#[derive(Debug)]
struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn query(url: &str, key: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == key)
        .map_or_else(|| panic!("no {key} in {url}"), |(_, v)| v.into_owned())
}

#[test]
fn the_pin_flow_writes_the_access_keys_privately() {
    let s = Setup::oauth1();
    let fake = s.fake.clone();
    let out = s.auth(&[], "/oauth/authorize?", |url| {
        fake.approve_pin(&query(url, "oauth_token"))
    });
    assert!(out.success, "{out:?}");
    assert!(
        out.stdout
            .contains(&format!("token for @{} written to", fx::WRITER_NAME)),
        "{out:?}"
    );
    let (token, secret) = (
        s.path("secrets/x-access-token"),
        s.path("secrets/x-access-secret"),
    );
    for file in [&token, &secret] {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let issued = std::fs::read_to_string(&token).unwrap();
    assert!(issued.starts_with(fx::WRITER_ID), "{issued}");
    assert!(!out.stdout.contains(issued.trim()) && !out.stderr.contains(issued.trim()));
    // The issued keys work: `check` names the account with them.
    let (ok, text) = s.check();
    assert!(ok, "{text}");
    assert!(text.contains(&format!("as @{}", fx::WRITER_NAME)), "{text}");

    // Again without --force: the files are kept.
    let out = s.auth(&[], "/oauth/authorize?", |_| "0".to_owned());
    assert!(!out.success);
    assert!(out.stderr.contains("exists already"), "{out:?}");
    assert_eq!(std::fs::read_to_string(&token).unwrap(), issued);
}

#[test]
fn a_wrong_pin_writes_nothing() {
    let s = Setup::oauth1();
    let out = s.auth(&[], "/oauth/authorize?", |_| "9999999".to_owned());
    assert!(!out.success, "{out:?}");
    assert!(out.stderr.contains("oauth_verifier"), "{out:?}");
    assert!(!s.path("secrets/x-access-token").exists());
    assert!(!s.path("secrets/x-access-secret").exists());
}

#[test]
fn pkce_writes_a_token_file_the_target_reads() {
    let s = Setup::oauth2();
    let fake = s.fake.clone();
    let out = s.auth(&[], "code_challenge=", |url| {
        let (code, state) = fake.approve_code(url);
        assert_eq!(query(url, "redirect_uri"), "http://127.0.0.1:8723/callback");
        format!("http://127.0.0.1:8723/callback?state={state}&code={code}")
    });
    assert!(out.success, "{out:?}");
    let file = s.path("secrets/x-oauth2.json");
    assert_eq!(mode(&file), 0o600);
    let tokens: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(Some(refresh.to_owned()), s.fake.current_refresh_token());
    assert!(!out.stdout.contains(refresh) && !out.stderr.contains(refresh));
    let (ok, text) = s.check();
    assert!(ok, "{text}");
    assert!(text.contains("OAuth 2.0"), "{text}");
}

#[test]
fn an_answer_to_another_authorisation_is_refused() {
    let s = Setup::oauth2();
    let fake = s.fake.clone();
    let out = s.auth(&[], "code_challenge=", |url| {
        let (code, _) = fake.approve_code(url);
        format!("http://127.0.0.1:8723/callback?state=someone-elses&code={code}")
    });
    assert!(!out.success);
    assert!(out.stderr.contains("state differs"), "{out:?}");
    assert!(!s.path("secrets/x-oauth2.json").exists());
}
