//! Statuses written for this project in the shapes Mastodon, `GoToSocial` and Pleroma send
//! (`tests/fixtures/fediverse/`), served on 127.0.0.1 and read through megalodon's client for
//! that server, as the source reads them, then normalised.

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use megalodon::SNS;

use super::*;

const OWN_ID: &str = "109000000000000001";

/// The fixture `name` as megalodon's client for `sns` reads it from a server.
async fn read(sns: SNS, name: &str) -> Status {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = Router::new().route(
        "/api/v1/statuses/{name}",
        get(|Path(name): Path<String>| async move {
            let path = format!(
                "{}/tests/fixtures/fediverse/{name}.json",
                env!("CARGO_MANIFEST_DIR")
            );
            (
                [("content-type", "application/json")],
                std::fs::read_to_string(path).unwrap(),
            )
        }),
    );
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let client = megalodon::generator(sns, url, Some("t".into()), None).unwrap();
    let status = client.get_status(name.to_owned()).await.unwrap().json;
    server.abort();
    status
}

fn mentions(post: &Post) -> Vec<(&str, &str)> {
    post.facets
        .iter()
        .filter_map(|f| match &f.kind {
            FacetKind::Mention { username } => {
                Some((&post.text[f.range.clone()], username.as_str()))
            }
            _ => None,
        })
        .collect()
}

