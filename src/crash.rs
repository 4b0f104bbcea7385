//! Forced crash points for the crash-matrix tests: the instants at which a crash is worst for
//! exactly-once delivery, where a test build can be told to abort the process.
//!
//! Only built with the `test-hooks` Cargo feature, which the test suite turns on (through
//! the crate's dev-dependency on itself); in every other build [`point`] is an empty inline
//! function and neither the environment variables nor the abort are in the binary.
//!
//! A test arms one point with `BIRDBRIDGE_TEST_CRASH_AT=<point>:<n>` (abort the n-th time
//! the process reaches that point; `n` from 1), where `<point>` is one of
//! [`CrashPoint::name`]. `BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES=<n>` is the older spelling
//! of `delivered:<n>`.

/// A place in the delivery of a part where a crash is worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashPoint {
    /// The ledger says `posting`; the target has not been called.
    Posting,
    /// The part's media are uploaded (and recorded); its status is not posted.
    MediaUploaded,
    /// The target has the status; the ledger does not know it yet.
    Delivered,
    /// An edit of an earlier status was sent; the ledger does not know it yet.
    Edited,
    /// A part of a thread (one with parts after it, or a reply) is recorded as posted; the
    /// next part or post is not begun.
    ThreadMiddle,
    /// The ledger says `retracting`; the target has not been asked to take it back.
    Retracting,
    /// The target took the status back; the ledger does not know it yet.
    Retracted,
}

impl CrashPoint {
    /// Every point, for the tests that walk them all.
    pub const ALL: [CrashPoint; 7] = [
        CrashPoint::Posting,
        CrashPoint::MediaUploaded,
        CrashPoint::Delivered,
        CrashPoint::Edited,
        CrashPoint::ThreadMiddle,
        CrashPoint::Retracting,
        CrashPoint::Retracted,
    ];

    /// The name used in `BIRDBRIDGE_TEST_CRASH_AT`.
    pub fn name(self) -> &'static str {
        match self {
            CrashPoint::Posting => "posting",
            CrashPoint::MediaUploaded => "media-uploaded",
            CrashPoint::Delivered => "delivered",
            CrashPoint::Edited => "edited",
            CrashPoint::ThreadMiddle => "thread-middle",
            CrashPoint::Retracting => "retracting",
            CrashPoint::Retracted => "retracted",
        }
    }
}

/// Marks that the process reached `at`; aborts it when a test armed this point and this is
/// the armed occurrence. Without the `test-hooks` feature: nothing.
#[inline]
pub fn point(at: CrashPoint) {
    #[cfg(feature = "test-hooks")]
    armed::reach(at);
    #[cfg(not(feature = "test-hooks"))]
    let _ = at;
}

/// The target has the part (a new status, or an edit when `edit`); the ledger does not
/// know it yet.
#[inline]
pub fn delivered(edit: bool) {
    point(if edit {
        CrashPoint::Edited
    } else {
        CrashPoint::Delivered
    });
}

/// A part is recorded as posted; `in_thread` when more of its thread may follow (parts
/// after it, or it is a reply).
#[inline]
pub fn recorded(in_thread: bool) {
    if in_thread {
        point(CrashPoint::ThreadMiddle);
    }
}

#[cfg(feature = "test-hooks")]
mod armed {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::OnceLock;

    use super::CrashPoint;

    static PLAN: OnceLock<Option<(CrashPoint, u32)>> = OnceLock::new();
    static REACHED: [AtomicU32; CrashPoint::ALL.len()] =
        [const { AtomicU32::new(0) }; CrashPoint::ALL.len()];

    fn plan() -> Option<(CrashPoint, u32)> {
        *PLAN.get_or_init(|| {
            if let Some(n) = std::env::var("BIRDBRIDGE_TEST_CRASH_AFTER_DELIVERIES")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                return Some((CrashPoint::Delivered, n));
            }
            let spec = std::env::var("BIRDBRIDGE_TEST_CRASH_AT").ok()?;
            let (name, n) = spec.split_once(':')?;
            let point = CrashPoint::ALL.into_iter().find(|p| p.name() == name)?;
            Some((point, n.parse().ok()?))
        })
    }

    pub(super) fn reach(at: CrashPoint) {
        let Some((armed, n)) = plan() else {
            return;
        };
        if armed != at {
            return;
        }
        let slot = CrashPoint::ALL.iter().position(|p| *p == at).unwrap_or(0);
        if REACHED[slot].fetch_add(1, Ordering::SeqCst) + 1 == n {
            tracing::warn!(point = at.name(), n, "test hook: aborting the process");
            std::process::abort();
        }
    }
}
