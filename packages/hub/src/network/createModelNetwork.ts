import { mkdir } from 'node:fs/promises'
import { join, resolve as resolvePath } from 'node:path'
import { type UnixFS, unixfs } from '@helia/unixfs'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { BaseError, isBaseError, toBaseError } from '@verity/protocol'
import { FsBlockstore } from 'blockstore-fs'
import { FsDatastore } from 'datastore-fs'
import { CID } from 'multiformats/cid'
import { computeCid, kuboImporterOptions } from '../computeCid.ts'
import { createHeliaNode, type HeliaNode } from './createHeliaNode.ts'
import { loadOrCreatePeerKey } from './loadOrCreatePeerKey.ts'
import type {
  DialOptions,
  DialReturnType,
  FetchModelOptions,
  ModelNetwork,
  ModelNetworkComponents,
  ProvideOptions,
} from './modelNetwork.ts'
import {
  defaultModelNetworkOptions,
  type ModelNetworkOptions,
  modelNetworkLayout,
  type ResolvedModelNetworkOptions,
} from './options.ts'

const rawCode = 0x55
const dagPbCode = 0x70
const sha256Code = 0x12

/** Error names of ipfs-unixfs-exporter / @helia/unixfs / dag-pb for DAGs that are not a file. */
const malformedDagErrors = new Set([
  'NotUnixFSError',
  'InvalidPBNodeError',
  'NotAFileError',
  'NoContentError',
  'OverReadError',
  'UnderReadError',
  'NoResolverError',
  'InvalidMultihashError',
])

/** The pinned Kubo import settings (`kuboImporterOptions`) without the importer-only keys. */
const { onProgress, wrapWithDirectory, ...importerOptions } = kuboImporterOptions

type Running = {
  helia: HeliaNode
  fs: UnixFS
  /** Aborted by `stop`: every operation in flight listens to it. */
  stopped: AbortController
}

/**
 * Creates (not started) the node's model network: a Helia node with a persistent blockstore and
 * datastore under `options.dataDir`, bitswap over libp2p (TCP, Noise, Yamux), and no automatic
 * peer discovery. Loads or creates the peer key first, so `peerId` is known at once.
 *
 * @example
 * ```ts
 * const a = await createModelNetwork({ dataDir: '/var/lib/verity/a/ipfs' })
 * const b = await createModelNetwork({ dataDir: '/var/lib/verity/b/ipfs' }, { logger })
 * await a.start()
 * await b.start()
 * const cid = await a.provide(modelBytes)
 * await b.dial(a.multiaddrs()[0])
 * const bytes = await b.fetch(cid, { maxBytes: 64 * 1024 * 1024, onProgress: console.log })
 * await b.stop()
 * await a.stop()
 * ```
 */
