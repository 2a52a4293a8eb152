import assert from 'node:assert/strict'
import { after, afterEach, before, beforeEach, test } from 'node:test'
import { computeInputCommitment } from '@verity/protocol'
import { poseidon5 } from 'poseidon-lite/poseidon5'
import {
  type AbiParameter,
  type Address,
  encodeAbiParameters,
  encodeFunctionData,
  getAddress,
  getContract,
  type Hex,
  hexToBytes,
  keccak256,
  parseEther,
  parseEventLogs,
  stringToBytes,
  toFunctionSelector,
  toHex,
} from 'viem'
import { deployVerity } from './deploy.ts'
import { deployPoseidonT6, poseidonT6Address } from './deployPoseidonT6.ts'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  inferenceHubAbi,
  modelRegistryAbi,
  nodeRegistryAbi,
  testGroth16VerifierAbi,
  testGroth16VerifierBytecode,
  zkModelVerifierAbi,
  zkModelVerifierBytecode,
} from './generated/index.ts'
import { expectRevert } from './testing/expectRevert.ts'
import { createTestChain, type TestChain } from './testing/testChain.ts'

/** BN254 scalar field order. */
const P = 21888242871839275222246405745257275088548364400416034343698204186575808495617n
const MODEL_COMMITMENT = 0x1234_5678_9abc_def0_1234_5678_9abc_def0_1234_5678_9abc_def0n
const INPUT_LENGTH = 784n
const OUTPUT_COUNT = 10n
/** TestGroth16Verifier answer modes. */
const Mode = { Check: 0, Accept: 1, Reject: 2, Revert: 3, Garbage: 4 } as const

let chain: TestChain
let groth16: Address
let adapter: Address
let snapshot: Hex

const groth16Contract = () =>
  getContract({
    address: groth16,
    abi: testGroth16VerifierAbi,
    client: { public: chain.publicClient, wallet: chain.walletClients[0]! },
  })
const adapterContract = (address = adapter) =>
  getContract({ address, abi: zkModelVerifierAbi, client: chain.publicClient })

async function mined(hash: Hex) {
  const receipt = await chain.publicClient.waitForTransactionReceipt({ hash })
  assert.equal(receipt.status, 'success')
  return receipt
}

/** Deterministic pseudo-random bytes (xorshift32), so every run hashes the same inputs. */
function bytesOf(length: number, seed: number): Uint8Array {
  let state = seed >>> 0 || 1
  return Uint8Array.from({ length }, () => {
    state ^= state << 13
    state ^= state >>> 17
    state ^= state << 5
    return state & 0xff
  })
}

type Groth16Proof = {
  a: readonly [bigint, bigint]
  b: readonly [readonly [bigint, bigint], readonly [bigint, bigint]]
  c: readonly [bigint, bigint]
}
const groth16Proof: Groth16Proof = {
  a: [1n, 2n],
  b: [
    [3n, 4n],
    [5n, 6n],
  ],
  c: [7n, 8n],
}

function encodeProof(proof: Groth16Proof, input: Uint8Array, outputs: readonly bigint[]): Hex {
  return encodeAbiParameters(
    [
      { type: 'uint256[2]' },
      { type: 'uint256[2][2]' },
      { type: 'uint256[2]' },
      { type: 'bytes' },
      { type: 'int256[]' },
    ],
    [proof.a, proof.b, proof.c, toHex(input), outputs],
  )
}

/** What InferenceHub passes: keccak256 of the input bytes and of abi.encode(int256[] outputs). */
function hashes(
  input: Uint8Array,
  outputs: readonly bigint[],
): { inputHash: Hex; outputHash: Hex } {
  return {
    inputHash: keccak256(input),
    outputHash: keccak256(encodeAbiParameters([{ type: 'int256[]' }], [outputs])),
  }
}

