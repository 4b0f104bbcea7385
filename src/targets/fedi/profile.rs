//! A server's limits as it announces them in `/api/v2/instance` (or `/api/v1/instance` on
//! older and smaller servers), read leniently: any field may be missing, a string where a
//! number belongs, or at another place than Mastodon puts it (Pleroma's `max_toot_chars`).
//! What is missing falls back to the kind's defaults ([`super::quirks`]).
//!
//! The profile is cached in the ledger as JSON written here, with the time it was read.

use serde_json::{json, Value};

use super::quirks::{self, Quirks};
use crate::config::ServerKind;
use crate::targets::TargetProfile;

/// Mastodon's alt-text limit, when the server does not say.
const DEFAULT_DESCRIPTION_LIMIT: usize = 1500;

/// Where a profile's numbers came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileSource {
    /// `/api/v2/instance`.
    V2,
    /// `/api/v1/instance`.
    V1,
    /// Neither answered usefully: the kind's defaults.
    Defaults,
}

impl ProfileSource {
    /// A stable name (cache, `check` output).
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileSource::V2 => "/api/v2/instance",
            ProfileSource::V1 => "/api/v1/instance",
            ProfileSource::Defaults => "defaults",
        }
    }
}

/// Everything birdbridge knows about a server's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceProfile {
    /// The server kind (detected when configured as `auto`).
    pub kind: ServerKind,
    /// The software version it reports, if any.
    pub version: Option<String>,
    /// `api_versions.mastodon` (Mastodon 4.3 and later), if reported.
    pub api_version: Option<u64>,
    /// Where the numbers came from.
    pub source: ProfileSource,
    /// Characters per status.
    pub max_characters: usize,
    /// What a URL counts for (Mastodon rule only).
    pub characters_reserved_per_url: usize,
    /// Attachments per status.
    pub max_media_attachments: usize,
    /// Characters per media description.
    pub description_limit: usize,
    /// Accepted media types; empty when the server does not say (then anything is tried).
    pub supported_mime_types: Vec<String>,
    /// Largest image in bytes, when announced.
    pub image_size_limit: Option<u64>,
    /// Largest video in bytes, when announced.
    pub video_size_limit: Option<u64>,
}

impl InstanceProfile {
    /// The kind's defaults, for a server that told nothing.
    pub fn defaults(kind: ServerKind) -> Self {
        let q = quirks::of(kind);
        Self {
            kind,
            version: None,
            api_version: None,
            source: ProfileSource::Defaults,
            max_characters: q.default_max_characters,
            characters_reserved_per_url: 23,
            max_media_attachments: q.default_max_media,
            description_limit: DEFAULT_DESCRIPTION_LIMIT,
            supported_mime_types: Vec::new(),
            image_size_limit: None,
            video_size_limit: None,
        }
    }

    /// Reads an instance document (v2 or v1 shape; both are searched, so a v1 document with a
    /// v2-style `configuration` is read fully too).
    pub fn from_instance(kind: ServerKind, source: ProfileSource, doc: &Value) -> Self {
        let mut p = Self::defaults(kind);
        p.source = source;
        let conf = &doc["configuration"];
        let statuses = &conf["statuses"];
        let media = &conf["media_attachments"];
        if let Some(n) = first_count(&[
            &statuses["max_characters"],
            &doc["max_toot_chars"],
            &doc["max_chars"],
        ]) {
            p.max_characters = n;
        }
        if let Some(n) = first_count(&[&statuses["characters_reserved_per_url"]]) {
            p.characters_reserved_per_url = n;
        }
        if let Some(n) = first_count(&[
            &statuses["max_media_attachments"],
            &doc["max_media_attachments"],
        ]) {
            p.max_media_attachments = n;
        }
        if let Some(n) = first_count(&[&media["description_limit"], &doc["description_limit"]]) {
            p.description_limit = n;
        }
        if let Some(types) = media["supported_mime_types"].as_array() {
            p.supported_mime_types = types
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
        }
        p.image_size_limit =
            first_count(&[&media["image_size_limit"], &doc["upload_limit"]]).map(|n| n as u64);
        p.video_size_limit =
            first_count(&[&media["video_size_limit"], &doc["upload_limit"]]).map(|n| n as u64);
        p.version = doc["version"].as_str().map(str::to_owned);
        p.api_version = first_count(&[&doc["api_versions"]["mastodon"]]).map(|n| n as u64);
        // A server announcing zero would make every post impossible; that is a broken
        // document, not a limit.
        let d = Self::defaults(kind);
        if p.max_characters == 0 {
            p.max_characters = d.max_characters;
        }
        if p.max_media_attachments == 0 {
            p.max_media_attachments = d.max_media_attachments;
        }
        p
    }

