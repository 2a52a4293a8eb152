import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { calculateWitness } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { fromField } from '../commitment/toField.ts'
import { type EmitCircomReturnType, emitCircom } from './emitCircom.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { roundShift, tieReachable } from './roundShift.ts'
import type { ZkGraph } from './zkGraph.ts'
import { zkWitnessInput } from './zkWitnessInput.ts'

/** Round half to even of a rational `numerator / 2^shift`, written independently of roundShift. */
function nearbyint(numerator: number, shift: number): number {
  const scaled = numerator / 2 ** shift
  const lower = Math.floor(scaled)
  const fraction = scaled - lower
  if (fraction !== 0.5) return fraction < 0.5 ? lower : lower + 1
  return lower % 2 === 0 ? lower : lower + 1
}

/** One block of 256 elements (every int8 value) with its requantize parameters. */
type Block = {
  multiplier: number
  shift: number
  zeroPoint: number
  min: number
  max: number
}

const blocks: Block[] = [
  { multiplier: 1, shift: 2, zeroPoint: 0, min: -Infinity, max: Infinity },
  { multiplier: 1, shift: 1, zeroPoint: 3, min: -17, max: 23 },
  { multiplier: 3, shift: 3, zeroPoint: -2, min: 0, max: 127 },
  { multiplier: 5, shift: 4, zeroPoint: 7, min: -128, max: 127 },
  // 1 + 2^-22: no tie is reachable for |x| <= 128, the gadget skips the tie check
  { multiplier: 4194305, shift: 22, zeroPoint: 1, min: 0, max: 255 },
]

const allInt8 = Array.from({ length: 256 }, (_, i) => i - 128)

/** int8 input [1, 256·blocks] → one halfEven requantize per element, parameters per block. */
function tieGraph(): ZkGraph {
  const size = 256 * blocks.length
  const pick = (field: keyof Block) =>
    Float64Array.from({ length: size }, (_, i) => blocks[Math.floor(i / 256)]![field])
  const shift = pick('shift')
  const zeroPoint = pick('zeroPoint')
  const offset = Float64Array.from(
    { length: size },
    (_, i) => (shift[i]! > 0 ? 2 ** (shift[i]! - 1) : 0) + zeroPoint[i]! * 2 ** shift[i]!,
  )
  return {
    numeric: 'integer',
    input: { name: 'x', shape: [1, size], dtype: 'int8' },
    output: { name: 'y', onnxName: 'y', shape: [1, size] },
    shapes: new Map([
      ['x', [1, size]],
      ['y', [1, size]],
    ]),
    ops: [
      {
        op: 'requantize',
        name: 'ties',
        input: 'x',
        output: 'y',
        multiplier: pick('multiplier'),
        offset,
        shift,
        min: pick('min'),
        max: pick('max'),
        rounding: 'halfEven',
        zeroPoint,
      },
    ],
    sourceOperators: [],
  }
}

function expected(): number[] {
  return blocks.flatMap((block) =>
    allInt8.map((x) =>
      Math.min(
        block.max,
        Math.max(block.min, nearbyint(x * block.multiplier, block.shift) + block.zeroPoint),
      ),
    ),
  )
}

