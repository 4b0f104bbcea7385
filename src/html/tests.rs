use rstest::rstest;

use super::*;

/// `(shown text, kind)` of every facet.
fn facets(read: &PlainText) -> Vec<(&str, &FacetKind)> {
    read.facets
        .iter()
        .map(|f| (&read.text[f.range.clone()], &f.kind))
        .collect()
}

fn link(url: &str) -> FacetKind {
    FacetKind::Link { url: url.into() }
}

fn mention(username: &str) -> FacetKind {
    FacetKind::Mention {
        username: username.into(),
    }
}

fn hashtag(tag: &str) -> FacetKind {
    FacetKind::Hashtag { tag: tag.into() }
}

#[rstest]
#[case::named(
    "We&rsquo;re shipping 2.0 &mdash; faster&hellip;",
    "We’re shipping 2.0 — faster…"
)]
#[case::more_named(
    "caf&eacute; &copy; &euro;5 &frac12; &laquo;x&raquo;",
    "café © €5 ½ «x»"
)]
#[case::numeric("&#128640; &#x1F680; &#X1f680; &#39;", "🚀 🚀 🚀 '")]
#[case::unknown_left("&bogus; &amp;bogus; AT&T & co", "&bogus; &bogus; AT&T & co")]
#[case::invalid_numbers_replaced("&#0; &#xD800; &#x110000;", "\u{fffd} \u{fffd} \u{fffd}")]
#[case::nbsp_is_kept("a&nbsp;&nbsp;b", "a\u{a0}\u{a0}b")]
fn every_character_reference_is_decoded(#[case] html: &str, #[case] text: &str) {
    assert_eq!(to_text(html).text, text);
    assert_eq!(decode_entities(html), text);
}

#[test]
fn entities_alone_keep_what_looks_like_markup() {
    assert_eq!(
        decode_entities("I <3 <b>bold</b> &lt;3"),
        "I <3 <b>bold</b> <3"
    );
    assert_eq!(decode_entities("a </title> b &amp; c"), "a </title> b & c");
    assert_eq!(decode_entities("plain"), "plain");
}

#[rstest]
#[case::paragraphs("<p>one</p><p>two</p>", "one\n\ntwo")]
#[case::line_breaks("<p>a<br>b<br />c</p><p>d</p>", "a\nb\nc\n\nd")]
#[case::blank_line_of_breaks("a<br/><br/>b<br><br><br><br>c", "a\n\nb\n\nc")]
#[case::nbsp_at_the_ends_goes("<p>&nbsp;a&nbsp;</p>", "a")]
#[case::whitespace_collapses("  a \n\t b  <b> c </b> d  ", "a b c d")]
#[case::no_space_between_inline("a<b>b</b>c", "abc")]
#[case::divs_and_lists(
    "<div>a</div><div>b</div><ul><li>c</li><li>d</li></ul>e",
    "a\nb\n\nc\nd\n\ne"
)]
#[case::headings("<h1>Title</h1>text<h2>Sub</h2>", "Title\n\ntext\n\nSub")]
#[case::blockquote_kept(
    "<p>I said:</p><blockquote><p>yes</p></blockquote><p>ok</p>",
    "I said:\n\nyes\n\nok"
)]
#[case::pre_keeps_whitespace("<p>code:</p><pre>  a  b\n\n\n\nc</pre>", "code:\n\n  a  b\n\nc")]
#[case::dropped("a<script>alert(1)</script><style>p{}</style><template>t</template><iframe>i</iframe><svg><text>s</text></svg>b", "ab")]
#[case::comments("a<!-- hidden -->b", "ab")]
#[case::broken_markup("a < b and <i>oops", "a < b and oops")]
#[case::unclosed_attribute("<p unclosed=\"", "")]
#[case::lone_ampersand_and_brackets("1 < 2 > 0 & done", "1 < 2 > 0 & done")]
fn markup_becomes_text_as_a_browser_shows_it(#[case] html: &str, #[case] text: &str) {
    assert_eq!(to_text(html).text, text);
}

