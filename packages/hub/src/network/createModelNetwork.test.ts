import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, type TestContext, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { unixfs } from '@helia/unixfs'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { type BaseError, type ErrorCode, isBaseError } from '@verity/protocol'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { computeCid } from '../computeCid.ts'
import { deterministicBytes } from '../deterministicBytes.ts'
import { createHeliaNode, type HeliaNode } from './createHeliaNode.ts'
import { createModelNetwork, resolveModelNetworkOptions } from './createModelNetwork.ts'
import type {
  FetchProgressEvent,
  ModelNetwork,
  ModelNetworkComponents,
  ModelNetworkLogger,
} from './modelNetwork.ts'
import {
  defaultModelNetworkOptions,
  type ModelNetworkOptions,
  modelNetworkLayout,
} from './options.ts'

const mnist8 = fileURLToPath(
  new URL('../../../../../shared/assets/onnx/onnx-model-zoo-mnist/mnist-8.onnx', import.meta.url),
)
const MiB = 1024 * 1024
const threeMiB = deterministicBytes(3 * MiB, 'model-network/3MiB')

/**
 * Runs cleanups last-in first-out after the test (nodes stop before their folders are removed),
 * even when the test fails.
 */
function cleanups(t: TestContext): (cleanup: () => Promise<unknown>) => void {
  const stack: Array<() => Promise<unknown>> = []
  t.after(async () => {
    for (const cleanup of stack.reverse()) await cleanup()
  })
  return (cleanup) => stack.push(cleanup)
}

async function tempDir(defer: ReturnType<typeof cleanups>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'verity-net-'))
  defer(() => rm(dir, { recursive: true, force: true }))
  return dir
}

async function startNetwork(
  defer: ReturnType<typeof cleanups>,
  options: Partial<ModelNetworkOptions> = {},
  components: ModelNetworkComponents = {},
): Promise<ModelNetwork> {
  const network = await createModelNetwork(
    { dataDir: options.dataDir ?? (await tempDir(defer)), ...options },
    components,
  )
  await network.start()
  defer(() => network.stop())
  return network
}

