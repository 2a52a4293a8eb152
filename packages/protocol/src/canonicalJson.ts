import canonicalize from 'canonicalize'
import { BaseError } from './errors.ts'

/** JSON values that have exactly one canonical form. */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | JsonValue[]
  | { [key: string]: JsonValue }

function assertCanonicalizable(value: unknown, path: string): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return
  if (typeof value === 'number') {
    if (!Number.isFinite(value))
      throw new BaseError('CANONICAL_JSON_INVALID', `${path} is ${value}; JSON has no such number.`)
    return
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => {
      assertCanonicalizable(item, `${path}[${index}]`)
    })
    return
  }
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const [key, item] of Object.entries(value)) {
      if (item === undefined) continue
      assertCanonicalizable(item, `${path}.${key}`)
    }
    return
  }
  throw new BaseError(
    'CANONICAL_JSON_INVALID',
    `${path} is a ${typeof value === 'object' ? (value?.constructor?.name ?? 'object') : typeof value}; only JSON values can be canonicalized.`,
  )
}

/**
 * RFC 8785 (JCS) canonical JSON text of a value: sorted keys, no whitespace, ECMAScript number
 * formatting. Refuses values with no JSON form (NaN, Infinity, bigint, functions, class instances).
 *
 * @example
 * ```ts
 * canonicalJson({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 * ```
 */
export function canonicalJson(value: unknown): string {
  assertCanonicalizable(value, '$')
  const text = canonicalize(value)
  if (text === undefined)
    throw new BaseError('CANONICAL_JSON_INVALID', 'The value has no JSON form (undefined).')
  return text
}

/** UTF-8 bytes of {@link canonicalJson}. */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value))
}
