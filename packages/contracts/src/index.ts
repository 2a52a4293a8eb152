export * from './anvil.ts'
export * from './deploy.ts'
export * from './deployPoseidonT6.ts'
export * from './deployZkVerifier.ts'
export * from './encodeZkFulfillment.ts'
export {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  inferenceHubBytecode,
  modelRegistryAbi,
  modelRegistryBytecode,
  nodeRegistryAbi,
  nodeRegistryBytecode,
  settlementAbi,
  settlementBytecode,
  zkModelVerifierAbi,
  zkModelVerifierBytecode,
} from './generated/index.ts'
export * from './measureZkVerifierGas.ts'
export * from './verifyReceiptOnChain.ts'
