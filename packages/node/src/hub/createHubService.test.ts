import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, test } from 'node:test'
import { createAdaptorServer } from '@hono/node-server'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  modelRegistryAbi,
} from '@verity/contracts'
import { createOnnxEngine, type Engine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import {
  BaseError,
  encodeTensors,
  isBaseError,
  type NamedTensors,
  namedTensorsFromJson,
  selectionSeed,
  selectVerifiers,
} from '@verity/protocol'
import { Hono } from 'hono'
import { Registry } from 'prom-client'
import {
  type Address,
  bytesToHex,
  decodeFunctionData,
  getAddress,
  type Hex,
  keccak256,
  numberToHex,
  parseEther,
  parseEventLogs,
  stringToBytes,
} from 'viem'
import type { PrivateKeyAccount } from 'viem/accounts'
import { createNodeChain } from '../chain/createNodeChain.ts'
import { errorToResponse } from '../http/errorToResponse.ts'
import { createLogger, type NodeLogger } from '../logger.ts'
import { createModelService, type ModelService } from '../models.ts'
import { demoModels, tempDir } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createStaticPeerDirectory, type PeerDirectory } from '../verification/peerDirectory.ts'
import { createHubService, type HubService } from './createHubService.ts'
import { checkHubSignature, hubDomain, signHubResult } from './hubResult.ts'
import type { HubServiceOptions } from './options.ts'
import { hubVerifyBodyToJson, parseHubVerifyBody } from './parseHubVerifyBody.ts'

// Accounts: 0 deployer, treasury and model creator; 1, 2, 3 hub nodes (stakes 1, 2, 3 ether);
// 4 owns the consumer; 7 an unregistered stranger.
const logger = createLogger({ level: (process.env.HUB_TEST_LOG as 'debug') ?? 'silent' })
const PRICE = parseEther('0.001')
const CALLBACK_GAS = 500_000
const REQUEST_TIMEOUT = 120
const Status = { Pending: 1, Fulfilled: 2, Refunded: 3 } as const

type TestNode = {
  account: PrivateKeyAccount
  stake: bigint
  url: string
  server: ReturnType<typeof createAdaptorServer>
  /** The hub service the node's HTTP route serves (undefined: the node is down). */
  current: HubService | undefined
  registry: Registry
  /** Model runs of this node (its executions and re-executions). */
  runs: number
}

let network: TestNetwork
let engine: Engine
let models: ModelService
let peers: PeerDirectory
let nodes: TestNode[]
let consumer: Address
let modelId: bigint
let ghostModelId: bigint
let inputs: NamedTensors
let input: Hex
let expectedOutput: Hex
let proxy: { url: string; down: boolean; server: Server }
const temps: (() => Promise<void>)[] = []
const services: HubService[] = []

async function listen(server: { listen: Server['listen']; address: Server['address'] }) {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

/** A small HTTP server per node with the route the node mounts, served by `node.current`. */
async function startNodeServer(node: Omit<TestNode, 'url' | 'server'>) {
  const app = new Hono()
  app.onError((error) => errorToResponse(error))
  app.post('/v1/hub/verify', async (c) => {
    const hub = (node as TestNode).current
    if (hub === undefined) throw new BaseError('NODE_UNAVAILABLE', 'This test node is down.')
    const body = parseHubVerifyBody(await c.req.json())
    return c.json(await hub.verify({ ...body, signal: c.req.raw.signal }))
  })
  const server = createAdaptorServer({ fetch: app.fetch })
  return { server, url: await listen(server as unknown as Server) }
}

/** An RPC proxy to anvil that drops every connection while `down`. */
async function startProxy(target: string) {
  const state = { down: false }
  const server = createServer(async (req, res) => {
    if (state.down) {
      res.destroy()
      return
    }
    const chunks: Buffer[] = []
    for await (const chunk of req) chunks.push(chunk as Buffer)
    const answer = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: Buffer.concat(chunks),
    })
    res.writeHead(answer.status, { 'content-type': 'application/json' })
    res.end(Buffer.from(await answer.arrayBuffer()))
  })
  const url = await listen(server)
  return Object.assign(state, { url, server })
}

