//! Writes a synthetic, unpacked Twitter data archive for load tests and demos:
//!
//! ```text
//! cargo run --release --example gen_archive -- 100000 /tmp/big-archive
//! ```
//!
//! The posts are a deterministic mix modelled on real archives: plain posts, replies to
//! others, self-threads, retweets cut with "…", quotes, photos (some with files, some
//! without), videos, GIFs, long posts with their `note-tweet.js` entry, circle posts, HTML
//! escapes and emoji before entities. `tweets.js` is streamed to disk one post at a time,
//! pretty-printed with every number as a string, as X writes it.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{json, Value};

const OWNER: &str = "birdbridge_load";
const OWNER_ID: &str = "1201234567890123456";
/// Twitter's id epoch (2010-11-04T01:42:54.657Z), to derive plausible ids from dates.
const ID_EPOCH_MS: i64 = 1_288_834_974_657;
/// A 1x1 PNG, for the photo files that the archive holds.
const PNG: [u8; 69] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x77, 0x53,
    0xde, 0x00, 0x00, 0x00, 0x0c, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x30, 0x48, 0x58, 0x00,
    0x00, 0x01, 0xf4, 0x01, 0x31, 0x07, 0xe0, 0xfe, 0xad, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];
/// An MP4 holding only its `ftyp` box, for video and GIF files.
const MP4: [u8; 32] = *b"\0\0\0\x20ftypisom\0\0\x02\0isomiso2avc1mp41";

const WORDS: &[&str] = &[
    "archive", "harbour", "morning", "release", "thread", "coffee", "garden", "train", "notes",
    "build", "music", "weekend", "library", "bridge", "river", "winter", "summer", "project",
    "review", "test", "idea", "draft", "photo", "walk", "city", "friends", "server", "post",
];
const FRIENDS: &[&str] = &[
    "ann_example",
    "bo_example",
    "cy_example",
    "dee_example",
    "eli_example",
];
const TAGS: &[&str] = &[
    "fediverse",
    "rustlang",
    "photography",
    "opensource",
    "archives",
    "Grüne",
];
const EMOJI: &[&str] = &["🎉", "🌅", "🚀", "👇", "🧵", "☕", "👩‍💻"];

/// A small deterministic generator (xorshift64*), so runs are reproducible without a
/// dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn short_code(&mut self) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        (0..10)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len())]))
            .collect()
    }
}

/// A piece of post text; entities are recorded with code-point indices into the escaped
/// text as it is assembled.
enum Piece {
    Plain(String),
    Mention(String),
    Hashtag(String),
    Link { short: String, expanded: String },
}

struct Text {
    full: String,
    len: usize,
    mentions: Vec<Value>,
    hashtags: Vec<Value>,
    urls: Vec<Value>,
}

impl Text {
    fn build(pieces: Vec<Piece>) -> Text {
        let mut text = Text {
            full: String::new(),
            len: 0,
            mentions: Vec::new(),
            hashtags: Vec::new(),
            urls: Vec::new(),
        };
        for piece in pieces {
            let (shown, entity) = match piece {
                Piece::Plain(s) => (escape(&s), None),
                Piece::Mention(name) => (
                    format!("@{name}"),
                    Some((
                        0,
                        json!({"name": name, "screen_name": name, "id_str": "1000", "id": "1000"}),
                    )),
                ),
                Piece::Hashtag(tag) => (format!("#{tag}"), Some((1, json!({"text": tag})))),
                Piece::Link { short, expanded } => (
                    short.clone(),
                    Some((
                        2,
                        json!({"url": short, "expanded_url": expanded, "display_url": expanded.trim_start_matches("https://")}),
                    )),
                ),
            };
            let start = text.len;
            text.len += shown.chars().count();
            text.full.push_str(&shown);
            if let Some((list, mut entity)) = entity {
                entity["indices"] = json!([start.to_string(), text.len.to_string()]);
                match list {
                    0 => text.mentions.push(entity),
                    1 => text.hashtags.push(entity),
                    _ => text.urls.push(entity),
                }
            }
        }
        text
    }

