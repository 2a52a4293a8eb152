export { createModelDistribution } from './createModelDistribution.ts'
export {
  type FindModelProvidersParameters,
  type FindModelProvidersReturnType,
  findModelProviders,
  type ModelProvider,
  type PeerOutcome,
} from './findModelProviders.ts'
export { isModelCid } from './isModelCid.ts'
export {
  createModelDistributionMetrics,
  type ModelDistributionMetrics,
  type ModelFetchStatus,
} from './metrics.ts'
export type {
  DistributionPeer,
  FetchModelParameters,
  ModelDistribution,
  ModelDistributionComponents,
  ModelFetcher,
  ModelFetchProgressEvent,
} from './modelDistribution.ts'
export {
  defaultModelDistributionOptions,
  type ModelDistributionOptions,
  modelDistributionPaths,
  type ResolvedModelDistributionOptions,
  resolveModelDistributionOptions,
} from './options.ts'
export {
  type RequestPeerJsonParameters,
  type RequestPeerJsonReturnType,
  requestPeerJson,
} from './requestPeerJson.ts'
export {
  multiaddrPeerId,
  type SelectDialAddressesReturnType,
  selectDialAddresses,
} from './selectDialAddresses.ts'
