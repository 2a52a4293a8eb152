import assert from 'node:assert/strict'
import { after, before, test } from 'node:test'
import {
  buildReceiptTree,
  createInferenceRequest,
  createReceipt,
  type Hash,
  hashCanonicalJson,
  type Mode,
  type NamedTensors,
  type Receipt,
  type ReceiptCheck,
  receiptLeafFromReceipt,
  signAttestation,
  signInferenceRequest,
  type VerityDomain,
} from '@verity/protocol'
import {
  type Abi,
  createPublicClient,
  type Hex,
  http,
  parseEther,
  type TransactionReceipt,
  zeroAddress,
} from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { deployVerity, type NetworkConfig } from './deploy.ts'
import { modelRegistryAbi, nodeRegistryAbi, settlementAbi } from './generated/index.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'
import { verifyReceiptOnChain } from './verifyReceiptOnChain.ts'

// Real anvil, real contracts, real signatures. Accounts: 0 deployer, 1 executor, 2 verifier,
// 3 verifier that exits later, 4 payer (requester), 5 model creator, 6 executor of a fraudulent
// batch, 7 challenger. `outsider` is never registered.
let chain: TestChain
let config: NetworkConfig
const cid = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'
const manifestHash = hashCanonicalJson({ model: 'online verification test' })
const inputs: NamedTensors = {
  x: { dtype: 'float32', shape: [1, 2], data: new Float32Array([1, 2]) },
}
const engine = { name: 'onnxruntime-node', version: '1.30.0', settings: {} }
const fee = parseEther('0.001')
const outsider = privateKeyToAccount(`0x${'77'.repeat(32)}`)
let settled: Receipt
let unsettled: Receipt

const account = (index: number) => chain.accounts[index]!

async function send(
  from: number,
  call: {
    address: `0x${string}`
    abi: Abi
    functionName: string
    args?: readonly unknown[]
    value?: bigint
  },
): Promise<TransactionReceipt> {
  const wallet = chain.walletClients[from]!
  const hash = await wallet.writeContract(
    call as unknown as Parameters<typeof wallet.writeContract>[0],
  )
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success', `${call.functionName} from account ${from}`)
  return receipt
}

function domain(overrides: Partial<VerityDomain> = {}): VerityDomain {
  return {
    name: 'Verity',
    version: '1',
    chainId: config.chainId,
    verifyingContract: config.contracts.settlement,
    ...overrides,
  }
}

/** A receipt signed by `executor` (and attested by `verifiers`), for the payer's request. */
async function signedReceipt(
  options: {
    nonce: number
    mode?: Mode
    verifiers?: number[] | undefined
    attesters?: Parameters<typeof signAttestation>[0]['account'][]
    executor?: number
    domain?: VerityDomain
    model?: { cid: string; manifestHash: Hash }
  } = { nonce: 1 },
): Promise<Receipt> {
  const signing = options.domain ?? domain()
  const attesters = options.attesters ?? (options.verifiers ?? []).map(account)
  const request = createInferenceRequest({
    modelCid: options.model?.cid ?? cid,
    manifestHash: options.model?.manifestHash ?? manifestHash,
    inputs,
    mode: options.mode ?? (attesters.length ? 'reexec' : 'none'),
    quorum: attesters.length,
    maxFee: parseEther('0.01'),
    nonce: `0x${options.nonce.toString(16).padStart(64, '0')}`,
    deadline: 4_000_000_000n,
  })
  const payer = account(4)
  const receipt = await createReceipt({
    account: account(options.executor ?? 1),
    requester: payer.address,
    request,
    requestSignature: await signInferenceRequest({ account: payer, request, domain: signing }),
    outputs: { y: { dtype: 'int32', shape: [1], data: new Int32Array([7]) } },
    engine,
    domain: signing,
  })
  if (attesters.length === 0) return receipt
  const block = await chain.publicClient.getBlock({ blockTag: 'latest' })
  const attestations = await Promise.all(
    attesters.map((verifier) =>
      signAttestation({
        account: verifier,
        jobId: receipt.job.id as Hash,
        outputHash: receipt.result.outputHash as Hash,
        agree: true,
        domain: signing,
      }),
    ),
  )
  return {
    ...receipt,
    quorum: {
      threshold: attesters.length,
      selection: { blockNumber: Number(block.number), blockHash: block.hash },
      attestations,
    },
  }
}

