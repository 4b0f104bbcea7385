//! What each personality of the fake does differently, in one table, so the handlers in
//! `mod.rs` ask a question instead of naming servers. Each row says where its facts come
//! from; `docs/servers.md` lists them with the same sources.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::Personality;

/// The traits of one personality.
#[derive(Debug, Clone)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "a table of yes/no facts about servers"
)]
pub struct Traits {
    /// nodeinfo `software.name`.
    pub software: &'static str,
    /// nodeinfo `software.version`.
    pub version: &'static str,
    /// Whether answers carry `X-RateLimit-*` headers.
    pub rate_headers: bool,
    /// Whether `Retry-After` comes with a 429.
    pub retry_after: bool,
    /// Whether the window starts at the client's first request (else epoch-aligned).
    pub window_from_first_request: bool,
    /// Whether `X-RateLimit-Reset` is cut down to the whole second while the window really
    /// ends later within it (`GoToSocial`): a request in that second still counts in the
    /// old window, and is refused when that one is used up.
    pub whole_second_resets: bool,
    /// Whether the connection is closed after every answer (without `Connection: close`).
    pub closes_after_answer: bool,
    /// Whether `Idempotency-Key` is honoured for an hour.
    pub honours_idempotency: bool,
    /// Whether `"sensitive": "true"` (a string) is refused.
    pub strict_booleans: bool,
    /// Whether a request without `User-Agent` is refused (418).
    pub needs_user_agent: bool,
    /// The status `verify_credentials` answers a bad token with.
    pub bad_token_on_verify: StatusCode,
    /// The status a status over the limit is refused with.
    pub over_limit: StatusCode,
    /// Characters announced, and really enforced (`None`: nothing enforced).
    pub max_characters: usize,
    pub enforced_characters: Option<usize>,
    /// Whether URLs count at full length (else 23 each).
    pub urls_at_full_length: bool,
    /// Whether lengths are UTF-16 code units (.NET strings: Iceshrimp.NET), else code points.
    pub utf16_lengths: bool,
    /// Whether the account JSON lacks `fields`, `moved`, `group`, `discoverable`.
    pub sparse_account: bool,
    /// Whether statuses are refused without an attachment (unless they reply).
    pub needs_media: bool,
    /// Whether a repeated `Idempotency-Key` is refused (400) instead of answered with the
    /// first status (Pixelfed).
    pub refuses_repeated_key: bool,
    /// Attachments per status, announced and enforced.
    pub max_media: usize,
    /// Characters of a content warning, enforced (422 beyond).
    pub max_spoiler: Option<usize>,
    /// Whether a content warning is kept only on a status marked sensitive (Pixelfed's
    /// `statusCreate` stores `spoiler_text` only when `sensitive` is true).
    pub cw_needs_sensitive: bool,
    /// Whether the status text is read as Markdown (Friendica): the fake keeps what a
    /// reader sees (`markdown.rs`).
    pub reads_markdown: bool,
    /// Media types accepted for upload.
    pub media_types: &'static [&'static str],
    /// A visibility value refused, with the status it is refused with.
    pub refused_visibility: Option<(&'static str, StatusCode)>,
    /// Whether an edited status gets a new id (snac), answered by the `PUT`.
    pub new_id_on_edit: bool,
    /// Whether the length checked is the text's alone, without the content warning
    /// (Takahē: Python's `len` of `status`).
    pub counts_text_only: bool,
    /// Whether a reply to a status the server does not know is published as a status of its
    /// own (200, `in_reply_to_id: null`) instead of refused (Takahē).
    pub reply_to_unknown_published: bool,
    /// Whether the framework's errors are HTML pages (Takahē, Django): an unknown id is a
    /// 404 page, a crash a 500 page, and a bad token a 400 "Invalid Bearer token" (as
    /// `text/html`) on every call.
    pub html_errors: bool,
    /// Whether a reblog is answered with the original status (`reblogged: true`, the
    /// original's id) instead of a new status wrapping it (Takahē).
    pub reblog_answers_original: bool,
    /// Whether an edit makes the status public, whatever it was (Takahē's `edit_local`).
    pub edit_makes_public: bool,
    /// Whether nodeinfo's link is written as `https://HOST/nodeinfo/2.0/` whatever the
    /// scheme the server was reached by (Takahē, behind a TLS proxy in production).
    pub nodeinfo_link_https: bool,
}

