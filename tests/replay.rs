//! The replay cursor, driven without a GUI.

use eventlens::replay::{PlayState, TimeAxis, TimeCommand, TimeControl};

const S: i64 = 1_000_000_000;

fn axis() -> Vec<i64> {
    vec![10 * S, 11 * S, 11 * S, 15 * S, 20 * S]
}

#[test]
fn a_new_cursor_starts_at_the_first_event_and_does_not_move_while_paused() {
    let a = axis();
    let mut tc = TimeControl::default();
    let r = tc.update(0.5, a.as_slice(), false);
    assert!(!r.needs_repaint);
    assert_eq!(tc.time, Some(10 * S));
}

#[test]
fn stepping_moves_one_distinct_event_time_at_a_time() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::Home, a.as_slice());
    tc.apply(TimeCommand::StepForward, a.as_slice());
    assert_eq!(tc.time, Some(11 * S));
    tc.apply(TimeCommand::StepForward, a.as_slice());
    assert_eq!(tc.time, Some(15 * S));
    tc.apply(TimeCommand::StepBack, a.as_slice());
    assert_eq!(tc.time, Some(11 * S));
    tc.apply(TimeCommand::End, a.as_slice());
    tc.apply(TimeCommand::StepForward, a.as_slice());
    assert_eq!(
        tc.time,
        Some(20 * S),
        "stepping past the end stays at the end"
    );
}

#[test]
fn playing_advances_by_dt_times_speed_and_pauses_at_the_end() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::Home, a.as_slice());
    tc.apply(TimeCommand::SetSpeed(2.0), a.as_slice());
    tc.apply(TimeCommand::Play, a.as_slice());
    let r = tc.update(1.0, a.as_slice(), false);
    assert!(r.needs_repaint);
    assert_eq!(tc.time, Some(12 * S));
    let r = tc.update(10.0, a.as_slice(), false);
    assert!(r.reached_end);
    assert_eq!(tc.state, PlayState::Paused);
    assert_eq!(tc.time, Some(20 * S));
}

#[test]
fn at_the_end_of_a_live_source_playback_waits_for_more_data() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::End, a.as_slice());
    tc.state = PlayState::Playing;
    let r = tc.update(1.0, a.as_slice(), true);
    assert!(!r.reached_end);
    assert_eq!(tc.state, PlayState::Playing);
}

#[test]
fn following_jumps_to_the_newest_data() {
    let mut a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::Follow, a.as_slice());
    assert_eq!(tc.time, Some(20 * S));
    a.push(25 * S);
    let r = tc.update(0.016, a.as_slice(), true);
    assert!(r.needs_repaint);
    assert_eq!(tc.time, Some(25 * S));
    // Scrubbing leaves follow mode.
    tc.apply(TimeCommand::SetTime(12 * S), a.as_slice());
    assert_eq!(tc.state, PlayState::Paused);
}

#[test]
fn speed_is_clamped_to_the_supported_range() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::SetSpeed(1000.0), a.as_slice());
    assert_eq!(tc.speed, 100.0);
    tc.apply(TimeCommand::SetSpeed(0.0), a.as_slice());
    assert_eq!(tc.speed, 0.1);
    assert!(!tc.apply(TimeCommand::SetSpeed(f64::NAN), a.as_slice()));
}

#[test]
fn a_loop_range_wraps_playback() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::SetLoop(Some((15 * S, 11 * S))), a.as_slice());
    assert_eq!(tc.loop_range, Some((11 * S, 15 * S)));
    tc.apply(TimeCommand::SetTime(14 * S), a.as_slice());
    tc.apply(TimeCommand::Play, a.as_slice());
    let _ = tc.update(2.0, a.as_slice(), false);
    assert_eq!(tc.time, Some(11 * S));
    assert_eq!(tc.state, PlayState::Playing);
}

#[test]
fn play_from_the_end_restarts() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::End, a.as_slice());
    tc.apply(TimeCommand::TogglePlay, a.as_slice());
    assert_eq!(tc.time, Some(10 * S));
    assert!(tc.is_playing());
    tc.apply(TimeCommand::TogglePlay, a.as_slice());
    assert!(!tc.is_playing());
}

#[test]
fn slow_speeds_still_advance() {
    let a = axis();
    let mut tc = TimeControl::default();
    tc.apply(TimeCommand::Home, a.as_slice());
    tc.apply(TimeCommand::SetSpeed(0.1), a.as_slice());
    tc.apply(TimeCommand::Play, a.as_slice());
    for _ in 0..60 {
        let _ = tc.update(1.0 / 60.0, a.as_slice(), false);
    }
    let t = tc.time.unwrap_or(0);
    assert!((t - (10 * S + S / 10)).abs() < 1_000, "{t}");
}

#[test]
fn an_empty_axis_has_no_cursor() {
    let a: Vec<i64> = vec![];
    let mut tc = TimeControl::default();
    assert!(!tc.update(1.0, a.as_slice(), false).needs_repaint);
    assert_eq!(tc.time_in(a.as_slice()), None);
    assert_eq!(a.as_slice().range(), None);
}
