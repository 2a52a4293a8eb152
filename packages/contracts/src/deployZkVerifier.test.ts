import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, afterEach, before, beforeEach, describe, test } from 'node:test'
import { buildDemoModels, type DemoModels } from '@verity/models'
import {
  computeInputCommitment,
  type ErrorCode,
  isBaseError,
  verifyGroth16,
} from '@verity/protocol'
import {
  createGroth16Prover,
  createZkArtifactStore,
  encodeGroth16Proof,
  loadPowersOfTau,
  type ProveZkInferenceReturnType,
  proveZkInference,
  setupZkModel,
  type ZkModelArtifacts,
} from '@verity/zk'
import {
  type Address,
  decodeAbiParameters,
  encodeFunctionData,
  getAddress,
  getContract,
  type Hex,
  hexToBytes,
  keccak256,
  parseEther,
  parseEventLogs,
  stringToBytes,
  toHex,
  zeroAddress,
} from 'viem'
import { deployVerity, type NetworkConfig } from './deploy.ts'
import { poseidonT6Address } from './deployPoseidonT6.ts'
import {
  compileGroth16Verifier,
  type DeployZkVerifierReturnType,
  deployZkVerifier,
  registerZkVerifier,
} from './deployZkVerifier.ts'
import { encodeZkFulfillment } from './encodeZkFulfillment.ts'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  modelRegistryAbi,
  nodeRegistryAbi,
  zkModelVerifierAbi,
} from './generated/index.ts'
import { measureZkVerifierGas } from './measureZkVerifierGas.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

// The demo int8 MLP (784 uint8 pixels → 10 int32 logits) set up for zk once for this file, its
// generated Groth16 verifier deployed behind a ZkModelVerifier, and real proofs checked on chain.
// Accounts: 0 deployer, 1 model creator, 2 executor node, 3 consumer owner, 4 a stranger.

const PTAU14 = '/work/shared/assets/zk/pot14_final.ptau'
/** BN254 scalar field order. */
const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n
const PRICE = parseEther('0.001')
const CALLBACK_GAS = 500_000

let chain: TestChain
let config: NetworkConfig
let demo: DemoModels
let artifacts: ZkModelArtifacts
let deployed: DeployZkVerifierReturnType
let proven: ProveZkInferenceReturnType
let image: Uint8Array
let modelId: bigint
let consumer: Address
let snapshot: Hex
let storeDir = ''

const clients = () => [chain.publicClient, chain.walletClients] as const

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

/** The proof as the generated verifier takes it: a, b, c (b's coordinates swapped by the encoder). */
function groth16Words(proof: Hex) {
  return decodeAbiParameters(
    [{ type: 'uint256[2]' }, { type: 'uint256[2][2]' }, { type: 'uint256[2]' }],
    proof,
  )
}

function adapterRead(address: Address = deployed.adapter) {
  return getContract({ address, abi: zkModelVerifierAbi, client: chain.publicClient })
}

async function adapterAccepts(
  input: Uint8Array,
  outputs: readonly bigint[],
  groth16Proof: Hex,
  address: Address = deployed.adapter,
): Promise<boolean> {
  const { proof, outputHash } = encodeZkFulfillment({ groth16Proof, input, outputs })
  return adapterRead(address).read.verifyProof([proof, keccak256(input), outputHash])
}

/** The consumer asks for model `modelId` in mode 2 on `input`; returns the request id. */
async function ask(input: Uint8Array): Promise<bigint> {
  const receipt = await mined(
    await chain.walletClients[3]!.writeContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'ask',
      args: [modelId, toHex(input), 2, 0, CALLBACK_GAS],
      value: PRICE,
    }),
  )
  const [requested] = parseEventLogs({
    abi: inferenceHubAbi,
    logs: receipt.logs,
    eventName: 'InferenceRequested',
  })
  assert.ok(requested)
  assert.equal(requested.args.mode, 2)
  return requested.args.requestId
}

