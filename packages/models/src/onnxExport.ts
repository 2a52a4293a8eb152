import onnxProto from 'onnx-proto'
import {
  encodeOnnxModel,
  type OnnxExportOptions,
  onnxInitializer,
  onnxNode,
  onnxTensorType,
  onnxValueInfo,
} from './onnxGraph.ts'
import type { QuantizedMlp } from './quantize.ts'
import type { Mlp } from './train.ts'

const { onnx } = onnxProto

export { type OnnxExportOptions, onnxProducer, onnxVersions } from './onnxGraph.ts'

const { float: FLOAT, uint8: UINT8, int8: INT8, int32: INT32 } = onnxTensorType

/**
 * Serializes the float MLP as an ONNX model: `image` float32 `[batch, 1, 28, 28]` (pixels / 255)
 * → Flatten → Gemm → Relu → Gemm → `logits` float32 `[batch, 10]`. Weights are rounded to float32.
 * The bytes depend only on the model and the options.
 *
 * @example
 * ```ts
 * const bytes = exportFloatOnnx(model, { docString: 'digits MLP, recipe seed 1' })
 * ```
 */
export function exportFloatOnnx(model: Mlp, options: OnnxExportOptions): Uint8Array {
  const { inputSize, hiddenSize, outputSize } = model
  const graph = onnx.GraphProto.create({
    name: 'digits_mlp',
    node: [
      onnxNode('flatten', 'Flatten', ['image'], ['pixels'], { axis: 1 }),
      onnxNode('fc1', 'Gemm', ['pixels', 'fc1.weight', 'fc1.bias'], ['fc1_out']),
      onnxNode('relu1', 'Relu', ['fc1_out'], ['hidden']),
      onnxNode('fc2', 'Gemm', ['hidden', 'fc2.weight', 'fc2.bias'], ['logits']),
    ],
    initializer: [
      onnxInitializer('fc1.weight', FLOAT, [inputSize, hiddenSize], model.w1),
      onnxInitializer('fc1.bias', FLOAT, [hiddenSize], model.b1),
      onnxInitializer('fc2.weight', FLOAT, [hiddenSize, outputSize], model.w2),
      onnxInitializer('fc2.bias', FLOAT, [outputSize], model.b2),
    ],
    input: [onnxValueInfo('image', FLOAT, ['batch', 1, 28, 28])],
    output: [onnxValueInfo('logits', FLOAT, ['batch', outputSize])],
  })
  return encodeOnnxModel(graph, options)
}

/**
 * Serializes the integer MLP as an ONNX model that uses only exact integer operators:
 * `image` uint8 `[batch, 1, 28, 28]` (0..255) → Flatten → MatMulInteger → Add (bias) → Add
 * (rounding) → Div (power of two) → Clip [0, 255] → Cast uint8 → MatMulInteger → Add (bias) →
 * `logits` int32 `[batch, 10]`. It computes exactly {@link quantizedForward}.
 *
 * @example
 * ```ts
 * const bytes = exportInt8Onnx(quantized, { docString: 'digits MLP int8, recipe seed 1' })
 * ```
 */
export function exportInt8Onnx(model: QuantizedMlp, options: OnnxExportOptions): Uint8Array {
  const { inputSize, hiddenSize, outputSize } = model
  const graph = onnx.GraphProto.create({
    name: 'digits_mlp_int8',
    node: [
      onnxNode('flatten', 'Flatten', ['image'], ['pixels'], { axis: 1 }),
      onnxNode('fc1', 'MatMulInteger', ['pixels', 'fc1.weight'], ['fc1_product']),
      onnxNode('fc1_bias', 'Add', ['fc1_product', 'fc1.bias'], ['fc1_out']),
      onnxNode('requant1_round', 'Add', ['fc1_out', 'requant1.round'], ['requant1_rounded']),
      onnxNode(
        'requant1_shift',
        'Div',
        ['requant1_rounded', 'requant1.divisor'],
        ['requant1_scaled'],
      ),
      onnxNode('relu1', 'Clip', ['requant1_scaled', 'clip.min', 'clip.max'], ['hidden_int32']),
      onnxNode('hidden_cast', 'Cast', ['hidden_int32'], ['hidden'], { to: UINT8 }),
      onnxNode('fc2', 'MatMulInteger', ['hidden', 'fc2.weight'], ['fc2_product']),
      onnxNode('fc2_bias', 'Add', ['fc2_product', 'fc2.bias'], ['logits']),
    ],
    initializer: [
      onnxInitializer('fc1.weight', INT8, [inputSize, hiddenSize], model.w1),
      onnxInitializer('fc1.bias', INT32, [hiddenSize], model.b1),
      onnxInitializer('requant1.round', INT32, [hiddenSize], model.round1),
      onnxInitializer('requant1.divisor', INT32, [hiddenSize], model.divisor1),
      onnxInitializer('clip.min', INT32, [], Int32Array.of(0)),
      onnxInitializer('clip.max', INT32, [], Int32Array.of(255)),
      onnxInitializer('fc2.weight', INT8, [hiddenSize, outputSize], model.w2),
      onnxInitializer('fc2.bias', INT32, [outputSize], model.b2),
    ],
    input: [onnxValueInfo('image', UINT8, ['batch', 1, 28, 28])],
    output: [onnxValueInfo('logits', INT32, ['batch', outputSize])],
  })
  return encodeOnnxModel(graph, options)
}
