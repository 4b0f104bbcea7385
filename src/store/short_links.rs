//! t.co links X did not expand (`src/short_links.rs`), each asked once where it leads: the
//! answer is kept for good, so a link is never asked twice; a link that could not be
//! resolved is kept with why, for `status`, and asked again only after a while.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rusqlite::{params, Row};

use super::{parse_timestamp, timestamp, Ledger, StoreError};

/// What the ledger knows of one short link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShortLink {
    /// The link, as `https://t.co/<code>`.
    pub url: String,
    /// Where it leads: `Ok` with the address, or `Err` with why that is not known.
    pub answer: Result<String, String>,
    /// The source the link was met in (when it was last asked).
    pub source: String,
    /// The post it was met in.
    pub post_id: String,
    /// When it was last asked.
    pub asked_at: DateTime<Utc>,
}

impl ShortLink {
    fn from_row(row: &Row<'_>) -> Result<ShortLink, StoreError> {
        let resolved: Option<String> = row.get(1)?;
        let failure: Option<String> = row.get(2)?;
        Ok(ShortLink {
            url: row.get(0)?,
            answer: resolved.ok_or_else(|| failure.unwrap_or_default()),
            source: row.get(3)?,
            post_id: row.get(4)?,
            asked_at: parse_timestamp(row.get(5)?)?,
        })
    }
}

const COLUMNS: &str = "url, resolved, failure, source, post_id, asked_at";

impl Ledger {
    /// What is known of these short links, by link (the ones never asked are missing).
    pub fn short_links(&self, urls: &[String]) -> Result<HashMap<String, ShortLink>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM short_links WHERE url = ?1"))?;
        let mut found = HashMap::new();
        for url in urls {
            if let Some(link) = stmt.query_and_then([url], ShortLink::from_row)?.next() {
                found.insert(url.clone(), link?);
            }
        }
        Ok(found)
    }

    /// Records what asking `link.url` gave, replacing what was known of it.
    pub fn record_short_link(&self, link: &ShortLink) -> Result<(), StoreError> {
        let (resolved, failure) = match &link.answer {
            Ok(to) => (Some(to.as_str()), None),
            Err(why) => (None, Some(why.as_str())),
        };
        self.conn()
            .prepare_cached(&format!(
                "INSERT OR REPLACE INTO short_links ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ))?
            .execute(params![
                link.url,
                resolved,
                failure,
                link.source,
                link.post_id,
                timestamp(link.asked_at)
            ])?;
        Ok(())
    }

    /// The short links that could not be resolved, most recently asked first.
    pub fn unresolved_short_links(&self) -> Result<Vec<ShortLink>, StoreError> {
        self.conn()
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM short_links WHERE resolved IS NULL \
                 ORDER BY asked_at DESC, url"
            ))?
            .query_and_then([], ShortLink::from_row)?
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn link(url: &str, answer: Result<&str, &str>, second: u32) -> ShortLink {
        ShortLink {
            url: url.to_owned(),
            answer: answer.map(str::to_owned).map_err(str::to_owned),
            source: "old".to_owned(),
            post_id: "7".to_owned(),
            asked_at: Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, second).unwrap(),
        }
    }

    #[test]
    fn answers_are_kept_and_replaced() {
        let dir = tempfile::TempDir::new().unwrap();
        let ledger = Ledger::open(&dir.path().join("l.sqlite")).unwrap();
        let a = link("https://t.co/a", Err("t.co did not answer"), 1);
        let b = link("https://t.co/b", Ok("https://example.org/b"), 2);
        ledger.record_short_link(&a).unwrap();
        ledger.record_short_link(&b).unwrap();
        let urls = ["https://t.co/a", "https://t.co/b", "https://t.co/c"].map(str::to_owned);
        let known = ledger.short_links(&urls).unwrap();
        assert_eq!(known.len(), 2);
        assert_eq!(known["https://t.co/a"], a);
        assert_eq!(known["https://t.co/b"], b);
        assert_eq!(ledger.unresolved_short_links().unwrap(), [a]);

        let a_now = link("https://t.co/a", Ok("https://example.org/a"), 9);
        ledger.record_short_link(&a_now).unwrap();
        assert_eq!(ledger.short_links(&urls).unwrap()["https://t.co/a"], a_now);
        assert!(ledger.unresolved_short_links().unwrap().is_empty());
    }
}