const hubAs = (index: number) =>
  getContract({
    address: config.contracts.inferenceHub,
    abi: inferenceHubAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[index]! },
  })

describe('deployZkVerifier', { skip: existsSync(PTAU14) ? false : `${PTAU14} absent` }, () => {
  before(async () => {
    storeDir = await mkdtemp(join(tmpdir(), 'verity-zk-verifier-'))
    chain = await createTestChain()
    config = await deployVerity({
      rpcUrl: chain.anvil.rpcUrl,
      account: chain.accounts[0]!,
      pollingInterval: 20,
    })
    demo = await buildDemoModels({ trainCount: 2000, testCount: 200, epochs: 3 })
    artifacts = await setupZkModel({
      onnx: demo.int8Model,
      name: 'digits-mlp-int8',
      ptau: await loadPowersOfTau(PTAU14),
      contributors: [{ name: 'a' }, { name: 'b' }],
      beacon: { hash: `0x${'5a'.repeat(32)}`, iterationsExp: 10 },
    })
    const store = createZkArtifactStore({ dir: storeDir })
    await store.put(artifacts)
    const sample = demo.samples[0]!
    image = sample.image
    proven = await proveZkInference({
      prover: createGroth16Prover(),
      artifacts: await store.load(artifacts.manifestZk),
      input: image,
      expected: Int32Array.from(sample.int8Logits),
    })

    const [publicClient, wallets] = clients()
    deployed = await deployZkVerifier({
      publicClient,
      walletClient: wallets[0]!,
      solidityVerifier: artifacts.solidityVerifier,
      modelCommitment: BigInt(artifacts.manifestZk.modelCommitment),
      inputLength: 784,
      outputCount: 10,
    })
    await mined(
      await wallets[1]!.writeContract({
        address: config.contracts.modelRegistry,
        abi: modelRegistryAbi,
        functionName: 'registerModel',
        args: ['digits-zk', 'bafy-digits-zk', keccak256(stringToBytes('m')), 0, PRICE, zeroAddress],
      }),
    )
    modelId = 1n
    await mined(
      await wallets[2]!.writeContract({
        address: config.contracts.nodeRegistry,
        abi: nodeRegistryAbi,
        functionName: 'register',
        args: ['http://127.0.0.1:1', '', 2],
        value: config.parameters.minStake,
      }),
    )
    consumer = getAddress(
      await chain.deploy(
        exampleConsumerAbi,
        exampleConsumerBytecode,
        [config.contracts.inferenceHub],
        chain.accounts[3]!,
      ),
    )
  })
  after(async () => {
    await chain?.close()
    await rm(storeDir, { recursive: true, force: true })
  })
  beforeEach(async () => {
    snapshot = await chain.snapshot()
  })
  afterEach(async () => {
    await chain.revert(snapshot)
  })

  test('default: the deployed adapter accepts a real proof of the demo MLP (gas measured)', async (t) => {
    const { manifestZk } = artifacts
    const adapter = adapterRead()
    assert.equal(await adapter.read.GROTH16_VERIFIER(), deployed.groth16Verifier)
    assert.equal(await adapter.read.MODEL_COMMITMENT(), BigInt(manifestZk.modelCommitment))
    assert.equal(await adapter.read.INPUT_LENGTH(), 784n)
    assert.equal(await adapter.read.OUTPUT_COUNT(), 10n)
    assert.equal(deployed.poseidonT6.address, poseidonT6Address)
    assert.equal(deployed.poseidonT6.deployedPoseidon, true)
    // the on-chain input commitment is the proof's (and protocol's)
    assert.equal(
      await adapter.read.inputCommitment([toHex(image)]),
      BigInt(proven.zk.publicSignals[10]!),
    )
    assert.equal(computeInputCommitment(image).toString(), proven.zk.publicSignals[10])
    // the same proof also verifies offline
    assert.equal(
      verifyGroth16({
        verificationKey: proven.zk.verificationKey,
        publicSignals: proven.zk.publicSignals,
        proof: proven.zk.proof,
      }),
      true,
    )

    const groth16Proof = encodeGroth16Proof(proven.zk.proof)
    const outputs = Array.from(proven.outputs, BigInt)
    assert.ok(
      outputs.some((v) => v < 0n),
      'the sample has negative logits (p − |v| signals)',
    )
    assert.equal(await adapterAccepts(image, outputs, groth16Proof), true)

    // the generated verifier alone accepts it with the prover's own public signals
    const [pA, pB, pC] = groth16Words(groth16Proof)
    const signals = proven.zk.publicSignals.map(BigInt)
    const { abi } = compileGroth16Verifier(artifacts.solidityVerifier)
    const verifierCall = encodeFunctionData({
      abi,
      functionName: 'verifyProof',
      args: [pA, pB, pC, signals],
    })
    const accepted = await chain.publicClient.call({
      to: deployed.groth16Verifier,
      data: verifierCall,
    })
    assert.equal(BigInt(accepted.data ?? '0x0'), 1n)
    // gas: the generated verifier alone, the adapter (Poseidon commitment + verifier)
    const [publicClient, wallets] = clients()
    const gas = await measureZkVerifierGas({
      publicClient,
      walletClient: wallets[0]!,
      ...deployed,
      groth16Proof,
      input: image,
      outputs,
    })
    t.diagnostic(
      `Groth16Verifier.verifyProof (12 public signals): ${gas.groth16Verifier.gasUsed} gas in a transaction, ${gas.groth16Verifier.execution} execution`,
    )
    t.diagnostic(
      `ZkModelVerifier.verifyProof (784-byte input, 10 outputs, real proof): ${gas.adapter.gasUsed} gas in a transaction, ${gas.adapter.execution} execution`,
    )
    t.diagnostic(
      `deployment: Groth16Verifier ${deployed.gasUsed.groth16Verifier} gas, ZkModelVerifier ${deployed.gasUsed.adapter} gas`,
    )
    // the pairing alone costs 45 000 + 4 × 34 000; the adapter adds the Poseidon commitment of
    // 784 bytes (≈ 525k)
    assert.ok(gas.groth16Verifier.execution > 181_000n && gas.groth16Verifier.execution < 300_000n)
    assert.ok(gas.adapter.execution > gas.groth16Verifier.execution + 450_000n)
  })

  test('behavior: registered for its model, a mode-2 request is fulfilled with the proof and the consumer gets the logits', async (t) => {
    const [publicClient, wallets] = clients()
    await expectRevert(
      hubAs(3).write.request([modelId, toHex(image), 2, 0, 0], { value: PRICE }),
      'NoZkVerifier',
      [modelId],
    )
    const registered = await registerZkVerifier({
      publicClient,
      walletClient: wallets[1]!,
      modelRegistry: config.contracts.modelRegistry,
      modelId,
      adapter: deployed.adapter,
    })
    assert.ok(registered.gasUsed > 0n)
    const model = await publicClient.readContract({
      address: config.contracts.modelRegistry,
      abi: modelRegistryAbi,
      functionName: 'getModel',
      args: [modelId],
    })
    assert.equal(model.zkVerifier, deployed.adapter)

    const requestId = await ask(image)
    const { output, proof, outputHash } = encodeZkFulfillment({
      groth16Proof: encodeGroth16Proof(proven.zk.proof),
      input: image,
      outputs: proven.outputs,
    })
    const receipt = await mined(await hubAs(2).write.fulfillWithProof([requestId, output, proof]))
    const [fulfilled] = parseEventLogs({
      abi: inferenceHubAbi,
      logs: receipt.logs,
      eventName: 'InferenceFulfilled',
    })
    assert.equal(fulfilled?.args.requestId, requestId)
    assert.equal(fulfilled?.args.outputHash, outputHash)
    assert.equal(fulfilled?.args.executor, chain.accounts[2]!.address)
    const stored = await publicClient.readContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'resultOf',
      args: [requestId],
    })
    const [logits] = decodeAbiParameters([{ type: 'int256[]' }], stored)
    assert.deepEqual(logits, Array.from(demo.samples[0]!.int8Logits, BigInt))
    t.diagnostic(
      `InferenceHub.fulfillWithProof (784-byte input, 10 outputs, real proof, callback): ${receipt.gasUsed} gas`,
    )
  })

  test('error: a changed input byte, output, model commitment or proof word is rejected on chain', async () => {
    const groth16Proof = encodeGroth16Proof(proven.zk.proof)
    const outputs = Array.from(proven.outputs, BigInt)
    // each change comes with hashes that match it, so it reaches the Groth16 check
    for (const index of [0, 400, 783]) {
      const changed = Uint8Array.from(image)
      changed[index] = (changed[index]! + 1) % 256
      assert.equal(await adapterAccepts(changed, outputs, groth16Proof), false, `input[${index}]`)
    }
    for (const index of [0, 9]) {
      const changed = [...outputs]
      changed[index] = changed[index]! + 1n
      assert.equal(await adapterAccepts(image, changed, groth16Proof), false, `output[${index}]`)
    }
    // a negative logit given as its field element p − |v| is another int256: rejected too
    const negative = outputs.findIndex((v) => v < 0n)
    const aliased = [...outputs]
    aliased[negative] = P + aliased[negative]!
    assert.equal(await adapterAccepts(image, aliased, groth16Proof), false, 'p − |v| alias')
    // every word of the proof
    const words = hexToBytes(groth16Proof)
    for (let word = 0; word < 8; word++) {
      const changed = Uint8Array.from(words)
      changed[word * 32 + 31] = changed[word * 32 + 31]! ^ 1
      assert.equal(
        await adapterAccepts(image, outputs, toHex(changed)),
        false,
        `proof word ${word}`,
      )
    }
    // the same verifier behind an adapter that claims another model
    const [publicClient, wallets] = clients()
    const other = await deployZkVerifier({
      publicClient,
      walletClient: wallets[0]!,
      solidityVerifier: artifacts.solidityVerifier,
      modelCommitment: BigInt(artifacts.manifestZk.modelCommitment) + 1n,
      inputLength: 784,
      outputCount: 10,
    })
    assert.equal(other.poseidonT6.deployedPoseidon, false)
    assert.equal(await adapterAccepts(image, outputs, groth16Proof, other.adapter), false)
    assert.equal(await adapterAccepts(image, outputs, groth16Proof), true)
    // gas is only measured for proofs that verify
    await assert.rejects(
      measureZkVerifierGas({
        publicClient,
        walletClient: wallets[0]!,
        ...other,
        groth16Proof,
        input: image,
        outputs,
      }),
      (error: unknown) =>
        isBaseError(error, 'ZK_PROOF_INVALID') &&
        /Groth16 verifier .* does not accept/.test(error.message),
    )

    // through the hub: a changed output is an InvalidProof revert, the request stays open
    await registerZkVerifier({
      publicClient,
      walletClient: wallets[1]!,
      modelRegistry: config.contracts.modelRegistry,
      modelId,
      adapter: deployed.adapter,
    })
    const requestId = await ask(image)
    const changed = [...outputs]
    changed[3] = changed[3]! - 1n
    const forged = encodeZkFulfillment({ groth16Proof, input: image, outputs: changed })
    await expectRevert(
      hubAs(2).write.fulfillWithProof([requestId, forged.output, forged.proof]),
      'InvalidProof',
      [requestId],
    )
    // the honest proof with other output bytes: the output hash is not the proof's
    const honest = encodeZkFulfillment({ groth16Proof, input: image, outputs })
    await expectRevert(
      hubAs(2).write.fulfillWithProof([requestId, forged.output, honest.proof]),
      'InvalidProof',
      [requestId],
    )
    // a request on another input cannot take this input's proof
    const otherRequest = await ask(demo.samples[1]!.image)
    await expectRevert(
      hubAs(2).write.fulfillWithProof([otherRequest, honest.output, honest.proof]),
      'InvalidProof',
      [otherRequest],
    )
    await mined(await hubAs(2).write.fulfillWithProof([requestId, honest.output, honest.proof]))
  })

  test('error: deployZkVerifier refuses a verifier of another shape, a bad commitment or source', async () => {
    const [publicClient, wallets] = clients()
    const base = {
      publicClient,
      walletClient: wallets[0]!,
      solidityVerifier: artifacts.solidityVerifier,
      modelCommitment: BigInt(artifacts.manifestZk.modelCommitment),
      inputLength: 784,
      outputCount: 10,
    }
    const refused = async (parameters: typeof base, code: ErrorCode, pattern: RegExp) => {
      await assert.rejects(
        deployZkVerifier(parameters),
        (error: unknown) => isBaseError(error, code) && pattern.test(error.message),
      )
    }
    const before = await publicClient.getTransactionCount({ address: chain.accounts[0]!.address })
    await refused(
      { ...base, outputCount: 9 },
      'INVALID_ARGUMENT',
      /12 public signals.*9 outputs has 11/,
    )
    await refused({ ...base, modelCommitment: P }, 'INVALID_ARGUMENT', /not a BN254 field element/)
    await refused({ ...base, inputLength: 0 }, 'INVALID_ARGUMENT', /inputLength must be a positive/)
    await refused(
      { ...base, solidityVerifier: 'contract Other {}' },
      'INVALID_ARGUMENT',
      /no "contract Groth16Verifier"/,
    )
    await refused(
      {
        ...base,
        solidityVerifier: artifacts.solidityVerifier.replace('uint256 constant r ', 'uint256 r r '),
      },
      'INVALID_ARGUMENT',
      /does not compile/,
    )
    // nothing was sent for any of them
    assert.equal(
      await publicClient.getTransactionCount({ address: chain.accounts[0]!.address }),
      before,
    )
    // deterministic: the same source compiles to the same bytecode
    const first = compileGroth16Verifier(artifacts.solidityVerifier)
    const second = compileGroth16Verifier(artifacts.solidityVerifier)
    assert.equal(first.bytecode, second.bytecode)
    assert.equal(first.publicSignals, 12)
  })

  test('error: registerZkVerifier only for the creator and for a deployed verifier', async () => {
    const [publicClient, wallets] = clients()
    const parameters = {
      publicClient,
      modelRegistry: config.contracts.modelRegistry,
      modelId,
      adapter: deployed.adapter,
    }
    await assert.rejects(
      registerZkVerifier({ ...parameters, walletClient: wallets[4]! }),
      (error: unknown) =>
        isBaseError(error, 'CHAIN_TRANSACTION_FAILED') &&
        error.metaMessages?.some((m) => /Only the model creator/.test(m)) === true,
    )
    await assert.rejects(
      registerZkVerifier({ ...parameters, walletClient: wallets[1]!, modelId: 99n }),
      (error: unknown) =>
        isBaseError(error, 'CHAIN_TRANSACTION_FAILED') &&
        error.metaMessages?.some((m) => /No model has this id/.test(m)) === true,
    )
    await assert.rejects(
      registerZkVerifier({
        ...parameters,
        walletClient: wallets[1]!,
        adapter: chain.accounts[4]!.address,
      }),
      (error: unknown) => isBaseError(error, 'INVALID_ARGUMENT'),
    )
    const model = await publicClient.readContract({
      address: config.contracts.modelRegistry,
      abi: modelRegistryAbi,
      functionName: 'getModel',
      args: [modelId],
    })
    assert.equal(model.zkVerifier, zeroAddress)
  })
})
