/**
 * The key of an ONNX operator in {@link supportedOnnxOperators}: `domain:OpType`, with the
 * default domain (`""` in the protobuf) spelled `ai.onnx`.
 *
 * @example
 * ```ts
 * onnxOperatorKey('', 'Conv') // 'ai.onnx:Conv'
 * onnxOperatorKey('com.microsoft', 'QLinearAdd') // 'com.microsoft:QLinearAdd'
 * ```
 */
export function onnxOperatorKey(domain: string | null | undefined, opType: string): string {
  return `${domain ? domain : 'ai.onnx'}:${opType}`
}

// ai.onnx: every operator onnxruntime's CPU execution provider has a kernel for (ORT's generated
// docs/OperatorKernels.md, CPUExecutionProvider section, plus BitCast and NonMaxSuppression, which
// onnxruntime-node 1.30 was checked to load), and the operators ORT runs without a kernel of their
// own (end of the list). Left out on purpose:
// - RandomNormal, RandomNormalLike, RandomUniform, RandomUniformLike, Multinomial, Bernoulli:
//   their output depends on a seed that ORT draws from the clock when the model sets none, so a
//   re-execution cannot reproduce it. Verity only admits deterministic graphs.
// - MemcpyFromHost / MemcpyToHost: inserted by ORT itself between devices, never in model files.
// - training-only domains (ai.onnx.preview.training): ORT inference cannot load them.
const aiOnnx = [
  'Abs',
  'Acos',
  'Acosh',
  'Add',
  'Affine',
  'AffineGrid',
  'And',
  'ArgMax',
  'ArgMin',
  'Asin',
  'Asinh',
  'Atan',
  'Atanh',
  'Attention',
  'AveragePool',
  'BatchNormalization',
  'BitCast',
  'BitShift',
  'BitwiseAnd',
  'BitwiseNot',
  'BitwiseOr',
  'BitwiseXor',
  'BlackmanWindow',
  'Cast',
  'Ceil',
  'Celu',
  'Clip',
  'Col2Im',
  'Compress',
  'Concat',
  'ConcatFromSequence',
  'ConstantOfShape',
  'Conv',
  'ConvInteger',
  'ConvTranspose',
  'Cos',
  'Cosh',
  'Crop',
  'CumSum',
  'DFT',
  'DepthToSpace',
  'DequantizeLinear',
  'Det',
  'Div',
  'Dropout',
  'DynamicQuantizeLinear',
  'DynamicSlice',
  'Einsum',
  'Elu',
  'Equal',
  'Erf',
  'Exp',
  'Expand',
  'EyeLike',
  'Flatten',
  'Floor',
  'GRU',
  'Gather',
  'GatherElements',
  'GatherND',
  'Gelu',
  'Gemm',
  'GlobalAveragePool',
  'GlobalLpPool',
  'GlobalMaxPool',
  'Greater',
  'GreaterOrEqual',
  'GridSample',
  'HammingWindow',
  'HannWindow',
  'HardSigmoid',
  'Hardmax',
  'Identity',
  'If',
  'ImageScaler',
  'InstanceNormalization',
  'IsInf',
  'IsNaN',
  'LRN',
  'LSTM',
  'LayerNormalization',
  'LeakyRelu',
  'Less',
  'LessOrEqual',
  'Log',
  'LogSoftmax',
  'Loop',
  'LpNormalization',
  'LpPool',
  'MatMul',
  'MatMulInteger',
  'Max',
  'MaxPool',
  'MaxRoiPool',
  'MaxUnpool',
  'Mean',
  'MeanVarianceNormalization',
  'MelWeightMatrix',
  'Min',
  'Mod',
  'Mul',
  'Neg',
  'NonMaxSuppression',
  'NonZero',
  'Not',
  'OneHot',
  'Optional',
  'OptionalGetElement',
  'OptionalHasElement',
  'Or',
  'PRelu',
  'Pad',
  'ParametricSoftplus',
  'Pow',
  'QLinearConv',
  'QLinearMatMul',
  'QuantizeLinear',
  'RMSNormalization',
  'RNN',
  'Range',
  'Reciprocal',
  'ReduceL1',
  'ReduceL2',
  'ReduceLogSum',
  'ReduceLogSumExp',
  'ReduceMax',
  'ReduceMean',
  'ReduceMin',
  'ReduceProd',
  'ReduceSum',
  'ReduceSumSquare',
  'RegexFullMatch',
  'Relu',
  'Reshape',
  'Resize',
  'ReverseSequence',
  'RoiAlign',
  'RotaryEmbedding',
  'Round',
  'STFT',
  'Scale',
  'ScaledTanh',
  'Scan',
  'Scatter',
  'ScatterElements',
  'ScatterND',
  'Selu',
  'SequenceAt',
  'SequenceConstruct',
  'SequenceEmpty',
  'SequenceErase',
  'SequenceInsert',
  'SequenceLength',
  'Shape',
  'Shrink',
  'Sigmoid',
  'Sign',
  'SimplifiedLayerNormalization',
  'Sin',
  'Sinh',
  'Size',
  'Slice',
  'Softmax',
  'Softplus',
  'Softsign',
  'SpaceToDepth',
  'Split',
  'SplitToSequence',
  'Sqrt',
  'Squeeze',
  'StringConcat',
  // Caution: with case_change_action LOWER/UPPER, its kernel needs the en_US.UTF-8 locale and
  // fails to load where it is not installed (as on the Debian machines here). That is a load
  // failure (ENGINE_LOAD_FAILED), never a different output, so it is admitted.
  'StringNormalizer',
  'StringSplit',
  'Sub',
  'Sum',
  'Tan',
  'Tanh',
  'TensorScatter',
  'TfIdfVectorizer',
  'ThresholdedRelu',
  'Tile',
  'TopK',
  'Transpose',
  'Trilu',
  'Unique',
  'Unsqueeze',
  'Upsample',
  'Where',
  'Xor',
  // No kernel, but ORT handles them: Constant nodes become initializers at load, and these ONNX
  // functions are expanded into their (supported) function bodies. Each is checked to load in
  // supportedOnnxOperators.test.ts.
  'Constant',
  'CastLike',
  'CenterCropPad',
  'GroupNormalization',
  'HardSwish',
  'Mish',
  'NegativeLogLikelihoodLoss',
  'SoftmaxCrossEntropyLoss',
  'Swish',
]

