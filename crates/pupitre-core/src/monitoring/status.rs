//! The state machine of one check: soft and hard states, attempts, flapping, acknowledgements,
//! and whether a result should notify, with Nagios/Icinga semantics
//! (<https://assets.nagios.com/downloads/nagioscore/docs/nagioscore/4/en/statetypes.html>,
//! `flapping.html`, `acknowledgements.html`). Also threshold evaluation with recovery hysteresis.
//!
//! Pure: [`CheckStatus::apply`] takes the result, the time (epoch milliseconds) and the
//! circumstances ([`Context`]) and returns a [`Transition`]; the engine stores the status, records
//! an event on each hard change and sends notifications when told to.
//!
//! Rules:
//! - OK is always a hard state. A non-OK result after OK (or as the first result) is soft at
//!   attempt 1 and counts up; at `max_attempts` it becomes hard. A hard non-OK stays hard when it
//!   changes to another non-OK state: that is a hard change.
//! - A *hard change* is a hard result whose state (or reachability, see below) differs from the
//!   last hard one. A soft problem that returns to OK is a soft recovery: no hard change.
//! - A non-OK result while a parent is down is *unreachable*: the state is recorded as reported,
//!   but marked unreachable and never notified. A hard problem becoming reachable again (or
//!   unreachable) is a hard change, like Nagios's DOWN/UNREACHABLE for hosts.
//! - Only a hard change notifies, and not while flapping, in a downtime, unreachable, with
//!   notifications disabled, or for an acknowledged problem. A recovery only notifies when the
//!   problem it ends was notified (Nagios does the same): a problem that was silenced by a
//!   downtime or an unreachable parent does not page anyone when it recovers.

use super::State;
use super::range::Thresholds;

/// How many results the flapping detection looks at (hence 20 possible changes), as in Nagios.
pub const FLAP_HISTORY: usize = 21;

/// The flapping thresholds, in percent of weighted state changes over the last
/// [`FLAP_HISTORY`] results: flapping starts at `high` or above and stops below `low`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlapThresholds {
    pub low: f64,
    pub high: f64,
}

impl FlapThresholds {
    /// The Nagios defaults: start at 50 %, stop under 25 %.
    pub const NAGIOS: FlapThresholds = FlapThresholds {
        low: 25.0,
        high: 50.0,
    };
}

/// A sticky acknowledgement of a hard problem: it survives changes between non-OK states and
/// is removed by a recovery to OK or when it expires.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledgement {
    pub author: String,
    pub comment: String,
    /// Epoch milliseconds; the acknowledgement no longer counts from this instant on.
    pub expires_at: Option<i64>,
}

impl Acknowledgement {
    /// Whether the acknowledgement still counts at `at`.
    pub fn is_active(&self, at: i64) -> bool {
        self.expires_at.is_none_or(|expiry| at < expiry)
    }
}

/// Why an acknowledgement was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AcknowledgeError {
    #[error("only a hard problem can be acknowledged; the check has no result yet")]
    Pending,
    #[error("only a problem can be acknowledged; the check is OK")]
    NotAProblem,
    #[error("only a hard problem can be acknowledged; the check is {0} but still being retried")]
    Soft(State),
    #[error("the acknowledgement would already have expired")]
    AlreadyExpired,
}

/// The circumstances of one result, decided by the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Context {
    /// The check (or its host) is in a scheduled downtime.
    pub in_downtime: bool,
    /// A parent the check depends on is down or itself unreachable.
    pub parent_down: bool,
}

impl Context {
    /// No downtime and every parent up.
    pub const NORMAL: Context = Context {
        in_downtime: false,
        parent_down: false,
    };
}

/// Which interval schedules the next run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interval {
    /// The check interval: the state is OK or a hard problem.
    Normal,
    /// The retry interval: a soft problem is being confirmed.
    Retry,
}

