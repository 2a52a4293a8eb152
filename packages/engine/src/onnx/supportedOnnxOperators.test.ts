import assert from 'node:assert/strict'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { test } from 'node:test'
import onnxProto from 'onnx-proto'
import { InferenceSession } from 'onnxruntime-node'
import { assetPath, assetsAbsent, assetsDir } from '../testing/assets.ts'
import {
  type BuildOnnxModelParameters,
  buildOnnxModel,
  type OnnxElementType,
  type OnnxInitializerSpec,
} from '../testing/buildOnnxModel.ts'
import { defaultOnnxEngineOptions, onnxSessionOptions } from './onnxEngineOptions.ts'
import {
  onnxOperatorKey,
  supportedOnnxOperators,
  supportedOnnxOpsets,
} from './supportedOnnxOperators.ts'

const { onnx } = onnxProto

// Loading (not running) is enough to know ORT has a kernel for every node; 'disabled' skips
// constant folding, which keeps the big "light" zoo models fast to load.
const probeOptions = {
  ...onnxSessionOptions(defaultOnnxEngineOptions),
  graphOptimizationLevel: 'disabled',
} as const

async function loads(bytes: Uint8Array): Promise<string | undefined> {
  try {
    const session = await InferenceSession.create(bytes, probeOptions)
    await session.release()
    return undefined
  } catch (error) {
    return error instanceof Error ? error.message : String(error)
  }
}

function onnxFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return onnxFiles(path)
    return path.endsWith('.onnx') ? [path] : []
  })
}

function operatorsOf(graph: onnxProto.onnx.IGraphProto | null | undefined, into: Set<string>) {
  for (const node of graph?.node ?? []) {
    into.add(onnxOperatorKey(node.domain, node.opType ?? ''))
    for (const attribute of node.attribute ?? []) {
      operatorsOf(attribute.g, into)
      for (const subgraph of attribute.graphs ?? []) operatorsOf(subgraph, into)
    }
  }
  return into
}

test('default', () => {
  assert.ok(supportedOnnxOperators.size > 200)
  for (const key of supportedOnnxOperators)
    assert.match(key, /^(ai\.onnx|ai\.onnx\.ml|com\.microsoft):[A-Z][A-Za-z0-9]+$/)
  for (const key of [
    'ai.onnx:Conv',
    'ai.onnx.ml:TreeEnsembleClassifier',
    'com.microsoft:QLinearAdd',
  ])
    assert.ok(supportedOnnxOperators.has(key), key)
  // Nondeterministic and device-copy operators are refused.
  for (const op of [
    'RandomNormal',
    'RandomUniformLike',
    'Multinomial',
    'Bernoulli',
    'MemcpyToHost',
  ])
    assert.ok(!supportedOnnxOperators.has(`ai.onnx:${op}`), op)
  assert.equal(onnxOperatorKey('', 'Relu'), 'ai.onnx:Relu')
  assert.equal(onnxOperatorKey(undefined, 'Relu'), 'ai.onnx:Relu')
})

test('behavior: every operator of every asset model onnxruntime loads is in the set', async (t) => {
  if (!assetPath('onnx')) return t.skip(assetsAbsent)
  const refused: string[] = []
  let loaded = 0
  for (const path of onnxFiles(assetsDir)) {
    const bytes = readFileSync(path)
    const model = onnx.ModelProto.decode(bytes)
    const operators = operatorsOf(model.graph, new Set())
    const error = await loads(bytes)
    const name = relative(assetsDir, path)
    if (error === undefined) {
      loaded++
      const missing = [...operators].filter((key) => !supportedOnnxOperators.has(key))
      assert.deepEqual(missing, [], `${name} loads in ORT but uses operators outside the set`)
      continue
    }
    // A model ORT refuses must be explained: an unsupported operator, an ai.onnx opset below the
    // supported range, or an opset-6 operator version ORT has no legacy kernel for (the trial load
    // at `verity model add` refuses those). The one environmental exception: StringNormalizer's
    // case change needs the en_US.UTF-8 locale.
    const opset = model.opsetImport?.find((entry) => !entry.domain)?.version
    const outsideSet = [...operators].some((key) => !supportedOnnxOperators.has(key))
    const oldOpset =
      Number(opset ?? 0) < supportedOnnxOpsets['ai.onnx']!.min ||
      (Number(opset ?? 0) < 7 && error.includes('Could not find an implementation'))
    const missingLocale = operators.has('ai.onnx:StringNormalizer') && error.includes('locale')
    assert.ok(
      outsideSet || oldOpset || missingLocale,
      `${name} fails in ORT for another reason: ${error}`,
    )
    refused.push(name)
  }
  assert.ok(loaded > 100, `only ${loaded} asset models loaded`)
  assert.ok(refused.length > 0)
})