export async function createModelNetwork(
  options: ModelNetworkOptions,
  components: ModelNetworkComponents = {},
): Promise<ModelNetwork> {
  const resolved = resolveModelNetworkOptions(options)
  const dataDir = resolvePath(resolved.dataDir)
  await mkdir(dataDir, { recursive: true, mode: 0o700 })
  const privateKey =
    resolved.privateKey ?? (await loadOrCreatePeerKey(join(dataDir, modelNetworkLayout.peerKey)))
  const peerId = peerIdFromPrivateKey(privateKey).toString()
  const log = components.logger

  let running: Running | undefined
  /** start/stop run one at a time, in call order. */
  let lifecycle: Promise<unknown> = Promise.resolve()

  function serialize(task: () => Promise<void>): Promise<void> {
    const run = lifecycle.then(task, task)
    lifecycle = run.catch(() => undefined)
    return run
  }

  function requireRunning(operation: string): Running {
    if (running === undefined)
      throw new BaseError('NOT_STARTED', `The model network is not started: cannot ${operation}.`, {
        metaMessages: ['Call network.start() first (and do not use it after network.stop()).'],
      })
    return running
  }

  async function start(): Promise<void> {
    await serialize(async () => {
      if (running !== undefined) return
      const blockstore = new FsBlockstore(join(dataDir, modelNetworkLayout.blocks))
      const datastore = new FsDatastore(join(dataDir, modelNetworkLayout.datastore))
      await blockstore.open()
      await datastore.open()
      const helia = createHeliaNode({
        blockstore,
        datastore,
        listen: resolved.listen,
        privateKey,
      })
      try {
        await helia.start()
      } catch (cause) {
        await helia.stop().catch(() => undefined)
        throw new BaseError(
          'INVALID_ARGUMENT',
          `The model network could not start on ${resolved.listen.join(', ')}.`,
          {
            details: cause instanceof Error ? cause.message : String(cause),
            metaMessages: [
              'Check the listen multiaddrs (e.g. /ip4/127.0.0.1/tcp/0) and that the port is free.',
              `Check that ${dataDir} is writable and used by one process only.`,
            ],
            cause,
          },
        )
      }
      running = { helia, fs: unixfs(helia), stopped: new AbortController() }
      log?.info({ peerId, multiaddrs: multiaddrs() }, 'model network started')
    })
  }

  async function stop(): Promise<void> {
    await serialize(async () => {
      const current = running
      if (current === undefined) return
      running = undefined
      current.stopped.abort(
        new BaseError('ABORTED', 'The model network was stopped.', {
          metaMessages: ['Start it again to fetch models.'],
        }),
      )
      await current.helia.stop()
      log?.info({ peerId }, 'model network stopped')
    })
  }

  function multiaddrs(): string[] {
    if (running === undefined) return []
    return running.helia.libp2p.getMultiaddrs().map((address) => address.toString())
  }

  async function dial(address: string, dialOptions: DialOptions = {}): Promise<DialReturnType> {
    let target: Multiaddr
    try {
      target = multiaddr(address)
    } catch (cause) {
      throw new BaseError('INVALID_ARGUMENT', `${JSON.stringify(address)} is not a multiaddr.`, {
        metaMessages: ['Expected e.g. /ip4/127.0.0.1/tcp/4001/p2p/12D3KooW…'],
        cause,
      })
    }
    const { helia, stopped } = requireRunning('dial')
    const targetPeer = target.getComponents().findLast((part) => part.name === 'p2p')?.value
    if (targetPeer === peerId)
      throw new BaseError('INVALID_ARGUMENT', `${address} is this node's own address.`, {
        metaMessages: ['Skip this node when dialling the peers listed in NodeRegistry.'],
      })
    const signal = AbortSignal.any([
      stopped.signal,
      AbortSignal.timeout(resolved.dialTimeoutMs),
      ...(dialOptions.signal ? [dialOptions.signal] : []),
    ])
    try {
      const connection = await helia.libp2p.dial(target, { signal })
      const remote = connection.remotePeer.toString()
      log?.debug({ peer: remote, multiaddr: address }, 'dialled peer')
      return { peerId: remote }
    } catch (cause) {
      if (dialOptions.signal?.aborted) throw aborted(`Dialling ${address}`, dialOptions.signal)
      if (stopped.signal.aborted) throw aborted(`Dialling ${address}`, stopped.signal)
      throw new BaseError('PEER_UNREACHABLE', `Could not connect to the peer at ${address}.`, {
        details: cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause),
        metaMessages: [
          `Check that the peer is running and reachable, and that the /p2p/ id matches its key (waited at most ${resolved.dialTimeoutMs} ms).`,
          'Peers and their multiaddrs come from NodeRegistry; a node that re-keyed must update its entry.',
        ],
        cause,
      })
    }
  }

  async function provide(bytes: Uint8Array, provideOptions: ProvideOptions = {}): Promise<string> {
    if (!(bytes instanceof Uint8Array))
      throw new BaseError('INVALID_ARGUMENT', 'provide() expects the model file as a Uint8Array.', {
        metaMessages: ['Read the file first: await readFile(path)'],
      })
    const { helia, fs, stopped } = requireRunning('provide a model')
    const signal = anySignal(stopped.signal, provideOptions.signal)
    const started = performance.now()
    try {
      const expected = await computeCid(bytes)
      const root = CID.parse(expected)
      if (await helia.pins.isPinned(root, { signal })) return expected
      const cid = (await fs.addBytes(bytes, { ...importerOptions, signal })).toString()
      if (cid !== expected)
        throw new BaseError(
          'INTERNAL',
          `Helia imported the model as ${cid} but computeCid gives ${expected}.`,
          {
            metaMessages: [
              'The importer settings drifted from the pinned Kubo profile (kuboImporterOptions): check the @helia/unixfs and ipfs-unixfs-importer versions.',
            ],
          },
        )
      await pin(helia, root, signal)
      log?.info(
        { cid, bytes: bytes.byteLength, ms: Math.round(performance.now() - started) },
        'model provided',
      )
      return cid
    } catch (cause) {
      if (provideOptions.signal?.aborted) throw aborted('Providing a model', provideOptions.signal)
      if (stopped.signal.aborted) throw aborted('Providing a model', stopped.signal)
      throw toBaseError(cause, 'INTERNAL')
    }
  }

  async function has(cid: string): Promise<boolean> {
    const root = parseModelCid(cid)
    const { helia } = requireRunning('look up a model')
    return helia.pins.isPinned(root)
  }

  async function fetch(cid: string, fetchOptions: FetchModelOptions): Promise<Uint8Array> {
    const root = parseModelCid(cid)
    const maxBytes = fetchOptions?.maxBytes
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `fetch() needs maxBytes, the largest file accepted, as a non-negative integer; got ${String(maxBytes)}.`,
        { metaMessages: ['Use the size limit of the engine that will load the model.'] },
      )
    const timeoutMs = fetchOptions.timeoutMs ?? resolved.fetchTimeoutMs
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `timeoutMs must be a positive number; got ${timeoutMs}.`,
      )
    const { helia, fs, stopped } = requireRunning('fetch a model')

    // The idle timer: restarted whenever a block or file bytes arrive.
    const idle = new AbortController()
    const timer = setTimeout(() => idle.abort(), timeoutMs)
    const signal = anySignal(stopped.signal, fetchOptions.signal, idle.signal)
    const onHeliaProgress = (event: { type: string }) => {
      if (event.type === 'blocks:get:blockstore:put') timer.refresh()
    }
    const started = performance.now()
    let received = 0
    let declared: number | undefined
    const local = await helia.pins.isPinned(root, { signal }).catch(() => false)
    try {
      const stats = await fs.stat(root, { signal, onProgress: onHeliaProgress, offline: local })
      if (stats.type === 'directory')
        throw new BaseError('MODEL_INVALID', `${cid} is a UnixFS directory, not a model file.`, {
          metaMessages: ['Publish the model file itself (ipfs add --cid-version=1 model.onnx).'],
        })
      if (stats.size > BigInt(maxBytes))
        throw new BaseError(
          'MODEL_TOO_LARGE',
          `The model ${cid} has ${stats.size} bytes, more than the ${maxBytes} allowed.`,
          {
            metaMessages: [
              'Nothing beyond its root block was downloaded. Raise maxBytes if the model is trusted and the engine can hold it.',
            ],
          },
        )
      declared = Number(stats.size)
      timer.refresh()
      fetchOptions.onProgress?.({ cid, bytes: 0, totalBytes: declared })
      // Allocation is bounded by maxBytes; the exporter never yields more than the root declares,
      // and the check below guards that independently.
      const buffer = new Uint8Array(declared)
      // `blockReadConcurrency` goes through to ipfs-unixfs-exporter, which reads it; the
      // CatOptions type of @helia/unixfs does not list it, hence the cast.
      for await (const chunk of fs.cat(root, {
        signal,
        onProgress: onHeliaProgress,
        offline: local,
        blockReadConcurrency: resolved.blockReadConcurrency,
      } as Parameters<UnixFS['cat']>[1])) {
        if (received + chunk.byteLength > declared)
          throw new BaseError(
            'MODEL_INVALID',
            `The DAG of ${cid} holds more than the ${declared} bytes its root declares.`,
            { metaMessages: ['The model was published with a malformed DAG; do not use it.'] },
          )
        buffer.set(chunk, received)
        received += chunk.byteLength
        timer.refresh()
        fetchOptions.onProgress?.({ cid, bytes: received, totalBytes: declared })
      }
      if (received !== declared)
        throw new BaseError(
          'MODEL_INVALID',
          `The DAG of ${cid} holds ${received} bytes but its root declares ${declared}.`,
          { metaMessages: ['The model was published with a malformed DAG; do not use it.'] },
        )
      const actual = await computeCid(buffer)
      if (actual !== cid)
        throw new BaseError(
          'MODEL_CID_MISMATCH',
          `The bytes fetched for ${cid} have the Kubo CID ${actual}.`,
          {
            metaMessages: [
              'Every block matched its hash, so the DAG was built with other importer settings than the pinned Kubo profile (CIDv1, raw leaves, 256 KiB chunks, balanced layout with 174 links), or on purpose.',
              `Publish the model with \`ipfs add --cid-version=1\` (or computeCid/provide) and refer to it by ${actual}.`,
            ],
          },
        )
      if (!local) await pin(helia, root, signal)
      log?.info(
        {
          cid,
          bytes: received,
          local,
          peers: helia.libp2p.getPeers().length,
          ms: Math.round(performance.now() - started),
        },
        'model fetched',
      )
      return buffer
    } catch (cause) {
      if (fetchOptions.signal?.aborted) throw aborted(`Fetching ${cid}`, fetchOptions.signal)
      if (stopped.signal.aborted) throw aborted(`Fetching ${cid}`, stopped.signal)
      if (idle.signal.aborted) {
        const peers = helia.libp2p.getPeers().length
        log?.warn({ cid, peers, bytes: received, timeoutMs }, 'model fetch timed out')
        throw new BaseError(
          'MODEL_NOT_FOUND',
          `No peer sent ${declared === undefined ? 'the root block' : 'a block'} of ${cid} for ${timeoutMs} ms (received ${received} of ${declared ?? 'unknown'} bytes).`,
          {
            metaMessages: [
              peers === 0
                ? 'This node is connected to no peer: dial the nodes of NodeRegistry (network.dial(multiaddr)) first.'
                : `None of the ${peers} connected peer(s) has it: dial a node that provides this model (NodeRegistry lists their multiaddrs).`,
              'Raise timeoutMs if the providers are slow.',
            ],
          },
        )
      }
      if (isBaseError(cause)) {
        log?.warn({ cid, code: cause.code }, 'model fetch refused')
        throw cause
      }
      const details = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause)
      if (cause instanceof Error && malformedDagErrors.has(cause.name))
        throw new BaseError('MODEL_INVALID', `${cid} is not a UnixFS file this node can read.`, {
          details,
          metaMessages: ['The model was published with a malformed DAG; do not use it.'],
          cause,
        })
      throw new BaseError('INTERNAL', `Fetching ${cid} failed.`, {
        details,
        metaMessages: [`Check that ${dataDir} is writable and has free space, then retry.`],
        cause,
      })
    } finally {
      clearTimeout(timer)
    }
  }

  return {
    peerId,
    start,
    stop,
    multiaddrs,
    dial,
    provide,
    fetch,
    has,
  }
}

