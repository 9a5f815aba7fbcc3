import { ERROR_CATALOGUE, type ErrorCode, type ErrorKind } from './error-catalogue.js';

export type { ErrorCode, ErrorKind } from './error-catalogue.js';

/**
 * The one error type tsnet raises on purpose. Its code names an entry of the error catalogue,
 * which gives its kind and whether a retry may succeed: the API layer maps every TsnetError to
 * HTTP 200 `{"Err": …}` (`{"Error": …}` for IpamDriver methods) so Docker shows the message verbatim, and logs kind and retryable;
 * anything else is a bug and becomes a 500 with a request id.
 */
export class TsnetError extends Error {
  override readonly name = 'TsnetError';

  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }

  get kind(): ErrorKind {
    return ERROR_CATALOGUE[this.code].kind;
  }

  /** The same request may succeed later without the user changing anything. */
  get retryable(): boolean {
    return ERROR_CATALOGUE[this.code].retryable;
  }

  /** The text Docker shows the user: what is wrong, then what to do about it. */
  userMessage(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }
}

export function isTsnetError(err: unknown): err is TsnetError {
  return err instanceof TsnetError;
}

/** A TsnetError; the catalogue says how it behaves. */
export const tsnetError = (code: ErrorCode, message: string, hint?: string, cause?: unknown): TsnetError =>
  new TsnetError(code, message, hint, cause === undefined ? undefined : { cause });

/** Text of any thrown value, for wrapping causes into messages. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
