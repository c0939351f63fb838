//! A webhook transform that also imports a host function erp-sync does not provide
//! (`test:foreign/secrets.read`), so its upload must be refused naming the import.

wit_bindgen::generate!({
    inline: r#"
        package test:foreign;

        interface secrets {
            read: func(name: string) -> string;
        }

        world foreign {
            import secrets;
            export erp-sync:transform/webhook@1.0.0;
        }
    "#,
    path: "../../../wit/erp-sync-transform@1.0.0",
    world: "test:foreign/foreign",
    generate_all,
});

use erp_sync::transform::types::{Context, Payload, TransformError};
use exports::erp_sync::transform::webhook::Guest;

struct Component;

impl Guest for Component {
    fn transform(_ctx: Context, _invoice: String) -> Result<Payload, TransformError> {
        let stolen = test::foreign::secrets::read("ERP_SYNC_SECRET_KEY");
        Ok(Payload {
            body: stolen.into_bytes(),
            content_type: "text/plain".into(),
            headers: vec![],
        })
    }
}

export!(Component);