/** The generated verifier's arguments the adapter must produce, hashed as the mock checks them. */
function expectedArgumentsHash(proof: Groth16Proof, signals: readonly bigint[]): Hex {
  assert.equal(signals.length, 12)
  // (a widened parameter list: the 12-tuple type of uint256[12] is checked by the length above)
  const parameters: AbiParameter[] = [
    { type: 'uint256[2]' },
    { type: 'uint256[2][2]' },
    { type: 'uint256[2]' },
    { type: 'uint256[12]' },
  ]
  return keccak256(encodeAbiParameters(parameters, [proof.a, proof.b, proof.c, signals]))
}

async function configure(mode: number, argumentsHash: Hex = `0x${'00'.repeat(32)}`) {
  await mined(await groth16Contract().write.configure([mode, argumentsHash]))
}

async function verify(
  proof: Hex,
  inputHash: Hex,
  outputHash: Hex,
  address: Address = adapter,
): Promise<boolean> {
  return adapterContract(address).read.verifyProof([proof, inputHash, outputHash])
}

/**
 * Gas of calling the adapter with `data` in a real transaction: what the receipt says, and that
 * minus the intrinsic cost (21000 + 4 per zero and 16 per non-zero calldata byte).
 */
async function measureGas(data: Hex): Promise<{ used: bigint; execution: bigint }> {
  const receipt = await mined(await chain.walletClients[0]!.sendTransaction({ to: adapter, data }))
  let intrinsic = 21_000n
  for (const byte of hexToBytes(data)) intrinsic += byte === 0 ? 4n : 16n
  return { used: receipt.gasUsed, execution: receipt.gasUsed - intrinsic }
}

const image = bytesOf(784, 7)
const logits = [-123_456n, 98_765n, 0n, -1n, 1n, 2n ** 31n, -(2n ** 31n), 42n, -42n, 7n]

before(async () => {
  chain = await createTestChain()
  await deployPoseidonT6({
    publicClient: chain.publicClient,
    walletClient: chain.walletClients[0]!,
  })
  groth16 = getAddress(await chain.deploy(testGroth16VerifierAbi, testGroth16VerifierBytecode, []))
  adapter = getAddress(
    await chain.deploy(zkModelVerifierAbi, zkModelVerifierBytecode, [
      groth16,
      MODEL_COMMITMENT,
      INPUT_LENGTH,
      OUTPUT_COUNT,
    ]),
  )
})
after(() => chain.close())
beforeEach(async () => {
  snapshot = await chain.snapshot()
})
afterEach(async () => {
  await chain.revert(snapshot)
})

test('default', async (t) => {
  // the adapter hands the generated verifier exactly [outputs…, inputCommitment, modelCommitment]
  const signals = [
    ...logits.map((v) => (v < 0n ? P + v : v)),
    computeInputCommitment(image),
    MODEL_COMMITMENT,
  ]
  await configure(Mode.Check, expectedArgumentsHash(groth16Proof, signals))
  const proof = encodeProof(groth16Proof, image, logits)
  const { inputHash, outputHash } = hashes(image, logits)
  assert.equal(await verify(proof, inputHash, outputHash), true)
  // anything else reaching the verifier does not match: another output, another proof point
  const other = [...logits.slice(0, 9), 8n]
  const otherHashes = hashes(image, other)
  assert.equal(
    await verify(encodeProof(groth16Proof, image, other), inputHash, otherHashes.outputHash),
    false,
  )
  const tampered = { ...groth16Proof, c: [7n, 9n] as const }
  assert.equal(await verify(encodeProof(tampered, image, logits), inputHash, outputHash), false)
  // the public immutables
  const contract = adapterContract()
  assert.equal(await contract.read.GROTH16_VERIFIER(), groth16)
  assert.equal(await contract.read.MODEL_COMMITMENT(), MODEL_COMMITMENT)
  assert.equal(await contract.read.INPUT_LENGTH(), INPUT_LENGTH)
  assert.equal(await contract.read.OUTPUT_COUNT(), OUTPUT_COUNT)
  assert.equal(await contract.read.FIELD_ORDER(), P)
  assert.equal(await contract.read.POSEIDON_T6(), poseidonT6Address)
  assert.equal(
    await contract.read.VERIFY_PROOF_SELECTOR(),
    toFunctionSelector('verifyProof(uint256[2],uint256[2][2],uint256[2],uint256[12])'),
  )
  const gas = await measureGas(
    encodeFunctionData({
      abi: zkModelVerifierAbi,
      functionName: 'verifyProof',
      args: [proof, inputHash, outputHash],
    }),
  )
  t.diagnostic(
    `verifyProof(784-byte input, 10 outputs) with a stub Groth16 verifier: ${gas.used} gas used in a transaction, ${gas.execution} execution`,
  )
})

