//! The archive's JavaScript data files: a global assignment (`window.YTD.tweets.part0 = `,
//! `Grailbird.data.tweets_2013_01 = `, `var user_details = `) in front of a JSON value.
//!
//! Arrays are streamed: the wrapper is skipped on the reader, then serde walks the array and
//! hands over each element as raw JSON, so memory holds one element at a time, never a
//! `serde_json::Value` of the whole file. Error positions are given in terms of the file
//! (line and byte column), the wrapper included.

use std::cell::Cell;
use std::fmt;
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use serde::de::{DeserializeOwned, Deserializer, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// What is wrong with the content of a data file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseProblem {
    /// The `<name> = ` assignment in front of the JSON is missing.
    #[error("expected the file to start with `{expected}`, found {found:?}")]
    MissingWrapper {
        /// What the file should start with.
        expected: &'static str,
        /// The start of what is there.
        found: String,
    },
    /// The JSON is broken (or the file ends early).
    #[error("JSON syntax error at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line in the file.
        line: usize,
        /// 1-based byte column in that line.
        column: usize,
        /// The parser's explanation.
        message: String,
    },
    /// The JSON is valid but not shaped as expected (an object where a list should be).
    #[error("unexpected content at line {line} column {column}: {message}")]
    Shape {
        /// 1-based line in the file.
        line: usize,
        /// 1-based byte column in that line.
        column: usize,
        /// What was expected.
        message: String,
    },
}

/// Reading a data file failed: either its content or the reading itself.
#[derive(Debug)]
pub(crate) enum JsError {
    Problem(ParseProblem),
    Io(io::Error),
}

impl From<io::Error> for JsError {
    fn from(err: io::Error) -> Self {
        JsError::Io(err)
    }
}

/// How much of the file the wrapper took, to turn serde's positions into file positions.
#[derive(Debug, Clone, Copy)]
struct Offset {
    lines: usize,
    column: usize,
}

impl Offset {
    fn error(self, err: serde_json::Error) -> JsError {
        if err.is_io() {
            return JsError::Io(err.into());
        }
        let (line, column) = if err.line() <= 1 {
            (1 + self.lines, err.column() + self.column)
        } else {
            (err.line() + self.lines, err.column())
        };
        let full = err.to_string();
        let message = full
            .strip_suffix(&format!(" at line {} column {}", err.line(), err.column()))
            .unwrap_or(&full)
            .to_owned();
        JsError::Problem(if err.is_data() {
            ParseProblem::Shape {
                line,
                column,
                message,
            }
        } else if err.is_eof() {
            ParseProblem::Syntax {
                line,
                column,
                message: format!("the file ends before the JSON is complete ({message})"),
            }
        } else {
            ParseProblem::Syntax {
                line,
                column,
                message,
            }
        })
    }
}

/// Consumes `<global name> = ` and any whitespace, leaving the reader on `open` (`[` or
/// `{`).
fn skip_wrapper<R: BufRead>(
    reader: &mut R,
    expected: &'static str,
    open: u8,
) -> Result<Offset, JsError> {
    const LONGEST_NAME: usize = 256;
    let mut seen: Vec<u8> = Vec::new();
    let missing = |seen: &[u8], next: &[u8]| {
        let mut found = String::from_utf8_lossy(seen).into_owned();
        found.push_str(&String::from_utf8_lossy(&next[..next.len().min(40)]));
        let found: String = found.trim().chars().take(40).collect();
        JsError::Problem(ParseProblem::MissingWrapper { expected, found })
    };
    loop {
        let buf = reader.fill_buf()?;
        let Some(&byte) = buf.first() else {
            return Err(missing(&seen, &[]));
        };
        if byte == b'=' {
            reader.consume(1);
            seen.push(byte);
            break;
        }
        let name_byte =
            byte.is_ascii_alphanumeric() || b"_.$ \t\r\n".contains(&byte) || byte >= 0x80;
        if !name_byte || seen.len() > LONGEST_NAME {
            let next = buf.to_vec();
            return Err(missing(&seen, &next));
        }
        seen.push(byte);
        reader.consume(1);
    }
    let name = String::from_utf8_lossy(&seen);
    let name = name
        .trim_start_matches('\u{feff}')
        .trim_end_matches('=')
        .trim();
    if name.is_empty()
        || name
            .chars()
            .any(|c| !(c.is_alphanumeric() || "_.$ ".contains(c)))
    {
        return Err(missing(&seen, &[]));
    }
    loop {
        let buf = reader.fill_buf()?;
        match buf.first() {
            Some(b) if b.is_ascii_whitespace() => {
                seen.push(*b);
                reader.consume(1);
            }
            Some(&b) if b == open => break,
            _ => {
                let next = buf.to_vec();
                return Err(missing(&seen, &next));
            }
        }
    }
    let lines = seen.split(|&b| b == b'\n').count() - 1;
    let column = seen.rsplit(|&b| b == b'\n').next().map_or(0, <[u8]>::len);
    Ok(Offset { lines, column })
}

/// The most bytes one array element (with the whitespace before it) may take. A post is a
/// few kilobytes; the bound keeps a damaged or hostile file (a zip bomb inflating to one
/// endless string) from filling the memory, since an element is held whole.
pub(crate) const MAX_ELEMENT_BYTES: u64 = 8 * 1024 * 1024;

