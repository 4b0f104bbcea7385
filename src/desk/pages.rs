//! The desk's pages, rendered on the server (maud: HTML written as Rust, escaped by
//! default, checked when it compiles). No inline script or style: the behaviour is
//! `static/desk.js`, the look `static/desk.css`, and every page works without them.

use maud::{html, Markup, DOCTYPE};

use super::view::{CopyView, PostView, QueueView};
use crate::model::{MediaKind, MediaSource};
use crate::store::ReviewState;

/// The frame of every page.
pub(super) fn page(title: &str, who: Option<(&str, &str)>, body: &Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · birdbridge desk" }
                link rel="stylesheet" href="/static/desk.css";
                script src="/static/desk.js" defer {}
            }
            body {
                a.skip href="#main" { "Skip to the content" }
                header {
                    p.brand { a href="/" { "birdbridge desk" } }
                    @if let Some((name, csrf)) = who {
                        nav aria-label="Desk" {
                            a href="/" { "Queue" }
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { "Log out " (name) }
                            }
                        }
                    }
                }
                main #main tabindex="-1" { (body) }
                footer {
                    p.hint { "Keys: " kbd { "n" } " next post, " kbd { "q" } " queue, "
                        kbd { "Ctrl" } "+" kbd { "Enter" } " saves the form you are in." }
                }
            }
        }
    }
}

/// The login form.
pub(super) fn login(csrf: &str, problem: Option<&str>) -> Markup {
    let body = html! {
        h1 { "Log in to the desk" }
        @if let Some(p) = problem { p.problem role="alert" { (p) } }
        form.login method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            p {
                label for="name" { "Your name" }
                input #name type="text" name="name" autocomplete="name" required maxlength="80"
                    aria-describedby="name-hint";
                span #name-hint .hint { "Recorded with every change you make." }
            }
            p {
                label for="password" { "Desk password" }
                input #password type="password" name="password" autocomplete="current-password" required;
            }
            button.primary type="submit" { "Log in" }
        }
    };
    page("Log in", None, &body)
}

/// A message page: what went wrong and that nothing changed.
pub(super) fn message(title: &str, text: &str, kept: Option<&str>, back: Option<&str>) -> Markup {
    html! {
        h1 { (title) }
        p.problem role="alert" { (text) }
        @if let Some(kept) = kept {
            p { label for="kept" { "What you wrote (not saved)" } }
            textarea #kept readonly rows="6" { (kept) }
        }
        p {
            @if let Some(back) = back { a href=(back) { "Back to the post" } " · " }
            a href="/" { "The queue" }
        }
    }
}

/// The queue page.
pub(super) fn queue(v: &QueueView) -> Markup {
    let p = &v.page;
    html! {
        h1 { "Review queue" }
        @if let Some(done) = &v.done { p.done role="status" { (done) } }
        p { (p.total) " held post(s)" @if v.filtered { " match the filter" } ", oldest post first." }
        form.filters method="get" action="/" {
            (select("f-route", "route", "Route", &p.by_route, v.filter.route.as_deref()))
            (select("f-target", "target", "Target", &p.by_target, v.filter.target.as_deref()))
            (select("f-reason", "reason", "Reason", &p.by_rule, v.filter.rule.as_deref()))
            button type="submit" { "Filter" }
        }
        @if p.items.is_empty() {
            p { "Nothing waits for review." }
        } @else {
            ol.queue {
                @for item in &p.items {
                    li {
                        a href=(super::post_link(&item.route, &item.source_post_id)) {
                            time datetime=(item.posted_at.to_rfc3339()) { (item.posted_at.format("%Y-%m-%d")) }
                            " " (excerpt(&item.text))
                        }
                        span.meta {
                            "route " (item.route) " → " (item.targets.join(", "))
                            " · " (item.rules.join(", "))
                            @if item.media > 0 { " · " (item.media) " media" }
                            " · held " (item.held_at.format("%Y-%m-%d %H:%M UTC"))
                        }
                    }
                }
            }
        }
        nav.pages aria-label="Pages" {
            @if let Some(prev) = &v.prev { a rel="prev" href=(prev) { "Earlier posts" } }
            @if let Some(next) = &v.next { a rel="next" href=(next) { "Later posts" } }
        }
    }
}

fn select(
    id: &str,
    name: &str,
    label: &str,
    counts: &[(String, u64)],
    chosen: Option<&str>,
) -> Markup {
    html! {
        label for=(id) { (label) }
        select #(id) name=(name) {
            option value="" selected[chosen.is_none()] { "All" }
            @for (value, n) in counts {
                option value=(value) selected[chosen == Some(value.as_str())] { (value) " (" (n) ")" }
            }
        }
    }
}

