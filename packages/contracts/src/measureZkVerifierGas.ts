import { BaseError } from '@verity/protocol'
import {
  type Account,
  type Address,
  type Chain,
  encodeFunctionData,
  type Hex,
  hexToBytes,
  keccak256,
  type PublicClient,
  type Transport,
  toHex,
  type WalletClient,
} from 'viem'
import { encodeZkFulfillment } from './encodeZkFulfillment.ts'
import { zkModelVerifierAbi } from './generated/index.ts'

/** Gas of one measured call: the transaction's, and that minus its intrinsic cost. */
export type MeasuredGas = {
  /** `gasUsed` of the transaction receipt (21 000 and calldata included). */
  gasUsed: bigint
  /** `gasUsed` minus 21 000 and the calldata cost (4 per zero byte, 16 per other byte). */
  execution: bigint
}

/**
 * What {@link measureZkVerifierGas} takes: a deployed verifier pair (`deployZkVerifier`) and a
 * valid proof with the input and outputs it proves.
 *
 * @example
 * ```ts
 * const parameters: MeasureZkVerifierGasParameters = { publicClient, walletClient, ...deployed, groth16Proof, input, outputs }
 * ```
 */
export type MeasureZkVerifierGasParameters = {
  publicClient: PublicClient<Transport, Chain>
  /** Pays for the two measuring transactions. */
  walletClient: WalletClient<Transport, Chain, Account>
  groth16Verifier: Address
  adapter: Address
  /** `encodeGroth16Proof` of the proof (256 bytes, the generated verifier's order). */
  groth16Proof: Hex
  input: Uint8Array
  outputs: Int32Array | readonly (number | bigint)[]
}

/** BN254 scalar field order. */
const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n
/** The limit both measuring transactions get: set, never estimated (see below). */
const GAS_LIMIT = 10_000_000n

function intrinsicGas(data: Hex): bigint {
  let gas = 21_000n
  for (const byte of hexToBytes(data)) gas += byte === 0 ? 4n : 16n
  return gas
}

/**
 * Measures the on-chain cost of checking a model's proof, in real transactions: the generated
 * Groth16 verifier alone (`verifyProof(a, b, c, signals)`, signals rebuilt from the outputs and
 * the adapter's input and model commitments), and the `ZkModelVerifier` adapter (ABI decoding,
 * hashes, the Poseidon input commitment, then the verifier). Each call must answer `true`,
 * checked by an `eth_call` with the same gas limit.
 *
 * The gas limit is fixed rather than estimated: a Groth16 verifier that runs out of gas in the
 * pairing precompile answers `false` instead of reverting, so `eth_estimateGas` would settle on
 * that cheaper, failing path. (`InferenceHub.fulfillWithProof` reverts on `false`, so estimating
 * its gas is sound.) Measurement only: it spends gas and belongs on a dev chain.
 *
 * @throws BaseError `ZK_PROOF_INVALID` when either contract does not accept the proof;
 * `CHAIN_TRANSACTION_FAILED` when a transaction fails.
 *
 * @example
 * ```ts
 * const gas = await measureZkVerifierGas({
 *   publicClient, walletClient, ...deployed,
 *   groth16Proof: encodeGroth16Proof(zk.proof), input: image, outputs,
 * })
 * gas.groth16Verifier.gasUsed // ≈ 290k for 12 public signals
 * ```
 */
export async function measureZkVerifierGas(
  parameters: MeasureZkVerifierGasParameters,
): Promise<{ groth16Verifier: MeasuredGas; adapter: MeasuredGas }> {
  const { publicClient, walletClient, groth16Verifier, adapter, groth16Proof, input } = parameters
  const { proof, outputHash } = encodeZkFulfillment(parameters)
  const outputs = Array.from(parameters.outputs as ArrayLike<number | bigint>, BigInt)
  const [inputCommitment, modelCommitment] = await Promise.all([
    publicClient.readContract({
      address: adapter,
      abi: zkModelVerifierAbi,
      functionName: 'inputCommitment',
      args: [toHex(input)],
    }),
    publicClient.readContract({
      address: adapter,
      abi: zkModelVerifierAbi,
      functionName: 'MODEL_COMMITMENT',
    }),
  ])
  // the public signals the adapter hands the verifier: [outputs…, inputCommitment, modelCommitment]
  const signals = [
    ...outputs.map((v) => (v < 0n ? FIELD_ORDER + v : v)),
    inputCommitment,
    modelCommitment,
  ]
  const verifierAbi = [
    {
      type: 'function',
      name: 'verifyProof',
      stateMutability: 'view',
      inputs: [
        { name: 'a', type: 'uint256[2]' },
        { name: 'b', type: 'uint256[2][2]' },
        { name: 'c', type: 'uint256[2]' },
        { name: 'signals', type: `uint256[${signals.length}]` },
      ],
      outputs: [{ name: '', type: 'bool' }],
    },
  ] as const
  const words = hexToBytes(groth16Proof)
  const word = (index: number) => BigInt(toHex(words.subarray(index * 32, index * 32 + 32)))
  const verifierCall = encodeFunctionData({
    abi: verifierAbi,
    functionName: 'verifyProof',
    args: [
      [word(0), word(1)],
      [
        [word(2), word(3)],
        [word(4), word(5)],
      ],
      [word(6), word(7)],
      signals,
    ] as never,
  })
  const adapterCall = encodeFunctionData({
    abi: zkModelVerifierAbi,
    functionName: 'verifyProof',
    args: [proof, keccak256(input), outputHash],
  })

  const measure = async (what: string, to: Address, data: Hex): Promise<MeasuredGas> => {
    const { data: answer } = await publicClient.call({
      account: walletClient.account,
      to,
      data,
      gas: GAS_LIMIT,
    })
    if (answer === undefined || BigInt(answer) !== 1n)
      throw new BaseError('ZK_PROOF_INVALID', `The ${what} at ${to} does not accept the proof.`, {
        metaMessages: ['Measure with a proof that verifies, against the verifier of its model.'],
      })
    const hash = await walletClient.sendTransaction({ to, data, gas: GAS_LIMIT })
    const receipt = await publicClient.waitForTransactionReceipt({ hash })
    if (receipt.status !== 'success')
      throw new BaseError('CHAIN_TRANSACTION_FAILED', `Calling the ${what} in ${hash} failed.`)
    return { gasUsed: receipt.gasUsed, execution: receipt.gasUsed - intrinsicGas(data) }
  }
  return {
    groth16Verifier: await measure('Groth16 verifier', groth16Verifier, verifierCall),
    adapter: await measure('ZkModelVerifier', adapter, adapterCall),
  }
}
