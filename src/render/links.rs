//! Links as the fediverse should see them: tracking parameters removed, and links to the
//! route's own X posts pointed at their mirrored status. `t.co` links never reach this
//! module: sources expand them into [`crate::model::FacetKind::Link`] facets.

use crate::model::{parse_status_url, PostId};

/// `url` without the query parameters `rules` name. A rule is a parameter name (`fbclid`),
/// a prefix ending in `*` (`utm_*`), or `host:rule` for a rule that applies only on that
/// host and its subdomains (`x.com:s`). Names compare case-sensitively, as servers do.
/// The rest of the URL is kept byte for byte, fragment included; a query left empty is
/// dropped with its `?`.
pub(super) fn strip_tracking(url: &str, rules: &[String]) -> String {
    if rules.is_empty() {
        return url.to_owned();
    }
    let (before_fragment, fragment) = match url.find('#') {
        Some(i) => url.split_at(i),
        None => (url, ""),
    };
    let Some((base, query)) = before_fragment.split_once('?') else {
        return url.to_owned();
    };
    let host = host_of(base);
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            !pair.is_empty() && !rules.iter().any(|rule| rule_matches(rule, &host, name))
        })
        .collect();
    if kept.is_empty() {
        format!("{base}{fragment}")
    } else {
        format!("{base}?{}{fragment}", kept.join("&"))
    }
}

fn rule_matches(rule: &str, host: &str, name: &str) -> bool {
    let (rule_host, pattern) = match rule.split_once(':') {
        Some((h, p)) => (Some(h.to_ascii_lowercase()), p),
        None => (None, rule),
    };
    if let Some(rule_host) = rule_host {
        let on_host = host == rule_host || host.ends_with(&format!(".{rule_host}"));
        if !on_host {
            return false;
        }
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => name == pattern,
    }
}

/// The lower-case host of an `http(s)://` URL, without user info or port; empty if none.
fn host_of(url: &str) -> String {
    let rest = url
        .split_once("://")
        .map_or("", |(_, rest)| rest)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = rest.rsplit('@').next().unwrap_or_default();
    let host = host.split(':').next().unwrap_or_default();
    host.to_ascii_lowercase()
}

/// The id of `author`'s own post that `url` points to on twitter.com or x.com, if it does.
pub(super) fn own_status(url: &str, author: &str) -> Option<PostId> {
    let (user, id) = parse_status_url(url)?;
    user.eq_ignore_ascii_case(author).then_some(id)
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::config::RouteSettings;

    fn defaults() -> Vec<String> {
        RouteSettings::DEFAULT_TRACKING_PARAMETERS
            .iter()
            .map(|r| (*r).to_owned())
            .collect()
    }

    #[rstest]
    #[case::no_query("https://example.org/a", "https://example.org/a")]
    #[case::utm_all(
        "https://example.org/a?utm_source=tw&utm_medium=social",
        "https://example.org/a"
    )]
    #[case::keeps_others(
        "https://example.org/a?id=7&utm_source=tw&b=2",
        "https://example.org/a?id=7&b=2"
    )]
    #[case::keeps_fragment(
        "https://example.org/a?fbclid=XY#part-2",
        "https://example.org/a#part-2"
    )]
    #[case::gclid_igshid(
        "https://shop.example/p?gclid=1&igshid=2&mc_cid=3&mc_eid=4",
        "https://shop.example/p"
    )]
    #[case::ref_src("https://example.org/?ref_src=twsrc%5Etfw", "https://example.org/")]
    #[case::x_share_params("https://x.com/me/status/1?s=20&t=abc", "https://x.com/me/status/1")]
    #[case::twitter_share_params(
        "https://mobile.twitter.com/me/status/1?s=46",
        "https://mobile.twitter.com/me/status/1"
    )]
    #[case::s_kept_elsewhere(
        "https://example.org/search?s=rust&t=1",
        "https://example.org/search?s=rust&t=1"
    )]
    #[case::not_a_lookalike_host("https://notx.com/a?s=1", "https://notx.com/a?s=1")]
    #[case::name_is_exact(
        "https://example.org/?fbclid_x=1&xfbclid=2",
        "https://example.org/?fbclid_x=1&xfbclid=2"
    )]
    #[case::empty_pairs("https://example.org/?&utm_source=a&", "https://example.org/")]
    #[case::port_and_user("https://u@x.com:443/a?s=1", "https://u@x.com:443/a")]
    fn tracking_parameters_are_removed(#[case] url: &str, #[case] want: &str) {
        assert_eq!(strip_tracking(url, &defaults()), want);
    }

    #[test]
    fn an_empty_rule_list_keeps_every_parameter() {
        let url = "https://example.org/a?utm_source=tw";
        assert_eq!(strip_tracking(url, &[]), url);
    }

    #[rstest]
    #[case::x("https://x.com/Me/status/12", Some("12"))]
    #[case::twitter_with_query("https://twitter.com/me/status/12?s=20", Some("12"))]
    #[case::someone_else("https://x.com/other/status/12", None)]
    #[case::web_link("https://twitter.com/i/web/status/12", None)]
    #[case::not_a_status("https://example.org/me/status/12", None)]
    fn own_status_links_are_recognised(#[case] url: &str, #[case] want: Option<&str>) {
        assert_eq!(own_status(url, "me"), want.map(PostId::new));
    }
}
