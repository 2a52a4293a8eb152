import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { hashCanonicalJson } from './hash.ts'
import type { Manifest } from './manifest.ts'
import type { Receipt } from './receipt.ts'
import { createInferenceRequest, createReceipt } from './signing.ts'
import type { NamedTensors } from './tensor.ts'
import { bn254ScalarField } from './verifyGroth16.ts'
import { verifyReceipt } from './verifyReceipt.ts'
import { hashVerificationKey, type ZkSection } from './zkEvidence.ts'

// Mode zk receipts around a real Groth16 proof: the zk package's tiny test circuit (4 private
// bytes → out = [in0·in1, in2 + 3·in3 − 7] = [33, −6] for in = [3, 11, 1, 0], its own input
// commitment, model commitment 42), proven with snarkjs on pot14.
const fixture = JSON.parse(
  readFileSync(new URL('./testing/groth16Fixture.json', import.meta.url), 'utf8'),
) as Pick<ZkSection, 'verificationKey' | 'publicSignals' | 'proof'>
const executor = privateKeyToAccount(`0x${'59'.repeat(32)}`)
const inputs: NamedTensors = {
  x: { dtype: 'uint8', shape: [4], data: Uint8Array.of(3, 11, 1, 0) },
}
const outputs: NamedTensors = { y: { dtype: 'int32', shape: [2], data: Int32Array.of(33, -6) } }

async function zkReceipt(): Promise<Receipt> {
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({ model: 'tiny' }),
    inputs,
    mode: 'zk',
    nonce: `0x${'cd'.repeat(32)}`,
    deadline: 2_000_000_000n,
  })
  const receipt = await createReceipt({
    account: executor,
    requester: '0x0000000000000000000000000000000000000000',
    request,
    outputs,
    engine: { name: 'onnxruntime-node', version: '1.30.0', settings: {} },
  })
  return {
    ...receipt,
    zk: {
      system: 'groth16',
      curve: 'bn128',
      verificationKey: fixture.verificationKey,
      modelCommitment: '42',
      input: { name: 'x', dtype: 'uint8', shape: [4] },
      output: { name: 'y', dtype: 'int32', shape: [2] },
      publicSignals: fixture.publicSignals,
      proof: fixture.proof,
    },
  }
}

const statusOf = (verdict: Awaited<ReturnType<typeof verifyReceipt>>, name: string) =>
  verdict.checks.find((check) => check.name === name)

test('default: a zk receipt verifies offline: proof, proven outputs = signed output; input and model skipped without them', async () => {
  const receipt = await zkReceipt()
  const verdict = await verifyReceipt(receipt)
  assert.equal(
    verdict.valid,
    true,
    JSON.stringify(verdict.checks.filter((c) => c.status === 'fail')),
  )
  assert.equal(statusOf(verdict, 'zk.proof')?.status, 'pass')
  assert.equal(statusOf(verdict, 'zk.output')?.status, 'pass')
  assert.equal(statusOf(verdict, 'zk.input')?.status, 'skip')
  assert.equal(statusOf(verdict, 'zk.model')?.status, 'skip')
})

test('behavior: a manifest pins the key and the model commitment', async () => {
  const receipt = await zkReceipt()
  const zk = {
    verificationKeyHash: hashVerificationKey(fixture.verificationKey),
    modelCommitment: '42',
  } as NonNullable<Manifest['zk']>
  const manifest = { name: 'tiny', zk } as Manifest
  const pass = await verifyReceipt(receipt, { manifest })
  assert.equal(statusOf(pass, 'zk.model')?.status, 'pass')
  const otherKey = { ...manifest, zk: { ...zk, verificationKeyHash: `0x${'00'.repeat(32)}` } }
  const fail = await verifyReceipt(receipt, { manifest: otherKey as Manifest })
  assert.equal(statusOf(fail, 'zk.model')?.code, 'RECEIPT_ZK_MODEL_MISMATCH')
  const none = await verifyReceipt(receipt, { manifest: { name: 'tiny' } as Manifest })
  assert.equal(statusOf(none, 'zk.model')?.code, 'RECEIPT_ZK_MODEL_MISMATCH')
})

test('error: a changed public signal, proof coordinate, output or commitment fails with its code', async () => {
  const base = await zkReceipt()
  const cases: [string, (receipt: Receipt) => void, string, string][] = [
    [
      'output signal',
      (r) => {
        r.zk!.publicSignals[0] = '34'
      },
      'zk.proof',
      'RECEIPT_ZK_PROOF_INVALID',
    ],
    [
      'negative signal',
      (r) => {
        r.zk!.publicSignals[1] = String(bn254ScalarField - 5n)
      },
      'zk.proof',
      'RECEIPT_ZK_PROOF_INVALID',
    ],
    [
      'input commitment',
      (r) => {
        r.zk!.publicSignals[2] = '1'
      },
      'zk.proof',
      'RECEIPT_ZK_PROOF_INVALID',
    ],
    [
      'proof byte',
      (r) => {
        r.zk!.proof.pi_c[0] = String(BigInt(r.zk!.proof.pi_c[0]) + 1n)
      },
      'zk.proof',
      'RECEIPT_ZK_PROOF_INVALID',
    ],
    [
      'output shape',
      (r) => {
        r.zk!.output.shape = [1, 2]
      },
      'zk.output',
      'RECEIPT_ZK_OUTPUT_MISMATCH',
    ],
    [
      'output name',
      (r) => {
        r.zk!.output.name = 'z'
      },
      'zk.output',
      'RECEIPT_ZK_OUTPUT_MISMATCH',
    ],
    [
      'model commitment',
      (r) => {
        r.zk!.modelCommitment = '43'
      },
      'zk.model',
      'RECEIPT_ZK_MODEL_MISMATCH',
    ],
    [
      'signal count',
      (r) => {
        r.zk!.publicSignals.pop()
      },
      'zk.proof',
      'RECEIPT_ZK_PROOF_INVALID',
    ],
    [
      'no zk section',
      (r) => {
        delete r.zk
      },
      'zk',
      'RECEIPT_ZK_MISSING',
    ],
  ]
  for (const [what, change, check, code] of cases) {
    const receipt = structuredClone(base)
    change(receipt)
    const verdict = await verifyReceipt(receipt)
    assert.equal(verdict.valid, false, what)
    assert.equal(statusOf(verdict, check)?.code, code, `${what}: ${JSON.stringify(verdict.checks)}`)
  }
  // the tiny circuit commits to its input its own way: our commitment of the bytes differs
  const withInputs = await verifyReceipt(base, { inputs })
  assert.equal(statusOf(withInputs, 'zk.input')?.code, 'RECEIPT_ZK_INPUT_MISMATCH')
})
