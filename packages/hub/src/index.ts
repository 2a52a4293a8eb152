export { compareVersions } from './compareVersions.ts'
export { computeCid, kuboCidProfile, kuboImporterOptions } from './computeCid.ts'
export {
  type CreateManifestParameters,
  createManifest,
  defaultComparison,
  defaultFloatTolerance,
  defaultManifestLimits,
} from './createManifest.ts'
export {
  type AddModelParameters,
  type AddModelReturnType,
  createModelStore,
  type ModelStore,
  type ModelStoreOptions,
  type StoredModel,
} from './createModelStore.ts'
export {
  type CreateGgufManifestParameters,
  createGgufManifest,
  defaultGgufDecoding,
  defaultGgufLimits,
  describeGgmlType,
  type GgmlType,
  type GgufArray,
  type GgufDecoding,
  type GgufInfo,
  type GgufLimits,
  type GgufMetadataValue,
  type GgufScalar,
  type GgufTensorInfo,
  type GgufTensorSummary,
  type GgufTokenizerInfo,
  type GgufValueType,
  ggmlTypes,
  ggufArrayPreviewLength,
  ggufValueTypes,
  hasGgufMagic,
  inspectGguf,
  llamaCppEngineDescriptor,
  llamaCppEngineName,
  llamaCppEngineVersion,
  resolveGgufLimits,
  type ValidateGgufOptions,
  type ValidGgufInfo,
  validateGguf,
} from './gguf/index.ts'
export {
  defaultOnnxLimits,
  inspectOnnx,
  type OnnxExternalData,
  type OnnxInfo,
  type OnnxLimits,
  resolveOnnxLimits,
  sanitizeDimName,
} from './inspectOnnx.ts'
// IPFS distribution (Helia/libp2p) is the subpath export '@verity/hub/network': importing it
// costs seconds, so code that only needs CIDs, validation or the store does not pay for it.
export { tensorFromTensorProto } from './tensorFromTensorProto.ts'
export { validateOnnx } from './validateOnnx.ts'
