//! The log sink: each [`Line`] rendered as one JSON line on the runtime's console, errors and
//! warnings on their own streams.

use std::cell::Cell;

use wasm_bindgen::prelude::*;

use super::clock::now_ms;
use crate::log::{Level, Line};

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = log)]
    fn console_log(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = warn)]
    fn console_warn(s: &str);
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(s: &str);
}

thread_local! {
    /// `LOG_LEVEL`, set when the isolate reads its configuration (see `shell::env::config`).
    static LEAST: Cell<Level> = const { Cell::new(Level::Info) };
}

pub fn set_level(level: Level) {
    LEAST.with(|l| l.set(level));
}

/// Whether lines of `level` are logged: check before building a costly one.
pub fn logs(level: Level) -> bool {
    level >= LEAST.with(Cell::get)
}

pub fn log(line: &Line) {
    if !logs(line.level) {
        return;
    }
    let text = line.render(now_ms());
    match line.level {
        Level::Error => console_error(&text),
        Level::Warn => console_warn(&text),
        _ => console_log(&text),
    }
}
