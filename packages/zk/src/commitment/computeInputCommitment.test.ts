import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { computeInputCommitment as protocolInputCommitment } from '@verity/protocol'
import { poseidon5 } from 'poseidon-lite/poseidon5'
import { calculateWitness } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { computeInputCommitment } from './computeInputCommitment.ts'
import { inputCommitmentCircom, inputCommitmentIncludes } from './inputCommitmentCircom.ts'
import { packInputBytes } from './packInputBytes.ts'

const lengths = [784, 1, 31, 32, 124, 125] as const

/** Deterministic pseudo-random bytes (xorshift32). */
function bytesOf(length: number, seed: number): Uint8Array {
  let state = seed >>> 0 || 1
  return Uint8Array.from({ length }, () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state & 0xff
  })
}

describe('computeInputCommitment', () => {
  let compiled: CompileCircomReturnType
  before(async () => {
    // one circuit with a commitment component per length: a single compile for all lengths
    const includes = inputCommitmentIncludes.map((file) => `include "${file}";`).join('\n')
    const inputs = lengths.map((n, i) => `  signal input b${i}[${n}];`).join('\n')
    const outputs = lengths.map((_, i) => `  signal output c${i};`).join('\n')
    const wiring = lengths
      .map(
        (n, i) =>
          `  component h${i} = InputCommitment(${n});\n  for (var t = 0; t < ${n}; t++) h${i}.in[t] <== b${i}[t];\n  c${i} <== h${i}.out;`,
      )
      .join('\n')
    const source = `pragma circom 2.1.0;\n${includes}\n${inputCommitmentCircom}\ntemplate Many() {\n${inputs}\n${outputs}\n${wiring}\n}\ncomponent main = Many();\n`
    compiled = await compileCircom({ source, name: 'commitments' })
  })

  it('default', () => {
    const bytes = Uint8Array.of(1, 2, 3)
    assert.equal(computeInputCommitment(bytes), poseidon5([3n, 0x010203n, 0n, 0n, 0n]))
  })

  it('behavior: the circuit computes the same commitment for lengths 784, 1, 31, 32, 124, 125', async () => {
    for (const seed of [1, 2]) {
      const data = lengths.map((n, i) => bytesOf(n, seed * 100 + i))
      const input = Object.fromEntries(data.map((bytes, i) => [`b${i}`, Array.from(bytes)]))
      const witness = await calculateWitness(compiled.wasm, input)
      data.forEach((bytes, i) => {
        assert.equal(witness[1 + i], computeInputCommitment(bytes), `length ${bytes.length}`)
      })
    }
  })

  it('behavior: 784 bytes take 26 elements and 7 chained Poseidon(5) calls', () => {
    const bytes = bytesOf(784, 7)
    const elements = packInputBytes(bytes)
    assert.equal(elements.length, 26)
    let acc = 784n
    for (let i = 0; i < 28; i += 4)
      acc = poseidon5([
        acc,
        elements[i] ?? 0n,
        elements[i + 1] ?? 0n,
        elements[i + 2] ?? 0n,
        elements[i + 3] ?? 0n,
      ])
    assert.equal(computeInputCommitment(bytes), acc)
  })

  it("behavior: equals @verity/protocol's computeInputCommitment (receipt verification)", () => {
    for (const [i, n] of lengths.entries()) {
      const bytes = bytesOf(n, 500 + i)
      assert.equal(computeInputCommitment(bytes), protocolInputCommitment(bytes))
    }
  })

  it('behavior: the length is bound (trailing zero bytes change the commitment)', () => {
    assert.notEqual(
      computeInputCommitment(Uint8Array.of(5)),
      computeInputCommitment(Uint8Array.of(5, 0)),
    )
    assert.notEqual(
      computeInputCommitment(new Uint8Array(31)),
      computeInputCommitment(new Uint8Array(32)),
    )
  })
})