    /// Appends the media link X puts at the end of the text; returns its indices.
    fn push_media_link(&mut self, short: &str) -> Value {
        self.full.push(' ');
        let start = self.len + 1;
        self.full.push_str(short);
        self.len = start + short.chars().count();
        json!([start.to_string(), self.len.to_string()])
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn snowflake(at: DateTime<Utc>, seq: u64) -> String {
    let ms = u64::try_from(at.timestamp_millis() - ID_EPOCH_MS).unwrap_or(0);
    ((ms << 22) | (7 << 12) | (seq & 0xfff)).to_string()
}

fn sentence(rng: &mut Rng, words: usize) -> String {
    let mut out: Vec<&str> = (0..words).map(|_| rng.pick(WORDS)).collect();
    if rng.below(8) == 0 {
        out.insert(rng.below(out.len()), "&");
    }
    if rng.below(12) == 0 {
        out.push("<3");
    }
    let mut text = out.join(" ");
    if let Some(first) = text.get(..1) {
        text = first.to_uppercase() + &text[1..];
    }
    text
}

struct Generator {
    rng: Rng,
    media_dir: PathBuf,
    notes: Vec<Value>,
    circle: Vec<Value>,
    previous_own: Option<String>,
}

impl Generator {
    #[allow(clippy::too_many_lines)]
    fn post(&mut self, at: DateTime<Utc>, seq: u64) -> io::Result<Value> {
        let id = snowflake(at, seq);
        let roll = self.rng.below(100);
        let mut pieces = Vec::new();
        if self.rng.below(4) == 0 {
            pieces.push(Piece::Plain(format!("{} ", self.rng.pick(EMOJI))));
        }
        let mut tweet = json!({
            "edit_info": {"initial": {"editTweetIds": [id], "editableUntil": (at + Duration::hours(1)).to_rfc3339(), "editsRemaining": "5", "isEditEligible": false}},
            "retweeted": false,
            "source": "<a href=\"https://mobile.twitter.com\" rel=\"nofollow\">Twitter Web App</a>",
            "favorite_count": self.rng.below(50).to_string(),
            "id_str": id,
            "truncated": false,
            "retweet_count": self.rng.below(5).to_string(),
            "id": id,
            "created_at": at.format("%a %b %d %H:%M:%S +0000 %Y").to_string(),
            "favorited": false,
            "lang": if self.rng.below(10) == 0 { "de" } else { "en" },
        });
        let mut media: Option<Value> = None;
        match roll {
            // Reply to someone else.
            0..=14 => {
                let friend = self.rng.pick(FRIENDS);
                pieces.insert(0, Piece::Mention(friend.into()));
                pieces.push(Piece::Plain(format!(" {}", sentence(&mut self.rng, 12))));
                let parent = snowflake(at - Duration::minutes(5), 99);
                tweet["in_reply_to_status_id_str"] = json!(parent);
                tweet["in_reply_to_status_id"] = json!(parent);
                tweet["in_reply_to_screen_name"] = json!(friend);
                tweet["in_reply_to_user_id_str"] = json!("1000");
            }
            // Self-thread continuation.
            15..=24 if self.previous_own.is_some() => {
                let parent = self.previous_own.clone().unwrap_or_default();
                pieces.push(Piece::Plain(sentence(&mut self.rng, 18)));
                tweet["in_reply_to_status_id_str"] = json!(parent);
                tweet["in_reply_to_status_id"] = json!(parent);
                tweet["in_reply_to_screen_name"] = json!(OWNER);
                tweet["in_reply_to_user_id_str"] = json!(OWNER_ID);
            }
            // Retweet, cut with an ellipsis.
            25..=36 => {
                let friend = self.rng.pick(FRIENDS);
                pieces.clear();
                pieces.push(Piece::Plain("RT ".into()));
                pieces.push(Piece::Mention(friend.into()));
                pieces.push(Piece::Plain(format!(": {}…", sentence(&mut self.rng, 20))));
            }
            // Quote.
            37..=41 => {
                pieces.push(Piece::Plain(format!("{} ", sentence(&mut self.rng, 8))));
                let code = self.rng.short_code();
                let quoted = snowflake(at - Duration::hours(2), 42);
                pieces.push(Piece::Link {
                    short: format!("https://t.co/{code}"),
                    expanded: format!(
                        "https://twitter.com/{}/status/{quoted}",
                        self.rng.pick(FRIENDS)
                    ),
                });
            }
            // Photo, video or GIF.
            42..=52 => {
                pieces.push(Piece::Plain(sentence(&mut self.rng, 7)));
                media = Some(self.media(&id, roll)?);
            }
            // Long post with its note.
            53..=54 => {
                pieces.clear();
                let long = format!(
                    "{} #{} {}",
                    sentence(&mut self.rng, 30),
                    self.rng.pick(TAGS),
                    sentence(&mut self.rng, 30)
                );
                let cut: String = long.chars().take(270).collect();
                let code = self.rng.short_code();
                pieces.push(Piece::Plain(format!("{}…", cut.trim_end())));
                pieces.push(Piece::Plain(" ".into()));
                pieces.push(Piece::Link {
                    short: format!("https://t.co/{code}"),
                    expanded: format!("https://twitter.com/i/web/status/{id}"),
                });
                let tag_at = long.find('#').unwrap_or(0);
                let tag_from = long[..tag_at].chars().count();
                let tag_len = long[tag_at..]
                    .split(' ')
                    .next()
                    .unwrap_or("")
                    .chars()
                    .count();
                self.notes.push(json!({"noteTweet": {
                    "noteTweetId": snowflake(at, 4000),
                    "createdAt": at.format("%Y-%m-%dT%H:%M:%S.000Z").to_string(),
                    "core": {"styletags": [], "urls": [], "mentions": [], "cashtags": [], "text": long,
                             "hashtags": [{"text": long[tag_at + 1..].split(' ').next().unwrap_or(""), "fromIndex": tag_from.to_string(), "toIndex": (tag_from + tag_len).to_string()}]}
                }}));
            }
            // Plain post with a link, a mention or a hashtag.
            _ => {
                pieces.push(Piece::Plain(format!("{} ", sentence(&mut self.rng, 10))));
                match self.rng.below(3) {
                    0 => pieces.push(Piece::Hashtag(self.rng.pick(TAGS).into())),
                    1 => pieces.push(Piece::Mention(self.rng.pick(FRIENDS).into())),
                    _ => {
                        let code = self.rng.short_code();
                        pieces.push(Piece::Link {
                            short: format!("https://t.co/{code}"),
                            expanded: format!(
                                "https://example.org/{}/{code}",
                                self.rng.pick(WORDS)
                            ),
                        });
                    }
                }
            }
        }
        let mut text = Text::build(pieces);
        let display_end = text.len;
        if let Some(mut media) = media {
            let short = media["url"].as_str().unwrap_or_default().to_owned();
            let indices = text.push_media_link(&short);
            media["indices"] = indices;
            let mut first = media.clone();
            first["type"] = json!("photo");
            if let Some(object) = first.as_object_mut() {
                object.remove("video_info");
            }
            tweet["entities"] = json!({"hashtags": text.hashtags, "symbols": [], "user_mentions": text.mentions, "urls": text.urls, "media": [first]});
            tweet["extended_entities"] = json!({"media": [media]});
        } else {
            tweet["entities"] = json!({"hashtags": text.hashtags, "symbols": [], "user_mentions": text.mentions, "urls": text.urls});
        }
        tweet["display_text_range"] = json!(["0", display_end.to_string()]);
        tweet["full_text"] = json!(text.full);
        if roll >= 55 && self.rng.below(200) == 0 {
            self.circle.push(json!({"tweet": tweet.clone()}));
        }
        if !(25..=36).contains(&roll) {
            self.previous_own = Some(id);
        }
        Ok(json!({"tweet": tweet}))
    }

    /// One attachment; writes its file for most photos and all videos and GIFs.
    fn media(&mut self, id: &str, roll: usize) -> io::Result<Value> {
        let key = self.rng.short_code();
        let short = format!("https://t.co/{}", self.rng.short_code());
        let (kind, thumb) = match roll {
            42..=48 => ("photo", format!("https://pbs.twimg.com/media/{key}.png")),
            49..=51 => (
                "video",
                format!("https://pbs.twimg.com/ext_tw_video_thumb/{id}/pu/img/{key}.jpg"),
            ),
            _ => (
                "animated_gif",
                format!("https://pbs.twimg.com/tweet_video_thumb/{key}.jpg"),
            ),
        };
        let mut media = json!({
            "expanded_url": format!("https://x.com/{OWNER}/status/{id}/photo/1"),
            "url": short,
            "media_url": thumb.replace("https://", "http://"),
            "media_url_https": thumb,
            "id_str": id, "id": id,
            "sizes": {"large": {"w": "1200", "h": "800", "resize": "fit"}, "thumb": {"w": "150", "h": "150", "resize": "crop"}},
            "type": kind,
            "display_url": format!("pic.x.com/{key}"),
        });
        let file = match kind {
            "photo" => (self.rng.below(5) != 0).then(|| (format!("{id}-{key}.png"), &PNG[..])),
            "video" => {
                let best = format!(
                    "https://video.twimg.com/ext_tw_video/{id}/pu/vid/1280x720/{key}.mp4?tag=12"
                );
                media["video_info"] = json!({"aspect_ratio": ["16", "9"], "duration_millis": "12000", "variants": [
                    {"bitrate": "256000", "content_type": "video/mp4", "url": format!("https://video.twimg.com/ext_tw_video/{id}/pu/vid/480x270/{key}lo.mp4?tag=12")},
                    {"content_type": "application/x-mpegURL", "url": format!("https://video.twimg.com/ext_tw_video/{id}/pu/pl/{key}.m3u8")},
                    {"bitrate": "2176000", "content_type": "video/mp4", "url": best}]});
                Some((format!("{id}-{key}.mp4"), &MP4[..]))
            }
            _ => {
                media["video_info"] = json!({"aspect_ratio": ["3", "2"], "variants": [
                    {"bitrate": "0", "content_type": "video/mp4", "url": format!("https://video.twimg.com/tweet_video/{key}.mp4")}]});
                Some((format!("{id}-{key}.mp4"), &MP4[..]))
            }
        };
        if let Some((name, bytes)) = file {
            fs::write(self.media_dir.join(name), bytes)?;
        }
        Ok(media)
    }
}

fn write_wrapped(path: &Path, wrapper: &str, items: &[Value]) -> io::Result<()> {
    let mut out = BufWriter::new(File::create(path)?);
    write!(out, "{wrapper} = ")?;
    serde_json::to_writer_pretty(&mut out, items)?;
    out.flush()
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(count), Some(out)) = (args.next(), args.next()) else {
        eprintln!("usage: gen_archive <number of posts> <output folder>");
        std::process::exit(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("not a number of posts: {count}");
        std::process::exit(2);
    };
    let data = Path::new(&out).join("data");
    let media_dir = data.join("tweets_media");
    fs::create_dir_all(&media_dir)?;

    let mut generator = Generator {
        rng: Rng(0x9e37_79b9_7f4a_7c15),
        media_dir,
        notes: Vec::new(),
        circle: Vec::new(),
        previous_own: None,
    };
    // Newest first, as X writes it: from 2024 back, about every 40 minutes.
    let newest = Utc
        .with_ymd_and_hms(2024, 6, 30, 12, 0, 0)
        .single()
        .unwrap_or_else(Utc::now);
    let mut tweets = BufWriter::new(File::create(data.join("tweets.js"))?);
    tweets.write_all(b"window.YTD.tweets.part0 = [")?;
    let mut at = newest;
    for n in 0..count {
        at -= Duration::seconds(i64::try_from(600 + generator.rng.below(4200)).unwrap_or(600));
        let post = generator.post(at, n)?;
        tweets.write_all(if n == 0 { b"\n  " } else { b",\n  " })?;
        serde_json::to_writer_pretty(&mut tweets, &post)?;
    }
    tweets.write_all(b"\n]")?;
    tweets.flush()?;

    write_wrapped(
        &data.join("note-tweet.js"),
        "window.YTD.note_tweet.part0",
        &generator.notes,
    )?;
    write_wrapped(
        &data.join("twitter-circle-tweet.js"),
        "window.YTD.twitter_circle_tweet.part0",
        &generator.circle,
    )?;
    write_wrapped(
        &data.join("account.js"),
        "window.YTD.account.part0",
        &[
            json!({"account": {"username": OWNER, "accountId": OWNER_ID, "accountDisplayName": "Birdbridge Load Test", "createdVia": "web", "createdAt": "2012-01-01T00:00:00.000Z"}}),
        ],
    )?;
    let manifest = json!({
        "userInfo": {"accountId": OWNER_ID, "userName": OWNER, "displayName": "Birdbridge Load Test"},
        "archiveInfo": {"generationDate": newest.to_rfc3339(), "isPartialArchive": false},
        "dataTypes": {
            "account": {"files": [{"fileName": "data/account.js", "globalName": "YTD.account.part0", "count": "1"}]},
            "noteTweet": {"files": [{"fileName": "data/note-tweet.js", "globalName": "YTD.note_tweet.part0", "count": generator.notes.len().to_string()}]},
            "tweets": {"mediaDirectory": "data/tweets_media", "files": [{"fileName": "data/tweets.js", "globalName": "YTD.tweets.part0", "count": count.to_string()}]},
            "twitterCircleTweet": {"files": [{"fileName": "data/twitter-circle-tweet.js", "globalName": "YTD.twitter_circle_tweet.part0", "count": generator.circle.len().to_string()}]}
        }
    });
    let mut out_manifest = BufWriter::new(File::create(data.join("manifest.js"))?);
    out_manifest.write_all(b"window.__THAR_CONFIG = ")?;
    serde_json::to_writer_pretty(&mut out_manifest, &manifest)?;
    out_manifest.flush()?;
    eprintln!(
        "wrote {count} posts ({} long, {} circle) to {}",
        generator.notes.len(),
        generator.circle.len(),
        data.display()
    );
    Ok(())
}
