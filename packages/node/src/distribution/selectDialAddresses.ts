/** Most multiaddrs of one peer that are dialled; the rest are ignored. */
const maxAddresses = 16
const maxAddressLength = 1024

/**
 * What {@link selectDialAddresses} decided: the multiaddrs to dial (each ending in
 * `/p2p/<peerId>`, so the Noise handshake proves the identity) and the refused ones with why.
 *
 * @example
 * ```ts
 * const { dial, refused }: SelectDialAddressesReturnType = selectDialAddresses(advertised, peerId)
 * ```
 */
export type SelectDialAddressesReturnType = {
  dial: string[]
  refused: { multiaddr: string; reason: string }[]
}

/**
 * The `/p2p/` peer id a multiaddr names (the last one, as libp2p reads it), if any.
 *
 * @example
 * ```ts
 * multiaddrPeerId('/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWabc') // '12D3KooWabc'
 * multiaddrPeerId('/ip4/127.0.0.1/tcp/4001') // undefined
 * ```
 */
export function multiaddrPeerId(multiaddr: string): string | undefined {
  const parts = multiaddr.split('/')
  for (let index = parts.length - 2; index >= 0; index--)
    if (parts[index] === 'p2p' || parts[index] === 'ipfs') return parts[index + 1]
  return undefined
}

/**
 * Chooses which of a peer's advertised multiaddrs (untrusted: from its `GET /v1/network`) to dial
 * for the libp2p identity `peerId`: addresses naming another `/p2p/` id are refused, addresses
 * without one get `/p2p/<peerId>` appended (so a different key at that address fails the
 * handshake), non-strings and duplicates are dropped, at most 16 are kept.
 *
 * @example
 * ```ts
 * selectDialAddresses(['/ip4/127.0.0.1/tcp/4001'], '12D3KooWabc').dial
 * // ['/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWabc']
 * ```
 */
export function selectDialAddresses(
  advertised: readonly unknown[],
  peerId: string,
): SelectDialAddressesReturnType {
  const dial: string[] = []
  const refused: SelectDialAddressesReturnType['refused'] = []
  for (const value of advertised) {
    if (typeof value !== 'string' || !value.startsWith('/') || value.length > maxAddressLength) {
      refused.push({ multiaddr: String(value).slice(0, 80), reason: 'not a multiaddr' })
      continue
    }
    const named = multiaddrPeerId(value)
    if (named !== undefined && named !== peerId) {
      refused.push({ multiaddr: value, reason: `names peer ${named}, expected ${peerId}` })
      continue
    }
    const address = named === undefined ? `${value.replace(/\/+$/, '')}/p2p/${peerId}` : value
    if (dial.includes(address)) continue
    if (dial.length >= maxAddresses) {
      refused.push({ multiaddr: value, reason: `more than ${maxAddresses} addresses` })
      continue
    }
    dial.push(address)
  }
  return { dial, refused }
}
