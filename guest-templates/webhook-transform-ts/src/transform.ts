// A webhook transform: turns an erp-sync invoice into the body your endpoint wants.
//
// erp-sync calls `transform` once per delivery with the invoice as the contract's JSON.
// Return the body, its content type and any extra headers, or throw a transform error
// (see `fail` below). An error fails that delivery at once (a retry would run the same
// code on the same input), and the message appears in the sync log. Whatever you print
// with console.log / console.error is captured (bounded) into the sync log too.
//
// The types come from the WIT (`npm run types`, i.e. `jco guest-types`, writes types/).
// Amounts are decimal strings such as "12.00": keep them as strings, never turn them
// into numbers. Fields you do not declare are simply ignored, so new fields in the
// contract never break this transform.

import type { Context, Payload, TransformError } from 'erp-sync:transform/types@1.0.0';
import type * as Webhook from 'erp-sync:transform/webhook@1.0.0';

/** The parts of the invoice this transform reads. */
interface Invoice {
  id: string;
  number: string;
  status: string;
  currency: string;
  total: string;
  customer: { id: string; name: string };
  lines?: { description: string; amount: string }[];
}

/** Throws one of the WIT `transform-error` cases; componentize-js returns it as `err`. */
function fail(tag: TransformError['tag'], message: string): never {
  const error = new Error(message) as Error & { payload: TransformError };
  error.payload = { tag, val: message };
  throw error;
}

function parse(text: string): Invoice {
  let invoice: Record<string, unknown>;
  try {
    invoice = JSON.parse(text);
  } catch (e) {
    return fail('rejected', `unexpected invoice shape: ${(e as Error).message}`);
  }
  for (const field of ['id', 'number', 'status', 'currency', 'total', 'customer']) {
    if (invoice[field] === undefined) fail('rejected', `unexpected invoice shape: missing field \`${field}\``);
  }
  return invoice as unknown as Invoice;
}

export const webhook: typeof Webhook = {
  transform(ctx: Context, invoiceJson: string): Payload {
    const invoice = parse(invoiceJson);
    console.error(`transforming ${invoice.number} for ${ctx.eventType}`);

    // Shape the body as your endpoint expects; here, a small flat document.
    const body = {
      event: ctx.eventType,
      invoice: invoice.id,
      number: invoice.number,
      status: invoice.status,
      customer: { id: invoice.customer.id, name: invoice.customer.name },
      total: { amount: invoice.total, currency: invoice.currency },
      lines: (invoice.lines ?? []).map((l) => ({ text: l.description, amount: l.amount })),
    };
    return {
      body: new TextEncoder().encode(JSON.stringify(body)),
      contentType: 'application/json',
      headers: [{ name: 'X-Invoice-Number', value: invoice.number }],
    };
  },
};
