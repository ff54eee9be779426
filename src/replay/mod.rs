//! The replay cursor: where on the timeline the user is looking, whether it moves, how fast,
//! and what a step means. Shaped like rerun's `TimeControl`: every change is a
//! [`TimeCommand`], and [`TimeControl::update`] advances playback by a frame's `dt` and says
//! whether the caller must repaint. Nothing here knows about a GUI; the tests drive it alone.

pub mod moment;

use crate::model::Store;
use crate::time::{NANOS_PER_SEC, Nanos};

/// Whether the cursor moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum PlayState {
    #[default]
    Paused,
    Playing,
    /// Stick to the newest data of a live source.
    Following,
}

/// Speeds the user can pick, slowest first.
pub const SPEEDS: [f64; 9] = [0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 25.0, 100.0];

/// The times a cursor can step through: in practice the store's observations.
pub trait TimeAxis {
    /// First and last time, if there is any data.
    fn range(&self) -> Option<(Nanos, Nanos)>;
    /// The earliest time strictly after `t`.
    fn next_after(&self, t: Nanos) -> Option<Nanos>;
    /// The latest time strictly before `t`.
    fn prev_before(&self, t: Nanos) -> Option<Nanos>;
}

/// A sorted list of times (tests, findings markers).
impl TimeAxis for [Nanos] {
    fn range(&self) -> Option<(Nanos, Nanos)> {
        Some((*self.first()?, *self.last()?))
    }
    fn next_after(&self, t: Nanos) -> Option<Nanos> {
        self.get(self.partition_point(|&x| x <= t)).copied()
    }
    fn prev_before(&self, t: Nanos) -> Option<Nanos> {
        let i = self.partition_point(|&x| x < t);
        i.checked_sub(1).and_then(|i| self.get(i)).copied()
    }
}

impl TimeAxis for Store {
    fn range(&self) -> Option<(Nanos, Nanos)> {
        Some((self.first_time()?, self.last_time()?))
    }
    fn next_after(&self, t: Nanos) -> Option<Nanos> {
        self.observations
            .get(self.observations.partition_point(|o| o.time <= t))
            .map(|o| o.time)
    }
    fn prev_before(&self, t: Nanos) -> Option<Nanos> {
        let i = self.observations.partition_point(|o| o.time < t);
        i.checked_sub(1)
            .and_then(|i| self.observations.get(i))
            .map(|o| o.time)
    }
}

/// Every change to the cursor.
#[derive(Clone, Debug, PartialEq)]
pub enum TimeCommand {
    SetTime(Nanos),
    Play,
    Pause,
    TogglePlay,
    /// Follow the newest data (live sources).
    Follow,
    /// To the next observation.
    StepForward,
    /// To the previous observation.
    StepBack,
    /// To the first observation.
    Home,
    /// To the last observation.
    End,
    SetSpeed(f64),
    /// Loop playback within a range, or stop looping with `None`.
    SetLoop(Option<(Nanos, Nanos)>),
}

/// What [`TimeControl::update`] asks of the caller.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeResponse {
    /// The cursor is moving (or was moved): draw another frame.
    pub needs_repaint: bool,
    /// The cursor reached the end of the data and stopped.
    pub reached_end: bool,
}

/// The replay cursor.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct TimeControl {
    /// The cursor; `None` until there is data.
    #[serde(skip)]
    pub time: Option<Nanos>,
    pub state: PlayState,
    /// Replay speed, 1.0 = real time.
    pub speed: f64,
    #[serde(skip)]
    pub loop_range: Option<(Nanos, Nanos)>,
    /// Sub-nanosecond remainder of playback, so slow speeds still advance.
    #[serde(skip)]
    carry: f64,
}

impl Default for TimeControl {
    fn default() -> Self {
        TimeControl {
            time: None,
            state: PlayState::Paused,
            speed: 1.0,
            loop_range: None,
            carry: 0.0,
        }
    }
}

impl TimeControl {
    pub fn is_playing(&self) -> bool {
        self.state != PlayState::Paused
    }

