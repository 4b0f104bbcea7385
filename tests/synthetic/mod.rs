//! A synthetic Twitter archive for tests and benchmarks: `n` plain text posts, one a
//! minute, as an unpacked folder.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "test support shared by tests and benchmarks"
)]

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Duration, TimeZone, Utc};
use serde_json::json;

/// A minimal unpacked archive of `n` plain text posts, one a minute.
pub fn write_archive(dir: &Path, n: usize) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("archive folder");
    let start = Utc.with_ymd_and_hms(2020, 1, 1, 0, 0, 0).unwrap();
    let mut tweets = Vec::with_capacity(n);
    for i in 0..n {
        let id = (1_300_000_000_000_000_000u64 + i as u64).to_string();
        let text = format!("Benchmark post number {i}: budgets, not 429s.");
        let created = start + Duration::minutes(i64::try_from(i).unwrap_or(0));
        tweets.push(json!({"tweet": {
            "id_str": id, "id": id, "full_text": text, "lang": "en",
            "created_at": created.format("%a %b %d %H:%M:%S +0000 %Y").to_string(),
            "display_text_range": ["0", text.chars().count().to_string()],
            "entities": {"hashtags": [], "symbols": [], "user_mentions": [], "urls": []},
            "retweeted": false, "favorited": false, "truncated": false,
            "favorite_count": "0", "retweet_count": "0"
        }}));
    }
    let mut body = String::from("window.YTD.tweets.part0 = ");
    let _ = write!(
        body,
        "{}",
        serde_json::to_string_pretty(&tweets).expect("json")
    );
    std::fs::write(data.join("tweets.js"), body).expect("tweets.js");
    std::fs::write(
        data.join("account.js"),
        "window.YTD.account.part0 = [{\"account\": {\"username\": \"bench\", \"accountId\": \"42\", \"accountDisplayName\": \"Bench\", \"createdVia\": \"web\", \"createdAt\": \"2012-01-01T00:00:00.000Z\"}}]",
    )
    .expect("account.js");
    let manifest = json!({
        "userInfo": {"accountId": "42", "userName": "bench", "displayName": "Bench"},
        "archiveInfo": {"generationDate": "2024-01-01T00:00:00Z", "isPartialArchive": false},
        "dataTypes": {
            "account": {"files": [{"fileName": "data/account.js", "globalName": "YTD.account.part0", "count": "1"}]},
            "tweets": {"files": [{"fileName": "data/tweets.js", "globalName": "YTD.tweets.part0", "count": n.to_string()}]}
        }
    });
    std::fs::write(
        data.join("manifest.js"),
        format!("window.__THAR_CONFIG = {manifest}"),
    )
    .expect("manifest.js");
}
