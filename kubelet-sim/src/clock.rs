//! The simulation clock: every simulated delay goes through it, scaled by the time scale.
//!
//! Simulated time is a [`Duration`] that advances `scale` times as fast as real time:
//! with `scale = 10`, a `sleep 30` container exits after 3 real seconds. Timestamps
//! written to the API (`startedAt`, `renewTime`) are wall-clock times of the moment the
//! simulated event happens, so they stay consistent with the API server's own
//! timestamps.
//!
//! Simulated time does not start at zero but at an *origin* ten (real) years in: a
//! container that a previous kubelet-sim process started an hour ago (`startedAt` in
//! the past) still has a simulated start time, which a restarted process needs to adopt
//! it. Every conversion saturates: a delay of a hundred years is simply never reached,
//! it does not overflow.

use std::time::{Duration, Instant};

/// The slowest and fastest time scales accepted.
pub const MIN_SCALE: f64 = 1e-3;
pub const MAX_SCALE: f64 = 1e6;

/// How far back (real time) wall-clock timestamps map to simulated time.
const HISTORY: Duration = Duration::from_secs(10 * 365 * 86_400);

/// The farthest a real delay reaches: far enough to be "never", near enough for
/// `Instant` arithmetic.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("time scale {0} is out of range: it must be a number from {MIN_SCALE} to {MAX_SCALE}")]
pub struct ScaleError(pub f64);

/// The clock a kubelet-sim process runs on. Cheap to copy; injected through the context.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
    wall_epoch: jiff::Timestamp,
    /// Simulated time at `epoch`.
    origin: Duration,
    scale: f64,
}

/// `d * factor`, saturating at [`Duration::MAX`] (and zero for a bad factor).
fn scaled(d: Duration, factor: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * factor).unwrap_or(if factor > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    })
}

impl Clock {
    /// Check a time scale given by a user.
    pub fn check_scale(scale: f64) -> Result<f64, ScaleError> {
        if scale.is_finite() && (MIN_SCALE..=MAX_SCALE).contains(&scale) {
            Ok(scale)
        } else {
            Err(ScaleError(scale))
        }
    }

    /// A clock running `scale` times faster than real time (`1.0`: real time); a scale
    /// out of range is clamped into it (a NaN is 1).
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_nan() {
            1.0
        } else {
            scale.clamp(MIN_SCALE, MAX_SCALE)
        };
        Clock {
            epoch: Instant::now(),
            wall_epoch: jiff::Timestamp::now(),
            origin: scaled(HISTORY, scale),
            scale,
        }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated time now.
    pub fn now(&self) -> Duration {
        self.origin
            .saturating_add(scaled(self.epoch.elapsed(), self.scale))
    }

    /// The real duration a simulated one takes (at most a hundred years).
    pub fn real(&self, simulated: Duration) -> Duration {
        scaled(simulated, 1.0 / self.scale).min(FAR)
    }

    /// The real instant at which simulated time `at` is reached (at most a hundred years
    /// from the clock's start; a time before its start is its start).
    pub fn instant(&self, at: Duration) -> Instant {
        let real = self.real(at.saturating_sub(self.origin));
        self.epoch.checked_add(real).unwrap_or(self.epoch)
    }

    /// The wall-clock time at which simulated time `at` is (or was) reached.
    pub fn wall(&self, at: Duration) -> jiff::Timestamp {
        let (delta, later) = if at >= self.origin {
            (at - self.origin, true)
        } else {
            (self.origin - at, false)
        };
        let span =
            jiff::SignedDuration::try_from(self.real(delta)).unwrap_or(jiff::SignedDuration::ZERO);
        let span = if later { span } else { -span };
        self.wall_epoch.checked_add(span).unwrap_or(self.wall_epoch)
    }

    /// The simulated time of a wall-clock timestamp (clamped at ten years back).
    pub fn at_wall(&self, wall: jiff::Timestamp) -> Duration {
        let real = wall.duration_since(self.wall_epoch);
        let delta = scaled(real.unsigned_abs(), self.scale);
        if real.is_negative() {
            self.origin.saturating_sub(delta)
        } else {
            self.origin.saturating_add(delta)
        }
    }

    /// Sleep for a simulated duration.
    pub async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.real(simulated)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_faster_clock_shortens_real_delays() {
        let clock = Clock::new(10.0);
        assert_eq!(clock.real(Duration::from_secs(30)), Duration::from_secs(3));
        let start = clock.now();
        let wall = clock.wall(start + Duration::from_secs(30));
        let elapsed = wall.duration_since(clock.wall(start)).as_secs_f64();
        assert!((elapsed - 3.0).abs() < 0.01, "{elapsed}");
        let back = clock.at_wall(wall).as_secs_f64() - start.as_secs_f64();
        assert!((back - 30.0).abs() < 0.01, "{back}");
        assert_eq!(Clock::new(0.0).scale(), MIN_SCALE);
    }

    #[test]
    fn timestamps_before_the_clock_started_map_back() {
        let clock = Clock::new(1.0);
        let hour_ago = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(3600);
        let at = clock.at_wall(hour_ago);
        assert!(at < clock.now());
        assert_eq!(clock.wall(at).as_second(), hour_ago.as_second());
    }

    #[test]
    fn huge_delays_and_scales_saturate() {
        for scale in [
            MIN_SCALE,
            1.0,
            MAX_SCALE,
            1e20,
            1e-18,
            f64::NAN,
            f64::INFINITY,
        ] {
            let clock = Clock::new(scale);
            let never = Duration::MAX;
            assert!(clock.real(never) <= FAR);
            assert!(clock.instant(never) >= Instant::now());
            let _ = clock.wall(never);
            let _ = clock.wall(Duration::ZERO);
            let _ = clock.at_wall(jiff::Timestamp::MAX);
            let _ = clock.at_wall(jiff::Timestamp::MIN);
            assert!(clock.now() >= clock.origin);
        }
        assert_eq!(Clock::check_scale(1e20), Err(ScaleError(1e20)));
        assert_eq!(Clock::check_scale(1e-18), Err(ScaleError(1e-18)));
        assert!(Clock::check_scale(f64::NAN).is_err());
        assert_eq!(Clock::check_scale(10.0), Ok(10.0));
    }
}
