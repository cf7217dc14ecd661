//! Ctrl-C and SIGTERM: a flag the long-running commands poll between waits.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;

/// Set once SIGINT or SIGTERM arrives. Cheap to clone; every clone sees the
/// same flag.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    /// An atomic because the signal handler's thread sets it while the command's
    /// threads read it.
    requested: Arc<AtomicBool>,
}

impl Shutdown {
    /// Installs the process's handler for SIGINT and SIGTERM (once per process).
    pub(crate) fn install() -> anyhow::Result<Shutdown> {
        let shutdown = Shutdown::default();
        let flag = Arc::clone(&shutdown.requested);
        ctrlc::set_handler(move || flag.store(true, Ordering::Release))
            .context("cannot install the Ctrl-C handler")?;
        Ok(shutdown)
    }

    /// Whether a shutdown was asked for.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }
}
