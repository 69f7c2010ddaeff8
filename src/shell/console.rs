//! The log sink: each [`Line`] rendered as one JSON line on the runtime's console, errors and
//! warnings on their own streams.

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

pub fn log(line: &Line) {
    let text = line.render(now_ms());
    match line.level {
        Level::Error => console_error(&text),
        Level::Warn => console_warn(&text),
        _ => console_log(&text),
    }
}
