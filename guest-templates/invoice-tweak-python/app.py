"""An invoice tweak: adjusts one customer's invoices before any connection sees them.

erp-sync calls `adjust` with the invoice as the contract's JSON and expects the adjusted
invoice back, as JSON. The host validates the result exactly like `POST /v1/invoices`
(lines must still sum to the subtotal, and so on) and refuses changes to `id`,
`currency`, `status` and `customer.id`. Editing the parsed dict and serializing it again
keeps every field you do not touch as it was. Amounts are decimal strings such as
"12.00": keep them as strings, never turn them into floats (`json.loads` leaves them
strings). Raise `Err(TransformError_...)` to refuse an invoice. Whatever you print is
captured (bounded) into the sync log.
"""

import json

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports.types import Context, TransformError_Rejected


class Tweak(exports.Tweak):
    def adjust(self, ctx: Context, invoice: str) -> str:
        try:
            inv = json.loads(invoice)
        except ValueError as e:
            raise Err(TransformError_Rejected(f"unexpected invoice shape: {e}"))
        if not isinstance(inv, dict):
            raise Err(TransformError_Rejected("unexpected invoice shape: not an object"))

        # Example: make every line description start with the invoice number.
        number = inv.get("number", "")
        for line in inv.get("lines", []):
            line["description"] = f"{number}: {line.get('description', '')}"
        return json.dumps(inv)
