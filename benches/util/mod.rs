//! Criterion glue shared by the benches: the configuration and the command
//! line's filter; and ([`load`]) the camera frames, threads and percentiles
//! the image and hub benches share. The measuring (engine and raw-TCP pairs,
//! reader and echo threads, payloads) is the harness the CLI's
//! `socketengine bench` uses too, compiled here from its one source.

// Each bench uses part of the harness (the CLI's timed runs, and the engine
// pairs in the image bench, go unused here), so its unused items are allowed.
#[allow(dead_code)]
#[path = "../../src/bin/socketengine/bench/harness/mod.rs"]
pub(crate) mod harness;

// The image and hub benches share it; the throughput bench does not use it.
#[allow(dead_code)]
pub(crate) mod load;

// The `engine_tls` pairs of the throughput bench.
#[allow(dead_code)]
pub(crate) mod tls;

use std::time::Duration;

/// Few, short samples: each bench runs in a minute or two on two cores.
pub(crate) fn config() -> criterion::Criterion {
    criterion::Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_secs(1))
}

/// Whether the command line's filter (`cargo bench --bench x -- FILTER`)
/// selects any of the benchmarks `ids` (`group/function`): no filter, a
/// filter that is a part of one (Criterion matches it as a regular
/// expression; one with special characters selects everything here), or with
/// `--exact`, one of them whole. Lets a
/// bench skip the set-up of a group filtered out, and the figures it prints
/// outside Criterion's own measurements.
pub(crate) fn selected(ids: &[&str]) -> bool {
    let mut args = std::env::args().skip(1);
    let (mut filter, mut exact) = (None, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--exact" => exact = true,
            // Criterion's options that take a value (`-s`, `-b`, `-c` are the
            // short forms of three of them).
            "-s"
            | "-b"
            | "-c"
            | "--save-baseline"
            | "--baseline"
            | "--load-baseline"
            | "--profile-time"
            | "--sample-size"
            | "--warm-up-time"
            | "--measurement-time"
            | "--nresamples"
            | "--noise-threshold"
            | "--confidence-level"
            | "--significance-level"
            | "--color"
            | "--output-format"
            | "--plotting-backend"
            | "--format" => {
                args.next();
            }
            flag if flag.starts_with('-') => {}
            name => filter = Some(name.to_owned()),
        }
    }
    filter.is_none_or(|f| {
        if exact {
            return ids.contains(&f.as_str());
        }
        let plain = !f.contains(|c| "\\.*+?()[]{}|^$".contains(c));
        !plain || ids.iter().any(|id| id.contains(f.as_str()))
    })
}