/// The traits of `p`.
pub fn of(p: Personality) -> Traits {
    let mastodon = Traits {
        software: "mastodon",
        version: "4.3.1",
        rate_headers: true,
        retry_after: true,
        window_from_first_request: false,
        whole_second_resets: false,
        closes_after_answer: false,
        honours_idempotency: true,
        strict_booleans: false,
        needs_user_agent: false,
        bad_token_on_verify: StatusCode::UNAUTHORIZED,
        over_limit: StatusCode::UNPROCESSABLE_ENTITY,
        max_characters: 500,
        enforced_characters: None,
        urls_at_full_length: false,
        utf16_lengths: false,
        sparse_account: false,
        needs_media: false,
        refuses_repeated_key: false,
        max_media: 4,
        max_spoiler: None,
        cw_needs_sensitive: false,
        reads_markdown: false,
        refused_visibility: None,
        new_id_on_edit: false,
        counts_text_only: false,
        reply_to_unknown_published: false,
        html_errors: false,
        reblog_answers_original: false,
        edit_makes_public: false,
        nodeinfo_link_https: false,
        media_types: &[
            "image/jpeg",
            "image/png",
            "image/gif",
            "image/webp",
            "video/mp4",
            "video/quicktime",
            "video/webm",
        ],
    };
    match p {
        Personality::Mastodon => mastodon,
        // docs/servers.md "Measured on real servers" (GoToSocial 0.20 on loopback).
        Personality::GoToSocial => Traits {
            software: "gotosocial",
            version: "0.17.0 git-abc",
            retry_after: false,
            window_from_first_request: true,
            whole_second_resets: true,
            honours_idempotency: false,
            strict_booleans: true,
            needs_user_agent: true,
            over_limit: StatusCode::BAD_REQUEST,
            max_characters: 5000,
            enforced_characters: Some(5000),
            urls_at_full_length: true,
            ..mastodon
        },
        Personality::Minimal => Traits {
            software: "tinyserver",
            version: "1.0",
            rate_headers: false,
            honours_idempotency: false,
            ..mastodon
        },
        // docs/servers.md "Measured on real servers" (snac 2.94 on loopback).
        Personality::Snac => Traits {
            software: "snac",
            version: "2.94",
            rate_headers: false,
            retry_after: false,
            closes_after_answer: true,
            honours_idempotency: false,
            bad_token_on_verify: StatusCode::UNPROCESSABLE_ENTITY,
            max_characters: 100_000,
            enforced_characters: Some(100_000),
            urls_at_full_length: true,
            sparse_account: true,
            new_id_on_edit: true,
            ..mastodon
        },
        // Pleroma/Akkoma: lib/pleroma/web/mastodon_api/views/instance_view.ex (v1 instance:
        // `max_toot_chars`, `max_media_attachments`, `upload_limit`, `description_limit`;
        // version "2.7.2 (compatible; Akkoma ...)"); the character limit counts the CW too
        // (Pleroma docs, config.md `limit`); Idempotency-Key honoured
        // (lib/pleroma/web/plugs/idempotency_plug.ex). Rate limits without headers.
        Personality::Akkoma => Traits {
            software: "akkoma",
            version: "3.13.2",
            rate_headers: false,
            retry_after: false,
            max_characters: 5000,
            enforced_characters: Some(5000),
            urls_at_full_length: true,
            max_media: 1000,
            ..mastodon
        },
        // Pixelfed: app/Http/Controllers/Api/ApiV1Controller.php `statusCreate` (403 "Empty
        // statuses are not allowed" without media_ids unless replying; caption, album and
        // spoiler_text (140) validated with 422; a repeated Idempotency-Key within an hour
        // is a 400 "Duplicate idempotency key."; visibility "direct" refused) and
        // config/pixelfed.php (max_caption_length 500, max_album_length 4, max_photo_size
        // 15000 KB, media_types image/jpeg,image/png,image/gif, max_altext_length 1000).
        Personality::Pixelfed => Traits {
            software: "pixelfed",
            version: "0.12.4",
            rate_headers: false,
            retry_after: false,
            honours_idempotency: false,
            refuses_repeated_key: true,
            max_characters: 500,
            enforced_characters: Some(500),
            urls_at_full_length: true,
            needs_media: true,
            max_media: 4,
            max_spoiler: Some(140),
            cw_needs_sensitive: true,
            media_types: &["image/jpeg", "image/png", "image/gif"],
            refused_visibility: Some(("direct", StatusCode::BAD_REQUEST)),
            ..mastodon
        },
        // Friendica: src/Module/Api/Mastodon/Statuses.php (the status text is read as
        // Markdown, `spoiler_text` becomes the post's title, "direct" is a 500 "Direct
        // messages are currently unsupported", top-level posts go through a post throttle,
        // no Idempotency-Key; a delete answers `[]`) and src/Module/Api/Mastodon/Media.php
        // (uploads are photos). No rate-limit headers. The character limit is not from
        // its source: birdbridge's default for the kind.
        // Iceshrimp.NET: Iceshrimp.Backend/Controllers/Mastodon/StatusController.cs
        // (`PostNote`: Idempotency-Key honoured for 24 h; "Posts must have text, media or
        // poll" is a 400), Iceshrimp.Backend/Core/Services/NoteService.cs (text and CW
        // together at most `CharacterLimit`, counted as .NET string lengths, else 422 "Text &
        // content warning cannot exceed … characters in total"), and
        // Controllers/Mastodon/Schemas/InstanceInfoV2Response.cs (v2 instance: 16
        // attachments, 23 per URL, images up to 10 MiB; its version string lacks the closing
        // parenthesis). The limit's default (8192) is the fake's choice.
        Personality::Iceshrimp => Traits {
            software: "Iceshrimp.NET",
            version: "2024.1-beta5",
            rate_headers: false,
            retry_after: false,
            max_characters: 8192,
            enforced_characters: Some(8192),
            urls_at_full_length: true,
            utf16_lengths: true,
            max_media: 16,
            ..mastodon
        },
        // Takahē 0.11, from its source (github.com/jointakahe/takahe) and what was measured
        // on it (docs/servers.md, "Measured on real servers"): `api/views/statuses.py`
        // (`post_status`: the limit is `len(status)`, 400 "Status is too long"; an unknown
        // `in_reply_to_id` is dropped, the status published on its own; `edit_status` passes
        // no visibility to `edit_local`, which makes the status public, and `sensitive`
        // defaults to false; `reblog_status` answers with the original status),
        // `api/middleware.py` (a token it does not know: 400 "Invalid Bearer token" as an
        // HTML response, on every call), `api/views/instance.py` (version `takahe/0.11.0`,
        // 4 attachments, images only, `video_size_limit` 0), `users/views/activitypub.py`
        // (nodeinfo software `takahe`, its link always `https://HOST/nodeinfo/2.0/`),
        // `templates/404.html`, `500.html`. No rate-limit headers; `Idempotency-Key`
        // ignored; ids are strings.
        Personality::Takahe => Traits {
            software: "takahe",
            version: "0.11.0",
            rate_headers: false,
            retry_after: false,
            honours_idempotency: false,
            bad_token_on_verify: StatusCode::BAD_REQUEST,
            over_limit: StatusCode::BAD_REQUEST,
            max_characters: 500,
            enforced_characters: Some(500),
            urls_at_full_length: true,
            counts_text_only: true,
            reply_to_unknown_published: true,
            html_errors: true,
            reblog_answers_original: true,
            edit_makes_public: true,
            nodeinfo_link_https: true,
            max_media: 4,
            media_types: &[
                "image/apng",
                "image/avif",
                "image/gif",
                "image/jpeg",
                "image/png",
                "image/webp",
            ],
            ..mastodon
        },
        Personality::Friendica => Traits {
            software: "friendica",
            version: "2024.12",
            rate_headers: false,
            retry_after: false,
            honours_idempotency: false,
            max_characters: 200_000,
            enforced_characters: Some(200_000),
            urls_at_full_length: true,
            media_types: &["image/jpeg", "image/png", "image/gif", "image/webp"],
            refused_visibility: Some(("direct", StatusCode::INTERNAL_SERVER_ERROR)),
            reads_markdown: true,
            ..mastodon
        },
    }
}

