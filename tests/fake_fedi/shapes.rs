//! What a fake server holds, independent of the ids it gave: each status's text, spoiler,
//! number of attachments, and the same of the status it replies to. Two servers that
//! received the same statuses in the same threads have the same shapes, whatever their ids;
//! the exactly-once tests compare a disturbed run with a clean one this way.

use std::collections::HashMap;

use super::Stored;

/// One status, without ids.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    pub text: String,
    pub spoiler: String,
    pub media: usize,
    /// The text and spoiler of the status it replies to.
    pub parent: Option<(String, String)>,
}

/// The sorted shapes of `statuses` (in creation order) of the server at `base`. Panics when a
/// reply was created before its parent or points at a status the server does not hold.
pub fn shapes(statuses: &[Stored], base: &str) -> Vec<Shape> {
    let by_id: HashMap<&str, (usize, &Stored)> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), (i, s)))
        .collect();
    let plain = |text: &str| strip_status_links(text, base);
    let mut out: Vec<Shape> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let parent = s.in_reply_to_id.as_deref().map(|p| {
                let (at, parent) = by_id
                    .get(p)
                    .unwrap_or_else(|| panic!("status {} replies to unknown {p}", s.id));
                assert!(*at < i, "status {} created before its parent {p}", s.id);
                (plain(&parent.text), parent.spoiler_text.clone())
            });
            Shape {
                text: plain(&s.text),
                spoiler: s.spoiler_text.clone(),
                media: s.media_ids.len(),
                parent,
            }
        })
        .collect();
    out.sort();
    out
}

/// Own-status links carry the server's ids, which differ between servers.
fn strip_status_links(text: &str, base: &str) -> String {
    let prefix = format!("{base}/@mirror/");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&prefix) {
        out.push_str(&rest[..at]);
        out.push_str("<own status>");
        rest = rest[at + prefix.len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}
