"""A webhook transform: turns an erp-sync invoice into the body your endpoint wants.

erp-sync calls `transform` once per delivery with the invoice as the contract's JSON.
Return the body, its content type and any extra headers, or raise
`Err(TransformError_...)`. An error fails that delivery at once (a retry would run the
same code on the same input), and the message appears in the sync log. Whatever you
print to stdout or stderr is captured (bounded) into the sync log too.

Amounts are decimal strings such as "12.00": keep them as strings, never turn them into
floats. Fields you do not read are simply ignored, so new fields in the contract never
break this transform. The `wit_world` package is generated from the WIT by
componentize-py at build time (`componentize-py -d wit/erp-sync-transform@1.0.0
-w webhook-transform bindings .` writes it out for your editor).
"""

import json
import sys

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import Context, Header, Payload, TransformError_Rejected


class Webhook(exports.Webhook):
    def transform(self, ctx: Context, invoice: str) -> Payload:
        try:
            inv = json.loads(invoice)
            customer = inv["customer"]
            fields = [inv[f] for f in ("id", "number", "status", "currency", "total")]
            customer_fields = (customer["id"], customer["name"])
        except (ValueError, KeyError, TypeError) as e:
            raise Err(TransformError_Rejected(f"unexpected invoice shape: {e!r}"))
        invoice_id, number, status, currency, total = fields
        print(f"transforming {number} for {ctx.event_type}", file=sys.stderr)

        # Shape the body as your endpoint expects; here, a small flat document.
        body = {
            "event": ctx.event_type,
            "invoice": invoice_id,
            "number": number,
            "status": status,
            "customer": {"id": customer_fields[0], "name": customer_fields[1]},
            "total": {"amount": total, "currency": currency},
            "lines": [
                {"text": line["description"], "amount": line["amount"]}
                for line in inv.get("lines", [])
            ],
        }
        return Payload(
            body=json.dumps(body, separators=(",", ":")).encode(),
            content_type="application/json",
            headers=[Header(name="X-Invoice-Number", value=number)],
        )
