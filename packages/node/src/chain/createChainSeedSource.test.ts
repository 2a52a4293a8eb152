import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { isBaseError, selectionSeed } from '@verity/protocol'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createChainSeedSource } from './createChainSeedSource.ts'
import { createNodeChain, type NodeChain } from './createNodeChain.ts'

let network: TestNetwork

before(async () => {
  network = await createTestNetwork()
})
after(() => network?.close())

function nodeChain(rpcUrl = network.config.rpcUrl): NodeChain {
  return createNodeChain(
    { rpcUrl, chainId: network.config.chainId, contracts: network.config.contracts },
    { account: network.chain.accounts[1]! },
  )
}

const jobId = `0x${'ab'.repeat(32)}` as const

test('default: the seed is the block one below the latest, recorded as the selection', async () => {
  await network.chain.testClient.mine({ blocks: 3 })
  const latest = await network.chain.publicClient.getBlockNumber({ cacheTime: 0 })
  const seeds = createChainSeedSource({}, { chain: nodeChain() })
  const seed = await seeds.seedFor({ jobId })
  const block = await network.chain.publicClient.getBlock({ blockNumber: latest - 1n })
  assert.deepEqual(seed, {
    blockHash: block.hash,
    selection: { blockNumber: Number(latest - 1n), blockHash: block.hash },
  })
  assert.match(selectionSeed(jobId, seed.blockHash), /^0x[0-9a-f]{64}$/)
  // a new block moves the seed with it
  await network.chain.testClient.mine({ blocks: 1 })
  const next = await seeds.seedFor({ jobId })
  assert.equal(next.selection?.blockNumber, Number(latest))
  assert.notEqual(next.blockHash, seed.blockHash)
})

test('behavior: 0 confirmations use the latest block; more than the chain has clamp at genesis', async () => {
  const latest = await network.chain.publicClient.getBlock({ blockTag: 'latest' })
  const head = await createChainSeedSource({ confirmations: 0 }, { chain: nodeChain() }).seedFor({
    jobId,
  })
  assert.deepEqual(head.selection, { blockNumber: Number(latest.number), blockHash: latest.hash })
  const genesis = await network.chain.publicClient.getBlock({ blockNumber: 0n })
  const deep = await createChainSeedSource(
    { confirmations: 10_000 },
    { chain: nodeChain() },
  ).seedFor({ jobId })
  assert.deepEqual(deep.selection, { blockNumber: 0, blockHash: genesis.hash })
})

test('error: an unreachable chain is CHAIN_UNAVAILABLE; a bad confirmation count is INVALID_ARGUMENT', async () => {
  await assert.rejects(
    createChainSeedSource({}, { chain: nodeChain('http://127.0.0.1:9') }).seedFor({ jobId }),
    (error: unknown) => isBaseError(error, 'CHAIN_UNAVAILABLE'),
  )
  for (const confirmations of [-1, 1.5, Number.NaN])
    assert.throws(
      () => createChainSeedSource({ confirmations }, { chain: nodeChain() }),
      (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
})
