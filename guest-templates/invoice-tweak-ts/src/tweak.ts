// An invoice tweak: adjusts one customer's invoices before any connection sees them.
//
// erp-sync calls `adjust` with the invoice as the contract's JSON and expects the
// adjusted invoice back, as JSON. The host validates the result exactly like
// `POST /v1/invoices` (lines must still sum to the subtotal, and so on) and refuses
// changes to `id`, `currency`, `status` and `customer.id`. Editing the parsed object
// and serializing it again keeps every field you do not touch as it was.
//
// The types come from the WIT (`npm run types`, i.e. `jco guest-types`, writes types/).
// Amounts are decimal strings such as "12.00": keep them as strings, never turn them
// into numbers. console.log / console.error output is captured (bounded) into the sync
// log.

import type { Context, TransformError } from 'erp-sync:transform/types@1.0.0';
import type * as Tweak from 'erp-sync:transform/tweak@1.0.0';

/** The parts of the invoice this tweak reads; every other field is kept as it is. */
interface Invoice {
  number?: string;
  lines?: { description?: string; [field: string]: unknown }[];
  [field: string]: unknown;
}

/** Throws one of the WIT `transform-error` cases; componentize-js returns it as `err`. */
function fail(tag: TransformError['tag'], message: string): never {
  const error = new Error(message) as Error & { payload: TransformError };
  error.payload = { tag, val: message };
  throw error;
}

export const tweak: typeof Tweak = {
  adjust(_ctx: Context, invoiceJson: string): string {
    let invoice: Invoice;
    try {
      invoice = JSON.parse(invoiceJson);
    } catch (e) {
      return fail('rejected', `unexpected invoice shape: ${(e as Error).message}`);
    }
    if (typeof invoice !== 'object' || invoice === null) fail('rejected', 'unexpected invoice shape: not an object');

    // Example: make every line description start with the invoice number.
    const number = invoice.number ?? '';
    for (const line of invoice.lines ?? []) {
      line.description = `${number}: ${line.description ?? ''}`;
    }
    return JSON.stringify(invoice);
  },
};
