//! The X write-API client against the fake X over real HTTP on 127.0.0.1: posts and reply
//! chains signed with OAuth 1.0a (the fake checks every signature on its own), X's reply
//! rule, media with descriptions (an image; a chunked video streamed from a file, its
//! processing polled on a manual clock to success and to failure), local refusals, each
//! class of X's answers with its rate limits, reconciliation after unknown outcomes, reposts
//! and deletes, and OAuth 2.0 tokens refreshed, rotated and written back.

mod fake_x;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use birdbridge::clock::{Clock, ManualClock};
use birdbridge::config::Secret;
use birdbridge::targets::x::client::{MediaBody, NewPost, OwnPostsQuery};
use birdbridge::targets::x::media::State;
use birdbridge::targets::x::oauth1::OAuth1Keys;
use birdbridge::targets::x::oauth2::{
    read_token_file, write_token_file, CredentialError, OAuth2Client, TokenSet, UserToken,
};
use birdbridge::targets::x::reconcile::{self, Sent};
use birdbridge::targets::x::{Credentials, Failed, XApi, XError};
use chrono::{DateTime, Duration, TimeZone, Utc};
use fake_x::write::{self as fx, PostFault};
use fake_x::FakeX;
use tokio_util::sync::CancellationToken;

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 9, 0, 0).unwrap()
}

fn keys() -> OAuth1Keys {
    OAuth1Keys {
        consumer_key: Secret::new(fx::CONSUMER_KEY),
        consumer_secret: Secret::new(fx::CONSUMER_SECRET),
        token: Secret::new(fx::ACCESS_TOKEN),
        token_secret: Secret::new(fx::ACCESS_SECRET),
    }
}

/// The fake and a client of it, sharing an auto-advancing manual clock.
async fn setup() -> (FakeX, XApi, Arc<ManualClock>) {
    let (clock, handle) = Clock::manual(start());
    let fake = FakeX::start(clock.clone()).await;
    let api = client(&fake, Credentials::OAuth1(keys()), clock);
    (fake, api, handle)
}

fn client(fake: &FakeX, credentials: Credentials, clock: Clock) -> XApi {
    XApi::new(
        reqwest::Client::new(),
        &fake.url(),
        credentials,
        StdDuration::from_secs(5),
        clock,
    )
}

fn post(text: &str) -> NewPost<'_> {
    NewPost {
        text,
        ..NewPost::default()
    }
}

fn error(result: Result<impl std::fmt::Debug, Failed>) -> Failed {
    result.expect_err("X should have refused")
}

#[tokio::test]
async fn a_reply_chain_is_posted_once_each_with_checked_signatures() {
    let (fake, api, _) = setup().await;
    let me = api.me().await.unwrap().value;
    assert_eq!(me.id, fx::WRITER_ID);
    assert_eq!(me.username, fx::WRITER_NAME);

    let first = api.create_post(&post("1/3 the start")).await.unwrap();
    assert_eq!(first.value.text, "1/3 the start");
    let second = api
        .create_post(&NewPost {
            text: "2/3 the middle",
            reply_to: Some(&first.value.id),
            ..NewPost::default()
        })
        .await
        .unwrap();
    let third = api
        .create_post(&NewPost {
            text: "3/3 the end & more https://mastodon.example/@org/1",
            reply_to: Some(&second.value.id),
            ..NewPost::default()
        })
        .await
        .unwrap();

    let made = fake.made_posts();
    assert_eq!(made.len(), 3);
    assert_eq!(
        made[1]["referenced_tweets"][0]["id"],
        first.value.id.as_str()
    );
    assert_eq!(
        made[2]["referenced_tweets"][0]["id"],
        second.value.id.as_str()
    );
    // X's rendition: escaped, the link wrapped.
    assert!(
        third.value.text.contains("&amp; more https://t.co/"),
        "{}",
        third.value.text
    );
    assert_eq!(fake.write_calls("POST /2/tweets"), 3);
    assert_eq!(fake.bad_signatures(), 0);

    // The answer's rate limits, in the budget's form.
    let limits = third.limits;
    assert_eq!(limits.window.limit, Some(100));
    assert_eq!(limits.window.remaining, Some(97));
    assert_eq!(
        limits.window.reset_at,
        Some(start() + Duration::seconds(900))
    );
    assert_eq!(limits.app_day.as_ref().and_then(|d| d.limit), Some(10_000));
}

