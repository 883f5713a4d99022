//! What `MissedTickBehavior` changes, measured: three tickers like step 05's (`interval_at`,
//! first tick one period from now), one per behaviour, each held up *once* by slow work, and
//! the time every tick fired.
//!
//! Run it with `cargo run -q -p step-05-server-ticks --example missed_ticks`. A ticker only
//! has to choose when it falls behind now and then: if *every* tick is followed by work longer
//! than the period, every behaviour gives one tick per piece of work, no clump and no gap
//! (each tick is late anyway, and the work in the same loop keeps two from coming back to
//! back). So here the work after tick 3 takes 900 ms, four and a half periods, and every other
//! tick takes none. `tests/missed_tick_behavior.rs` checks the same timings on tokio's paused
//! clock, where they are exact. See `notes/05-server-ticks.md`, "Try this".

use std::{io::Write, time::Duration};

use tokio::time::{Instant, MissedTickBehavior, interval_at, sleep};

/// How often each ticker is meant to fire.
pub const PERIOD: Duration = Duration::from_millis(200);
/// The tick after which the work is slow, and how long it takes.
pub const SLOW_TICK: usize = 3;
pub const SLOW_WORK: Duration = Duration::from_millis(900);
/// How many ticks each ticker fires before the next behaviour's turn.
pub const TICKS: usize = 8;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut out = std::io::stdout();
    writeln!(
        out,
        "a tick every {} ms; after tick {SLOW_TICK} the work takes {} ms, once",
        PERIOD.as_millis(),
        SLOW_WORK.as_millis()
    )?;
    for behavior in [
        MissedTickBehavior::Delay,
        MissedTickBehavior::Burst,
        MissedTickBehavior::Skip,
    ] {
        let times = tick_times(behavior).await;
        writeln!(out, "\n{behavior:?} (ms since the ticker started):")?;
        for (number, time) in times.iter().enumerate() {
            let slow = if number + 1 == SLOW_TICK {
                "  then the slow work"
            } else {
                ""
            };
            writeln!(
                out,
                "  tick {} at {:>4} ms{slow}",
                number + 1,
                time.as_millis()
            )?;
        }
    }
    Ok(())
}

/// Fires a step 05 ticker with `behavior` [`TICKS`] times, doing [`SLOW_WORK`] after tick
/// [`SLOW_TICK`], and returns when each tick fired, measured from the ticker's start.
pub async fn tick_times(behavior: MissedTickBehavior) -> Vec<Duration> {
    let start = Instant::now();
    // Step 05's `ticker`, with the behaviour to compare.
    let mut ticks = interval_at(start + PERIOD, PERIOD);
    ticks.set_missed_tick_behavior(behavior);
    let mut times = Vec::with_capacity(TICKS);
    for number in 1..=TICKS {
        ticks.tick().await;
        times.push(start.elapsed());
        if number == SLOW_TICK {
            // The slow work: a client slow to take a frame, a busy machine.
            sleep(SLOW_WORK).await;
        }
    }
    times
}