/// A Mastodon status (4.x): `<p>` paragraphs, `<br />` lines, mentions in `h-card`
/// spans, hashtags, links shortened with hidden spans.
#[test]
fn a_mastodon_status() {
    let html = "<p>Hello <span class=\"h-card\" translate=\"no\"><a href=\"https://mastodon.social/@Gargron\" class=\"u-url mention\">@<span>Gargron</span></a></span> and <span class=\"h-card\" translate=\"no\"><a href=\"https://example.social/@ann\" class=\"u-url mention\">@<span>ann</span></a></span>!<br />Read <a href=\"https://example.com/very/long/path?x=1&amp;y=2\" target=\"_blank\" rel=\"nofollow noopener\" translate=\"no\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.com/very/lon</span><span class=\"invisible\">g/path?x=1&amp;y=2</span></a></p><p><a href=\"https://mastodon.social/tags/rust\" class=\"mention hashtag\" rel=\"tag\">#<span>rust</span></a> <a href=\"https://mastodon.social/tags/Caf%C3%A9\" class=\"mention hashtag\" rel=\"tag\">#<span>Café</span></a></p>";
    let read = to_text(html);
    assert_eq!(
        read.text,
        "Hello @Gargron@mastodon.social and @ann@example.social!\n\
         Read https://example.com/very/long/path?x=1&y=2\n\n#rust #Café"
    );
    assert_eq!(
        facets(&read),
        [
            (
                "@Gargron@mastodon.social",
                &mention("Gargron@mastodon.social")
            ),
            ("@ann@example.social", &mention("ann@example.social")),
            (
                "https://example.com/very/long/path?x=1&y=2",
                &link("https://example.com/very/long/path?x=1&y=2")
            ),
            ("#rust", &hashtag("rust")),
            ("#Café", &hashtag("Café")),
        ]
    );
    assert!(read.images.is_empty() && !read.truncated);
}

/// A `GoToSocial` status: the same microformats, its own `rel` values, a link shown in full.
#[test]
fn a_gotosocial_status() {
    let html = "<p>Hi <span class=\"h-card\"><a href=\"https://gts.example.org/@someone\" class=\"u-url mention\" rel=\"nofollow noreferrer noopener\" target=\"_blank\">@<span>someone</span></a></span>, see <a href=\"https://example.org/a\" rel=\"nofollow noreferrer noopener\" target=\"_blank\">https://example.org/a</a><br>and <a href=\"https://gts.example.org/tags/fediverse\" class=\"mention hashtag\" rel=\"tag nofollow noreferrer noopener\" target=\"_blank\">#<span>fediverse</span></a></p><p>Second <em>paragraph</em></p>";
    let read = to_text(html);
    assert_eq!(
        read.text,
        "Hi @someone@gts.example.org, see https://example.org/a\nand #fediverse\n\nSecond paragraph"
    );
    assert_eq!(
        facets(&read),
        [
            (
                "@someone@gts.example.org",
                &mention("someone@gts.example.org")
            ),
            ("https://example.org/a", &link("https://example.org/a")),
            ("#fediverse", &hashtag("fediverse")),
        ]
    );
}

/// A Pleroma/Akkoma status: no paragraphs, `<br/>` lines, mentions linking to `/users/`,
/// hashtags with `class="hashtag"` and `data-tag`.
#[test]
fn a_pleroma_status() {
    let html = "<span class=\"h-card\"><a class=\"u-url mention\" data-user=\"9xYz\" href=\"https://pleroma.example/users/lain\" rel=\"ugc\">@<span>lain</span></a></span> thanks!<br/><br/>More at <a href=\"https://example.net/post\" rel=\"ugc\">https://example.net/post</a> <a class=\"hashtag\" data-tag=\"rust\" href=\"https://pleroma.example/tag/rust\" rel=\"tag ugc\">#rust</a>";
    let read = to_text(html);
    assert_eq!(
        read.text,
        "@lain@pleroma.example thanks!\n\nMore at https://example.net/post #rust"
    );
    assert_eq!(
        facets(&read),
        [
            ("@lain@pleroma.example", &mention("lain@pleroma.example")),
            (
                "https://example.net/post",
                &link("https://example.net/post")
            ),
            ("#rust", &hashtag("rust")),
        ]
    );
}