test('behavior: the on-chain input commitment equals the protocol commitment (poseidon-lite) for every chunking case', async (t) => {
  const contract = adapterContract()
  for (const length of [1, 30, 31, 32, 62, 123, 124, 125, 784]) {
    for (const input of [bytesOf(length, length), new Uint8Array(length).fill(0xff)]) {
      assert.equal(
        await contract.read.inputCommitment([toHex(input)]),
        computeInputCommitment(input),
        `length ${length}`,
      )
    }
  }
  // the length is bound: zero bytes of different lengths commit differently
  assert.notEqual(
    await contract.read.inputCommitment([toHex(new Uint8Array(31))]),
    await contract.read.inputCommitment([toHex(new Uint8Array(32))]),
  )
  const report: string[] = []
  for (const length of [31, 124, 784]) {
    const gas = await measureGas(
      encodeFunctionData({
        abi: zkModelVerifierAbi,
        functionName: 'inputCommitment',
        args: [toHex(bytesOf(length, 1))],
      }),
    )
    report.push(`${length} bytes ${gas.used} (execution ${gas.execution})`)
  }
  t.diagnostic(`inputCommitment gas used in a transaction: ${report.join(', ')}`)
})

test('behavior: the verifier’s answer decides — false, revert, garbage → false; true → true', async () => {
  const proof = encodeProof(groth16Proof, image, logits)
  const { inputHash, outputHash } = hashes(image, logits)
  for (const [mode, expected] of [
    [Mode.Reject, false],
    [Mode.Revert, false],
    [Mode.Garbage, false],
    [Mode.Accept, true],
  ] as const) {
    await configure(mode)
    assert.equal(await verify(proof, inputHash, outputHash), expected, `mode ${mode}`)
  }
})

test('behavior: accepted through InferenceHub.fulfillWithProof', async (t) => {
  const config = await deployVerity({
    rpcUrl: chain.anvil.rpcUrl,
    account: chain.accounts[0]!,
    pollingInterval: 20,
  })
  const hub = getAddress(config.contracts.inferenceHub)
  const wallet = (index: number) => ({
    public: chain.publicClient,
    wallet: chain.walletClients[index]!,
  })
  const models = getContract({
    address: config.contracts.modelRegistry,
    abi: modelRegistryAbi,
    client: wallet(1),
  })
  const manifest = keccak256(stringToBytes('manifest'))
  await mined(await models.write.registerModel(['digits', 'bafy-zk', manifest, 0, 0n, adapter]))
  const nodes = getContract({
    address: config.contracts.nodeRegistry,
    abi: nodeRegistryAbi,
    client: wallet(2),
  })
  await mined(await nodes.write.register(['http://n', 'p', 2], { value: parseEther('1') }))
  const consumer = getAddress(
    await chain.deploy(exampleConsumerAbi, exampleConsumerBytecode, [hub]),
  )
  const consumerContract = getContract({
    address: consumer,
    abi: exampleConsumerAbi,
    client: wallet(0),
  })
  const asked = await mined(
    await consumerContract.write.ask([1n, toHex(image), 2, 0, 500_000], { value: 0n }),
  )
  const requested = parseEventLogs({ abi: inferenceHubAbi, logs: asked.logs }).find(
    (e) => e.eventName === 'InferenceRequested',
  )
  assert.ok(requested?.eventName === 'InferenceRequested')
  const requestId = requested.args.requestId
  const output = encodeAbiParameters([{ type: 'int256[]' }], [logits])
  const proof = encodeProof(groth16Proof, image, logits)
  const hubAs = getContract({ address: hub, abi: inferenceHubAbi, client: wallet(2) })
  // rejected while the Groth16 verifier says no, accepted once it says yes
  await configure(Mode.Reject)
  await expectRevert(hubAs.write.fulfillWithProof([requestId, output, proof]), 'InvalidProof', [
    requestId,
  ])
  await configure(Mode.Accept)
  const receipt = await mined(await hubAs.write.fulfillWithProof([requestId, output, proof]))
  assert.equal(await consumerContract.read.resultOf([requestId]), output)
  t.diagnostic(
    `InferenceHub.fulfillWithProof (784-byte input, 10 outputs, stub Groth16 verifier): ${receipt.gasUsed} gas used`,
  )
})