const scale = (name: string): OnnxInitializerSpec => ({
  name,
  type: 'float32',
  dims: [],
  values: [0.1],
})
const zero = (name: string, type: 'uint8' | 'int8' = 'uint8'): OnnxInitializerSpec => ({
  name,
  type,
  dims: [],
  values: [0],
})
const quant = (prefix: string, type: 'uint8' | 'int8' = 'uint8') => ({
  names: [`${prefix}_scale`, `${prefix}_zero`],
  initializers: [scale(`${prefix}_scale`), zero(`${prefix}_zero`, type)],
})
const weights = (name: string, dims: number[]): OnnxInitializerSpec => ({
  name,
  type: 'int8',
  dims,
  values: new Array(dims.reduce((a, b) => a * b, 1)).fill(1),
})

type Probe = {
  op: string
  model: Omit<BuildOnnxModelParameters, 'nodes'> & {
    node: { inputs: string[]; attributes?: onnxProto.onnx.IAttributeProto[] }
  }
  output: OnnxElementType
}

function unary(
  op: string,
  shape = [1, 1, 4, 4],
  attributes: onnxProto.onnx.IAttributeProto[] = [],
): Probe {
  const x = quant('x')
  const y = quant('y')
  return {
    op,
    output: 'uint8',
    model: {
      inputs: [{ name: 'x', type: 'uint8', shape }],
      outputs: [],
      initializers: [...x.initializers, ...y.initializers],
      node: { inputs: ['x', ...x.names, ...y.names], attributes },
    },
  }
}

function binary(op: string): Probe {
  const [a, b, c] = [quant('a'), quant('b'), quant('c')]
  return {
    op,
    output: 'uint8',
    model: {
      inputs: [
        { name: 'a', type: 'uint8', shape: [1, 4] },
        { name: 'b', type: 'uint8', shape: [1, 4] },
      ],
      outputs: [],
      initializers: [...a.initializers, ...b.initializers, ...c.initializers],
      node: { inputs: ['a', ...a.names, 'b', ...b.names, ...c.names] },
    },
  }
}

const ints = (name: string, values: number[]) => ({ name, type: 7, ints: values })
const int = (name: string, value: number) => ({ name, type: 2, i: value })

