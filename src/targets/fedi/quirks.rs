//! What each server kind is known to do differently, in one table, so the rest of the client
//! has no special cases (docs/servers.md, opening: each difference is a per-target
//! rule). Where a server is known to advertise something it does not do (`GoToSocial`'s
//! 25 characters per URL, while it counts URLs at full length), the quirk wins.

use std::borrow::Cow;

use chrono::Duration;

use crate::budget::{mastodon_seeds, Family, Seed};
use crate::config::ServerKind;
use crate::targets::CountingRule;

/// The known behaviour of one server kind.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "a table of independent yes/no facts about a server kind, not a state machine"
)]
pub struct Quirks {
    /// How the server counts a status's length (overrides what it advertises).
    pub counting: CountingRule,
    /// Whether `POST /api/v1/statuses` deduplicates on `Idempotency-Key` (for an hour).
    pub honours_idempotency: bool,
    /// Whether every status needs an attachment (Pixelfed).
    pub needs_media: bool,
    /// Characters per status when the server does not say.
    pub default_max_characters: usize,
    /// Attachments per status when the server does not say.
    pub default_max_media: usize,
    /// Rate limits known before any header is seen.
    pub seeds: Vec<Seed>,
    /// Whether the server counts every request in one window, which its rate-limit headers
    /// describe whatever the call (`GoToSocial`: per client address); then every call is
    /// budgeted as a request, and no family is counted apart.
    pub one_counter: bool,
    /// Whether the server closes every connection after one answer without saying so (snac,
    /// docs/servers.md "Measured on real servers"): every request then goes on a fresh connection from the start,
    /// instead of a first status post meeting a closed pooled connection and waiting for
    /// reconciliation.
    pub closes_after_answer: bool,
    /// Whether `PUT /api/v1/statuses/:id` edits a status (an X edit becomes an edit there;
    /// elsewhere the new version is recorded as skipped).
    pub edits: bool,
    /// Whether an edit makes the status public whatever it was (Takahē: the edit takes no
    /// visibility and its `edit_local` sets the public default), so a status that is not
    /// public is never edited there.
    pub edit_makes_public: bool,
    /// The first version that takes `quoted_status_id` (native quote posts), when the kind
    /// has one; the instance's version (or `api_versions`) then decides. Mastodon's "Implementing
    /// quote posts" page (docs.joinmastodon.org/client/quotes) names API version 7, shipped
    /// with 4.5; the server itself prepends a "RE:" link to the quoted post, which is why the
    /// renderer leaves the link out of a native quote.
    pub native_quotes_from: Option<QuoteSupport>,
    /// The longest content warning the server takes apart from the text (Pixelfed: 140
    /// code points, else 422), when it has such a limit.
    pub max_spoiler: Option<usize>,
    /// Whether the server reads a status's text as Markdown (Friendica): the text is then
    /// escaped so that it reads as written (see `markdown.rs`).
    pub markdown_text: bool,
}

impl Quirks {
    /// The text to send for a status whose text is `text`.
    pub fn wire_text<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if self.markdown_text {
            Cow::Owned(super::markdown::escape(text))
        } else {
            Cow::Borrowed(text)
        }
    }
}

/// From which version a kind quotes natively.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuoteSupport {
    /// `major.minor` of the software version.
    pub version: (u64, u64),
    /// The `api_versions.mastodon` value of that version.
    pub api_version: u64,
}

/// How long Mastodon remembers an idempotency key.
pub const IDEMPOTENCY_WINDOW: Duration = Duration::hours(1);

/// The quirks of a (detected or configured) server kind. `Auto` stands for software that
/// detection did not recognise: it is spoken to as Mastodon, but its idempotency keys are
/// not trusted (an interrupted post is looked up before it is sent again), since a resend
/// to a server that ignores them would post twice.
pub fn of(kind: ServerKind) -> Quirks {
    let requests_only = vec![Seed {
        family: Family::Requests,
        limit: 300,
        period: Duration::minutes(5),
    }];
    // What the servers other than Mastodon share unless their entry says otherwise: code
    // points with URLs at full length, Idempotency-Key not relied on, no edits, no native
    // quotes, no limit on content warnings apart from the text.
    let plain = Quirks {
        counting: CountingRule::CodePoints,
        honours_idempotency: false,
        needs_media: false,
        default_max_characters: 5000,
        default_max_media: 4,
        seeds: mastodon_seeds(),
        one_counter: false,
        closes_after_answer: false,
        edits: false,
        edit_makes_public: false,
        native_quotes_from: None,
        max_spoiler: None,
        markdown_text: false,
    };
    match kind {
        ServerKind::Mastodon => Quirks {
            counting: CountingRule::Mastodon,
            honours_idempotency: true,
            default_max_characters: 500,
            edits: true,
            native_quotes_from: Some(QuoteSupport {
                version: (4, 5),
                api_version: 7,
            }),
            ..plain
        },
        ServerKind::Auto => Quirks {
            honours_idempotency: false,
            ..of(ServerKind::Mastodon)
        },
        // Pleroma and Akkoma count in Elixir graphemes with URLs at full length; code points
        // are never fewer, so counting them is safe. They honour Idempotency-Key.
        ServerKind::Pleroma => Quirks {
            honours_idempotency: true,
            ..plain
        },
        // Advertises 25 characters per URL but counts URLs at full length, text and spoiler
        // together in code points; ignores Idempotency-Key; limits requests per client only.
        ServerKind::GoToSocial => Quirks {
            default_max_media: 6,
            seeds: requests_only,
            one_counter: true,
            edits: true,
            ..plain
        },
        ServerKind::Friendica => Quirks {
            default_max_characters: 200_000,
            markdown_text: true,
            seeds: requests_only,
            ..plain
        },
        // birdbridge posts through Firefish's Mastodon-compatible API with a Mastodon-API
        // token (not its Misskey API). Iceshrimp.NET counts .NET string lengths (UTF-16
        // units); never fewer than code points, so safe for the older JS Firefish too.
        ServerKind::Firefish => Quirks {
            counting: CountingRule::Utf16,
            default_max_characters: 3000,
            default_max_media: 16,
            seeds: requests_only,
            ..plain
        },
        ServerKind::Pixelfed => Quirks {
            needs_media: true,
            default_max_characters: 500,
            max_spoiler: Some(140),
            ..plain
        },
        // Measured on snac 2.94 (docs/servers.md "Measured on real servers"): no rate-limit headers
        // (so the budget stays a guess, Mastodon's), Idempotency-Key ignored, a status id
        // that changes on edit. Its limit is 100000 characters, far beyond any split.
        ServerKind::Snac => Quirks {
            default_max_characters: 100_000,
            closes_after_answer: true,
            edits: true,
            ..plain
        },
        // Takahē (`api/views/statuses.py` `post_status`): the limit is Python's `len` of the
        // text, code points with URLs at full length (500 unless the admin changed it);
        // 4 attachments; no rate-limit headers (the budget stays a guess, Mastodon's);
        // Idempotency-Key ignored. Its edits (`edit_status`) take no visibility, and
        // `edit_local` then makes the status public.
        ServerKind::Takahe => Quirks {
            default_max_characters: 500,
            edits: true,
            edit_makes_public: true,
            ..plain
        },
    }
}

