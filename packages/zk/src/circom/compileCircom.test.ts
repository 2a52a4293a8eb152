import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { BN254_SCALAR_FIELD } from '../prover/bn254.ts'
import { tinyCircuitInput, tinyCircuitSource } from '../testing/tinyCircuit.ts'
import { calculateWitness } from './calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from './compileCircom.ts'
import { readR1csHeader } from './readR1csHeader.ts'

const workDir = await mkdtemp(join(tmpdir(), 'verity-circom-test-'))
after(() => rm(workDir, { recursive: true, force: true }))

async function tempDirs(): Promise<string[]> {
  return readdir(workDir)
}

describe('compileCircom', () => {
  let tiny: CompileCircomReturnType
  let tempBefore: string[]
  before(async () => {
    tempBefore = await tempDirs()
    tiny = await compileCircom({ source: tinyCircuitSource, name: 'tiny', workDir })
  })

  it('default', async () => {
    const compiled = tiny
    assert.ok(compiled.constraints > 200 && compiled.constraints < 400, `${compiled.constraints}`)
    assert.equal(compiled.publicSignals, 4)
    assert.equal(compiled.privateInputs, 4)
    assert.ok(compiled.wires > compiled.constraints / 2)
    assert.equal(new TextDecoder().decode(compiled.r1cs.subarray(0, 4)), 'r1cs')
    assert.deepEqual([...compiled.wasm.subarray(0, 4)], [0, 0x61, 0x73, 0x6d])
    assert.match(compiled.sym, /main\.inputCommitment/)
    assert.match(compiled.log, /Everything went okay/)
    assert.ok(compiled.compileMs > 0)
    assert.deepEqual(await tempDirs(), tempBefore, 'the temporary folder is removed')

    const witness = await calculateWitness(compiled.wasm, tinyCircuitInput)
    assert.equal(witness[0], 1n)
    assert.equal(witness[1], 33n)
    assert.equal(witness[2], BN254_SCALAR_FIELD - 6n)
    assert.equal(witness[4], 42n)
  })

  it('behavior: optimization levels change the constraint count', async () => {
    const source = `pragma circom 2.1.0;
template L() { signal input a; signal output b; signal t; t <== a + 1; b <== t * t; }
component main = L();`
    const o0 = await compileCircom({ source, name: 'lin', optimization: 0 })
    const o2 = await compileCircom({ source, name: 'lin', optimization: 2 })
    assert.equal(o0.constraints, 2)
    assert.equal(o2.constraints, 1)
  })

  it('behavior: extra include paths are searched', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'verity-inc-'))
    try {
      await writeFile(
        join(dir, 'square.circom'),
        'pragma circom 2.1.0;\ntemplate Square() { signal input a; signal output b; b <== a * a; }\n',
      )
      const compiled = await compileCircom({
        name: 'usesInclude',
        includePaths: [dir],
        source: 'pragma circom 2.1.0;\ninclude "square.circom";\ncomponent main = Square();\n',
      })
      assert.equal(compiled.constraints, 1)
      assert.deepEqual(await calculateWitness(compiled.wasm, { a: 7 }), [1n, 49n, 7n])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('behavior: readR1csHeader agrees with the compile result', async () => {
    const compiled = tiny
    const header = readR1csHeader(compiled.r1cs)
    assert.equal(header.prime, BN254_SCALAR_FIELD)
    assert.equal(header.constraints, compiled.constraints)
    assert.equal(header.publicOutputs, 4)
    assert.equal(header.publicInputs, 0)
    assert.throws(
      () => readR1csHeader(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])),
      (error) => isBaseError(error, 'ZK_CIRCUIT_INVALID'),
    )
  })

  it('error: a syntax error becomes ZK_CIRCUIT_COMPILE_FAILED with circom’s message', async () => {
    const before = await tempDirs()
    await assert.rejects(
      compileCircom({
        workDir,
        name: 'broken',
        source:
          'pragma circom 2.1.0;\ntemplate B() { signal input a; x <== a; }\ncomponent main = B();\n',
      }),
      (error) => {
        assert.ok(isBaseError(error, 'ZK_CIRCUIT_COMPILE_FAILED'))
        assert.match(error.shortMessage, /Undeclared symbol/)
        assert.match(error.details ?? '', /broken\.circom":2/)
        return true
      },
    )
    assert.deepEqual(await tempDirs(), before)
  })

  it('error: a missing include is reported', async () => {
    await assert.rejects(
      compileCircom({
        name: 'noInclude',
        source: 'pragma circom 2.1.0;\ninclude "doesNotExist.circom";\ncomponent main = X();\n',
      }),
      (error) => isBaseError(error, 'ZK_CIRCUIT_COMPILE_FAILED'),
    )
  })

  it('error: an invalid name is refused', async () => {
    await assert.rejects(compileCircom({ name: '../evil', source: tinyCircuitSource }), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })

  it('error: an aborted signal cancels the compile', async () => {
    const controller = new AbortController()
    const pending = compileCircom({
      source: tinyCircuitSource,
      name: 'tiny',
      signal: controller.signal,
    })
    controller.abort()
    await assert.rejects(pending, (error) => isBaseError(error, 'ABORTED'))
    await assert.rejects(
      compileCircom({ source: tinyCircuitSource, name: 'tiny', signal: AbortSignal.abort() }),
      (error) => isBaseError(error, 'ABORTED'),
    )
  })

  it('error: a witness that violates a range check is ZK_WITNESS_FAILED', async () => {
    const compiled = tiny
    await assert.rejects(calculateWitness(compiled.wasm, { in: ['256', '1', '1', '1'] }), (error) =>
      isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
    await assert.rejects(calculateWitness(compiled.wasm, { in: ['1', '1', '1'] }), (error) =>
      isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
    await assert.rejects(calculateWitness(compiled.wasm, { in: ['1', '1', '1', 'x'] }), (error) =>
      isBaseError(error, 'INVALID_ARGUMENT'),
    )
  })
})