/// What is stored for each check. Fields are public so that a store can load and save it; the
/// invariants below are kept by [`CheckStatus::apply`], which also tolerates a stored value that
/// breaks them (an attempt above the maximum, a longer history).
///
/// Invariants: `1 <= attempt <= max_attempts` once a result has been applied (`attempt` is 0
/// while pending); an OK state is hard and reachable; a soft state has `last_hard_state` OK;
/// `history` holds at most [`FLAP_HISTORY`] states, oldest first.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckStatus {
    /// The state of the last result. UNKNOWN while pending.
    pub state: State,
    pub hard: bool,
    /// The attempt of the current state: 1 for OK, up to `max_attempts` for a problem.
    pub attempt: u32,
    /// How many non-OK results in a row make a hard state. At least 1.
    pub max_attempts: u32,
    /// The last result was a problem while a parent was down.
    pub unreachable: bool,
    /// The last hard state (OK while pending, so that a first problem starts soft).
    pub last_hard_state: State,
    /// When the state or its reachability last changed; `None` while pending (no result yet).
    pub last_change_at: Option<i64>,
    /// When the last hard change happened.
    pub last_hard_change_at: Option<i64>,
    /// The states of the last results, oldest first.
    pub history: Vec<State>,
    pub flapping: bool,
    pub flap_thresholds: FlapThresholds,
    /// A notification was sent for the current problem, so its recovery will be notified too.
    pub problem_notified: bool,
    pub acknowledgement: Option<Acknowledgement>,
    /// The check's own switch; when off nothing notifies (states are still recorded).
    pub notifications_enabled: bool,
}

/// What one result did to a check.
#[derive(Clone, Debug, PartialEq)]
pub struct Transition {
    /// The state before, `None` when the check was pending.
    pub previous_state: Option<State>,
    pub previous_hard: bool,
    pub state: State,
    pub hard: bool,
    pub attempt: u32,
    /// The result is a problem while a parent is down; it never notifies.
    pub unreachable: bool,
    /// The hard state changed (including the first hard result): the engine records an event.
    pub hard_change: bool,
    /// A soft problem went back to OK without becoming hard.
    pub soft_recovery: bool,
    /// Send a notification for this change.
    pub notify: bool,
    pub flapping_started: bool,
    pub flapping_stopped: bool,
    /// The acknowledgement was removed, by a recovery or because it expired.
    pub acknowledgement_removed: bool,
    pub next_interval: Interval,
}

impl CheckStatus {
    /// A check that has not run yet (pending): UNKNOWN, soft, attempt 0, no history, not
    /// flapping, notifications enabled. Its first result is handled as if the last hard state
    /// were OK: a first OK is a hard change that does not notify, a first problem starts soft at
    /// attempt 1 (hard at once when `max_attempts` is 1). A `max_attempts` of 0 counts as 1.
    pub fn new(max_attempts: u32) -> CheckStatus {
        CheckStatus {
            state: State::Unknown,
            hard: false,
            attempt: 0,
            max_attempts: max_attempts.max(1),
            unreachable: false,
            last_hard_state: State::Ok,
            last_change_at: None,
            last_hard_change_at: None,
            history: Vec::new(),
            flapping: false,
            flap_thresholds: FlapThresholds::NAGIOS,
            problem_notified: false,
            acknowledgement: None,
            notifications_enabled: true,
        }
    }

    /// No result has been applied yet.
    pub fn is_pending(&self) -> bool {
        self.last_change_at.is_none()
    }

    /// Whether the current problem is acknowledged at `at` (an expired acknowledgement is not).
    pub fn is_acknowledged(&self, at: i64) -> bool {
        self.acknowledgement
            .as_ref()
            .is_some_and(|ack| ack.is_active(at))
    }

    /// Acknowledges the current problem, replacing any previous acknowledgement. Only a hard
    /// non-OK state can be acknowledged, and the expiry, if any, must be after `at`.
    pub fn acknowledge(&mut self, ack: Acknowledgement, at: i64) -> Result<(), AcknowledgeError> {
        if self.is_pending() {
            return Err(AcknowledgeError::Pending);
        }
        if self.state == State::Ok {
            return Err(AcknowledgeError::NotAProblem);
        }
        if !self.hard {
            return Err(AcknowledgeError::Soft(self.state));
        }
        if !ack.is_active(at) {
            return Err(AcknowledgeError::AlreadyExpired);
        }
        self.acknowledgement = Some(ack);
        Ok(())
    }

    /// The weighted percentage of state changes over the last [`FLAP_HISTORY`] results, from 0
    /// to 100. Each of the 20 possible changes weighs from 0.8 (oldest) to 1.2 (most recent),
    /// linearly, so recent changes count more; the sum is divided by 20. With fewer results the
    /// missing older ones count as no change (Nagios fills the history with the first state).
    pub fn flap_percent(&self) -> f64 {
        let changes = FLAP_HISTORY - 1;
        let start = self.history.len().saturating_sub(FLAP_HISTORY);
        let recent = &self.history[start..];
        let weighted: f64 = recent
            .windows(2)
            .rev()
            .enumerate()
            .filter(|(_, pair)| pair[0] != pair[1])
            .map(|(age, _)| 1.2 - 0.4 * age as f64 / (changes - 1) as f64)
            .sum();
        // `+ 0.0`: an empty sum is -0.0, which would print as "-0".
        weighted * 100.0 / changes as f64 + 0.0
    }

