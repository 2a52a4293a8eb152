export {
  type CreateGgufManifestParameters,
  createGgufManifest,
  defaultGgufDecoding,
  type GgufDecoding,
  llamaCppEngineDescriptor,
  llamaCppEngineName,
  llamaCppEngineVersion,
} from './createGgufManifest.ts'
export { describeGgmlType, type GgmlType, ggmlTypes } from './ggmlTypes.ts'
export {
  type GgufInfo,
  type GgufTensorSummary,
  type GgufTokenizerInfo,
  inspectGguf,
  resolveGgufLimits,
} from './inspectGguf.ts'
export {
  defaultGgufLimits,
  type GgufArray,
  type GgufLimits,
  type GgufMetadataValue,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufValueType,
  ggufArrayPreviewLength,
  ggufValueTypes,
  hasGgufMagic,
} from './parseGgufHeader.ts'
export { type ValidateGgufOptions, type ValidGgufInfo, validateGguf } from './validateGguf.ts'