/** Commits `receipts` as one batch from `executor` and returns them with their settlement section. */
async function commit(receipts: Receipt[], executor = 1): Promise<Receipt[]> {
  const tree = buildReceiptTree(receipts.map((r) => receiptLeafFromReceipt(r, fee)))
  const shares = new Map<string, number>()
  for (const r of receipts)
    for (const a of r.quorum?.attestations ?? [])
      shares.set(a.verifier, (shares.get(a.verifier) ?? 0) + 1)
  const total = fee * BigInt(receipts.length)
  const [modelId] = await chain.publicClient.readContract({
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'modelByCid',
    args: [receiptLeafFromReceipt(receipts[0]!, fee).modelCidHash],
  })
  const mined = await send(executor, {
    address: config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'commitBatch',
    args: [
      tree.root,
      receipts.length,
      [{ payer: account(4).address, total }],
      [{ modelId, total }],
      [...shares].map(([verifier, count]) => ({ verifier, count })),
    ],
  })
  const batchId = await chain.publicClient.readContract({
    address: config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'batchCount',
  })
  return receipts.map((receipt, index) => ({
    ...receipt,
    settlement: {
      fee: fee.toString(),
      batchId: batchId.toString(),
      root: tree.root as Hash,
      proof: tree.getProof(index) as Hash[],
      transactionHash: mined.transactionHash,
      blockNumber: Number(mined.blockNumber),
    },
  }))
}

before(async () => {
  chain = await createTestChain()
  config = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: account(0),
    parameters: { challengeWindow: 60, unbondingDelay: 120, escrowWithdrawalDelay: 120 },
    pollingInterval: 20,
  })
  const register = (from: number, roles: number) =>
    send(from, {
      address: config.contracts.nodeRegistry,
      abi: nodeRegistryAbi,
      functionName: 'register',
      args: [`http://127.0.0.1:${9000 + from}`, '', roles],
      value: config.parameters.minStake,
    })
  await register(1, 7)
  await register(2, 4)
  await register(3, 4)
  await register(6, 3)
  await send(5, {
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    functionName: 'registerModel',
    args: ['digits', cid, manifestHash, 1000, parseEther('0.001'), zeroAddress],
  })
  await send(4, {
    address: config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'deposit',
    value: parseEther('1'),
  })
  const batch = await commit([
    await signedReceipt({ nonce: 1, verifiers: [2, 3] }),
    await signedReceipt({ nonce: 2, verifiers: [2] }),
    await signedReceipt({ nonce: 3 }),
  ])
  settled = batch[0]!
  unsettled = await signedReceipt({ nonce: 4, verifiers: [2] })
})
after(() => chain?.close())

function verify(
  receipt: unknown,
  options: Partial<Parameters<typeof verifyReceiptOnChain>[0]> = {},
) {
  return verifyReceiptOnChain({ receipt, publicClient: chain.publicClient, ...options })
}

function check(checks: ReceiptCheck[], name: string): ReceiptCheck {
  const found = checks.find((c) => c.name === name)
  assert.ok(found, `no check named ${name} in ${checks.map((c) => c.name).join(', ')}`)
  return found
}

test('default: a settled reexec receipt passes every offline and on-chain check', async () => {
  const verdict = await verify(settled)
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status !== 'pass')),
  )
  assert.equal(verdict.code, undefined)
  assert.equal(verdict.chain?.chainId, config.chainId)
  const names = verdict.checks.map((c) => c.name)
  // offline first (protocol's verdict), then the chain
  assert.equal(names[0], 'schema')
  assert.ok(names.indexOf('executor.signature') < names.indexOf('chain.id'))
  for (const name of [
    'chain.id',
    'chain.contract',
    'model.registry',
    'executor.stake',
    'quorum.attestations[0].stake',
    'quorum.attestations[1].stake',
    'quorum.selection',
    'settlement.batch',
    'settlement.status',
    'settlement.inclusion',
    'settlement.transaction',
  ])
    assert.equal(check(verdict.checks, name).status, 'pass', name)
  assert.match(check(verdict.checks, 'settlement.status').reason, /pending/)
  assert.match(check(verdict.checks, 'executor.stake').reason, /when batch 1 was committed/)
})

test('behavior: an unsettled receipt passes with the settlement skipped, or fails when settlement is required', async () => {
  const verdict = await verify(unsettled)
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status === 'fail')),
  )
  assert.deepEqual(check(verdict.checks, 'settlement'), {
    name: 'settlement',
    status: 'skip',
    reason: 'not settled yet',
  })
  assert.match(check(verdict.checks, 'executor.stake').reason, /now/)
  const required = await verify(unsettled, { requireSettlement: true })
  assert.equal(required.valid, false)
  assert.equal(required.code, 'RECEIPT_NOT_SETTLED')
})