before(async () => {
  network = await createTestNetwork({ parameters: { requestTimeout: REQUEST_TIMEOUT } })
  const demo = await demoModels()
  engine = createOnnxEngine()
  const { dir, remove } = await tempDir('verity-hub-')
  temps.push(remove)
  models = createModelService({ store: createModelStore({ dir }), engine, logger })
  const published = await models.publish({ bytes: demo.int8Model, name: 'digits-int8' })
  const creator = network.chain.accounts[0]!
  modelId = await network.registerModel(creator, {
    name: 'digits-int8',
    cid: published.cid,
    manifestHash: published.manifestHash,
    pricePerCall: PRICE,
  })
  ghostModelId = await network.registerModel(creator, {
    name: 'ghost',
    cid: 'bafkreighostmodelthatnonodehas',
    manifestHash: keccak256(stringToBytes('ghost')),
    pricePerCall: PRICE,
  })
  inputs = namedTensorsFromJson(demo.samples[3]!.int8Input)
  input = bytesToHex(encodeTensors(inputs))
  const { outputs } = await engine.run({ id: published.cid, inputs })
  expectedOutput = bytesToHex(encodeTensors(outputs))

  nodes = []
  for (const [index, stake] of [
    [1, parseEther('1')],
    [2, parseEther('2')],
    [3, parseEther('3')],
  ] as const) {
    const node = {
      account: network.chain.accounts[index]!,
      stake,
      current: undefined,
      registry: new Registry(),
      runs: 0,
    }
    const { server, url } = await startNodeServer(node)
    nodes.push(Object.assign(node, { server, url }))
    await network.registerNode(node.account, { endpoint: url, stake })
  }
  peers = createStaticPeerDirectory(nodes.map((n) => ({ address: n.account.address, url: n.url })))
  consumer = getAddress(
    await network.chain.deploy(
      exampleConsumerAbi,
      exampleConsumerBytecode,
      [network.config.contracts.inferenceHub],
      network.chain.accounts[4]!,
    ),
  )
  proxy = await startProxy(network.config.rpcUrl)
})

after(async () => {
  for (const service of services) await service.stop()
  for (const node of nodes ?? []) node.server.close()
  proxy?.server.close()
  await engine?.close()
  await network?.close()
  for (const remove of temps) await remove()
})

/**
 * A fresh hub service per node (new metrics), scanning from the current block, behind each node's
 * HTTP route.
 */
async function createServices(
  options: Partial<HubServiceOptions>,
  extra: {
    now?: () => number
    rpcUrl?: string
    logger?: NodeLogger
    /** A node's engine (default: the shared ONNX engine); runs are counted either way. */
    engineFor?: (node: TestNode) => Pick<Engine, 'run'>
  } = {},
): Promise<HubService[]> {
  const block = await network.chain.publicClient.getBlockNumber()
  return nodes.map((node) => {
    node.registry = new Registry()
    node.runs = 0
    const chain = createNodeChain(
      {
        rpcUrl: extra.rpcUrl ?? network.config.rpcUrl,
        chainId: network.config.chainId,
        contracts: network.config.contracts,
        deployedAt: { block: Number(block) + 1 },
        pollingIntervalMs: 20,
      },
      { account: node.account, registry: node.registry },
    )
    const inner = extra.engineFor?.(node) ?? engine
    const counting: Pick<Engine, 'run'> = {
      run: (parameters) => {
        node.runs++
        return inner.run(parameters)
      },
    }
    const service = createHubService(
      { pollIntervalMs: 50, verifyTimeoutMs: 10_000, retryDelayMs: 0, ...options },
      {
        chain,
        engine: counting,
        models,
        peers,
        logger: extra.logger ?? logger,
        registry: node.registry,
        now: extra.now,
      },
    )
    node.current = service
    services.push(service)
    return service
  })
}

async function stopAll(list: HubService[]): Promise<void> {
  await Promise.all(list.map((service) => service.stop()))
}

