//! Human formatting: payload previews, sizes, rates and ages.

use std::time::Duration;

/// Longest preview of a payload, in characters (text) or bytes (hex).
const PREVIEW: usize = 48;

/// A one-line preview of a payload: quoted text when it is printable UTF-8,
/// otherwise the first bytes in hex. Long payloads end with `…`.
pub(crate) fn preview(payload: &[u8]) -> String {
    match std::str::from_utf8(payload) {
        Ok(text) if text.chars().all(|c| !c.is_control() || c == '\t') => {
            let cut: String = text.chars().take(PREVIEW).collect();
            let more = if cut.len() < text.len() { "…" } else { "" };
            format!("{cut:?}{more}")
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
    fn formats_units() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0), "1.5 KiB");
        assert_eq!(count(950.0), "950");
        assert_eq!(count(4_100_000.0), "4.10 M");
        assert_eq!(age(Duration::from_micros(850)), "850 µs");
    }
}
