//! Splitting a long text into thread parts: at a paragraph break if one leaves the part at
//! least half full, else at a sentence end, else at a word boundary. Words are never cut,
//! so URLs, mentions and hashtags stay whole; only a single word longer than a whole part
//! is cut, between grapheme clusters.

use unicode_segmentation::UnicodeSegmentation;

/// One part's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Piece {
    /// The text, a slice of the input.
    pub(super) text: String,
    /// It ends inside a word that was longer than a whole part.
    pub(super) forced: bool,
}

/// How good a place to cut is; higher is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Boundary {
    /// Inside an over-long word: the last resort.
    Forced,
    Word,
    Sentence,
    Paragraph,
}

/// A word and the whitespace after it, as byte offsets into the text.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    start: usize,
    word_end: usize,
    after: Boundary,
}

fn chunks(text: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let word_len = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let ws_len = rest[word_len..]
            .find(|c: char| !c.is_whitespace())
            .unwrap_or(rest.len() - word_len);
        let word = &rest[..word_len];
        let ws = &rest[word_len..word_len + ws_len];
        let after = if ws.matches('\n').count() >= 2 {
            Boundary::Paragraph
        } else if ends_sentence(word) {
            Boundary::Sentence
        } else {
            Boundary::Word
        };
        out.push(Chunk {
            start: pos,
            word_end: pos + word_len,
            after,
        });
        pos += word_len + ws_len;
    }
    out
}

fn ends_sentence(word: &str) -> bool {
    let trimmed = word.trim_end_matches(['"', '\'', ')', '»', '”', '’']);
    trimmed.ends_with(['.', '!', '?', '…'])
}