/** The consumer asks for an inference; returns the request id and the block that mined it. */
async function ask(bytes: Hex, quorum: number, model = modelId, mode = 1) {
  const wallet = network.chain.walletClients[4]!
  const hash = await wallet.writeContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName: 'ask',
    args: [model, bytes, mode, quorum, CALLBACK_GAS],
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

async function fulfilments(requestId: bigint) {
  return network.chain.publicClient.getContractEvents({
    address: network.config.contracts.inferenceHub,
    abi: inferenceHubAbi,
    eventName: 'InferenceFulfilled',
    args: { requestId },
    fromBlock: 0n,
    strict: true,
  })
}

const fulfillSelector = keccak256(stringToBytes('fulfill(uint256,bytes,(address,bytes)[])')).slice(
  0,
  10,
)

/**
 * Successful `fulfill` transactions for `requestId` mined since `fromBlock`. Only this request's
 * count: services of earlier tests may still fulfil their own requests in these blocks (that was
 * the "second fulfil" once seen under load). A reverted attempt fulfils nothing and is not counted.
 */
async function fulfilTransactions(fromBlock: bigint, requestId: bigint): Promise<number> {
  const client = network.chain.publicClient
  const latest = await client.getBlockNumber()
  const hub = network.config.contracts.inferenceHub.toLowerCase()
  let count = 0
  for (let number = fromBlock; number <= latest; number++) {
    const block = await client.getBlock({ blockNumber: number, includeTransactions: true })
    for (const tx of block.transactions) {
      if (tx.to?.toLowerCase() !== hub || tx.input.slice(0, 10) !== fulfillSelector) continue
      const { args } = decodeFunctionData({ abi: inferenceHubAbi, data: tx.input })
      if (args[0] !== requestId) continue
      const receipt = await client.getTransactionReceipt({ hash: tx.hash })
      if (receipt.status === 'success') count++
    }
  }
  return count
}

async function metric(node: TestNode, pattern: RegExp): Promise<number> {
  const text = await node.registry.metrics()
  const line = text.split('\n').find((l) => pattern.test(l))
  return line === undefined ? 0 : Number(line.split(' ').at(-1))
}

async function until(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) assert.fail(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

test('default: a quorum-2 request made before the nodes start is fulfilled once, by the drawn executor, and the consumer stores the model output', async () => {
  const list = await createServices({ fallbackDelayMs: 60_000 })
  const { requestId, blockHash } = await ask(input, 2)
  const fromBlock = await network.chain.publicClient.getBlockNumber()
  const order = expectedOrder(requestId, blockHash)
  for (const service of list) service.start()
  await until(async () =>
    network.chain.publicClient.readContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'fulfilled',
      args: [requestId],
    }),
  )
  await stopAll(list)

  const stored = await network.chain.publicClient.readContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName: 'resultOf',
    args: [requestId],
  })
  assert.equal(stored, expectedOutput)
  const events = await fulfilments(requestId)
  assert.equal(events.length, 1)
  const [event] = events
  assert.equal(event!.args.executor, order[0]!.account.address)
  assert.equal(event!.args.outputHash, keccak256(expectedOutput))
  assert.deepEqual(
    [...event!.args.cosigners].sort(),
    [order[1]!.account.address, order[2]!.account.address].sort(),
  )
  assert.equal(await fulfilTransactions(fromBlock, requestId), 1)
  // one execution and two re-executions: nobody ran the model twice
  assert.deepEqual(
    nodes.map((n) => n.runs),
    [1, 1, 1],
  )
  assert.equal(await metric(order[0]!, /^verity_hub_requests_total\{status="fulfilled"\}/), 1)
  assert.equal(await metric(order[0]!, /^verity_hub_fulfill_seconds_count/), 1)
  for (const verifier of [order[1]!, order[2]!]) {
    assert.equal(await metric(verifier, /^verity_hub_requests_total\{status="fulfilled"\}/), 0)
    assert.equal(await metric(verifier, /^verity_hub_verifications_total\{verdict="signed"\}/), 1)
    assert.equal(await metric(verifier, /^verity_chain_transactions_total\{what="fulfill"/), 0)
  }
})

