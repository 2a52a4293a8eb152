import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, type TestContext, test } from 'node:test'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { isBaseError } from '@verity/protocol'
import { loadOrCreatePeerKey } from './loadOrCreatePeerKey.ts'

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-key-'))
  t.after(() => rm(dir, { recursive: true, force: true }))
  return dir
}

describe('loadOrCreatePeerKey', () => {
  test('default', async (t) => {
    const path = join(await tempDir(t), 'nested', 'peer.key')
    const key = await loadOrCreatePeerKey(path)
    assert.equal(key.type, 'Ed25519')
    assert.deepEqual(new Uint8Array(await readFile(path)), privateKeyToProtobuf(key))
    assert.equal((await stat(path)).mode & 0o777, 0o600, 'only the owner can read the key')
    const again = await loadOrCreatePeerKey(path)
    assert.equal(peerIdFromPrivateKey(again).toString(), peerIdFromPrivateKey(key).toString())
  })

  test('behavior: concurrent callers on one path end with the same key', async (t) => {
    const path = join(await tempDir(t), 'peer.key')
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreatePeerKey(path)))
    const ids = new Set(keys.map((key) => peerIdFromPrivateKey(key).toString()))
    assert.equal(ids.size, 1)
  })

  test('error: a corrupted key file is reported, not replaced', async (t) => {
    const path = join(await tempDir(t), 'peer.key')
    await writeFile(path, 'not a key')
    await assert.rejects(loadOrCreatePeerKey(path), (error) => {
      assert.ok(isBaseError(error, 'KEY_INVALID'))
      assert.match(error.message, /delete it to get a new peer id/)
      return true
    })
    assert.equal(await readFile(path, 'utf8'), 'not a key')
  })
})
