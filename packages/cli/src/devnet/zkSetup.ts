import { readFile } from 'node:fs/promises'
import { deployZkVerifier, registerZkVerifier } from '@verity/contracts'
import { BaseError, type ManifestZk, signedZkContributionHeaders } from '@verity/protocol'
import {
  computeModelCommitment,
  createZkArtifactStore,
  loadPowersOfTau,
  type SetupZkModelProgress,
  setupZkModel,
  sha256Hex,
  type ZkContributor,
} from '@verity/zk'
import {
  type Account,
  type Chain,
  type LocalAccount,
  type PublicClient,
  type Transport,
  toHex,
  type WalletClient,
  zeroAddress,
} from 'viem'

/**
 * Where the devnet finds phase-1 files: prepared powers-of-tau files by power (`pot14_final.ptau`
 * covers 2^14 constraints, `pot16_final.ptau` 2^16). Operators import a public ceremony's file,
 * pinned by checksum; the devnet uses the test fixtures in ../shared/assets/zk (single contributor:
 * fine for a local network, never for value).
 *
 * @example
 * ```ts
 * const path = devnetPtauPath(16)
 * ```
 */
export function devnetPtauPath(power: 14 | 16): string {
  return (
    process.env[`VERITY_PTAU_${power}`] ??
    new URL(`../../../../../shared/assets/zk/pot${power}_final.ptau`, import.meta.url).pathname
  )
}

/**
 * Asks a node to add its contribution to a phase-2 proving key (`POST /v1/zk/contribute`) and
 * returns the extended key with the node's signature over its contribution (checked when the
 * transcript is built, and recorded in it). The request is signed by the ceremony's coordinator
 * for this node and this key (the node refuses anyone else). The node's randomness stays in its
 * process.
 *
 * @example
 * ```ts
 * const next = await contributeOnNode({ url: 'http://127.0.0.1:8546', address }, zkey, coordinator)
 * ```
 */
export async function contributeOnNode(
  node: { url: string; address: `0x${string}` },
  zkey: Uint8Array,
  coordinator: LocalAccount,
  signal?: AbortSignal | undefined,
): Promise<{ zkey: Uint8Array; signer: `0x${string}`; signature: `0x${string}` }> {
  const { url } = node
  // the node takes the turn only when its configured coordinator asks, for this key, now
  const expires = Math.floor(Date.now() / 1000) + 600
  const request = { node: node.address, zkeySha256: sha256Hex(zkey), expires }
  let response: Response
  try {
    response = await fetch(`${url}/v1/zk/contribute`, {
      method: 'POST',
      headers: {
        'content-type': 'application/octet-stream',
        ...(await signedZkContributionHeaders({ account: coordinator, request })),
      },
      body: zkey as Uint8Array<ArrayBuffer>,
      signal: signal
        ? AbortSignal.any([signal, AbortSignal.timeout(300_000)])
        : AbortSignal.timeout(300_000),
    })
  } catch (cause) {
    throw new BaseError('NODE_UNAVAILABLE', `The node at ${url} did not take its ceremony turn.`, {
      cause,
    })
  }
  if (!response.ok)
    throw new BaseError(
      'ZK_CEREMONY_INVALID',
      `The node at ${url} refused to contribute (${response.status}): ${(await response.text()).slice(0, 300)}`,
    )
  const signer = response.headers.get('verity-contribution-signer') ?? ''
  const signature = response.headers.get('verity-contribution-signature') ?? ''
  if (
    signer.toLowerCase() !== node.address.toLowerCase() ||
    !/^0x[0-9a-fA-F]{130}$/.test(signature)
  )
    throw new BaseError(
      'ZK_CEREMONY_INVALID',
      `The node at ${url} did not sign its contribution as ${node.address} (headers verity-contribution-signer and -signature).`,
    )
  return {
    zkey: new Uint8Array(await response.arrayBuffer()),
    signer: signer as `0x${string}`,
    signature: signature as `0x${string}`,
  }
}

/**
 * A demo model the devnet proves in zero knowledge.
 *
 * @example
 * ```ts
 * const model: ZkDemoModel = { name: 'digits-cnn-int8', file: '/d/demo-models/digits-cnn-int8.onnx', ptauPower: 16 }
 * ```
 */
export type ZkDemoModel = { name: string; file: string; ptauPower: 14 | 16 }

/**
 * What {@link ensureZkArtifacts} did for one model.
 *
 * @example
 * ```ts
 * const { manifestZk, built } = result
 * ```
 */
