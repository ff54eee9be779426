//! What the flow view says when it has nothing to draw: nothing opened yet, a live source
//! with no events so far, inputs that were read but hold no events (what was read and why
//! nothing is drawn, worked out from the input reports), or a filter that hides everything.
//!
//! [`EmptyState::of`] decides from the read-only view; [`show`] draws the card over the
//! canvas and only emits commands. Nothing here reads files or changes state.

use super::{BottomTab, Command, ViewCtx, fmt_count};
use crate::model::{Format, Input};
use egui::{Align, Layout, Rect, RichText, UiBuilder, pos2};

/// Why the flow view has nothing (or nothing visible) to draw.
#[derive(Clone, Debug, PartialEq)]
pub enum EmptyState<'a> {
    /// Nothing opened yet.
    FirstStart,
    /// A live source is connected but has sent no events yet.
    WaitingForLive,
    /// Inputs were read (or failed), and none of them gave an event to draw.
    NoEvents(NoEvents),
    /// The filter matches none of the observations (the graph is drawn dimmed).
    FilteredOut { filter: &'a str, observations: u64 },
}

/// What was read, and why it gives nothing to draw.
#[derive(Clone, Debug, PartialEq)]
pub struct NoEvents {
    /// One sentence: what was read and why nothing is drawn.
    pub headline: String,
    /// One line per input (and per file that could not be opened) when there are several.
    pub lines: Vec<String>,
    /// The first unreadable record, when there is one (`file:line: message`).
    pub first_error: Option<String>,
    /// For each format read: its name and what eventlens draws from it (the README's
    /// "Formats read").
    pub conventions: Vec<(&'static str, &'static str)>,
}

