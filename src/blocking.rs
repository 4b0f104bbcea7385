//! Work that would stall the event loop (ledger calls, reading an archive, opening a zip
//! entry) runs on tokio's blocking pool: the binary's runtime has one thread, which must go
//! on polling sources, petting the watchdog and answering signals meanwhile.

/// The runtime shut down (the program is stopping) before the work finished: nothing is
/// known about its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the runtime shut down before the work finished")]
pub struct Abandoned;

/// Runs `work` on the blocking pool and waits for it without blocking the runtime. A panic
/// inside `work` is a bug and goes on unwinding here; a task cancelled because the runtime
/// is shutting down is [`Abandoned`], never a panic.
///
/// # Errors
/// [`Abandoned`] when the runtime shut down first.
pub async fn off_the_loop<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Abandoned> {
    match tokio::task::spawn_blocking(work).await {
        Ok(value) => Ok(value),
        Err(err) => match err.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(_) => Err(Abandoned),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_result_comes_back() {
        assert_eq!(off_the_loop(|| 6 * 7).await, Ok(42));
    }

    #[tokio::test]
    #[should_panic(expected = "a bug")]
    async fn a_panic_goes_on_unwinding() {
        let _ = off_the_loop(|| panic!("a bug")).await;
    }

    /// Work handed over while the runtime shuts down never runs: the waiting side hears so.
    #[test]
    fn work_a_shut_down_runtime_never_ran_is_abandoned_not_a_panic() {
        use std::future::Future as _;
        use std::task::{Context, Poll, Waker};

        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let handle = rt.handle().clone();
        rt.shutdown_background();
        let _inside = handle.enter();
        let mut work = Box::pin(off_the_loop(|| 42));
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(work.as_mut().poll(&mut cx), Poll::Ready(Err(Abandoned)));
    }
}
