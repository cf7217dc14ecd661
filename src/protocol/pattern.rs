//! Channel patterns: channels are hierarchical (`arm/left/joint3`, segments
//! between `/`), and a pattern names many at once, as Zenoh's key expressions
//! do: a `*` segment matches exactly one segment, a `**` segment any number
//! of them, none included. Pure and table-tested.

use super::{DecodeError, MAX_CHANNEL_LEN};

/// A channel pattern: [`matches`](Self::matches) tells which channels it
/// names. Made from text with [`Pattern::new`]; a name without wildcard
/// segments is a pattern naming itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pattern {
    text: String,
    /// The segments, `**` runs collapsed to one.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Segment {
    Literal(String),
    /// `*`: exactly one segment.
    One,
    /// `**`: zero or more segments.
    Any,
}

impl Pattern {
    /// Parses `text`: 1..=255 bytes; `*` and `**` are wildcards only as whole
    /// segments, and a segment with a `*` inside others (`cam*`) is refused.
    ///
    /// # Errors
    ///
    /// [`DecodeError::EmptyChannel`], [`DecodeError::ChannelTooLong`] or
    /// [`DecodeError::BadPattern`].
    pub fn new(text: &str) -> Result<Pattern, DecodeError> {
        if text.is_empty() {
            return Err(DecodeError::EmptyChannel);
        }
        if text.len() > MAX_CHANNEL_LEN {
            return Err(DecodeError::ChannelTooLong(text.len()));
        }
        let mut segments: Vec<Segment> = Vec::new();
        for part in text.split('/') {
            let segment = match part {
                "**" => Segment::Any,
                "*" => Segment::One,
                p if p.contains('*') => {
                    return Err(DecodeError::BadPattern("`*` inside a segment"));
                }
                p => Segment::Literal(p.to_owned()),
            };
            // `**/**` matches what `**` does.
            if !(segment == Segment::Any && segments.last() == Some(&Segment::Any)) {
                segments.push(segment);
            }
        }
        Ok(Pattern {
            text: text.to_owned(),
            segments,
        })
    }

    /// Whether `text` has a wildcard segment: read as a pattern, not a channel.
    pub fn is_pattern(text: &str) -> bool {
        text.split('/').any(|part| part == "*" || part == "**")
    }

    /// The text it was made from.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether `channel` is one of the channels this pattern names.
    ///
    /// Allocation-free: a greedy walk over the channel's parts that, on a
    /// mismatch, lets the last `**` take one more part (the classic glob
    /// match, with parts for characters). A host runs it per broadcast and
    /// peer with a declared interest.
    pub fn matches(&self, channel: &str) -> bool {
        let segments = &self.segments;
        // `part`: the byte offset of the next part; `None` past the last one.
        let (mut seg, mut part) = (0, Some(0));
        // The last `**` seen, and where its match ends so far.
        let mut any: Option<(usize, Option<usize>)> = None;
        loop {
            match (segments.get(seg), part) {
                (None, None) => return true,
                (Some(Segment::Any), at) => {
                    any = Some((seg, at));
                    seg += 1;
                    continue;
                }
                (Some(segment), Some(at)) => {
                    let (text, next) = part_at(channel, at);
                    let fits = match segment {
                        Segment::Literal(literal) => text == literal,
                        Segment::One => !text.is_empty(),
                        Segment::Any => true,
                    };
                    if fits {
                        (seg, part) = (seg + 1, next);
                        continue;
                    }
                }
                _ => {}
            }
            // A mismatch: the last `**` takes one more part, if any is left.
            let Some((star, Some(at))) = any else {
                return false;
            };
            let (_, next) = part_at(channel, at);
            any = Some((star, next));
            (seg, part) = (star + 1, next);
        }
    }

