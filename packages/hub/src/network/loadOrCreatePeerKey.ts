import { randomBytes } from 'node:crypto'
import { link, mkdir, open, readFile, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { BaseError } from '@verity/protocol'
import type { PeerPrivateKey } from './options.ts'

/**
 * The libp2p private key kept in `path` (protobuf-encoded, as Kubo and js-libp2p write it), or a
 * new Ed25519 key written there first (mode 0600, never half-written, never overwriting a key
 * another process wrote meanwhile). Keeps a node's peer id stable across restarts.
 *
 * @example
 * ```ts
 * const key = await loadOrCreatePeerKey('.verity/ipfs/peer.key')
 * peerIdFromPrivateKey(key).toString() // the same '12D3KooW…' on every run
 * ```
 */
export async function loadOrCreatePeerKey(path: string): Promise<PeerPrivateKey> {
  const existing = await readKey(path)
  if (existing !== undefined) return existing
  const key = await generateKeyPair('Ed25519')
  if (await writeNewSecretFile(path, privateKeyToProtobuf(key))) return key
  // Another process created the key first: use theirs.
  const winner = await readKey(path)
  if (winner === undefined)
    throw new BaseError(
      'KEY_NOT_FOUND',
      `The peer key file ${path} vanished while it was created.`,
      {
        metaMessages: ['Run one process per data directory.'],
      },
    )
  return winner
}

async function readKey(path: string): Promise<PeerPrivateKey | undefined> {
  let bytes: Uint8Array
  try {
    bytes = await readFile(path)
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ENOENT') return undefined
    throw error
  }
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (cause) {
    throw new BaseError('KEY_INVALID', `The peer key file ${path} is not a libp2p private key.`, {
      details: cause instanceof Error ? cause.message : String(cause),
      metaMessages: [
        'Restore the file from a backup, or delete it to get a new peer id (then update the peer id registered in NodeRegistry).',
      ],
      cause,
    })
  }
}

/**
 * Writes a file only its owner can read, complete or not at all: temporary file, fsync, then a
 * hard link to `path`, which fails instead of replacing an existing file. `false` if `path` exists.
 */
async function writeNewSecretFile(path: string, data: Uint8Array): Promise<boolean> {
  const directory = dirname(path)
  await mkdir(directory, { recursive: true })
  const temporary = join(directory, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  const handle = await open(temporary, 'wx', 0o600)
  try {
    try {
      await handle.writeFile(data)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await link(temporary, path)
    return true
  } catch (error) {
    if ((error as { code?: unknown }).code === 'EEXIST') return false
    throw error
  } finally {
    await rm(temporary, { force: true })
  }
}
