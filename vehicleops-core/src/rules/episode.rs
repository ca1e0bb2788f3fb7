//! Debounce and episode tracking shared by the rules that raise and clear on a measured value
//! ([`super::ThresholdRule`], [`super::RateOfChangeRule`]).
//!
//! A rule classifies every reading as *violating* (beyond the raise threshold), *normal* (back
//! on the safe side of the clear threshold) or neither (inside the hysteresis band). The
//! [`Episode`] turns that stream of classifications into exactly one raise and one clear per
//! episode.

use chrono::{DateTime, Duration, Utc};

use crate::error::ValidationError;
use crate::model::AlertTransition;

/// How long a condition must persist before an episode starts or ends.
///
/// An episode is raised once `raise_after` consecutive readings violate **and** the first of
/// them is at least `min_duration` older (by reading timestamps) than the current one. It is
/// cleared after `clear_after` consecutive normal readings. `raise_after = 1`,
/// `min_duration = 0`, `clear_after = 1` (the default) raise and clear on the first reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Debounce {
    /// Consecutive violating readings needed to raise, at least 1.
    pub raise_after: u32,
    /// How long the violation must have lasted, by reading timestamps; not negative.
    pub min_duration: Duration,
    /// Consecutive normal readings needed to clear, at least 1.
    pub clear_after: u32,
}

impl Default for Debounce {
    fn default() -> Self {
        Self {
            raise_after: 1,
            min_duration: Duration::zero(),
            clear_after: 1,
        }
    }
}

impl Debounce {
    pub fn validate(&self) -> Result<(), ValidationError> {
        if self.raise_after == 0 {
            return Err(ValidationError::new(
                "raise_after",
                "must be at least 1 reading",
            ));
        }
        if self.clear_after == 0 {
            return Err(ValidationError::new(
                "clear_after",
                "must be at least 1 reading",
            ));
        }
        if self.min_duration < Duration::zero() {
            return Err(ValidationError::new(
                "min_duration_secs",
                "must not be negative",
            ));
        }
        Ok(())
    }
}

/// A reading's place relative to the raise and clear thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Beyond the raise threshold.
    Violating,
    /// Between the raise and the clear threshold: keeps whatever state the episode is in.
    Band,
    /// On the safe side of the clear threshold.
    Normal,
}

/// One vehicle's episode of one rule.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Episode {
    active: bool,
    /// Consecutive readings pointing towards the other state: violating ones while inactive,
    /// normal ones while active.
    streak: u32,
    /// Timestamp of the first violating reading of the current streak (inactive only).
    streak_since: Option<DateTime<Utc>>,
}

impl Episode {
    /// Takes up an episode raised before a restart: active, with no streak towards clearing, so
    /// violating readings raise nothing and `clear_after` normal ones clear it.
    pub(crate) fn restore(&mut self) {
        *self = Episode {
            active: true,
            streak: 0,
            streak_since: None,
        };
    }

    /// Whether an episode is open.
    #[cfg(test)]
    pub(crate) fn is_active(&self) -> bool {
        self.active
    }

    /// Feeds one reading's level; returns the transition it causes, if any.
    pub(crate) fn step(
        &mut self,
        debounce: &Debounce,
        at: DateTime<Utc>,
        level: Level,
    ) -> Option<AlertTransition> {
        if self.active {
            if level != Level::Normal {
                self.streak = 0;
                return None;
            }
            self.streak += 1;
            if self.streak < debounce.clear_after {
                return None;
            }
            *self = Episode::default();
            return Some(AlertTransition::Cleared);
        }
        if level != Level::Violating {
            self.streak = 0;
            self.streak_since = None;
            return None;
        }
        self.streak = self.streak.saturating_add(1);
        let since = *self.streak_since.get_or_insert(at);
        if self.streak < debounce.raise_after || at - since < debounce.min_duration {
            return None;
        }
        *self = Episode {
            active: true,
            streak: 0,
            streak_since: None,
        };
        Some(AlertTransition::Raised)
    }
}

