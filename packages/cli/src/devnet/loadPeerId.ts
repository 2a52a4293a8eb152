import { createHash } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'

/**
 * The libp2p peer id (`12D3KooW…`) of the key in `keyFile`, created there first if missing (hub's
 * `loadOrCreatePeerKey`: Ed25519, mode 0600). Loading the libp2p code takes about two seconds, so
 * the id is remembered in `<keyFile>.id` next to the sha256 of the key it belongs to, and later
 * calls with the same key answer from there.
 *
 * @example
 * ```ts
 * const peerId = await loadPeerId('/tmp/devnet/node-1/ipfs/peer.key')
 * ```
 */
export async function loadPeerId(keyFile: string): Promise<string> {
  const cacheFile = `${keyFile}.id`
  const digest = async () =>
    createHash('sha256')
      .update(await readFile(keyFile))
      .digest('hex')
  try {
    const [hash, peerId] = (await readFile(cacheFile, 'utf8')).trim().split(' ')
    if (peerId && hash === (await digest())) return peerId
  } catch {}
  const { loadOrCreatePeerKey } = await import('@verity/hub/network')
  const peerId = (await loadOrCreatePeerKey(keyFile)).publicKey.toString()
  await writeFile(cacheFile, `${await digest()} ${peerId}\n`)
  return peerId
}