/// Misskey-family servers show the full handle; Friendica writes the `@` before the anchor.
#[rstest]
#[case::full_handle_shown(
    "<p><a href=\"https://misskey.example/@alice\" class=\"u-url mention\">@alice@misskey.example</a> hi</p>",
    "@alice@misskey.example hi",
    "alice@misskey.example"
)]
#[case::at_outside(
    "@<a class=\"userinfo mention\" href=\"https://friendica.example/profile/bob\">bob</a> hi",
    "@bob@friendica.example hi",
    "bob@friendica.example"
)]
#[case::profile_link_without_class(
    "<a href=\"https://example.social/@carol\">@carol</a> hi",
    "@carol@example.social hi",
    "carol@example.social"
)]
fn a_fediverse_mention_keeps_its_server(
    #[case] html: &str,
    #[case] text: &str,
    #[case] username: &str,
) {
    let read = to_text(html);
    assert_eq!(read.text, text);
    assert_eq!(read.facets.len(), 1);
    assert_eq!(read.facets[0].kind, mention(username));
    assert_eq!(
        &read.text[read.facets[0].range.clone()],
        format!("@{username}")
    );
}

/// The X-to-feed bridges link `@name` to the account's page on their own host: an X handle.
#[test]
fn a_bridge_mention_is_an_x_handle() {
    let read = to_text("<p>Hello <a href=\"https://nitter.net/ann\">@ann</a></p>");
    assert_eq!(read.text, "Hello @ann");
    assert_eq!(facets(&read), [("@ann", &mention("ann"))]);
}

/// The feed's cases: markup becomes text with links, unsafe links lose their target.
#[test]
fn markup_becomes_text_with_links() {
    let read = to_text(
        "<p>Hello <a href=\"https://nitter.net/ann\">@ann</a> &amp; <b>bold</b> \
         <a href='https://example.org/a?b=1&amp;c=2'>example.org/a…</a></p>\
         <p>two<br>lines <a href=\"https://nitter.net/search?q=%23rust\">#rust</a></p>\
         <script>alert(1)</script><style>p{}</style><a href=\"javascript:alert(1)\">click</a>\
         <a href=\"https://example.org/x\">read more</a>",
    );
    assert_eq!(
        read.text,
        "Hello @ann & bold https://example.org/a?b=1&c=2\n\ntwo\nlines #rust\n\nclickread more"
    );
    assert_eq!(
        facets(&read),
        [
            ("@ann", &mention("ann")),
            (
                "https://example.org/a?b=1&c=2",
                &link("https://example.org/a?b=1&c=2")
            ),
            ("#rust", &hashtag("rust")),
            ("read more", &link("https://example.org/x")),
        ]
    );
}

#[test]
fn quotes_can_be_left_out_with_their_links_listed() {
    let html = "<p>Look</p><img src=\"https://nitter.net/pic/media%2Fa.jpg\" />\
         <hr/><blockquote><b>Bob (@bob)</b><p>quoted words</p><img src=\"https://nitter.net/pic/b.jpg\"><footer>— <cite>\
         <a href=\"https://nitter.net/bob/status/42#m\">nitter.net/bob/status/42#m</a></cite></footer></blockquote>";
    let options = Options {
        omit_blockquotes: true,
        canonical_link: None,
    };
    let read = to_text_with(html, &options);
    assert_eq!(read.text, "Look");
    assert!(read.facets.is_empty());
    assert_eq!(
        read.images,
        [
            "https://nitter.net/pic/media%2Fa.jpg",
            "https://nitter.net/pic/b.jpg"
        ]
    );
    assert_eq!(read.quoted_links, ["https://nitter.net/bob/status/42#m"]);

    let kept = to_text(html);
    assert_eq!(
        kept.text,
        "Look\n\nBob (@bob)\n\nquoted words\n\n— https://nitter.net/bob/status/42#m"
    );
    assert!(kept.quoted_links.is_empty());
}

#[test]
fn links_can_be_pointed_elsewhere() {
    fn canonical(href: &str) -> Option<String> {
        href.strip_prefix("https://nitter.net/")
            .map(|rest| format!("https://x.com/{rest}"))
    }
    let options = Options {
        omit_blockquotes: false,
        canonical_link: Some(canonical),
    };
    let read = to_text_with(
        "<a href=\"https://nitter.net/bob/status/1\">nitter.net/bob/status/1</a> \
         <a href=\"https://example.org/\">example.org</a>",
        &options,
    );
    assert_eq!(read.text, "https://x.com/bob/status/1 https://example.org/");
    assert_eq!(read.facets[0].kind, link("https://x.com/bob/status/1"));
    assert_eq!(read.facets[1].kind, link("https://example.org/"));
}

