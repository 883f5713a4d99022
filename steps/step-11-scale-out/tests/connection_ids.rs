//! Step 11 checkpoint: every connection gets its own, well-formed id.
//!
//! Run with `cargo test -p step-11-scale-out --test connection_ids`.

mod common;

use std::collections::HashSet;

use common::spawn_app;
use futures::future::join_all;
use testkit::connect;

/// The protocol's promise about ids: at most 32 characters of `[A-Za-z0-9_-]`.
fn is_well_formed(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Two clients connected at the same time are told two different ids.
#[tokio::test]
async fn two_clients_get_two_different_ids() {
    // Arrange
    let addr = spawn_app().await;

    // Act
    let (_first, first_id) = connect(addr).await;
    let (_second, second_id) = connect(addr).await;

    // Assert
    assert_ne!(first_id, second_id);
}

/// Fifty connections opened at once get fifty distinct, well-formed ids.
#[tokio::test]
async fn fifty_connections_get_fifty_distinct_well_formed_ids() {
    // Arrange
    let addr = spawn_app().await;

    // Act: open them concurrently, so ids are made on several threads at once.
    let clients = join_all((0..50).map(|_| connect(addr))).await;

    // Assert
    let ids: HashSet<&str> = clients.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids.len(), 50, "every id is different: {ids:?}");
    for id in ids {
        assert!(
            is_well_formed(id),
            "{id:?} is not 1-32 chars of [A-Za-z0-9_-]"
        );
    }
}