    /// Whether some channel is named by both this pattern and `other`: a
    /// client whose interest overlaps a group is one of its members
    /// ([`Route::Group`](super::Route::Group)).
    ///
    /// A table over the two segment lists (at most 128 each, so at most
    /// 129 × 129 entries): entry `(i, j)` tells whether the segments from
    /// `i` on and from `j` on name a common run of parts. A `**` takes no
    /// part or one more of what the other side names; two single segments
    /// must agree on their part.
    pub fn overlaps(&self, other: &Pattern) -> bool {
        let (p, q) = (&self.segments, &other.segments);
        let width = q.len() + 1;
        let mut table = vec![false; (p.len() + 1) * width];
        let at = |i: usize, j: usize| i * width + j;
        for i in (0..=p.len()).rev() {
            for j in (0..=q.len()).rev() {
                let get = |i: usize, j: usize| table.get(at(i, j)).copied().unwrap_or(false);
                let both = match (p.get(i), q.get(j)) {
                    (None, None) => true,
                    (Some(Segment::Any), _) => get(i + 1, j) || (j < q.len() && get(i, j + 1)),
                    (_, Some(Segment::Any)) => get(i, j + 1) || (i < p.len() && get(i + 1, j)),
                    (Some(a), Some(b)) => a.agrees(b) && get(i + 1, j + 1),
                    _ => false,
                };
                table[at(i, j)] = both;
            }
        }
        table[0]
    }
}

impl Segment {
    /// Whether two single segments (not `**`) can match the same part.
    fn agrees(&self, other: &Segment) -> bool {
        match (self, other) {
            (Segment::Literal(a), Segment::Literal(b)) => a == b,
            (Segment::Literal(l), _) | (_, Segment::Literal(l)) => !l.is_empty(),
            _ => true,
        }
    }
}

