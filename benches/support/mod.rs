//! Timing helpers shared by the benchmarks: run N times, print min / median / max.

use std::time::{Duration, Instant};

/// Runs `run` `runs` times; the durations, sorted.
pub fn time_runs(runs: usize, mut run: impl FnMut()) -> Vec<Duration> {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            run();
            start.elapsed()
        })
        .collect();
    times.sort();
    times
}

/// Prints one line of figures for sorted durations.
pub fn report(what: &str, sorted: &[Duration]) {
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{what:<48} min {:>8.1} ms  median {:>8.1} ms  max {:>8.1} ms",
        ms(sorted[0]),
        ms(sorted[sorted.len() / 2]),
        ms(sorted[sorted.len() - 1])
    );
}
