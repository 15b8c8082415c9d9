//! On-call duty's time logic (issue #7), without IO or a clock: every instant is a parameter.
//!
//! - [`holidays`]: public-holiday calendars, the French ones built in (Easter-based included,
//!   Alsace-Moselle's two extra days optional) and custom ones.
//! - [`schedule`]: rotations (daily, weekly or shifts of a fixed length, handed off at a local
//!   time in the schedule's time zone), layers, restrictions (nights, weekends, business hours,
//!   public holidays), overrides (the most recent wins), and the final schedule they make: who
//!   is on call when, with every gap ("nobody on call") reported.
//! - [`escalation`]: when each step of an escalation policy fires after an incident triggers.
//! - [`report`]: hours on duty per person and month, split into weekday days, weekday nights,
//!   weekends and public holidays, for on-call compensation.
//!
//! Local times follow jiff's "compatible" rule: a time that does not exist (skipped when the
//! clocks go forward) is read as the one an hour later; a time that happens twice (when they
//! go back) as its first occurrence. A daily hand-off at 08:00 stays at 08:00 across a DST
//! change, so that shift lasts 23 or 25 hours; a shift of fixed length counts real hours.

pub mod escalation;
pub mod holidays;
pub mod recurrence;
pub mod report;
pub mod schedule;

pub type UserId = i64;
