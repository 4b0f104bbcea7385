//! What targets that bill their writes (X) spent, from the ledger (what was posted, priced
//! when it was recorded), per UTC day: for `status` and `status --json`, with each
//! target's daily cap and the average cost of a post.

use std::fmt::Write as _;

use chrono::{DateTime, Days, Utc};
use serde::Serialize;

use super::Only;
use crate::store::{DaySpend, Ledger, StoreError};
use crate::targets::{self, Usd};

/// Days `status` shows, today included.
const DAYS: u64 = 7;

/// One target's spending.
#[derive(Debug, Serialize)]
pub(super) struct TargetSpend {
    target: String,
    /// `max_spend_per_day`, when set.
    max_spend_per_day_usd: Option<f64>,
    /// Today (UTC).
    today: SpendDay,
    /// The last days with spending, oldest first, today included.
    days: Vec<SpendDay>,
    /// Over those days: dollars per source post whose first part went out.
    per_post_usd: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SpendDay {
    day: String,
    usd: f64,
    /// Source posts whose first part went out that day.
    posts: u64,
    /// Parts (posts on the target) billed.
    parts: u64,
}

#[expect(
    clippy::cast_precision_loss,
    reason = "amounts are far below 2^52 micros"
)]
fn dollars(u: Usd) -> f64 {
    u.micros() as f64 / 1_000_000.0
}

impl From<&DaySpend> for SpendDay {
    fn from(d: &DaySpend) -> Self {
        SpendDay {
            day: d.day.to_string(),
            usd: dollars(Usd::from_micros(d.micros)),
            posts: d.posts,
            parts: d.parts,
        }
    }
}

/// The spending of every configured target that bills, covered by `only`.
pub(super) fn spending(
    ledger: &Ledger,
    only: &Only<'_>,
    now: DateTime<Utc>,
) -> Result<Vec<TargetSpend>, StoreError> {
    let today = now.date_naive();
    let since = today.checked_sub_days(Days::new(DAYS - 1)).unwrap_or(today);
    let all = ledger.spending(since)?;
    let mut out = Vec::new();
    for (name, settings) in &only.settings.targets {
        let Some(tariff) = targets::tariff(settings).filter(|_| only.target(name)) else {
            continue;
        };
        let days: Vec<&DaySpend> = all.iter().filter(|d| &d.target == name).collect();
        let today = days.iter().find(|d| d.day == today).map_or_else(
            || SpendDay {
                day: today.to_string(),
                usd: 0.0,
                posts: 0,
                parts: 0,
            },
            |d| SpendDay::from(*d),
        );
        let (micros, posts) = days
            .iter()
            .fold((0, 0), |(m, p), d| (m + d.micros, p + d.posts));
        out.push(TargetSpend {
            target: name.clone(),
            max_spend_per_day_usd: tariff.cap.map(dollars),
            today,
            days: days.into_iter().map(SpendDay::from).collect(),
            per_post_usd: (posts > 0).then(|| dollars(Usd::from_micros(micros / posts))),
        });
    }
    Ok(out)
}

/// The spending section of `status`.
pub(super) fn report(out: &mut String, spending: &[TargetSpend]) {
    if spending.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "X spending (what was posted, at X's 2026 prices; UTC days):"
    );
    let usd = |d: f64| {
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "a non-negative amount read back from micros"
        )]
        let micros = (d * 1_000_000.0).round() as u64;
        Usd::from_micros(micros)
    };
    for t in spending {
        let _ = write!(
            out,
            "  {}: today {} for {} post(s) ({} part(s))",
            t.target,
            usd(t.today.usd),
            t.today.posts,
            t.today.parts
        );
        match t.max_spend_per_day_usd {
            Some(cap) => {
                let left = (cap - t.today.usd).max(0.0);
                let _ = write!(
                    out,
                    "; cap {} a day, {} left today (posts over it wait for the next UTC day)",
                    usd(cap),
                    usd(left)
                );
            }
            None => out.push_str("; no daily cap"),
        }
        out.push('\n');
        if !t.days.is_empty() {
            let days: Vec<String> = t
                .days
                .iter()
                .map(|d| format!("{} {} ({} post(s))", d.day, usd(d.usd), d.posts))
                .collect();
            let _ = write!(out, "    last {DAYS} days: {}", days.join(", "));
            if let Some(per_post) = t.per_post_usd {
                let _ = write!(out, "; {} a post on average", usd(per_post));
            }
            out.push('\n');
        }
    }
}
