//! The simulation clock: every simulated delay goes through it, scaled by the time scale.
//!
//! Simulated time is a [`Duration`] since the clock's epoch, advancing `scale` times as
//! fast as real time: with `scale = 10`, a `sleep 30` container exits after 3 real
//! seconds. Timestamps written to the API (`startedAt`, `renewTime`) are wall-clock
//! times of the moment the simulated event happens, so they stay consistent with the
//! API server's own timestamps.

use std::time::{Duration, Instant};

/// The clock a kubelet-sim process runs on. Cheap to copy; injected through the context.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Instant,
    wall_epoch: jiff::Timestamp,
    scale: f64,
}

impl Clock {
    /// A clock running `scale` times faster than real time (`1.0`: real time).
    pub fn new(scale: f64) -> Self {
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        Clock { epoch: Instant::now(), wall_epoch: jiff::Timestamp::now(), scale }
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// Simulated time now.
    pub fn now(&self) -> Duration {
        self.epoch.elapsed().mul_f64(self.scale)
    }

    /// The real duration a simulated one takes.
    pub fn real(&self, simulated: Duration) -> Duration {
        simulated.div_f64(self.scale)
    }

    /// The real instant at which simulated time `at` is reached.
    pub fn instant(&self, at: Duration) -> Instant {
        self.epoch + at.div_f64(self.scale)
    }

    /// The wall-clock time at which simulated time `at` is (or was) reached.
    pub fn wall(&self, at: Duration) -> jiff::Timestamp {
        let real = at.div_f64(self.scale);
        let span = jiff::SignedDuration::try_from(real).unwrap_or(jiff::SignedDuration::ZERO);
        self.wall_epoch.checked_add(span).unwrap_or(self.wall_epoch)
    }

    /// The simulated time of a wall-clock timestamp (clamped at the epoch).
    pub fn at_wall(&self, wall: jiff::Timestamp) -> Duration {
        let real = wall.duration_since(self.wall_epoch);
        Duration::try_from(real).unwrap_or(Duration::ZERO).mul_f64(self.scale)
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
        let wall = clock.wall(Duration::from_secs(30));
        assert_eq!(wall.duration_since(clock.wall(Duration::ZERO)), jiff::SignedDuration::from_secs(3));
        assert_eq!(clock.at_wall(wall), Duration::from_secs(30));
        assert_eq!(Clock::new(0.0).scale(), 1.0);
    }
}