// ai.onnx.ml: the traditional-ML operators (scikit-learn, XGBoost, … via skl2onnx/onnxmltools).
const aiOnnxMl = [
  'ArrayFeatureExtractor',
  'Binarizer',
  'CastMap',
  'CategoryMapper',
  'DictVectorizer',
  'FeatureVectorizer',
  'Imputer',
  'LabelEncoder',
  'LinearClassifier',
  'LinearRegressor',
  'Normalizer',
  'OneHotEncoder',
  'SVMClassifier',
  'SVMRegressor',
  'Scaler',
  'TreeEnsemble',
  'TreeEnsembleClassifier',
  'TreeEnsembleRegressor',
  'ZipMap',
]

// com.microsoft: only what onnxruntime's quantization tools write into model files and the CPU
// provider implements (QOperator format of quantize_static, quantize_dynamic's fused ops, the
// 4-bit weight quantizer). Each is checked to load in `supportedOnnxOperators.test.ts` except the
// transformer ones (QAttention, QEmbedLayerNormalization, DynamicQuantizeLSTM, MatMulNBits),
// which are listed in ORT's CPU kernel docs. ORT's other contrib ops (fused transformer kernels,
// beam search, …) are produced by ORT's own graph optimizer at levels Verity does not use, so they
// are not admitted in published models. (QLinearReduceMean has a schema but no CPU kernel.)
const comMicrosoft = [
  'DequantizeLinear',
  'DynamicQuantizeLSTM',
  'DynamicQuantizeMatMul',
  'MatMulInteger16',
  'MatMulIntegerToFloat',
  'MatMulNBits',
  'NhwcMaxPool',
  'QAttention',
  'QEmbedLayerNormalization',
  'QGemm',
  'QLinearAdd',
  'QLinearAveragePool',
  'QLinearConcat',
  'QLinearConv',
  'QLinearGlobalAveragePool',
  'QLinearLeakyRelu',
  'QLinearMul',
  'QLinearSigmoid',
  'QLinearSoftmax',
  'QLinearWhere',
  'QuantizeLinear',
]

/**
 * The ONNX operators Verity admits, as `domain:OpType` keys (see {@link onnxOperatorKey}):
 * onnxruntime's CPU execution provider operators for `ai.onnx` and `ai.onnx.ml`, and the
 * `com.microsoft` operators ORT's quantization tools emit, minus nondeterministic (random)
 * operators. The hub refuses models that use anything else. Opset versions are not checked here:
 * ORT itself refuses an unsupported version at load (`ENGINE_LOAD_FAILED`).
 *
 * @example
 * ```ts
 * supportedOnnxOperators.has('ai.onnx:Conv') // true
 * supportedOnnxOperators.has(onnxOperatorKey('com.microsoft', 'QLinearAdd')) // true
 * supportedOnnxOperators.has('ai.onnx:RandomNormal') // false
 * ```
 */
export const supportedOnnxOperators: ReadonlySet<string> = new Set([
  ...aiOnnx.map((op) => `ai.onnx:${op}`),
  ...aiOnnxMl.map((op) => `ai.onnx.ml:${op}`),
  ...comMicrosoft.map((op) => `com.microsoft:${op}`),
])

/**
 * The opset versions onnxruntime-node 1.30 accepts per operator domain (inclusive). ORT loads
 * nothing above `max`. Below 7, ai.onnx models "may run depending on legacy support" (ORT's
 * words): 98 of the 132 opset-6 ONNX backend conformance models load and match their expected
 * outputs, the others have no kernel for an old operator version and fail to load. So 6 is the
 * floor, and `verity model add` also trial-loads every model, refusing what ORT cannot load.
 *
 * @example
 * ```ts
 * const range = supportedOnnxOpsets['ai.onnx'] // { min: 6, max: 26 }
 * ```
 */
export const supportedOnnxOpsets: Readonly<Record<string, { min: number; max: number }>> = {
  'ai.onnx': { min: 6, max: 26 },
  'ai.onnx.ml': { min: 1, max: 5 },
  'com.microsoft': { min: 1, max: 1 },
}