test('error: a receipt signed for another chain fails chain.id with RECEIPT_CHAIN_MISMATCH', async () => {
  const receipt = await signedReceipt({ nonce: 10, domain: domain({ chainId: 1 }) })
  const verdict = await verify(receipt)
  assert.equal(verdict.valid, false)
  assert.equal(verdict.code, 'RECEIPT_CHAIN_MISMATCH')
  assert.match(
    check(verdict.checks, 'chain.id').reason,
    /signed for chain 1 but the RPC serves chain 31337/,
  )
  assert.ok(!verdict.checks.some((c) => c.name === 'model.registry'), 'nothing else is read')
})

test('error: a receipt whose contract is not a Verity Settlement fails chain.contract', async () => {
  for (const verifyingContract of [
    config.contracts.modelRegistry, // a contract, but not a Settlement
    outsider.address, // no code at all
  ]) {
    const receipt = await signedReceipt({ nonce: 11, domain: domain({ verifyingContract }) })
    const verdict = await verify(receipt)
    assert.equal(verdict.code, 'RECEIPT_CHAIN_MISMATCH', verifyingContract)
    assert.match(check(verdict.checks, 'chain.contract').reason, /not a Verity contract/)
  }
  const local = await signedReceipt({
    nonce: 12,
    domain: { name: 'Verity', version: '1', chainId: config.chainId },
  })
  const verdict = await verify(local)
  assert.equal(verdict.code, 'RECEIPT_CHAIN_MISMATCH')
  assert.match(check(verdict.checks, 'chain.contract').reason, /names no Settlement contract/)
})

test('error: an unregistered model and a manifest hash the registry does not hold fail model.registry', async () => {
  const unknown = await signedReceipt({
    nonce: 20,
    model: { cid: 'bafkreiunregisteredmodel', manifestHash },
  })
  const verdict = await verify(unknown)
  assert.equal(verdict.code, 'MODEL_NOT_REGISTERED')
  assert.match(check(verdict.checks, 'model.registry').reason, /not registered/)

  const otherManifest = await signedReceipt({
    nonce: 21,
    model: { cid, manifestHash: hashCanonicalJson({ model: 'another manifest' }) },
  })
  const mismatch = await verify(otherManifest)
  assert.equal(mismatch.code, 'RECEIPT_MANIFEST_HASH_MISMATCH')
  assert.match(
    check(mismatch.checks, 'model.registry').reason,
    new RegExp(`registered with manifest hash ${manifestHash}`),
  )
})

test('error: an attestation by an unstaked verifier fails its stake check', async () => {
  const receipt = await signedReceipt({ nonce: 30, attesters: [account(2), outsider] })
  const verdict = await verify(receipt)
  assert.equal(verdict.valid, false)
  assert.equal(verdict.code, 'RECEIPT_ATTESTATION_INVALID')
  assert.equal(check(verdict.checks, 'quorum.attestations[0].stake').status, 'pass')
  const unstaked = check(verdict.checks, 'quorum.attestations[1].stake')
  assert.equal(unstaked.status, 'fail')
  assert.match(unstaked.reason, new RegExp(`${outsider.address} is not registered`))
})

test('error: tampered settlement sections (root, batch id, transaction) fail the settlement checks', async () => {
  const otherRoot = structuredClone(settled)
  otherRoot.settlement!.root = `0x${'ab'.repeat(32)}`
  const root = await verify(otherRoot)
  assert.equal(root.code, 'RECEIPT_SETTLEMENT_INVALID')
  assert.match(check(root.checks, 'settlement.batch').reason, /its root is 0x/)

  // batch 2 exists but holds another root
  await commit([await signedReceipt({ nonce: 40 })])
  const otherBatch = structuredClone(settled)
  otherBatch.settlement!.batchId = '2'
  const batch = await verify(otherBatch)
  assert.equal(batch.valid, false)
  assert.equal(
    check(batch.checks, 'settlement' /* offline proof under the claimed root */).status,
    'pass',
  )
  assert.equal(check(batch.checks, 'settlement.batch').status, 'fail')
  assert.equal(check(batch.checks, 'settlement.inclusion').status, 'fail')
  assert.equal(check(batch.checks, 'settlement.transaction').status, 'fail')
  assert.equal(batch.code, 'RECEIPT_SETTLEMENT_INVALID')

  const missing = structuredClone(settled)
  missing.settlement!.batchId = '99'
  const unknown = await verify(missing)
  assert.match(check(unknown.checks, 'settlement.batch').reason, /has no batch 99 \(UnknownBatch\)/)

  const otherTransaction = structuredClone(settled)
  otherTransaction.settlement!.transactionHash = `0x${'cd'.repeat(32)}`
  const transaction = await verify(otherTransaction)
  assert.equal(transaction.code, 'RECEIPT_SETTLEMENT_INVALID')
  assert.match(check(transaction.checks, 'settlement.transaction').reason, /no transaction/)
})