/// An error body the way `p` writes one: Laravel's `message` (Pixelfed), else `error`.
pub fn error_body(p: Personality, message: &str) -> Value {
    if p == Personality::Pixelfed {
        json!({"message": message})
    } else {
        json!({"error": message})
    }
}

/// `/api/v1/instance` of `p`.
pub fn instance_v1(p: Personality, base: &str) -> Value {
    let t = of(p);
    match p {
        Personality::Minimal => {
            json!({"uri": "minimal.test", "title": "Minimal", "version": "3.0.0"})
        }
        Personality::Snac => json!({
            "uri": base.trim_start_matches("http://"), "title": "snac", "version": "4.0.0 (not true; really snac/2.94)",
            "short_description": "", "description": "", "email": "", "languages": ["en"],
            "stats": {"user_count": 1, "status_count": 0, "domain_count": 0},
            "registrations": false, "approval_required": false, "invites_enabled": false,
            "configuration": {
                "statuses": {"max_characters": t.max_characters, "max_media_attachments": 4, "characters_reserved_per_url": 32},
                "media_attachments": {"supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp", "video/mp4", "video/webm"],
                    "image_size_limit": 16_777_216, "video_size_limit": 16_777_216}
            }
        }),
        Personality::Akkoma => json!({
            "uri": base, "title": "Akkoma", "version": "2.7.2 (compatible; Akkoma 3.13.2)",
            "max_toot_chars": t.max_characters, "max_media_attachments": t.max_media,
            "upload_limit": 16_000_000, "description_limit": 5000,
            "poll_limits": {"max_options": 20}, "pleroma": {"metadata": {"features": []}}
        }),
        Personality::Friendica => json!({
            "uri": base, "title": "Friendica Social Network", "version": "2.8.0 (compatible; Friendica 2024.12)",
            "configuration": {
                "statuses": {"max_characters": t.max_characters},
                "media_attachments": {"supported_mime_types": t.media_types}
            },
            "friendica": {"version": "2024.12", "codename": "Yellow Archangel", "db_version": 1570}
        }),
        Personality::Takahe => json!({
            "uri": base.trim_start_matches("http://"), "title": "Takahē", "version": "takahe/0.11.0",
            "short_description": "", "description": "", "email": "", "urls": {},
            "stats": {"user_count": 1, "status_count": 0, "domain_count": 1},
            "languages": ["en"], "registrations": false, "approval_required": false, "invites_enabled": false,
            "configuration": {
                "accounts": {},
                "statuses": {"max_characters": t.max_characters, "max_media_attachments": t.max_media, "characters_reserved_per_url": 23},
                "media_attachments": {"supported_mime_types": t.media_types,
                    "image_size_limit": 10 * 1024 * 1024, "image_matrix_limit": 2000 * 2000},
                "polls": {"max_options": 4, "max_characters_per_option": 50, "min_expiration": 300, "max_expiration": 2_629_746}
            },
            "contact_account": null, "rules": []
        }),
        Personality::Pixelfed => json!({
            "uri": base.trim_start_matches("http://"), "title": "Pixelfed", "version": "3.5.3 (compatible; Pixelfed 0.12.4)",
            "configuration": {
                "statuses": {"max_characters": t.max_characters, "max_media_attachments": t.max_media, "characters_reserved_per_url": 23},
                "media_attachments": {"supported_mime_types": t.media_types,
                    "image_size_limit": 15_000 * 1024, "video_size_limit": 15_000 * 1024, "description_limit": 1000}
            }
        }),
        _ => json!({
            "uri": "fake.test", "title": "Fake", "version": "4.2.0",
            "configuration": {"statuses": {"max_characters": t.max_characters, "max_media_attachments": 4}}
        }),
    }
}

