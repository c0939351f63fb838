// An invoice tweak: adjusts one customer's invoices before any connection sees them.
//
// erp-sync calls `adjust` with the invoice as the contract's JSON and expects the
// adjusted invoice back, as JSON. The host validates the result exactly like
// `POST /v1/invoices` (lines must still sum to the subtotal, and so on) and refuses
// changes to `id`, `currency`, `status` and `customer.id`. Editing the parsed object
// and serializing it again keeps every field you do not touch as it was. Amounts are
// decimal strings such as "12.00": keep them as strings, never turn them into numbers.
// console.log / console.error output is captured (bounded) into the sync log.

/** Throws one of the WIT `transform-error` cases: 'rejected', 'unsupported' or 'other'. */
function fail(tag, message) {
  const error = new Error(message);
  error.payload = { tag, val: message };
  throw error;
}

export const tweak = {
  /**
   * @param {{eventType: string, eventId: string, tenantId: string, connectionId: string,
   *          config: [string, string][]}} ctx
   * @param {string} invoiceJson the invoice, as the HTTP API's JSON
   * @returns {string} the adjusted invoice, as JSON
   */
  adjust(ctx, invoiceJson) {
    let invoice;
    try {
      invoice = JSON.parse(invoiceJson);
    } catch (e) {
      fail('rejected', `unexpected invoice shape: ${e.message}`);
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