/** A raw Helia node (same transport stack), for peers that do not follow the hub's rules. */
async function startRawHelia(defer: ReturnType<typeof cleanups>): Promise<HeliaNode> {
  const dir = await tempDir(defer)
  const blockstore = new FsBlockstore(join(dir, 'blocks'))
  const datastore = new FsDatastore(join(dir, 'datastore'))
  await blockstore.open()
  await datastore.open()
  const helia = createHeliaNode({
    blockstore,
    datastore,
    listen: ['/ip4/127.0.0.1/tcp/0'],
    privateKey: await generateKeyPair('Ed25519'),
  })
  await helia.start()
  defer(() => helia.stop())
  return helia
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  message?: RegExp,
): Promise<BaseError> {
  let caught: unknown
  try {
    await promise
  } catch (error) {
    caught = error
  }
  assert.ok(isBaseError(caught), `expected a BaseError ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  if (message) assert.match(caught.message, message)
  return caught
}

/** Block files in a network's blockstore folder. */
async function countBlocks(dataDir: string): Promise<number> {
  const folder = join(dataDir, modelNetworkLayout.blocks)
  if (!existsSync(folder)) return 0
  const entries = await readdir(folder, { recursive: true })
  return entries.filter((entry) => entry.endsWith('.data')).length
}

function varint(value: number): number[] {
  const out: number[] = []
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
  return out
}

function field(tag: number, bytes: Uint8Array | number[]): number[] {
  return [tag, ...varint(bytes.length), ...bytes]
}

/**
 * A dag-pb UnixFS `File` node whose `blocksizes` are whatever the caller says, true or not
 * (protobuf by hand: PBNode Links before Data, as dag-pb requires).
 */
function encodeFileNode(links: readonly CID[], blockSizes: readonly number[]): Uint8Array {
  const unixfsData = [
    0x08,
    2, // Type = File
    0x18,
    ...varint(blockSizes.reduce((sum, size) => sum + size, 0)), // filesize
    ...blockSizes.flatMap((size) => [0x20, ...varint(size)]), // blocksizes
  ]
  const node = [
    ...links.flatMap((link, i) =>
      field(0x12, [...field(0x0a, link.bytes), 0x18, ...varint(blockSizes[i] ?? 0)]),
    ),
    ...field(0x0a, unixfsData),
  ]
  return Uint8Array.from(node)
}

describe('createModelNetwork', () => {
  test('default', async (t) => {
    const defer = cleanups(t)
    assert.deepEqual(defaultModelNetworkOptions.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.deepEqual(resolveModelNetworkOptions({ dataDir: 'x' }), {
      dataDir: 'x',
      listen: ['/ip4/127.0.0.1/tcp/0'],
      privateKey: undefined,
      fetchTimeoutMs: defaultModelNetworkOptions.fetchTimeoutMs,
      dialTimeoutMs: defaultModelNetworkOptions.dialTimeoutMs,
      blockReadConcurrency: defaultModelNetworkOptions.blockReadConcurrency,
    })

    const dataDir = await tempDir(defer)
    const network = await createModelNetwork({ dataDir })
    assert.match(network.peerId, /^12D3KooW/)
    assert.deepEqual(network.multiaddrs(), [], 'no addresses before start')
    await network.start()
    defer(() => network.stop())
    const addresses = network.multiaddrs()
    assert.ok(addresses.length > 0)
    for (const address of addresses)
      assert.match(address, new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${network.peerId}$`))
    // Persistent stores and key under dataDir.
    assert.ok(existsSync(join(dataDir, modelNetworkLayout.blocks)))
    assert.ok(existsSync(join(dataDir, modelNetworkLayout.datastore)))
    assert.ok(existsSync(join(dataDir, modelNetworkLayout.peerKey)))
  })

  test('behavior: a peer fetches a multi-chunk model by CID over bitswap', async (t) => {
    const defer = cleanups(t)
    const logs: Array<{ level: string; fields: Record<string, unknown>; message: string }> = []
    const logger: ModelNetworkLogger = {
      debug: (fields, message) => logs.push({ level: 'debug', fields, message }),
      info: (fields, message) => logs.push({ level: 'info', fields, message }),
      warn: (fields, message) => logs.push({ level: 'warn', fields, message }),
    }
    const a = await startNetwork(defer)
    const b = await startNetwork(defer, {}, { logger })

    const cid = await a.provide(threeMiB)
    assert.equal(cid, await computeCid(threeMiB), 'provide gives the Kubo CID')
    assert.match(cid, /^bafybei/, 'a dag-pb root: the file spans several 256 KiB chunks')
    assert.equal(await a.provide(threeMiB), cid, 'provide is idempotent')
    assert.equal(await a.has(cid), true)
    assert.equal(await b.has(cid), false)

    const dialled = await b.dial(a.multiaddrs()[0] as string)
    assert.equal(dialled.peerId, a.peerId)
    const events: FetchProgressEvent[] = []
    const started = performance.now()
    const bytes = await b.fetch(cid, {
      maxBytes: 3 * MiB,
      onProgress: (event) => events.push(event),
    })
    const ms = performance.now() - started
    t.diagnostic(`3 MiB over bitswap in one process: ${ms.toFixed(0)} ms`)
    assert.deepEqual(bytes, threeMiB)
    assert.equal(await computeCid(bytes), cid)
    assert.equal(await b.has(cid), true, 'a fetched model is pinned')

    assert.deepEqual(events[0], { cid, bytes: 0, totalBytes: 3 * MiB })
    assert.deepEqual(events.at(-1), { cid, bytes: 3 * MiB, totalBytes: 3 * MiB })
    assert.ok(events.length > 2, 'progress is reported per chunk')
    for (let i = 1; i < events.length; i++)
      assert.ok((events[i]?.bytes ?? 0) > (events[i - 1]?.bytes ?? 0), 'progress only grows')

    const fetched = logs.find((entry) => entry.message === 'model fetched')
    assert.equal(fetched?.level, 'info')
    assert.equal(fetched?.fields.cid, cid)
    assert.equal(fetched?.fields.bytes, 3 * MiB)
    assert.equal(typeof fetched?.fields.ms, 'number')
    assert.ok(logs.some((entry) => entry.message === 'model network started'))
  })

  test('behavior: a peer fetches the mnist-8 model and gets its Kubo CID', async (t) => {
    if (!existsSync(mnist8)) {
      t.skip('…/shared/assets absent')
      return
    }
    const defer = cleanups(t)
    const model = new Uint8Array(await readFile(mnist8))
    const a = await startNetwork(defer)
    const b = await startNetwork(defer)
    const cid = await a.provide(model)
    assert.equal(cid, await computeCid(model))
    await b.dial(a.multiaddrs()[0] as string)
    const bytes = await b.fetch(cid, { maxBytes: model.byteLength })
    assert.deepEqual(bytes, model)
    assert.equal(await computeCid(bytes), cid)
  })

  test('behavior: a node that fetched a model serves it to the next one', async (t) => {
    const defer = cleanups(t)
    const a = await startNetwork(defer)
    const b = await startNetwork(defer)
    const c = await startNetwork(defer)
    const cid = await a.provide(threeMiB)
    await b.dial(a.multiaddrs()[0] as string)
    await b.fetch(cid, { maxBytes: 3 * MiB })
    await a.stop()
    await c.dial(b.multiaddrs()[0] as string)
    assert.deepEqual(await c.fetch(cid, { maxBytes: 3 * MiB }), threeMiB)
  })

  test('behavior: fetching a model held locally needs no peer', async (t) => {
    const defer = cleanups(t)
    const a = await startNetwork(defer)
    const cid = await a.provide(threeMiB)
    assert.deepEqual(await a.fetch(cid, { maxBytes: 3 * MiB, timeoutMs: 500 }), threeMiB)
  })

  test('behavior: a restarted node keeps its peer id and still serves its models', async (t) => {
    const defer = cleanups(t)
    const dataDir = await tempDir(defer)
    const first = await createModelNetwork({ dataDir })
    await first.start()
    const cid = await first.provide(threeMiB)
    await first.stop()

    const second = await startNetwork(defer, { dataDir })
    assert.equal(second.peerId, first.peerId, 'the peer key is persisted under dataDir')
    assert.equal(await second.has(cid), true, 'pins survive the restart')
    const b = await startNetwork(defer)
    await b.dial(second.multiaddrs()[0] as string)
    assert.deepEqual(await b.fetch(cid, { maxBytes: 3 * MiB }), threeMiB)

    // The same instance can be stopped and started again.
    await second.stop()
    assert.deepEqual(second.multiaddrs(), [])
    await second.start()
    assert.equal(await second.has(cid), true)
    const c = await startNetwork(defer)
    await c.dial(second.multiaddrs()[0] as string)
    assert.deepEqual(await c.fetch(cid, { maxBytes: 3 * MiB }), threeMiB)
  })

  test('behavior: a given private key sets the peer id and is not written to disk', async (t) => {
    const defer = cleanups(t)
    const dataDir = await tempDir(defer)
    const privateKey = await generateKeyPair('Ed25519')
    const network = await startNetwork(defer, { dataDir, privateKey })
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    assert.equal(network.peerId, peerIdFromPrivateKey(privateKey).toString())
    assert.equal(existsSync(join(dataDir, modelNetworkLayout.peerKey)), false)
  })

  test('error: a model larger than maxBytes is refused before its blocks are fetched', async (t) => {
    const defer = cleanups(t)
    const a = await startNetwork(defer)
    const bDir = await tempDir(defer)
    const b = await startNetwork(defer, { dataDir: bDir })
    const cid = await a.provide(threeMiB)
    await b.dial(a.multiaddrs()[0] as string)

    const events: FetchProgressEvent[] = []
    const error = await rejectsWith(
      b.fetch(cid, { maxBytes: 3 * MiB - 1, onProgress: (event) => events.push(event) }),
      'MODEL_TOO_LARGE',
      /3145728 bytes, more than the 3145727 allowed/,
    )
    assert.match(error.message, /Nothing beyond its root block was downloaded/)
    assert.deepEqual(events, [], 'no file bytes were received')
    assert.equal(await countBlocks(bDir), 1, 'only the root block (of 13) is stored')
    assert.equal(await b.has(cid), false)
    // The same fetch with a big enough limit works: the refusal was about the limit.
    assert.deepEqual(await b.fetch(cid, { maxBytes: 3 * MiB }), threeMiB)
    assert.equal(await countBlocks(bDir), 13)
  })

  test('error: a CID no peer has fails with MODEL_NOT_FOUND after the idle timeout', async (t) => {
    const defer = cleanups(t)
    const a = await startNetwork(defer)
    const b = await startNetwork(defer)
    const unknown = await computeCid(deterministicBytes(1000, 'nobody has this'))

    const started = performance.now()
    await rejectsWith(
      b.fetch(unknown, { maxBytes: MiB, timeoutMs: 300 }),
      'MODEL_NOT_FOUND',
      /connected to no peer: dial the nodes of NodeRegistry/,
    )
    const elapsed = performance.now() - started
    assert.ok(elapsed >= 290 && elapsed < 5_000, `timed out after ${elapsed} ms`)

    await b.dial(a.multiaddrs()[0] as string)
    const error = await rejectsWith(
      b.fetch(unknown, { maxBytes: MiB, timeoutMs: 300 }),
      'MODEL_NOT_FOUND',
      /None of the 1 connected peer\(s\) has it/,
    )
    assert.match(error.shortMessage, /No peer sent the root block of .* for 300 ms/)
  })

  test('error: an aborted fetch fails with ABORTED, also when the network stops', async (t) => {
    const defer = cleanups(t)
    const b = await startNetwork(defer)
    const unknown = await computeCid(deterministicBytes(1000, 'nobody has this either'))
    const controller = new AbortController()
    const fetching = b.fetch(unknown, { maxBytes: MiB, signal: controller.signal })
    setImmediate(() => controller.abort())
    await rejectsWith(fetching, 'ABORTED')
    await rejectsWith(b.fetch(unknown, { maxBytes: MiB, signal: AbortSignal.abort() }), 'ABORTED')

    const pending = b.fetch(unknown, { maxBytes: MiB })
    setImmediate(() => void b.stop())
    await rejectsWith(pending, 'ABORTED', /stopped/)
    await rejectsWith(b.fetch(unknown, { maxBytes: MiB }), 'NOT_STARTED', /not started/)
  })

  test('error: a DAG built with other importer settings fails with MODEL_CID_MISMATCH', async (t) => {
    const defer = cleanups(t)
    const foreign = await startRawHelia(defer)
    const b = await startNetwork(defer)
    // Helia's default import (1 MiB chunks): every block is valid, but it is not the Kubo CID.
    const cid = (await unixfs(foreign).addBytes(threeMiB)).toString()
    assert.notEqual(cid, await computeCid(threeMiB))
    await b.dial(foreign.libp2p.getMultiaddrs()[0]?.toString() as string)
    const error = await rejectsWith(
      b.fetch(cid, { maxBytes: 3 * MiB }),
      'MODEL_CID_MISMATCH',
      new RegExp(`have the Kubo CID ${await computeCid(threeMiB)}`),
    )
    assert.match(error.message, /pinned Kubo profile/)
    assert.equal(await b.has(cid), false, 'a mismatching model is not pinned')
  })

  test('error: a hostile DAG cannot make a fetch hold more than its root declares', async (t) => {
    const defer = cleanups(t)
    const hostile = await startRawHelia(defer)
    const b = await startNetwork(defer)
    await b.dial(hostile.libp2p.getMultiaddrs()[0]?.toString() as string)

    // Three real 256 KiB leaves behind a root that declares 400 + 300 + 300 bytes.
    const leaves: CID[] = []
    for (const seed of ['leaf-0', 'leaf-1', 'leaf-2']) {
      const leaf = deterministicBytes(256 * 1024, seed)
      const cid = CID.createV1(0x55, await sha256.digest(leaf))
      await hostile.blockstore.put(cid, leaf)
      leaves.push(cid)
    }
    const putRoot = async (blockSizes: number[]) => {
      const block = encodeFileNode(leaves, blockSizes)
      const cid = CID.createV1(0x70, await sha256.digest(block))
      await hostile.blockstore.put(cid, block)
      return cid.toString()
    }

    const shortRoot = await putRoot([400, 300, 300])
    const events: FetchProgressEvent[] = []
    await rejectsWith(
      b.fetch(shortRoot, { maxBytes: 4096, onProgress: (event) => events.push(event) }),
      'MODEL_CID_MISMATCH',
    )
    assert.ok(events.length > 0)
    assert.ok(
      events.every((event) => event.bytes <= 1000 && event.totalBytes === 1000),
      `never more than the declared 1000 bytes: ${JSON.stringify(events.map((e) => e.bytes))}`,
    )

    // A root that declares more than its leaves hold: the DAG is malformed.
    const longRoot = await putRoot([300_000, 10, 10])
    await rejectsWith(b.fetch(longRoot, { maxBytes: MiB }), 'MODEL_INVALID')
    assert.equal(await b.has(longRoot), false)
  })

  test('error: invalid arguments and calls before start', async (t) => {
    const defer = cleanups(t)
    const dataDir = await tempDir(defer)
    await rejectsWith(createModelNetwork({ dataDir: '' }), 'INVALID_ARGUMENT', /dataDir/)
    await rejectsWith(
      createModelNetwork({ dataDir, listen: ['not a multiaddr'] }),
      'INVALID_ARGUMENT',
      /not a multiaddr/,
    )
    await rejectsWith(
      createModelNetwork({ dataDir, fetchTimeoutMs: 0 }),
      'INVALID_ARGUMENT',
      /fetchTimeoutMs/,
    )

    const network = await createModelNetwork({ dataDir })
    const cid = await computeCid(threeMiB)
    await rejectsWith(network.fetch(cid, { maxBytes: 1 }), 'NOT_STARTED', /not started/)
    await rejectsWith(network.provide(threeMiB), 'NOT_STARTED', /start\(\) first/)
    await network.start()
    defer(() => network.stop())

    for (const bad of [
      '',
      'hello',
      'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG',
      cid.toUpperCase(),
    ])
      await rejectsWith(network.fetch(bad, { maxBytes: 1 }), 'INVALID_ARGUMENT', /not a model CID/)
    await rejectsWith(network.has('nope'), 'INVALID_ARGUMENT')
    for (const maxBytes of [-1, 1.5, Number.NaN, undefined])
      await rejectsWith(
        network.fetch(cid, { maxBytes } as { maxBytes: number }),
        'INVALID_ARGUMENT',
        /maxBytes/,
      )
    await rejectsWith(network.fetch(cid, { maxBytes: 1, timeoutMs: -5 }), 'INVALID_ARGUMENT')
    await rejectsWith(network.dial('/not/a/multiaddr'), 'INVALID_ARGUMENT', /not a multiaddr/)
    await rejectsWith(
      network.provide('bytes' as unknown as Uint8Array),
      'INVALID_ARGUMENT',
      /Uint8Array/,
    )
  })

  test('error: dialling a peer that is not there fails fast with a clear error', async (t) => {
    const defer = cleanups(t)
    const a = await startNetwork(defer)
    const gone = await startNetwork(defer)
    const address = gone.multiaddrs()[0] as string
    await gone.stop()
    await rejectsWith(a.dial(address), 'PEER_UNREACHABLE', /Could not connect to the peer at/)

    // A live peer under another peer id: the Noise handshake refuses it.
    const other = await startNetwork(defer)
    const [live] = other.multiaddrs() as [string]
    await rejectsWith(
      a.dial(live.replace(other.peerId, gone.peerId)),
      'PEER_UNREACHABLE',
      /Could not connect/,
    )
    await rejectsWith(a.dial(a.multiaddrs()[0] as string), 'INVALID_ARGUMENT', /own address/)
    const controller = new AbortController()
    controller.abort()
    await rejectsWith(a.dial(live, { signal: controller.signal }), 'ABORTED')
  })
})