/// Splits `text` (already trimmed) into parts such that `measure(part) <= budget_of(i)` for
/// part `i`; the caller's budgets leave room for what it adds to each part (numbering, a
/// date line on the first). The parts, joined with the whitespace that was between them,
/// give back `text`: every cut is at whitespace, except inside a single word longer than a
/// whole part (then `forced` is true for the part that ends inside it).
pub(super) fn split(
    text: &str,
    budget_of: impl Fn(usize) -> usize,
    measure: impl Fn(&str) -> usize,
) -> Vec<Piece> {
    let mut chunks = chunks(text);
    let mut parts = Vec::new();
    let mut s = 0;
    while s < chunks.len() {
        let budget = budget_of(parts.len()).max(1);
        let fits = |chunks: &[Chunk], s: usize, e: usize| {
            measure(&text[chunks[s].start..chunks[e - 1].word_end]) <= budget
        };
        // The furthest end that fits; measure grows with the end, so binary search. Every
        // word counts at least 1, so no more than `budget` words fit: searching (and
        // measuring) beyond them would make long texts quadratic.
        let (mut lo, mut hi) = (s, chunks.len().min(s + budget));
        if first_word_too_long(&text[chunks[s].start..chunks[s].word_end], budget, &measure) {
            hi = s;
        }
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(&chunks, s, mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let furthest = lo;
        if furthest == s {
            // One word longer than a whole part: cut it between graphemes.
            let c = chunks[s];
            let word = &text[c.start..c.word_end];
            let cut = longest_fitting_prefix(word, budget, &measure);
            chunks[s] = Chunk {
                start: c.start + cut,
                ..c
            };
            chunks.insert(
                s,
                Chunk {
                    start: c.start,
                    word_end: c.start + cut,
                    after: Boundary::Forced,
                },
            );
            parts.push(Piece {
                text: text[c.start..c.start + cut].to_owned(),
                forced: true,
            });
            s += 1;
            continue;
        }
        let end = if furthest == chunks.len() {
            furthest
        } else {
            best_end(&chunks, s, furthest, budget, text, &measure)
        };
        parts.push(Piece {
            text: text[chunks[s].start..chunks[end - 1].word_end].to_owned(),
            forced: false,
        });
        s = end;
    }
    parts
}

/// Among the ends in `s+1..=furthest`, the one after the best boundary that still leaves the
/// part at least half full; the furthest when no better boundary qualifies.
fn best_end(
    chunks: &[Chunk],
    s: usize,
    furthest: usize,
    budget: usize,
    text: &str,
    measure: &impl Fn(&str) -> usize,
) -> usize {
    // The first end that leaves the part at least half full; measure grows with the end,
    // so binary search (measuring every end would make long parts quadratic).
    let half_full =
        |end: usize| measure(&text[chunks[s].start..chunks[end - 1].word_end]) * 2 >= budget;
    let (mut lo, mut hi) = (s + 1, furthest);
    while lo < hi {
        let mid = usize::midpoint(lo, hi);
        if half_full(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    let first = lo;
    for wanted in [Boundary::Paragraph, Boundary::Sentence] {
        if let Some(end) = (first..=furthest)
            .rev()
            .find(|&end| chunks[end - 1].after >= wanted)
        {
            return end;
        }
    }
    furthest
}

/// Whether `word` alone is over `budget`, decided on its first `budget + 1` graphemes when
/// they are already over: measuring a whole over-long word for every part it is cut into
/// would make such words quadratic.
fn first_word_too_long(word: &str, budget: usize, measure: &impl Fn(&str) -> usize) -> bool {
    match word.grapheme_indices(true).nth(budget + 1) {
        Some((end, _)) if measure(&word[..end]) > budget => true,
        _ => measure(word) > budget,
    }
}

/// The longest prefix of `word` (in bytes, at a grapheme boundary) that fits `budget`;
/// at least one grapheme. Binary search over the first `budget + 1` boundaries.
fn longest_fitting_prefix(word: &str, budget: usize, measure: &impl Fn(&str) -> usize) -> usize {
    let ends: Vec<usize> = word
        .grapheme_indices(true)
        .take(budget.saturating_add(1))
        .map(|(i, g)| i + g.len())
        .collect();
    let (mut lo, mut hi) = (0, ends.len());
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if measure(&word[..ends[mid - 1]]) <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    // Even one grapheme is too long (an absurdly small limit): take one anyway to progress.
    if lo == 0 {
        ends.first().copied().unwrap_or(word.len())
    } else {
        ends[lo - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    /// The texts of `split` with the same budget for every part.
    fn texts(text: &str, limit: usize, reserve: usize, measure: fn(&str) -> usize) -> Vec<String> {
        split(text, |_| limit - reserve, measure)
            .into_iter()
            .map(|p| p.text)
            .collect::<Vec<_>>()
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(texts("hello world", 20, 0, chars), vec!["hello world"]);
    }

    #[test]
    fn prefers_paragraph_then_sentence_then_word() {
        let text = "First para is here.\n\nSecond one. It goes on and on";
        assert_eq!(
            texts(text, 32, 0, chars),
            vec!["First para is here.", "Second one. It goes on and on"]
        );
        let text = "One sentence here. Another sentence that is long";
        assert_eq!(
            texts(text, 30, 0, chars),
            vec!["One sentence here.", "Another sentence that is long"]
        );
        assert_eq!(
            texts("aaa bbb ccc ddd", 8, 0, chars),
            vec!["aaa bbb", "ccc ddd"]
        );
    }

    #[test]
    fn early_boundary_is_not_taken_when_it_leaves_the_part_nearly_empty() {
        let text = "Hi. this is a long run of words without any stop";
        let parts = texts(text, 30, 0, chars);
        assert!(chars(&parts[0]) > 15, "{parts:?}");
    }

    #[test]
    fn reserve_is_left_free() {
        for p in texts("aaa bbb ccc ddd eee", 10, 3, chars) {
            assert!(chars(&p) <= 7, "{p}");
        }
    }

    #[test]
    fn over_long_word_is_cut_between_graphemes() {
        let parts = texts("abcdefghij k", 4, 0, chars);
        assert_eq!(parts, vec!["abcd", "efgh", "ij k"]);
    }

    #[test]
    fn each_part_gets_its_own_budget() {
        let parts = split("aa bb cc dd ee", |i| if i == 0 { 2 } else { 5 }, chars);
        let texts: Vec<&str> = parts.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(texts, vec!["aa", "bb cc", "dd ee"]);
        assert!(parts.iter().all(|p| !p.forced));
    }

    #[test]
    fn a_forced_cut_is_reported() {
        let parts = split("abcdef", |_| 4, chars);
        assert_eq!(
            parts,
            vec![
                Piece {
                    text: "abcd".into(),
                    forced: true
                },
                Piece {
                    text: "ef".into(),
                    forced: false
                }
            ]
        );
    }
}