/**
 * Fills in {@link defaultModelNetworkOptions} and checks every value.
 *
 * @example
 * ```ts
 * resolveModelNetworkOptions({ dataDir: 'ipfs' }).listen // ['/ip4/127.0.0.1/tcp/0']
 * ```
 */
export function resolveModelNetworkOptions(
  options: ModelNetworkOptions,
): ResolvedModelNetworkOptions {
  if (typeof options?.dataDir !== 'string' || options.dataDir === '')
    throw new BaseError('INVALID_ARGUMENT', 'The model network needs a dataDir (a folder path).', {
      metaMessages: ['e.g. createModelNetwork({ dataDir: ".verity/ipfs" })'],
    })
  const listen = [...(options.listen ?? defaultModelNetworkOptions.listen)]
  for (const address of listen) {
    try {
      multiaddr(address)
    } catch (cause) {
      throw new BaseError(
        'INVALID_ARGUMENT',
        `Listen address ${JSON.stringify(address)} is not a multiaddr.`,
        {
          metaMessages: ['Expected e.g. /ip4/127.0.0.1/tcp/0 (loopback, any free port).'],
          cause,
        },
      )
    }
  }
  const positive = (name: string, value: number | undefined, fallback: number): number => {
    const result = value ?? fallback
    if (!Number.isSafeInteger(result) || result <= 0)
      throw new BaseError(
        'INVALID_ARGUMENT',
        `The model network option ${name} must be a positive integer; got ${String(result)}.`,
      )
    return result
  }
  return {
    dataDir: options.dataDir,
    listen,
    privateKey: options.privateKey,
    fetchTimeoutMs: positive(
      'fetchTimeoutMs',
      options.fetchTimeoutMs,
      defaultModelNetworkOptions.fetchTimeoutMs,
    ),
    dialTimeoutMs: positive(
      'dialTimeoutMs',
      options.dialTimeoutMs,
      defaultModelNetworkOptions.dialTimeoutMs,
    ),
    blockReadConcurrency: positive(
      'blockReadConcurrency',
      options.blockReadConcurrency,
      defaultModelNetworkOptions.blockReadConcurrency,
    ),
  }
}

