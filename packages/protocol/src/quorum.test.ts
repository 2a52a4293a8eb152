import assert from 'node:assert/strict'
import { test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { hashCanonicalJson } from './hash.ts'
import type { Receipt } from './receipt.ts'
import {
  createInferenceRequest,
  createReceipt,
  signAttestation,
  signInferenceRequest,
} from './signing.ts'
import type { NamedTensors } from './tensor.ts'
import { verifyReceipt } from './verifyReceipt.ts'

// anvil's development keys: test-only
const keys = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
  '0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a',
] as const
const [requester, executor, v1, v2, v3] = keys.map((key) => privateKeyToAccount(key))
const inputs: NamedTensors = { x: { dtype: 'uint8', shape: [2], data: new Uint8Array([1, 2]) } }
const outputs: NamedTensors = { y: { dtype: 'int32', shape: [1], data: new Int32Array([7]) } }

async function reexecReceipt(quorum: number): Promise<Receipt> {
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({ m: 1 }),
    inputs,
    mode: 'reexec',
    quorum,
  })
  const requestSignature = await signInferenceRequest({ account: requester!, request })
  return createReceipt({
    account: executor!,
    requester: requester!.address,
    request,
    requestSignature,
    outputs,
    engine: { name: 'e', version: '1', settings: {} },
  })
}

async function attest(
  receipt: Receipt,
  account = v1!,
  agree = true,
  outputHash = receipt.result.outputHash,
) {
  return signAttestation({
    account,
    jobId: receipt.job.id as `0x${string}`,
    outputHash: outputHash as `0x${string}`,
    agree,
  })
}

test('default: a reexec receipt with a full quorum certificate verifies', async () => {
  const receipt = await reexecReceipt(2)
  receipt.quorum = {
    threshold: 2,
    attestations: [await attest(receipt, v1), await attest(receipt, v2)],
  }
  const verdict = await verifyReceipt(receipt)
  assert.equal(verdict.valid, true, JSON.stringify(verdict.checks))
  assert.match(verdict.checks.at(-1)!.reason, /2 distinct verifier/)
})

test('error: missing, short, forged, duplicate, self and off-target attestations', async () => {
  const receipt = await reexecReceipt(2)
  const cases: [string, Receipt['quorum'] | undefined, string][] = [
    ['missing', undefined, 'RECEIPT_QUORUM_MISSING'],
    [
      'short',
      { threshold: 2, attestations: [await attest(receipt, v1)] },
      'RECEIPT_QUORUM_NOT_MET',
    ],
    [
      'threshold lowered',
      { threshold: 1, attestations: [await attest(receipt, v1)] },
      'RECEIPT_QUORUM_NOT_MET',
    ],
    [
      'duplicate',
      { threshold: 2, attestations: [await attest(receipt, v1), await attest(receipt, v1)] },
      'RECEIPT_ATTESTATION_INVALID',
    ],
    [
      'executor',
      { threshold: 2, attestations: [await attest(receipt, v1), await attest(receipt, executor)] },
      'RECEIPT_ATTESTATION_INVALID',
    ],
    [
      'other output',
      {
        threshold: 2,
        attestations: [
          await attest(receipt, v1),
          await attest(receipt, v2, true, `0x${'11'.repeat(32)}`),
        ],
      },
      'RECEIPT_ATTESTATION_INVALID',
    ],
    [
      'disagreement',
      {
        threshold: 2,
        attestations: [
          await attest(receipt, v1),
          await attest(receipt, v2, false),
          await attest(receipt, v3),
        ],
      },
      'OUTPUT_MISMATCH',
    ],
  ]
  const forged = await attest(receipt, v2)
  forged.verifier = v3!.address // claims to be v3, signed by v2
  cases.push([
    'forged',
    { threshold: 2, attestations: [await attest(receipt, v1), forged] },
    'RECEIPT_ATTESTATION_INVALID',
  ])
  for (const [name, quorum, code] of cases) {
    const copy = structuredClone(receipt)
    if (quorum) copy.quorum = quorum
    const verdict = await verifyReceipt(copy)
    assert.equal(verdict.valid, false, name)
    assert.equal(
      verdict.code,
      code,
      `${name}: ${JSON.stringify(verdict.checks.filter((c) => c.status === 'fail'))}`,
    )
  }
})

test('behavior: an attestation signed for another job does not count', async () => {
  const [a, b] = [await reexecReceipt(1), await reexecReceipt(1)]
  a.quorum = { threshold: 1, attestations: [await attest(b, v1, true, a.result.outputHash)] }
  assert.equal((await verifyReceipt(a)).code, 'RECEIPT_ATTESTATION_INVALID')
})
