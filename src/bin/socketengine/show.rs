//! Human formatting: peer-supplied text made safe to print, payload
//! previews, sizes, rates and ages.

use std::borrow::Cow;
use std::io;
use std::time::Duration;

use serde::Serialize;

/// Longest preview of a payload, in characters (text) or bytes (hex).
const PREVIEW: usize = 48;

/// `text` in double quotes, every character that does not plainly show
/// itself escaped as Rust's `{:?}` does: control characters (newline, ESC,
/// NUL), line and paragraph separators, bidirectional overrides (U+202E),
/// zero-width and other invisible characters, and `"` and `\`. The one
/// escaping function of the CLI's output: whatever a peer sends stays on
/// its line and cannot rewrite the terminal.
pub(crate) fn quoted(text: &str) -> String {
    format!("{text:?}")
}

/// Text a peer chose (a client's name, a channel, a room, a reason) for a
/// line of output: as it is when it is one plain word (ASCII letters, digits
/// and `-_./:@*$+=~`), otherwise [`quoted`], so it can neither break the
/// line nor pass for the line's other fields (a name such as
/// `admin (#1) from 10.0.0.1:22` is shown in quotes).
pub(crate) fn word(text: &str) -> Cow<'_, str> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:@*$+=~".contains(c);
    match !text.is_empty() && text.chars().all(plain) {
        true => Cow::Borrowed(text),
        false => Cow::Owned(quoted(text)),
    }
}

/// `value` as one line of JSON. Beyond JSON's own escapes (which cover only
/// control characters below U+0020), every character [`quoted`] escapes is
/// written as `\uXXXX`: the line shows on a terminal as the text output
/// does, and parses to the same string.
pub(crate) fn json_line(value: &impl Serialize) -> serde_json::Result<String> {
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, Shown))?;
    // The serializer writes UTF-8 only.
    Ok(String::from_utf8(out).unwrap_or_default())
}

/// Whether [`quoted`] escapes `c`, apart from the quotes and the backslash
/// (JSON escapes those itself).
fn hidden(c: char) -> bool {
    if c.is_ascii() {
        // The same answer without formatting: ASCII escapes only controls.
        return c.is_ascii_control();
    }
    let shown = quoted(c.encode_utf8(&mut [0; 4]));
    !matches!(c, '"' | '\\') && shown.len() > c.len_utf8() + 2
}

/// The JSON formatter of [`json_line`].
struct Shown;

impl serde_json::ser::Formatter for Shown {
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|&(_, c)| hidden(c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            for unit in c.encode_utf16(&mut [0; 2]) {
                write!(writer, "\\u{unit:04x}")?;
            }
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }
}

/// A one-line preview of a payload: [`quoted`] text when it is printable
/// UTF-8, otherwise the first bytes in hex. Long payloads end with `…`.
pub(crate) fn preview(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\t') => {
            let cut: String = text.chars().take(PREVIEW).collect();
            let more = if cut.len() < text.len() { "…" } else { "" };
            format!("{}{more}", quoted(&cut))
        }
        _ => {
            let take = payload.len().min(PREVIEW / 2);
            let hex: Vec<String> = payload[..take].iter().map(|b| format!("{b:02x}")).collect();
            let more = if take < payload.len() { " …" } else { "" };
            format!("hex {}{more}", hex.join(" "))
        }
    }
}

/// A byte count with a binary unit: `512 B`, `1.5 KiB`, `5.9 MiB`.
pub(crate) fn bytes(n: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    match unit {
        0 => format!("{value:.0} {}", UNITS[0]),
        _ => format!("{value:.1} {}", UNITS[unit]),
    }
}

/// A count with a decimal suffix: `950`, `12.3 k`, `4.10 M`.
pub(crate) fn count(n: f64) -> String {
    match n {
        n if n >= 1e9 => format!("{:.2} G", n / 1e9),
        n if n >= 1e6 => format!("{:.2} M", n / 1e6),
        n if n >= 1e4 => format!("{:.1} k", n / 1e3),
        n => format!("{n:.0}"),
    }
}

/// An age or latency: `850 µs`, `12.0 ms`, `3.2 s`, `4 min`.
pub(crate) fn age(d: Duration) -> String {
    let secs = d.as_secs_f64();
    match secs {
        s if s < 1e-3 => format!("{:.0} µs", s * 1e6),
        s if s < 1.0 => format!("{:.1} ms", s * 1e3),
        s if s < 120.0 => format!("{s:.1} s"),
        s => format!("{:.0} min", s / 60.0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn previews_text_and_binary() {
        assert_eq!(preview(b"x=1"), "\"x=1\"");
        assert_eq!(preview(&[0, 1, 255]), "hex 00 01 ff");
        assert!(preview(&[b'a'; 100]).ends_with('…'));
        assert!(preview(&[0; 100]).ends_with(" …"));
    }

    #[test]
    fn peer_text_is_escaped_and_quoted_unless_it_is_one_plain_word() {
        let cases = [
            ("pose", "pose"),
            ("arm/left", "arm/left"),
            ("watch-4242", "watch-4242"),
            ("", r#""""#),
            ("two words", r#""two words""#),
            ("#1", r##""#1""##),
            ("température", r#""température""#),
            (
                "admin (#1) from 10.0.0.1:22\n",
                r##""admin (#1) from 10.0.0.1:22\n""##,
            ),
            ("\u{1b}[31mred\0", r#""\u{1b}[31mred\0""#),
            ("abc\u{202e}fed", r#""abc\u{202e}fed""#),
            ("a\u{2028}b\u{200b}", r#""a\u{2028}b\u{200b}""#),
        ];
        for (text, shown) in cases {
            assert_eq!(word(text), shown, "{text:?}");
        }
    }

    #[test]
    fn json_lines_escape_what_quoted_escapes_and_parse_back() {
        let text = "a\nb\u{1b}c\0d\u{7f}e\u{85}f\u{202e}g\u{2028}h\u{1f600}é\"\\'";
        let line = json_line(&serde_json::json!({ "name": text })).unwrap();
        assert_eq!(
            line,
            r#"{"name":"a\nb\u001bc\u0000d\u007fe\u0085f\u202eg\u2028h😀é\"\\'"}"#
        );
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["name"], text);
    }

    #[test]
    fn formats_units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(count(950.0), "950");
        assert_eq!(count(4_100_000.0), "4.10 M");
        assert_eq!(age(Duration::from_micros(850)), "850 µs");
    }
}
