//! Host bindings generated from `wit/erp-sync-transform@1.0.0`, one module per world.
//!
//! A future `2.0.0` of the package gets its own modules here beside these, so guests
//! built against 1.x keep working.

/// The `webhook-transform` world, 1.x.
pub mod webhook_v1 {
    wasmtime::component::bindgen!({
        world: "webhook-transform",
        path: "../wit/erp-sync-transform@1.0.0",
        exports: { default: async },
    });
}

/// The `invoice-tweak` world, 1.x.
pub mod tweak_v1 {
    wasmtime::component::bindgen!({
        world: "invoice-tweak",
        path: "../wit/erp-sync-transform@1.0.0",
        exports: { default: async },
    });
}
