import {
  type Hash,
  hashManifest,
  isBaseError,
  type Manifest,
  parseManifest,
} from '@verity/protocol'
import type { DistributionPeer } from './modelDistribution.ts'
import { requestPeerJson } from './requestPeerJson.ts'
import { selectDialAddresses } from './selectDialAddresses.ts'

const maxManifestBytes = 1024 * 1024
const maxNetworkInfoBytes = 64 * 1024
const peerIdPattern = /^[A-Za-z0-9]{1,128}$/

/**
 * What asking one peer found: `provider` (it serves the expected manifest and announces libp2p
 * addresses under the right identity), `absent` (it does not hold the model), `mismatch` (it holds
 * another manifest for the CID, or an invalid one), `identity` (its address, peer id or multiaddrs
 * contradict the directory), `unreachable` (no usable answer).
 *
 * @example
 * ```ts
 * const outcome: PeerOutcome = { peer, status: 'absent', reason: 'GET /v1/models/<cid>: 404 MODEL_NOT_FOUND' }
 * ```
 */
export type PeerOutcome = {
  peer: DistributionPeer
  status: 'provider' | 'absent' | 'mismatch' | 'identity' | 'unreachable'
  reason: string
}

/**
 * A peer that serves the model under the expected manifest: whom to dial and what it described.
 *
 * @example
 * ```ts
 * const { peerId, dial, manifest }: ModelProvider = providers[0]
 * ```
 */
export type ModelProvider = {
  peer: DistributionPeer
  /** The libp2p peer id the dialled connection must authenticate as. */
  peerId: string
  /** Multiaddrs to try in order, each ending in `/p2p/<peerId>`. */
  dial: string[]
  manifest: Manifest
}

/**
 * What {@link findModelProviders} takes.
 *
 * @example
 * ```ts
 * const parameters: FindModelProvidersParameters = { peers, cid, manifestHash, timeoutMs: 5000, concurrency: 8 }
 * ```
 */
export type FindModelProvidersParameters = {
  peers: readonly DistributionPeer[]
  cid: string
  manifestHash: Hash
  /** This node's libp2p id: a peer announcing it is skipped. */
  selfPeerId?: string | undefined
  timeoutMs: number
  concurrency: number
  signal?: AbortSignal | undefined
  fetch?: typeof globalThis.fetch | undefined
}

/**
 * One outcome per peer, in the order of `peers`, and the providers among them (same order).
 *
 * @example
 * ```ts
 * const { providers, outcomes }: FindModelProvidersReturnType = await findModelProviders(parameters)
 * ```
 */
export type FindModelProvidersReturnType = {
  providers: ModelProvider[]
  outcomes: PeerOutcome[]
}

/**
 * Asks peers over HTTP (at most `concurrency` at once) whether they hold `cid` under the manifest
 * hashing to `manifestHash` (`GET {url}/v1/models/{cid}`), and if so how to reach them over libp2p
 * (`GET {url}/v1/network` → `ipfs: { peerId, multiaddrs }`). Everything a peer says is checked:
 * the manifest's schema, CID and hash; the node address behind the URL; the peer id against the
 * directory's (when it has one); every multiaddr's `/p2p/` id (see `selectDialAddresses`).
 * Never throws for a peer's failure (it becomes an outcome); throws `ABORTED` on the signal.
 *
 * @example
 * ```ts
 * const { providers, outcomes } = await findModelProviders({
 *   peers: await directory.list(), cid, manifestHash, timeoutMs: 5000, concurrency: 8,
 * })
 * ```
 */
export async function findModelProviders(
  parameters: FindModelProvidersParameters,
): Promise<FindModelProvidersReturnType> {
  const { peers, signal } = parameters
  const results: Array<{ outcome: PeerOutcome; provider?: ModelProvider }> = new Array(peers.length)
  let next = 0
  async function worker(): Promise<void> {
    while (next < peers.length) {
      const index = next++
      const peer = peers[index] as DistributionPeer
      signal?.throwIfAborted()
      results[index] = await askPeer(peer, parameters)
    }
  }
  const workers = Math.max(1, Math.min(parameters.concurrency, peers.length))
  await Promise.all(Array.from({ length: workers }, worker))
  return {
    providers: results.flatMap((result) => (result.provider ? [result.provider] : [])),
    outcomes: results.map((result) => result.outcome),
  }
}

