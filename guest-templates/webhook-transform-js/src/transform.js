// A webhook transform: turns an erp-sync invoice into the body your endpoint wants.
//
// erp-sync calls `transform` once per delivery with the invoice as the contract's JSON.
// Return the body, its content type and any extra headers, or throw a transform error
// (see `fail` below). An error fails that delivery at once (a retry would run the same
// code on the same input), and the message appears in the sync log. Whatever you print
// with console.log / console.error is captured (bounded) into the sync log too.
//
// Amounts are decimal strings such as "12.00": keep them as strings, never turn them
// into numbers. Fields you do not read are simply ignored, so new fields in the
// contract never break this transform.

/** Throws one of the WIT `transform-error` cases: 'rejected', 'unsupported' or 'other'. */
function fail(tag, message) {
  const error = new Error(message);
  error.payload = { tag, val: message };
  throw error;
}

export const webhook = {
  /**
   * @param {{eventType: string, eventId: string, tenantId: string, connectionId: string,
   *          config: [string, string][]}} ctx
   * @param {string} invoiceJson the invoice, as the HTTP API's JSON
   */
  transform(ctx, invoiceJson) {
    let invoice;
    try {
      invoice = JSON.parse(invoiceJson);
    } catch (e) {
      fail('rejected', `unexpected invoice shape: ${e.message}`);
    }
    for (const field of ['id', 'number', 'status', 'currency', 'total', 'customer']) {
      if (invoice[field] === undefined) fail('rejected', `unexpected invoice shape: missing field \`${field}\``);
    }
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
