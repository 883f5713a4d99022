//! What several browser checks share that is about the steps, not the
//! browser: a step's server started as its `main` starts it.

use std::{future::Future, io};

use e2e::StopSignal;
use tokio::net::TcpListener;

/// Step 08 as its `main` serves it, with the default limits, until `stop`:
/// for step 08's own checks, and for later steps' checks of a server that
/// knows nothing of acknowledgements.
pub fn serve_step_08(
    listener: TcpListener,
    stop: StopSignal,
) -> impl Future<Output = io::Result<()>> + Send + 'static {
    step_08_production::serve(
        listener,
        step_08_production::public_folder(),
        step_08_production::AppState::default(),
        stop,
    )
}
