export {
  type CreateHeliaNodeParameters,
  createHeliaNode,
  type HeliaNode,
} from './createHeliaNode.ts'
export { createModelNetwork, resolveModelNetworkOptions } from './createModelNetwork.ts'
export { loadOrCreatePeerKey } from './loadOrCreatePeerKey.ts'
export type {
  DialOptions,
  DialReturnType,
  FetchModelOptions,
  FetchProgressEvent,
  ModelNetwork,
  ModelNetworkComponents,
  ModelNetworkLogger,
  ProvideOptions,
} from './modelNetwork.ts'
export {
  defaultModelNetworkOptions,
  type ModelNetworkOptions,
  modelNetworkLayout,
  type PeerPrivateKey,
  type ResolvedModelNetworkOptions,
} from './options.ts'
