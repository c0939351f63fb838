// The globals of componentize-js's runtime (StarlingMonkey) that guests may use. Not the
// DOM lib: fetch, timers and the rest are not available in erp-sync's sandbox.
declare const console: {
  log(...data: unknown[]): void;
  info(...data: unknown[]): void;
  warn(...data: unknown[]): void;
  error(...data: unknown[]): void;
};
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string);
  decode(input?: Uint8Array): string;
}
