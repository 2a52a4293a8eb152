const base32Alphabet = 'abcdefghijklmnopqrstuvwxyz234567'
const rawCode = 0x55
const dagPbCode = 0x70
const sha256Code = 0x12

/**
 * Whether `value` is a model CID as the hub writes it: CIDv1, raw or dag-pb, sha2-256, in
 * canonical base32 (`b…`, 59 characters). A model name never passes, so only references that name
 * content are fetched from peers.
 *
 * @example
 * ```ts
 * isModelCid('bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy') // true
 * isModelCid('digits@1.0.0') // false
 * ```
 */
export function isModelCid(value: unknown): value is string {
  if (typeof value !== 'string' || !/^b[a-z2-7]{58}$/.test(value)) return false
  // 58 base32 digits = 290 bits: 36 bytes (version, codec, hash code, length, 32-byte digest)
  // and 2 padding bits that must be zero in the canonical form.
  const bytes = new Uint8Array(36)
  let buffer = 0
  let bits = 0
  let index = 0
  for (const char of value.slice(1)) {
    buffer = ((buffer << 5) | base32Alphabet.indexOf(char)) & 0xfff
    bits += 5
    if (bits >= 8) {
      bits -= 8
      bytes[index++] = (buffer >> bits) & 0xff
    }
  }
  if ((buffer & ((1 << bits) - 1)) !== 0) return false
  return (
    bytes[0] === 1 &&
    (bytes[1] === rawCode || bytes[1] === dagPbCode) &&
    bytes[2] === sha256Code &&
    bytes[3] === 32
  )
}