test('behavior: outputs outside the canonical signed range are rejected before the verifier is asked', async () => {
  await configure(Mode.Accept)
  const half = (P - 1n) / 2n
  // p − 7 and −7 are the same field element: only −7 may stand for it (one proof, one output)
  for (const bad of [half + 1n, -(half + 1n), P - 7n, P, -P, 2n ** 255n - 1n, -(2n ** 255n)]) {
    const outputs = [bad, ...logits.slice(1)]
    const { inputHash, outputHash } = hashes(image, outputs)
    assert.equal(
      await verify(encodeProof(groth16Proof, image, outputs), inputHash, outputHash),
      false,
      String(bad),
    )
  }
  assert.equal(await adapterContract().read.HALF_FIELD(), half)
  // the extremes of the range pass through: (p − 1) / 2 and −(p − 1) / 2 = (p + 1) / 2 mod p
  const edge = [half, -half, ...logits.slice(2)]
  const signals = [half, half + 1n, ...logits.slice(2).map((v) => (v < 0n ? P + v : v))]
  await configure(
    Mode.Check,
    expectedArgumentsHash(groth16Proof, [
      ...signals,
      computeInputCommitment(image),
      MODEL_COMMITMENT,
    ]),
  )
  const { inputHash, outputHash } = hashes(image, edge)
  assert.equal(await verify(encodeProof(groth16Proof, image, edge), inputHash, outputHash), true)
})

test('error: wrong hashes and lengths return false (never reach the verifier)', async () => {
  await configure(Mode.Accept)
  const proof = encodeProof(groth16Proof, image, logits)
  const { inputHash, outputHash } = hashes(image, logits)
  assert.equal(await verify(proof, inputHash, outputHash), true)
  assert.equal(await verify(proof, keccak256(toHex('other')), outputHash), false)
  assert.equal(await verify(proof, inputHash, keccak256(toHex('other'))), false)
  assert.equal(await verify(proof, outputHash, inputHash), false)
  // an input of another length, or another number of outputs, with hashes that match it
  for (const [input, outputs] of [
    [image.subarray(0, 783), logits],
    [bytesOf(785, 3), logits],
    [image, logits.slice(0, 9)],
    [image, [...logits, 0n]],
    [image, []],
  ] as const) {
    const matching = hashes(input, outputs)
    assert.equal(
      await verify(
        encodeProof(groth16Proof, input, outputs),
        matching.inputHash,
        matching.outputHash,
      ),
      false,
      `${input.length} bytes, ${outputs.length} outputs`,
    )
  }
})

