import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, type TestContext, test } from 'node:test'
import { createOnnxEngine, type Engine } from '@verity/engine'
import { computeCid } from '@verity/hub'
import type { DemoModels } from '@verity/models'
import { buildTinyGguf } from '@verity/models'
import {
  type BaseError,
  createInferenceRequest,
  createReceipt,
  type ErrorCode,
  type Hash,
  hashManifest,
  hashTensors,
  isBaseError,
  localDomain,
  type Manifest,
  namedTensorsFromJson,
} from '@verity/protocol'
import { Registry } from 'prom-client'
import { zeroAddress } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createLogger } from '../logger.ts'
import { demoModels, tempDir } from '../testing/fixtures.ts'
import { createVerificationStore } from '../verification/createVerificationStore.ts'
import { createVerifier } from '../verification/createVerifier.ts'
import { createStaticPeerDirectory } from '../verification/peerDirectory.ts'
import { createVerificationMetrics } from '../verification/verificationMetrics.ts'
import { createModelDistribution } from './createModelDistribution.ts'
import type { DistributionPeer, ModelFetchProgressEvent } from './modelDistribution.ts'
import {
  defaultModelDistributionOptions,
  modelDistributionPaths,
  resolveModelDistributionOptions,
} from './options.ts'
import {
  type ModelPeer,
  type StartModelPeerOptions,
  startModelPeer,
} from './testing/startModelPeer.ts'

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

async function metric(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const found = (await registry.getMetricsAsJSON()).find((entry) => entry.name === name)
  const value = found?.values.find((entry) =>
    Object.entries(labels).every(([key, wanted]) => String(entry.labels[key]) === wanted),
  )
  return value?.value ?? 0
}

/** Block files in a node's IPFS blockstore. */
async function countBlocks(dir: string): Promise<number> {
  const folder = join(modelDistributionPaths(dir).ipfs, 'blocks')
  if (!existsSync(folder)) return 0
  return (await readdir(folder, { recursive: true })).filter((name) => name.endsWith('.data'))
    .length
}

