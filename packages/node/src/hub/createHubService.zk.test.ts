import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import {
  deployZkVerifier,
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  registerZkVerifier,
} from '@verity/contracts'
import { createOnnxEngine, type Engine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import { selectionSeed, selectVerifiers } from '@verity/protocol'
import {
  createGroth16Prover,
  createZkArtifactStore,
  type Groth16Proof,
  type Prover,
  type ZkModelArtifacts,
} from '@verity/zk'
import { Registry } from 'prom-client'
import {
  type Address,
  decodeAbiParameters,
  getAddress,
  type Hex,
  keccak256,
  numberToHex,
  parseEther,
  parseEventLogs,
  toHex,
} from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { createNodeChain } from '../chain/createNodeChain.ts'
import { createLogger, type NodeLogger } from '../logger.ts'
import { createModelService, type ModelService } from '../models.ts'
import { tempDir } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { zkDemoArtifacts, zkTestPtau } from '../testing/zkDemoArtifacts.ts'
import { createStaticPeerDirectory } from '../verification/peerDirectory.ts'
import { withZkManifests } from '../zk/withZkManifests.ts'
import { createHubService, type HubService, type HubZkComponents } from './createHubService.ts'

// Mode 2 (zk) through InferenceHub on a real anvil: the demo int8 MLP set up for zk once (real
// ceremony), its generated Groth16 verifier deployed and registered, real proofs fulfilled on
// chain. Accounts: 0 deployer and model creator; 1, 2 hub nodes (stakes 1 and 2 ether); 4 owns
// the consumer.

const PRICE = parseEther('0.001')
const CALLBACK_GAS = 500_000
const FALLBACK_MS = 60_000
const Status = { Pending: 1, Fulfilled: 2 } as const

type TestNode = { account: PrivateKeyAccount; stake: bigint; registry: Registry; proofs: number }

let network: TestNetwork
let engine: Engine
let models: ModelService
let artifacts: ZkModelArtifacts
let zkDir: string
let image: Uint8Array
let logits: readonly number[]
let modelId: bigint
let adapter: Address
let consumer: Address
let nodes: TestNode[]
const prover = createGroth16Prover()
const logger = createLogger({ level: (process.env.HUB_TEST_LOG as 'debug') ?? 'silent' })
const temps: (() => Promise<void>)[] = []
const services: HubService[] = []

/** Fresh services for every node, scanning from the next block; each counts the proofs it makes. */
async function createServices(
  extra: {
    now?: () => number
    logger?: NodeLogger
    /** A node's zk components (default: the artifacts of the demo MLP and the shared prover). */
    zkFor?: (node: TestNode) => HubZkComponents | undefined
  } = {},
): Promise<HubService[]> {
  const block = await network.chain.publicClient.getBlockNumber()
  return nodes.map((node) => {
    node.registry = new Registry()
    node.proofs = 0
    const counting: Prover<Groth16Proof> = {
      system: prover.system,
      prove: (parameters, options) => {
        node.proofs++
        return prover.prove(parameters, options)
      },
      verify: (...args) => prover.verify(...args),
    }
    const zk = extra.zkFor
      ? extra.zkFor(node)
      : { store: createZkArtifactStore({ dir: zkDir }), prover: counting }
    const service = createHubService(
      { pollIntervalMs: 50, retryDelayMs: 0, fallbackDelayMs: FALLBACK_MS },
      {
        chain: createNodeChain(
          {
            rpcUrl: network.config.rpcUrl,
            chainId: network.config.chainId,
            contracts: network.config.contracts,
            deployedAt: { block: Number(block) + 1 },
            pollingIntervalMs: 20,
          },
          { account: node.account, registry: node.registry },
        ),
        engine,
        models,
        peers: createStaticPeerDirectory([]),
        logger: extra.logger ?? logger,
        registry: node.registry,
        now: extra.now,
        zk: zk && { ...zk, prover: zk.prover === prover ? counting : zk.prover },
      },
    )
    services.push(service)
    return service
  })
}

/** The consumer asks for a mode-2 inference on `input`; returns the request id and its block. */
async function ask(input: Uint8Array): Promise<{ requestId: bigint; blockHash: Hex }> {
  const wallet = network.chain.walletClients[4]!
  const hash = await wallet.writeContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName: 'ask',
    args: [modelId, toHex(input), 2, 0, CALLBACK_GAS],
    value: PRICE,
  })
  const receipt = await network.chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  const [requested] = parseEventLogs({
    abi: inferenceHubAbi,
    logs: receipt.logs,
    eventName: 'InferenceRequested',
  })
  assert.ok(requested)
  return { requestId: requested.args.requestId, blockHash: receipt.blockHash }
}

/** The executor order every node must agree on, computed here from its definition. */
function expectedOrder(requestId: bigint, blockHash: Hex): TestNode[] {
  const order = selectVerifiers({
    seed: selectionSeed(numberToHex(requestId, { size: 32 }), blockHash),
    candidates: nodes.map((n) => ({ address: n.account.address, weight: n.stake })),
    count: nodes.length,
  })
  return order.map((address) => nodes.find((n) => n.account.address === address)!)
}