#[tokio::test]
async fn a_reply_to_an_account_that_did_not_summon_us_is_refused_as_such() {
    let (fake, api, _) = setup().await;
    fake.add_user("42", "stranger");
    let stranger = fake.post("42", "a post of a stranger", serde_json::json!({}));
    let summoning = fake.post(
        "42",
        &format!("hey @{} what do you think?", fx::WRITER_NAME),
        serde_json::json!({}),
    );
    let id = stranger.to_string();
    let refused = error(
        api.create_post(&NewPost {
            text: "an answer",
            reply_to: Some(&id),
            ..NewPost::default()
        })
        .await,
    );
    match refused.error {
        XError::ReplyRefused { message } => {
            assert!(message.contains("mentioned"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // The thread's fallback: the same text, replying to nothing, goes out.
    api.create_post(&post("an answer")).await.unwrap();
    // A parent that mentions the account may be answered.
    let summoned = summoning.to_string();
    api.create_post(&NewPost {
        text: "thanks for asking",
        reply_to: Some(&summoned),
        ..NewPost::default()
    })
    .await
    .unwrap();
    // Quotes need a plan that allows them.
    let quote = error(
        api.create_post(&NewPost {
            text: "quoting",
            quote_of: Some(&summoned),
            ..NewPost::default()
        })
        .await,
    );
    assert!(
        matches!(quote.error, XError::ReplyRefused { .. }),
        "{quote:?}"
    );
    fake.allow_quotes();
    api.create_post(&NewPost {
        text: "quoting",
        quote_of: Some(&summoned),
        ..NewPost::default()
    })
    .await
    .unwrap();
    assert_eq!(fake.made_posts().len(), 3);
}

#[tokio::test]
async fn an_image_goes_with_its_description() {
    let (fake, api, _) = setup().await;
    let bytes = vec![0xab_u8; 150_000];
    let uploaded = api
        .upload(MediaBody::Bytes(&bytes), "image/jpeg")
        .await
        .unwrap()
        .value;
    assert_eq!(uploaded.processing.state, State::Succeeded);
    api.media_metadata(&uploaded.id, "A heron standing in a pond")
        .await
        .unwrap();
    let ids = [uploaded.id.clone()];
    api.create_post(&NewPost {
        text: "Spring",
        media_ids: &ids,
        ..NewPost::default()
    })
    .await
    .unwrap();
    assert_eq!(
        fake.alt_text(&uploaded.id).as_deref(),
        Some("A heron standing in a pond")
    );
    assert_eq!(fake.segments(&uploaded.id), vec![(0, 150_000)]);
    let made = fake.made_posts();
    assert_eq!(
        made[0]["attachments"]["media_keys"][0],
        format!("3_{}", uploaded.id)
    );
    assert_eq!(fake.write_calls("POST /2/media/metadata"), 1);
}

fn video_file(size: usize) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    std::io::Write::write_all(&mut file, &vec![0x11_u8; size]).unwrap();
    file
}

#[tokio::test]
async fn a_video_is_sent_in_chunks_and_polled_until_processed() {
    let (fake, api, clock) = setup().await;
    let api = api.with_chunk_size(64 * 1024);
    let file = video_file(300_000);
    let media = MediaBody::File {
        path: file.path(),
        size: 300_000,
    };
    let uploaded = api.upload(media, "video/mp4").await.unwrap().value;
    assert_eq!(
        fake.segments(&uploaded.id),
        vec![
            (0, 65_536),
            (1, 65_536),
            (2, 65_536),
            (3, 65_536),
            (4, 37_856)
        ]
    );
    assert_eq!(uploaded.processing.state, State::Pending);
    assert_eq!(uploaded.processing.check_after_secs, Some(1));

    let before = clock.slept();
    api.wait_for_processing(
        &uploaded.id,
        uploaded.processing.clone(),
        &CancellationToken::new(),
        Duration::minutes(5),
    )
    .await
    .unwrap();
    // pending (check after 1 s) → in progress (check after 2 s) → succeeded.
    assert_eq!(fake.write_calls("GET /2/media/upload"), 2);
    assert_eq!(clock.slept() - before, Duration::seconds(3));

    api.media_metadata(&uploaded.id, "The heron takes off")
        .await
        .unwrap();
    let ids = [uploaded.id.clone()];
    api.create_post(&NewPost {
        text: "Take-off",
        media_ids: &ids,
        ..NewPost::default()
    })
    .await
    .unwrap();
    assert_eq!(fake.write_calls("POST /2/media/upload/{id}/append"), 5);
    assert_eq!(fake.write_calls("POST /2/media/upload/{id}/finalize"), 1);
    assert_eq!(fake.made_posts().len(), 1);
}

#[tokio::test]
async fn a_video_x_cannot_process_is_reported_and_never_posted() {
    let (fake, api, _) = setup().await;
    fake.next_processing_fails();
    let bytes = vec![0x22_u8; 10_000];
    let uploaded = api
        .upload(MediaBody::Bytes(&bytes), "video/mp4")
        .await
        .unwrap()
        .value;
    let failed = error(
        api.wait_for_processing(
            &uploaded.id,
            uploaded.processing,
            &CancellationToken::new(),
            Duration::minutes(5),
        )
        .await,
    );
    match failed.error {
        XError::MediaFailed { message } => assert_eq!(message, "Unsupported video format"),
        other => panic!("{other:?}"),
    }
    // A post naming it is refused by X too.
    let ids = [uploaded.id];
    let refused = error(
        api.create_post(&NewPost {
            text: "broken",
            media_ids: &ids,
            ..NewPost::default()
        })
        .await,
    );
    assert!(matches!(
        refused.error,
        XError::Rejected { status: 400, .. }
    ));
    assert!(fake.made_posts().is_empty());
}

#[tokio::test]
async fn a_processing_wait_ends_when_the_run_is_cancelled() {
    // A clock that moves only when told: the wait would last forever.
    let clock = ManualClock::new(start());
    let fake = FakeX::start(Clock::from(Arc::clone(&clock))).await;
    let api = client(&fake, Credentials::OAuth1(keys()), Clock::from(clock));
    let bytes = vec![0x33_u8; 1_000];
    let uploaded = api
        .upload(MediaBody::Bytes(&bytes), "video/mp4")
        .await
        .unwrap()
        .value;
    let cancel = CancellationToken::new();
    let stop = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
        stop.cancel();
    });
    let failed = error(
        api.wait_for_processing(
            &uploaded.id,
            uploaded.processing,
            &cancel,
            Duration::minutes(5),
        )
        .await,
    );
    assert!(matches!(failed.error, XError::Interrupted), "{failed:?}");
    assert_eq!(fake.write_calls("GET /2/media/upload"), 0);
}

#[tokio::test]
async fn limits_are_checked_before_anything_is_sent() {
    let (fake, api, _) = setup().await;
    let long = "é".repeat(1001);
    let refused = error(api.media_metadata("123", &long).await);
    match refused.error {
        XError::Invalid { message } => assert!(message.contains("1001"), "{message}"),
        other => panic!("{other:?}"),
    }
    let too_big = vec![0_u8; 5 * 1024 * 1024 + 1];
    let refused = error(api.upload(MediaBody::Bytes(&too_big), "image/png").await);
    assert!(
        matches!(refused.error, XError::Invalid { .. }),
        "{refused:?}"
    );
    let refused = error(api.upload(MediaBody::Bytes(b"x"), "audio/mpeg").await);
    assert!(
        matches!(refused.error, XError::Invalid { .. }),
        "{refused:?}"
    );
    assert_eq!(fake.write_calls("POST /2/media/metadata"), 0);
    assert_eq!(fake.write_calls("POST /2/media/upload/initialize"), 0);

    // Exactly 1,000 characters is allowed.
    let bytes = [1_u8; 10];
    let up = api
        .upload(MediaBody::Bytes(&bytes), "image/png")
        .await
        .unwrap();
    api.media_metadata(&up.value.id, &"é".repeat(1000))
        .await
        .unwrap();
}

#[tokio::test]
async fn each_class_of_refusal() {
    let (fake, api, clock) = setup().await;

    // 400 over length by X's weighted count, with X's message.
    let long = "字".repeat(141);
    match error(api.create_post(&post(&long)).await).error {
        XError::Rejected {
            status: 400,
            message,
            ..
        } => assert!(message.contains("too long"), "{message}"),
        other => panic!("{other:?}"),
    }

    // 401: a wrong secret; the fake sees a bad signature.
    let mut wrong = keys();
    wrong.token_secret = Secret::new("not-the-secret");
    let bad = client(
        &fake,
        Credentials::OAuth1(wrong),
        Clock::from(Arc::clone(&clock)),
    );
    assert!(matches!(
        error(bad.create_post(&post("hello")).await).error,
        XError::Unauthorized { .. }
    ));
    assert_eq!(fake.bad_signatures(), 1);

    // 403 duplicate, found by reading the account's posts.
    let first = api.create_post(&post("Same words")).await.unwrap().value;
    let dup = error(api.create_post(&post("Same words")).await);
    assert!(
        matches!(dup.error, XError::DuplicateContent { .. }),
        "{dup:?}"
    );
    let page = api
        .own_posts(
            fx::WRITER_ID,
            &OwnPostsQuery {
                max_results: 20,
                ..OwnPostsQuery::default()
            },
        )
        .await
        .unwrap()
        .value;
    let found = reconcile::find(
        &page.posts,
        &Sent {
            text: "Same words",
            ..Sent::default()
        },
    );
    assert_eq!(found.map(|p| p.id.as_str()), Some(first.id.as_str()));

    // 429 with the window's reset.
    fake.set_post_window(1, 900);
    api.create_post(&post("one more")).await.unwrap();
    let limited = error(api.create_post(&post("too many")).await);
    let reset = clock.now() + Duration::seconds(900);
    match &limited.error {
        XError::RateLimited { resume_at } => {
            assert_eq!(resume_at.map(|t| t.timestamp()), Some(reset.timestamp()));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(limited.limits.window.remaining, Some(0));
    assert_eq!(limited.limits.window.limit, Some(1));

    // Nothing more was created than the answers said.
    assert_eq!(fake.made_posts().len(), 2);
}

#[tokio::test]
async fn an_unknown_outcome_is_settled_by_reading_the_account() {
    let (clock, _) = Clock::manual(start());
    let fake = FakeX::start(clock.clone()).await;
    let api = XApi::new(
        reqwest::Client::new(),
        &fake.url(),
        Credentials::OAuth1(keys()),
        StdDuration::from_millis(300),
        clock,
    );
    let attempt_at = start();

    // Created, answered too late: a timeout.
    fake.fault_next_post(PostFault::CreatedThenLate(1_500));
    let late = error(api.create_post(&post("slow news")).await);
    match &late.error {
        XError::UnknownOutcome { message } => assert_eq!(message, "timed out"),
        other => panic!("{other:?}"),
    }
    // Created, answered with a gateway error.
    fake.fault_next_post(PostFault::CreatedThenStatus(503));
    let gateway = error(api.create_post(&post("flaky news")).await);
    assert!(
        matches!(gateway.error, XError::UnknownOutcome { .. }),
        "{gateway:?}"
    );

    let page = api
        .own_posts(
            fx::WRITER_ID,
            &OwnPostsQuery {
                start_time: Some(attempt_at),
                max_results: 10,
                pagination_token: None,
            },
        )
        .await
        .unwrap();
    for text in ["slow news", "flaky news"] {
        let sent = Sent {
            text,
            not_before: Some(attempt_at),
            ..Sent::default()
        };
        assert!(
            reconcile::find(&page.value.posts, &sent).is_some(),
            "{text}"
        );
    }
    // Reconciliation reads are answered with the read side's limits.
    assert!(page.limits.window.limit.is_some());
    assert_eq!(
        fake.write_calls(
            "GET /2/users/{id}/tweets"
                .replace("{id}", fx::WRITER_ID)
                .as_str()
        ),
        1
    );
    // Each was sent once; the client resent nothing.
    assert_eq!(fake.write_calls("POST /2/tweets"), 2);
    assert_eq!(fake.made_posts().len(), 2);
}

#[tokio::test]
async fn a_server_that_cannot_be_reached() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let api = XApi::new(
        reqwest::Client::new(),
        &format!("http://{addr}"),
        Credentials::OAuth1(keys()),
        StdDuration::from_secs(2),
        Clock::System,
    );
    assert!(matches!(
        error(api.create_post(&post("hello")).await).error,
        XError::Unreachable { .. }
    ));
}

#[tokio::test]
async fn reposts_and_deletes() {
    let (fake, api, _) = setup().await;
    let mine = api.create_post(&post("ours")).await.unwrap().value;
    api.repost(fx::WRITER_ID, &mine.id).await.unwrap();
    let page = api
        .own_posts(
            fx::WRITER_ID,
            &OwnPostsQuery {
                max_results: 10,
                ..OwnPostsQuery::default()
            },
        )
        .await
        .unwrap()
        .value;
    assert!(reconcile::find_repost(&page.posts, &mine.id).is_some());
    assert!(api.delete_post(&mine.id).await.unwrap().value);
    let gone = error(api.delete_post(&mine.id).await);
    assert!(
        matches!(gone.error, XError::Rejected { status: 404, .. }),
        "{gone:?}"
    );
    assert_eq!(fake.write_calls("DELETE /2/tweets/{id}"), 2);
    assert_eq!(fake.write_calls("POST /2/users/{id}/retweets"), 1);
}

fn oauth2_client(fake: &FakeX) -> OAuth2Client {
    OAuth2Client {
        token_url: format!("{}/2/oauth2/token", fake.url()),
        client_id: fx::CLIENT_ID.to_owned(),
        client_secret: None,
    }
}

#[tokio::test]
async fn oauth2_tokens_are_refreshed_rotated_and_written_back() {
    let (clock, _) = Clock::manual(start());
    let fake = FakeX::start(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x-token.json");
    // An access token that has expired, and a refresh token X knows.
    fake.grant("old-access", 60, "refresh-0");
    write_token_file(
        &path,
        &TokenSet {
            refresh_token: Secret::new("refresh-0"),
            access_token: Some(Secret::new("old-access")),
            expires_at: Some(start() - Duration::seconds(1)),
        },
    )
    .unwrap();
    let token = Arc::new(UserToken::load(oauth2_client(&fake), &path).unwrap());
    let api = client(
        &fake,
        Credentials::OAuth2(Arc::clone(&token)),
        clock.clone(),
    );

    api.create_post(&post("first with OAuth 2.0"))
        .await
        .unwrap();
    assert_eq!(fake.write_calls("POST /2/oauth2/token"), 1);
    let on_disk = read_token_file(&path).unwrap();
    assert_eq!(on_disk.refresh_token, Secret::new("fake-refresh-1"));
    assert_eq!(on_disk.access_token, Some(Secret::new("fake-access-1")));
    assert_eq!(on_disk.expires_at, Some(start() + Duration::seconds(7200)));
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // X revokes the access token early: the 401 renews it and the post goes once.
    fake.expire_access_tokens();
    api.create_post(&post("second with OAuth 2.0"))
        .await
        .unwrap();
    assert_eq!(fake.write_calls("POST /2/oauth2/token"), 2);
    assert_eq!(fake.write_calls("POST /2/tweets"), 3);
    assert_eq!(fake.made_posts().len(), 2);
    assert_eq!(
        read_token_file(&path).unwrap().refresh_token,
        Secret::new("fake-refresh-2")
    );
    assert_eq!(
        fake.current_refresh_token().as_deref(),
        Some("fake-refresh-2")
    );

    // Another process already refreshed: the file's newer tokens are used, no refresh.
    write_token_file(
        &path,
        &TokenSet {
            refresh_token: Secret::new("refresh-elsewhere"),
            access_token: Some(Secret::new("from-elsewhere")),
            expires_at: Some(clock.now() + Duration::seconds(7200)),
        },
    )
    .unwrap();
    fake.expire_access_tokens();
    fake.grant("from-elsewhere", 7200, "refresh-elsewhere");
    api.create_post(&post("third with OAuth 2.0"))
        .await
        .unwrap();
    assert_eq!(fake.write_calls("POST /2/oauth2/token"), 2);
}

#[tokio::test]
async fn a_refused_refresh_leaves_the_token_file_as_it_was() {
    let (clock, _) = Clock::manual(start());
    let fake = FakeX::start(clock.clone()).await;
    fake.grant("unrelated", 60, "the-current-one");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x-token.json");
    write_token_file(
        &path,
        &TokenSet {
            refresh_token: Secret::new("a-spent-one"),
            access_token: None,
            expires_at: None,
        },
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let token = Arc::new(UserToken::load(oauth2_client(&fake), &path).unwrap());
    let api = client(&fake, Credentials::OAuth2(token), clock);
    let refused = error(api.create_post(&post("never sent")).await);
    match &refused.error {
        XError::Credentials(CredentialError::RefreshRefused { message }) => {
            assert!(message.contains("400"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read(&path).unwrap(), before);
    assert_eq!(fake.write_calls("POST /2/tweets"), 0);
    // The error and the client show no token.
    let shown = format!("{refused} {refused:?} {api:?}");
    for secret in ["a-spent-one", "the-current-one", fx::ACCESS_SECRET] {
        assert!(!shown.contains(secret), "{shown}");
    }
}

#[tokio::test]
async fn an_app_only_token_cannot_write() {
    let (clock, _) = Clock::manual(start());
    let fake = FakeX::start(clock.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x-token.json");
    write_token_file(
        &path,
        &TokenSet {
            refresh_token: Secret::new("unused"),
            access_token: Some(Secret::new(fake_x::TOKEN)),
            expires_at: Some(start() + Duration::hours(1)),
        },
    )
    .unwrap();
    let token = Arc::new(UserToken::load(oauth2_client(&fake), &path).unwrap());
    let api = client(&fake, Credentials::OAuth2(token), clock);
    match error(api.create_post(&post("hello")).await).error {
        XError::Forbidden { problem, .. } => {
            assert!(problem.unwrap().ends_with("unsupported-authentication"));
        }
        other => panic!("{other:?}"),
    }
    let keys_debug = format!("{:?}", keys());
    assert!(!keys_debug.contains(fx::CONSUMER_SECRET), "{keys_debug}");
}