/// The kind a nodeinfo `software.name` stands for, if birdbridge knows it.
pub fn kind_from_software(name: &str) -> Option<ServerKind> {
    match name.to_ascii_lowercase().as_str() {
        "mastodon" | "hometown" | "glitchsoc" | "glitch-soc" => Some(ServerKind::Mastodon),
        "pleroma" | "akkoma" => Some(ServerKind::Pleroma),
        "gotosocial" => Some(ServerKind::GoToSocial),
        "friendica" => Some(ServerKind::Friendica),
        "firefish" | "iceshrimp" | "iceshrimp.net" | "catodon" => Some(ServerKind::Firefish),
        "pixelfed" => Some(ServerKind::Pixelfed),
        "snac" => Some(ServerKind::Snac),
        "takahe" => Some(ServerKind::Takahe),
        _ => None,
    }
}

/// The kind the software named in an instance document's `version` stands for, when nodeinfo
/// could not tell: Takahē's `takahe/0.11.0`, snac's `4.0.0 (not true; really snac/2.94)`,
/// the `(compatible; Akkoma 3.13.2)` of Akkoma, Pixelfed, Friendica and Iceshrimp.NET. A bare
/// version (Mastodon, `GoToSocial`) names none.
pub fn kind_from_version(version: &str) -> Option<ServerKind> {
    version
        .split(|c: char| !(c.is_alphanumeric() || c == '.' || c == '-'))
        .filter(|word| word.chars().any(char::is_alphabetic))
        .find_map(kind_from_software)
}

/// The kind a cached profile names.
pub fn kind_from_name(name: &str) -> Option<ServerKind> {
    ServerKind::ALL.into_iter().find(|k| k.as_str() == name)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case("mastodon", Some(ServerKind::Mastodon))]
    #[case("Akkoma", Some(ServerKind::Pleroma))]
    #[case("gotosocial", Some(ServerKind::GoToSocial))]
    #[case("pixelfed", Some(ServerKind::Pixelfed))]
    #[case("snac", Some(ServerKind::Snac))]
    #[case("takahe", Some(ServerKind::Takahe))]
    #[case("Iceshrimp.NET", Some(ServerKind::Firefish))]
    #[case("lemmy", None)]
    fn nodeinfo_names_map_to_kinds(#[case] name: &str, #[case] kind: Option<ServerKind>) {
        assert_eq!(kind_from_software(name), kind);
    }

    #[rstest]
    #[case("takahe/0.11.0", Some(ServerKind::Takahe))]
    #[case("4.0.0 (not true; really snac/2.94)", Some(ServerKind::Snac))]
    #[case("2.7.2 (compatible; Akkoma 3.13.2)", Some(ServerKind::Pleroma))]
    #[case("3.5.3 (compatible; Pixelfed 0.12.4)", Some(ServerKind::Pixelfed))]
    #[case(
        "4.2.1 (compatible; Iceshrimp.NET/2024.1-beta5",
        Some(ServerKind::Firefish)
    )]
    #[case("4.3.1", None)]
    #[case("0.17.0 git-abc", None)]
    fn instance_versions_name_their_software(
        #[case] version: &str,
        #[case] kind: Option<ServerKind>,
    ) {
        assert_eq!(kind_from_version(version), kind);
    }

    #[test]
    fn gotosocial_is_counted_with_full_urls_and_without_idempotency() {
        let q = of(ServerKind::GoToSocial);
        assert_eq!(q.counting, CountingRule::CodePoints);
        assert!(!q.honours_idempotency);
        assert!(of(ServerKind::Mastodon).honours_idempotency);
        assert!(of(ServerKind::Pixelfed).needs_media);
        // Unrecognised software: never trust a resend to be deduplicated.
        assert!(!of(ServerKind::Auto).honours_idempotency);
    }

    #[test]
    fn mastodon_and_gotosocial_edit_and_only_mastodon_quotes() {
        assert!(of(ServerKind::Mastodon).edits && of(ServerKind::GoToSocial).edits);
        assert!(!of(ServerKind::Pixelfed).edits);
        assert!(of(ServerKind::Mastodon).native_quotes_from.is_some());
        assert_eq!(of(ServerKind::GoToSocial).native_quotes_from, None);
    }
}