test('behavior: when the drawn executor is down, the next one fulfils after the fallback delay, and only it', async () => {
  let clock = 1_000_000
  const list = await createServices({ fallbackDelayMs: 30_000 }, { now: () => clock })
  const { requestId, blockHash } = await ask(input, 1)
  const fromBlock = await network.chain.publicClient.getBlockNumber()
  const order = expectedOrder(requestId, blockHash)
  const [down, second, third] = order as [TestNode, TestNode, TestNode]
  await down.current!.stop()
  down.current = undefined // its route answers 503, as a stopped node would

  const first = await Promise.all([second.current!.tick(), third.current!.tick()])
  assert.deepEqual(
    first.map((r) => [r.discovered, r.fulfilled, r.waiting]),
    [
      [1, 0, 1],
      [1, 0, 1],
    ],
  )
  clock += 29_999
  const early = await Promise.all([second.current!.tick(), third.current!.tick()])
  assert.ok(early.every((r) => r.fulfilled === 0 && r.waiting === 1))
  assert.equal(await requestStatus(requestId), Status.Pending)

  clock += 1
  const [secondReport, thirdReport] = await Promise.all([
    second.current!.tick(),
    third.current!.tick(),
  ])
  assert.equal(secondReport.fulfilled, 1)
  assert.equal(thirdReport.fulfilled, 0)
  assert.equal(await requestStatus(requestId), Status.Fulfilled)
  const [event] = await fulfilments(requestId)
  assert.equal(event?.args.executor, second.account.address)
  assert.deepEqual(event?.args.cosigners, [third.account.address])

  // the third node sees the fulfilment and stops watching before its own turn comes
  clock += 30_000
  const late = await third.current!.tick()
  assert.equal(late.fulfilled + late.skipped + late.failed, 0)
  assert.equal(third.current!.open, 0)
  assert.equal(await fulfilTransactions(fromBlock, requestId), 1)
  assert.equal(down.runs, 0)
  await stopAll(list)
})

test('behavior: malformed input, a shape mismatch and an unknown model are skipped without a crash; the requests stay refundable', async () => {
  const clock = 5_000_000
  const logs: { level: number; msg: string; code?: string; requestId?: string }[] = []
  const captured = createLogger(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line)) },
  )
  const list = await createServices(
    { fallbackDelayMs: 30_000 },
    { now: () => clock, logger: captured },
  )
  const wrongShape = bytesToHex(
    encodeTensors({ image: { dtype: 'uint8', shape: [1, 1, 14, 14], data: new Uint8Array(196) } }),
  )
  const requests = [
    await ask('0xdeadbeef', 1),
    await ask(wrongShape, 1),
    await ask(input, 1, ghostModelId),
  ]
  const reports = await Promise.all(list.map((service) => service.tick()))
  assert.equal(
    reports.reduce((sum, r) => sum + r.skipped, 0),
    3,
  )
  assert.ok(reports.every((r) => r.fulfilled === 0 && r.failed === 0 && r.error === undefined))
  const skipped = await Promise.all(
    nodes.map((n) => metric(n, /^verity_hub_requests_total\{status="skipped"\}/)),
  )
  assert.equal(
    skipped.reduce((a, b) => a + b, 0),
    3,
  )
  const refused = logs.filter((l) => l.msg === 'request refused: skipped')
  assert.deepEqual(
    refused.map((l) => [l.requestId, l.code]).sort(),
    [
      [String(requests[0]!.requestId), 'TENSOR_ENCODING_INVALID'],
      [String(requests[1]!.requestId), 'TENSOR_SHAPE_MISMATCH'],
      [String(requests[2]!.requestId), 'MODEL_NOT_FOUND'],
    ].sort(),
  )
  // a refusal is final for the node that refused: no retry on the next tick
  const again = await Promise.all(list.map((service) => service.tick()))
  assert.equal(
    again.reduce((sum, r) => sum + r.skipped + r.fulfilled + r.failed, 0),
    0,
  )
  for (const { requestId } of requests) assert.equal(await requestStatus(requestId), Status.Pending)

  await network.chain.increaseTime(REQUEST_TIMEOUT + 1)
  for (const { requestId } of requests) {
    const hash = await network.chain.walletClients[7]!.writeContract({
      address: network.config.contracts.inferenceHub,
      abi: inferenceHubAbi,
      functionName: 'refund',
      args: [requestId],
    })
    const receipt = await network.chain.publicClient.waitForTransactionReceipt({ hash })
    assert.equal(receipt.status, 'success')
    assert.equal(await requestStatus(requestId), Status.Refunded)
  }
  await stopAll(list)
})