    /// The cursor, clamped into the data's range (the start when unset).
    pub fn time_in<A: TimeAxis + ?Sized>(&self, axis: &A) -> Option<Nanos> {
        let (a, b) = axis.range()?;
        Some(self.time.unwrap_or(a).clamp(a, b))
    }

    /// Applies one command; returns whether anything changed.
    pub fn apply<A: TimeAxis + ?Sized>(&mut self, cmd: TimeCommand, axis: &A) -> bool {
        let before = (self.time, self.state, self.speed, self.loop_range);
        let range = axis.range();
        let now = self.time_in(axis);
        match cmd {
            TimeCommand::SetTime(t) => {
                self.time = Some(match range {
                    Some((a, b)) => t.clamp(a, b),
                    None => t,
                });
                if self.state == PlayState::Following {
                    self.state = PlayState::Paused;
                }
            }
            TimeCommand::Play => self.play(axis),
            TimeCommand::Pause => self.state = PlayState::Paused,
            TimeCommand::TogglePlay => {
                if self.is_playing() {
                    self.state = PlayState::Paused;
                } else {
                    self.play(axis);
                }
            }
            TimeCommand::Follow => {
                self.state = PlayState::Following;
                self.time = range.map(|r| r.1);
            }
            TimeCommand::StepForward => {
                self.state = PlayState::Paused;
                if let Some(t) = now {
                    self.time = Some(axis.next_after(t).unwrap_or(t));
                }
            }
            TimeCommand::StepBack => {
                self.state = PlayState::Paused;
                if let Some(t) = now {
                    self.time = Some(axis.prev_before(t).unwrap_or(t));
                }
            }
            TimeCommand::Home => {
                if self.state == PlayState::Following {
                    self.state = PlayState::Paused;
                }
                self.time = range.map(|r| r.0);
            }
            TimeCommand::End => self.time = range.map(|r| r.1),
            TimeCommand::SetSpeed(s) => {
                if s.is_finite() {
                    self.speed = s.clamp(SPEEDS[0], SPEEDS[SPEEDS.len() - 1]);
                }
            }
            TimeCommand::SetLoop(r) => {
                self.loop_range = r.map(|(a, b)| (a.min(b), a.max(b)));
            }
        }
        before != (self.time, self.state, self.speed, self.loop_range)
    }

    fn play<A: TimeAxis + ?Sized>(&mut self, axis: &A) {
        self.state = PlayState::Playing;
        // Playing from the end starts again from the beginning (or the loop start).
        if let (Some(t), Some((a, b))) = (self.time_in(axis), axis.range())
            && t >= b
        {
            self.time = Some(self.loop_range.map_or(a, |l| l.0));
        }
    }

    /// Advances playback by `dt` seconds of wall time. `streaming` says more data is coming
    /// (a live source), so reaching the end waits for it instead of pausing.
    pub fn update<A: TimeAxis + ?Sized>(
        &mut self,
        dt: f32,
        axis: &A,
        streaming: bool,
    ) -> TimeResponse {
        let idle = TimeResponse {
            needs_repaint: false,
            reached_end: false,
        };
        let Some((first, last)) = axis.range() else {
            return idle;
        };
        match self.state {
            PlayState::Paused => {
                if self.time.is_none() {
                    self.time = Some(first);
                }
                idle
            }
            PlayState::Following => {
                let changed = self.time != Some(last);
                self.time = Some(last);
                TimeResponse {
                    needs_repaint: changed || streaming,
                    reached_end: false,
                }
            }
            PlayState::Playing => {
                let t = self.time.unwrap_or(first);
                let advance =
                    f64::from(dt.max(0.0)) * self.speed * NANOS_PER_SEC as f64 + self.carry;
                let whole = advance.floor();
                self.carry = advance - whole;
                let mut next = t.saturating_add(whole as i64);
                if let Some((a, b)) = self.loop_range
                    && next > b
                {
                    next = a;
                } else if next >= last {
                    next = last;
                    if !streaming {
                        self.time = Some(next);
                        self.state = PlayState::Paused;
                        return TimeResponse {
                            needs_repaint: true,
                            reached_end: true,
                        };
                    }
                }
                self.time = Some(next);
                TimeResponse {
                    needs_repaint: true,
                    reached_end: false,
                }
            }
        }
    }
}
