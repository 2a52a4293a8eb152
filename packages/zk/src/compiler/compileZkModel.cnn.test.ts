import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { buildDemoCnn, type DemoCnn, generateDigits } from '@verity/models'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { calculateWitness } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { computeInputCommitment } from '../commitment/computeInputCommitment.ts'
import { fromField } from '../commitment/toField.ts'
import { type CompileZkModelReturnType, compileZkModel } from './compileZkModel.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { measureZkAccuracy } from './measureZkAccuracy.ts'

// The demo CNN of @verity/models (ConvInteger → requantize → MaxPool → MatMulInteger).
describe('compileZkModel (demo CNN)', () => {
  let cnn: DemoCnn
  let compiled: CompileZkModelReturnType
  let circuit: CompileCircomReturnType
  before(async () => {
    cnn = await buildDemoCnn({ trainCount: 2000, testCount: 300, epochs: 2 })
    compiled = compileZkModel(cnn.int8Onnx, { name: 'demo cnn' })
    circuit = await compileCircom({ source: compiled.source, name: 'demoCnn' })
  })

  it('default', async () => {
    assert.deepEqual(
      compiled.graph.ops.map((op) => op.op),
      ['conv', 'maxPool', 'requantize', 'reshape', 'matmul'],
    )
    console.log(
      `  demo CNN int8: ${circuit.constraints} R1CS constraints (estimate ${compiled.estimatedConstraints}, ${JSON.stringify(compiled.breakdown)}), compile ${circuit.compileMs} ms`,
    )
    assert.ok(circuit.constraints < 2 ** 16, 'fits a 2^16 setup')
    assert.ok(
      Math.abs(circuit.constraints - compiled.estimatedConstraints) <= 0.01 * circuit.constraints,
    )
  })

  it('behavior: witness == evaluator == onnxruntime', async () => {
    const session = await InferenceSession.create(cnn.int8Onnx)
    try {
      for (const [index, sample] of cnn.samples.entries()) {
        const results = await session.run({
          [session.inputNames[0]!]: new Tensor('uint8', sample.image, [1, 1, 28, 28]),
        })
        const ort = Array.from(results[session.outputNames[0]!]!.data as Int32Array)
        const evaluated = Array.from(evaluateZkGraph(compiled.graph, sample.image).output)
        assert.deepEqual(evaluated, ort)
        if (index >= 3) continue
        const witness = await calculateWitness(circuit.wasm, compiled.witnessInput(sample.image))
        assert.deepEqual(
          witness.slice(1, 11).map((value) => Number(fromField(value))),
          evaluated,
        )
        assert.equal(witness[11], computeInputCommitment(sample.image))
        assert.equal(witness[12], compiled.modelCommitment)
      }
    } finally {
      await session.release()
    }
  })

  it('behavior: the float CNN quantized for ZK agrees >= 98% with the float model', () => {
    const calibration = generateDigits({ count: 512, seed: cnn.recipe.data.trainSeed }).images
    const test = generateDigits({ count: 300, seed: cnn.recipe.data.testSeed })
    const floatCompiled = compileZkModel(cnn.floatOnnx, { calibration })
    const result = measureZkAccuracy({
      graph: floatCompiled.graph,
      reference: floatCompiled.floatGraph!,
      inputs: test.images,
      labels: test.labels,
    })
    console.log(
      `  float CNN quantized for ZK: agreement ${(result.agreement * 100).toFixed(1)}% on ${result.count} test digits, ${floatCompiled.estimatedConstraints} estimated constraints`,
    )
    assert.ok(result.agreement >= 0.98, `agreement ${result.agreement}`)
  })
})