test('error: a verifier refuses to sign a wrong output (OUTPUT_MISMATCH) and unauthenticated callers, and signs the right output', async () => {
  const list = await createServices({ fallbackDelayMs: 30_000 }, { now: () => 0 })
  const { requestId } = await ask(input, 2)
  const [executor, verifier] = nodes as [TestNode, TestNode]
  const domain = hubDomain(network.config.chainId, network.config.contracts.inferenceHub)
  const inputHash = keccak256(input)
  const wrong = namedTensorsFromJson({
    logits: { dtype: 'int32', shape: [1, 10], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
  })
  const wrongOutput = bytesToHex(encodeTensors(wrong))
  const signedBy = (account: PrivateKeyAccount, output: Hex) =>
    signHubResult(account, domain, { requestId, inputHash, outputHash: keccak256(output) })

  await assert.rejects(
    verifier.current!.verify({
      requestId,
      output: wrongOutput,
      executor: await signedBy(executor.account, wrongOutput),
    }),
    (error: unknown) => isBaseError(error, 'OUTPUT_MISMATCH'),
  )
  // the same refusal over HTTP, as an executor sees it
  const response = await fetch(`${verifier.url}/v1/hub/verify`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(
      hubVerifyBodyToJson({
        requestId,
        output: wrongOutput,
        executor: await signedBy(executor.account, wrongOutput),
      }),
    ),
  })
  assert.equal(response.status, 422)
  assert.equal(
    ((await response.json()) as { error: { code: string } }).error.code,
    'OUTPUT_MISMATCH',
  )

  const stranger = network.chain.accounts[7]!
  const refusals: [Parameters<HubService['verify']>[0], string][] = [
    // not a peer, not registered
    [
      { requestId, output: expectedOutput, executor: await signedBy(stranger, expectedOutput) },
      'RECEIPT_SIGNER_MISMATCH',
    ],
    // the verifier itself
    [
      {
        requestId,
        output: expectedOutput,
        executor: await signedBy(verifier.account, expectedOutput),
      },
      'RECEIPT_SIGNER_MISMATCH',
    ],
    // a signature over another output than the one sent
    [
      {
        requestId,
        output: expectedOutput,
        executor: {
          signer: executor.account.address,
          signature: (await signedBy(executor.account, wrongOutput)).signature,
        },
      },
      'SIGNATURE_INVALID',
    ],
    // a request that does not exist
    [
      {
        requestId: 999_999n,
        output: expectedOutput,
        executor: await signedBy(executor.account, expectedOutput),
      },
      'JOB_NOT_FOUND',
    ],
  ]
  for (const [parameters, code] of refusals)
    await assert.rejects(verifier.current!.verify(parameters), (error: unknown) => {
      assert.ok(isBaseError(error), String(error))
      assert.equal(error.code, code, error.message)
      return true
    })

  const signed = await verifier.current!.verify({
    requestId,
    output: expectedOutput,
    executor: await signedBy(executor.account, expectedOutput),
  })
  assert.equal(signed.signer, verifier.account.address)
  await checkHubSignature(signed, domain, {
    requestId,
    inputHash,
    outputHash: keccak256(expectedOutput),
  })
  // the re-execution was done once and reused for the second output
  assert.equal(verifier.runs, 1)
  assert.equal(await metric(verifier, /^verity_hub_verifications_total\{verdict="refused"\}/), 2)
  assert.equal(await metric(verifier, /^verity_hub_verifications_total\{verdict="signed"\}/), 1)
  assert.equal(await requestStatus(requestId), Status.Pending)
  await stopAll(list)
})

test('behavior: the watcher survives an unreachable RPC and catches up when it is back', async () => {
  proxy.down = true
  // the services' chains go through the proxy; the test's own client talks to anvil directly
  const proxied = await createServices(
    { fallbackDelayMs: 30_000 },
    { now: () => 0, rpcUrl: proxy.url },
  )
  const { requestId } = await ask(input, 2)
  const down = await Promise.all(proxied.map((service) => service.tick()))
  assert.ok(down.every((r) => r.error === 'CHAIN_UNAVAILABLE' && r.fulfilled === 0))
  assert.equal(await requestStatus(requestId), Status.Pending)

  proxy.down = false
  const up = await Promise.all(proxied.map((service) => service.tick()))
  assert.equal(
    up.reduce((sum, r) => sum + r.fulfilled, 0),
    1,
  )
  assert.ok(up.every((r) => r.error === undefined && r.discovered === 1))
  assert.equal(await requestStatus(requestId), Status.Fulfilled)
  assert.equal((await fulfilments(requestId)).length, 1)
  await stopAll(proxied)
})