    /// Applies the result of one run at `at` (epoch milliseconds).
    pub fn apply(&mut self, result: State, at: i64, ctx: &Context) -> Transition {
        let max_attempts = self.max_attempts.max(1);
        let pending = self.is_pending();
        let previous_state = (!pending).then_some(self.state);
        let previous_hard = self.hard;
        // The last hard state and its reachability; `None` while pending.
        let previous_hard_key =
            (!pending).then_some((self.last_hard_state, self.hard && self.unreachable));

        let mut acknowledgement_removed = false;
        if self
            .acknowledgement
            .as_ref()
            .is_some_and(|ack| !ack.is_active(at))
        {
            self.acknowledgement = None;
            acknowledgement_removed = true;
        }

        let unreachable = result != State::Ok && ctx.parent_down;
        let (hard, attempt) = if result == State::Ok {
            (true, 1)
        } else if pending || self.state == State::Ok {
            (max_attempts == 1, 1)
        } else if self.hard {
            (true, max_attempts)
        } else {
            let attempt = self.attempt.saturating_add(1).min(max_attempts);
            (attempt == max_attempts, attempt)
        };
        let hard_change = hard && previous_hard_key != Some((result, unreachable));
        let soft_recovery =
            result == State::Ok && !pending && self.state != State::Ok && !self.hard;

        if pending || (result, unreachable) != (self.state, self.unreachable) {
            self.last_change_at = Some(at);
        }
        if hard_change {
            self.last_hard_change_at = Some(at);
            self.last_hard_state = result;
        }
        self.state = result;
        self.hard = hard;
        self.attempt = attempt;
        self.unreachable = unreachable;
        if result == State::Ok && self.acknowledgement.take().is_some() {
            acknowledgement_removed = true;
        }

        self.history.push(result);
        let excess = self.history.len().saturating_sub(FLAP_HISTORY);
        self.history.drain(..excess);
        let was_flapping = self.flapping;
        let percent = self.flap_percent();
        if !was_flapping && percent >= self.flap_thresholds.high {
            self.flapping = true;
        } else if was_flapping && percent < self.flap_thresholds.low {
            self.flapping = false;
        }

        let suppressed = !self.notifications_enabled
            || self.flapping
            || ctx.in_downtime
            || unreachable
            || self.acknowledgement.is_some();
        let notify = hard_change
            && !suppressed
            && if result == State::Ok {
                self.problem_notified
            } else {
                true
            };
        if result == State::Ok {
            self.problem_notified = false;
        } else if notify {
            self.problem_notified = true;
        }

        Transition {
            previous_state,
            previous_hard,
            state: result,
            hard,
            attempt,
            unreachable,
            hard_change,
            soft_recovery,
            notify,
            flapping_started: !was_flapping && self.flapping,
            flapping_stopped: was_flapping && !self.flapping,
            acknowledgement_removed,
            next_interval: if hard {
                Interval::Normal
            } else {
                Interval::Retry
            },
        }
    }
}

