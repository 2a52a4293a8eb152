import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import { settlementAbi } from '@verity/contracts'
import { isBaseError } from '@verity/protocol'
import { Registry } from 'prom-client'
import { parseEther } from 'viem'
import { createTestNetwork, type TestNetwork } from '../testing/testNetwork.ts'
import { createNodeChain, revertName } from './createNodeChain.ts'

let network: TestNetwork
before(async () => {
  network = await createTestNetwork()
})
after(() => network?.close())

function chainFor(index: number, registry?: Registry) {
  return createNodeChain(
    {
      rpcUrl: network.config.rpcUrl,
      chainId: network.config.chainId,
      contracts: network.config.contracts,
      pollingIntervalMs: 20,
    },
    { account: network.chain.accounts[index]!, registry },
  )
}

test('default: concurrent writes from one key are mined in nonce order and counted', async () => {
  const registry = new Registry()
  const chain = chainFor(5, registry)
  const receipts = await Promise.all(
    [1n, 2n, 3n].map((wei) =>
      chain.write('deposit', {
        address: chain.contracts.settlement,
        abi: settlementAbi,
        functionName: 'deposit',
        value: wei,
      }),
    ),
  )
  assert.ok(receipts.every((r) => r.status === 'success'))
  const balance = await chain.publicClient.readContract({
    address: chain.contracts.settlement,
    abi: settlementAbi,
    functionName: 'balanceOf',
    args: [chain.account.address],
  })
  assert.equal(balance, 6n)
  const text = await registry.metrics()
  assert.match(text, /verity_chain_transactions_total\{what="deposit",status="success"\} 3/)
  assert.match(text, /verity_chain_gas_used_total\{what="deposit"\} \d{5,}/)
})

test('error: a revert is CHAIN_TRANSACTION_FAILED naming the custom error, and nothing is sent', async () => {
  const chain = chainFor(6)
  const nonce = await chain.publicClient.getTransactionCount({ address: chain.account.address })
  await assert.rejects(
    chain.write('finalize batch 99', {
      address: chain.contracts.settlement,
      abi: settlementAbi,
      functionName: 'finalize',
      args: [99n],
    }),
    (error: unknown) => {
      assert.ok(isBaseError(error) && error.code === 'CHAIN_TRANSACTION_FAILED')
      assert.match(error.shortMessage, /UnknownBatch/)
      assert.equal(revertName(error), 'UnknownBatch')
      return true
    },
  )
  assert.equal(
    await chain.publicClient.getTransactionCount({ address: chain.account.address }),
    nonce,
  )
  // the queue keeps working after a failure
  const ok = await chain.write('deposit', {
    address: chain.contracts.settlement,
    abi: settlementAbi,
    functionName: 'deposit',
    value: parseEther('0.01'),
  })
  assert.equal(ok.status, 'success')
})

test('error: an unreachable RPC is CHAIN_UNAVAILABLE', async () => {
  const chain = createNodeChain(
    { rpcUrl: 'http://127.0.0.1:9', chainId: 31337, contracts: network.config.contracts },
    { account: network.chain.accounts[1]! },
  )
  await assert.rejects(
    chain.write('deposit', {
      address: chain.contracts.settlement,
      abi: settlementAbi,
      functionName: 'deposit',
      value: 1n,
    }),
    (error: unknown) => isBaseError(error) && error.code === 'CHAIN_UNAVAILABLE',
  )
})
