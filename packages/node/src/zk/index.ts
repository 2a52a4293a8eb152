// Zero-knowledge mode (`zk`): the executor's proving verification, the node's zk options and
// metrics, and the model store wrapper that gives manifests their zk section.
export * from './createSerialProver.ts'
export * from './createZkContributionService.ts'
export * from './createZkVerification.ts'
export * from './options.ts'
export * from './withZkManifests.ts'
export * from './zkMetrics.ts'
