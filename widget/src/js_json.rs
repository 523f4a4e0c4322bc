//! [`Json`] over the browser's parsed JSON (`Response.json()`, `postMessage` data), and [`Fields`] into
//! JS objects. Own properties only, so `Object.prototype` names never read as fields.

use js_sys::{Array, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

use crate::wire::{Fields, Json, Out};

fn as_object(value: &JsValue) -> Option<&Object> {
    (value.is_object() && !Array::is_array(value)).then(|| value.unchecked_ref::<Object>())
}

// Out of line: called once per field of every wire type, so inlining would copy it dozens of times.
impl Json for JsValue {
    #[inline(never)]
    fn get(&self, key: &str) -> Option<JsValue> {
        let object = as_object(self)?;
        let key = JsValue::from_str(key);
        if !Object::has_own(object, &key) {
            return None;
        }
        Reflect::get(object, &key).ok().filter(|v| !v.is_undefined())
    }

    fn keys(&self) -> Option<Vec<String>> {
        let object = as_object(self)?;
        Object::keys(object).iter().map(|k| k.as_string()).collect()
    }

    fn is_null(&self) -> bool {
        JsValue::is_null(self) || self.is_undefined()
    }

    #[inline(never)]
    fn string(&self) -> Option<String> {
        self.as_string()
    }

    fn boolean(&self) -> Option<bool> {
        self.as_bool()
    }

    fn integer(&self) -> Option<u64> {
        // Whole, non-negative and exactly representable (below 2^53).
        let n = self.as_f64()?;
        ((0.0..9_007_199_254_740_992.0).contains(&n) && n.trunc() == n).then_some(n as u64)
    }

    fn items(&self) -> Option<Vec<JsValue>> {
        Array::is_array(self).then(|| self.unchecked_ref::<Array>().iter().collect())
    }
}

/// A plain JS object with `fields` in order.
pub fn object(fields: &Fields) -> JsValue {
    let object = Object::new();
    for (key, value) in fields {
        let value = match value {
            Out::Str(s) => JsValue::from_str(s),
            Out::Bool(b) => JsValue::from_bool(*b),
            Out::Null => JsValue::NULL,
        };
        let _ = Reflect::set(&object, &JsValue::from_str(key), &value);
    }
    object.into()
}