/// Evaluates `value` against `thresholds`, with hysteresis on the way back: while `current` is
/// WARNING or CRITICAL, the state only improves as far as the `recovery` thresholds allow. With
/// a warning at `90` and a recovery warning at `80`, a WARNING check stays WARNING at 85 and
/// goes back to OK under 80; a worse state is always taken at once. A level missing from
/// `recovery` has no hysteresis. From OK or UNKNOWN, or without `recovery`, this is
/// [`Thresholds::evaluate`]. A NaN value is UNKNOWN.
pub fn evaluate_with_recovery(
    value: f64,
    thresholds: &Thresholds,
    recovery: Option<&Thresholds>,
    current: State,
) -> State {
    let state = thresholds.evaluate(value);
    let Some(recovery) = recovery else {
        return state;
    };
    if value.is_nan() || !matches!(current, State::Warning | State::Critical) {
        return state;
    }
    let held = std::cmp::min_by_key(current, recovery.evaluate(value), |s| s.severity());
    std::cmp::max_by_key(state, held, |s| s.severity())
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::{Critical as C, Ok as O, Warning as W};

    const DOWNTIME: Context = Context {
        in_downtime: true,
        parent_down: false,
    };
    const PARENT_DOWN: Context = Context {
        in_downtime: false,
        parent_down: true,
    };

    /// One step of a scenario: the result, its context, and the expected outcome as
    /// `(state, hard, attempt, hard_change, notify)`.
    type Step = (State, Context, (State, bool, u32, bool, bool));

    /// Applies each step one minute apart (starting at minute 1) and checks its outcome.
    fn check(status: &mut CheckStatus, steps: &[Step]) -> Vec<Transition> {
        let mut transitions = Vec::new();
        for (i, (result, ctx, expect)) in steps.iter().enumerate() {
            let at = (i as i64 + 1) * 60_000;
            let t = status.apply(*result, at, ctx);
            let got = (t.state, t.hard, t.attempt, t.hard_change, t.notify);
            assert_eq!(got, *expect, "step {i}: {result} with {ctx:?}: {t:?}");
            assert_eq!((status.state, status.hard), (t.state, t.hard), "step {i}");
            transitions.push(t);
        }
        transitions
    }

    const N: Context = Context::NORMAL;

    fn ack(expires_at: Option<i64>) -> Acknowledgement {
        Acknowledgement {
            author: "alice".to_owned(),
            comment: "disk ordered".to_owned(),
            expires_at,
        }
    }

    #[test]
    fn pending_then_first_results() {
        let status = CheckStatus::new(3);
        assert!(status.is_pending());
        assert_eq!(
            (status.state, status.hard, status.attempt),
            (State::Unknown, false, 0)
        );
        assert_eq!(CheckStatus::new(0).max_attempts, 1);

        // A first OK is recorded as a hard change but does not notify: nothing recovered.
        let mut s = CheckStatus::new(3);
        let t = check(&mut s, &[(O, N, (O, true, 1, true, false))]);
        assert_eq!(t[0].previous_state, None);
        assert_eq!(s.last_change_at, Some(60_000));
        assert_eq!(s.last_hard_change_at, Some(60_000));

        // A first problem starts soft, or hard at once with one attempt.
        let mut s = CheckStatus::new(3);
        check(&mut s, &[(C, N, (C, false, 1, false, false))]);
        let mut s = CheckStatus::new(1);
        check(&mut s, &[(C, N, (C, true, 1, true, true))]);
    }

    #[test]
    fn soft_becomes_hard_after_max_attempts() {
        let mut s = CheckStatus::new(3);
        let t = check(
            &mut s,
            &[
                (O, N, (O, true, 1, true, false)),
                (W, N, (W, false, 1, false, false)),
                // A change between problems while soft keeps counting.
                (C, N, (C, false, 2, false, false)),
                (C, N, (C, true, 3, true, true)),
                (C, N, (C, true, 3, false, false)),
            ],
        );
        let intervals: Vec<_> = t.iter().map(|t| t.next_interval).collect();
        use Interval::{Normal, Retry};
        assert_eq!(intervals, [Normal, Retry, Retry, Normal, Normal]);
        assert_eq!(s.last_change_at, Some(3 * 60_000));
        assert_eq!(s.last_hard_change_at, Some(4 * 60_000));
        assert_eq!(s.last_hard_state, C);
    }

    #[test]
    fn soft_recovery_does_not_notify() {
        let mut s = CheckStatus::new(3);
        let t = check(
            &mut s,
            &[
                (O, N, (O, true, 1, true, false)),
                (C, N, (C, false, 1, false, false)),
                (C, N, (C, false, 2, false, false)),
                (O, N, (O, true, 1, false, false)),
                // The count starts again at 1.
                (C, N, (C, false, 1, false, false)),
            ],
        );
        assert!(t[3].soft_recovery);
        assert_eq!(s.last_hard_change_at, Some(60_000));
    }

    #[test]
    fn hard_recovery_notifies() {
        let mut s = CheckStatus::new(2);
        let t = check(
            &mut s,
            &[
                (O, N, (O, true, 1, true, false)),
                (C, N, (C, false, 1, false, false)),
                (C, N, (C, true, 2, true, true)),
                (O, N, (O, true, 1, true, true)),
            ],
        );
        assert!(!t[3].soft_recovery);
        assert_eq!(t[3].previous_state, Some(C));
        assert!(t[3].previous_hard);
    }

    #[test]
    fn change_between_hard_problems_notifies() {
        let mut s = CheckStatus::new(2);
        check(
            &mut s,
            &[
                (W, N, (W, false, 1, false, false)),
                (W, N, (W, true, 2, true, true)),
                (C, N, (C, true, 2, true, true)),
                (State::Unknown, N, (State::Unknown, true, 2, true, true)),
                (W, N, (W, true, 2, true, true)),
            ],
        );
    }

    #[test]
    fn notifications_disabled() {
        let mut s = CheckStatus::new(1);
        s.notifications_enabled = false;
        check(
            &mut s,
            &[
                (C, N, (C, true, 1, true, false)),
                (O, N, (O, true, 1, true, false)),
            ],
        );
    }

    #[test]
    fn flapping_suppresses_notifications() {
        let mut s = CheckStatus::new(1);
        assert_eq!(s.flap_percent(), 0.0);
        let mut started = None;
        for i in 0..21 {
            let result = if i % 2 == 0 { O } else { C };
            let t = s.apply(result, i * 60_000, &N);
            assert!(t.hard_change, "result {i}");
            if t.flapping_started {
                started = Some(i);
            }
            // Every change notifies until flapping starts (the first OK has nothing to notify).
            assert_eq!(t.notify, i > 0 && started.is_none(), "result {i}: {t:?}");
            assert!(!t.flapping_stopped);
        }
        // Nine weighted changes out of twenty reach 50 %: the tenth result.
        assert_eq!(started, Some(9));
        assert!(s.flapping);
        assert!((s.flap_percent() - 100.0).abs() < 1e-9);

        let mut stopped = None;
        for i in 1..=FLAP_HISTORY as i64 {
            let t = s.apply(O, (20 + i) * 60_000, &N);
            assert!(!t.notify && !t.hard_change, "stable result {i}");
            if t.flapping_stopped {
                stopped = Some(i);
                break;
            }
        }
        // With 15 stable results the 5 remaining (oldest, lightest) changes weigh under 25 %.
        assert_eq!(stopped, Some(15));
        assert!(!s.flapping);
        assert!(s.flap_percent() < 25.0);
        let t = s.apply(C, 40 * 60_000, &N);
        assert!(t.notify, "notifies again once flapping stopped");
    }

    #[test]
    fn flap_percent_weights_recent_changes_more() {
        let mut recent = CheckStatus::new(1);
        recent.history = [vec![O; 20], vec![C]].concat();
        let mut old = CheckStatus::new(1);
        old.history = [vec![O], vec![C; 20]].concat();
        assert!((recent.flap_percent() - 6.0).abs() < 1e-9);
        assert!((old.flap_percent() - 4.0).abs() < 1e-9);
        // Only the last 21 results count.
        old.history.insert(0, C);
        assert!((old.flap_percent() - 4.0).abs() < 1e-9);
    }

    #[test]
    fn parent_down_is_unreachable_and_silent() {
        let mut s = CheckStatus::new(2);
        let t = check(
            &mut s,
            &[
                (O, N, (O, true, 1, true, false)),
                (C, PARENT_DOWN, (C, false, 1, false, false)),
                (C, PARENT_DOWN, (C, true, 2, true, false)),
                (C, PARENT_DOWN, (C, true, 2, false, false)),
                // The parent is back and the check still fails: now it is its own problem.
                (C, N, (C, true, 2, true, true)),
                (O, N, (O, true, 1, true, true)),
            ],
        );
        let unreachable: Vec<_> = t.iter().map(|t| t.unreachable).collect();
        assert_eq!(unreachable, [false, true, true, true, false, false]);

        // A problem only ever seen unreachable recovers without a notification.
        let mut s = CheckStatus::new(1);
        check(
            &mut s,
            &[
                (C, PARENT_DOWN, (C, true, 1, true, false)),
                (O, PARENT_DOWN, (O, true, 1, true, false)),
            ],
        );
        assert!(!s.unreachable);
    }

    #[test]
    fn downtime_records_states_without_notifying() {
        let mut s = CheckStatus::new(2);
        check(
            &mut s,
            &[
                (O, N, (O, true, 1, true, false)),
                (C, DOWNTIME, (C, false, 1, false, false)),
                (C, DOWNTIME, (C, true, 2, true, false)),
                (W, DOWNTIME, (W, true, 2, true, false)),
                // Recovered after the downtime: the problem was never notified.
                (O, N, (O, true, 1, true, false)),
            ],
        );
        assert_eq!(s.last_hard_change_at, Some(5 * 60_000));

        // A problem notified before the downtime: its recovery inside the downtime is silent.
        let mut s = CheckStatus::new(1);
        check(
            &mut s,
            &[
                (C, N, (C, true, 1, true, true)),
                (O, DOWNTIME, (O, true, 1, true, false)),
            ],
        );
    }

    #[test]
    fn acknowledgement_is_sticky_until_recovery() {
        let mut s = CheckStatus::new(1);
        check(&mut s, &[(W, N, (W, true, 1, true, true))]);
        s.acknowledge(ack(None), 60_000).expect("hard problem");
        assert!(s.is_acknowledged(60_000));
        let t = check(
            &mut s,
            &[
                (W, N, (W, true, 1, false, false)),
                // Sticky: a change to another problem stays acknowledged and silent.
                (C, N, (C, true, 1, true, false)),
                (O, N, (O, true, 1, true, true)),
                (C, N, (C, true, 1, true, true)),
            ],
        );
        assert!(!t[1].acknowledgement_removed);
        assert!(t[2].acknowledgement_removed);
        assert_eq!(s.acknowledgement, None);
    }

    #[test]
    fn acknowledgement_expires() {
        let mut s = CheckStatus::new(1);
        check(&mut s, &[(W, N, (W, true, 1, true, true))]);
        s.acknowledge(ack(Some(2 * 60_000)), 60_000)
            .expect("hard problem");
        assert!(s.is_acknowledged(2 * 60_000 - 1));
        assert!(!s.is_acknowledged(2 * 60_000));
        let t = check(
            &mut s,
            &[
                (C, N, (C, true, 1, true, false)),
                // Expired at this very instant: the change notifies.
                (W, N, (W, true, 1, true, true)),
            ],
        );
        assert!(!t[0].acknowledgement_removed);
        assert!(t[1].acknowledgement_removed);
        assert_eq!(s.acknowledgement, None);
    }

    #[test]
    fn acknowledge_only_a_hard_problem() {
        let mut s = CheckStatus::new(2);
        assert_eq!(s.acknowledge(ack(None), 0), Err(AcknowledgeError::Pending));
        s.apply(O, 0, &N);
        assert_eq!(
            s.acknowledge(ack(None), 0),
            Err(AcknowledgeError::NotAProblem)
        );
        s.apply(C, 1, &N);
        let err = s.acknowledge(ack(None), 1).expect_err("soft");
        assert_eq!(
            err.to_string(),
            "only a hard problem can be acknowledged; the check is CRITICAL but still being retried"
        );
        s.apply(C, 2, &N);
        assert_eq!(
            s.acknowledge(ack(Some(2)), 2),
            Err(AcknowledgeError::AlreadyExpired)
        );
        assert_eq!(s.acknowledge(ack(Some(3)), 2), Ok(()));
    }

    #[test]
    fn stored_status_out_of_bounds() {
        let mut s = CheckStatus::new(3);
        s.apply(C, 0, &N);
        s.attempt = 7;
        s.max_attempts = 0;
        s.history = vec![C; 40];
        let t = s.apply(C, 1, &N);
        assert_eq!((t.hard, t.attempt, t.hard_change), (true, 1, true));
        assert_eq!(s.history.len(), FLAP_HISTORY);
    }

    #[test]
    fn recovery_hysteresis() {
        let t = Thresholds::parse("90", "95").expect("thresholds");
        let r = Thresholds::parse("80", "90").expect("thresholds");
        let u = State::Unknown;
        #[rustfmt::skip]
        let table = [
            // value, current, with recovery, without
            (85.0, O, O, O),
            (92.0, O, W, W),
            (85.0, W, W, O),
            (80.0, W, O, O),
            (79.0, W, O, O),
            (97.0, W, C, C),
            (92.0, C, C, W),
            (87.0, C, W, O),
            (75.0, C, O, O),
            (85.0, u, O, O),
            (f64::NAN, W, u, u),
        ];
        for (value, current, with, without) in table {
            assert_eq!(
                evaluate_with_recovery(value, &t, Some(&r), current),
                with,
                "{value} from {current}"
            );
            assert_eq!(evaluate_with_recovery(value, &t, None, current), without);
        }
        // No recovery critical: CRITICAL falls back at the critical threshold, then the
        // warning hysteresis holds.
        let warning_only = Thresholds::parse("80", "").expect("thresholds");
        assert_eq!(evaluate_with_recovery(92.0, &t, Some(&warning_only), C), W);
        assert_eq!(evaluate_with_recovery(85.0, &t, Some(&warning_only), C), W);
    }
}
