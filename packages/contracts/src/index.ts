export * from './anvil.ts'
export * from './deploy.ts'
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
} from './generated/index.ts'
export * from './verifyReceiptOnChain.ts'
