//! What the benchmark's tests against steps 09 and 10 both check of a run.

use bench::result::RunResult;

/// Every measured message reached every other member of its sender's room
/// once, each was acknowledged, and nobody was cut off or refused.
pub fn assert_nothing_lost(result: &RunResult, deliveries_per_message: u64) {
    assert_eq!(
        result.deliveries_expected,
        result.messages_sent_measured * deliveries_per_message,
        "{result}"
    );
    assert_eq!(
        result.deliveries_received, result.deliveries_expected,
        "{result}"
    );
    assert_eq!(result.deliveries_lost, 0, "{result}");
    assert_eq!(result.clients_ended_early, 0, "{result}");
    assert_eq!(result.server_errors, 0, "{result}");
    let acks = result.acks.map(|acks| acks.received);
    assert_eq!(acks, Some(result.messages_sent_total), "{result}");
}
