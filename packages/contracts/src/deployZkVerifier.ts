import { BaseError } from '@verity/protocol'
import solc from 'solc'
import {
  type Abi,
  type Account,
  type Address,
  type Chain,
  ContractFunctionRevertedError,
  getAddress,
  type Hex,
  type PublicClient,
  type Transport,
  BaseError as ViemBaseError,
  type WalletClient,
} from 'viem'
import { compilerSettings } from './compile.ts'
import { type DeployPoseidonT6ReturnType, deployPoseidonT6 } from './deployPoseidonT6.ts'
import { modelRegistryAbi, zkModelVerifierAbi, zkModelVerifierBytecode } from './generated/index.ts'

/** BN254 scalar field order: the model commitment is a public signal, so it must be below it. */
const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n

/**
 * Source unit name the generated verifier is compiled under. Fixed, so the metadata hash (and the
 * bytecode) depends only on the source text.
 */
const sourceName = 'zk/Groth16Verifier.sol'
const contractName = 'Groth16Verifier'

/**
 * A compiled snarkjs `Groth16Verifier`: its ABI and creation bytecode.
 *
 * @example
 * ```ts
 * const { abi, bytecode }: CompiledGroth16Verifier = compileGroth16Verifier(artifacts.solidityVerifier)
 * ```
 */
export type CompiledGroth16Verifier = {
  abi: Abi
  bytecode: Hex
  /** Number of public signals its `verifyProof` takes (`uint256[N]`, the last argument). */
  publicSignals: number
}

type SolcOutput = {
  errors?: { severity: string; formattedMessage?: string; message: string }[]
  contracts?: Record<string, Record<string, { abi: Abi; evm: { bytecode: { object: string } } }>>
}

/**
 * Compiles the Solidity source of a circuit's generated Groth16 verifier (snarkjs's template,
 * contract `Groth16Verifier`, GPL-3.0: produced at run time by `@verity/zk`'s
 * `exportSolidityVerifier` and never committed) with the bundled solc-js and the package's pinned
 * {@link compilerSettings}. Deterministic: the same source gives the same bytecode (solc-js takes
 * about half a second).
 *
 * @throws BaseError `INVALID_ARGUMENT` when the source does not compile, has no `Groth16Verifier`
 * or its `verifyProof` is not `(uint256[2], uint256[2][2], uint256[2], uint256[N])`.
 *
 * @example
 * ```ts
 * const { abi, bytecode, publicSignals } = compileGroth16Verifier(artifacts.solidityVerifier)
 * publicSignals // 12 for a circuit with 10 outputs
 * ```
 */
export function compileGroth16Verifier(source: string): CompiledGroth16Verifier {
  if (typeof source !== 'string' || !source.includes(`contract ${contractName}`))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The Solidity source has no "contract ${contractName}".`,
      {
        metaMessages: [
          "Pass the source exportSolidityVerifier (@verity/zk) generated for the model's key.",
        ],
      },
    )
  const input = {
    language: 'Solidity',
    sources: { [sourceName]: { content: source } },
    settings: {
      ...compilerSettings,
      outputSelection: { [sourceName]: { [contractName]: ['abi', 'evm.bytecode.object'] } },
    },
  }
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (path: string) => ({
        error: `The generated verifier imports nothing; got "${path}".`,
      }),
    }),
  ) as SolcOutput
  const errors = (output.errors ?? [])
    .filter((e) => e.severity === 'error')
    .map((e) => (e.formattedMessage ?? e.message).trim())
  const contract = output.contracts?.[sourceName]?.[contractName]
  if (errors.length > 0 || contract === undefined)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The generated Groth16 verifier does not compile (${errors.length} error(s)).`,
      {
        metaMessages: ['Regenerate it with exportSolidityVerifier from the verification key.'],
        details: errors.join('\n\n') || `solc produced no ${contractName}.`,
      },
    )
  const verify = contract.abi.find(
    (item) => item.type === 'function' && item.name === 'verifyProof',
  ) as { inputs?: readonly { type: string }[] } | undefined
  const types = verify?.inputs?.map((parameter) => parameter.type) ?? []
  const signals = /^uint256\[([1-9][0-9]*)\]$/.exec(types[3] ?? '')
  if (
    types.length !== 4 ||
    types[0] !== 'uint256[2]' ||
    types[1] !== 'uint256[2][2]' ||
    types[2] !== 'uint256[2]' ||
    signals === null
  )
    throw new BaseError(
      'INVALID_ARGUMENT',
      `${contractName}.verifyProof takes (${types.join(', ')}); expected (uint256[2], uint256[2][2], uint256[2], uint256[N]).`,
      { metaMessages: ["Pass snarkjs's Groth16 verifier (exportSolidityVerifier)."] },
    )
  return {
    abi: contract.abi,
    bytecode: `0x${contract.evm.bytecode.object}`,
    publicSignals: Number(signals[1]),
  }
}

