import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import { buildDemoModels, type DemoModels, generateDigits, quantizedForward } from '@verity/models'
import { isBaseError } from '@verity/protocol'
import { InferenceSession, Tensor } from 'onnxruntime-node'
import { calculateWitness } from '../circom/calculateWitness.ts'
import { type CompileCircomReturnType, compileCircom } from '../circom/compileCircom.ts'
import { computeInputCommitment } from '../commitment/computeInputCommitment.ts'
import { computeModelCommitment } from '../commitment/computeModelCommitment.ts'
import { fromField, zkFieldOrder } from '../commitment/toField.ts'
import { type CompileZkModelReturnType, compileZkModel } from './compileZkModel.ts'
import { evaluateZkGraph } from './evaluateZkGraph.ts'
import { measureZkAccuracy } from './measureZkAccuracy.ts'

const demoOptions = { trainCount: 2000, testCount: 500, epochs: 3 } as const

describe('compileZkModel', () => {
  let demo: DemoModels
  let compiled: CompileZkModelReturnType
  let circuit: CompileCircomReturnType
  let testImages: Uint8Array[]
  let testLabels: number[]
  before(async () => {
    demo = await buildDemoModels(demoOptions)
    const testSet = generateDigits({
      count: demoOptions.testCount,
      seed: demo.recipe.data.testSeed,
    })
    testImages = testSet.images
    testLabels = testSet.labels
    compiled = compileZkModel(demo.int8Model, { name: 'digits-mlp-int8' })
    circuit = await compileCircom({ source: compiled.source, name: 'digitsMlpInt8' })
  })

  it('default', () => {
    assert.equal(compiled.mainTemplate, 'DigitsMlpInt8')
    assert.equal(compiled.inputLength, 784)
    assert.equal(compiled.inputDtype, 'uint8')
    assert.deepEqual(compiled.inputShape, [1, 1, 28, 28])
    assert.deepEqual(compiled.outputShape, [1, 10])
    assert.equal(compiled.outputCount, 10)
    assert.equal(compiled.modelCommitment, computeModelCommitment(demo.int8Model))
    assert.deepEqual(compiled.operators, ['Add', 'Cast', 'Clip', 'Div', 'Flatten', 'MatMulInteger'])
    assert.deepEqual(
      compiled.graph.ops.map((op) => op.op),
      ['reshape', 'matmul', 'requantize', 'matmul'],
      'Add(bias) + Add(round) + Div + Clip + Cast fuse into one requantize',
    )
    assert.match(compiled.source, /^pragma circom 2\.1\.\d+;/)
    for (const file of ['poseidon.circom', 'bitify.circom', 'comparators.circom'])
      assert.ok(compiled.source.includes(`include "${file}";`), file)
    assert.match(compiled.source, /signal input in\[784\];/)
    assert.equal(compiled.witnessInput(Uint8Array.of(...new Array(784).fill(7))).in[0], '7')
  })

  it('behavior: witness outputs == evaluator == onnxruntime for 12 images, commitments match', async () => {
    const session = await InferenceSession.create(demo.int8Model)
    try {
      for (const image of testImages.slice(0, 12)) {
        const evaluated = Array.from(evaluateZkGraph(compiled.graph, image).output)
        const results = await session.run({ image: new Tensor('uint8', image, [1, 1, 28, 28]) })
        const ort = Array.from(results.logits!.data as Int32Array)
        assert.deepEqual(evaluated, ort, 'integer evaluator == onnxruntime')
        assert.deepEqual(evaluated, Array.from(quantizedForward(demo.networks.int8, image)))
        const witness = await calculateWitness(circuit.wasm, compiled.witnessInput(image))
        const outputs = witness.slice(1, 11).map((value) => Number(fromField(value)))
        assert.deepEqual(outputs, evaluated, 'circuit == evaluator')
        assert.equal(witness[11], computeInputCommitment(image))
        assert.equal(witness[12], compiled.modelCommitment)
      }
    } finally {
      await session.release()
    }
  })

  it('behavior: constraint count is reported and matches the estimate', () => {
    // 784 × Num2Bits(8) + 7 × Poseidon(5) + one requantize gadget per hidden unit
    console.log(
      `  demo int8 MLP 784→${compiled.graph.shapes.get(compiled.graph.ops[1]!.output)?.[1]}→10: ${circuit.constraints} R1CS constraints (estimate ${compiled.estimatedConstraints}, ${JSON.stringify(compiled.breakdown)}), compile ${circuit.compileMs} ms`,
    )
    assert.ok(circuit.constraints < 2 ** 14, `${circuit.constraints} fits 2^14`)
    assert.ok(
      Math.abs(circuit.constraints - compiled.estimatedConstraints) <= 0.01 * circuit.constraints,
    )
    assert.equal(circuit.publicSignals, 12)
    assert.equal(circuit.privateInputs, 784)
  })

  it('behavior: the circuit rejects an input byte out of range', async () => {
    const input = compiled.witnessInput(testImages[0]!)
    input.in[5] = '256'
    await assert.rejects(calculateWitness(circuit.wasm, input), (error) =>
      isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
    input.in[5] = (zkFieldOrder - 1n).toString()
    await assert.rejects(calculateWitness(circuit.wasm, input), (error) =>
      isBaseError(error, 'ZK_WITNESS_FAILED'),
    )
  })

  it('behavior: the float MLP compiles through quantization and agrees >= 99% with the float model', async () => {
    const trainSet = generateDigits({ count: 512, seed: demo.recipe.data.trainSeed })
    const floatCompiled = compileZkModel(demo.floatModel, { calibration: trainSet.images })
    assert.equal(floatCompiled.graph.numeric, 'integer')
    assert.equal(floatCompiled.inputScale, 1 / 255)
    assert.ok(floatCompiled.floatGraph)
    assert.deepEqual(
      floatCompiled.graph.ops.map((op) => op.op),
      ['reshape', 'matmul', 'requantize', 'matmul'],
    )
    const result = measureZkAccuracy({
      graph: floatCompiled.graph,
      reference: floatCompiled.floatGraph,
      inputs: testImages,
      labels: testLabels,
    })
    console.log(
      `  float MLP quantized for ZK: agreement ${(result.agreement * 100).toFixed(1)}% on ${result.count} test digits, integer accuracy ${((result.integerAccuracy ?? 0) * 100).toFixed(1)}%, float ${((result.referenceAccuracy ?? 0) * 100).toFixed(1)}%; estimated ${floatCompiled.estimatedConstraints} constraints`,
    )
    assert.ok(result.agreement >= 0.99, `agreement ${result.agreement}`)
    assert.ok(result.integerAccuracy! >= result.referenceAccuracy! - 0.01)
    // the float reference (float graph in float64) is the exported float model (onnxruntime)
    const session = await InferenceSession.create(demo.floatModel)
    try {
      for (const image of testImages.slice(0, 5)) {
        const pixels = Float32Array.from(image, (byte) => byte / 255)
        const results = await session.run({ image: new Tensor('float32', pixels, [1, 1, 28, 28]) })
        const ort = results.logits!.data as Float32Array
        const reference = evaluateZkGraph(floatCompiled.floatGraph, pixels).output
        for (const [i, value] of reference.entries())
          assert.ok(Math.abs(value - ort[i]!) < 1e-3, `${value} vs ${ort[i]}`)
      }
    } finally {
      await session.release()
    }
  })

  it('error: a float model without calibration data', () => {
    assert.throws(
      () => compileZkModel(demo.floatModel),
      (error) => isBaseError(error, 'ZK_CALIBRATION_INVALID'),
    )
  })
})