// One-node models for the com.microsoft operators in the set (the transformer ones need whole
// subgraphs and are taken from ORT's kernel docs instead).
const contribProbes: Probe[] = [
  binary('QLinearAdd'),
  binary('QLinearMul'),
  unary('QLinearSigmoid', [1, 4]),
  unary('QLinearLeakyRelu', [1, 4]),
  unary('QLinearSoftmax', [1, 4], [int('opset', 13), int('axis', -1)]),
  unary('QLinearAveragePool', [1, 1, 4, 4], [ints('kernel_shape', [2, 2])]),
  unary('QLinearGlobalAveragePool'),
  {
    op: 'QLinearConcat',
    output: 'uint8',
    model: {
      inputs: [
        { name: 'a', type: 'uint8', shape: [1, 2] },
        { name: 'b', type: 'uint8', shape: [1, 2] },
      ],
      outputs: [],
      initializers: [
        ...quant('y').initializers,
        ...quant('a').initializers,
        ...quant('b').initializers,
      ],
      node: {
        inputs: [...quant('y').names, 'a', ...quant('a').names, 'b', ...quant('b').names],
        attributes: [int('axis', 1)],
      },
    },
  },
  {
    op: 'QLinearWhere',
    output: 'uint8',
    model: {
      inputs: [
        { name: 'cond', type: 'bool', shape: [1, 4] },
        { name: 'a', type: 'uint8', shape: [1, 4] },
        { name: 'b', type: 'uint8', shape: [1, 4] },
      ],
      outputs: [],
      initializers: [
        ...quant('a').initializers,
        ...quant('b').initializers,
        ...quant('c').initializers,
      ],
      node: {
        inputs: ['cond', 'a', ...quant('a').names, 'b', ...quant('b').names, ...quant('c').names],
      },
    },
  },
  {
    op: 'QLinearConv',
    output: 'uint8',
    model: {
      inputs: [{ name: 'x', type: 'uint8', shape: [1, 1, 4, 4] }],
      outputs: [],
      initializers: [
        ...quant('x').initializers,
        weights('w', [1, 1, 1, 1]),
        ...quant('w', 'int8').initializers,
        ...quant('y').initializers,
      ],
      node: { inputs: ['x', ...quant('x').names, 'w', ...quant('w').names, ...quant('y').names] },
    },
  },
  {
    op: 'QGemm',
    output: 'uint8',
    model: {
      inputs: [{ name: 'a', type: 'uint8', shape: [2, 4] }],
      outputs: [],
      initializers: [
        ...quant('a').initializers,
        weights('b', [4, 3]),
        ...quant('b', 'int8').initializers,
        { name: 'c', type: 'int32', dims: [3], values: [0, 0, 0] },
        ...quant('y').initializers,
      ],
      node: {
        inputs: ['a', ...quant('a').names, 'b', ...quant('b').names, 'c', ...quant('y').names],
      },
    },
  },
  {
    op: 'DynamicQuantizeMatMul',
    output: 'float32',
    model: {
      inputs: [{ name: 'a', type: 'float32', shape: [2, 4] }],
      outputs: [],
      initializers: [weights('b', [4, 3]), scale('bs'), zero('bz', 'int8')],
      node: { inputs: ['a', 'b', 'bs', 'bz'] },
    },
  },
  {
    op: 'MatMulIntegerToFloat',
    output: 'float32',
    model: {
      inputs: [{ name: 'a', type: 'uint8', shape: [2, 4] }],
      outputs: [],
      initializers: [weights('b', [4, 3]), scale('as'), scale('bs')],
      node: { inputs: ['a', 'b', 'as', 'bs'] },
    },
  },
  {
    op: 'MatMulInteger16',
    output: 'int32',
    model: {
      inputs: [{ name: 'a', type: 'int16', shape: [4, 4] }],
      outputs: [],
      initializers: [],
      node: { inputs: ['a', 'a'] },
    },
  },
  {
    op: 'QuantizeLinear',
    output: 'uint8',
    model: {
      inputs: [{ name: 'x', type: 'float32', shape: [4] }],
      outputs: [],
      initializers: quant('y').initializers,
      node: { inputs: ['x', ...quant('y').names] },
    },
  },
  {
    op: 'DequantizeLinear',
    output: 'float32',
    model: {
      inputs: [{ name: 'x', type: 'uint8', shape: [4] }],
      outputs: [],
      initializers: quant('x').initializers,
      node: { inputs: ['x', ...quant('x').names] },
    },
  },
  {
    op: 'NhwcMaxPool',
    output: 'uint8',
    model: {
      inputs: [{ name: 'x', type: 'uint8', shape: [1, 4, 4, 1] }],
      outputs: [],
      initializers: [],
      node: { inputs: ['x'], attributes: [ints('kernel_shape', [2, 2])] },
    },
  },
]

function contribModel(probe: Probe): Uint8Array {
  const { node, ...rest } = probe.model
  return buildOnnxModel({
    ...rest,
    outputs: [{ name: 'y', type: probe.output }],
    nodes: [
      {
        op: probe.op,
        domain: 'com.microsoft',
        inputs: node.inputs,
        outputs: ['y'],
        ...(node.attributes ? { attributes: node.attributes } : {}),
      },
    ],
    opsets: { '': 21, 'com.microsoft': 1 },
  })
}