impl<'a> EmptyState<'a> {
    /// The state of the flow view, or `None` when it has something to show.
    pub fn of(cx: &ViewCtx<'a>) -> Option<EmptyState<'a>> {
        if cx.derived.layout.nodes.is_empty() {
            if cx.live {
                return Some(EmptyState::WaitingForLive);
            }
            if cx.store.inputs.is_empty() && cx.load_failures.is_empty() {
                return Some(EmptyState::FirstStart);
            }
            return Some(EmptyState::NoEvents(NoEvents::of(
                &cx.store.inputs,
                cx.load_failures,
            )));
        }
        match &cx.derived.filter {
            Some(f) if f.observations.is_empty() && !cx.store.observations.is_empty() => {
                Some(EmptyState::FilteredOut {
                    filter: cx.filter_text,
                    observations: cx.store.observations.len() as u64,
                })
            }
            _ => None,
        }
    }
}

impl NoEvents {
    /// The explanation for inputs that hold no events; `failures` are the files that could
    /// not be read at all (a failure naming an input already listed is not repeated).
    pub fn of(inputs: &[Input], failures: &[String]) -> NoEvents {
        let mut lines: Vec<String> = inputs.iter().map(describe).collect();
        let listed = |f: &String| {
            inputs.iter().any(|i| {
                f.strip_prefix(i.path.as_str())
                    .is_some_and(|r| r.starts_with(": "))
            })
        };
        lines.extend(
            failures
                .iter()
                .filter(|f| !listed(f))
                .map(|f| match f.split_once(": ") {
                    Some((path, why)) => {
                        format!("nothing could be read from {}: {why}", short_path(path))
                    }
                    None => format!("nothing could be read: {f}"),
                }),
        );
        let headline = match lines.as_slice() {
            [one] => format!("{}.", capitalise(one)),
            _ => format!(
                "{} inputs, and none of them gives an event to draw:",
                lines.len()
            ),
        };
        if lines.len() == 1 {
            lines.clear();
        }
        let first_error = inputs.iter().find_map(|i| {
            i.errors
                .first()
                .map(|e| format!("{}:{}: {}", short_path(&i.path), e.line, e.message))
        });
        let mut conventions: Vec<(&'static str, &'static str)> = Vec::new();
        // Only formats that gave records: their conventions say why the records drew nothing.
        for f in inputs
            .iter()
            .filter(|i| i.records > 0)
            .filter_map(|i| i.format)
        {
            let c = (format_name(f), conventions_of(f));
            if !conventions.contains(&c) {
                conventions.push(c);
            }
        }
        NoEvents {
            headline,
            lines,
            first_error,
            conventions,
        }
    }
}

/// One input in words: how many records were read from it and why they give no event.
fn describe(input: &Input) -> String {
    let name = short_path(&input.path);
    let format = input.format.map_or("unknown format", format_name);
    let (one, many) = input.format.map_or(("record", "records"), record_noun);
    let noun = |n: u64| if n == 1 { one } else { many };
    let unreadable = match input.skipped {
        0 => String::new(),
        n => format!(" ({} more could not be read)", fmt_count(n)),
    };
    if input.records > 0 {
        let why = match input.format {
            Some(Format::Otlp | Format::Jaeger | Format::Zipkin) => {
                if input.records == 1 {
                    "it is not a messaging, call or store span"
                } else {
                    "none is a messaging, call or store span"
                }
            }
            _ => "none of them maps to an event",
        };
        format!(
            "{} {} read from {name} ({format}){unreadable}; {why}",
            fmt_count(input.records),
            noun(input.records)
        )
    } else if input.skipped > 0 {
        format!(
            "none of the {} {} in {name} ({format}) could be read",
            fmt_count(input.skipped),
            noun(input.skipped)
        )
    } else {
        format!("nothing to read in {name} ({format}): it holds no {many}")
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn short_path(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

/// The format as the README's "Formats read" names it.
pub fn format_name(f: Format) -> &'static str {
    match f {
        Format::Cloudevents => "CloudEvents JSON",
        Format::CloudeventsBatch => "CloudEvents batch",
        Format::CloudeventsJsonl => "CloudEvents JSON Lines",
        Format::Capture => "eventlens capture",
        Format::Otlp => "OTLP JSON",
        Format::Jaeger => "Jaeger JSON",
        Format::Zipkin => "Zipkin v2",
        Format::Kcat => "kcat -J",
        Format::Live => "live source",
        Format::OtlpLogs => "OTLP JSON logs",
        Format::Eventgrid => "Event Grid schema",
        Format::Eventbridge => "EventBridge events",
        Format::Cdevents => "CDEvents",
    }
}

/// What one record of a format is called (singular, plural).
fn record_noun(f: Format) -> (&'static str, &'static str) {
    match f {
        Format::Otlp | Format::Jaeger | Format::Zipkin => ("span", "spans"),
        Format::Cloudevents | Format::CloudeventsBatch | Format::CloudeventsJsonl => {
            ("event", "events")
        }
        Format::Capture => ("observation", "observations"),
        Format::Kcat => ("message", "messages"),
        Format::Live => ("record", "records"),
        Format::OtlpLogs => ("log record", "log records"),
        Format::Eventgrid | Format::Eventbridge | Format::Cdevents => ("event", "events"),
    }
}

/// What eventlens draws from a format: the README's "Formats read", in one sentence.
fn conventions_of(f: Format) -> &'static str {
    match f {
        Format::Otlp => {
            "producer and consumer spans (and the messaging.* attributes), client and \
             server calls, db.* client spans and faas.* invocations; internal spans are \
             work inside a service and are not drawn."
        }
        Format::Jaeger => {
            "spans tagged span.kind producer or consumer (messaging.* or \
             message_bus.destination), client and server calls and db.* client spans; \
             a span without span.kind is a call when its parent runs in another service, \
             else work inside its service, which is not drawn."
        }
        Format::Zipkin => {
            "PRODUCER and CONSUMER spans (the remoteEndpoint is the broker), CLIENT and \
             SERVER calls and CLIENT spans to a database; a span without a kind is a call \
             when its parent runs in another service, else work inside its service, which \
             is not drawn."
        }
        Format::Cloudevents | Format::CloudeventsBatch | Format::CloudeventsJsonl => {
            "every event, published by its source onto the event-bus channel; \
             causationid adds the delivery it implies."
        }
        Format::Capture => {
            "one observation per line: the CloudEvent plus lensstage, lenschannel, \
             lenshandler and the other lens* extensions."
        }
        Format::Kcat => "every message, as an event published onto its topic.",
        Format::Live => "every event the source sends.",
        Format::OtlpLogs => "log records that carry cloudevents.* attributes, as events.",
        Format::Eventgrid => {
            "every event, its topic and subject as the source, eventType as the type."
        }
        Format::Eventbridge => "every event, detail-type as the type, onto its event bus.",
        Format::Cdevents => "every CDEvent, as the event its context describes.",
    }
}

/// Draws the card for `state` over the canvas `rect`.
pub fn show(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    state: &EmptyState<'_>,
    rect: Rect,
    cmds: &mut Vec<Command>,
) {
    // The canvas can reach under a side panel when the toolbar is wider than the view.
    let rect = rect.intersect(ui.clip_rect());
    let width = (rect.width() - 48.0).clamp(200.0, 620.0);
    // Centre vertically with the height the card had last frame; a filter's card goes to
    // the top, so the dimmed graph stays in view.
    let height_id = ui.scope_id().with("empty-card-height");
    let last_h: f32 = ui.data(|d| d.get_temp(height_id)).unwrap_or(160.0);
    let top = match state {
        EmptyState::FilteredOut { .. } => rect.top() + 12.0,
        _ => rect.top() + ((rect.height() - last_h) / 2.0).max(12.0),
    };
    let area = Rect::from_min_max(
        pos2(rect.center().x - width / 2.0, top),
        pos2(rect.center().x + width / 2.0, rect.bottom()),
    );
    let frame = egui::Frame::window(ui.style())
        .inner_margin(egui::Margin::same(16))
        .shadow(egui::epaint::Shadow::NONE);
    let card = ui
        .scope_builder(
            UiBuilder::new()
                .max_rect(area)
                .layout(Layout::top_down(Align::Min)),
            |ui| {
                frame
                    .show(ui, |ui| {
                        ui.set_width(width - 32.0);
                        card_contents(ui, cx, state, cmds);
                    })
                    .response
            },
        )
        .inner;
    let h = card.rect.height();
    if (h - last_h).abs() > 0.5 {
        ui.data_mut(|d| d.insert_temp(height_id, h));
        ui.ctx().request_repaint();
    }
}

fn card_contents(
    ui: &mut egui::Ui,
    cx: &ViewCtx<'_>,
    state: &EmptyState<'_>,
    cmds: &mut Vec<Command>,
) {
    let theme = cx.theme;
    let headline = |ui: &mut egui::Ui, text: &str| {
        ui.label(RichText::new(text).size(16.0).strong().color(theme.text));
    };
    match state {
        EmptyState::FirstStart => {
            headline(ui, "No events yet.");
            ui.label(
                RichText::new(
                    "Open a capture or a trace (File > Open, or drop a file here) or start \
                     the live demo.",
                )
                .color(theme.text_weak),
            );
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button("Open…").clicked() {
                    cmds.push(Command::OpenDialog);
                }
                if ui.button("Start the live demo").clicked() {
                    cmds.push(Command::StartDemo);
                }
            });
        }
        EmptyState::WaitingForLive => {
            headline(ui, "Waiting for the first events…");
            ui.label(
                RichText::new("The live source is connected; events appear here as they arrive.")
                    .color(theme.text_weak),
            );
        }
        EmptyState::NoEvents(n) => {
            headline(ui, &n.headline);
            for line in &n.lines {
                ui.label(RichText::new(format!("• {line}")).color(theme.text));
            }
            ui.label(
                RichText::new("So the flow graph has nothing to draw.").color(theme.text_weak),
            );
            if let Some(e) = &n.first_error {
                ui.add_space(4.0);
                ui.label(RichText::new(e).monospace().small().color(theme.error));
            }
            for (format, what) in &n.conventions {
                ui.add_space(4.0);
                ui.label(
                    RichText::new(format!("From {format}, eventlens draws {what}"))
                        .color(theme.text_weak),
                );
            }
            if !n.conventions.is_empty() {
                ui.label(
                    RichText::new("The README's \"Formats read\" lists the conventions in full.")
                        .color(theme.text_weak),
                );
            }
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button("Show inputs & read errors").clicked() {
                    cmds.push(Command::SetBottomTab(BottomTab::Inputs));
                }
                if ui.button("Open another file…").clicked() {
                    cmds.push(Command::OpenDialog);
                }
            });
        }
        EmptyState::FilteredOut {
            filter,
            observations,
        } => {
            headline(
                ui,
                &format!(
                    "The filter \u{201c}{filter}\u{201d} matches none of the {} observations.",
                    fmt_count(*observations)
                ),
            );
            ui.label(
                RichText::new(
                    "Everything is dimmed: change the filter in the Events tab, or clear it.",
                )
                .color(theme.text_weak),
            );
            ui.add_space(6.0);
            ui.horizontal(|ui| {
                if ui.button("Clear filter").clicked() {
                    cmds.push(Command::SetFilter(String::new()));
                }
                if ui.button("Show events").clicked() {
                    cmds.push(Command::SetBottomTab(BottomTab::Events));
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Store;

    fn input(store: &mut Store, path: &str, format: Format, records: u64, skipped: u64) {
        let i = store.add_input(path, Some(format)) as usize;
        store.inputs[i].records = records;
        for line in 1..=skipped {
            store.inputs[i].error(line, "expected value at line 1 column 1");
        }
    }

    #[test]
    fn a_zipkin_file_of_spans_that_map_to_nothing_says_how_many_were_read() {
        let mut s = Store::new();
        input(&mut s, "/captures/zipkin-ascend.json", Format::Zipkin, 8, 0);
        let n = NoEvents::of(&s.inputs, &[]);
        assert_eq!(
            n.headline,
            "8 spans read from zipkin-ascend.json (Zipkin v2); none is a messaging, call or store span."
        );
        assert!(n.lines.is_empty());
        assert_eq!(n.conventions.len(), 1);
        assert_eq!(n.conventions[0].0, "Zipkin v2");
    }

    #[test]
    fn an_empty_batch_holds_no_events() {
        let mut s = Store::new();
        input(&mut s, "empty.json", Format::CloudeventsBatch, 0, 0);
        let n = NoEvents::of(&s.inputs, &[]);
        assert_eq!(
            n.headline,
            "Nothing to read in empty.json (CloudEvents batch): it holds no events."
        );
    }

    #[test]
    fn unreadable_records_are_counted_and_the_first_one_shown() {
        let mut s = Store::new();
        input(&mut s, "dir/bad.jsonl", Format::CloudeventsJsonl, 0, 3);
        let failure =
            "dir/bad.jsonl: nothing readable: none of its 3 records could be read".to_string();
        let n = NoEvents::of(&s.inputs, &[failure]);
        assert_eq!(
            n.headline,
            "None of the 3 events in bad.jsonl (CloudEvents JSON Lines) could be read."
        );
        assert_eq!(
            n.first_error.as_deref(),
            Some("bad.jsonl:1: expected value at line 1 column 1")
        );
    }

    #[test]
    fn several_inputs_and_an_unopenable_file_get_one_line_each() {
        let mut s = Store::new();
        input(&mut s, "a.json", Format::Jaeger, 1, 0);
        input(&mut s, "b.json", Format::Otlp, 4, 2);
        let n = NoEvents::of(
            &s.inputs,
            &["/x/c.bin: not a recognised format".to_string()],
        );
        assert_eq!(
            n.headline,
            "3 inputs, and none of them gives an event to draw:"
        );
        assert_eq!(
            n.lines,
            [
                "1 span read from a.json (Jaeger JSON); it is not a messaging, call or store span",
                "4 spans read from b.json (OTLP JSON) (2 more could not be read); none is a messaging, call or store span",
                "nothing could be read from c.bin: not a recognised format",
            ]
        );
        assert_eq!(n.conventions.len(), 2);
    }
}
