//! What X bills for birdbridge's writes (`docs/x-target.md`, "Prices"), for `check`,
//! `status`, previews and a daily spending cap. Pure: a rendered part in, a price out.
//!
//! X's pay-per-use prices (2026): a post $0.015, a post containing a URL $0.20, media
//! metadata (an alt text) $0.005, a delete $0.010, an owned read (one of the account's own
//! posts read back, as reconciliation does) $0.001. What a repost costs is not listed by
//! name; it is priced here as a post ($0.015), the likeliest row ("User Interaction:
//! Create") and not a cheaper one. Media uploads are not listed and are priced at nothing.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign, Mul};

use crate::render::count::x_weighted;
use crate::render::Part;
use crate::targets::Attached;

/// An amount of US dollars, in millionths (exact for every price X lists).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Usd(u64);

impl Usd {
    /// Nothing.
    pub const ZERO: Usd = Usd(0);

    /// `micros` millionths of a dollar.
    pub const fn from_micros(micros: u64) -> Self {
        Usd(micros)
    }

    /// The amount in millionths of a dollar.
    pub const fn micros(self) -> u64 {
        self.0
    }

    /// A dollar amount as configured (`max_spend_per_day = 2.5`), rounded to the
    /// millionth; `None` for a negative or non-finite number.
    pub fn from_dollars(dollars: f64) -> Option<Self> {
        if !dollars.is_finite() || dollars < 0.0 {
            return None;
        }
        let micros = (dollars * 1_000_000.0).round();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "finite, non-negative and checked against u64's range"
        )]
        let micros = (micros < 18_446_744_073_709_551_615.0).then_some(micros as u64)?;
        Some(Usd(micros))
    }
}

impl Add for Usd {
    type Output = Usd;
    fn add(self, other: Usd) -> Usd {
        Usd(self.0.saturating_add(other.0))
    }
}

impl AddAssign for Usd {
    fn add_assign(&mut self, other: Usd) {
        *self = *self + other;
    }
}

impl Mul<u64> for Usd {
    type Output = Usd;
    fn mul(self, n: u64) -> Usd {
        Usd(self.0.saturating_mul(n))
    }
}

impl Sum for Usd {
    fn sum<I: Iterator<Item = Usd>>(iter: I) -> Usd {
        iter.fold(Usd::ZERO, Add::add)
    }
}

/// `$0.015`, `$0.20`, `$1.215`: at least two decimals, more only when needed.
impl fmt::Display for Usd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dollars = self.0 / 1_000_000;
        let mut fraction = format!("{:06}", self.0 % 1_000_000);
        while fraction.len() > 2 && fraction.ends_with('0') {
            fraction.pop();
        }
        write!(f, "${dollars}.{fraction}")
    }
}

/// Creating a post.
pub const POST: Usd = Usd::from_micros(15_000);
/// Creating a post that contains a URL.
pub const POST_WITH_URL: Usd = Usd::from_micros(200_000);
/// One media metadata call (an alt text).
pub const MEDIA_METADATA: Usd = Usd::from_micros(5_000);
/// Deleting a post.
pub const DELETE: Usd = Usd::from_micros(10_000);
/// A repost (priced as a post; see the module docs).
pub const REPOST: Usd = Usd::from_micros(15_000);
/// Reading back one of the account's own posts.
pub const OWNED_READ: Usd = Usd::from_micros(1_000);

/// The price of one part and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartCost {
    /// The post (or repost) itself.
    pub post: Usd,
    /// Its alt texts.
    pub metadata: Usd,
    /// Whether X will see a URL in it (the $0.20 rate).
    pub with_url: bool,
    /// How many alt texts it sends.
    pub descriptions: usize,
    /// Whether it is a repost.
    pub repost: bool,
}

impl PartCost {
    /// Post and alt texts together.
    pub fn total(&self) -> Usd {
        self.post + self.metadata
    }
}

/// The price of one rendered part on X: a repost, or a post (with a URL or not) and one
/// metadata call per described media. A URL counts when X may see one, so a price is
/// never below what X bills.
pub fn price_part(part: &Part) -> PartCost {
    if part.boost_of.is_some() {
        return PartCost {
            post: REPOST,
            metadata: Usd::ZERO,
            with_url: false,
            descriptions: 0,
            repost: true,
        };
    }
    let with_url = x_weighted::has_url(&part.text)
        || part
            .spoiler_text
            .as_deref()
            .is_some_and(x_weighted::has_url);
    let descriptions = part
        .media
        .iter()
        .filter(|m| has_alt(m.description.as_deref()))
        .count();
    PartCost {
        post: if with_url { POST_WITH_URL } else { POST },
        metadata: MEDIA_METADATA * descriptions as u64,
        with_url,
        descriptions,
        repost: false,
    }
}

