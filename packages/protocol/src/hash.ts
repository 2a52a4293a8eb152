import { keccak256 } from 'viem'
import { canonicalJsonBytes } from './canonicalJson.ts'

/** A 0x-prefixed 32-byte hex string. */
export type Hash = `0x${string}`
/** A 0x-prefixed hex string. */
export type Hex = `0x${string}`

/**
 * keccak256 of bytes, as used for every chain-facing hash in a receipt.
 *
 * @example
 * ```ts
 * keccak(new Uint8Array()) // '0xc5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470'
 * ```
 */
export function keccak(bytes: Uint8Array): Hash {
  return keccak256(bytes)
}

/**
 * keccak256 of the RFC 8785 canonical JSON form of a value.
 *
 * @example
 * ```ts
 * hashCanonicalJson({ b: 1, a: 2 }) === hashCanonicalJson({ a: 2, b: 1 }) // true
 * ```
 */
export function hashCanonicalJson(value: unknown): Hash {
  return keccak256(canonicalJsonBytes(value))
}
