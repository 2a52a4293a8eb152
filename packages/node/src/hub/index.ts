// Contract-callable inference: watching InferenceHub requests, drawing the executor, executing,
// gathering co-signatures over POST /v1/hub/verify and fulfilling on chain.
export * from './createHubService.ts'
export * from './hubExecutorOrder.ts'
export * from './hubMetrics.ts'
export * from './hubResult.ts'
export * from './options.ts'
export * from './parseHubVerifyBody.ts'
export * from './readActiveNodes.ts'
export * from './readHubRequest.ts'
export * from './requestHubSignature.ts'
