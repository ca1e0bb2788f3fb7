/** Errors thrown by VehicleOps, with the SDK's error kind. */

/** The SDK's error kinds (`vehicleops_core::ErrorKind`). */
export type ErrorKind =
  | 'validation'
  | 'not_found'
  | 'conflict'
  | 'invalid_transition'
  | 'backend'
  | 'closed'
  | 'config'
  | 'internal'

/** Stable upper-case codes, as in the reference server's HTTP error envelope. */
export type ErrorCode =
  | 'UNPROCESSABLE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'BACKEND_ERROR'
  | 'CLOSED'
  | 'CONFIG_ERROR'

/** Every error the SDK reports. `kind` says what went wrong, `field` which input was at fault. */
export class VehicleOpsError extends Error {
  readonly kind: ErrorKind
  readonly code: ErrorCode
  /** The offending field for validation errors (wire spelling, e.g. `latitude`), else null. */
  readonly field: string | null

  constructor(message: string, kind: ErrorKind, code: ErrorCode, field: string | null) {
    super(message)
    this.name = 'VehicleOpsError'
    this.kind = kind
    this.code = code
    this.field = field
  }
}

const PREFIX = 'VOERR:'

interface Envelope {
  kind: ErrorKind
  code: ErrorCode
  field: string | null
  message: string
}

/** Turns the native layer's error envelope into a `VehicleOpsError`; other errors pass through. */
export function translateError(err: unknown): unknown {
  if (err instanceof Error && err.message.startsWith(PREFIX)) {
    try {
      const e = JSON.parse(err.message.slice(PREFIX.length)) as Envelope
      const out = new VehicleOpsError(e.message, e.kind, e.code, e.field)
      out.stack = `${out.name}: ${out.message}\n${(err.stack ?? '').split('\n').slice(1).join('\n')}`
      return out
    } catch {
      return err
    }
  }
  return err
}

/** Runs a native call, rethrowing its errors as `VehicleOpsError`s. */
export async function call<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (err) {
    throw translateError(err)
  }
}

/** The synchronous form of `call`. */
export function callSync<T>(f: () => T): T {
  try {
    return f()
  } catch (err) {
    throw translateError(err)
  }
}
