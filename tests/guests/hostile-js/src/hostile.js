// A hostile webhook transform in JavaScript, for erp-sync's tests: the connection's
// `mode` config picks the misbehaviour.
//   loop    spins forever (fuel or the time limit must stop it)
//   memory  allocates 4 MiB Uint8Array chunks forever (the memory cap must stop it)
//   throw   throws an uncaught exception (the delivery must fail with its message)
//   reject  returns the WIT error `rejected(...)` the way the templates do
// Any other mode answers a normal body, so the component passes its connection test.

const held = [];

export const webhook = {
  transform(ctx, invoice) {
    const mode = (ctx.config.find(([k]) => k === 'mode') ?? [])[1];
    if (ctx.eventType !== 'test') {
      if (mode === 'loop') {
        let n = 0;
        for (;;) n = (n + 1) % 1000003;
      }
      if (mode === 'memory') {
        for (;;) {
          const chunk = new Uint8Array(4 << 20);
          chunk.fill(1);
          held.push(chunk);
        }
      }
      if (mode === 'reject') {
        const error = new Error('hostile guest rejects every invoice');
        error.payload = { tag: 'rejected', val: error.message };
        throw error;
      }
      if (mode === 'throw') {
        throw new TypeError('hostile guest: this invoice blew up on purpose');
      }
    }
    return {
      body: new TextEncoder().encode(JSON.stringify({ echo: JSON.parse(invoice).id, mode })),
      contentType: 'application/json',
      headers: [],
    };
  },
};