/// Whether a media item's description is an alt text X is sent (one metadata call).
fn has_alt(description: Option<&str>) -> bool {
    description.is_some_and(|d| !d.trim().is_empty())
}

/// What an X target bills, as the engine needs it: each part's price, and the daily cap
/// its posts wait under (`max_spend_per_day`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tariff {
    /// The most to spend per UTC day; `None`: no cap.
    pub cap: Option<Usd>,
}

impl Tariff {
    /// The price of posting `part` as rendered.
    pub fn price(&self, part: &Part) -> Usd {
        price_part(part).total()
    }

    /// The price of posting `part` as it was sent: the `attached` text (links to media
    /// that could not go may have been added) with as many alt texts as its media carry.
    pub fn price_sent(&self, part: &Part, attached: &Attached) -> Usd {
        let descriptions = attached
            .media
            .iter()
            .filter(|m| has_alt(m.description.as_deref()))
            .count();
        let sent = Part {
            text: attached.text.clone(),
            media: part
                .media
                .iter()
                .filter(|m| has_alt(m.description.as_deref()))
                .take(descriptions)
                .cloned()
                .collect(),
            ..part.clone()
        };
        self.price(&sent)
    }

    /// Posts per UTC day the cap allows at `price` each, when capped.
    pub fn posts_per_day(&self, price: Usd) -> Option<u64> {
        let cap = self.cap?;
        Some(cap.micros().checked_div(price.micros()).unwrap_or(u64::MAX))
    }
}

/// The price of a post's parts on X.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostCost {
    /// Each part's price, in order.
    pub parts: Vec<PartCost>,
    /// Their sum.
    pub total: Usd,
}

/// The price of a whole rendered post (every part of its thread).
pub fn price_post(parts: &[Part]) -> PostCost {
    let parts: Vec<PartCost> = parts.iter().map(price_part).collect();
    let total = parts.iter().map(PartCost::total).sum();
    PostCost { parts, total }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;
    use crate::config::Visibility;
    use crate::model::{MediaKind, MediaSource};
    use crate::render::{PartMedia, ReplyTo};

    fn part(text: &str, descriptions: &[Option<&str>]) -> Part {
        Part {
            text: text.to_owned(),
            spoiler_text: None,
            sensitive: false,
            media: descriptions
                .iter()
                .map(|d| PartMedia {
                    kind: MediaKind::Photo,
                    source: MediaSource::Url("https://media.example/a.jpg".to_owned()),
                    description: d.map(str::to_owned),
                })
                .collect(),
            visibility: Visibility::Public,
            language: None,
            reply_to: ReplyTo::Nothing,
            quote_of: None,
            boost_of: None,
        }
    }

    #[rstest]
    #[case::plain("Hello fediverse", &[], "$0.015")]
    #[case::with_a_link("Read https://example.org/post", &[], "$0.20")]
    #[case::bare_domain_counts_as_a_link("see example.org", &[], "$0.20")]
    #[case::two_described_images("photos", &[Some("a cat"), Some("a dog")], "$0.025")]
    #[case::undescribed_media_cost_nothing_more("photo", &[None, Some("  ")], "$0.015")]
    #[case::link_and_description("https://example.org", &[Some("alt")], "$0.205")]
    fn parts_are_priced(
        #[case] text: &str,
        #[case] descriptions: &[Option<&str>],
        #[case] expected: &str,
    ) {
        assert_eq!(
            price_part(&part(text, descriptions)).total().to_string(),
            expected
        );
    }

    #[test]
    fn a_thread_costs_each_part_and_a_repost_is_a_repost() {
        let mut repost = part("", &[]);
        repost.boost_of = Some("42".to_owned());
        let cost = price_post(&[
            part("1/2 long text", &[Some("x")]),
            part("2/2 https://mastodon.example/@org/1", &[]),
            repost,
        ]);
        assert_eq!(cost.parts.len(), 3);
        assert!(cost.parts[2].repost);
        assert_eq!(
            cost.total,
            Usd::from_micros(15_000 + 5_000 + 200_000 + 15_000)
        );
        assert_eq!(cost.total.to_string(), "$0.235");
    }

    #[rstest]
    #[case(0.0, Some(0))]
    #[case(2.5, Some(2_500_000))]
    #[case(0.015, Some(15_000))]
    #[case(-1.0, None)]
    #[case(f64::NAN, None)]
    fn configured_dollars(#[case] dollars: f64, #[case] micros: Option<u64>) {
        assert_eq!(Usd::from_dollars(dollars).map(Usd::micros), micros);
    }

    #[test]
    fn amounts_print_as_dollars() {
        assert_eq!(Usd::ZERO.to_string(), "$0.00");
        assert_eq!(Usd::from_micros(1_215_000).to_string(), "$1.215");
        assert_eq!((OWNED_READ * 100).to_string(), "$0.10");
        assert_eq!(DELETE.to_string(), "$0.01");
    }
}