/// The HTML page `p` answers an error of its framework with (Takahē: Django's templates),
/// when it does.
pub fn error_page(p: Personality, status: StatusCode) -> Option<&'static str> {
    if !of(p).html_errors {
        return None;
    }
    Some(match status {
        StatusCode::BAD_REQUEST => "Invalid Bearer token",
        StatusCode::NOT_FOUND => {
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<title>Page Not Found - Takahē</title>\n\
             <link rel=\"stylesheet\" href=\"/static/css/style.css\" type=\"text/css\" media=\"screen\" />\n\
             </head>\n<body>\n<main>\n<h1>Page Not Found</h1>\n<section class=\"markdown\">\n\
             <p>Sorry about that.</p>\n</section>\n</main>\n</body>\n</html>\n"
        }
        _ => {
            "<!DOCTYPE html>\n<html lang=\"en\">\n    <head>\n        <title>Internal Error</title>\n\
             <meta http-equiv=\"Content-Type\" content=\"text/html; charset=UTF-8\" />\n    </head>\n\
             <body>\n        <main>\n            <section class=\"markdown\">\n\
             <h1 class=\"above\">Internal Server Error</h1>\n\
             <p>The server encountered an error trying to process your request.</p>\n\
             </section>\n        </main>\n    </body>\n</html>\n"
        }
    })
}