fn excerpt(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() > 120 {
        let cut: String = one_line.chars().take(119).collect();
        format!("{cut}…")
    } else if one_line.is_empty() {
        "(no text)".to_owned()
    } else {
        one_line
    }
}

/// A post's page: the original, then each target's copy with its form.
pub(super) fn post(v: &PostView) -> Markup {
    let post = &v.post;
    html! {
        h1 { "Post " (post.id.as_str()) span.sub { " on route " (v.route) } }
        @if let Some(done) = &v.done { p.done role="status" { (done) } }
        section aria-labelledby="original" {
            h2 #original { "The original" }
            blockquote.original { (post.text) }
            p.meta {
                "Posted " time datetime=(post.created_at.to_rfc3339()) { (post.created_at.format("%Y-%m-%d %H:%M UTC")) }
                @if !post.url.is_empty() {
                    " · " a href=(post.url) rel="noreferrer noopener" { "the original post" }
                }
            }
        }
        @for c in &v.copies { (copy(v, c)) }
        nav.next aria-label="Next" {
            @if let Some(next) = &v.next { a #next-post rel="next" href=(next) { "Next held post" } " · " }
            a #to-queue href="/" { "Back to the queue" }
        }
        @if !v.audit.is_empty() {
            section aria-labelledby="history" {
                h2 #history { "History" }
                ul.history {
                    @for a in &v.audit {
                        li { time datetime=(a.at.to_rfc3339()) { (a.at.format("%Y-%m-%d %H:%M UTC")) } " " (a.actor) " (" (a.target) "): " (a.change)
                            @if let Some(n) = &a.note { " — " (n) } }
                    }
                }
            }
        }
    }
}

fn copy(v: &PostView, c: &CopyView) -> Markup {
    let t = &c.hold.target;
    let id = |what: &str| format!("{what}-{}", c.slug);
    let held = c.hold.state == ReviewState::Held;
    html! {
        section.copy aria-labelledby=(id("h")) {
            h2 #(id("h")) { "Copy for " (t) }
            p.reason { "Held: " (c.hold.reason) }
            @if !c.limits_known {
                p.hint { "The server's limits are not known yet (it was not reached): counted with a Mastodon server's." }
            }
            @match c.hold.state {
                ReviewState::Released => p.done { "Released by " (c.hold.decided_by.as_deref().unwrap_or("someone")) "; it goes out once, with the edits below." },
                ReviewState::Dropped => p.done { "Dropped by " (c.hold.decided_by.as_deref().unwrap_or("someone")) ": " (c.hold.note.as_deref().unwrap_or("")) },
                ReviewState::Held => {},
            }
            h3 { "As " (t) " will show it" }
            (preview(v, c))
            @if held { (edit_form(v, c)) }
        }
    }
}

/// The copy's statuses as the server will show them (the warning collapsed).
fn preview(v: &PostView, c: &CopyView) -> Markup {
    html! {
            div.preview {
                @for (i, part) in c.rendered.parts.iter().enumerate() {
                    article.status aria-label=(format!("Status {} of {}", i + 1, c.rendered.parts.len())) {
                        @let inner = html! {
                            p.text { (part.text) }
                            @for m in &part.media {
                                @let media_id = v.media_id_of(&m.source);
                                figure {
                                    @if let Some(mid) = media_id {
                                        @if m.kind == MediaKind::Photo {
                                            img src=(format!("/media/{mid}")) alt=(m.description.clone().unwrap_or_default());
                                        } @else {
                                            a href=(format!("/media/{mid}")) { "Open the " (kind_name(m.kind).to_lowercase()) }
                                        }
                                    }
                                    figcaption {
                                        @match &m.description { Some(d) => { "Description: " (d) }, None => "No description" }
                                    }
                                }
                            }
                            p.meta { (part.visibility.as_str()) @if part.sensitive { " · media marked sensitive" } }
                        };
                        @match &part.spoiler_text {
                            Some(cw) => details { summary { "Content warning: " (cw) } (inner) },
                            None => (inner),
                        }
                    }
                }
            }
    }
}

/// The copy's form: descriptions, warning, sensitive flag, visibility, text; release; drop.
fn edit_form(v: &PostView, c: &CopyView) -> Markup {
    let t = &c.hold.target;
    let id = |what: &str| format!("{what}-{}", c.slug);
    html! {
                form.edit method="post" action=(format!("{}/{}", super::post_link(&v.route, v.post.id.as_str()), super::enc(t))) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="version" value=(c.hold.version);
                    h3 { "Edit this copy" }
                    @for (i, m) in v.post.media.iter().enumerate() {
                        @let kind = kind_name(m.kind);
                        div.media-edit {
                            @if m.source == MediaSource::Unavailable {
                                p { (kind) " " (i + 1) " is not in the archive: it is linked in the text." }
                            } @else {
                                @match v.media_id_of(&m.source).filter(|_| v.shows(i)) {
                                    Some(mid) if m.kind == MediaKind::Photo => figure { img src=(format!("/media/{mid}")) alt=(format!("{kind} {} of the post, to describe", i + 1)); },
                                    Some(mid) => p { a href=(format!("/media/{mid}")) { "Open " (kind.to_lowercase()) " " (i + 1) " to describe it" } },
                                    None => p { (kind) " " (i + 1) " was not downloaded: "
                                        @if let MediaSource::Url(u) = &m.source { a href=(u) rel="noreferrer noopener" { "see it at its source" } } },
                                }
                                label for=(format!("{}-{i}", id("d"))) { "Description of " (kind) " " (i + 1) }
                                textarea id=(format!("{}-{i}", id("d"))) name=(format!("description_{i}")) rows="4"
                                    data-limit=(c.profile.description_limit) data-count="code-points"
                                    aria-describedby=(format!("{}-{i}", id("dc"))) {
                                    (c.description(i, m.alt_text.as_deref()))
                                }
                                output.counter id=(format!("{}-{i}", id("dc"))) aria-live="polite" {
                                    (c.description(i, m.alt_text.as_deref()).chars().count()) " / " (c.profile.description_limit) " characters"
                                }
                            }
                        }
                    }
                    p {
                        label for=(id("w")) { "Content warning" }
                        input id=(id("w")) type="text" name="warning" value=(c.warning())
                            data-limit=(c.warning_limit()) data-count="code-points" aria-describedby=(format!("{} {}", id("wc"), id("wh")));
                        output.counter id=(id("wc")) aria-live="polite" { (c.warning().chars().count()) " / " (c.warning_limit()) " characters" }
                        span.hint id=(id("wh")) {
                            @if c.base.warned_by.is_empty() { "No rule sets a warning for this post." }
                            @else { "Set by: " @for (i, (label, by)) in c.base.warned_by.iter().enumerate() { @if i > 0 { "; " } "“" (label) "” (" (by.describe()) ")" } "." }
                            " Leave it empty to post without one."
                        }
                    }
                    p {
                        input id=(id("s")) type="checkbox" name="sensitive" value="true" checked[c.sensitive()];
                        input type="hidden" name="sensitive_shown" value="1";
                        label for=(id("s")) { "Mark the media as sensitive (hidden until clicked)" }
                    }
                    p {
                        label for=(id("v")) { "Who sees it" }
                        select id=(id("v")) name="visibility" {
                            @for vis in crate::config::Visibility::ALL {
                                option value=(vis.as_str()) selected[vis == c.visibility()] { (vis.as_str()) }
                            }
                        }
                    }
                    p {
                        label for=(id("t")) { "Text" }
                        textarea id=(id("t")) name="text" rows="8"
                            data-limit=(c.profile.max_characters) data-count=(crate::review::counting_name(c.profile.counting))
                            data-per-url=(c.profile.characters_reserved_per_url) aria-describedby=(format!("{} {}", id("tc"), id("th"))) {
                            (c.text())
                        }
                        output.counter id=(id("tc")) aria-live="polite" { (c.text_length()) " / " (c.profile.max_characters) " characters" }
                        span.hint id=(id("th")) { "A longer text becomes a thread of several statuses; numbering and the backfill date line are added after it." }
                    }
                    p.actions {
                        button type="submit" name="action" value="save" { "Save" }
                        " "
                        button.primary type="submit" name="action" value="release" { "Save and release" }
                    }
                }
                form.drop method="post" action=(format!("{}/{}/drop", super::post_link(&v.route, v.post.id.as_str()), super::enc(t))) {
                    input type="hidden" name="csrf" value=(v.csrf);
                    input type="hidden" name="version" value=(c.hold.version);
                    p {
                        label for=(id("r")) { "Why drop it (kept in the ledger)" }
                        input id=(id("r")) type="text" name="reason" required maxlength="500";
                        " "
                        button type="submit" { "Drop this copy" }
                    }
                }
    }
}

fn kind_name(kind: MediaKind) -> &'static str {
    match kind {
        MediaKind::Photo => "Image",
        MediaKind::Video => "Video",
        MediaKind::Gif => "Animated GIF",
    }
}

/// The desk's script and style, served from this origin.
pub(super) const SCRIPT: &str = include_str!("static/desk.js");
pub(super) const STYLE: &str = include_str!("static/desk.css");