fn links(post: &Post) -> Vec<(&str, &str)> {
    post.facets
        .iter()
        .filter_map(|f| match &f.kind {
            FacetKind::Link { url } => Some((&post.text[f.range.clone()], url.as_str())),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn mastodon_status_text_warning_mentions_media() {
    let s = normalize_status(&read(SNS::Mastodon, "mastodon_status").await, OWN_ID);
    assert!(s.public);
    let post = &s.post;
    assert_eq!(post.id.as_str(), "113500000000000010");
    assert_eq!(post.author.username, "newsroom");
    assert_eq!(
        post.text,
        "CW: Spoilers for the annual report\nOur report is out \
         https://example.org/reports/2026/annual-report with thanks to @ann@other.example and @bob@social.example :blobcat:\n\n\
         Line one\nline two #OpenData"
    );
    // The warning is the first line; `sensitive` goes with it (every status under a warning
    // is rendered sensitive).
    assert!(!post.sensitive);
    // Mastodon's shortened display is the whole link; the mentions name their servers, a
    // local one (`acct` "bob") by its profile's server.
    assert_eq!(
        links(post),
        [(
            "https://example.org/reports/2026/annual-report",
            "https://example.org/reports/2026/annual-report"
        )]
    );
    assert_eq!(
        mentions(post),
        [
            ("@ann@other.example", "ann@other.example"),
            ("@bob@social.example", "bob@social.example")
        ]
    );
    assert!(post.facets.iter().any(|f| f.kind
        == FacetKind::Hashtag {
            tag: "OpenData".into()
        }
        && &post.text[f.range.clone()] == "#OpenData"));
    let kinds: Vec<(MediaKind, bool, Option<&str>)> = post
        .media
        .iter()
        .map(|m| {
            (
                m.kind,
                matches!(m.source, MediaSource::Url(_)),
                m.alt_text.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            (
                MediaKind::Photo,
                true,
                Some("A bar chart of visitors per month")
            ),
            (MediaKind::Gif, true, Some("A cat waving")),
            (MediaKind::Video, true, Some("The director speaks")),
            // Audio is linked, with its description kept.
            (MediaKind::Video, false, Some("The podcast episode")),
        ]
    );
    assert_eq!(post.media[0].width, Some(1200));
    assert_eq!(
        post.media[3].original_url.as_deref(),
        Some("https://files.social.example/a/4.mp3")
    );
    assert_eq!(post.language.as_deref(), Some("en"));
    assert_eq!(
        post.url,
        "https://social.example/@newsroom/113500000000000010"
    );
    assert_eq!(post.references, References::default());
    assert_eq!(s.edited_at, None);
}

#[tokio::test]
async fn poll_options_become_lines() {
    let s = normalize_status(&read(SNS::Mastodon, "mastodon_poll").await, OWN_ID);
    assert_eq!(
        s.post.text,
        "Which format do you prefer?\n\n○ PDF\n○ Web page"
    );
}

#[tokio::test]
async fn self_reply_is_a_thread_and_other_reply_is_not() {
    let own = normalize_status(&read(SNS::Mastodon, "mastodon_self_reply").await, OWN_ID);
    assert_eq!(own.post.kind(), crate::model::PostKind::Original);
    let parent = own.post.references.reply_to.as_ref().unwrap();
    assert_eq!(parent.id.as_ref().unwrap().as_str(), "113500000000000010");

    let other = normalize_status(&read(SNS::Mastodon, "mastodon_reply_other").await, OWN_ID);
    assert_eq!(other.post.kind(), crate::model::PostKind::ReplyToOther);
    assert_eq!(
        other
            .post
            .references
            .reply_to
            .as_ref()
            .unwrap()
            .username
            .as_deref(),
        Some("ann@other.example")
    );
}

#[tokio::test]
async fn reblog_is_a_repost_of_the_original() {
    let s = normalize_status(&read(SNS::Mastodon, "mastodon_reblog").await, OWN_ID);
    assert_eq!(s.post.kind(), crate::model::PostKind::Repost);
    assert_eq!(s.post.id.as_str(), "113500000000000014");
    let original = s.post.references.repost_of.as_ref().unwrap();
    assert_eq!(original.id.as_ref().unwrap().as_str(), "113400000000000001");
    assert_eq!(
        original.username.as_deref(),
        Some("newsroom@social.example")
    );
    assert_eq!(
        original.url.as_deref(),
        Some("https://social.example/@newsroom/113400000000000001")
    );
    assert_eq!(s.post.text, "An older post of ours.");
}

#[tokio::test]
async fn quote_is_a_quote() {
    let s = normalize_status(&read(SNS::Mastodon, "mastodon_quote").await, OWN_ID);
    assert_eq!(s.post.kind(), crate::model::PostKind::Quote);
    let quoted = s.post.references.quote_of.as_ref().unwrap();
    assert_eq!(quoted.id.as_ref().unwrap().as_str(), "99");
    assert_eq!(quoted.url.as_deref(), Some("https://other.example/@ann/99"));
}

#[tokio::test]
async fn followers_only_direct_and_local_are_not_public() {
    for (sns, name, visibility) in [
        (SNS::Mastodon, "mastodon_private", "private"),
        (SNS::Mastodon, "mastodon_direct", "direct"),
        (SNS::Pleroma, "pleroma_local", "local"),
    ] {
        let s = normalize_status(&read(sns, name).await, OWN_ID);
        assert!(!s.public, "{name}");
        assert_eq!(s.visibility, visibility);
    }
}

#[tokio::test]
async fn edited_versions_have_their_own_ids() {
    let first = normalize_status(&read(SNS::Mastodon, "mastodon_status").await, OWN_ID);
    let edited = normalize_status(&read(SNS::Mastodon, "mastodon_edited").await, OWN_ID);
    assert_eq!(edited.post.id, first.post.id);
    assert!(edited.edited_at.is_some());
    let v = version_id(&edited);
    assert_eq!(v.as_str(), "113500000000000010.edit.1796033100000");
    assert_eq!(version_id(&edited), v, "the same version, the same id");
    // Without `edited_at`, versions differ by what they show.
    let mut a = edited.clone();
    a.edited_at = None;
    let mut b = a.clone();
    b.post.text.push('!');
    assert_ne!(version_id(&a), version_id(&b));
    assert!(version_id(&a)
        .as_str()
        .starts_with("113500000000000010.edit."));
}

#[tokio::test]
async fn gotosocial_status() {
    let s = normalize_status(
        &read(SNS::Gotosocial, "gotosocial_status").await,
        "01HZZZZACCT0000000000000000",
    );
    assert!(s.public, "unlisted is mirrored");
    assert_eq!(s.visibility, "unlisted");
    assert_eq!(
        s.post.text,
        "Hello from GoToSocial, @ann@other.example!\nSee https://example.org/page #fedi"
    );
    assert_eq!(
        mentions(&s.post),
        [("@ann@other.example", "ann@other.example")]
    );
    // Sensitive without a warning: the flag carries over (the route's label becomes the
    // warning).
    assert!(s.post.sensitive);
    assert_eq!(
        s.post.media[0].alt_text.as_deref(),
        Some("A photo of the harbour")
    );
    assert_eq!(
        s.edited_at, None,
        "megalodon's GoToSocial status has no edited_at"
    );
}

#[tokio::test]
async fn pleroma_status() {
    let s = normalize_status(&read(SNS::Pleroma, "pleroma_status").await, "AbCdEf123");
    assert!(s.public);
    assert_eq!(s.post.id.as_str(), "AqQ1xZzRxK9TQ1m4bY");
    assert_eq!(
        s.post.text,
        "CW: birds\nAkkoma says hi to @ann@other.example #birds"
    );
    assert_eq!(
        mentions(&s.post),
        [("@ann@other.example", "ann@other.example")]
    );
    assert!(s.post.facets.iter().any(|f| f.kind
        == FacetKind::Hashtag {
            tag: "birds".into()
        }));
}
