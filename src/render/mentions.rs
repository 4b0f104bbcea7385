//! Mentions that never notify the wrong fediverse user.
//!
//! A status is sent as plain text and the *server* finds mentions in it. Mastodon treats
//! `@name` as a mention of the local account `name` whenever the `@` is not preceded by a
//! word character, `/` or `=` (its `MENTION_RE` lookbehind); other servers have similar,
//! mostly stricter, rules. So a mirrored "thanks @ann" would notify whoever is `ann` on the
//! target server, a stranger.
//!
//! **The form chosen: the X profile URL, without the `@`.** `@ann` becomes
//! `https://x.com/ann`. There is no `@` left, so no server's mention parser can match it,
//! whatever its rules; the link still leads to the right person; Mastodon shows it as
//! `x.com/ann` and counts it as one URL (23). The alternatives were rejected:
//! - gluing a character before the `@` only works for the characters Mastodon excludes
//!   (letters, digits, `_`, `/`, `=`); "(@ann" or ".@ann" still mention. A letter or `/`
//!   garbles the text, other servers use other rules, and invisible characters (zero-width
//!   space, word joiner) are not word characters in Mastodon's regex, so they do not even
//!   work, and they break copy, search and screen readers;
//! - `@ann@twitter.com` makes every receiving server try `WebFinger` on X, fails, and would
//!   silently turn into a real mention if someone ever answered for that domain.
//!
//! A route's `mention_map` turns known X handles into real fediverse handles
//! (`@wikipedia@wikis.world`), which notify the intended account. An `@name@domain` the
//! author wrote in the text is a fediverse handle already and is kept.
//!
//! Text that mentions an account without a mention facet (X did not mark it) is scanned
//! too ([`neutralise`]): a bare `@name` must not survive anywhere in the rendered text.

use std::collections::BTreeMap;

/// The rendered form of a mention of `username`: an X handle, or a fediverse handle
/// `user@server` (read from fediverse HTML), which names its server and so is kept, with
/// its `@` where `at_handles` (a fediverse target) and without it elsewhere (X, where
/// `@user` would mention X's account of that name). The map is asked first, for both.
pub(super) fn mention(username: &str, map: &BTreeMap<String, String>, at_handles: bool) -> String {
    if let Some(mapped) = map.get(&username.to_lowercase()) {
        return mapped.clone();
    }
    match (username.contains('@'), at_handles) {
        (true, true) => format!("@{username}"),
        (true, false) => username.to_owned(),
        (false, _) => profile_url(username),
    }
}

/// The X profile URL of `username`.
pub(super) fn profile_url(username: &str) -> String {
    format!("https://x.com/{username}")
}

/// Whether a profile URL followed directly by `rest` needs a space after it, because a
/// linkifier would otherwise take the following characters into the URL's path
/// ("@ann's" must not become a link to `x.com/ann's`). Sentence punctuation followed by
/// whitespace or the end is left alone: linkifiers drop it from the end of a URL.
pub(super) fn needs_separator(rest: &str) -> bool {
    let mut chars = rest.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    if first.is_whitespace() {
        return false;
    }
    if matches!(
        first,
        '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '"' | '\'' | '”' | '’' | '»' | '…'
    ) {
        return chars.next().is_some_and(|c| !c.is_whitespace());
    }
    true
}

/// `text` with every bare `@name` that a server could read as a local mention replaced by
/// the mention's rendered form. `before` is the character preceding `text` in the status
/// (`None` at its start). Words holding `://` are URLs and are left alone, as is an
/// `@name@domain` fediverse handle.
pub(super) fn neutralise(
    text: &str,
    before: Option<char>,
    map: &BTreeMap<String, String>,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut prev = before;
    let mut rest = text;
    while let Some(at) = rest.find('@') {
        let (head, tail) = rest.split_at(at);
        out.push_str(head);
        if let Some(c) = head.chars().next_back() {
            prev = Some(c);
        }
        let name_len = tail[1..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len() - 1);
        let name = &tail[1..=name_len];
        let after = &tail[1 + name_len..];
        let word_start = out
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + out[i..].chars().next().map_or(1, char::len_utf8));
        let in_url = out[word_start..].contains("://");
        let glued = prev.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '/');
        let handle = after.starts_with('@');
        if name.is_empty() || in_url || glued || handle {
            out.push('@');
            prev = Some('@');
            rest = &tail[1..];
            continue;
        }
        out.push_str(&mention(name, map, true));
        if needs_separator(after) {
            out.push(' ');
        }
        prev = name.chars().next_back();
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn map() -> BTreeMap<String, String> {
        BTreeMap::from([("wikipedia".to_owned(), "@wikipedia@wikis.world".to_owned())])
    }

    #[rstest]
    #[case::unmapped("ann_example", "https://x.com/ann_example")]
    #[case::mapped_any_case("WikiPedia", "@wikipedia@wikis.world")]
    #[case::fediverse_handle("ann@example.social", "@ann@example.social")]
    fn mention_forms(#[case] username: &str, #[case] want: &str) {
        assert_eq!(mention(username, &map(), true), want);
    }

    #[test]
    fn on_x_a_fediverse_handle_loses_its_at_unless_mapped() {
        let mut map = map();
        map.insert("org@example.social".to_owned(), "@org_on_x".to_owned());
        assert_eq!(
            mention("ann@example.social", &map, false),
            "ann@example.social"
        );
        assert_eq!(mention("Org@Example.social", &map, false), "@org_on_x");
    }

    #[rstest]
    #[case::end("", false)]
    #[case::space(" and", false)]
    #[case::period_end(".", false)]
    #[case::period_space(". Next", false)]
    #[case::comma_space(", hi", false)]
    #[case::closing_paren(")", false)]
    #[case::possessive("'s talk", true)]
    #[case::typographic_possessive("’s", true)]
    #[case::dotted_name(".smith", true)]
    #[case::hyphen("-style", true)]
    #[case::slash("/status", true)]
    fn separator_rule(#[case] rest: &str, #[case] want: bool) {
        assert_eq!(needs_separator(rest), want, "{rest:?}");
    }

    #[rstest]
    #[case::start("@ann hi", None, "https://x.com/ann hi")]
    #[case::after_space("hi @ann", None, "hi https://x.com/ann")]
    #[case::after_paren("(@ann)", None, "(https://x.com/ann)")]
    #[case::after_dot(".@ann", None, ".https://x.com/ann")]
    #[case::possessive("@ann's", None, "https://x.com/ann 's")]
    #[case::mapped("cc @Wikipedia.", None, "cc @wikipedia@wikis.world.")]
    #[case::email("mail bob@example.org", None, "mail bob@example.org")]
    #[case::fediverse_handle(
        "find me at @me@mastodon.social",
        None,
        "find me at @me@mastodon.social"
    )]
    #[case::url(
        "https://medium.com/@ann/post and @bob",
        None,
        "https://medium.com/@ann/post and https://x.com/bob"
    )]
    #[case::glued_to_previous_text("@ann", Some('x'), "@ann")]
    #[case::previous_is_space("@ann", Some(' '), "https://x.com/ann")]
    #[case::lone_at("meet @ 5", None, "meet @ 5")]
    #[case::two("@a @b", None, "https://x.com/a https://x.com/b")]
    fn bare_mentions_are_neutralised(
        #[case] text: &str,
        #[case] before: Option<char>,
        #[case] want: &str,
    ) {
        assert_eq!(neutralise(text, before, &map()), want);
    }
}