/// An error answer as `p` writes it: its HTML page where its framework answers with one,
/// else the JSON body.
pub fn error_answer(p: Personality, status: StatusCode, message: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    match error_page(p, status) {
        Some(page) => {
            (status, [("content-type", "text/html; charset=utf-8")], page).into_response()
        }
        None => (status, axum::Json(error_body(p, message))).into_response(),
    }
}

/// What `/api/v2/instance` answers when `p` has none: a status and an HTML body.
pub fn no_instance_v2(p: Personality) -> Option<(StatusCode, &'static str)> {
    match p {
        Personality::Minimal
        | Personality::Akkoma
        | Personality::Pixelfed
        | Personality::Friendica => {
            Some((StatusCode::NOT_FOUND, "{\"error\":\"Not found\"}"))
        }
        Personality::Snac => Some((
            StatusCode::NOT_FOUND,
            "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body><h1>404 Not Found</h1></body></html>\n",
        )),
        _ => None,
    }
}

/// The account, as `p` sends it.
pub fn account(p: Personality, base: &str, statuses: usize) -> Value {
    let mut a = json!({
        "id": "1", "username": "mirror", "acct": "mirror", "display_name": "Mirror",
        "locked": false, "bot": true, "created_at": "2024-01-01T00:00:00.000Z",
        "followers_count": 0, "following_count": 0, "statuses_count": statuses,
        "note": "", "url": format!("{base}/@mirror"),
        "avatar": "", "avatar_static": "", "header": "", "header_static": "",
        "emojis": [], "fields": [], "moved": null, "group": false, "discoverable": true
    });
    if of(p).sparse_account {
        let o = a.as_object_mut().expect("an object");
        for gone in ["fields", "moved", "group", "discoverable"] {
            o.remove(gone);
        }
        // Counts as strings and a number id elsewhere are handled too; snac sends these.
        o.insert("source".into(), json!({"privacy": "public", "sensitive": false, "language": "en", "note": "", "fields": []}));
    }
    a
}

/// What `p` refuses in a status post before anything else (Pixelfed's rules), as a status
/// and message.
pub fn refuse_post(p: Personality, req: &Value) -> Option<(StatusCode, String)> {
    let t = of(p);
    let media = req["media_ids"].as_array().map_or(0, Vec::len);
    if t.needs_media && media == 0 && req["in_reply_to_id"].is_null() {
        return Some((
            StatusCode::FORBIDDEN,
            "Empty statuses are not allowed".into(),
        ));
    }
    if media > t.max_media {
        return Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "The media ids field must not have more than {} items.",
                t.max_media
            ),
        ));
    }
    if let Some((visibility, status)) = t.refused_visibility {
        if req["visibility"].as_str() == Some(visibility) {
            return Some((status, format!("visibility {visibility} is not available")));
        }
    }
    let spoiler = req["spoiler_text"].as_str().unwrap_or("").chars().count();
    if t.max_spoiler.is_some_and(|max| spoiler > max) {
        return Some((
            StatusCode::UNPROCESSABLE_ENTITY,
            "The spoiler text field must not be greater than 140 characters.".into(),
        ));
    }
    None
}

/// How `p` refuses a status over its limit of `max` characters.
pub fn over_limit_message(p: Personality, max: usize) -> String {
    match p {
        Personality::Iceshrimp => {
            format!("Text & content warning cannot exceed {max} characters in total")
        }
        Personality::GoToSocial => {
            format!("Bad Request: text with spoiler exceed max chars ({max})")
        }
        Personality::Akkoma => "The status is over the character limit".to_owned(),
        Personality::Takahe => "Status is too long".to_owned(),
        Personality::Pixelfed => {
            format!("The status field must not be greater than {max} characters.")
        }
        _ => format!("Validation failed: Text character limit of {max} exceeded"),
    }
}

/// The text a reader of `p` sees for the `status` sent.
pub fn shown_text(p: Personality, sent: &str) -> String {
    if of(p).reads_markdown {
        super::markdown::seen(sent)
    } else {
        sent.to_owned()
    }
}