export type ZkSetupResult = {
  name: string
  manifestZk: ManifestZk
  /** Built now (ceremony run) or reused from the artifact folder. */
  built: boolean
  solidityVerifier?: string | undefined
  seconds: number
}

/**
 * Makes every demo model provable, once: if the shared artifact folder has no zk section for the
 * model's commitment (or its artifacts fail their CID checks), compiles the circuit and runs the
 * phase-2 ceremony in which each devnet node contributes in its own process (the key goes to
 * `POST /v1/zk/contribute` and comes back extended by the node's contribution, seeded by its
 * signature and fresh randomness), closed by a public beacon (the chain's latest block hash). The
 * transcript lists every contribution and re-verifies from the artifacts.
 *
 * @example
 * ```ts
 * const results = await ensureZkArtifacts({ dir, models, contributors, beaconHash })
 * ```
 */
export async function ensureZkArtifacts(parameters: {
  dir: string
  models: readonly ZkDemoModel[]
  contributors: readonly ZkContributor[]
  beaconHash: `0x${string}`
  onProgress?: ((model: string, event: SetupZkModelProgress) => void) | undefined
  signal?: AbortSignal | undefined
}): Promise<ZkSetupResult[]> {
  const store = createZkArtifactStore({ dir: parameters.dir })
  const results: ZkSetupResult[] = []
  for (const model of parameters.models) {
    const started = performance.now()
    const onnx = new Uint8Array(await readFile(model.file))
    const commitment = computeModelCommitment(onnx).toString()
    const existing = await store.manifestFor(commitment)
    if (existing) {
      const usable = await store.load(existing).then(
        () => true,
        () => false,
      )
      if (usable) {
        results.push({ name: model.name, manifestZk: existing, built: false, seconds: 0 })
        continue
      }
    }
    parameters.signal?.throwIfAborted()
    const artifacts = await setupZkModel({
      onnx,
      name: model.name,
      ptau: await loadPowersOfTau(devnetPtauPath(model.ptauPower)),
      contributors: parameters.contributors,
      beacon: { hash: parameters.beaconHash, iterationsExp: 10 },
      onProgress: (event) => parameters.onProgress?.(model.name, event),
      signal: parameters.signal,
    })
    await store.put(artifacts)
    results.push({
      name: model.name,
      manifestZk: artifacts.manifestZk,
      built: true,
      solidityVerifier: artifacts.solidityVerifier,
      seconds: (performance.now() - started) / 1000,
    })
  }
  return results
}

/**
 * Deploys a model's generated Groth16 verifier and its `ZkModelVerifier` adapter and registers the
 * adapter with the model in ModelRegistry (by its creator), unless the model already has one. The
 * generated verifier's source is regenerated from the stored verification key when the ceremony
 * was not run now.
 *
 * @example
 * ```ts
 * const adapter = await ensureZkVerifierRegistered({ publicClient, walletClient, modelRegistry, modelId, setup, readVerifierSource })
 * ```
 */
export async function ensureZkVerifierRegistered(parameters: {
  publicClient: PublicClient<Transport, Chain>
  walletClient: WalletClient<Transport, Chain, Account>
  modelRegistry: `0x${string}`
  modelId: bigint
  currentVerifier: `0x${string}`
  setup: ZkSetupResult
  readVerifierSource: (manifestZk: ManifestZk) => Promise<string>
}): Promise<{ adapter: `0x${string}`; deployed: boolean }> {
  const { setup } = parameters
  if (parameters.currentVerifier !== zeroAddress)
    return { adapter: parameters.currentVerifier, deployed: false }
  const { manifestZk } = setup
  const solidityVerifier =
    setup.solidityVerifier ?? (await parameters.readVerifierSource(manifestZk))
  const size = (shape: readonly number[]) => shape.reduce((product, dim) => product * dim, 1)
  const deployed = await deployZkVerifier({
    publicClient: parameters.publicClient,
    walletClient: parameters.walletClient,
    solidityVerifier,
    modelCommitment: BigInt(manifestZk.modelCommitment),
    inputLength: size(manifestZk.input.shape),
    outputCount: size(manifestZk.output.shape),
  })
  await registerZkVerifier({
    publicClient: parameters.publicClient,
    walletClient: parameters.walletClient,
    modelRegistry: parameters.modelRegistry,
    modelId: parameters.modelId,
    adapter: deployed.adapter,
  })
  if (!/^0x[0-9a-fA-F]{40}$/.test(deployed.adapter))
    throw new BaseError('INTERNAL', `deployZkVerifier returned ${toHex(deployed.adapter)}.`)
  return { adapter: deployed.adapter, deployed: true }
}