/** A CIDv1 string as the hub writes it (raw or dag-pb, sha2-256, base32), parsed. */
function parseModelCid(value: string): CID {
  let cid: CID | undefined
  try {
    cid = typeof value === 'string' ? CID.parse(value) : undefined
  } catch {
    cid = undefined
  }
  if (
    cid === undefined ||
    cid.version !== 1 ||
    (cid.code !== rawCode && cid.code !== dagPbCode) ||
    cid.multihash.code !== sha256Code ||
    cid.toString() !== value
  )
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${JSON.stringify(value)} is not a model CID (a base32 CIDv1, raw or dag-pb, sha2-256).`,
      { metaMessages: ['Use the CID from the model manifest or from computeCid().'] },
    )
  return cid
}

async function pin(helia: HeliaNode, root: CID, signal: AbortSignal): Promise<void> {
  try {
    for await (const _block of helia.pins.add(root, { signal })) {
      // Walks the (local) DAG, recording each block as pinned.
    }
  } catch (error) {
    // A concurrent provide/fetch of the same model pinned it first.
    if ((error as Error | undefined)?.name !== 'AlreadyPinnedError') throw error
  }
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((signal) => signal !== undefined))
}

function aborted(what: string, signal: AbortSignal): BaseError {
  if (isBaseError(signal.reason)) return signal.reason
  return new BaseError('ABORTED', `${what} was aborted.`, {
    ...(signal.reason === undefined ? {} : { cause: signal.reason }),
  })
}
