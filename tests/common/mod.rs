//! Helpers shared by the re-drive tests: an in-process HTTP receiver.
#![allow(dead_code)]

pub mod receiver;