/**
 * What {@link deployZkVerifier} takes: the clients (the wallet pays), the generated verifier's
 * source and the circuit's public facts (from the model manifest's `zk` section).
 *
 * @example
 * ```ts
 * const parameters: DeployZkVerifierParameters = {
 *   publicClient, walletClient, solidityVerifier: artifacts.solidityVerifier,
 *   modelCommitment: BigInt(manifestZk.modelCommitment), inputLength: 784, outputCount: 10,
 * }
 * ```
 */
export type DeployZkVerifierParameters = {
  publicClient: PublicClient<Transport, Chain>
  walletClient: WalletClient<Transport, Chain, Account>
  /** Solidity source of the circuit's `Groth16Verifier` (`exportSolidityVerifier`). */
  solidityVerifier: string
  /** The circuit's model commitment (`manifest.zk.modelCommitment`), a BN254 field element. */
  modelCommitment: bigint
  /** Byte length of the input tensor (product of `manifest.zk.input.shape`). */
  inputLength: number | bigint
  /** Number of integer outputs (product of `manifest.zk.output.shape`). */
  outputCount: number | bigint
}

/**
 * What {@link deployZkVerifier} deployed: the adapter to register as the model's `zkVerifier`,
 * the Groth16 verifier it calls, and the gas of each deployment.
 *
 * @example
 * ```ts
 * const { adapter, gasUsed }: DeployZkVerifierReturnType = await deployZkVerifier(parameters)
 * ```
 */
export type DeployZkVerifierReturnType = {
  /** The `ZkModelVerifier` (IZkVerifier) of the circuit. */
  adapter: Address
  /** The circuit's generated `Groth16Verifier`. */
  groth16Verifier: Address
  /** PoseidonT6 (deployed by this call when it was missing). */
  poseidonT6: DeployPoseidonT6ReturnType
  gasUsed: { groth16Verifier: bigint; adapter: bigint }
}

function positive(name: string, value: number | bigint): bigint {
  const ok = typeof value === 'bigint' ? value > 0n : Number.isSafeInteger(value) && value > 0
  if (!ok)
    throw new BaseError('INVALID_ARGUMENT', `${name} must be a positive integer; got ${value}.`, {
      metaMessages: ['Take it from the model manifest (product of the zk input/output shape).'],
    })
  return BigInt(value)
}

async function mined(
  publicClient: PublicClient<Transport, Chain>,
  what: string,
  send: () => Promise<Hex>,
): Promise<{ hash: Hex; gasUsed: bigint; contractAddress: Address | undefined }> {
  let hash: Hex
  try {
    hash = await send()
  } catch (cause) {
    throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what} failed.`, {
      metaMessages: revertHints(cause),
      details: (cause as Error)?.message?.split('\n')[0],
      cause,
    })
  }
  const receipt = await publicClient.waitForTransactionReceipt({ hash })
  if (receipt.status !== 'success')
    throw new BaseError('CHAIN_TRANSACTION_FAILED', `${what}: transaction ${hash} reverted.`, {
      metaMessages: ['Check the wallet balance and the parameters.'],
    })
  return {
    hash,
    gasUsed: receipt.gasUsed,
    contractAddress: receipt.contractAddress ? getAddress(receipt.contractAddress) : undefined,
  }
}

function revertHints(cause: unknown): string[] {
  const reverted =
    cause instanceof ViemBaseError
      ? cause.walk((e) => e instanceof ContractFunctionRevertedError)
      : null
  const name =
    reverted instanceof ContractFunctionRevertedError ? reverted.data?.errorName : undefined
  if (name === 'NotCreator') return ['Only the model creator may set its zk verifier.']
  if (name === 'UnknownModel') return ['No model has this id in ModelRegistry.']
  if (name !== undefined) return [`The contract reverted with ${name}.`]
  return ['Check the wallet balance and the parameters.']
}

/**
 * Puts a model's zero-knowledge verifier on chain: PoseidonT6 at its deterministic address (only
 * when missing, see `deployPoseidonT6`), the circuit's generated `Groth16Verifier` (compiled here
 * with {@link compileGroth16Verifier}) and a `ZkModelVerifier` adapter bound to it, the model
 * commitment and the input/output sizes. Register the adapter with {@link registerZkVerifier}.
 * The source is passed in (this package never depends on `@verity/zk`, which is GPL-3.0).
 *
 * @throws BaseError `INVALID_ARGUMENT` (a source that does not compile, a verifier for another
 * number of public signals than `outputCount + 2`, a commitment outside the field, sizes ≤ 0) and
 * `CHAIN_TRANSACTION_FAILED`.
 *
 * @example
 * ```ts
 * const { adapter, groth16Verifier, gasUsed } = await deployZkVerifier({
 *   publicClient, walletClient,
 *   solidityVerifier: artifacts.solidityVerifier,
 *   modelCommitment: BigInt(artifacts.manifestZk.modelCommitment),
 *   inputLength: 784,
 *   outputCount: 10,
 * })
 * ```
 */
export async function deployZkVerifier(
  parameters: DeployZkVerifierParameters,
): Promise<DeployZkVerifierReturnType> {
  const { publicClient, walletClient, modelCommitment } = parameters
  const inputLength = positive('inputLength', parameters.inputLength)
  const outputCount = positive('outputCount', parameters.outputCount)
  if (typeof modelCommitment !== 'bigint' || modelCommitment < 0n || modelCommitment >= FIELD_ORDER)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The model commitment ${String(modelCommitment)} is not a BN254 field element.`,
      { metaMessages: ['Pass BigInt(manifest.zk.modelCommitment).'] },
    )
  const verifier = compileGroth16Verifier(parameters.solidityVerifier)
  if (BigInt(verifier.publicSignals) !== outputCount + 2n)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `The Groth16 verifier takes ${verifier.publicSignals} public signals; a circuit with ${outputCount} outputs has ${outputCount + 2n}.`,
      { metaMessages: ["Pass the verifier generated from this model's verification key."] },
    )

  const poseidonT6 = await deployPoseidonT6({ publicClient, walletClient })
  const groth16 = await mined(publicClient, 'Deploying the Groth16Verifier', () =>
    walletClient.deployContract({ abi: verifier.abi, bytecode: verifier.bytecode, args: [] }),
  )
  if (groth16.contractAddress === undefined)
    throw new BaseError(
      'CHAIN_TRANSACTION_FAILED',
      'Deploying the Groth16Verifier created no contract.',
    )
  const groth16Verifier = groth16.contractAddress
  const adapter = await mined(publicClient, 'Deploying the ZkModelVerifier', () =>
    walletClient.deployContract({
      abi: zkModelVerifierAbi,
      bytecode: zkModelVerifierBytecode,
      args: [groth16Verifier, modelCommitment, inputLength, outputCount],
    }),
  )
  if (adapter.contractAddress === undefined)
    throw new BaseError(
      'CHAIN_TRANSACTION_FAILED',
      'Deploying the ZkModelVerifier created no contract.',
    )
  return {
    adapter: adapter.contractAddress,
    groth16Verifier,
    poseidonT6,
    gasUsed: { groth16Verifier: groth16.gasUsed, adapter: adapter.gasUsed },
  }
}

