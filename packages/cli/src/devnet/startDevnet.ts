import { existsSync } from 'node:fs'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'
import { type Anvil, deployVerity, type NetworkConfig, startAnvil } from '@verity/contracts'
import { BaseError, type Hash } from '@verity/protocol'
import { createClient, getNetwork, http } from '@verity/sdk'
import { createZkArtifactStore, exportSolidityVerifier } from '@verity/zk'
import {
  type Chain,
  createPublicClient,
  createWalletClient,
  formatEther,
  type LocalAccount,
  type PublicClient,
  type Transport,
  http as viemHttp,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { createKeyFile, loadAccount } from '../keystore.ts'
import type { Progress, ProgressStep } from '../progress.ts'
import { allocatePorts } from './allocatePorts.ts'
import { ensureDemoModels, type PublishedModel, publishToNode } from './demoModels.ts'
import { loadPeerId } from './loadPeerId.ts'
import { lockDataDir } from './lockDataDir.ts'
import { type NodeProcess, spawnNodeProcess } from './nodeProcess.ts'
import {
  type DevnetOptions,
  devnetAccounts,
  devnetEscrow,
  devnetNodeFlags,
  devnetParameters,
  devnetPaths,
  devnetPricePerCall,
} from './options.ts'
import {
  createChainClients,
  ensureEscrow,
  ensureModelRegistered,
  ensureNodeRegistered,
  nodeRoleBits,
} from './registerOnChain.ts'
import {
  contributeOnNode,
  devnetPtauPath,
  ensureZkArtifacts,
  ensureZkVerifierRegistered,
  type ZkDemoModel,
  type ZkSetupResult,
} from './zkSetup.ts'

/**
 * One node of a running devnet.
 *
 * @example
 * ```ts
 * const [first]: DevnetNode[] = devnet.summary.nodes
 * ```
 */
export type DevnetNode = {
  index: number
  url: string
  address: `0x${string}`
  keyFile: string
  logFile: string
  /** libp2p peer id registered on-chain (key in `<node dir>/ipfs/peer.key`). */
  peerId: string
  /** Stake in NodeRegistry, wei as a decimal string. */
  stake: string
  active: boolean
  registration: 'registered' | 'updated' | 'unchanged'
}

/**
 * A dev account the devnet uses. These are anvil's well-known dev keys (public knowledge): test
 * keys for this local chain only.
 *
 * @example
 * ```ts
 * const key: DevnetTestKey = { role: 'requester', address: '0x…', privateKey: '0x…', keyFile: '/d/requester.key.json' }
 * ```
 */
export type DevnetTestKey = {
  role: string
  address: `0x${string}`
  privateKey: `0x${string}`
  keyFile?: string
}

/**
 * What `verity devnet --json` prints once everything is up (also kept in `<dataDir>/devnet.json`
 * while the devnet runs).
 *
 * @example
 * ```ts
 * const { rpcUrl, contracts, nodes }: DevnetSummary = devnet.summary
 * ```
 */
export type DevnetSummary = {
  dataDir: string
  chainId: number
  rpcUrl: string
  contracts: NetworkConfig['contracts']
  /** True when network.json's contracts were still on the chain (nothing was deployed). */
  reusedContracts: boolean
  nodes: DevnetNode[]
  models: (PublishedModel & { modelId: string; creator: `0x${string}`; royaltyBps: number })[]
  /** How the models reach the nodes: uploaded to node 1, fetched by the others over IPFS on first use. */
  modelDistribution: 'ipfs-on-first-use'
  /** Settlement as configured: the price per call, the requester's escrow, the challenge window. */
  settlement: { pricePerCall: string; requesterEscrow: string; challengeWindowSeconds: number }
  /** Verification modes node 1 offers (`none`, `reexec`). */
  modes: string[]
  testKeys: DevnetTestKey[]
  samples: string
  example: { infer: string; verify: string; inferZk?: string | undefined }
  /** Zero-knowledge mode: the provable demo models and their registered verifiers. */
  zk?:
    | {
        artifacts: string
        models: {
          name: string
          modelId: string
          constraints: number
          /** The `ZkModelVerifier` registered with the model (wraps its Groth16Verifier). */
          verifier: `0x${string}`
          verificationKeyHash: string
          /** CID of the ceremony transcript in the artifact folder. */
          transcript: string
          deployed: boolean
        }[]
        note?: string | undefined
      }
    | undefined
  startupMs: number
}

/**
 * A running devnet; `stop()` stops the nodes, then anvil (which writes its state file), then
 * releases the data directory. Idempotent.
 *
 * @example
 * ```ts
 * const devnet = await startDevnet(options, { progress })
 * process.once('SIGINT', () => devnet.stop())
 * ```
 */
export type Devnet = {
  summary: DevnetSummary
  nodes: NodeProcess[]
  stop(): Promise<void>
}

/**
 * Parts of {@link startDevnet}: where progress goes, the abort signal (Ctrl+C during start-up), and
 * what to do when a node dies while the devnet runs.
 *
 * @example
 * ```ts
 * const components: DevnetComponents = { progress: createProgress(io), signal: controller.signal }
 * ```
 */
export type DevnetComponents = {
  progress: Progress
  signal?: AbortSignal | undefined
  onNodeExit?: ((node: DevnetNode, code: number | string) => void) | undefined
}

async function loadOrWriteKey(path: string, privateKey: `0x${string}`): Promise<LocalAccount> {
  try {
    return await loadAccount({ file: path, explicitFile: true })
  } catch (error) {
    if (!(error instanceof BaseError && error.code === 'KEY_NOT_FOUND')) throw error
  }
  await createKeyFile(path, { privateKey })
  return privateKeyToAccount(privateKey)
}

/**
 * Starts a whole Verity network on this machine, every piece real: anvil (state in
 * `<dataDir>/anvil/state.json`) → contracts (`deployVerity`, reused through `network.json`) → one
 * funded dev key per node (key files, mode 0600) → N `verity node` processes (`--peer` for each
 * other) → each node registered and staked in NodeRegistry → the demo models built from their
 * recipe, uploaded to every node through the SDK and registered in ModelRegistry by the creator
 * key. A second start on the same data directory reuses chain state, contracts, keys and models.
 * On any failure everything started so far is stopped again.
 *
 * @example
 * ```ts
 * const devnet = await startDevnet(resolveDevnetOptions({ dataDir: '/tmp/devnet' }), { progress })
 * console.log(devnet.summary.nodes.map((node) => node.url))
 * await devnet.stop()
 * ```
 */
export async function startDevnet(
  options: DevnetOptions,
  components: DevnetComponents,
): Promise<Devnet> {
  const started = performance.now()
  const { progress, signal } = components
  const paths = devnetPaths(options.dataDir)
  const release = await lockDataDir(paths.lock)
  let anvil: Anvil | undefined
  const nodes: NodeProcess[] = []
  let stopping = false
  let stopped: Promise<void> | undefined
  const stop = () => {
    stopped ??= (async () => {
      stopping = true
      await Promise.all(nodes.map((node) => node.stop({ timeoutMs: options.stopTimeoutMs })))
      await anvil?.stop()
      await rm(paths.summary, { force: true })
      await release()
    })()
    return stopped
  }
  let step: ProgressStep | undefined
  // asked now, answered while anvil starts
  try {
    await mkdir(dirname(paths.anvilState), { recursive: true })
    const ports = await allocatePorts(options.portBase, options.nodes + 1)
    signal?.throwIfAborted()

    step = progress.step('Starting anvil')
    anvil = await startAnvil({
      port: ports[0],
      chainId: options.chainId,
      accounts: devnetAccounts.count(options.nodes),
      stateFile: paths.anvilState,
      signal,
    })
    step.done(anvil.rpcUrl)
    const devKey = (index: number) => {
      const key = anvil?.privateKeys[index]
      if (key === undefined)
        throw new BaseError('INTERNAL', `anvil funded no dev account ${index}.`)
      return key
    }

    step = progress.step('Deploying the Verity contracts')
    // the deployer also coordinates the zk ceremonies (the nodes take turns only when it asks)
    const deployer = privateKeyToAccount(devKey(devnetAccounts.deployer))
    const rpc = createPublicClient({ transport: viemHttp(anvil.rpcUrl, { retryCount: 0 }) })
    const blockBefore = await rpc.getBlockNumber({ cacheTime: 0 })
    const config = await deployVerity({
      rpcUrl: anvil.rpcUrl,
      account: deployer,
      configPath: paths.network,
      parameters: devnetParameters,
      pollingInterval: 50,
    })
    // deployVerity sends nothing when network.json's contracts are still on the chain
    const reusedContracts = (await rpc.getBlockNumber({ cacheTime: 0 })) === blockBefore
    step.done(
      reusedContracts ? 'reused from network.json' : `settlement ${config.contracts.settlement}`,
    )
    signal?.throwIfAborted()

    const accounts: LocalAccount[] = []
    for (let index = 1; index <= options.nodes; index++)
      accounts.push(await loadOrWriteKey(paths.node(index).key, devKey(devnetAccounts.node(index))))
    const requester = await loadOrWriteKey(paths.requesterKey, devKey(devnetAccounts.requester))
    const creator = privateKeyToAccount(devKey(devnetAccounts.creator))
    const urls = ports.slice(1).map((port) => `http://127.0.0.1:${port}`)

    // the node processes boot (≈1 s each, CPU-bound) while the chain work and the model build run
    for (let index = 1; index <= options.nodes; index++) {
      const node = spawnNodeProcess({
        dataDir: paths.node(index).dir,
        port: ports[index]!,
        keyFile: paths.node(index).key,
        logFile: paths.node(index).log,
        chainId: config.chainId,
        networkFile: paths.network,
        extraArgs: [
          ...devnetNodeFlags,
          // node 1 holds the ceremony's artifacts; the others fetch them over IPFS when first
          // asked to prove (into their own <dataDir>/zk)
          ...(options.zk
            ? [
                '--zk',
                ...(index === 1 ? ['--zk-dir', paths.zk] : []),
                // the devnet's deployer coordinates the ceremony: only it may ask for a turn
                '--zk-coordinator',
                deployer.address,
              ]
            : ['--no-zk']),
        ],
      })
      nodes.push(node)
    }

    step = progress.step(`Registering and staking ${options.nodes} nodes in NodeRegistry`)
    const chain = createChainClients(config)
    const registrations = await Promise.all(
      accounts.map(async (account, i) => {
        const peerId = await loadPeerId(paths.node(i + 1).peerKey)
        const result = await ensureNodeRegistered(chain, {
          account,
          endpoint: urls[i]!,
          peerId,
          roles: nodeRoleBits.all,
        })
        return { ...result, peerId }
      }),
    )
    const count = (action: string) => registrations.filter((r) => r.action === action).length
    step.done(
      [
        count('registered') && `${count('registered')} registered`,
        count('updated') && `${count('updated')} endpoints updated`,
        count('unchanged') && `${count('unchanged')} unchanged`,
        `${formatEther(registrations[0]!.stake)} ETH staked each`,
      ]
        .filter(Boolean)
        .join(', '),
    )
    signal?.throwIfAborted()

    const modelStep = progress.step('Preparing the demo models')
    step = modelStep
    const demo = await ensureDemoModels(paths.demoModels, (event) => {
      if (event.phase === 'train')
        modelStep.update(`training: epoch ${event.epoch + 1}/${event.epochs}`)
      else modelStep.update(event.phase === 'data' ? 'generating digits' : event.phase)
    })
    modelStep.done(
      demo.built ? `built from their recipe into ${paths.demoModels}` : 'reused, sha256 checked',
    )
    signal?.throwIfAborted()

    step = progress.step(`Starting ${options.nodes} nodes`)
    step.update('waiting for GET /v1/health')
    await Promise.all(
      nodes.map((node) => node.ready({ timeoutMs: options.startTimeoutMs, signal })),
    )
    step.done(urls.length > 1 ? `${urls[0]} … ${urls.at(-1)}` : urls[0])
    const summaryNodes: DevnetNode[] = accounts.map((account, i) => ({
      index: i + 1,
      url: urls[i]!,
      address: account.address,
      keyFile: paths.node(i + 1).key,
      logFile: paths.node(i + 1).log,
      peerId: registrations[i]!.peerId,
      stake: registrations[i]!.stake.toString(),
      active: registrations[i]!.active,
      registration: registrations[i]!.action,
    }))
    for (const [i, node] of nodes.entries())
      void node.exited.then((code) => {
        if (!stopping) components.onNodeExit?.(summaryNodes[i]!, code)
      })

    // zero knowledge: a phase-2 ceremony per int8 demo model among the nodes (once; reused after)
    let zkSetups: ZkSetupResult[] = []
    let zkNote: string | undefined
    if (options.zk) {
      const zkModels: ZkDemoModel[] = [
        { name: 'digits-mlp-int8', file: demo.models[0]!.file, ptauPower: 14 },
        {
          name: 'digits-cnn-int8',
          file: demo.models.find((m) => m.name === 'digits-cnn-int8')!.file,
          ptauPower: 16,
        },
      ]
      const missing = [14, 16]
        .map((power) => devnetPtauPath(power as 14 | 16))
        .filter((path) => !existsSync(path))
      const zkStep = progress.step(
        'Setting up zero-knowledge proofs (Groth16) for the int8 demo models',
      )
      step = zkStep
      if (missing.length > 0) {
        zkNote = `skipped: phase-1 file ${missing.join(', ')} absent (../shared/assets/zk)`
        zkStep.done(zkNote)
      } else {
        const latest = await rpc.getBlock({ blockTag: 'latest' })
        zkSetups = await ensureZkArtifacts({
          dir: paths.zk,
          models: zkModels,
          // each node adds its contribution in its own process (POST /v1/zk/contribute)
          contributors: urls.map((url, i) => ({
            name: `node-${i + 1}`,
            contribute: (zkey: Uint8Array) =>
              contributeOnNode({ url, address: accounts[i]!.address }, zkey, deployer, signal),
          })),
          beaconHash: latest.hash,
          onProgress: (model, event) =>
            zkStep.update(
              `${model}: ${event.phase === 'contribution' ? `contribution by ${event.name}` : event.phase}`,
            ),
          signal,
        })
        zkStep.done(
          zkSetups
            .map(
              (setup) =>
                `${setup.name} ${setup.manifestZk.constraints} constraints${setup.built ? ` (ceremony ${setup.seconds.toFixed(0)} s)` : ' (reused)'}`,
            )
            .join(', '),
        )
      }
    }

    step = progress.step('Publishing the demo models to node 1 (the others fetch them over IPFS)')
    const clients = urls.map((url) =>
      createClient({ transport: http(url, { timeoutMs: 120_000 }) }),
    )
    const first = await publishToNode(clients[0]!, demo.models, signal)
    const uploads = first.filter((m) => m.uploaded).length
    step.done(uploads ? `${uploads} uploaded to ${urls[0]}` : `already on ${urls[0]}`)

    step = progress.step('Registering the demo models in ModelRegistry')
    const models: DevnetSummary['models'] = []
    for (const model of first) {
      const onChain = await ensureModelRegistered(chain, {
        account: creator,
        name: model.name,
        cid: model.cid,
        manifestHash: model.manifestHash as Hash,
        royaltyBps: options.royaltyBps,
        pricePerCall: devnetPricePerCall,
      })
      models.push({
        ...model,
        modelId: onChain.modelId.toString(),
        creator: onChain.creator,
        royaltyBps: onChain.royaltyBps,
      })
    }
    step.done(
      models
        .map((model) => `#${model.modelId} ${model.name} ${model.royaltyBps / 100} %`)
        .join(', '),
    )

    const zkModels: NonNullable<DevnetSummary['zk']>['models'] = []
    if (zkSetups.length > 0) {
      step = progress.step('Deploying and registering the models’ Groth16 verifiers')
      const store = createZkArtifactStore({ dir: paths.zk })
      const creatorWallet = createWalletClient({
        account: creator,
        chain: chain.chain,
        transport: viemHttp(anvil.rpcUrl, { retryCount: 0 }),
        pollingInterval: 50,
      })
      for (const setup of zkSetups) {
        const model = models.find((m) => m.name === setup.name)
        if (!model) continue
        const onChain = await ensureModelRegistered(chain, {
          account: creator,
          name: model.name,
          cid: model.cid,
          manifestHash: model.manifestHash as Hash,
          royaltyBps: options.royaltyBps,
          pricePerCall: devnetPricePerCall,
        })
        const { adapter, deployed } = await ensureZkVerifierRegistered({
          publicClient: chain.publicClient as PublicClient<Transport, Chain>,
          walletClient: creatorWallet,
          modelRegistry: config.contracts.modelRegistry,
          modelId: onChain.modelId,
          currentVerifier: onChain.zkVerifier,
          setup,
          readVerifierSource: async (manifestZk) =>
            exportSolidityVerifier(
              JSON.parse(
                new TextDecoder().decode(await store.read(manifestZk.artifacts.verificationKey)),
              ),
            ),
        })
        zkModels.push({
          name: setup.name,
          modelId: model.modelId,
          constraints: setup.manifestZk.constraints,
          verifier: adapter,
          verificationKeyHash: setup.manifestZk.verificationKeyHash,
          transcript: setup.manifestZk.artifacts.transcript,
          deployed,
        })
      }
      step.done(zkModels.map((m) => `${m.name} → ${m.verifier}`).join(', '))
    }

    step = progress.step("Funding the requester's escrow in Settlement")
    const escrow = await ensureEscrow(chain, { account: requester, minimum: devnetEscrow })
    step.done(`${formatEther(escrow.balance)} ETH${escrow.deposited ? ' (deposited now)' : ''}`)

    const network = await getNetwork(clients[0]!, { signal })
    const sample = `${demo.samples}/digit-7.png`
    const mode = network.modes.includes('reexec')
      ? `--mode reexec --quorum ${Math.min(2, Math.max(1, options.nodes - 1))}`
      : '--mode none'
    const receipt = `${options.dataDir}/receipt.json`
    const summary: DevnetSummary = {
      dataDir: options.dataDir,
      chainId: config.chainId,
      rpcUrl: config.rpcUrl,
      contracts: config.contracts,
      reusedContracts,
      nodes: summaryNodes,
      models,
      modelDistribution: 'ipfs-on-first-use',
      settlement: {
        pricePerCall: devnetPricePerCall.toString(),
        requesterEscrow: escrow.balance.toString(),
        challengeWindowSeconds: config.parameters.challengeWindow,
      },
      modes: network.modes,
      ...(options.zk
        ? {
            zk: {
              artifacts: paths.zk,
              models: zkModels,
              ...(zkNote ? { note: zkNote } : {}),
            },
          }
        : {}),
      testKeys: [
        {
          role: 'deployer (treasury)',
          address: deployer.address,
          privateKey: devKey(devnetAccounts.deployer),
        },
        {
          role: 'model creator',
          address: creator.address,
          privateKey: devKey(devnetAccounts.creator),
        },
        {
          role: 'requester',
          address: requester.address,
          privateKey: devKey(devnetAccounts.requester),
          keyFile: paths.requesterKey,
        },
        // a node whose key file was replaced keeps its own key: only dev keys are printed
        ...summaryNodes.flatMap((node) => {
          const privateKey = devKey(devnetAccounts.node(node.index))
          return privateKeyToAccount(privateKey).address === node.address
            ? [
                {
                  role: `node ${node.index}`,
                  address: node.address,
                  privateKey,
                  keyFile: node.keyFile,
                },
              ]
            : []
        }),
      ],
      samples: demo.samples,
      example: {
        infer: `npx verity infer digits-mlp-int8 --input ${sample} --node ${urls[Math.min(1, urls.length - 1)]} --key ${paths.requesterKey} ${mode} --wait-settled --out ${receipt}`,
        verify: `npx verity verify ${receipt} --rpc ${config.rpcUrl}`,
        ...(zkModels.length > 0
          ? {
              inferZk: `npx verity infer digits-cnn-int8 --input ${sample} --node ${urls[Math.min(1, urls.length - 1)]} --key ${paths.requesterKey} --mode zk --out ${options.dataDir}/receipt-zk.json`,
            }
          : {}),
      },
      startupMs: Math.round(performance.now() - started),
    }
    await writeFile(paths.summary, `${JSON.stringify(summary, null, 2)}\n`, { mode: 0o600 })
    return { summary, nodes, stop }
  } catch (error) {
    step?.fail()
    await stop()
    throw error
  }
}
