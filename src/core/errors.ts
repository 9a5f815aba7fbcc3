/**
 * The one error type tsnet raises on purpose. `kind` classifies behaviour (libnetwork's error
 * classes as a field): the API layer maps every TsnetError to HTTP 200 `{"Err": …}` so Docker
 * shows the message verbatim; anything else is a bug and becomes a 500 with a request id.
 */
export type ErrorKind = 'invalid' | 'not-found' | 'conflict' | 'unavailable' | 'internal';

export class TsnetError extends Error {
  override readonly name = 'TsnetError';
  /** Optimistic-concurrency conflicts are retried inside tsnet and never shown to Docker. */
  readonly retryable: boolean;

  constructor(
    readonly code: `TSNET_${string}`,
    readonly kind: ErrorKind,
    message: string,
    readonly hint?: string,
    options?: { cause?: unknown; retryable?: boolean },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options?.retryable ?? false;
  }

  /** The text Docker shows the user: what is wrong, then what to do about it. */
  userMessage(): string {
    return this.hint ? `${this.message}; ${this.hint}` : this.message;
  }
}

export function isTsnetError(err: unknown): err is TsnetError {
  return err instanceof TsnetError;
}

export const invalid = (code: `TSNET_${string}`, message: string, hint?: string): TsnetError =>
  new TsnetError(code, 'invalid', message, hint);

export const notFound = (code: `TSNET_${string}`, message: string, hint?: string): TsnetError =>
  new TsnetError(code, 'not-found', message, hint);

export const conflict = (code: `TSNET_${string}`, message: string, hint?: string): TsnetError =>
  new TsnetError(code, 'conflict', message, hint);

export const unavailable = (
  code: `TSNET_${string}`,
  message: string,
  hint?: string,
  cause?: unknown,
): TsnetError => new TsnetError(code, 'unavailable', message, hint, { cause });

/** Text of any thrown value, for wrapping causes into messages. */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
