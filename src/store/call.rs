//! Ledger calls from async code: each runs on tokio's blocking pool, so a slow fsync never
//! stalls the event loop (polling, the watchdog, signals).

use std::sync::Arc;

use super::{Ledger, StoreError};
use crate::blocking::off_the_loop;

impl Ledger {
    /// Runs `f` with the ledger on the blocking pool and waits for it without blocking the
    /// runtime ([`off_the_loop`]). A panic inside `f` is a bug and goes on unwinding here.
    ///
    /// # Errors
    /// What `f` returns; [`StoreError::Abandoned`] when the runtime shut down first.
    pub async fn call<T, F>(self: &Arc<Self>, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Ledger) -> Result<T, StoreError> + Send + 'static,
    {
        let ledger = Arc::clone(self);
        off_the_loop(move || f(&ledger))
            .await
            .map_err(|_| StoreError::Abandoned)?
    }
}
