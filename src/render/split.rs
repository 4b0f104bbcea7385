//! Splitting a long text into thread parts: at a paragraph break if one leaves the part at
//! least half full, else at a sentence end, else at a word boundary. Words are never cut,
//! so URLs, mentions and hashtags stay whole; only a single word longer than a whole part
//! is cut, between grapheme clusters.

use unicode_segmentation::UnicodeSegmentation;

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

/// Splits `text` (already trimmed) into parts such that `measure(part) + reserve <= limit`
/// for each. `reserve` leaves room for numbering added by the caller. The parts, joined
/// with the whitespace that was between them, give back `text`.
pub(super) fn split(
    text: &str,
    limit: usize,
    reserve: usize,
    measure: impl Fn(&str) -> usize,
) -> Vec<String> {
    let budget = limit.saturating_sub(reserve).max(1);
    let mut chunks = chunks(text);
    let mut parts = Vec::new();
    let mut s = 0;
    let fits = |chunks: &[Chunk], s: usize, e: usize| {
        measure(&text[chunks[s].start..chunks[e - 1].word_end]) <= budget
    };
    while s < chunks.len() {
        // The furthest end that fits; measure grows with the end, so binary search.
        let (mut lo, mut hi) = (s, chunks.len());
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
            parts.push(text[c.start..c.start + cut].to_owned());
            s += 1;
            continue;
        }
        let end = if furthest == chunks.len() {
            furthest
        } else {
            best_end(&chunks, s, furthest, budget, text, &measure)
        };
        parts.push(text[chunks[s].start..chunks[end - 1].word_end].to_owned());
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
    for wanted in [Boundary::Paragraph, Boundary::Sentence] {
        for end in (s + 1..=furthest).rev() {
            if measure(&text[chunks[s].start..chunks[end - 1].word_end]) * 2 < budget {
                break;
            }
            if chunks[end - 1].after >= wanted {
                return end;
            }
        }
    }
    furthest
}

fn longest_fitting_prefix(word: &str, budget: usize, measure: &impl Fn(&str) -> usize) -> usize {
    let mut cut = 0;
    for (i, g) in word.grapheme_indices(true) {
        if measure(&word[..i + g.len()]) > budget {
            break;
        }
        cut = i + g.len();
    }
    // Even one grapheme is too long (an absurdly small limit): take one anyway to progress.
    if cut == 0 {
        cut = word.graphemes(true).next().map_or(word.len(), str::len);
    }
    cut
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> usize {
        s.chars().count()
    }

    #[test]
    fn short_text_is_one_part() {
        assert_eq!(split("hello world", 20, 0, chars), vec!["hello world"]);
    }

    #[test]
    fn prefers_paragraph_then_sentence_then_word() {
        let text = "First para is here.\n\nSecond one. It goes on and on";
        assert_eq!(
            split(text, 32, 0, chars),
            vec!["First para is here.", "Second one. It goes on and on"]
        );
        let text = "One sentence here. Another sentence that is long";
        assert_eq!(
            split(text, 30, 0, chars),
            vec!["One sentence here.", "Another sentence that is long"]
        );
        assert_eq!(
            split("aaa bbb ccc ddd", 8, 0, chars),
            vec!["aaa bbb", "ccc ddd"]
        );
    }

    #[test]
    fn early_boundary_is_not_taken_when_it_leaves_the_part_nearly_empty() {
        let text = "Hi. this is a long run of words without any stop";
        let parts = split(text, 30, 0, chars);
        assert!(chars(&parts[0]) > 15, "{parts:?}");
    }

    #[test]
    fn reserve_is_left_free() {
        for p in split("aaa bbb ccc ddd eee", 10, 3, chars) {
            assert!(chars(&p) <= 7, "{p}");
        }
    }

    #[test]
    fn over_long_word_is_cut_between_graphemes() {
        let parts = split("abcdefghij k", 4, 0, chars);
        assert_eq!(parts, vec!["abcd", "efgh", "ij k"]);
    }
}