describe('roundShift', () => {
  const graph = tieGraph()
  let emitted: EmitCircomReturnType
  let circuit: CompileCircomReturnType
  before(async () => {
    emitted = emitCircom(graph, { modelCommitment: 1n, mainTemplate: 'Ties' })
    circuit = await compileCircom({ source: emitted.source, name: 'ties' })
  })

  it('default', () => {
    // t = x·2^s + half (+ the zero point): exact ties of x + 1/2
    for (const shift of [1, 2, 5])
      for (let x = -9; x <= 9; x++)
        for (const zeroPoint of [0, 3, -4]) {
          const half = 2 ** (shift - 1)
          const t = x * 2 ** shift + half + half + zeroPoint * 2 ** shift
          const even = x % 2 === 0 ? x : x + 1
          assert.equal(roundShift(t, shift, 'halfEven', zeroPoint), even + zeroPoint, `${x}.5`)
          assert.equal(roundShift(t, shift, 'floor'), x + 1 + zeroPoint, 'half up')
          // just below and above the tie
          assert.equal(roundShift(t - 1, shift, 'halfEven', zeroPoint), x + zeroPoint)
          assert.equal(roundShift(t + 1, shift, 'halfEven', zeroPoint), x + 1 + zeroPoint)
        }
    assert.equal(roundShift(-7, 2, 'trunc'), -1)
    assert.equal(roundShift(-7, 2, 'floor'), -2)
    assert.equal(roundShift(5, 0, 'halfEven', 1), 5, 'no shift, no tie')
  })

  it('behavior: the evaluator rounds every int8 value half to even, zero points and clamps included', () => {
    const output = Array.from(
      evaluateZkGraph(
        graph,
        blocks.flatMap(() => allInt8),
      ).output,
    )
    assert.deepEqual(output, expected())
    // the floor rounding of the same graph differs exactly on the ties rounded down
    const floorGraph: ZkGraph = {
      ...graph,
      ops: graph.ops.map((op) => ({ ...op, rounding: 'floor' as const })),
    }
    const floor = evaluateZkGraph(
      floorGraph,
      blocks.flatMap(() => allInt8),
    ).output
    const differing = output.filter((value, i) => value !== floor[i]).length
    assert.ok(differing > 50, `${differing} ties rounded down`)
  })

  it('behavior: the circuit computes what the evaluator computes on every tie', async () => {
    const bytes = Uint8Array.from(
      blocks.flatMap(() => allInt8),
      (x) => x & 0xff,
    )
    const witness = await calculateWitness(
      circuit.wasm,
      zkWitnessInput(bytes, 'int8', 256 * blocks.length),
    )
    const outputs = witness
      .slice(1, 1 + 256 * blocks.length)
      .map((value) => Number(fromField(value)))
    assert.deepEqual(outputs, expected())
    // the tie check costs 3 constraints where a tie is reachable (4 blocks), nothing in the last
    const floorGraph: ZkGraph = {
      ...graph,
      ops: graph.ops.map((op) => ({ ...op, rounding: 'floor' as const })),
    }
    const floor = emitCircom(floorGraph, { modelCommitment: 1n, mainTemplate: 'Ties' })
    assert.equal(emitted.breakdown.requantize - floor.breakdown.requantize, 3 * 4 * 256)
    console.log(
      `  ${blocks.length} × 256 halfEven requantizations: ${circuit.constraints} constraints (estimate ${emitted.estimatedConstraints}, requantize ${emitted.breakdown.requantize})`,
    )
    assert.ok(
      Math.abs(circuit.constraints - emitted.estimatedConstraints) <= 0.01 * circuit.constraints,
    )
  })

  it('behavior: tieReachable agrees with enumeration', () => {
    let state = 7
    const next = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0
      return state % n
    }
    for (let round = 0; round < 2000; round++) {
      const shift = next(7)
      const multiplier = next(40) - 20
      const offset = next(200) - 100
      const xMin = next(60) - 30
      const xMax = xMin + next(20)
      let brute = false
      for (let x = xMin; x <= xMax && shift > 0; x++)
        if ((((x * multiplier + offset) % 2 ** shift) + 2 ** shift) % 2 ** shift === 0) brute = true
      const parameters = { xMin, xMax, multiplier, offset, shift }
      assert.equal(tieReachable(parameters), brute, JSON.stringify(parameters))
    }
    assert.equal(
      tieReachable({ xMin: -128, xMax: 127, multiplier: 4194305, offset: 2 ** 21, shift: 22 }),
      false,
    )
  })

  it('error: a tampered tie bit does not satisfy the circuit', async () => {
    // the circuit accepts exactly one output per input: a different witness for a tie fails
    const source = emitted.source.replace(
      'p <-- (d % (2 ** s) == 0',
      'p <-- 1 - (d % (2 ** s) == 0',
    )
    assert.notEqual(source, emitted.source)
    const tampered = await compileCircom({ source, name: 'tiesTampered' })
    const bytes = Uint8Array.from(
      blocks.flatMap(() => allInt8),
      (x) => x & 0xff,
    )
    await assert.rejects(
      calculateWitness(tampered.wasm, zkWitnessInput(bytes, 'int8', 256 * blocks.length)),
      (error) => isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
  })
})
