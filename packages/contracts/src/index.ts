export * from './anvil.ts'
export * from './deploy.ts'
export * from './deployPoseidonT6.ts'
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
export * from './verifyReceiptOnChain.ts'
