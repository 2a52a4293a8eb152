import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, test } from 'node:test'
import { nodeRegistryAbi } from '@verity/contracts'
import { createOnnxEngine } from '@verity/engine'
import type { StoredModel } from '@verity/hub'
import { type InferenceRequestMessage, isBaseError } from '@verity/protocol'
import { createClient, http, infer, verifyReceipt } from '@verity/sdk'
import { Registry } from 'prom-client'
import { parseEther } from 'viem'
import { createVerityNode, type VerityNode } from '../createVerityNode.ts'
import { createLogger } from '../logger.ts'
import { demoModels, tempDir, testAccounts } from '../testing/fixtures.ts'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createReexecVerification } from '../verification/createReexecVerification.ts'
import { createVerificationMetrics } from '../verification/verificationMetrics.ts'
import { createChainSeedSource } from './createChainSeedSource.ts'
import { createNodeChain, type NodeChain } from './createNodeChain.ts'
import { createRegistryPeerDirectory } from './createRegistryPeerDirectory.ts'

let network: TestNetwork

before(async () => {
  network = await createTestNetwork()
})
after(() => network?.close())

const dev = (index: number) => network.chain.accounts[index]!

function nodeChain(index = 0, rpcUrl = network.config.rpcUrl): NodeChain {
  return createNodeChain(
    {
      rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: dev(index) },
  )
}

