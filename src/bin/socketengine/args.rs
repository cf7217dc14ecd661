//! Parsers for command-line values: sizes with units, short addresses, queue
//! lengths and run lengths.

use std::time::Duration;

/// Parses a byte size: a plain number of bytes, or a number with a unit — `B`,
/// `KB`/`MB`/`GB` (powers of 1000) or `KiB`/`MiB`/`GiB` (powers of 1024), in any
/// case, with an optional space (`64MiB`, `1.5 GB`, `4096`).
pub(crate) fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "m" | "mb" => 1_000_000,
        "g" | "gb" => 1_000_000_000,
        "ki" | "kib" => 1 << 10,
        "mi" | "mib" => 1 << 20,
        "gi" | "gib" => 1 << 30,
        _ => {
            return Err(format!(
                "unknown size unit {unit:?} (use B, KiB, MiB, GiB, KB, MB or GB)"
            ));
        }
    };
    if number.is_empty() {
        return Err(format!("{text:?} is not a size (try 4096, 64KiB or 16MiB)"));
    }
    let bytes = match number.parse::<u64>() {
        Ok(n) => n.checked_mul(scale),
        Err(_) => number
            .parse::<f64>()
            .ok()
            .map(|n| n * scale as f64)
            .filter(|b| b.is_finite() && *b <= u64::MAX as f64)
            .map(|b| b.round() as u64),
    };
    let bytes =
        bytes.ok_or_else(|| format!("{text:?} is not a size (try 4096, 64KiB or 16MiB)"))?;
    usize::try_from(bytes).map_err(|_| format!("{text:?} is too large"))
}

/// The host part used when an address gives only a port.
pub(crate) const DEFAULT_HOST: &str = "127.0.0.1";

/// Normalises an address to `host:port`: accepts `host:port`, `[v6]:port`,
/// `:port` and `port`; a missing host is [`DEFAULT_HOST`].
pub(crate) fn parse_addr(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bad = || format!("{text:?} is not an address (use host:port, :port or port)");
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => (host, port),
        Some(_) => return Err(bad()),
        None => ("", text),
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let host = match host {
        "" => DEFAULT_HOST,
        host => host,
    };
    Ok(format!("{host}:{port}"))
}

/// Parses the relay host's queue length: 1 or more messages. The library
/// accepts 0 (only the latest value is kept), but the relay forwards what it
/// takes from the queues, so with 0 it would forward nothing.
pub(crate) fn parse_queue(text: &str) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(0) => {
            Err("a queue of 0 holds nothing for the relay to forward: give 1 or more".to_owned())
        }
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a number of messages")),
    }
}

/// Checks a run length given as `--secs`: more than 0 and at most `max`
/// seconds, fractions allowed. The error is one line naming the flag, the value
/// and the range.
pub(crate) fn run_length(secs: f64, max: u64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(secs)
        .ok()
        .filter(|d| !d.is_zero() && *d <= Duration::from_secs(max))
        .ok_or_else(|| format!("--secs {secs} is out of range: give more than 0 and at most {max}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_and_without_units() {
        let cases = [
            ("4096", 4096),
            ("0", 0),
            ("12B", 12),
            ("64KiB", 64 << 10),
            ("64kib", 64 << 10),
            ("64MiB", 64 << 20),
            ("2GiB", 2 << 30),
            ("1KB", 1000),
            ("5 MB", 5_000_000),
            ("1GB", 1_000_000_000),
            ("1.5MiB", 3 << 19),
            ("16Mi", 16 << 20),
        ];
        for (text, want) in cases {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_sizes_are_refused() {
        for text in [
            "",
            "MiB",
            "12 parsecs",
            "-1",
            "1.2.3KB",
            "99999999999GiB",
            "x12",
        ] {
            assert!(parse_size(text).is_err(), "{text}");
        }
    }

    #[test]
    fn queue_lengths_from_one() {
        assert_eq!(parse_queue("1"), Ok(1));
        assert_eq!(parse_queue("1024"), Ok(1024));
        for text in ["0", "", "-1", "x"] {
            assert!(parse_queue(text).is_err(), "{text}");
        }
    }

    #[test]
    fn run_lengths_above_zero_up_to_the_maximum() {
        let cases = [
            (0.5, Some(Duration::from_millis(500))),
            (1.0, Some(Duration::from_secs(1))),
            (60.0, Some(Duration::from_secs(60))),
            (60.5, None),
            (0.0, None),
            (-1.0, None),
            (f64::NAN, None),
            (f64::INFINITY, None),
        ];
        for (secs, want) in cases {
            assert_eq!(run_length(secs, 60).ok(), want, "{secs}");
        }
        let err = run_length(0.0, 86_400).unwrap_err();
        assert_eq!(
            err,
            "--secs 0 is out of range: give more than 0 and at most 86400"
        );
    }

    #[test]
    fn addresses_in_every_short_form() {
        let cases = [
            ("8080", "127.0.0.1:8080"),
            (":8080", "127.0.0.1:8080"),
            (":0", "127.0.0.1:0"),
            ("0.0.0.0:9000", "0.0.0.0:9000"),
            ("localhost:1", "localhost:1"),
            ("[::1]:7", "[::1]:7"),
        ];
        for (text, want) in cases {
            assert_eq!(parse_addr(text).as_deref(), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_addresses_are_refused() {
        for text in ["", "host", "host:", ":99999", "a:b:c", "::1", "1.2.3.4:x"] {
            assert!(parse_addr(text).is_err(), "{text}");
        }
    }
}
