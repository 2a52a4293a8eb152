import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { computeJobId } from './eip712.ts'
import type { ErrorCode } from './errors.ts'
import { hashCanonicalJson } from './hash.ts'
import type { Receipt } from './receipt.ts'
import { buildReceiptTree, receiptLeafFromReceipt } from './receiptLeaf.ts'
import {
  createInferenceRequest,
  createReceipt,
  requestMessageFromReceipt,
  signInferenceRequest,
} from './signing.ts'
import type { NamedTensors } from './tensor.ts'
import { verifyReceipt } from './verifyReceipt.ts'

// anvil's first two well-known development keys: test-only, never funded anywhere real
const requester = privateKeyToAccount(
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
)
const executor = privateKeyToAccount(
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
)

const inputs: NamedTensors = {
  image: { dtype: 'float32', shape: [1, 3], data: new Float32Array([0.25, 0.5, 1]) },
}
const outputs: NamedTensors = {
  logits: { dtype: 'int32', shape: [1, 2], data: new Int32Array([-7, 42]) },
}
const engine = { name: 'onnxruntime-node', version: '1.30.0', settings: { intraOpNumThreads: 1 } }

async function makeReceipt(): Promise<Receipt> {
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({ model: 'test' }),
    inputs,
    nonce: `0x${'ab'.repeat(32)}`,
    deadline: 2_000_000_000n,
  })
  const requestSignature = await signInferenceRequest({ account: requester, request })
  return createReceipt({
    account: executor,
    requester: requester.address,
    request,
    requestSignature,
    outputs,
    engine,
    now: () => 1_790_000_000_000,
  })
}

const clone = (receipt: Receipt): Receipt => structuredClone(receipt)

test('default: an untouched receipt passes every check', async () => {
  const receipt = await makeReceipt()
  const verdict = await verifyReceipt(receipt, { inputs, expectedExecutor: executor.address })
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  assert.equal(verdict.code, undefined)
  assert.deepEqual(
    verdict.checks.map((check) => [check.name, check.status]),
    [
      ['schema', 'pass'],
      ['job.id', 'pass'],
      ['result.output', 'pass'],
      ['result.engine', 'pass'],
      ['job.inputHash', 'pass'],
      ['request.signature', 'pass'],
      ['executor.signature', 'pass'],
      ['executor.address', 'pass'],
      ['mode', 'pass'],
    ],
  )
})

test('behavior: a receipt round-trips through JSON text unchanged', async () => {
  const receipt = await makeReceipt()
  const verdict = await verifyReceipt(JSON.parse(JSON.stringify(receipt)))
  assert.equal(verdict.valid, true)
})