/** A logger whose lines the test can read. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = []
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line))
      done()
    },
  })
  return { logger: createLogger({ level: 'debug' }, destination), lines }
}

async function unbondAll(index: number): Promise<void> {
  const wallet = network.chain.walletClients[index]!
  const node = await network.chain.publicClient.readContract({
    address: network.config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'getNode',
    args: [wallet.account.address],
  })
  const hash = await wallet.writeContract({
    address: network.config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'requestUnbond',
    args: [node.stake],
  })
  await network.chain.publicClient.waitForTransactionReceipt({ hash })
}

test('default: lists registered nodes with capped weights, peer ids and roles; skips a malformed endpoint; drops an unbonding node after the TTL', async () => {
  const cap = network.config.parameters.weightCap
  await network.registerNode(dev(1), {
    endpoint: 'http://127.0.0.1:8101/',
    peerId: '12D3KooWGzh4aH9p9ZkJQ6Q1cU8P9xZ3v1Tq6c8m2sKkq7YbUu1A',
    stake: parseEther('2'),
  })
  await network.registerNode(dev(2), {
    endpoint: 'https://verifier.example',
    stake: cap * 2n,
    roles: 4,
  })
  await network.registerNode(dev(3), { endpoint: 'not a url', stake: parseEther('3') })
  await network.registerNode(dev(4), { endpoint: 'http://127.0.0.1:8104', roles: 2 })
  let clock = 1_000_000
  const { logger, lines } = capturedLogger()
  const peers = createRegistryPeerDirectory(
    { ttlMs: 5_000, pageSize: 2 },
    { chain: nodeChain(), logger, now: () => clock },
  )
  const expected = [
    {
      address: dev(1).address,
      url: 'http://127.0.0.1:8101',
      weight: parseEther('2'),
      peerId: '12D3KooWGzh4aH9p9ZkJQ6Q1cU8P9xZ3v1Tq6c8m2sKkq7YbUu1A',
      roles: 7,
    },
    { address: dev(2).address, url: 'https://verifier.example', weight: cap, roles: 4 },
    {
      address: dev(4).address,
      url: 'http://127.0.0.1:8104',
      weight: network.config.parameters.minStake,
      roles: 2,
    },
  ]
  assert.deepEqual(await peers.list(), expected, 'weight capped at weightCap, 3 pages of 2')
  const warning = lines.find(
    (line) => line.msg === 'registered node has a malformed endpoint: skipping it',
  )
  assert.equal(warning?.node, dev(3).address)
  assert.deepEqual(await peers.get(dev(2).address.toLowerCase() as `0x${string}`), expected[1])

  await unbondAll(2)
  assert.equal((await peers.list()).length, 3, 'cached for ttlMs')
  clock += 5_000
  assert.deepEqual(
    (await peers.list()).map((peer) => peer.address),
    [dev(1).address, dev(4).address],
    'refreshed after the TTL: the unbonding node is gone',
  )
  const exiting = await peers.get(dev(2).address)
  assert.equal(exiting?.weight, 0n, 'registered but inactive: weight 0')
  assert.equal(await peers.get(dev(9).address), undefined, 'never registered')
  assert.equal(await peers.get(dev(3).address), undefined, 'malformed endpoint')

  // registered after the last read: `get` reads it fresh, `list` shows it after the TTL
  await network.registerNode(dev(5), { endpoint: 'http://127.0.0.1:8105', roles: 4 })
  assert.equal((await peers.list()).length, 2)
  assert.deepEqual(await peers.get(dev(5).address), {
    address: dev(5).address,
    url: 'http://127.0.0.1:8105',
    weight: network.config.parameters.minStake,
    roles: 4,
  })
  assert.equal((await peers.refresh()).length, 3)
})

test('behavior: reexec draws only peers whose registered roles include verifier', async () => {
  // dev(1) roles 7, dev(4) executor only (2), dev(5) verifier (4); dev(1) asks
  const peers = createRegistryPeerDirectory(
    { ttlMs: 0 },
    { chain: nodeChain(), logger: createLogger({ level: 'silent' }) },
  )
  const reexec = createReexecVerification(
    { domain: { name: 'Verity', version: '1', chainId: network.config.chainId }, timeoutMs: 1000 },
    {
      address: dev(1).address,
      peers,
      seeds: createChainSeedSource({}, { chain: nodeChain() }),
      store: { addEvidence: () => assert.fail('no evidence expected') },
      metrics: createVerificationMetrics(new Registry()),
      logger: createLogger({ level: 'silent' }),
    },
  )
  const request = (quorum: number) => ({
    request: { quorum } as InferenceRequestMessage,
    model: {} as StoredModel,
  })
  await reexec.check?.(request(1))
  await assert.rejects(reexec.check?.(request(2)) as Promise<void>, (error: unknown) => {
    assert.ok(isBaseError(error, 'SELECTION_INVALID'))
    assert.match(error.shortMessage, /peer directory lists 1/)
    return true
  })
})

test('error: an unreachable chain is CHAIN_UNAVAILABLE for list and get', async () => {
  const peers = createRegistryPeerDirectory(
    {},
    { chain: nodeChain(0, 'http://127.0.0.1:9'), logger: createLogger({ level: 'silent' }) },
  )
  const unavailable = (error: unknown) => isBaseError(error, 'CHAIN_UNAVAILABLE')
  await assert.rejects(peers.list(), unavailable)
  await assert.rejects(peers.get(dev(1).address), unavailable)
  assert.throws(
    () =>
      createRegistryPeerDirectory(
        { pageSize: 0 },
        { chain: nodeChain(), logger: createLogger({ level: 'silent' }) },
      ),
    (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT'),
  )
})

test('behavior: nodes wired to NodeRegistry and chain seeds produce a reexec receipt the SDK verifies on-chain', async () => {
  const demo = await demoModels()
  const engine = createOnnxEngine()
  const logger = createLogger({ level: 'silent' })
  const nodes: VerityNode[] = []
  const removals: (() => Promise<void>)[] = []
  try {
    let model = { cid: '', manifestHash: '' as `0x${string}` }
    for (const index of [6, 7, 8]) {
      const { dir, remove } = await tempDir('verity-chain-')
      removals.push(remove)
      const chain = nodeChain(index)
      const node = await createVerityNode(
        {
          dataDir: dir,
          network: { chainId: chain.chainId, settlement: chain.contracts.settlement },
          verifyTimeoutMs: 5_000,
        },
        {
          account: dev(index),
          engine,
          logger,
          peers: createRegistryPeerDirectory({ ttlMs: 0 }, { chain, logger }),
          seeds: createChainSeedSource({ confirmations: 1 }, { chain }),
        },
      )
      nodes.push(node)
      const url = await node.start()
      await network.registerNode(dev(index), { endpoint: url })
      const published = await node.app.request('/v1/models?name=digits-int8', {
        method: 'POST',
        body: demo.int8Model,
      })
      assert.equal(published.status, 201)
      model = (await published.json()) as typeof model
    }
    await network.registerModel(dev(9), { name: 'digits-int8', ...model })
    const client = createClient({ transport: http(nodes[0]!.url!), account: testAccounts.client })
    const { receipt, verdict } = await infer(client, {
      model: 'digits-int8',
      inputs: demo.samples[1]!.int8Input,
      mode: 'reexec',
      quorum: 2,
    })
    assert.equal(verdict.valid, true)
    const selection = receipt.quorum?.selection
    assert.ok(selection, 'the receipt records its seed block')
    const block = await network.chain.publicClient.getBlock({
      blockNumber: BigInt(selection.blockNumber),
    })
    assert.equal(block.hash, selection.blockHash)
    const online = await verifyReceipt(client, {
      receipt,
      online: true,
      rpcUrl: network.config.rpcUrl,
    })
    assert.equal(
      online.valid,
      true,
      JSON.stringify(online.checks.filter((c) => c.status === 'fail')),
    )
    assert.equal(online.checks.find((c) => c.name === 'quorum.selection')?.status, 'pass')
    assert.equal(online.checks.find((c) => c.name === 'settlement')?.status, 'skip')
  } finally {
    for (const node of nodes) await node.stop()
    await engine.close()
    for (const remove of removals) await remove()
  }
})
