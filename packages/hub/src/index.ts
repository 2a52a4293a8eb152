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
