//! Status text for servers that read it as Markdown. Friendica's Mastodon API passes the
//! `status` of a new or edited status through `Markdown::toBBCode`
//! (`src/Module/Api/Mastodon/Statuses.php`): Markdown Extra to HTML, then HTML to `BBCode`. A mirrored post is plain
//! text, so without escaping, `*stars*` become emphasis, `` `ticks` `` code, `[a](b)` a link
//! that hides its address, a line starting with `>` a quote or `1.` a list, and a word in
//! angle brackets (`<video>`) an HTML tag that the conversion drops: words lost.
//!
//! Each such character is escaped the way Markdown itself offers (a backslash, or `&lt;`),
//! which the conversion turns back into the character, so the reader sees the text as it was
//! written. Markdown removes the backslashes everywhere in the text, addresses included, so a
//! link still works. `#` at the start of a line is left alone: Friendica escapes it itself,
//! so that hashtags stay hashtags.

/// `text` with everything Markdown would read as markup escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        escape_line(line, &mut out);
    }
    out
}

fn escape_line(line: &str, out: &mut String) {
    let indent = line.len() - line.trim_start_matches([' ', '\t']).len();
    let (lead, rest) = line.split_at(indent);
    out.push_str(lead);
    let rest = escape_block_start(rest, out);
    for c in rest.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            _ => out.push(c),
        }
    }
}

/// Escapes what would start a block at the beginning of a line (a quote, a list item, a
/// rule or a setext heading's underline); returns the rest of the line.
fn escape_block_start<'l>(line: &'l str, out: &mut String) -> &'l str {
    if let Some(rest) = line.strip_prefix('>') {
        out.push_str("\\>");
        return rest;
    }
    if let Some(first @ ('-' | '+')) = line.chars().next() {
        out.push('\\');
        out.push(first);
        return &line[1..];
    }
    let digits = line.len() - line.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    if digits > 0 {
        if let Some(after) = line[digits..].strip_prefix(['.', ')']) {
            if after.is_empty() || after.starts_with([' ', '\t']) {
                out.push_str(&line[..digits]);
                out.push('\\');
                out.push_str(&line[digits..=digits]);
                return after;
            }
        }
    }
    line
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    #[rstest]
    #[case::plain("Launch day! Thanks everyone", "Launch day! Thanks everyone")]
    #[case::stars("*not bold* and 5*3", "\\*not bold\\* and 5\\*3")]
    #[case::underscores("snake_case_name _x_", "snake\\_case\\_name \\_x\\_")]
    #[case::ticks("run `make`", "run \\`make\\`")]
    #[case::brackets("[a](https://example.com)", "\\[a\\](https://example.com)")]
    #[case::angle_brackets("the <video> element", "the &lt;video> element")]
    #[case::backslash("C:\\temp", "C:\\\\temp")]
    #[case::quote("> quoted\nnot > here", "\\> quoted\nnot > here")]
    #[case::indented_quote("  > quoted", "  \\> quoted")]
    #[case::dash_list("- one\n+ two", "\\- one\n\\+ two")]
    #[case::rule("---", "\\---")]
    #[case::numbered("1. first\n2) second", "1\\. first\n2\\) second")]
    #[case::number_in_text("1.5 million, 2024.", "1.5 million, 2024.")]
    #[case::hashtag_left_to_friendica("#opensource is fun", "#opensource is fun")]
    #[case::url_underscores("see https://example.com/a_b?x=1", "see https://example.com/a\\_b?x=1")]
    fn escapes_markup(#[case] text: &str, #[case] want: &str) {
        assert_eq!(escape(text), want);
    }
}
