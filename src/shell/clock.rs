//! The wall clock, in milliseconds since the Unix epoch, as the runtime reports it.

pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