/// A stored, still open alert as a pipeline reloads it after a restart, for the rules' `restore`
/// tests.
#[cfg(test)]
pub(crate) fn open_alert(
    vehicle_id: &str,
    alert_type: crate::model::AlertType,
    key: Option<&str>,
    triggered_at: DateTime<Utc>,
    value: f64,
) -> crate::model::Alert {
    crate::model::Alert {
        id: format!("alert-{vehicle_id}-{}", alert_type.as_str()),
        vehicle_id: vehicle_id.to_string(),
        fleet_id: "fleet-001".to_string(),
        alert_type,
        severity: crate::model::Severity::High,
        value,
        threshold: 0.0,
        message: String::new(),
        key: key.map(str::to_string),
        triggered_at,
        cleared_at: None,
        acknowledged: false,
        acknowledged_by: None,
        acknowledged_at: None,
        notes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::testing::at;
    use AlertTransition::{Cleared, Raised};
    use Level::{Band, Normal, Violating};

    fn run(debounce: Debounce, levels: &[(i64, Level)]) -> Vec<Option<AlertTransition>> {
        let mut e = Episode::default();
        levels
            .iter()
            .map(|&(secs, level)| e.step(&debounce, at(secs), level))
            .collect()
    }

    #[test]
    fn default_raises_and_clears_on_first_reading() {
        let got = run(
            Debounce::default(),
            &[
                (0, Violating),
                (1, Violating),
                (2, Band),
                (3, Normal),
                (4, Normal),
            ],
        );
        assert_eq!(got, [Some(Raised), None, None, Some(Cleared), None]);
    }

    #[test]
    fn raise_after_needs_consecutive_violations() {
        let d = Debounce {
            raise_after: 3,
            ..Debounce::default()
        };
        // A band reading breaks the streak; only the third consecutive violation raises.
        let got = run(
            d,
            &[
                (0, Violating),
                (1, Violating),
                (2, Band),
                (3, Violating),
                (4, Violating),
                (5, Violating),
            ],
        );
        assert_eq!(got, [None, None, None, None, None, Some(Raised)]);
    }

    #[test]
    fn min_duration_is_measured_with_reading_timestamps() {
        let d = Debounce {
            min_duration: Duration::seconds(10),
            ..Debounce::default()
        };
        let got = run(d, &[(0, Violating), (9, Violating), (10, Violating)]);
        assert_eq!(got, [None, None, Some(Raised)], "exactly 10 s is enough");
        let got = run(
            d,
            &[(0, Violating), (5, Normal), (9, Violating), (18, Violating)],
        );
        assert_eq!(
            got,
            [None, None, None, None],
            "a normal reading restarts the clock"
        );
    }

    #[test]
    fn clear_after_needs_consecutive_normal_readings() {
        let d = Debounce {
            clear_after: 2,
            ..Debounce::default()
        };
        let got = run(
            d,
            &[
                (0, Violating),
                (1, Normal),
                (2, Band),
                (3, Normal),
                (4, Normal),
            ],
        );
        assert_eq!(got, [Some(Raised), None, None, None, Some(Cleared)]);
    }

    #[test]
    fn a_restored_episode_clears_once_and_never_raises_again() {
        let d = Debounce {
            raise_after: 2,
            clear_after: 2,
            ..Debounce::default()
        };
        let mut e = Episode::default();
        // Half way to raising when the process stopped; the stored episode wins.
        assert_eq!(e.step(&d, at(0), Violating), None);
        e.restore();
        assert!(e.is_active());
        let got: Vec<_> = [
            (1, Violating),
            (2, Normal),
            (3, Band),
            (4, Normal),
            (5, Normal),
        ]
        .iter()
        .map(|&(secs, level)| e.step(&d, at(secs), level))
        .collect();
        assert_eq!(got, [None, None, None, None, Some(Cleared)]);
        assert!(!e.is_active());
    }

    #[test]
    fn validation_names_the_field() {
        let bad = |d: Debounce| d.validate().unwrap_err().field;
        let ok = Debounce::default();
        assert_eq!(
            bad(Debounce {
                raise_after: 0,
                ..ok
            }),
            "raise_after"
        );
        assert_eq!(
            bad(Debounce {
                clear_after: 0,
                ..ok
            }),
            "clear_after"
        );
        assert_eq!(
            bad(Debounce {
                min_duration: Duration::seconds(-1),
                ..ok
            }),
            "min_duration_secs"
        );
    }
}
