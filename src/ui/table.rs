//! The events table: every observation up to the cursor (or all, when sorted by another
//! column), filtered by the filter expression, virtually scrolled so only visible rows are
//! laid out. A click anywhere on a row (its text included) selects the row's event; an
//! event selected elsewhere (a finding, the inspector, `--select event:ID`) is scrolled
//! into view.

use super::{Command, Selection, ViewCtx, fmt_count, fmt_duration};
use crate::model::{EventIdx, Observation, Store};
use egui::RichText;
use egui_extras::{Column, TableBuilder};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SortBy {
    #[default]
    Time,
    Type,
    Source,
    Outcome,
    Latency,
}

/// The table's own state.
#[derive(Default)]
pub struct TableView {
    pub sort: SortBy,
    pub descending: bool,
    /// Filter text being edited (applied on change).
    pub edit: String,
    /// The applied filter the edit last took over: when the filter changes elsewhere (a
    /// "Clear filter" button, the command line), the edit follows it.
    synced: Option<String>,
    /// Rows sorted by a non-time column, with the key they were built for.
    sorted: Vec<u32>,
    sorted_key: Option<(u64, String, SortBy, bool)>,
    last_len: usize,
    /// Frames left to keep the cursor's row scrolled into view (a scroll request made
    /// while the panel is still being laid out can land short).
    follow_frames: u8,
    /// The selected event the table last showed: a different one is scrolled to.
    revealed: Option<EventIdx>,
    /// Frames left to keep that event's row scrolled into view.
    reveal_frames: u8,
    /// The event a Shift+click selects a range from (the last one clicked).
    anchor: Option<EventIdx>,
}

fn time_rows<'a>(cx: &'a ViewCtx<'a>) -> RowsRef<'a> {
    match &cx.derived.filter {
        Some(f) => {
            let n = f
                .observations
                .partition_point(|&i| (i as usize) < cx.cursor_n);
            RowsRef::List(&f.observations[..n])
        }
        None => RowsRef::Range(cx.cursor_n),
    }
}

enum RowsRef<'a> {
    List(&'a [u32]),
    Range(usize),
}

impl RowsRef<'_> {
    fn len(&self) -> usize {
        match self {
            RowsRef::List(l) => l.len(),
            RowsRef::Range(n) => *n,
        }
    }
    fn get(&self, i: usize) -> Option<u32> {
        match self {
            RowsRef::List(l) => l.get(i).copied(),
            RowsRef::Range(n) => (i < *n).then_some(i as u32),
        }
    }
}

fn sort_key_cmp(store: &Store, by: SortBy, a: &Observation, b: &Observation) -> std::cmp::Ordering {
    let ea = store.event(a.event);
    let eb = store.event(b.event);
    match by {
        SortBy::Time => a.time.cmp(&b.time),
        SortBy::Type => store.str(ea.ty).cmp(store.str(eb.ty)),
        SortBy::Source => store.str(ea.source).cmp(store.str(eb.source)),
        SortBy::Outcome => a.outcome.as_str().cmp(b.outcome.as_str()),
        SortBy::Latency => a.latency.cmp(&b.latency),
    }
    .then(a.time.cmp(&b.time))
}