#[test]
fn images_are_collected_and_emoji_read_as_their_shortcode() {
    let read = to_text(
        "<p>pic <img src=\" https://a.example/1.png \"> \
         <img class=\"emojione custom-emoji\" alt=\":blobcat:\" src=\"https://a.example/e.png\"> \
         <a href=\"https://a.example/2\"><img src=\"https://a.example/2.png\"></a> <img alt=\"none\"></p>",
    );
    assert_eq!(read.text, "pic :blobcat:");
    assert_eq!(
        read.images,
        ["https://a.example/1.png", "https://a.example/2.png"]
    );
    assert!(read.facets.is_empty(), "an image-only link has no text");
}

/// The texts a server gives back for a status birdbridge sent (reconciliation compares
/// them with whitespace collapsed).
#[rstest]
#[case("<p>fish &amp; chips &lt;3</p>", "fish & chips <3")]
#[case("<p>a<br>b<br />c</p><p>d</p>", "a\nb\nc\n\nd")]
#[case(
    "<p>see <a href=\"https://example.org/birdbridge/release\"><span class=\"invisible\">https://</span><span class=\"ellipsis\">example.org/birdbridge/rel</span><span class=\"invisible\">ease</span></a></p>",
    "see https://example.org/birdbridge/release"
)]
#[case(
    "<p>#<span>rust</span> @<span>ann</span> &#128640; &#x1F680; &bogus; a < b</p>",
    "#rust @ann 🚀 🚀 &bogus; a < b"
)]
#[case(
    "<p>thanks <span class=\"h-card\"><a href=\"https://wikis.world/@wikipedia\" class=\"u-url mention\">@<span>wikipedia</span></a></span> and <a href=\"https://x.com/ann\" rel=\"nofollow\"><span class=\"invisible\">https://</span><span class=\"\">x.com/ann</span><span class=\"invisible\"></span></a></p>",
    "thanks @wikipedia@wikis.world and https://x.com/ann"
)]
fn a_status_reads_as_the_text_sent(#[case] html: &str, #[case] text: &str) {
    assert_eq!(to_text(html).text, text);
}

#[test]
fn hostile_input_is_read_in_bounded_work() {
    let deep = "<div><span>".repeat(MAX_TAGS / 2) + "deep" + &"</span></div>".repeat(MAX_TAGS / 2);
    let read = to_text(&deep);
    assert_eq!(read.text, "deep");
    assert!(read.truncated, "the closing tags are past the bound");
    let deeper = "<div>".repeat(MAX_TAGS) + "<b>cut</b>";
    assert_eq!(to_text(&deeper).text, "");

    let long = format!("<p>{}</p>", "é".repeat(MAX_HTML_BYTES));
    let read = to_text(&long);
    assert!(read.truncated);
    assert_eq!(
        read.text.len(),
        MAX_HTML_BYTES - "<p>".len() - 1,
        "cut at a character"
    );
    assert!(!to_text("<p>short</p>").truncated);
    assert_eq!(
        decode_entities(&"&lt;&gt;".repeat(MAX_HTML_BYTES)),
        "<>".repeat(MAX_HTML_BYTES / 8)
    );

    // Found by fuzzing: the `@` before a Friendica mention belonged to the link before it.
    let read = to_text(
        "<a href=\"https://m.example/a\">@</a><a class=\"mention\" href=\"https://f.example/profile/bob\">bob</a>",
    );
    assert_eq!(read.text, "@bob");
    assert_eq!(read.facets[0].range, 0..1);
    assert_eq!(read.facets[1].range, 1..4);

    let nested_links =
        "<a href=\"https://a.example/\"><a href=\"https://b.example/\">b.example</a>x.org</a>";
    let read = to_text(nested_links);
    assert_eq!(read.text, "https://b.example/x.org");
    for facet in &read.facets {
        assert!(read.text.get(facet.range.clone()).is_some(), "{read:?}");
    }
}
