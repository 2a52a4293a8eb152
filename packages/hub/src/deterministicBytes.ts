import { createCipheriv, createHash } from 'node:crypto'

/**
 * `size` pseudo-random bytes from a seed string: the ChaCha20 keystream (RFC 8439) with key
 * sha256(seed), an all-zero 96-bit nonce and block counter 0. This is the generator Kubo's
 * `test/cli/testutils.DeterministicRandomReader` uses, so its published test vectors (file CIDs for
 * a seed and a size) can be checked here. Tests use it for any seeded random input.
 *
 * @example
 * ```ts
 * deterministicBytes(4096, 'random-model') // the same 4 KiB on every run and machine
 * ```
 */
export function deterministicBytes(size: number, seed: string): Uint8Array {
  const key = createHash('sha256').update(seed, 'utf8').digest()
  // OpenSSL's chacha20 IV is the 32-bit little-endian block counter followed by the 96-bit nonce.
  const cipher = createCipheriv('chacha20', key, Buffer.alloc(16))
  const out = new Uint8Array(size)
  const zeros = new Uint8Array(Math.min(size, 1 << 20))
  for (let at = 0; at < size; at += zeros.length) {
    const length = Math.min(zeros.length, size - at)
    out.set(cipher.update(zeros.subarray(0, length)), at)
  }
  return out
}