    /// The software as far as known, for messages: `snac 4.0.0 (not true; really snac/2.94)`.
    pub fn software(&self) -> String {
        match &self.version {
            Some(v) => format!("{} {v}", self.kind.as_str()),
            None => self.kind.as_str().to_owned(),
        }
    }

    /// The limits the renderer obeys, with the kind's counting rule (not what the server
    /// claims).
    pub fn target_profile(&self, quirks: &Quirks) -> TargetProfile {
        TargetProfile {
            max_characters: self.max_characters,
            characters_reserved_per_url: self.characters_reserved_per_url,
            max_media_attachments: self.max_media_attachments.max(1),
            description_limit: self.description_limit,
            counting: quirks.counting,
            max_spoiler_characters: quirks.max_spoiler,
            supports_quote_posts: self.quotes_natively(quirks),
            video_alone: false,
            own_links: true,
            at_handles: true,
        }
    }

    /// Whether the server takes `quoted_status_id`: its kind has native quotes from some
    /// version on, and the server reports that version (or its API version) or later.
    pub fn quotes_natively(&self, quirks: &Quirks) -> bool {
        let Some(from) = quirks.native_quotes_from else {
            return false;
        };
        self.api_version.is_some_and(|v| v >= from.api_version)
            || self
                .version
                .as_deref()
                .and_then(major_minor)
                .is_some_and(|v| v >= from.version)
    }

    /// Whether the server accepts this type (unknown lists accept everything).
    pub fn accepts(&self, mime: &str) -> bool {
        self.supported_mime_types.is_empty() || self.supported_mime_types.iter().any(|m| m == mime)
    }

    /// The size limit for a type, if announced.
    pub fn size_limit(&self, mime: &str) -> Option<u64> {
        if mime.starts_with("video/") {
            self.video_size_limit
        } else {
            self.image_size_limit
        }
    }

    /// The cache form (our own JSON).
    pub fn to_cache(&self) -> String {
        json!({
            "kind": self.kind.as_str(),
            "version": self.version,
            "api_version": self.api_version,
            "source": self.source.as_str(),
            "max_characters": self.max_characters,
            "characters_reserved_per_url": self.characters_reserved_per_url,
            "max_media_attachments": self.max_media_attachments,
            "description_limit": self.description_limit,
            "supported_mime_types": self.supported_mime_types,
            "image_size_limit": self.image_size_limit,
            "video_size_limit": self.video_size_limit,
        })
        .to_string()
    }

    /// Reads the cache form; `None` when it is not ours or is damaged (then the server is
    /// asked again).
    pub fn from_cache(text: &str) -> Option<Self> {
        let v: Value = serde_json::from_str(text).ok()?;
        let kind = quirks::kind_from_name(v["kind"].as_str()?)?;
        let source = match v["source"].as_str()? {
            "/api/v2/instance" => ProfileSource::V2,
            "/api/v1/instance" => ProfileSource::V1,
            _ => ProfileSource::Defaults,
        };
        let count = |k: &str| v[k].as_u64().and_then(|n| usize::try_from(n).ok());
        Some(Self {
            kind,
            version: v["version"].as_str().map(str::to_owned),
            api_version: v["api_version"].as_u64(),
            source,
            max_characters: count("max_characters")?,
            characters_reserved_per_url: count("characters_reserved_per_url")?,
            max_media_attachments: count("max_media_attachments")?,
            description_limit: count("description_limit")?,
            supported_mime_types: v["supported_mime_types"]
                .as_array()?
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            image_size_limit: v["image_size_limit"].as_u64(),
            video_size_limit: v["video_size_limit"].as_u64(),
        })
    }
}

/// `major.minor` of a version string (`4.5.0-beta.1` gives `(4, 5)`).
fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut numbers = version.split(['.', '-', ' ', '+']).map(str::parse::<u64>);
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

