import { z } from 'zod'
import { type Mode, modes } from './eip712.ts'
import { BaseError } from './errors.ts'
import { engineDescriptorSchema } from './manifest.ts'
import { tensorJsonSchema } from './tensorJson.ts'
import { textSectionSchema } from './textGeneration.ts'
import { zkSectionSchema } from './zkEvidence.ts'

export const hash32Schema = z
  .string()
  .regex(/^0x[0-9a-f]{64}$/, 'a 0x-prefixed lowercase 32-byte hex hash')
export const addressSchema = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed 20-byte address')
export const signatureSchema = z
  .string()
  .regex(/^0x[0-9a-f]{130}$/, 'a 0x-prefixed 65-byte hex signature')
const uintStringSchema = (bits: number) =>
  z
    .string()
    .regex(/^(0|[1-9]\d*)$/, 'a decimal integer string')
    .refine((value) => BigInt(value) < 2n ** BigInt(bits), `an integer below 2^${bits}`)

export const domainSchema = z
  .object({
    name: z.literal('Verity'),
    version: z.literal('1'),
    chainId: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
    verifyingContract: addressSchema.optional(),
  })
  .strict()

/** The job: what was asked, by whom. Every field is covered by the requester's and executor's signatures. */
export const jobSchema = z
  .object({
    id: hash32Schema,
    requester: addressSchema,
    model: z.object({ cid: z.string().min(1).max(256), manifestHash: hash32Schema }).strict(),
    inputHash: hash32Schema,
    paramsHash: hash32Schema,
    mode: z.enum(modes as [Mode, ...Mode[]]),
    quorum: z.number().int().min(0).max(255),
    maxFee: uintStringSchema(256),
    nonce: hash32Schema,
    deadline: uintStringSchema(64),
  })
  .strict()

export const resultSchema = z
  .object({
    outputHash: hash32Schema,
    /** The output tensors (canonical base64 form); optional, the hash is what is signed. */
    output: z.record(z.string(), tensorJsonSchema).optional(),
    engine: engineDescriptorSchema.extend({ settingsHash: hash32Schema }).strict(),
    /** Unix seconds at which the executor produced the result. */
    executedAt: z
      .number()
      .int()
      .min(0)
      .max(2 ** 53 - 1),
  })
  .strict()

/**
 * A verifier's signed statement about the executor's output: it re-executed the job and the result
 * matches (`agree`) or not, under the model's comparison rule. `outputHash` is the executor's
 * output hash being judged; the signature is over the EIP-712 `Attestation(jobId, outputHash, agree)`
 * in the receipt's domain.
 */
export const attestationSchema = z
  .object({
    verifier: addressSchema,
    agree: z.boolean(),
    outputHash: hash32Schema,
    signature: signatureSchema,
  })
  .strict()

export type Attestation = z.infer<typeof attestationSchema>

/** The quorum certificate of a `reexec` receipt. */
export const quorumSchema = z
  .object({
    /** How many agreeing, distinct verifiers (not the executor) the requester asked for. */
    threshold: z.number().int().min(1).max(255),
    /** The block whose hash seeded verifier selection (`keccak256(jobId, blockHash)`). */
    selection: z
      .object({ blockNumber: z.number().int().min(0), blockHash: hash32Schema })
      .strict()
      .optional(),
    attestations: z.array(attestationSchema).max(64),
  })
  .strict()

export type Quorum = z.infer<typeof quorumSchema>

/**
 * Where a receipt settled: the executor committed it as one leaf of a Merkle batch to the
 * Settlement contract (`domain.verifyingContract`). `fee` is what the requester was charged (the
 * leaf's fee); `proof` proves the leaf, rebuilt from the receipt, under `root` (OpenZeppelin
 * `StandardMerkleTree`). Whether batch `batchId` really has this root and was not reverted by a
 * challenge is an online check.
 */
export const settlementSchema = z
  .object({
    fee: uintStringSchema(256),
    batchId: uintStringSchema(256),
    root: hash32Schema,
    proof: z.array(hash32Schema).max(64),
    transactionHash: hash32Schema,
    blockNumber: z.number().int().min(0),
  })
  .strict()

export type ReceiptSettlement = z.infer<typeof settlementSchema>

/**
 * Receipt v1: a self-contained, canonical-JSON record binding model, input, output, engine settings
 * and who executed (and, in later modes, who verified and where it settled).
 */
export const receiptSchema = z
  .object({
    version: z.literal(1),
    domain: domainSchema,
    job: jobSchema,
    request: z.object({ signature: signatureSchema }).strict().optional(),
    result: resultSchema,
    executor: z.object({ address: addressSchema, signature: signatureSchema }).strict(),
    quorum: quorumSchema.optional(),
    settlement: settlementSchema.optional(),
    /** Text generation (GGUF models): input, parameters and output behind the three hashes. */
    text: textSectionSchema.optional(),
    /** Zero-knowledge evidence (mode `zk`): a Groth16 proof of the output for the committed input. */
    zk: zkSectionSchema.optional(),
  })
  .strict()

export type Receipt = z.infer<typeof receiptSchema>

/**
 * Validates untrusted receipt JSON. Throws `RECEIPT_VERSION_UNSUPPORTED` for other versions and
 * `RECEIPT_INVALID` (listing every problem) for anything else that does not fit the schema.
 *
 * @example
 * ```ts
 * const receipt = parseReceipt(JSON.parse(await readFile('receipt.json', 'utf8')))
 * ```
 */
export function parseReceipt(value: unknown): Receipt {
  if (typeof value === 'object' && value !== null && 'version' in value && value.version !== 1)
    throw new BaseError(
      'RECEIPT_VERSION_UNSUPPORTED',
      `Receipt version ${JSON.stringify(value.version)} is not supported; this verifier reads version 1.`,
    )
  const parsed = receiptSchema.safeParse(value)
  if (!parsed.success)
    throw new BaseError('RECEIPT_INVALID', 'The receipt does not match the Receipt v1 schema.', {
      metaMessages: parsed.error.issues
        .slice(0, 10)
        .map((issue) => `${issue.path.join('.') || '$'}: ${issue.message}`),
    })
  return parsed.data
}