test('behavior: the com.microsoft quantization operators in the set load in onnxruntime', async () => {
  for (const probe of contribProbes) {
    assert.ok(supportedOnnxOperators.has(`com.microsoft:${probe.op}`), probe.op)
    assert.equal(await loads(contribModel(probe)), undefined, probe.op)
  }
  // The probe can tell: QLinearReduceMean has a schema but no CPU kernel, and is not in the set.
  const reduceMean = unary('QLinearReduceMean', [1, 4], [ints('axes', [1]), int('keepdims', 1)])
  assert.match((await loads(contribModel(reduceMean))) ?? '', /Could not find an implementation/)
  assert.ok(!supportedOnnxOperators.has('com.microsoft:QLinearReduceMean'))
})

test('behavior: operators ORT runs without a kernel of their own load in onnxruntime', async () => {
  const f = (name: string, shape: number[]) => ({ name, type: 'float32' as const, shape })
  const cases: [string, number, BuildOnnxModelParameters][] = [
    [
      'HardSwish',
      21,
      {
        nodes: [{ op: 'HardSwish', inputs: ['x'], outputs: ['y'] }],
        inputs: [f('x', [4])],
        outputs: [f('y', [4])],
      },
    ],
    [
      'Mish',
      21,
      {
        nodes: [{ op: 'Mish', inputs: ['x'], outputs: ['y'] }],
        inputs: [f('x', [4])],
        outputs: [f('y', [4])],
      },
    ],
    [
      'Swish',
      24,
      {
        nodes: [{ op: 'Swish', inputs: ['x'], outputs: ['y'] }],
        inputs: [f('x', [4])],
        outputs: [f('y', [4])],
      },
    ],
    [
      'CastLike',
      21,
      {
        nodes: [{ op: 'CastLike', inputs: ['x', 't'], outputs: ['y'] }],
        inputs: [f('x', [4]), { name: 't', type: 'int64', shape: [1] }],
        outputs: [{ name: 'y', type: 'int64', shape: [4] }],
      },
    ],
    [
      'GroupNormalization',
      21,
      {
        nodes: [
          {
            op: 'GroupNormalization',
            inputs: ['x', 's', 'b'],
            outputs: ['y'],
            attributes: [int('num_groups', 2)],
          },
        ],
        inputs: [f('x', [1, 4, 2]), f('s', [4]), f('b', [4])],
        outputs: [f('y', [1, 4, 2])],
      },
    ],
    [
      'CenterCropPad',
      21,
      {
        nodes: [{ op: 'CenterCropPad', inputs: ['x', 's'], outputs: ['y'] }],
        inputs: [f('x', [4, 4])],
        initializers: [{ name: 's', type: 'int64', dims: [2], values: [2, 2] }],
        outputs: [f('y', [2, 2])],
      },
    ],
    [
      'Constant',
      21,
      {
        nodes: [
          {
            op: 'Constant',
            inputs: [],
            outputs: ['c'],
            attributes: [{ name: 'value_float', type: 1, f: 2 }],
          },
          { op: 'Mul', inputs: ['x', 'c'], outputs: ['y'] },
        ],
        inputs: [f('x', [4])],
        outputs: [f('y', [4])],
      },
    ],
    [
      'BitCast',
      26,
      {
        nodes: [{ op: 'BitCast', inputs: ['x'], outputs: ['y'], attributes: [int('to', 6)] }],
        inputs: [f('x', [4])],
        outputs: [{ name: 'y', type: 'int32', shape: [4] }],
      },
    ],
  ]
  for (const [op, opset, model] of cases) {
    assert.ok(supportedOnnxOperators.has(`ai.onnx:${op}`), op)
    assert.equal(await loads(buildOnnxModel({ ...model, opsets: { '': opset } })), undefined, op)
  }
})

test('behavior: supportedOnnxOpsets bounds are what onnxruntime accepts', async () => {
  const identity = (opset: number) =>
    buildOnnxModel({
      nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['y'] }],
      inputs: [{ name: 'x', type: 'float32', shape: [2] }],
      outputs: [{ name: 'y', type: 'float32', shape: [2] }],
      opsets: { '': opset },
    })
  const { min, max } = supportedOnnxOpsets['ai.onnx']!
  assert.equal(await loads(identity(min)), undefined)
  assert.equal(await loads(identity(max)), undefined)
  assert.notEqual(await loads(identity(max + 1)), undefined)
})