async function requestStatus(requestId: bigint): Promise<number> {
  const r = await network.chain.publicClient.readContract({
    address: network.config.contracts.inferenceHub,
    abi: inferenceHubAbi,
    functionName: 'getRequest',
    args: [requestId],
  })
  return r.status
}

async function metric(node: TestNode, pattern: RegExp): Promise<number> {
  const text = await node.registry.metrics()
  const line = text.split('\n').find((l) => pattern.test(l))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

async function until(condition: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

function captureLogs(): { logger: NodeLogger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = []
  return {
    lines,
    logger: createLogger(
      { level: 'info' },
      { write: (line: string) => void lines.push(JSON.parse(line)) },
    ),
  }
}

describe('createHubService: mode 2 (zk)', { skip: zkTestPtau.skip }, () => {
  before(async () => {
    network = await createTestNetwork({ parameters: { requestTimeout: 600 } })
    const built = await zkDemoArtifacts()
    artifacts = built.artifacts
    zkDir = built.dir
    const sample = built.demo.samples[0]!
    image = sample.image
    logits = sample.int8Logits
    engine = createOnnxEngine()
    const { dir, remove } = await tempDir('verity-hub-zk-')
    temps.push(remove)
    // the store gives the model the zk section the artifact folder holds for it
    const store = withZkManifests(createModelStore({ dir }), {
      artifacts: createZkArtifactStore({ dir: zkDir }),
    })
    models = createModelService({ store, engine, logger })
    const published = await models.publish({ bytes: built.demo.int8Model, name: 'digits-int8' })
    assert.deepEqual(published.manifest.zk, artifacts.manifestZk)
    const creator = network.chain.accounts[0]!
    modelId = await network.registerModel(creator, {
      name: 'digits-int8',
      cid: published.cid,
      manifestHash: published.manifestHash,
      pricePerCall: PRICE,
    })
    const clients = {
      publicClient: network.chain.publicClient,
      walletClient: network.chain.walletClients[0]!,
    }
    ;({ adapter } = await deployZkVerifier({
      ...clients,
      solidityVerifier: artifacts.solidityVerifier,
      modelCommitment: BigInt(artifacts.manifestZk.modelCommitment),
      inputLength: 784,
      outputCount: 10,
    }))
    await registerZkVerifier({
      ...clients,
      modelRegistry: network.config.contracts.modelRegistry,
      modelId,
      adapter,
    })
    nodes = []
    for (const [index, stake] of [
      [1, parseEther('1')],
      [2, parseEther('2')],
    ] as const) {
      const account = network.chain.accounts[index]!
      nodes.push({ account, stake, registry: new Registry(), proofs: 0 })
      await network.registerNode(account, { endpoint: `http://127.0.0.1:${index}`, stake })
    }
    consumer = getAddress(
      await network.chain.deploy(
        exampleConsumerAbi,
        exampleConsumerBytecode,
        [network.config.contracts.inferenceHub],
        network.chain.accounts[4]!,
      ),
    )
  })

  after(async () => {
    for (const service of services) await service.stop()
    await engine?.close()
    await network?.close()
    for (const remove of temps) await remove()
  })

  test('default: a mode-2 request with 784 raw bytes is proven by the drawn executor and the consumer is called back with the proven logits', async () => {
    const list = await createServices({ now: () => 0 })
    const { requestId, blockHash } = await ask(image)
    const [first, second] = expectedOrder(requestId, blockHash) as [TestNode, TestNode]
    for (const service of list) service.start()
    await until(async () =>
      network.chain.publicClient.readContract({
        address: consumer,
        abi: exampleConsumerAbi,
        functionName: 'fulfilled',
        args: [requestId],
      }),
    )
    await Promise.all(list.map((service) => service.stop()))

    const stored = await network.chain.publicClient.readContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'resultOf',
      args: [requestId],
    })
    const [proven] = decodeAbiParameters([{ type: 'int256[]' }], stored)
    assert.deepEqual(proven, logits.map(BigInt))
    const [event, ...others] = await network.chain.publicClient.getContractEvents({
      address: network.config.contracts.inferenceHub,
      abi: inferenceHubAbi,
      eventName: 'InferenceFulfilled',
      args: { requestId },
      fromBlock: 0n,
      strict: true,
    })
    assert.equal(others.length, 0)
    assert.equal(event?.args.executor, first.account.address)
    assert.equal(event?.args.outputHash, keccak256(stored))
    assert.deepEqual(event?.args.cosigners, [])
    // one proof, by the drawn executor; the other waited its turn (60 s on a stopped clock)
    assert.deepEqual([first.proofs, second.proofs], [1, 0])
    assert.equal(await metric(first, /^verity_hub_requests_total\{status="fulfilled"\}/), 1)
    assert.equal(await metric(first, /^verity_hub_prove_seconds_count/), 1)
    assert.equal(await metric(first, /^verity_hub_fulfill_seconds_count/), 1)
    assert.equal(await metric(second, /^verity_hub_requests_total/), 0)
  })

  test('behavior: when the drawn executor cannot prove (no artifacts), it skips and the next one proves after the fallback delay', async () => {
    let clock = 1_000_000
    const { dir: emptyDir, remove } = await tempDir('verity-hub-zk-empty-')
    temps.push(remove)
    const empty = createZkArtifactStore({ dir: emptyDir })
    const full = createZkArtifactStore({ dir: zkDir })
    // decided once the request (and so the draw) is known
    let withoutArtifacts: TestNode | undefined
    const { logger: captured, lines } = captureLogs()
    const list = await createServices({
      now: () => clock,
      logger: captured,
      zkFor: (node) => ({
        store: {
          load: (manifestZk) => (node === withoutArtifacts ? empty : full).load(manifestZk),
        },
        prover,
      }),
    })
    const { requestId, blockHash } = await ask(image)
    const [first, second] = expectedOrder(requestId, blockHash) as [TestNode, TestNode]
    withoutArtifacts = first
    const service = (node: TestNode) => list[nodes.indexOf(node)]!
    const [refused, waiting] = await Promise.all([service(first).tick(), service(second).tick()])
    assert.equal(refused.skipped, 1)
    assert.equal(waiting.waiting, 1)
    assert.equal(await requestStatus(requestId), Status.Pending)
    assert.ok(
      lines.some(
        (l) =>
          l.requestId === String(requestId) &&
          l.code === 'ZK_ARTIFACT_NOT_FOUND' &&
          l.msg === 'request refused: skipped',
      ),
    )
    clock += FALLBACK_MS - 1
    assert.equal((await service(second).tick()).waiting, 1)
    clock += 1
    assert.equal((await service(second).tick()).fulfilled, 1)
    assert.equal(await requestStatus(requestId), Status.Fulfilled)
    assert.deepEqual([first.proofs, second.proofs], [0, 1])
    assert.equal(await metric(first, /^verity_hub_requests_total\{status="skipped"\}/), 1)
    assert.equal(await metric(second, /^verity_hub_requests_total\{status="fulfilled"\}/), 1)
    await Promise.all(list.map((s) => s.stop()))
  })

  test('error: an input of another length is logged and skipped by every executor, never proven or thrown', async () => {
    let clock = 0
    const { logger: captured, lines } = captureLogs()
    const list = await createServices({ now: () => clock, logger: captured })
    const short = await ask(image.subarray(0, 783))
    const long = await ask(Uint8Array.of(...image, 0))
    const reports = await Promise.all(list.map((s) => s.tick()))
    clock += FALLBACK_MS
    const later = await Promise.all(list.map((s) => s.tick()))
    // each node refuses each request once, at its turn
    const skipped = [...reports, ...later].reduce((sum, r) => sum + r.skipped, 0)
    assert.equal(skipped, 4)
    assert.ok([...reports, ...later].every((r) => r.fulfilled === 0 && r.failed === 0))
    for (const { requestId } of [short, long]) {
      assert.equal(await requestStatus(requestId), Status.Pending)
      assert.equal(
        lines.filter((l) => l.requestId === String(requestId) && l.code === 'TENSOR_SHAPE_MISMATCH')
          .length,
        2,
      )
    }
    assert.deepEqual(
      nodes.map((n) => n.proofs),
      [0, 0],
    )
    assert.ok(list.every((s) => s.open === 0))
    await Promise.all(list.map((s) => s.stop()))
  })

  test('error: a proof the registered verifier refuses (adapter of another model commitment) is skipped without a transaction', async () => {
    const clients = {
      publicClient: network.chain.publicClient,
      walletClient: network.chain.walletClients[0]!,
    }
    const wrong = await deployZkVerifier({
      ...clients,
      solidityVerifier: artifacts.solidityVerifier,
      modelCommitment: BigInt(artifacts.manifestZk.modelCommitment) + 1n,
      inputLength: 784,
      outputCount: 10,
    })
    const register = (address: Address) =>
      registerZkVerifier({
        ...clients,
        modelRegistry: network.config.contracts.modelRegistry,
        modelId,
        adapter: address,
      })
    await register(wrong.adapter)
    try {
      const { logger: captured, lines } = captureLogs()
      const list = await createServices({ now: () => 0, logger: captured })
      const { requestId, blockHash } = await ask(image)
      const [first] = expectedOrder(requestId, blockHash) as [TestNode]
      const nonce = () =>
        network.chain.publicClient.getTransactionCount({ address: first.account.address })
      const before = await nonce()
      const report = await list[nodes.indexOf(first)]!.tick()
      assert.equal(report.skipped, 1)
      assert.equal(first.proofs, 1)
      assert.equal(await nonce(), before, 'the refused proof was simulated, never sent')
      assert.equal(await requestStatus(requestId), Status.Pending)
      assert.ok(lines.some((l) => l.requestId === String(requestId) && l.revert === 'InvalidProof'))
      await Promise.all(list.map((s) => s.stop()))
    } finally {
      await register(adapter)
    }
  })
})
