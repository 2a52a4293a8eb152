import assert from 'node:assert/strict'
import { test } from 'node:test'
import { BaseError, isBaseError } from '@verity/protocol'
import type { Groth16Proof, ProveParameters, ProveResult, Prover } from '@verity/zk'
import { Registry } from 'prom-client'
import { createSerialProver } from './createSerialProver.ts'
import { createZkMetrics } from './zkMetrics.ts'

/** A typed stub prover whose proofs finish when the test says so (the queue is under test). */
function gatedProver() {
  const started: string[] = []
  const gates = new Map<string, { resolve: () => void; reject: (error: unknown) => void }>()
  const prover: Prover<Groth16Proof> = {
    system: 'groth16',
    prove(parameters: ProveParameters) {
      const id = new TextDecoder().decode(parameters.zkey)
      started.push(id)
      return new Promise<ProveResult<Groth16Proof>>((resolve, reject) => {
        gates.set(id, {
          resolve: () =>
            resolve({
              proof: { protocol: 'groth16', curve: 'bn128', pi_a: [], pi_b: [], pi_c: [] },
              publicSignals: [],
              witnessMs: 0,
              proveMs: 1,
            } as unknown as ProveResult<Groth16Proof>),
          reject,
        })
      })
    },
    verify: async () => true,
  }
  const turn = () => new Promise((resolve) => setImmediate(resolve))
  return { prover, started, gates, turn }
}

const job = (id: string): ProveParameters => ({
  zkey: new TextEncoder().encode(id),
  witness: new Uint8Array(),
})

test('default: proofs run one at a time, in the order asked', async () => {
  const { prover, started, gates, turn } = gatedProver()
  const metrics = createZkMetrics(new Registry())
  const serial = createSerialProver(prover, { metrics })
  const a = serial.prove(job('a'))
  const b = serial.prove(job('b'))
  const c = serial.prove(job('c'))
  await turn()
  assert.deepEqual(started, ['a'])
  assert.equal(serial.pending, 3)
  gates.get('a')?.resolve()
  await a
  await turn()
  assert.deepEqual(started, ['a', 'b'])
  gates.get('b')?.resolve()
  await b
  await turn()
  gates.get('c')?.resolve()
  await c
  assert.deepEqual(started, ['a', 'b', 'c'])
  assert.equal(serial.pending, 0)
  const observed = await metrics.proveDuration.get()
  assert.equal(observed.values.find((v) => v.metricName?.endsWith('_count'))?.value, 3)
})

test('behavior: a proof aborted while it waits leaves at once; the next still waits for the running one', async () => {
  const { prover, started, gates, turn } = gatedProver()
  const serial = createSerialProver(prover, { metrics: createZkMetrics(new Registry()) })
  const a = serial.prove(job('a'))
  const controller = new AbortController()
  const b = serial.prove(job('b'), { signal: controller.signal })
  const c = serial.prove(job('c'))
  controller.abort()
  await assert.rejects(b, (error: unknown) => isBaseError(error, 'ABORTED'))
  await turn()
  assert.deepEqual(started, ['a'], 'c does not overtake the running proof')
  gates.get('a')?.resolve()
  await a
  await turn()
  assert.deepEqual(started, ['a', 'c'], 'b never ran')
  gates.get('c')?.resolve()
  await c
  assert.equal(serial.pending, 0)
})

test('error: a failed proof is counted and does not block the queue', async () => {
  const { prover, started, gates, turn } = gatedProver()
  const metrics = createZkMetrics(new Registry())
  const serial = createSerialProver(prover, { metrics })
  const a = serial.prove(job('a'))
  const b = serial.prove(job('b'))
  await turn()
  gates.get('a')?.reject(new BaseError('ZK_WITNESS_FAILED', 'The circuit refused the input.'))
  await assert.rejects(a, (error: unknown) => isBaseError(error, 'ZK_WITNESS_FAILED'))
  await turn()
  assert.deepEqual(started, ['a', 'b'])
  gates.get('b')?.resolve()
  await b
  const { values } = await metrics.proveDuration.get()
  const count = (outcome: string) =>
    values.find((v) => v.metricName?.endsWith('_count') && v.labels.outcome === outcome)?.value
  assert.equal(count('failed'), 1)
  assert.equal(count('ok'), 1)
})