/// The first of `values` that reads as a non-negative integer (a number, or a string holding
/// one, as some servers send).
fn first_count(values: &[&Value]) -> Option<usize> {
    values
        .iter()
        .find_map(|v| super::lenient::count(v).and_then(|n| usize::try_from(n).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::CountingRule;

    #[test]
    fn a_mastodon_v2_document_is_read() {
        let doc = json!({
            "version": "4.3.0",
            "configuration": {
                "statuses": {"max_characters": 1000, "max_media_attachments": 4, "characters_reserved_per_url": 23},
                "media_attachments": {"supported_mime_types": ["image/png", "video/mp4"],
                    "image_size_limit": 16_777_216, "video_size_limit": 103_809_024, "description_limit": 1500}
            }
        });
        let p = InstanceProfile::from_instance(ServerKind::Mastodon, ProfileSource::V2, &doc);
        assert_eq!(p.max_characters, 1000);
        assert_eq!(p.image_size_limit, Some(16_777_216));
        assert!(p.accepts("video/mp4") && !p.accepts("image/webp"));
        assert_eq!(p.size_limit("video/mp4"), Some(103_809_024));
        assert_eq!(InstanceProfile::from_cache(&p.to_cache()), Some(p));
    }

    #[test]
    fn a_pleroma_v1_document_with_strings_is_read_leniently() {
        let doc = json!({"max_toot_chars": "5000", "upload_limit": 16_000_000, "description_limit": 2000,
                         "configuration": {"statuses": {"max_media_attachments": "oops"}}});
        let p = InstanceProfile::from_instance(ServerKind::Pleroma, ProfileSource::V1, &doc);
        assert_eq!(p.max_characters, 5000);
        assert_eq!(p.description_limit, 2000);
        assert_eq!(p.max_media_attachments, 4);
        assert_eq!(p.video_size_limit, Some(16_000_000));
        assert!(p.accepts("anything/at-all"));
    }

    #[test]
    fn the_kind_decides_the_counting_rule_not_the_server() {
        let doc = json!({"configuration": {"statuses": {"max_characters": 5000, "characters_reserved_per_url": 25}}});
        let p = InstanceProfile::from_instance(ServerKind::GoToSocial, ProfileSource::V2, &doc);
        let tp = p.target_profile(&quirks::of(ServerKind::GoToSocial));
        assert_eq!(tp.counting, CountingRule::CodePoints);
        assert_eq!(tp.max_characters, 5000);
    }

    #[rstest::rstest]
    #[case(ServerKind::Mastodon, json!({"version": "4.5.0"}), true)]
    #[case(ServerKind::Mastodon, json!({"version": "4.5.0-beta.2"}), true)]
    #[case(ServerKind::Mastodon, json!({"version": "4.10.1"}), true)]
    #[case(ServerKind::Mastodon, json!({"version": "4.3.1", "api_versions": {"mastodon": 2}}), false)]
    #[case(ServerKind::Mastodon, json!({"version": "4.4.0+glitch", "api_versions": {"mastodon": 7}}), true)]
    #[case(ServerKind::Mastodon, json!({}), false)]
    #[case(ServerKind::GoToSocial, json!({"version": "4.5.0"}), false)]
    fn native_quotes_follow_the_kind_and_version(
        #[case] kind: ServerKind,
        #[case] doc: Value,
        #[case] quotes: bool,
    ) {
        let p = InstanceProfile::from_instance(kind, ProfileSource::V2, &doc);
        let tp = p.target_profile(&quirks::of(kind));
        assert_eq!(tp.supports_quote_posts, quotes);
        let cached = InstanceProfile::from_cache(&p.to_cache()).unwrap();
        assert_eq!(cached.quotes_natively(&quirks::of(kind)), quotes);
    }

    #[test]
    fn zero_and_damaged_values_fall_back() {
        let doc = json!({"configuration": {"statuses": {"max_characters": 0}}});
        let p = InstanceProfile::from_instance(ServerKind::Mastodon, ProfileSource::V2, &doc);
        assert_eq!(p.max_characters, 500);
        assert_eq!(InstanceProfile::from_cache("{not json"), None);
        assert_eq!(InstanceProfile::from_cache("{\"kind\":\"lemmy\"}"), None);
    }
}
