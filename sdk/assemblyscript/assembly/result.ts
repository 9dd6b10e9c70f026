// Errors as values. AssemblyScript has no exceptions: host functions return Result<T>,
// zome function handlers return an Outcome.

/**
 * An error from a host function (`kind` is one of the ABI's Err kinds: InvalidInput,
 * NotFound, Unauthorized, LimitExceeded, ChainError, CallError, NetworkError, Internal),
 * from this SDK (`SerializeError`, `DeserializeError`) or from the zome's own logic
 * (`Guest`). Same shape and text as the Rust SDK's WasmError.
 */
export class WasmError {
  constructor(public kind: string, public message: string) {}

  /** An error raised by the zome's own logic. */
  static guest(message: string): WasmError {
    return new WasmError("Guest", message);
  }

  /** `message` for Guest errors, `kind: message` otherwise (the text a caller sees). */
  toString(): string {
    if (this.kind == "Guest") return this.message;
    return this.kind + ": " + this.message;
  }
}

/** The value of host functions that return nil. */
export class Unit {}

/** The one Unit value. */
export const UNIT: Unit = new Unit();

// @ts-ignore: decorator
@inline function zeroOf<T>(): T {
  if (isReference<T>()) return changetype<T>(0);
  // @ts-ignore: numeric zero for value types
  return <T>0;
}

/**
 * `Ok(value)` or `Err(error)`.
 *
 *     const r = agentInfo();
 *     if (r.isErr) return r.propagate();       // inside a zome function handler
 *     const me = r.value.agent_latest_pubkey;  // traps if r is an Err
 */
export class Result<T> {
  constructor(
    public readonly isOk: bool,
    private readonly _value: T,
    public readonly error: WasmError | null,
  ) {}

  @inline get isErr(): bool {
    return !this.isOk;
  }

  /** The Ok value; an Err traps (after logging the error). */
  get value(): T {
    if (!this.isOk) {
      abort("called value/unwrap on an Err: " + this.error!.toString());
    }
    return this._value;
  }

  /** Same as `value`. */
  @inline unwrap(): T {
    return this.value;
  }

  /** The Ok value, or `fallback` for an Err. */
  unwrapOr(fallback: T): T {
    return this.isOk ? this._value : fallback;
  }

  /** The error for an Err; traps for an Ok. */
  get err(): WasmError {
    const e = this.error;
    if (e === null) abort("called err on an Ok result");
    return e!;
  }

  /** A failed Outcome carrying this result's error: `if (r.isErr) return r.propagate();` */
  propagate(): Outcome {
    return new Outcome(this.err);
  }

  /** This Err as a Result of another type (for propagating between helpers). */
  cast<U>(): Result<U> {
    return new Result<U>(false, zeroOf<U>(), this.err);
  }
}

export function Ok<T>(value: T): Result<T> {
  return new Result<T>(true, value, null);
}

export function Err<T>(error: WasmError): Result<T> {
  return new Result<T>(false, zeroOf<T>(), error);
}

/**
 * What a zome function handler returns: success (the value it wrote to the output
 * Encoder becomes `{"Ok": value}`) or failure (`{"Err": error.toString()}`).
 */
export class Outcome {
  constructor(public readonly error: WasmError | null) {}

  @inline get isOk(): bool {
    return this.error === null;
  }
}

const OK_OUTCOME = new Outcome(null);

/** Success: the output encoder holds the value (nothing written means nil). */
export function ok(): Outcome {
  return OK_OUTCOME;
}

/** Failure with a message of the zome's own: `{"Err": message}`. */
export function fail(message: string): Outcome {
  return new Outcome(WasmError.guest(message));
}

/** Failure with a WasmError (e.g. one returned by a host function). */
export function failWith(error: WasmError): Outcome {
  return new Outcome(error);
}