pub fn show(ui: &mut egui::Ui, cx: &ViewCtx<'_>, view: &mut TableView, cmds: &mut Vec<Command>) {
    if view.synced.as_deref() != Some(cx.filter_text) {
        view.edit = cx.filter_text.to_string();
        view.synced = Some(view.edit.clone());
    }
    ui.horizontal(|ui| {
        ui.label("Filter");
        let r = ui.add(
            egui::TextEdit::singleline(&mut view.edit)
                .id_salt("filter")
                .hint_text("type:OrderPlaced handler:a outcome:error latency>50ms time:10..20 text")
                .desired_width(ui.available_width() - 420.0),
        );
        if r.changed() {
            cmds.push(Command::SetFilter(view.edit.clone()));
        }
        if ui.button("Clear").clicked() {
            view.edit.clear();
            cmds.push(Command::SetFilter(String::new()));
        }
        if view.sort != SortBy::Time {
            ui.label(
                RichText::new("sorted: all times, not only up to the cursor")
                    .small()
                    .color(cx.theme.text_weak),
            );
        }
        if cx.derived.is_filtering() {
            ui.label(
                RichText::new("filtering\u{2026}")
                    .small()
                    .color(cx.theme.text_weak),
            );
        }
        if cx.marked.len() > 1 {
            ui.label(format!(
                "{} events selected",
                fmt_count(cx.marked.len() as u64)
            ))
            .on_hover_text("Ctrl+click adds or removes an event, Shift+click selects a range");
        }
        if !cx.derived.filter_errors.is_empty() {
            ui.label(
                RichText::new(format!(
                    "not understood: {}",
                    cx.derived.filter_errors.join(" ")
                ))
                .color(cx.theme.warn),
            );
        }
    });
    // Rows.
    let time_sorted = view.sort == SortBy::Time;
    if !time_sorted {
        // The version changes with the data and with every filter result.
        let key = (
            cx.derived.version,
            cx.derived.filter_text.clone(),
            view.sort,
            view.descending,
        );
        if view.sorted_key.as_ref() != Some(&key) {
            let mut rows: Vec<u32> = match &cx.derived.filter {
                Some(f) => f.observations.clone(),
                None => (0..cx.store.observations.len() as u32).collect(),
            };
            let obs = &cx.store.observations;
            rows.sort_by(|&a, &b| {
                sort_key_cmp(cx.store, view.sort, &obs[a as usize], &obs[b as usize])
            });
            if view.descending {
                rows.reverse();
            }
            view.sorted = rows;
            view.sorted_key = Some(key);
        }
    }
    let trows = time_rows(cx);
    let n = if time_sorted {
        trows.len()
    } else {
        view.sorted.len()
    };
    let row_at = |i: usize| -> Option<u32> {
        if time_sorted {
            if view.descending {
                trows.get(n.checked_sub(i + 1)?)
            } else {
                trows.get(i)
            }
        } else {
            view.sorted.get(i).copied()
        }
    };
    let selected_event = match cx.selection {
        Selection::Event(e) => Some(e),
        _ => None,
    };
    // An event selected elsewhere: scroll to its row (it wins over following the cursor).
    if selected_event != view.revealed {
        view.revealed = selected_event;
        view.reveal_frames = if selected_event.is_some() { 3 } else { 0 };
    }
    let reveal_row = match selected_event {
        Some(e) if view.reveal_frames > 0 => {
            let obs = cx.store.observations_of(e);
            if time_sorted {
                obs.iter()
                    .find_map(|&oi| match &trows {
                        RowsRef::Range(len) => ((oi as usize) < *len).then_some(oi as usize),
                        RowsRef::List(l) => l.binary_search(&oi).ok(),
                    })
                    .map(|r| if view.descending { n - 1 - r } else { r })
            } else {
                view.sorted.iter().position(|r| obs.contains(r))
            }
        }
        _ => None,
    };
    view.reveal_frames = view.reveal_frames.saturating_sub(1);
    // Keep the cursor's row in view whenever the cursor moves.
    if n != view.last_len {
        view.follow_frames = 3;
    }
    view.last_len = n;
    let follow = time_sorted && !view.descending && view.follow_frames > 0 && reveal_row.is_none();
    view.follow_frames = view.follow_frames.saturating_sub(1);
    let mut clicked_sort = None;
    let mut clicked_row = None;
    let modifiers = ui.input(|i| i.modifiers);
    // Cell text is not selectable, so a click on it reaches the row.
    ui.style_mut().interaction.selectable_labels = false;
    let mut table = TableBuilder::new(ui)
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::exact(86.0))
        .column(Column::exact(78.0))
        .column(Column::initial(150.0).clip(true))
        .column(Column::initial(130.0).clip(true))
        .column(Column::initial(230.0).clip(true))
        .column(Column::exact(34.0))
        .column(Column::exact(64.0))
        .column(Column::exact(78.0))
        .column(Column::remainder().clip(true))
        .auto_shrink([false, false])
        // Jump, not glide: the cursor's row must be in view in the frame it moved.
        .animate_scrolling(false)
        .min_scrolled_height(0.0)
        .max_scroll_height(f32::INFINITY);
    if let Some(r) = reveal_row {
        table = table.scroll_to_row(r, Some(egui::Align::Center));
    } else if follow && n > 0 {
        table = table.scroll_to_row(n - 1, Some(egui::Align::BOTTOM));
    }
    table
        .header(20.0, |mut h| {
            let mut head =
                |h: &mut egui_extras::TableRow<'_, '_>, label: &str, by: Option<SortBy>| {
                    h.col(|ui| {
                        let arrow = match by {
                            Some(b) if b == view.sort => {
                                if view.descending {
                                    " ⏷"
                                } else {
                                    " ⏶"
                                }
                            }
                            _ => "",
                        };
                        let txt = RichText::new(format!("{label}{arrow}")).strong();
                        match by {
                            Some(b) => {
                                if ui.add(egui::Button::new(txt).frame(false)).clicked() {
                                    clicked_sort = Some(b);
                                }
                            }
                            None => {
                                ui.label(txt);
                            }
                        }
                    });
                };
            head(&mut h, "Time (s)", Some(SortBy::Time));
            head(&mut h, "Stage", None);
            head(&mut h, "Type", Some(SortBy::Type));
            head(&mut h, "Source", Some(SortBy::Source));
            head(&mut h, "Route", None);
            head(&mut h, "#", None);
            head(&mut h, "Outcome", Some(SortBy::Outcome));
            head(&mut h, "Latency", Some(SortBy::Latency));
            head(&mut h, "Id", None);
        })
        .body(|body| {
            body.rows(18.0, n, |mut row| {
                let Some(oi) = row_at(row.index()) else {
                    return;
                };
                let Some(o) = cx.store.observations.get(oi as usize) else {
                    return;
                };
                let ev = cx.store.event(o.event);
                row.set_selected(
                    selected_event == Some(o.event) || cx.marked.binary_search(&o.event).is_ok(),
                );
                let after_cursor = (oi as usize) >= cx.cursor_n;
                let weak = |s: String| {
                    if after_cursor {
                        RichText::new(s).color(cx.theme.text_weak)
                    } else {
                        RichText::new(s)
                    }
                };
                row.col(|ui| {
                    let t = if o.untimed {
                        "no time".to_string()
                    } else {
                        format!("{:.3}", cx.secs(o.time))
                    };
                    ui.label(weak(t).monospace());
                });
                row.col(|ui| {
                    ui.label(weak(o.stage.as_str().to_string()));
                });
                row.col(|ui| {
                    ui.label(weak(cx.store.str(ev.ty).to_string()));
                });
                row.col(|ui| {
                    ui.label(weak(cx.store.str(ev.source).to_string()));
                });
                row.col(|ui| {
                    let from = cx.store.node_name(o.from);
                    let to = cx.store.node_name(o.to);
                    ui.label(weak(if from.is_empty() {
                        to.to_string()
                    } else {
                        format!("{from} → {to}")
                    }));
                });
                row.col(|ui| {
                    if o.attempt > 0 {
                        ui.label(weak(o.attempt.to_string()));
                    }
                });
                row.col(|ui| {
                    let c = if o.outcome.is_failure() {
                        cx.theme.error
                    } else {
                        cx.theme.text_weak
                    };
                    if o.outcome != crate::model::Outcome::Unknown {
                        ui.label(RichText::new(o.outcome.as_str()).color(c));
                    }
                });
                row.col(|ui| {
                    if o.latency >= 0 {
                        ui.label(weak(fmt_duration(o.latency)));
                    }
                });
                row.col(|ui| {
                    ui.label(weak(cx.store.str(ev.id).to_string()));
                });
                if row.response().clicked() {
                    clicked_row = Some((row.index(), o.event));
                }
            });
        });
    if let Some((index, e)) = clicked_row {
        // Shift+click: the events of the rows from the last clicked one to this one.
        let range = match view.anchor {
            Some(a) if modifiers.shift => {
                let event_at = |i: usize| {
                    row_at(i)
                        .and_then(|oi| cx.store.observations.get(oi as usize))
                        .map(|o| o.event)
                };
                (0..n).find(|&i| event_at(i) == Some(a)).map(|from| {
                    (from.min(index)..=from.max(index))
                        .filter_map(event_at)
                        .collect::<Vec<_>>()
                })
            }
            _ => None,
        };
        click_row(cx, view, modifiers, e, range, cmds);
    }
    if let Some(b) = clicked_sort {
        if b == view.sort {
            view.descending = !view.descending;
        } else {
            view.sort = b;
            view.descending = false;
        }
    }
}

/// A click on a row: selects its event; with Ctrl (Cmd) adds it to the selected events or
/// removes it; with Shift (`range`: the events from the last clicked row to this one)
/// selects those.
fn click_row(
    cx: &ViewCtx<'_>,
    view: &mut TableView,
    modifiers: egui::Modifiers,
    e: EventIdx,
    range: Option<Vec<EventIdx>>,
    cmds: &mut Vec<Command>,
) {
    let mut focus = Some(e);
    let marked = if let Some(range) = range {
        range
    } else if modifiers.command {
        let mut marked = cx.marked.to_vec();
        match marked.binary_search(&e) {
            Ok(at) => {
                marked.remove(at);
                focus = marked.last().copied();
            }
            Err(at) => marked.insert(at, e),
        }
        view.anchor = Some(e);
        marked
    } else {
        view.anchor = Some(e);
        vec![e]
    };
    cmds.push(Command::Select(
        focus.map_or(Selection::None, Selection::Event),
    ));
    cmds.push(Command::Mark(marked));
    // Clicked here: already in view, no need to scroll to it.
    view.revealed = focus;
    view.reveal_frames = 0;
}