/// A reader that fails once more than [`MAX_ELEMENT_BYTES`] were read since the count was
/// last reset (after each element).
struct Capped<R> {
    inner: R,
    since_reset: Rc<Cell<u64>>,
    cap: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.since_reset.get() + n as u64;
        self.since_reset.set(total);
        if total > self.cap {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "an entry is larger than {} KiB; the file is damaged",
                    self.cap / 1024
                ),
            ));
        }
        Ok(n)
    }
}

/// Streams a wrapped JSON array, calling `each(index, element)` for every element in order.
/// Returns the number of elements.
pub(crate) fn stream_array<R: BufRead>(
    reader: R,
    expected: &'static str,
    each: impl FnMut(usize, &RawValue),
) -> Result<usize, JsError> {
    stream_capped(reader, expected, MAX_ELEMENT_BYTES, each)
}

fn stream_capped<R: BufRead>(
    mut reader: R,
    expected: &'static str,
    cap: u64,
    mut each: impl FnMut(usize, &RawValue),
) -> Result<usize, JsError> {
    let offset = skip_wrapper(&mut reader, expected, b'[')?;
    let since_reset = Rc::new(Cell::new(0));
    let capped = Capped {
        inner: reader,
        since_reset: Rc::clone(&since_reset),
        cap,
    };
    let mut deserializer = serde_json::Deserializer::from_reader(capped);
    let mut each = |i: usize, raw: &RawValue| {
        since_reset.set(0);
        each(i, raw);
    };
    (&mut deserializer)
        .deserialize_seq(EachElement(&mut each))
        .map_err(|e| offset.error(e))
}

/// Parses a small wrapped JSON value (manifest, account) held in memory.
pub(crate) fn parse_value<T: DeserializeOwned>(
    text: &str,
    expected: &'static str,
    open: u8,
) -> Result<T, ParseProblem> {
    let mut rest = text.as_bytes();
    let offset = match skip_wrapper(&mut rest, expected, open) {
        Ok(offset) => offset,
        Err(JsError::Problem(problem)) => return Err(problem),
        // Reading from memory cannot fail.
        Err(JsError::Io(err)) => {
            return Err(ParseProblem::Syntax {
                line: 1,
                column: 1,
                message: err.to_string(),
            })
        }
    };
    let mut deserializer = serde_json::Deserializer::from_slice(rest);
    T::deserialize(&mut deserializer).map_err(|e| match offset.error(e) {
        JsError::Problem(problem) => problem,
        JsError::Io(err) => ParseProblem::Syntax {
            line: 1,
            column: 1,
            message: err.to_string(),
        },
    })
}

struct EachElement<'f, F>(&'f mut F);

impl<'de, F: FnMut(usize, &RawValue)> Visitor<'de> for EachElement<'_, F> {
    type Value = usize;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<usize, A::Error> {
        let mut count = 0;
        while let Some(element) = seq.next_element::<Box<RawValue>>()? {
            (self.0)(count, &element);
            count += 1;
        }
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YTD: &str = "window.YTD.tweets.part0 = [";

    fn collect(text: &str) -> Result<Vec<String>, JsError> {
        let mut out = Vec::new();
        stream_array(text.as_bytes(), YTD, |_, raw| {
            out.push(raw.get().to_owned());
        })?;
        Ok(out)
    }

    #[test]
    fn streams_elements_after_the_wrapper() {
        let out =
            collect("\u{feff}window.YTD.tweets.part0 = [ {\"a\": 1},\n {\"b\": [2]} ]").unwrap();
        assert_eq!(out, vec!["{\"a\": 1}", "{\"b\": [2]}"]);
        let out = collect("Grailbird.data.tweets_2013_01 =\n [ ]").unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn syntax_error_positions_count_the_wrapper() {
        // Line 1: the wrapper takes 26 bytes before `[`.
        let Err(JsError::Problem(ParseProblem::Syntax { line, column, .. })) =
            collect("window.YTD.tweets.part0 = [ {\"a\": x} ]")
        else {
            panic!("expected a syntax error");
        };
        assert_eq!((line, column), (1, 35));
        let Err(JsError::Problem(ParseProblem::Syntax { line, column, .. })) =
            collect("window.YTD.tweets.part0 = [\n  {\n    \"a\" 1\n  }\n]")
        else {
            panic!("expected a syntax error");
        };
        assert_eq!((line, column), (3, 9));
    }

    #[test]
    fn an_endless_element_stops_at_the_bound() {
        let mut text = String::from("window.YTD.tweets.part0 = [ {\"a\": 1}, \"");
        let size = 1024 + 10;
        text.push_str(&"x".repeat(size));
        text.push_str("\" ]");
        let mut seen = 0;
        let result = stream_capped(text.as_bytes(), YTD, 1024, |_, _| seen += 1);
        assert!(
            matches!(result, Err(JsError::Io(ref e)) if e.to_string().contains("larger than")),
            "{result:?}"
        );
        assert_eq!(seen, 1, "the elements before it were read");
        // Many small elements add up to more than the bound: fine.
        let many = format!("window.YTD.tweets.part0 = [{}1]", "1,".repeat(size / 2));
        assert!(stream_capped(many.as_bytes(), YTD, 1024, |_, _| {}).is_ok());
    }

    #[test]
    fn missing_wrapper_is_named() {
        for text in ["[ {} ]", "", "window.YTD.tweets.part0 = {", "<html>"] {
            assert!(
                matches!(
                    collect(text),
                    Err(JsError::Problem(ParseProblem::MissingWrapper { .. }))
                ),
                "{text:?}"
            );
        }
    }
}