test('error: a verifier for another number of public signals, bad encodings and bad construction', async () => {
  await configure(Mode.Accept)
  // outputCount 3 → selector for uint256[5], which the 12-signal verifier does not have → false
  const narrow = getAddress(
    await chain.deploy(zkModelVerifierAbi, zkModelVerifierBytecode, [
      groth16,
      MODEL_COMMITMENT,
      INPUT_LENGTH,
      3n,
    ]),
  )
  const three = logits.slice(0, 3)
  const matching = hashes(image, three)
  assert.equal(
    await verify(
      encodeProof(groth16Proof, image, three),
      matching.inputHash,
      matching.outputHash,
      narrow,
    ),
    false,
  )
  // a proof that is not the ABI tuple reverts in the decoder (InferenceHub turns that into false)
  const { inputHash, outputHash } = hashes(image, logits)
  await assert.rejects(verify('0x1234', inputHash, outputHash))
  await expectRevert(adapterContract().read.inputCommitment(['0x']), 'EmptyInput', [])

  const deploy = (args: readonly [Address, bigint, bigint, bigint]) =>
    chain.deploy(zkModelVerifierAbi, zkModelVerifierBytecode, args)
  const eoa = chain.accounts[5]!.address
  await expectRevert(
    deploy([eoa, MODEL_COMMITMENT, INPUT_LENGTH, OUTPUT_COUNT]),
    'VerifierNotContract',
    [eoa],
    zkModelVerifierAbi,
  )
  await expectRevert(
    deploy([groth16, P, INPUT_LENGTH, OUTPUT_COUNT]),
    'NotAFieldElement',
    [P],
    zkModelVerifierAbi,
  )
  await expectRevert(
    deploy([groth16, MODEL_COMMITMENT, 0n, OUTPUT_COUNT]),
    'InvalidShape',
    [0n, OUTPUT_COUNT],
    zkModelVerifierAbi,
  )
  await expectRevert(
    deploy([groth16, MODEL_COMMITMENT, INPUT_LENGTH, 0n]),
    'InvalidShape',
    [INPUT_LENGTH, 0n],
    zkModelVerifierAbi,
  )
  await chain.testClient.setCode({ address: poseidonT6Address, bytecode: '0x' })
  await expectRevert(
    deploy([groth16, MODEL_COMMITMENT, INPUT_LENGTH, OUTPUT_COUNT]),
    'PoseidonNotDeployed',
    [poseidonT6Address],
    zkModelVerifierAbi,
  )
})

test('behavior: deployPoseidonT6 is idempotent and brings its own deployment proxy', async () => {
  const clients = { publicClient: chain.publicClient, walletClient: chain.walletClients[1]! }
  assert.deepEqual(await deployPoseidonT6(clients), {
    address: poseidonT6Address,
    deployedProxy: false,
    deployedPoseidon: false,
  })
  // a chain without the proxy and without PoseidonT6
  const proxy = getAddress('0x4e59b44847b379578588920ca78fbf26c0b4956c')
  // (nonces back to 0 too: an account with a nonce cannot be created again)
  for (const address of [poseidonT6Address, proxy]) {
    await chain.testClient.setCode({ address, bytecode: '0x' })
    await chain.testClient.setNonce({ address, nonce: 0 })
  }
  assert.deepEqual(await deployPoseidonT6(clients), {
    address: poseidonT6Address,
    deployedProxy: true,
    deployedPoseidon: true,
  })
  const input = bytesOf(100, 9)
  assert.equal(
    await adapterContract().read.inputCommitment([toHex(input)]),
    computeInputCommitment(input),
  )
  // the deployed library itself, called like a contract, is poseidon-lite's poseidon5
  const hash = await chain.publicClient.readContract({
    address: poseidonT6Address,
    abi: [
      {
        type: 'function',
        name: 'hash',
        stateMutability: 'pure',
        inputs: [{ name: 'inputs', type: 'uint256[5]' }],
        outputs: [{ name: '', type: 'uint256' }],
      },
    ] as const,
    functionName: 'hash',
    args: [[1n, 2n, 3n, 4n, P - 1n]],
  })
  assert.equal(hash, poseidon5([1n, 2n, 3n, 4n, P - 1n]))
})
