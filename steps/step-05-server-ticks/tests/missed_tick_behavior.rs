//! Checks note 05's claims about `MissedTickBehavior` on tokio's paused clock, where time only
//! moves when every task waits, so the timings are exact: after one stall, `Burst` fires the
//! missed ticks back to back, `Delay` starts a new rhythm one period after the late tick, and
//! `Skip` keeps the old rhythm and drops the missed ticks. It runs
//! `examples/missed_ticks.rs`, the experiment the note asks the learner to run.

#[path = "../examples/missed_ticks.rs"]
#[allow(dead_code)]
mod missed_ticks;

use std::time::Duration;

use missed_ticks::tick_times;
use tokio::time::MissedTickBehavior;

fn ms(times: &[u64]) -> Vec<Duration> {
    times.iter().map(|&t| Duration::from_millis(t)).collect()
}

/// Ticks 1–3 at 200, 400, 600 ms for every behaviour; the work after tick 3 ends at 1500 ms.
const ON_TIME: [u64; 3] = [200, 400, 600];

/// `Delay` (step 05's choice): the late tick at once, then one full period from it each time.
/// No clump: the page would see one line, a gap, and lines on a new rhythm.
#[tokio::test(start_paused = true)]
async fn delay_fires_the_late_tick_then_a_period_after_it() {
    // Arrange
    let behavior = MissedTickBehavior::Delay;

    // Act
    let times = tick_times(behavior).await;

    // Assert
    let expected = [ON_TIME.as_slice(), &[1500, 1700, 1900, 2100, 2300]].concat();
    assert_eq!(times, ms(&expected));
}

/// `Burst` (tokio's default): the four missed ticks (due at 800, 1000, 1200, 1400 ms) all fire
/// at 1500 ms, back to back: the clump of lines. Then the old rhythm goes on.
#[tokio::test(start_paused = true)]
async fn burst_fires_every_missed_tick_at_once() {
    // Arrange
    let behavior = MissedTickBehavior::Burst;

    // Act
    let times = tick_times(behavior).await;

    // Assert
    let expected = [ON_TIME.as_slice(), &[1500, 1500, 1500, 1500, 1600]].concat();
    assert_eq!(times, ms(&expected));
}

/// `Skip`: one tick at 1500 ms, then back on the old rhythm (1600, 1800, …): the missed ticks
/// are dropped, and the next one comes only 100 ms after the late one.
#[tokio::test(start_paused = true)]
async fn skip_fires_once_then_keeps_the_old_rhythm() {
    // Arrange
    let behavior = MissedTickBehavior::Skip;

    // Act
    let times = tick_times(behavior).await;

    // Assert
    let expected = [ON_TIME.as_slice(), &[1500, 1600, 1800, 2000, 2200]].concat();
    assert_eq!(times, ms(&expected));
}