const otherAddress = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC'
const otherHash = `0x${'cd'.repeat(32)}`
const mutations: [string, (receipt: Receipt) => void, ErrorCode][] = [
  ['job.id', (r) => (r.job.id = otherHash), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.requester', (r) => (r.job.requester = otherAddress), 'RECEIPT_JOB_ID_MISMATCH'],
  [
    'job.model.cid',
    (r) => (r.job.model.cid = `${r.job.model.cid.slice(0, -1)}a`),
    'RECEIPT_JOB_ID_MISMATCH',
  ],
  [
    'job.model.manifestHash',
    (r) => (r.job.model.manifestHash = otherHash),
    'RECEIPT_JOB_ID_MISMATCH',
  ],
  ['job.inputHash', (r) => (r.job.inputHash = otherHash), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.paramsHash', (r) => (r.job.paramsHash = otherHash), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.mode', (r) => (r.job.mode = 'reexec'), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.quorum', (r) => (r.job.quorum = 3), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.maxFee', (r) => (r.job.maxFee = '1'), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.nonce', (r) => (r.job.nonce = otherHash), 'RECEIPT_JOB_ID_MISMATCH'],
  ['job.deadline', (r) => (r.job.deadline = '2000000001'), 'RECEIPT_JOB_ID_MISMATCH'],
  ['result.outputHash', (r) => (r.result.outputHash = otherHash), 'RECEIPT_OUTPUT_HASH_MISMATCH'],
  [
    'result.output',
    (r) => (r.result.output!.logits!.base64 = Buffer.alloc(8, 1).toString('base64')),
    'RECEIPT_OUTPUT_HASH_MISMATCH',
  ],
  [
    'result.output (bad tensor)',
    (r) => (r.result.output!.logits!.shape = [3]),
    'RECEIPT_OUTPUT_HASH_MISMATCH',
  ],
  [
    'result.engine.settings',
    (r) => (r.result.engine.settings.intraOpNumThreads = 2),
    'RECEIPT_ENGINE_HASH_MISMATCH',
  ],
  [
    'result.engine.version',
    (r) => (r.result.engine.version = '1.29.0'),
    'RECEIPT_ENGINE_HASH_MISMATCH',
  ],
  [
    'result.engine.settingsHash',
    (r) => (r.result.engine.settingsHash = otherHash),
    'RECEIPT_ENGINE_HASH_MISMATCH',
  ],
  ['result.executedAt', (r) => (r.result.executedAt += 1), 'RECEIPT_SIGNATURE_INVALID'],
  ['executor.address', (r) => (r.executor.address = otherAddress), 'RECEIPT_SIGNATURE_INVALID'],
  ['domain.chainId', (r) => (r.domain.chainId = 1), 'RECEIPT_REQUEST_SIGNATURE_INVALID'],
  [
    'domain.verifyingContract',
    (r) => (r.domain.verifyingContract = otherAddress),
    'RECEIPT_REQUEST_SIGNATURE_INVALID',
  ],
  ['version', (r) => ((r as { version: number }).version = 2), 'RECEIPT_VERSION_UNSUPPORTED'],
  ['unknown field', (r) => Object.assign(r, { extra: true }), 'RECEIPT_INVALID'],
  ['missing executor', (r) => delete (r as Partial<Receipt>).executor, 'RECEIPT_INVALID'],
  [
    'uppercase hash',
    (r) => (r.job.inputHash = r.job.inputHash.toUpperCase().replace('0X', '0x')),
    'RECEIPT_INVALID',
  ],
]

test('error: changing any field fails with the matching code', async () => {
  const receipt = await makeReceipt()
  for (const [name, mutate, code] of mutations) {
    const tampered = clone(receipt)
    mutate(tampered)
    const verdict = await verifyReceipt(tampered)
    assert.equal(verdict.valid, false, name)
    assert.equal(
      verdict.code,
      code,
      `${name}: ${JSON.stringify(verdict.checks.filter((c) => c.status === 'fail'))}`,
    )
  }
})

test('error: changing any signature byte fails', async () => {
  const receipt = await makeReceipt()
  for (const [field, code] of [
    ['executor', 'RECEIPT_SIGNATURE_INVALID'],
    ['request', 'RECEIPT_REQUEST_SIGNATURE_INVALID'],
  ] as const) {
    for (let byte = 0; byte < 65; byte++) {
      const tampered = clone(receipt)
      const section = tampered[field]!
      const bytes = Buffer.from(section.signature.slice(2), 'hex')
      bytes[byte]! ^= 0x01
      section.signature = `0x${bytes.toString('hex')}`
      const verdict = await verifyReceipt(tampered)
      assert.equal(verdict.code, code, `${field} byte ${byte}`)
    }
  }
})

test('error: an attacker who also recomputes the derived fields is still caught by the signatures', async () => {
  const receipt = await makeReceipt()
  const tampered = clone(receipt)
  tampered.job.inputHash = otherHash
  tampered.job.id = computeJobId(
    tampered.job.requester as `0x${string}`,
    requestMessageFromReceipt(tampered),
  )
  const verdict = await verifyReceipt(tampered)
  assert.equal(verdict.checks.find((c) => c.name === 'job.id')?.status, 'pass')
  assert.equal(verdict.code, 'RECEIPT_REQUEST_SIGNATURE_INVALID')
  assert.equal(verdict.checks.find((c) => c.name === 'executor.signature')?.status, 'fail')
})

test('error: the malleable (high-s) twin of a valid signature is refused', async () => {
  const receipt = await makeReceipt()
  const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
  const sig = receipt.executor.signature
  const s = BigInt(`0x${sig.slice(66, 130)}`)
  const v = Number.parseInt(sig.slice(130), 16)
  const twin = `${sig.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}`
  const tampered = clone(receipt)
  tampered.executor.signature = twin
  const verdict = await verifyReceipt(tampered)
  assert.equal(verdict.code, 'RECEIPT_SIGNATURE_INVALID')
  assert.match(verdict.checks.find((c) => c.name === 'executor.signature')?.reason ?? '', /high s/)
})

test('error: context checks catch a receipt for other inputs, manifest or executor', async () => {
  const receipt = await makeReceipt()
  const other: NamedTensors = {
    image: { dtype: 'float32', shape: [1, 3], data: new Float32Array([0, 0, 0]) },
  }
  assert.equal(
    (await verifyReceipt(receipt, { inputs: other })).code,
    'RECEIPT_INPUT_HASH_MISMATCH',
  )
  assert.equal(
    (await verifyReceipt(receipt, { expectedExecutor: otherAddress })).code,
    'RECEIPT_SIGNER_MISMATCH',
  )
  assert.equal(
    (await verifyReceipt(receipt, { domain: { chainId: 1 } })).code,
    'RECEIPT_DOMAIN_MISMATCH',
  )
  assert.equal((await verifyReceipt('not a receipt')).code, 'RECEIPT_INVALID')
  assert.equal((await verifyReceipt(null)).code, 'RECEIPT_INVALID')
})

test('behavior: a receipt signed in another process verifies here, and vice versa', async () => {
  const protocol = new URL('./index.ts', import.meta.url).href
  const script = `
    import { createInferenceRequest, createReceipt, verifyReceipt } from ${JSON.stringify(protocol)}
    import { privateKeyToAccount } from 'viem/accounts'
    const mode = process.argv[1]
    if (mode === 'sign') {
      const account = privateKeyToAccount('0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a')
      const inputs = { x: { dtype: 'uint8', shape: [2], data: new Uint8Array([1, 2]) } }
      const request = createInferenceRequest({ modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', manifestHash: '0x${'11'.repeat(32)}', inputs })
      const receipt = await createReceipt({ account, requester: account.address, request, outputs: inputs, engine: { name: 'e', version: '1', settings: {} } })
      process.stdout.write(JSON.stringify(receipt))
    } else {
      const verdict = await verifyReceipt(JSON.parse(process.argv[2]))
      process.stdout.write(JSON.stringify({ valid: verdict.valid, code: verdict.code ?? null }))
    }
  `
  const run = (...args: string[]) =>
    execFileSync(process.execPath, ['--input-type=module', '-e', script, ...args], {
      cwd: new URL('.', import.meta.url),
      encoding: 'utf8',
    })
  const foreign = JSON.parse(run('sign'))
  assert.equal((await verifyReceipt(foreign)).valid, true)
  const local = await makeReceipt()
  assert.deepEqual(JSON.parse(run('verify', JSON.stringify(local))), { valid: true, code: null })
  local.result.outputHash = otherHash
  assert.deepEqual(JSON.parse(run('verify', JSON.stringify(local))), {
    valid: false,
    code: 'RECEIPT_OUTPUT_HASH_MISMATCH',
  })
})

test('behavior: a settled receipt proves its leaf under the batch root; a changed fee, proof or output fails', async () => {
  const settlementDomain = {
    name: 'Verity',
    version: '1',
    chainId: 31337,
    verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
  } as const
  const receipts: Receipt[] = []
  for (const nonce of ['01', '02', '03']) {
    const request = createInferenceRequest({
      modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
      manifestHash: hashCanonicalJson({ model: 'test' }),
      inputs,
      nonce: `0x${nonce.repeat(32)}`,
      deadline: 2_000_000_000n,
    })
    receipts.push(
      await createReceipt({
        account: executor,
        requester: requester.address,
        request,
        requestSignature: await signInferenceRequest({
          account: requester,
          request,
          domain: settlementDomain,
        }),
        outputs,
        engine,
        domain: settlementDomain,
      }),
    )
  }
  const fee = 1000n
  const tree = buildReceiptTree(receipts.map((r) => receiptLeafFromReceipt(r, fee)))
  const settle = (receipt: Receipt, index: number): Receipt => ({
    ...clone(receipt),
    settlement: {
      fee: fee.toString(),
      batchId: '7',
      root: tree.root as `0x${string}`,
      proof: tree.getProof(index) as `0x${string}`[],
      transactionHash: `0x${'cd'.repeat(32)}`,
      blockNumber: 12,
    },
  })
  const settled = settle(receipts[1]!, 1)
  const verdict = await verifyReceipt(settled)
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  assert.equal(verdict.checks.find((c) => c.name === 'settlement')?.status, 'pass')

  const overcharged = clone(settled)
  overcharged.settlement!.fee = '1001'
  assert.equal((await verifyReceipt(overcharged)).code, 'RECEIPT_SETTLEMENT_INVALID')
  const wrongProof = settle(receipts[1]!, 0)
  assert.equal((await verifyReceipt(wrongProof)).code, 'RECEIPT_SETTLEMENT_INVALID')
  const noContract = clone(settled)
  noContract.domain = { name: 'Verity', version: '1', chainId: 31337 }
  const failed = await verifyReceipt(noContract)
  assert.equal(
    failed.checks.find((c) => c.name === 'settlement')?.code,
    'RECEIPT_SETTLEMENT_INVALID',
  )
})