describe('createModelDistribution', () => {
  let demo: DemoModels
  let engine: Engine
  /** The publisher: holds the int8 demo model. */
  let a: ModelPeer
  let cid: string
  let manifestHash: Hash
  let manifest: Manifest
  const launched: ModelPeer[] = []

  async function peer(
    t: TestContext,
    options: Omit<StartModelPeerOptions, 'index'> & { index?: number },
  ): Promise<ModelPeer> {
    const node = await startModelPeer({ engine, index: 10 + launched.length, ...options })
    launched.push(node)
    t.after(() => node.stop())
    return node
  }

  before(async () => {
    demo = await demoModels()
    engine = createOnnxEngine()
    a = await startModelPeer({ index: 1, peers: () => [], engine: createOnnxEngine() })
    const published = await a.models.publish({ bytes: demo.int8Model, name: 'digits-int8' })
    ;({ cid, manifestHash, manifest } = published)
  })

  after(async () => {
    await a?.stop()
    await a?.engine.close()
    await engine?.close()
  })

  test('default', async (t) => {
    const resolved = resolveModelDistributionOptions({ dataDir: '/data' })
    assert.equal(resolved.ipfsDir, '/data/ipfs')
    assert.deepEqual(resolved.listen, ['/ip4/127.0.0.1/tcp/0'])
    assert.equal(resolved.fetchTimeoutMs, defaultModelDistributionOptions.fetchTimeoutMs)
    assert.equal(modelDistributionPaths('/data').peerKey, '/data/ipfs/peer.key')
    assert.throws(
      () => resolveModelDistributionOptions({ dataDir: '/data', fetchTimeoutMs: 0 }),
      (error) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    // the peer key is created once in <dataDir>/ipfs/peer.key and kept
    const { dir, remove } = await tempDir('verity-distribution-key-')
    t.after(remove)
    const components = {
      store: a.store,
      engine,
      peers: { list: async () => [] },
      registry: new Registry(),
      logger: createLogger({ level: 'silent' }),
    }
    const first = await createModelDistribution({ dataDir: dir }, components)
    const second = await createModelDistribution(
      { dataDir: dir },
      { ...components, registry: new Registry() },
    )
    assert.ok(existsSync(join(dir, 'ipfs', 'peer.key')))
    assert.match(first.peerId, /^12D3KooW/)
    assert.equal(second.peerId, first.peerId)
    assert.deepEqual(first.multiaddrs(), [])
    await rejectsWith(first.fetch({ cid, manifestHash }), 'NOT_STARTED')
    await rejectsWith(first.fetch({ cid: 'digits', manifestHash }), 'INVALID_ARGUMENT')
    // the publisher announces itself on loopback with its /p2p/ id
    assert.ok(a.distribution.multiaddrs().length > 0)
    for (const address of a.distribution.multiaddrs())
      assert.match(
        address,
        new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.distribution.peerId}$`),
      )
  })

  test('behavior: a node fetches a model another node published, then runs it with the same output hash', async (t) => {
    const b = await peer(t, { peers: () => [a.peer], engine: createOnnxEngine() })
    t.after(() => b.engine.close())
    const events: ModelFetchProgressEvent[] = []
    const at: Record<string, number> = {}
    const started = performance.now()
    const model = await b.distribution.fetch({
      cid,
      manifestHash,
      onProgress: (event) => {
        events.push(event)
        at[event.type] ??= performance.now() - started
      },
    })
    const ms = performance.now() - started
    t.diagnostic(
      `fetched ${demo.int8Model.length} bytes in ${ms.toFixed(0)} ms (${Object.entries(at)
        .map(([type, time]) => `${type} at ${time.toFixed(0)} ms`)
        .join(', ')})`,
    )
    assert.equal(model.cid, cid)
    assert.equal(model.manifestHash, manifestHash)
    assert.deepEqual((await b.store.resolve(cid)).manifest, manifest)
    assert.deepEqual(new Uint8Array(await b.store.read(cid, { verify: true })), demo.int8Model)
    assert.deepEqual(
      events.map((event) => event.type).filter((type, i, all) => all[i - 1] !== type),
      ['peers', 'dial', 'transfer', 'store'],
    )
    const last = events.findLast((event) => event.type === 'transfer')
    assert.deepEqual(last, {
      type: 'transfer',
      cid,
      bytes: demo.int8Model.length,
      totalBytes: demo.int8Model.length,
    })
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'fetched' }), 1)
    assert.equal(await metric(b.registry, 'verity_model_fetch_bytes_total'), demo.int8Model.length)
    assert.match(
      await b.registry.getSingleMetricAsString('verity_model_fetch_seconds'),
      /verity_model_fetch_seconds_count\{status="fetched"\} 1$/m,
    )

    // both nodes run it, each in its own engine, with the same output hash
    const sample = demo.samples[0]
    assert.ok(sample)
    const inputs = namedTensorsFromJson(sample.int8Input)
    await a.models.load(await a.models.resolve(cid))
    await b.models.load(model)
    const ranA = await a.engine.run({ id: cid, inputs })
    const ranB = await b.engine.run({ id: cid, inputs })
    assert.equal(hashTensors(ranB.outputs), hashTensors(ranA.outputs))

    // a second resolve is served from the store: no peer is asked again
    const asked = a.requests.get(`/v1/models/${cid}`)
    const again = await b.models.resolve(cid, { manifestHash })
    assert.equal(again.manifestHash, manifestHash)
    assert.equal(a.requests.get(`/v1/models/${cid}`), asked)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'fetched' }), 1)

    // and B now serves it: C, who knows only B, gets it from B
    const c = await peer(t, { peers: () => [b.peer] })
    const fromB = await c.models.resolve(cid, { manifestHash })
    assert.equal(fromB.manifestHash, manifestHash)
    assert.equal(b.requests.get(`/v1/models/${cid}`), 1)
  })

  test('behavior: a GGUF model is fetched too: its decoding is kept and it is trial-loaded by llama.cpp', async (t) => {
    const published = await a.models.publish({
      bytes: buildTinyGguf(),
      name: 'tiny',
      license: 'MIT',
    })
    assert.equal(published.manifest.format, 'gguf')
    const b = await peer(t, { peers: () => [a.peer] })
    const model = await b.distribution.fetch({
      cid: published.cid,
      manifestHash: published.manifestHash,
    })
    assert.equal(model.manifestHash, published.manifestHash)
    assert.deepEqual(model.manifest.gguf, published.manifest.gguf)
  })

  test('behavior: a verifier fetches the model of a receipt on first use and agrees', async (t) => {
    const b = await peer(t, { peers: () => [a.peer] })
    const executor = privateKeyToAccount(`0x${'44'.repeat(32)}`)
    const verifierAccount = privateKeyToAccount(`0x${'45'.repeat(32)}`)
    const sample = demo.samples[1]
    assert.ok(sample)
    const inputs = namedTensorsFromJson(sample.int8Input)
    await a.models.load(await a.models.resolve(cid))
    const { outputs } = await a.engine.run({ id: cid, inputs })
    const request = createInferenceRequest({
      modelCid: cid,
      manifestHash,
      inputs,
      mode: 'reexec',
      quorum: 1,
      deadline: 4_102_444_800n,
      nonce: `0x${'01'.padStart(64, '0')}`,
    })
    const receipt = await createReceipt({
      account: executor,
      requester: zeroAddress,
      request,
      outputs,
      engine: engine.descriptor,
      includeOutput: true,
    })
    const { dir, remove } = await tempDir('verity-distribution-verifier-')
    const store = createVerificationStore({ path: join(dir, 'node.sqlite') })
    t.after(async () => {
      store.close()
      await remove()
    })
    const verifier = createVerifier(
      { domain: localDomain, enabled: true },
      {
        account: verifierAccount,
        engine: b.engine,
        models: b.models,
        peers: createStaticPeerDirectory([
          { address: executor.address, url: 'http://127.0.0.1:9' },
        ]),
        store,
        metrics: createVerificationMetrics(new Registry()),
        logger: createLogger({ level: 'silent' }),
        signal: new AbortController().signal,
      },
    )
    assert.deepEqual(await b.store.list(), [])
    const { attestation } = await verifier.verify({ receipt, inputs })
    assert.equal(attestation.agree, true)
    assert.equal(attestation.outputHash, receipt.result.outputHash)
    assert.equal((await b.store.resolve(cid)).manifestHash, manifestHash)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'fetched' }), 1)
  })

  test('behavior: concurrent fetches of one model share one transfer', async (t) => {
    const b = await peer(t, { peers: () => [a.peer] })
    const asked = a.requests.get(`/v1/models/${cid}`) ?? 0
    const leaving = new AbortController()
    const progress: number[] = []
    const calls = [
      b.models.resolve(cid, { manifestHash }),
      b.distribution.fetch({ cid, manifestHash, onProgress: () => progress.push(1) }),
      b.models.resolve(cid, { manifestHash, signal: leaving.signal }),
      b.distribution.fetch({ cid, manifestHash }),
    ]
    leaving.abort()
    const results = await Promise.allSettled(calls)
    assert.equal(results[2]?.status, 'rejected')
    assert.ok(isBaseError((results[2] as PromiseRejectedResult).reason, 'ABORTED'))
    for (const index of [0, 1, 3]) {
      const result = results[index]
      assert.equal(result?.status, 'fulfilled', String((result as PromiseRejectedResult).reason))
      assert.equal((result as PromiseFulfilledResult<{ cid: string }>).value.cid, cid)
    }
    assert.ok(progress.length > 0)
    assert.equal(a.requests.get(`/v1/models/${cid}`), asked + 1)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'fetched' }), 1)
    assert.equal(await metric(b.registry, 'verity_model_fetch_bytes_total'), demo.int8Model.length)
  })

  test('error: a wrong manifest hash is refused and nothing is stored', async (t) => {
    const b = await peer(t, { peers: () => [a.peer] })
    const wrong = `0x${'ab'.repeat(32)}` as Hash
    const error = await rejectsWith(
      b.models.resolve(cid, { manifestHash: wrong }),
      'MANIFEST_HASH_MISMATCH',
      new RegExp(`holds it with manifest ${manifestHash}`),
    )
    assert.match(error.message, new RegExp(a.address))
    assert.deepEqual(await b.store.list(), [])
    assert.equal(await countBlocks(b.dir), 0)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'mismatch' }), 1)
    // a name or a CID without manifest hash is never fetched
    const asked = a.requests.get(`/v1/models/${cid}`)
    await rejectsWith(b.models.resolve(cid), 'MODEL_NOT_FOUND')
    await rejectsWith(b.models.resolve('digits-int8', { manifestHash }), 'MODEL_NOT_FOUND')
    assert.equal(a.requests.get(`/v1/models/${cid}`), asked)
    assert.equal(a.requests.get('/v1/models/digits-int8'), undefined)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total'), 1)
  })

  test('error: a manifest that does not describe the bytes is refused and nothing is stored', async (t) => {
    // E serves a manifest with another input shape (and the right CID), and A's IPFS addresses
    const lying: Manifest = {
      ...manifest,
      inputs: manifest.inputs.map((spec) => ({ ...spec, shape: [2, 1, 28, 28] })),
    }
    const shrunk: Manifest = { ...manifest, size: 1000 }
    const served = new Map<string, Manifest>([
      [hashManifest(lying), lying],
      [hashManifest(shrunk), shrunk],
    ])
    let current: Manifest = lying
    const e = await peer(t, {
      peers: () => [],
      modelInfo: () => ({ cid, manifestHash: hashManifest(current), manifest: current }),
      networkInfo: (info) => ({
        ...info,
        ipfs: { peerId: a.distribution.peerId, multiaddrs: a.distribution.multiaddrs() },
      }),
    })
    const b = await peer(t, { peers: () => [{ address: e.address, url: e.url }] })
    assert.equal(served.size, 2)
    await rejectsWith(
      b.models.resolve(cid, { manifestHash: hashManifest(lying) }),
      'MANIFEST_HASH_MISMATCH',
      /does not describe the bytes.*\n[\s\S]*inputs/,
    )
    assert.deepEqual(await b.store.list(), [])
    current = shrunk
    await rejectsWith(
      b.models.resolve(cid, { manifestHash: hashManifest(shrunk) }),
      'MANIFEST_HASH_MISMATCH',
      /declares 1000 bytes/,
    )
    assert.deepEqual(await b.store.list(), [])
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'mismatch' }), 2)
  })

  test('behavior: a peer whose multiaddrs name another peer id is skipped', async (t) => {
    // E has no model of its own but answers with A's manifest and A's addresses, while the
    // directory registers E's own peer id for it: following them would reach A and succeed.
    const e = await peer(t, {
      peers: () => [],
      modelInfo: () => ({ cid, manifestHash, manifest }),
      networkInfo: (info) => ({
        ...info,
        ipfs: { peerId: info.ipfs.peerId, multiaddrs: a.distribution.multiaddrs() },
      }),
    })
    const b = await peer(t, { peers: () => [e.peer] })
    const error = await rejectsWith(b.models.resolve(cid, { manifestHash }), 'PEER_UNREACHABLE')
    assert.match(
      error.message,
      new RegExp(`names peer ${a.distribution.peerId}, expected ${e.distribution.peerId}`),
    )
    assert.deepEqual(await b.store.list(), [])

    // without /p2p/ the id is appended, so the handshake with A (another key) fails
    const stripped = await peer(t, {
      peers: () => [],
      modelInfo: () => ({ cid, manifestHash, manifest }),
      networkInfo: (info) => ({
        ...info,
        ipfs: {
          peerId: info.ipfs.peerId,
          multiaddrs: a.distribution
            .multiaddrs()
            .map((address) => address.replace(/\/p2p\/.*$/, '')),
        },
      }),
    })
    const b2 = await peer(t, { peers: () => [stripped.peer] })
    await rejectsWith(
      b2.models.resolve(cid, { manifestHash }),
      'PEER_UNREACHABLE',
      /no libp2p address could be dialled/,
    )
    assert.deepEqual(await b2.store.list(), [])

    // an announced peer id that contradicts the directory is refused too
    const b3 = await peer(t, { peers: () => [{ ...a.peer, peerId: e.distribution.peerId }] })
    await rejectsWith(
      b3.models.resolve(cid, { manifestHash }),
      'PEER_UNREACHABLE',
      /the peer directory registers/,
    )

    // with A listed after E, the fetch skips E and succeeds from A
    const dialled: string[] = []
    const b4 = await peer(t, { peers: () => [e.peer, a.peer] })
    const model = await b4.distribution.fetch({
      cid,
      manifestHash,
      onProgress: (event) => {
        if (event.type === 'dial') dialled.push(event.peerId)
      },
    })
    assert.equal(model.manifestHash, manifestHash)
    assert.deepEqual(dialled, [a.distribution.peerId])
  })

  test('error: no peer has the model: MODEL_NOT_FOUND within the timeout, listing who was asked', async (t) => {
    const empty1 = await peer(t, { peers: () => [] })
    const empty2 = await peer(t, { peers: () => [] })
    const b = await peer(t, { peers: () => [empty1.peer, empty2.peer, b.peer] })
    const error = await rejectsWith(
      b.models.resolve(cid, { manifestHash }),
      'MODEL_NOT_FOUND',
      /2 asked/,
    )
    assert.match(error.message, new RegExp(empty1.address))
    assert.match(error.message, new RegExp(empty2.address))
    assert.doesNotMatch(error.message, new RegExp(b.address))

    // a peer that claims the model but whose IPFS node lacks it: the idle timeout ends the wait
    const claimer = await peer(t, {
      peers: () => [],
      modelInfo: () => ({ cid, manifestHash, manifest }),
    })
    const c = await peer(t, { peers: () => [claimer.peer], distribution: { fetchTimeoutMs: 300 } })
    const started = performance.now()
    await rejectsWith(
      c.models.resolve(cid, { manifestHash }),
      'MODEL_NOT_FOUND',
      /sent no block for 300 ms/,
    )
    const ms = performance.now() - started
    t.diagnostic(`MODEL_NOT_FOUND after ${ms.toFixed(0)} ms (timeout 300 ms)`)
    assert.ok(ms < 3000, `took ${ms} ms`)
    assert.deepEqual(await c.store.list(), [])
    assert.equal(await metric(c.registry, 'verity_model_fetches_total', { status: 'not_found' }), 1)

    // nobody to ask at all
    const alone = await peer(t, { peers: () => [] })
    await rejectsWith(
      alone.models.resolve(cid, { manifestHash }),
      'MODEL_NOT_FOUND',
      /no peer is known/,
    )
  })

  test('behavior: a caller that gives up detaches; stop aborts the fetches in flight', async (t) => {
    // the claimer serves the manifest but has no blocks: fetches from it wait for data
    const claimer = await peer(t, {
      peers: () => [],
      modelInfo: () => ({ cid, manifestHash, manifest }),
    })
    const c = await peer(t, {
      peers: () => [claimer.peer],
      distribution: { fetchTimeoutMs: 30_000 },
    })
    /** Starts a fetch; resolves `dialled` once it dials the claimer. */
    const start = (signal?: AbortSignal) => {
      let dialled: () => void = () => {}
      const dialling = new Promise<void>((resolve) => {
        dialled = resolve
      })
      const fetching = c.distribution.fetch({
        cid,
        manifestHash,
        signal,
        onProgress: (event) => event.type === 'dial' && dialled(),
      })
      // observed at once: the rejection may come before the test awaits it
      const outcome = fetching.then(
        () => undefined,
        (error: unknown) => error,
      )
      return { dialling, outcome }
    }

    // the only caller leaves: its call rejects at once and the attempt is dropped
    const leaving = new AbortController()
    const first = start(leaving.signal)
    await first.dialling
    leaving.abort()
    assert.ok(isBaseError(await first.outcome, 'ABORTED'))

    // a new caller starts afresh (it dials again), then stop() aborts it
    const second = start()
    await second.dialling
    const started = performance.now()
    await c.distribution.stop()
    const error = await second.outcome
    assert.ok(isBaseError(error, 'ABORTED'), String(error))
    assert.match(error.message, /stopped/)
    assert.ok(performance.now() - started < 5000)
    assert.deepEqual(await c.store.list(), [])
    assert.equal(await metric(c.registry, 'verity_model_fetches_total', { status: 'aborted' }), 2)
    await rejectsWith(c.distribution.fetch({ cid, manifestHash }), 'NOT_STARTED')
  })

  test('error: unreachable peers: PEER_UNREACHABLE', async (t) => {
    const closed = await peer(t, { peers: () => [] })
    const gone: DistributionPeer = { address: closed.address, url: closed.url }
    await closed.stop()
    const b = await peer(t, { peers: () => [gone], distribution: { httpTimeoutMs: 1000 } })
    const error = await rejectsWith(b.models.resolve(cid, { manifestHash }), 'PEER_UNREACHABLE')
    assert.match(error.message, new RegExp(gone.url.replaceAll('.', '\\.')))
    assert.equal(
      await metric(b.registry, 'verity_model_fetches_total', { status: 'unreachable' }),
      1,
    )
  })

  test('error: a model larger than maxModelBytes is refused before it is downloaded', async (t) => {
    const b = await peer(t, { peers: () => [a.peer], distribution: { maxModelBytes: 10_000 } })
    await rejectsWith(
      b.models.resolve(cid, { manifestHash }),
      'MODEL_TOO_LARGE',
      new RegExp(`has ${demo.int8Model.length} bytes, more than the 10000`),
    )
    assert.deepEqual(await b.store.list(), [])
    assert.equal(await countBlocks(b.dir), 0)
    assert.equal(await metric(b.registry, 'verity_model_fetches_total', { status: 'too_large' }), 1)
  })

  test('behavior: start provides the models already stored', async (t) => {
    // D stores the float model while its network is stopped (the announcement fails and is
    // logged); starting it again provides the stored model
    const d = await peer(t, { peers: () => [] })
    await d.distribution.stop()
    const published = await d.models.publish({ bytes: demo.floatModel, name: 'digits-float' })
    await d.distribution.start()
    const b = await peer(t, { peers: () => [d.peer] })
    const model = await b.models.resolve(published.cid, { manifestHash: published.manifestHash })
    assert.equal(model.manifestHash, published.manifestHash)
    assert.deepEqual(
      new Uint8Array(await b.store.read(published.cid, { verify: true })),
      demo.floatModel,
    )
  })

  test('behavior: files a model names are served beside it from start-up and fetched by CID from its holders', async (t) => {
    // 300 kB of deterministic bytes: more than one 256 KiB UnixFS chunk
    const file = new Uint8Array(300_000).map((_, i) => (i * 131 + (i >> 9)) & 0xff)
    const fileCid = await computeCid(file)
    const absentCid = await computeCid(file.subarray(1))
    const holder = await peer(t, {
      peers: () => [],
      attachments: {
        held: async (model) => (model.cid === cid ? [fileCid] : []),
        read: async () => file,
      },
    })
    await holder.models.publish({ bytes: demo.int8Model, name: 'digits-int8' })
    // the attachment is provided by start, with the stored models
    await holder.distribution.stop()
    await holder.distribution.start()
    const b = await peer(t, { peers: () => [holder.peer], distribution: { fetchTimeoutMs: 300 } })
    const model = { cid, manifestHash }
    const [fetched] = await b.distribution.fetchFiles({
      model,
      cids: [fileCid],
      maxBytes: file.length,
    })
    assert.deepEqual(fetched, file)
    assert.equal(await metric(b.registry, 'verity_model_fetch_bytes_total'), file.length)
    // pinned: served from the local store without asking anyone
    holder.requests.clear()
    const [again] = await b.distribution.fetchFiles({
      model,
      cids: [fileCid],
      maxBytes: file.length,
    })
    assert.deepEqual(again, file)
    assert.equal(holder.requests.size, 0)

    const c = await peer(t, { peers: () => [holder.peer], distribution: { fetchTimeoutMs: 300 } })
    await rejectsWith(
      c.distribution.fetchFiles({ model, cids: [fileCid], maxBytes: file.length - 1 }),
      'MODEL_TOO_LARGE',
    )
    const missing = await rejectsWith(
      c.distribution.fetchFiles({ model, cids: [absentCid], maxBytes: file.length }),
      'MODEL_NOT_FOUND',
      /sent the file/,
    )
    assert.match(missing.details ?? '', /sent no block/)
    // only the holders of the model are asked, under its manifest
    await rejectsWith(
      c.distribution.fetchFiles({
        model: { cid, manifestHash: `0x${'11'.repeat(32)}` },
        cids: [fileCid],
        maxBytes: file.length,
      }),
      'MODEL_NOT_FOUND',
    )
    for (const cids of [[], ['digits'], Array.from({ length: 65 }, () => fileCid)])
      await rejectsWith(
        c.distribution.fetchFiles({ model, cids, maxBytes: file.length }),
        'INVALID_ARGUMENT',
      )
    await rejectsWith(
      c.distribution.fetchFiles({ model, cids: [fileCid], maxBytes: 0 }),
      'INVALID_ARGUMENT',
    )
    await c.distribution.stop()
    await rejectsWith(
      c.distribution.fetchFiles({ model, cids: [fileCid], maxBytes: file.length }),
      'NOT_STARTED',
    )
  })

  test('behavior: a file a holder sends nothing of over bitswap is taken from its API, held to the CID', async (t) => {
    const file = new Uint8Array(300_000).map((_, i) => (i * 7 + (i >> 11)) & 0xff)
    const fileCid = await computeCid(file)
    const otherCid = await computeCid(file.subarray(7))
    // the holder's blockstore lacks the file (nothing provided); its API serves it, and other
    // bytes under a second CID
    const holder = await peer(t, {
      peers: () => [],
      files: new Map([
        [fileCid, file],
        [otherCid, file],
      ]),
    })
    await holder.models.publish({ bytes: demo.int8Model, name: 'digits-int8' })
    const overApi = {
      held: async () => [],
      read: async () => new Uint8Array(),
      path: (cid: string) => `/v1/files/${cid}`,
    }
    const b = await peer(t, {
      peers: () => [holder.peer],
      distribution: { fetchTimeoutMs: 300 },
      attachments: overApi,
    })
    const model = { cid, manifestHash }
    const [fetched] = await b.distribution.fetchFiles({ model, cids: [fileCid], maxBytes: 400_000 })
    assert.deepEqual(fetched, file)
    assert.equal(holder.requests.get(`/v1/files/${fileCid}`), 1)
    // pinned here: served from the local store from then on
    const [again] = await b.distribution.fetchFiles({ model, cids: [fileCid], maxBytes: 400_000 })
    assert.deepEqual(again, file)
    assert.equal(holder.requests.get(`/v1/files/${fileCid}`), 1)
    // bytes that are not the CID's, an absent file and a file over the limit are refused
    for (const [cids, maxBytes, reason] of [
      [[otherCid], 400_000, /sent other bytes over HTTP/],
      [[await computeCid(file.subarray(9))], 400_000, /answered 404 over HTTP/],
      [[otherCid], 1000, /failed over HTTP/],
    ] as const) {
      const refused = await rejectsWith(
        b.distribution.fetchFiles({ model, cids: [...cids], maxBytes }),
        'MODEL_NOT_FOUND',
      )
      assert.match(refused.details ?? '', reason)
    }
  })
})
