//! Escalation policies: ordered steps, each paging its targets and waiting a delay before the
//! next; the whole policy repeated a number of times. An acknowledgement stops it: whoever
//! runs the policy stops asking [`Policy::due`] once the incident is acknowledged.

use jiff::{SignedDuration, Timestamp};

/// One step: whom to page, and how long to wait for an acknowledgement before the next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step<T> {
    pub targets: Vec<T>,
    pub delay_minutes: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy<T> {
    pub steps: Vec<Step<T>>,
    /// How many more times the whole policy runs after the first.
    pub repeat: u32,
}

/// A step that fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    pub at: Timestamp,
    /// The step's index.
    pub step: usize,
    /// 0 the first time through the policy, then 1, 2… for each repetition.
    pub round: u32,
}

impl<T> Policy<T> {
    /// Why the policy cannot be used, with the field at fault.
    pub fn validate(&self) -> Result<(), (String, &'static str)> {
        if self.steps.is_empty() {
            return Err(("steps".to_owned(), "a policy needs at least one step"));
        }
        if self.steps.len() > 20 {
            return Err(("steps".to_owned(), "at most 20 steps"));
        }
        for (i, step) in self.steps.iter().enumerate() {
            if step.targets.is_empty() {
                return Err((
                    format!("steps[{i}].targets"),
                    "a step pages at least one target",
                ));
            }
            if !(1..=1440).contains(&step.delay_minutes) {
                return Err((
                    format!("steps[{i}].delay_minutes"),
                    "must be 1 to 1440 minutes",
                ));
            }
        }
        if self.repeat > 9 {
            return Err(("repeat".to_owned(), "at most 9 repetitions"));
        }
        Ok(())
    }

    /// Every firing after the incident triggered at `triggered`, in order: the first step at
    /// once, each next one after the previous step's delay, and the same again `repeat`
    /// times after the last step's delay.
    pub fn plan(&self, triggered: Timestamp) -> Vec<Due> {
        let mut out = Vec::new();
        let mut at = triggered;
        for round in 0..=self.repeat {
            for (step, s) in self.steps.iter().enumerate() {
                out.push(Due { at, step, round });
                at = at
                    .checked_add(SignedDuration::from_mins(i64::from(s.delay_minutes)))
                    .unwrap_or(Timestamp::MAX);
            }
        }
        out
    }

    /// The firings in `(after, upto]` (from the trigger itself when `after` is `None`): what
    /// is due since the last look.
    pub fn due(&self, triggered: Timestamp, after: Option<Timestamp>, upto: Timestamp) -> Vec<Due> {
        self.plan(triggered)
            .into_iter()
            .filter(|d| after.is_none_or(|a| d.at > a) && d.at <= upto)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(delays: &[u32], repeat: u32) -> Policy<&'static str> {
        Policy {
            steps: delays
                .iter()
                .map(|d| Step {
                    targets: vec!["someone"],
                    delay_minutes: *d,
                })
                .collect(),
            repeat,
        }
    }

    #[test]
    fn steps_fire_after_each_delay_and_the_policy_repeats() {
        let t0 = Timestamp::from_second(1_000_000).unwrap();
        let p = policy(&[5, 15], 1);
        let minutes: Vec<(i64, usize, u32)> = p
            .plan(t0)
            .iter()
            .map(|d| (d.at.duration_since(t0).as_mins(), d.step, d.round))
            .collect();
        assert_eq!(minutes, [(0, 0, 0), (5, 1, 0), (20, 0, 1), (25, 1, 1)]);
        // Looking every minute, each step fires exactly once.
        let mut fired = Vec::new();
        let mut last = None;
        for m in 0..60 {
            let now = t0 + SignedDuration::from_mins(m);
            fired.extend(p.due(t0, last, now));
            last = Some(now);
        }
        assert_eq!(fired, p.plan(t0));
        // An acknowledgement at minute 7: nothing after it is asked for.
        let ack = t0 + SignedDuration::from_mins(7);
        assert_eq!(p.due(t0, None, ack).len(), 2);
    }

    #[test]
    fn bad_policies_name_the_field() {
        assert_eq!(policy(&[], 0).validate().unwrap_err().0, "steps");
        assert_eq!(
            policy(&[5, 0], 0).validate().unwrap_err().0,
            "steps[1].delay_minutes"
        );
        assert_eq!(policy(&[5], 10).validate().unwrap_err().0, "repeat");
        let empty: Policy<&str> = Policy {
            steps: vec![Step {
                targets: vec![],
                delay_minutes: 5,
            }],
            repeat: 0,
        };
        assert_eq!(empty.validate().unwrap_err().0, "steps[0].targets");
        assert!(policy(&[5, 10], 2).validate().is_ok());
    }
}
