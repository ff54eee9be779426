//! The in-app Open dialog, for where no system file dialog can be shown (no desktop portal
//! and no zenity: rfd gives up). A path to type (a file, several separated by `;`, or a
//! folder to list), the folder's entries to click through (folders first), Open and Cancel.
//!
//! (`egui-file-dialog`, the maintained crate for this, has no release for egui 0.37 yet.)
//! The listing reads one directory when the folder changes, never per frame.

use egui::RichText;
use std::path::{Path, PathBuf};

/// One entry of the listed folder.
#[derive(Clone, Debug)]
struct Entry {
    name: String,
    dir: bool,
}

/// What the dialog asks the app to do.
#[derive(Clone, Debug, PartialEq)]
pub enum DialogAction {
    Open(Vec<PathBuf>),
    Cancel,
}

/// The dialog's state while it is open.
pub struct OpenDialog {
    /// Why the system dialog was not used (shown in the dialog), if it was tried.
    pub reason: Option<String>,
    dir: PathBuf,
    /// The path field.
    edit: String,
    entries: Vec<Entry>,
    listed: Option<PathBuf>,
    error: Option<String>,
    /// Files picked in the listing.
    picked: Vec<PathBuf>,
}

impl OpenDialog {
    /// A dialog listing `dir`.
    pub fn new(dir: PathBuf, reason: Option<String>) -> OpenDialog {
        OpenDialog {
            reason,
            edit: dir.display().to_string(),
            dir,
            entries: Vec::new(),
            listed: None,
            error: None,
            picked: Vec::new(),
        }
    }

    /// The folder listed.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn enter(&mut self, dir: PathBuf) {
        self.edit = dir.display().to_string();
        self.dir = dir;
        self.picked.clear();
    }

    fn list(&mut self) {
        if self.listed.as_deref() == Some(self.dir.as_path()) {
            return;
        }
        self.listed = Some(self.dir.clone());
        self.entries.clear();
        self.error = None;
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in rd.flatten() {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if name.starts_with('.') {
                        continue;
                    }
                    // A link to a folder is a folder.
                    let dir = std::fs::metadata(e.path()).is_ok_and(|m| m.is_dir());
                    self.entries.push(Entry { name, dir });
                }
                self.entries.sort_by(|a, b| {
                    (!a.dir, a.name.to_lowercase()).cmp(&(!b.dir, b.name.to_lowercase()))
                });
            }
            Err(e) => self.error = Some(format!("{}: {e}", self.dir.display())),
        }
    }

    /// What the path field names: files to open, or a folder to list.
    fn typed(&self) -> Vec<PathBuf> {
        self.edit
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                let p = PathBuf::from(s);
                if p.is_absolute() { p } else { self.dir.join(p) }
            })
            .collect()
    }

    /// Draws the dialog (modal); returns what the user chose, once.
    pub fn show(&mut self, ctx: &egui::Context) -> Option<DialogAction> {
        self.list();
        let mut action = None;
        let modal = egui::Modal::new(egui::Id::unique("eventlens-open-dialog")).show(ctx, |ui| {
            ui.set_width(620.0);
            ui.heading("Open captures or traces");
            if let Some(r) = &self.reason {
                ui.label(RichText::new(r).weak());
            }
            ui.horizontal(|ui| {
                if ui
                    .button("⬆ Up")
                    .on_hover_text("The parent folder")
                    .clicked()
                    && let Some(p) = self.dir.parent()
                {
                    let p = p.to_path_buf();
                    self.enter(p);
                }
                let r = ui.add(
                    egui::TextEdit::singleline(&mut self.edit)
                        .id_salt("open-dialog-path")
                        .hint_text("a file, a folder, or several files separated by ;")
                        .desired_width(ui.available_width()),
                );
                if r.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter)) {
                    action = self.submit();
                }
            });
            ui.separator();
            // A fixed height, so the dialog does not jump when another folder is listed.
            egui::ScrollArea::vertical()
                .max_height(360.0)
                .min_scrolled_height(360.0)
                .auto_shrink([false, false])
                .show(ui, |ui| {
                    if let Some(e) = &self.error {
                        ui.label(RichText::new(e).color(ui.visuals().error_fg_color));
                    }
                    if self.entries.is_empty() && self.error.is_none() {
                        ui.label(RichText::new("(empty folder)").weak());
                    }
                    let mut enter = None;
                    for e in &self.entries {
                        let path = self.dir.join(&e.name);
                        if e.dir {
                            if ui
                                .selectable_label(false, format!("🗀 {}/", e.name))
                                .clicked()
                            {
                                enter = Some(path);
                            }
                        } else {
                            let picked = self.picked.contains(&path);
                            let r = ui.selectable_label(picked, format!("   {}", e.name));
                            if r.double_clicked() {
                                action = Some(DialogAction::Open(vec![path]));
                            } else if r.clicked() {
                                if picked {
                                    self.picked.retain(|p| p != &path);
                                } else if ui.input(|i| i.modifiers.command || i.modifiers.shift) {
                                    self.picked.push(path);
                                } else {
                                    self.picked = vec![path];
                                }
                                self.edit = self
                                    .picked
                                    .iter()
                                    .map(|p| p.display().to_string())
                                    .collect::<Vec<_>>()
                                    .join("; ");
                            }
                        }
                    }
                    if let Some(p) = enter {
                        self.enter(p);
                    }
                });
            ui.separator();
            ui.horizontal(|ui| {
                if ui.button("Open").clicked() {
                    action = self.submit();
                }
                if ui.button("Cancel").clicked() {
                    action = Some(DialogAction::Cancel);
                }
                ui.label(
                    RichText::new("Ctrl-click picks several files; double-click opens one.").weak(),
                );
            });
        });
        if action.is_none() && modal.should_close() {
            action = Some(DialogAction::Cancel);
        }
        action
    }

    /// Open what the path field names; a single folder is listed instead.
    fn submit(&mut self) -> Option<DialogAction> {
        let paths = self.typed();
        if let [one] = paths.as_slice()
            && one.is_dir()
        {
            let one = one.clone();
            self.enter(one);
            return None;
        }
        if paths.is_empty() {
            return None;
        }
        // Missing files are opened too: the Inputs tab says why they could not be read.
        Some(DialogAction::Open(paths))
    }
}
