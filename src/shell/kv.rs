//! The object's key-value storage with string values, which is all the gateway stores there.
//! Read and written through the runtime's storage directly: worker's `get`, `put` and
//! `list_with_options` convert through serde_wasm_bindgen, which this keeps out of the module.

use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use worker::{js_sys, Error, Result, Storage};

/// The string stored at `key`; `None` when there is none.
pub async fn get(storage: &Storage, key: &str) -> Result<Option<String>> {
    let v = JsFuture::from(storage.as_raw().get(key)?).await?;
    if v.is_undefined() {
        return Ok(None);
    }
    v.as_string()
        .map(Some)
        .ok_or_else(|| Error::JsError("invalid type: expected a string".into()))
}

/// Stores the string `value` at `key`.
pub async fn put(storage: &Storage, key: &str, value: &str) -> Result<()> {
    storage.put_raw(key, value).await
}

/// Every key starting with `prefix`, with its value, in key order.
pub async fn list(storage: &Storage, prefix: &str) -> Result<js_sys::Map> {
    let options = js_sys::Object::new();
    js_sys::Reflect::set(&options, &"prefix".into(), &JsValue::from_str(prefix))?;
    let listed = JsFuture::from(storage.as_raw().list_with_options(options)?).await?;
    Ok(listed.dyn_into()?)
}
