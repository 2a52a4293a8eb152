import {
  encodeOnnxModel,
  type OnnxExportOptions,
  onnxInitializer,
  onnxNode,
  onnxTensorType,
  onnxValueInfo,
} from '../onnxGraph.ts'
import type { QuantizedCnn } from './quantizeCnn.ts'
import type { Cnn } from './trainCnn.ts'

const { float: FLOAT, uint8: UINT8, int8: INT8, int32: INT32 } = onnxTensorType

function convAttributes(model: Cnn | QuantizedCnn) {
  return {
    kernel_shape: [model.kernelSize, model.kernelSize],
    strides: [model.stride, model.stride],
    pads: [0, 0, 0, 0],
  }
}

function poolAttributes(model: Cnn | QuantizedCnn) {
  return {
    kernel_shape: [model.poolSize, model.poolSize],
    strides: [model.poolSize, model.poolSize],
  }
}

/**
 * Serializes the float CNN as an ONNX model: `image` float32 `[batch, 1, 28, 28]` (pixels / 255)
 * → Conv → Relu → MaxPool → Flatten → Gemm → `logits` float32 `[batch, 10]`. Weights are rounded
 * to float32. The bytes depend only on the model and the options.
 *
 * @example
 * ```ts
 * const bytes = exportCnnFloatOnnx(model, { docString: 'digits CNN, recipe seed 1' })
 * ```
 */
export function exportCnnFloatOnnx(model: Cnn, options: OnnxExportOptions): Uint8Array {
  const { channels, kernelSize, featureSize, outputSize } = model
  return encodeOnnxModel(
    {
      name: 'digits_cnn',
      node: [
        onnxNode(
          'conv',
          'Conv',
          ['image', 'conv.weight', 'conv.bias'],
          ['conv_out'],
          convAttributes(model),
        ),
        onnxNode('relu', 'Relu', ['conv_out'], ['activations']),
        onnxNode('pool', 'MaxPool', ['activations'], ['pooled'], poolAttributes(model)),
        onnxNode('flatten', 'Flatten', ['pooled'], ['features'], { axis: 1 }),
        onnxNode('fc', 'Gemm', ['features', 'fc.weight', 'fc.bias'], ['logits']),
      ],
      initializer: [
        onnxInitializer(
          'conv.weight',
          FLOAT,
          [channels, 1, kernelSize, kernelSize],
          model.convWeight,
        ),
        onnxInitializer('conv.bias', FLOAT, [channels], model.convBias),
        onnxInitializer('fc.weight', FLOAT, [featureSize, outputSize], model.fcWeight),
        onnxInitializer('fc.bias', FLOAT, [outputSize], model.fcBias),
      ],
      input: [onnxValueInfo('image', FLOAT, ['batch', 1, model.imageSize, model.imageSize])],
      output: [onnxValueInfo('logits', FLOAT, ['batch', outputSize])],
    },
    options,
  )
}

/**
 * Serializes the integer CNN as an ONNX model that uses only exact integer operators:
 * `image` uint8 `[batch, 1, 28, 28]` → ConvInteger (uint8 × int8 → int32) → Add (bias) → Add
 * (rounding) → Div (power of two) → Clip [0, 255] → Cast uint8 → MaxPool (uint8) → Flatten →
 * MatMulInteger (uint8 × int8 → int32) → Add (bias) → `logits` int32 `[batch, 10]`. Per-channel
 * constants have shape `[channels, 1, 1]` and broadcast over the maps. It computes exactly
 * {@link quantizedCnnForward}.
 *
 * @example
 * ```ts
 * const bytes = exportCnnInt8Onnx(quantized, { docString: 'digits CNN int8, recipe seed 1' })
 * ```
 */
export function exportCnnInt8Onnx(model: QuantizedCnn, options: OnnxExportOptions): Uint8Array {
  const { channels, kernelSize, featureSize, outputSize } = model
  const perChannel = [channels, 1, 1]
  return encodeOnnxModel(
    {
      name: 'digits_cnn_int8',
      node: [
        onnxNode('conv', 'ConvInteger', ['image', 'conv.weight'], ['conv_product'], {
          ...convAttributes(model),
        }),
        onnxNode('conv_bias', 'Add', ['conv_product', 'conv.bias'], ['conv_out']),
        onnxNode('requant_round', 'Add', ['conv_out', 'requant.round'], ['requant_rounded']),
        onnxNode(
          'requant_shift',
          'Div',
          ['requant_rounded', 'requant.divisor'],
          ['requant_scaled'],
        ),
        onnxNode('relu', 'Clip', ['requant_scaled', 'clip.min', 'clip.max'], ['activations_int32']),
        onnxNode('activations_cast', 'Cast', ['activations_int32'], ['activations'], { to: UINT8 }),
        onnxNode('pool', 'MaxPool', ['activations'], ['pooled'], poolAttributes(model)),
        onnxNode('flatten', 'Flatten', ['pooled'], ['features'], { axis: 1 }),
        onnxNode('fc', 'MatMulInteger', ['features', 'fc.weight'], ['fc_product']),
        onnxNode('fc_bias', 'Add', ['fc_product', 'fc.bias'], ['logits']),
      ],
      initializer: [
        onnxInitializer(
          'conv.weight',
          INT8,
          [channels, 1, kernelSize, kernelSize],
          model.convWeight,
        ),
        onnxInitializer('conv.bias', INT32, perChannel, model.convBias),
        onnxInitializer('requant.round', INT32, perChannel, model.round),
        onnxInitializer('requant.divisor', INT32, perChannel, model.divisor),
        onnxInitializer('clip.min', INT32, [], Int32Array.of(0)),
        onnxInitializer('clip.max', INT32, [], Int32Array.of(255)),
        onnxInitializer('fc.weight', INT8, [featureSize, outputSize], model.fcWeight),
        onnxInitializer('fc.bias', INT32, [outputSize], model.fcBias),
      ],
      input: [onnxValueInfo('image', UINT8, ['batch', 1, model.imageSize, model.imageSize])],
      output: [onnxValueInfo('logits', INT32, ['batch', outputSize])],
    },
    options,
  )
}
