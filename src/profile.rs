//! What a target server allows, as the renderer needs it: [`TargetProfile`] (lengths,
//! attachments, alt text, native quotes) and [`CountingRule`]. Targets fill it in from
//! their server; the renderer obeys it. Its own module, so that `render` and `targets`
//! both read it and neither depends on the other for it.

/// How a server counts the length of a status. Each rule is one function in
/// [`crate::render::count`], shared by splitting and validation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountingRule {
    /// Mastodon: spoiler text plus text in grapheme clusters, every URL as
    /// `characters_reserved_per_url`, every mention as its local part.
    Mastodon,
    /// `GoToSocial` and similar: text plus spoiler in code points, URLs at full length.
    CodePoints,
    /// Iceshrimp.NET: text plus spoiler in UTF-16 code units (.NET string lengths: a
    /// character outside the Basic Multilingual Plane, most emoji, counts 2), URLs at full
    /// length.
    Utf16,
    /// X: text plus spoiler by X's weights (`render::count::x_weighted`): NFC, 1 or 2 per
    /// character by range (CJK 2), 2 per emoji sequence, 23 per URL; X allows 280.
    XWeighted,
}

/// The limits of one target server, as read from it (or, for the dry-run target, as
/// configured to emulate one).
#[derive(Debug, Clone, PartialEq, Eq)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent yes-or-no abilities of a server, each read on its own by the renderer"
)]
pub struct TargetProfile {
    /// Maximum length of one status under [`TargetProfile::counting`].
    pub max_characters: usize,
    /// What one URL counts for under the Mastodon rule.
    pub characters_reserved_per_url: usize,
    /// Attachments per status.
    pub max_media_attachments: usize,
    /// Maximum length of a media description (alt text), in characters.
    pub description_limit: usize,
    /// How the server counts.
    pub counting: CountingRule,
    /// The longest content warning the server takes, in code points, when it limits
    /// warnings apart from the text (Pixelfed: 140); longer warnings are shortened.
    pub max_spoiler_characters: Option<usize>,
    /// The server accepts native quote posts (`quoted_status_id`, Mastodon 4.5 and later);
    /// otherwise the renderer quotes by linking.
    pub supports_quote_posts: bool,
    /// A video or an animated GIF needs a status of its own (X: four images, or one video,
    /// or one GIF); the renderer moves the other media of the post to the next part.
    pub video_alone: bool,
    /// birdbridge may add links of its own: the link back to the original (backfill), to a
    /// quoted or reposted post that cannot be quoted natively, to media that cannot go. X's
    /// `links = "drop"` says no (a post containing a URL costs more there); links the author
    /// wrote stay.
    pub own_links: bool,
    /// A fediverse handle keeps its `@` (`@user@server`, which a fediverse server links to
    /// the account). Where an `@name` is the mention of an account of that name elsewhere
    /// (X), it is written `user@server`, so no stranger is notified.
    pub at_handles: bool,
}

impl TargetProfile {
    /// The limits a stock Mastodon server announces; a safe assumption when a server
    /// cannot be asked.
    pub fn mastodon_default() -> Self {
        Self {
            max_characters: 500,
            characters_reserved_per_url: 23,
            max_media_attachments: 4,
            description_limit: 1500,
            counting: CountingRule::Mastodon,
            max_spoiler_characters: None,
            supports_quote_posts: false,
            video_alone: false,
            own_links: true,
            at_handles: true,
        }
    }

    /// X's limits (`docs/x-target.md`): 280 by X's weighted count, four images or one
    /// video or GIF per post, alt texts of 1,000 characters; no native quotes (an
    /// Enterprise plan has them) and every link allowed, until the target's settings say
    /// otherwise.
    pub fn x() -> Self {
        Self {
            max_characters: 280,
            characters_reserved_per_url: 23,
            max_media_attachments: 4,
            description_limit: 1000,
            counting: CountingRule::XWeighted,
            max_spoiler_characters: None,
            supports_quote_posts: false,
            video_alone: true,
            own_links: true,
            at_handles: false,
        }
    }
}