/**
 * What {@link registerZkVerifier} takes. The wallet must be the model's creator.
 *
 * @example
 * ```ts
 * const parameters: RegisterZkVerifierParameters = { publicClient, walletClient: creator, modelRegistry, modelId: 1n, adapter }
 * ```
 */
export type RegisterZkVerifierParameters = {
  publicClient: PublicClient<Transport, Chain>
  /** The model's creator (only it may set the verifier). */
  walletClient: WalletClient<Transport, Chain, Account>
  /** The `ModelRegistry` address (`config.contracts.modelRegistry`). */
  modelRegistry: Address
  modelId: bigint
  /** The `ZkModelVerifier` from {@link deployZkVerifier}. */
  adapter: Address
}

/**
 * Registers a deployed zk verifier as a model's `zkVerifier` in `ModelRegistry`
 * (`setZkVerifier`), which makes mode 2 (zk) requestable through InferenceHub. Requests snapshot
 * the verifier when they are made, so a later change does not affect open requests.
 *
 * @throws BaseError `INVALID_ARGUMENT` when `adapter` has no code; `CHAIN_TRANSACTION_FAILED`
 * when the registry refuses (`NotCreator`, `UnknownModel`: named in the error's hints).
 *
 * @example
 * ```ts
 * const { gasUsed } = await registerZkVerifier({
 *   publicClient, walletClient: creator, modelRegistry: config.contracts.modelRegistry, modelId, adapter,
 * })
 * ```
 */
export async function registerZkVerifier(
  parameters: RegisterZkVerifierParameters,
): Promise<{ transactionHash: Hex; gasUsed: bigint }> {
  const { publicClient, walletClient, modelRegistry, modelId, adapter } = parameters
  const code = await publicClient.getCode({ address: adapter })
  if (code === undefined || code === '0x')
    throw new BaseError('INVALID_ARGUMENT', `The zk verifier ${adapter} has no code.`, {
      metaMessages: ['Deploy it first (deployZkVerifier) and pass its `adapter` address.'],
    })
  const { hash, gasUsed } = await mined(
    publicClient,
    `Registering zk verifier ${adapter} for model ${modelId}`,
    async () => {
      const { request } = await publicClient.simulateContract({
        account: walletClient.account,
        address: modelRegistry,
        abi: modelRegistryAbi,
        functionName: 'setZkVerifier',
        args: [modelId, adapter],
      })
      return walletClient.writeContract(request)
    },
  )
  return { transactionHash: hash, gasUsed }
}