test('behavior: a verifier that computes another output is replaced by the next one drawn', async () => {
  let lying: TestNode | undefined
  const list = await createServices(
    { fallbackDelayMs: 30_000 },
    {
      now: () => 0,
      engineFor: (node) => ({
        async run(parameters) {
          const result = await engine.run(parameters)
          if (node !== lying) return result
          const logits = result.outputs.logits!
          const data = (logits.data as Int32Array).slice()
          data[0] = (data[0] ?? 0) + 1
          return { ...result, outputs: { logits: { ...logits, data } } }
        },
      }),
    },
  )
  const { requestId, blockHash } = await ask(input, 1)
  const [executor] = expectedOrder(requestId, blockHash) as [TestNode]
  const drawn = selectVerifiers({
    seed: selectionSeed(numberToHex(requestId, { size: 32 }), blockHash),
    candidates: nodes.map((n) => ({ address: n.account.address, weight: n.stake })),
    count: 2,
    exclude: [executor.account.address],
  }).map((address) => nodes.find((n) => n.account.address === address)!)
  lying = drawn[0]
  const report = await executor.current!.tick()
  assert.equal(report.fulfilled, 1)
  const [event] = await fulfilments(requestId)
  assert.deepEqual(event?.args.cosigners, [drawn[1]!.account.address])
  assert.equal(await metric(drawn[0]!, /^verity_hub_verifications_total\{verdict="refused"\}/), 1)
  assert.equal(await metric(drawn[1]!, /^verity_hub_verifications_total\{verdict="signed"\}/), 1)
  const stored = await network.chain.publicClient.readContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName: 'resultOf',
    args: [requestId],
  })
  assert.equal(stored, expectedOutput)
  await stopAll(list)
})

test('behavior: stop() waits for the fulfilment in flight; afterwards the node co-signs nothing', async () => {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    open = resolve
  })
  let entered: () => void = () => {}
  const inEngine = new Promise<void>((resolve) => {
    entered = resolve
  })
  const list = await createServices(
    { fallbackDelayMs: 30_000 },
    {
      now: () => 0,
      engineFor: () => ({
        async run(parameters) {
          entered()
          await gate
          return engine.run(parameters)
        },
      }),
    },
  )
  const { requestId, blockHash } = await ask(input, 0) // quorum 0: the executor alone
  const [executor] = expectedOrder(requestId, blockHash) as [TestNode]
  const hub = executor.current!
  const ticking = hub.tick()
  await inEngine
  let stopped = false
  const stopping = hub.stop().then(() => {
    stopped = true
  })
  await new Promise((resolve) => setImmediate(resolve))
  assert.equal(stopped, false)
  assert.equal(hub.inFlight, 1)
  open()
  await stopping
  assert.equal((await ticking).fulfilled, 1)
  assert.equal(hub.inFlight, 0)
  assert.equal(await requestStatus(requestId), Status.Fulfilled)
  await assert.rejects(
    hub.verify({
      requestId,
      output: expectedOutput,
      executor: { signer: nodes[0]!.account.address, signature: `0x${'00'.repeat(65)}` },
    }),
    (error: unknown) => isBaseError(error, 'NODE_UNAVAILABLE'),
  )
  await stopAll(list)
})

test('behavior: zk requests (mode 2) are skipped with a log line', async () => {
  const creator = network.chain.walletClients[0]!
  const hash = await creator.writeContract({
    address: network.config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'registerModel',
    // any non-zero verifier address makes mode 2 requestable
    args: ['digits-zk', 'bafkreizkdemomodel', keccak256(stringToBytes('zk')), 0, PRICE, consumer],
  })
  await network.chain.publicClient.waitForTransactionReceipt({ hash })
  const [zkModelId] = await network.chain.publicClient.readContract({
    address: network.config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'modelByCid',
    args: [keccak256(stringToBytes('bafkreizkdemomodel'))],
  })
  const logs: { msg: string; requestId?: string }[] = []
  const captured = createLogger(
    { level: 'info' },
    { write: (line: string) => void logs.push(JSON.parse(line)) },
  )
  const list = await createServices({}, { now: () => 0, logger: captured })
  const { requestId } = await ask(input, 0, zkModelId, 2)
  const reports = await Promise.all(list.map((service) => service.tick()))
  assert.ok(reports.every((r) => r.discovered === 0 && r.fulfilled === 0))
  assert.equal(
    logs.filter(
      (l) => l.requestId === String(requestId) && /zk requests are not served/.test(l.msg),
    ).length,
    3,
  )
  for (const node of nodes)
    assert.equal(await metric(node, /^verity_hub_requests_total\{status="skipped"\}/), 1)
  assert.equal(await requestStatus(requestId), Status.Pending)
  assert.ok(list.every((service) => service.open === 0))
  await stopAll(list)
})
