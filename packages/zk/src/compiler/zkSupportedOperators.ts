/**
 * ONNX operators the ZK compiler accepts, as `'domain:OpType'` (default domain `ai.onnx`). Every
 * other operator is refused with `ZK_UNSUPPORTED_OPERATORS`. `Constant` and `Identity` carry no
 * computation; `QLinearAdd` (com.microsoft) appears in onnxruntime-quantized models such as
 * mnist-12-int8. Some operators are accepted only in a form a circuit can compute (constant
 * weights, power-of-two integer `Div`, …); other forms are refused with `ZK_GRAPH_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * zkSupportedOperators.has('ai.onnx:MatMulInteger') // true
 * zkSupportedOperators.has('ai.onnx:Softmax') // false
 * ```
 */
export const zkSupportedOperators: ReadonlySet<string> = new Set([
  'ai.onnx:MatMulInteger',
  'ai.onnx:ConvInteger',
  'ai.onnx:MatMul',
  'ai.onnx:Gemm',
  'ai.onnx:Conv',
  'ai.onnx:Add',
  'ai.onnx:Sub',
  'ai.onnx:Mul',
  'ai.onnx:Div',
  'ai.onnx:Relu',
  'ai.onnx:Clip',
  'ai.onnx:Cast',
  'ai.onnx:MaxPool',
  'ai.onnx:AveragePool',
  'ai.onnx:Flatten',
  'ai.onnx:Reshape',
  'ai.onnx:QuantizeLinear',
  'ai.onnx:DequantizeLinear',
  'ai.onnx:QLinearMatMul',
  'ai.onnx:QLinearConv',
  'ai.onnx:Constant',
  'ai.onnx:Identity',
  'com.microsoft:QLinearAdd',
])

/**
 * The canonical domain of an operator: the default domain (`''` or `ai.onnx`) is `ai.onnx`.
 *
 * @example
 * ```ts
 * onnxOperatorKey('', 'Relu') // 'ai.onnx:Relu'
 * ```
 */
export function onnxOperatorKey(
  domain: string | null | undefined,
  opType: string | null | undefined,
): string {
  const normalized = !domain || domain === 'ai.onnx' ? 'ai.onnx' : domain
  return `${normalized}:${opType ?? ''}`
}