test('error: a made-up selection block fails quorum.selection', async () => {
  const wrongHash = structuredClone(unsettled)
  wrongHash.quorum!.selection!.blockHash = `0x${'12'.repeat(32)}`
  const verdict = await verify(wrongHash)
  assert.equal(verdict.code, 'SELECTION_INVALID')
  assert.match(check(verdict.checks, 'quorum.selection').reason, /not the recorded/)
  const future = structuredClone(unsettled)
  future.quorum!.selection!.blockNumber = 1_000_000
  assert.match(
    check((await verify(future)).checks, 'quorum.selection').reason,
    /has no block 1000000/,
  )
})

test('error: a batch reverted by challengeQuorum makes its receipts fail settlement.status', async () => {
  // Executor 6 commits a receipt whose only attestation comes from an unstaked key: fraud.
  const [fraudulent] = await commit(
    [await signedReceipt({ nonce: 50, executor: 6, attesters: [outsider] })],
    6,
  )
  const before = await verify(fraudulent)
  assert.equal(check(before.checks, 'settlement.status').status, 'pass')
  assert.equal(check(before.checks, 'quorum.attestations[0].stake').status, 'fail')
  const receipt = fraudulent!
  await send(7, {
    address: config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'challengeQuorum',
    args: [
      BigInt(receipt.settlement!.batchId),
      receiptLeafFromReceipt(receipt, fee),
      receipt.settlement!.proof,
      receipt.quorum!.attestations.map((a) => ({
        verifier: a.verifier,
        agree: a.agree,
        signature: a.signature as Hex,
      })),
    ],
  })
  const after = await verify(receipt)
  const status = check(after.checks, 'settlement.status')
  assert.equal(status.status, 'fail')
  assert.equal(status.code, 'RECEIPT_SETTLEMENT_INVALID')
  assert.match(status.reason, /reverted by a successful challenge/)
})

test('behavior: a verifier that exits after the commit still counts for the settled receipt, not for a new one', async () => {
  await chain.increaseTime(2) // exiting in a later second than the commit
  await send(3, {
    address: config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    functionName: 'requestUnbond',
    args: [config.parameters.minStake],
  })
  const stillSettled = await verify(settled)
  assert.equal(
    stillSettled.valid,
    true,
    JSON.stringify(stillSettled.checks.filter((c) => c.status === 'fail')),
  )
  const fresh = await verify(await signedReceipt({ nonce: 60, verifiers: [3] }))
  assert.equal(fresh.code, 'RECEIPT_ATTESTATION_INVALID')
  assert.match(
    check(fresh.checks, 'quorum.attestations[0].stake').reason,
    /registered but not active now \(the receipt has not settled\): it started exiting/,
  )
})

test('behavior: after the challenge window a finalized batch passes', async () => {
  await chain.increaseTime(61)
  await send(0, {
    address: config.contracts.settlement,
    abi: settlementAbi,
    functionName: 'finalize',
    args: [BigInt(settled.settlement!.batchId)],
  })
  const verdict = await verify(settled)
  assert.equal(verdict.valid, true)
  assert.match(check(verdict.checks, 'settlement.status').reason, /finalized/)
})

test('error: an unreachable RPC is a failed CHAIN_UNAVAILABLE check, not a throw', async () => {
  const publicClient = createPublicClient({
    transport: http('http://127.0.0.1:9', { retryCount: 0 }),
  })
  const verdict = await verifyReceiptOnChain({ receipt: settled, publicClient })
  assert.equal(verdict.valid, false)
  assert.equal(verdict.code, 'CHAIN_UNAVAILABLE')
  assert.equal(check(verdict.checks, 'chain.id').code, 'CHAIN_UNAVAILABLE')
  assert.equal(
    check(verdict.checks, 'executor.signature').status,
    'pass',
    'offline checks still ran',
  )
})

test('error: a receipt that does not parse keeps the schema failure and skips the chain', async () => {
  const verdict = await verify({ hello: 'world' })
  assert.equal(verdict.code, 'RECEIPT_INVALID')
  assert.equal(check(verdict.checks, 'chain').status, 'skip')
})
