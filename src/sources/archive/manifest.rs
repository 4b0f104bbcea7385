//! The small files that say what an archive holds and whose it is: `data/manifest.js`
//! (`window.__THAR_CONFIG`), `data/account.js`, and the classic `data/js/user_details.js`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::jsfile::{parse_value, ParseProblem};
use crate::model::Author;
use crate::normalize::lenient::{null_as_default, IdText};

/// What `data/manifest.js` says about the posts, as archive-relative file names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// The owner, from `userInfo`.
    pub owner: Option<Author>,
    /// Posts files (`dataTypes.tweets`, or `tweet` in 2019-2020 archives), in part order.
    pub tweet_files: Vec<String>,
    /// Folders of post media (`mediaDirectory` of `tweets`, `tweet`, `tweetsMedia`,
    /// `tweetMedia`).
    pub media_dirs: Vec<String>,
    /// Long-post files (`noteTweet`).
    pub note_files: Vec<String>,
    /// Circle post files: any data type named like `twitterCircleTweet` (the exact key is
    /// not documented, so every key with "circle" and "tweet" and without "media" counts).
    pub circle_files: Vec<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawManifest {
    user_info: Option<RawUserInfo>,
    #[serde(deserialize_with = "null_as_default")]
    data_types: BTreeMap<String, RawDataType>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawUserInfo {
    account_id: Option<IdText>,
    user_name: Option<String>,
    display_name: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawDataType {
    media_directory: Option<String>,
    #[serde(deserialize_with = "null_as_default")]
    files: Vec<RawFile>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawFile {
    file_name: Option<String>,
}

const MANIFEST_WRAPPER: &str = "window.__THAR_CONFIG = {";

impl Manifest {
    /// Parses the text of `data/manifest.js`.
    ///
    /// # Errors
    /// [`ParseProblem`] when the wrapper is missing or the JSON is broken.
    pub fn parse(text: &str) -> Result<Self, ParseProblem> {
        let raw: RawManifest = parse_value(text, MANIFEST_WRAPPER, b'{')?;
        let files_of = |key: &str| -> Vec<String> {
            raw.data_types
                .get(key)
                .map(|t| {
                    t.files
                        .iter()
                        .filter_map(|f| clean_name(f.file_name.as_deref()))
                        .collect()
                })
                .unwrap_or_default()
        };
        let mut tweet_files = files_of("tweets");
        if tweet_files.is_empty() {
            tweet_files = files_of("tweet");
        }
        let mut media_dirs = Vec::new();
        for key in ["tweets", "tweetsMedia", "tweet", "tweetMedia"] {
            let dir = raw
                .data_types
                .get(key)
                .and_then(|t| clean_name(t.media_directory.as_deref()));
            if let Some(dir) = dir {
                if !media_dirs.contains(&dir) {
                    media_dirs.push(dir);
                }
            }
        }
        let circle_files = raw
            .data_types
            .iter()
            .filter(|(key, _)| {
                let key = key.to_ascii_lowercase();
                key.contains("circle") && key.contains("tweet") && !key.contains("media")
            })
            .flat_map(|(_, t)| {
                t.files
                    .iter()
                    .filter_map(|f| clean_name(f.file_name.as_deref()))
            })
            .collect();
        let owner = raw.user_info.and_then(|info| {
            Some(Author {
                username: info.user_name.filter(|u| !u.trim().is_empty())?,
                id: info.account_id.map(|id| id.0),
                display_name: info.display_name,
            })
        });
        Ok(Manifest {
            owner,
            tweet_files,
            media_dirs,
            note_files: files_of("noteTweet"),
            circle_files,
        })
    }
}

/// An archive-relative file name as the manifest writes it, without `./` or `/` in front or
/// a trailing `/`.
fn clean_name(name: Option<&str>) -> Option<String> {
    let name = name?.trim().trim_start_matches("./").trim_matches('/');
    (!name.is_empty()).then(|| name.to_owned())
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RawAccount {
    username: Option<String>,
    account_id: Option<IdText>,
    account_display_name: Option<String>,
}

#[derive(Deserialize)]
struct RawAccountElement {
    account: RawAccount,
}

/// Reads the owner from the text of `data/account.js`; `None` when it names nobody.
///
/// # Errors
/// [`ParseProblem`] when the wrapper is missing or the JSON is broken or misshapen.
pub fn parse_account(text: &str) -> Result<Option<Author>, ParseProblem> {
    let elements: Vec<RawAccountElement> = parse_value(text, "window.YTD.account.part0 = [", b'[')?;
    Ok(elements.into_iter().find_map(|e| {
        Some(Author {
            username: e.account.username.filter(|u| !u.trim().is_empty())?,
            id: e.account.account_id.map(|id| id.0),
            display_name: e.account.account_display_name,
        })
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct RawUserDetails {
    screen_name: Option<String>,
    id: Option<IdText>,
    full_name: Option<String>,
}

/// Reads the owner from the text of a classic archive's `data/js/user_details.js`.
///
/// # Errors
/// [`ParseProblem`] when the wrapper is missing or the JSON is broken or misshapen.
pub fn parse_user_details(text: &str) -> Result<Option<Author>, ParseProblem> {
    let raw: RawUserDetails = parse_value(text, "var user_details = {", b'{')?;
    Ok(raw
        .screen_name
        .filter(|u| !u.trim().is_empty())
        .map(|username| Author {
            username,
            id: raw.id.map(|id| id.0),
            display_name: raw.full_name,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_owner_and_files() {
        let text = r#"window.__THAR_CONFIG = {
  "userInfo" : { "accountId" : "42", "userName" : "someone", "displayName" : "Some One" },
  "dataTypes" : {
    "tweets" : { "mediaDirectory" : "data/tweets_media",
      "files" : [ { "fileName" : "data/tweets-part1.js" }, { "fileName" : "data/tweets-part2.js" } ] },
    "twitterCircleTweet" : { "files" : [ { "fileName" : "data/twitter-circle-tweet.js" } ] },
    "twitterCircleTweetMedia" : { "mediaDirectory" : "data/twitter_circle_tweet_media" },
    "noteTweet" : { "files" : [ { "fileName" : "data/note-tweet.js" } ] }
  }
}"#;
        let manifest = Manifest::parse(text).unwrap();
        assert_eq!(manifest.owner.unwrap().username, "someone");
        assert_eq!(
            manifest.tweet_files,
            ["data/tweets-part1.js", "data/tweets-part2.js"]
        );
        assert_eq!(manifest.media_dirs, ["data/tweets_media"]);
        assert_eq!(manifest.circle_files, ["data/twitter-circle-tweet.js"]);
        assert_eq!(manifest.note_files, ["data/note-tweet.js"]);
    }

    #[test]
    fn reads_account_and_user_details() {
        let account = parse_account(
            r#"window.YTD.account.part0 = [ { "account" : { "username" : "a", "accountId" : "1", "accountDisplayName" : "A" } } ]"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (account.username.as_str(), account.id.as_deref()),
            ("a", Some("1"))
        );
        let user = parse_user_details(
            r#"var user_details =  { "screen_name" : "b", "id" : "2", "full_name" : "B" }"#,
        )
        .unwrap()
        .unwrap();
        assert_eq!(user.display_name.as_deref(), Some("B"));
    }
}