async function askPeer(
  peer: DistributionPeer,
  parameters: FindModelProvidersParameters,
): Promise<{ outcome: PeerOutcome; provider?: ModelProvider }> {
  const { cid, manifestHash, signal } = parameters
  const outcome = (status: PeerOutcome['status'], reason: string) => ({
    outcome: { peer, status, reason },
  })
  const get = (path: string, maxBytes: number) =>
    requestPeerJson({
      url: `${peer.url}${path}`,
      timeoutMs: parameters.timeoutMs,
      maxBytes,
      signal,
      fetch: parameters.fetch,
    })
  let manifest: Manifest
  try {
    // `local=1`: a peer that lacks the model must say so, not go looking for it in turn
    const { status, body } = await get(`/v1/models/${cid}?local=1`, maxManifestBytes)
    if (status === 404) return outcome('absent', `does not hold it (404 ${errorCode(body)})`)
    if (status !== 200)
      return outcome('unreachable', `GET /v1/models/${cid} answered ${status} ${errorCode(body)}`)
    const given = (body as { manifest?: unknown } | undefined)?.manifest
    try {
      manifest = parseManifest(given)
    } catch (error) {
      return outcome(
        'mismatch',
        `serves an invalid manifest (${isBaseError(error) ? error.metaMessages.slice(0, 3).join('; ') : String(error)})`,
      )
    }
    if (manifest.cid !== cid)
      return outcome('mismatch', `serves the manifest of ${manifest.cid} for ${cid}`)
    const hash = hashManifest(manifest)
    if (hash !== manifestHash)
      return outcome('mismatch', `holds it with manifest ${hash}, not ${manifestHash}`)
  } catch (error) {
    if (isBaseError(error, 'ABORTED')) throw error
    return outcome('unreachable', describe(error))
  }
  let info: { address?: unknown; ipfs?: { peerId?: unknown; multiaddrs?: unknown } }
  try {
    const { status, body } = await get('/v1/network', maxNetworkInfoBytes)
    if (status !== 200 || typeof body !== 'object' || body === null)
      return outcome('unreachable', `GET /v1/network answered ${status} ${errorCode(body)}`)
    info = body as typeof info
  } catch (error) {
    if (isBaseError(error, 'ABORTED')) throw error
    return outcome('unreachable', describe(error))
  }
  if (typeof info.address === 'string' && info.address.toLowerCase() !== peer.address.toLowerCase())
    return outcome('identity', `its URL is served by node ${info.address}, not ${peer.address}`)
  const ipfs = info.ipfs
  if (typeof ipfs !== 'object' || ipfs === null || !Array.isArray(ipfs.multiaddrs))
    return outcome(
      'unreachable',
      'announces no IPFS addresses (GET /v1/network has no ipfs.multiaddrs)',
    )
  const announced = ipfs.peerId
  if (typeof announced !== 'string' || !peerIdPattern.test(announced))
    return outcome('identity', `announces an invalid libp2p peer id ${JSON.stringify(announced)}`)
  if (peer.peerId !== undefined && announced !== peer.peerId)
    return outcome(
      'identity',
      `announces libp2p peer id ${announced}; the peer directory registers ${peer.peerId}`,
    )
  if (announced === parameters.selfPeerId)
    return outcome('identity', 'announces this node’s own libp2p peer id')
  const { dial, refused } = selectDialAddresses(ipfs.multiaddrs, announced)
  if (dial.length === 0)
    return outcome(
      'identity',
      refused.length === 0
        ? 'announces no multiaddr'
        : `every multiaddr was refused: ${refused
            .slice(0, 4)
            .map((entry) => `${entry.multiaddr} ${entry.reason}`)
            .join('; ')}`,
    )
  return {
    outcome: {
      peer,
      status: 'provider',
      reason: `holds it${refused.length ? ` (${refused.length} multiaddr(s) refused: ${refused[0]?.reason})` : ''}`,
    },
    provider: { peer, peerId: announced, dial, manifest },
  }
}

function errorCode(body: unknown): string {
  const code = (body as { error?: { code?: unknown } } | undefined)?.error?.code
  return typeof code === 'string' ? code.slice(0, 64) : ''
}

function describe(error: unknown): string {
  if (isBaseError(error))
    return `${error.shortMessage}${error.details ? ` (${error.details})` : ''}`
  return error instanceof Error ? error.message : String(error)
}
