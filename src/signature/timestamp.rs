//! Signed timestamps (Stripe, Slack, Standard Webhooks): how far from the
//! moment of arrival a signature may be, said in minutes, not seconds.

use super::Failure;

/// A Unix time a sender signed along with the body.
#[derive(Debug, Clone, Copy)]
pub(super) struct Timestamp {
    pub(super) secs: i64,
    pub(super) tolerance_secs: u32,
}

/// Unix times from 5138 on: no sender means them; a sender in
/// milliseconds does.
const MILLISECONDS_FROM: i64 = 100_000_000_000;

impl Timestamp {
    /// Reads the decimal seconds in `text`, which came from `place` (a
    /// header, or Stripe's `t=`).
    pub(super) fn read(text: &str, place: &str, tolerance_secs: u32) -> Result<Self, Failure> {
        let secs = text
            .parse::<i64>()
            .ok()
            .filter(|_| text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Failure::malformed(format!(
                    "{place} is `{}`, not a Unix time in seconds",
                    super::mac::shorten(text)
                ))
            })?;
        Ok(Self {
            secs,
            tolerance_secs,
        })
    }

    /// Judged against when the request arrived, never against now, so a
    /// stored request keeps its verdict when checked again later.
    pub(super) fn judge(self, received_at_secs: i64) -> Result<(), Failure> {
        let age = i128::from(received_at_secs) - i128::from(self.secs);
        let tolerance = i128::from(self.tolerance_secs);
        let (distance, direction) = match age {
            _ if age > tolerance => (age, "old"),
            _ if -age > tolerance => (-age, "in the future"),
            _ => return Ok(()),
        };
        let hint = if self.secs >= MILLISECONDS_FROM {
            " (it looks like milliseconds, not seconds)"
        } else {
            ""
        };
        Err(Failure::present(format!(
            "timestamp {} {direction}, tolerance {}{hint}",
            human(distance),
            human(tolerance),
        )))
    }
}

/// `540` → `9 min`, `301` → `5 min 1 s`: exact, yet readable at a glance.
pub(super) fn human(secs: i128) -> String {
    const MINUTE: i128 = 60;
    const HOUR: i128 = 60 * MINUTE;
    const DAY: i128 = 24 * HOUR;
    let (big, big_unit, small, small_unit) = match secs {
        _ if secs < MINUTE => return format!("{secs} s"),
        _ if secs < HOUR => (secs / MINUTE, "min", secs % MINUTE, "s"),
        _ if secs < DAY => (secs / HOUR, "h", secs % HOUR / MINUTE, "min"),
        _ => {
            let unit = if secs < 2 * DAY { "day" } else { "days" };
            (secs / DAY, unit, secs % DAY / HOUR, "h")
        }
    };
    if small == 0 {
        format!("{big} {big_unit}")
    } else {
        format!("{big} {big_unit} {small} {small_unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_say_them() {
        assert_eq!(human(0), "0 s");
        assert_eq!(human(59), "59 s");
        assert_eq!(human(300), "5 min");
        assert_eq!(human(301), "5 min 1 s");
        assert_eq!(human(540), "9 min");
        assert_eq!(human(3600 + 120), "1 h 2 min");
        assert_eq!(human(86_400), "1 day");
        assert_eq!(human(3 * 86_400 + 7200), "3 days 2 h");
    }

    fn judged(secs: i64, received_at: i64) -> Result<(), String> {
        let timestamp = Timestamp {
            secs,
            tolerance_secs: 300,
        };
        timestamp.judge(received_at).map_err(|f| f.reason)
    }

    #[test]
    fn the_tolerance_is_inclusive_in_both_directions() {
        assert!(judged(1000, 1300).is_ok());
        assert!(judged(1300, 1000).is_ok());
        assert_eq!(
            judged(1000, 1540).unwrap_err(),
            "timestamp 9 min old, tolerance 5 min"
        );
        assert_eq!(
            judged(1301, 1000).unwrap_err(),
            "timestamp 5 min 1 s in the future, tolerance 5 min"
        );
    }

    #[test]
    fn a_timestamp_in_milliseconds_is_named_as_such() {
        let why = judged(1_614_265_330_000, 1_614_265_330).unwrap_err();
        assert!(
            why.ends_with("(it looks like milliseconds, not seconds)"),
            "{why}"
        );
    }

    #[test]
    fn only_plain_decimal_seconds_are_a_timestamp() {
        for text in ["", "-5", "+5", "1.5", "12abc", "99999999999999999999"] {
            let failure = Timestamp::read(text, "header T", 300).unwrap_err();
            assert!(failure.reason.starts_with("header T is `"), "{text}");
        }
        assert_eq!(
            Timestamp::read("1614265330", "t", 1).unwrap().secs,
            1_614_265_330
        );
    }
}