/// The part of `channel` starting at byte `at`, and where the next starts.
fn part_at(channel: &str, at: usize) -> (&str, Option<usize>) {
    let rest = channel.get(at..).unwrap_or_default();
    match rest.find('/') {
        Some(end) => (&rest[..end], Some(at + end + 1)),
        None => (rest, None),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The match by the book: which prefixes of the parts each prefix of
    /// the segments can match.
    fn reference(pattern: &Pattern, channel: &str) -> bool {
        let parts: Vec<&str> = channel.split('/').collect();
        let mut reach = vec![false; parts.len() + 1];
        reach[0] = true;
        for segment in &pattern.segments {
            let mut next = vec![false; parts.len() + 1];
            for j in (0..=parts.len()).filter(|&j| reach[j]) {
                match segment {
                    Segment::Any => next[j..].iter_mut().for_each(|n| *n = true),
                    Segment::One if j < parts.len() && !parts[j].is_empty() => next[j + 1] = true,
                    Segment::Literal(l) if j < parts.len() && parts[j] == l => next[j + 1] = true,
                    _ => {}
                }
            }
            reach = next;
        }
        reach[parts.len()]
    }

    proptest! {
        #[test]
        fn the_greedy_match_agrees_with_the_book(
            pattern in proptest::collection::vec(prop_oneof!["a", "b", "", "\\*", "\\*\\*"], 1..7),
            channel in proptest::collection::vec(prop_oneof!["a", "b", ""], 1..8),
        ) {
            // A lone empty segment is an empty name: not a pattern.
            let Ok(pattern) = Pattern::new(&pattern.join("/")) else {
                return Ok(());
            };
            let channel = channel.join("/");
            prop_assert_eq!(pattern.matches(&channel), reference(&pattern, &channel), "{:?} ~ {}", pattern.as_str(), channel);
        }
    }

    /// Whether some channel of at most `parts` parts over the letters
    /// both patterns use (and a fresh one) is named by both.
    fn overlap_by_search(a: &Pattern, b: &Pattern, parts: usize) -> bool {
        let letters = ["a", "b", "", "c"];
        let mut channels: Vec<String> = letters.iter().map(|l| l.to_string()).collect();
        let mut all = channels.clone();
        for _ in 1..parts {
            channels = channels
                .iter()
                .flat_map(|c| letters.iter().map(move |l| format!("{c}/{l}")))
                .collect();
            all.extend(channels.iter().cloned());
        }
        all.iter()
            .any(|c| !c.is_empty() && a.matches(c) && b.matches(c))
    }

    proptest! {
        #[test]
        fn overlap_agrees_with_a_search_over_channels(
            a in proptest::collection::vec(prop_oneof!["a", "b", "", "\\*", "\\*\\*"], 1..4),
            b in proptest::collection::vec(prop_oneof!["a", "b", "", "\\*", "\\*\\*"], 1..4),
        ) {
            let (Ok(a), Ok(b)) = (Pattern::new(&a.join("/")), Pattern::new(&b.join("/"))) else {
                return Ok(());
            };
            // A common channel, if any, needs no more parts than the two
            // patterns have single segments (each part is some segment's),
            // and one more where those parts would make an empty name.
            let singles = |p: &Pattern| p.segments.iter().filter(|s| **s != Segment::Any).count();
            let want = overlap_by_search(&a, &b, singles(&a) + singles(&b) + 1);
            prop_assert_eq!(a.overlaps(&b), want, "{:?} & {:?}", a.as_str(), b.as_str());
            prop_assert_eq!(b.overlaps(&a), want);
        }
    }

    #[test]
    fn patterns_overlap_when_one_channel_fits_both() {
        let table: &[(&str, &str, bool)] = &[
            ("arm/**", "arm/left/*", true),
            ("arm/**", "arm", true),
            ("arm/*", "arm", false),
            ("arm/*", "*/left", true),
            ("arm/*", "leg/*", false),
            ("**/joint3", "arm/**", true),
            ("**/joint3", "arm/*/joint2", false),
            ("pose", "pose", true),
            ("pose", "pos", false),
            ("**", "a/b/c", true),
            ("a/**/z", "**/y", false),
            ("a/**/z", "*/m/**", true),
        ];
        for &(a, b, want) in table {
            let (pa, pb) = (
                Pattern::new(a).expect("valid"),
                Pattern::new(b).expect("valid"),
            );
            assert_eq!(pa.overlaps(&pb), want, "{a} & {b}");
            assert_eq!(pb.overlaps(&pa), want, "{b} & {a}");
        }
        // The longest patterns cost one table of 129 × 129 entries.
        let worst = Pattern::new(&"**/a/".repeat(51)).expect("255 bytes");
        let other = Pattern::new(&"a/*/".repeat(63)).expect("252 bytes");
        assert!(worst.overlaps(&other));
    }

    #[test]
    fn patterns_match_by_segment() {
        let table: &[(&str, &str, bool)] = &[
            ("pose", "pose", true),
            ("pose", "pose/x", false),
            ("arm/*", "arm/left", true),
            ("arm/*", "arm", false),
            ("arm/*", "arm/left/joint3", false),
            ("arm/*", "arm/", false),
            ("arm/**", "arm", true),
            ("arm/**", "arm/left", true),
            ("arm/**", "arm/left/joint3", true),
            ("arm/**", "army/left", false),
            ("**", "anything/at/all", true),
            ("**", "x", true),
            ("*/left/*", "arm/left/joint3", true),
            ("*/left/*", "leg/right/joint3", false),
            ("a/**/z", "a/z", true),
            ("a/**/z", "a/b/c/z", true),
            ("a/**/z", "a/b/c/y", false),
            ("a/**/**/z", "a/b/z", true),
            ("**/joint3", "arm/left/joint3", true),
            ("**/joint3", "joint3", true),
        ];
        for &(pattern, channel, want) in table {
            let p = Pattern::new(pattern).expect("a valid pattern");
            assert_eq!(p.matches(channel), want, "{pattern} ~ {channel}");
        }
    }

    #[test]
    fn bad_patterns_are_refused_and_long_ones_stay_cheap() {
        assert_eq!(Pattern::new(""), Err(DecodeError::EmptyChannel));
        assert_eq!(
            Pattern::new(&"a".repeat(256)),
            Err(DecodeError::ChannelTooLong(256))
        );
        let inside = Err(DecodeError::BadPattern("`*` inside a segment"));
        assert_eq!(Pattern::new("cam*"), inside);
        assert_eq!(Pattern::new("a/***"), inside);
        // The worst case the length allows: many `**` and one-letter parts.
        let worst = Pattern::new(&"**/a/".repeat(51)).expect("255 bytes");
        assert!(worst.matches(&"a/".repeat(127)));
        assert!(!worst.matches(&format!("{}b", "a/".repeat(127))));
        assert!(Pattern::is_pattern("arm/*") && Pattern::is_pattern("**"));
        assert!(!Pattern::is_pattern("arm/left") && !Pattern::is_pattern("cam*"));
    }
}
