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
export {
  createModelNetwork,
  type DialOptions,
  type DialReturnType,
  defaultModelNetworkOptions,
  type FetchModelOptions,
  type FetchProgressEvent,
  loadOrCreatePeerKey,
  type ModelNetwork,
  type ModelNetworkComponents,
  type ModelNetworkLogger,
  type ModelNetworkOptions,
  modelNetworkLayout,
  type PeerPrivateKey,
  type ProvideOptions,
  resolveModelNetworkOptions,
} from './network/index.ts'
export { tensorFromTensorProto } from './tensorFromTensorProto.ts'
export { validateOnnx } from './validateOnnx.ts'
