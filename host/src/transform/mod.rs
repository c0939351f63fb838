//! Shaping what connectors send: JSONPath templates and sandboxed Wasm components.

pub mod template;
pub mod wasm;
