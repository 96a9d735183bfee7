//! The controller's clock, passed to everything that reads the time or waits: the daemon's
//! scheduler, the rate limit, call timeouts and the simulated AWS. One loop runs on any of them.
//!
//! - [`Clock::Wall`]: real AWS. `now` is the system clock (CloudWatch speaks epoch seconds); waits
//!   are on tokio's monotonic timer.
//! - [`Clock::Scaled`]: the simulated AWS. Time is tokio's, multiplied by a speed and anchored at a
//!   chosen origin: `tug controller --cloud sim --speed 60` runs sixty simulated seconds per wall
//!   second, and under tokio's paused time (`tug simulate`, `tug demo`, scenario tests) a speed of 1
//!   is virtual time that jumps to the next timer whenever everything waits.

use std::time::Duration;

use tokio::time::Instant;

/// Where the controller's time comes from. Cheap to clone.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system clock; waits on tokio's timer.
    Wall,
    /// tokio's clock, sped up and anchored: `now = origin_ms + (tokio now - start) x speed`.
    Scaled {
        /// The runtime whose clock this is (a paused runtime's clock is only readable from
        /// inside it, so reads enter it).
        runtime: Option<tokio::runtime::Handle>,
        /// tokio's instant at which the clock read `origin_ms`.
        start: Instant,
        /// Milliseconds since the epoch at `start`.
        origin_ms: u64,
        /// Clock milliseconds per tokio millisecond.
        speed: f64,
    },
}

impl Clock {
    /// A scaled clock reading `origin_ms` now, on the current runtime's clock (call it inside the
    /// runtime, or with it entered).
    pub fn scaled(origin_ms: u64, speed: f64) -> Self {
        Clock::Scaled {
            runtime: tokio::runtime::Handle::try_current().ok(),
            start: Instant::now(),
            origin_ms,
            speed: if speed.is_finite() && speed > 0.0 {
                speed
            } else {
                1.0
            },
        }
    }

    /// Milliseconds since the epoch, on this clock.
    pub fn now_ms(&self) -> u64 {
        match self {
            Clock::Wall => wall_ms(),
            Clock::Scaled {
                runtime,
                start,
                origin_ms,
                speed,
            } => {
                let _inside = runtime.as_ref().map(tokio::runtime::Handle::enter);
                let elapsed = Instant::now().saturating_duration_since(*start);
                // Whole nanoseconds, and a hair of slack against rounding: a wait that ended at
                // a deadline must read as having reached it.
                let ms = elapsed.as_nanos() as f64 * speed / 1_000_000.0 + 1e-6;
                origin_ms + ms.floor() as u64
            }
        }
    }

    /// Whole seconds since the epoch, on this clock: the planner's `now`.
    pub fn now_s(&self) -> u64 {
        self.now_ms() / 1000
    }

    /// Waits until the clock reads `at_ms` (at once if it already does).
    pub async fn sleep_until_ms(&self, at_ms: u64) {
        match self {
            Clock::Wall => loop {
                // The system clock may be stepped meanwhile: wait in slices and look again.
                let now = wall_ms();
                if now >= at_ms {
                    return;
                }
                let wait = Duration::from_millis((at_ms - now).min(60_000));
                tokio::time::sleep(wait).await;
            },
            Clock::Scaled {
                start,
                origin_ms,
                speed,
                ..
            } => {
                let clock_ms = at_ms.saturating_sub(*origin_ms) as f64;
                // Round the tokio deadline up, so the clock reads at least `at_ms` on waking.
                let tokio_ns = (clock_ms * 1_000_000.0 / speed).ceil().min(1e18);
                let deadline = *start + Duration::from_nanos(tokio_ns as u64);
                tokio::time::sleep_until(deadline).await;
            }
        }
    }

    /// Waits `ms` milliseconds of this clock.
    pub async fn sleep_ms(&self, ms: u64) {
        if ms > 0 {
            self.sleep_until_ms(self.now_ms().saturating_add(ms)).await;
        }
    }

    /// How long, in tokio time, `ms` of this clock lasts (for timeouts that must keep working
    /// on a hung call whatever the clock).
    pub fn tokio_duration(&self, ms: u64) -> Duration {
        match self {
            Clock::Wall => Duration::from_millis(ms),
            Clock::Scaled { speed, .. } => Duration::from_secs_f64(ms as f64 / speed / 1000.0),
        }
    }
}

/// The system clock in milliseconds since the epoch.
#[allow(clippy::disallowed_methods)] // the controller's one read of the system clock
fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_paused_clock_reads_the_same_from_outside_its_runtime() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("runtime");
        let clock = {
            let _inside = runtime.enter();
            Clock::scaled(0, 1.0)
        };
        runtime.block_on(clock.sleep_until_ms(5_000));
        assert_eq!(clock.now_ms(), 5_000);
        // Deadlines that are not whole seconds are reached exactly, too.
        for at in [5_001, 6_234, 7_777, 123_457] {
            runtime.block_on(clock.sleep_until_ms(at));
            assert_eq!(clock.now_ms(), at);
        }
        let fast = {
            let _inside = runtime.enter();
            Clock::scaled(0, 60.0)
        };
        for at in [1_001, 62_345, 99_999] {
            runtime.block_on(fast.sleep_until_ms(at));
            assert!(
                (at..at + 60).contains(&fast.now_ms()),
                "{at}: {}",
                fast.now_ms()
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_scaled_clock_runs_at_its_speed_and_wakes_on_time() {
        let clock = Clock::scaled(60_000, 60.0);
        assert_eq!(clock.now_ms(), 60_000);
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(clock.now_ms(), 120_000, "60 s of clock per second");
        clock.sleep_until_ms(150_000).await;
        assert!(clock.now_ms() >= 150_000);
        assert!(clock.now_ms() < 150_100, "{}", clock.now_ms());
        assert_eq!(clock.tokio_duration(60_000), Duration::from_secs(1));
    }
}
