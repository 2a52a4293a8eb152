import { createHash } from 'node:crypto'
import type { Hex } from '@verity/protocol'

/**
 * sha256 of bytes (or of a UTF-8 string) as a 0x-prefixed lowercase hex string: the content
 * address `@verity/zk` uses for r1cs, ptau, zkey and verification-key artifacts.
 *
 * @example
 * ```ts
 * sha256Hex(new Uint8Array()) // '0xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
 * ```
 */
export function sha256Hex(data: Uint8Array | string): Hex {
  return `0x${createHash('sha256').update(data).digest('hex')}`
}
