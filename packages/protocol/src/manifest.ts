import { z } from 'zod'
import { BaseError } from './errors.ts'
import { type Hash, hashCanonicalJson } from './hash.ts'
import { type Dtype, dtypes, tensorLimits } from './tensor.ts'
import { manifestZkSchema } from './zkEvidence.ts'

/** Shape of a declared tensor: fixed sizes, or names for dynamic dimensions (`"batch"`). */
export const dimSchema = z.union([
  z.number().int().min(0).max(tensorLimits.maxDim),
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/),
])

export const tensorSpecSchema = z
  .object({
    name: z.string().min(1).max(256),
    dtype: z.enum(dtypes as [Dtype, ...Dtype[]]),
    shape: z.array(dimSchema).max(tensorLimits.maxRank),
  })
  .strict()

export type TensorSpec = z.infer<typeof tensorSpecSchema>

/**
 * How re-executions are compared: `exact` (bit-identical output bytes; integer and pinned graphs)
 * or `tolerance` (every element within `absolute + relative * |expected|`).
 */
export const comparisonSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('exact') }).strict(),
  z
    .object({
      kind: z.literal('tolerance'),
      absolute: z.number().min(0).max(1e6),
      relative: z.number().min(0).max(1e6),
    })
    .strict(),
])

export type Comparison = z.infer<typeof comparisonSchema>

/**
 * The engine configuration that affects outputs. Its canonical hash is `settingsHash` in receipts,
 * so two executions agree on every setting that can change a result.
 */
export const engineDescriptorSchema = z
  .object({
    name: z.string().min(1).max(64),
    version: z.string().min(1).max(64),
    settings: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  })
  .strict()

export type EngineDescriptor = z.infer<typeof engineDescriptorSchema>

const weiSchema = z.string().regex(/^(0|[1-9]\d{0,77})$/, 'a decimal amount in wei')
const addressSchema = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'a 0x-prefixed 20-byte address')

/** The model manifest: everything a node or verifier needs to know to run a model the same way. */
export const manifestSchema = z
  .object({
    schema: z.literal('verity.manifest/1'),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'lowercase letters, digits, ".", "_" or "-"'),
    version: z.string().regex(/^\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$/, 'a semantic version'),
    description: z.string().max(1024).optional(),
    format: z.enum(['onnx', 'gguf']),
    /** CIDv1 of the model file (raw leaves, 256 KiB chunks, balanced DAG: Kubo's `--cid-version=1`). */
    cid: z.string().regex(/^b[a-z2-7]{20,200}$/, 'a base32 CIDv1'),
    size: z.number().int().min(1),
    inputs: z.array(tensorSpecSchema).min(1).max(tensorLimits.maxTensors),
    outputs: z.array(tensorSpecSchema).min(1).max(tensorLimits.maxTensors),
    comparison: comparisonSchema,
    engine: engineDescriptorSchema,
    limits: z
      .object({
        maxInputBytes: z.number().int().min(1),
        maxDim: z.number().int().min(1),
        timeoutMs: z.number().int().min(1),
      })
      .strict(),
    license: z.string().min(1).max(128),
    creator: addressSchema.optional(),
    pricing: z.object({ perCall: weiSchema }).strict(),
    /**
     * Facts of a GGUF (llama.cpp) model, read from its header, and the decoding configuration every
     * node pins for it (batch sizes change llama.cpp's outputs, so they are part of the model).
     */
    gguf: z
      .object({
        /** `general.architecture` (llama, qwen2, …). */
        architecture: z.string().min(1).max(64),
        /** GGUF format version (2 or 3). */
        ggufVersion: z.number().int().min(1).max(1000),
        /** `<arch>.context_length`: the context the model was trained with. */
        contextLength: z.number().int().min(1),
        embeddingLength: z.number().int().min(1).optional(),
        blockCount: z.number().int().min(1).optional(),
        /** `general.file_type` (the quantization), when present. */
        fileType: z.number().int().min(0).optional(),
        /** `tokenizer.chat_template` (Jinja), when the model has one. */
        chatTemplate: z.string().max(65_536).optional(),
        tokenizer: z
          .object({
            /** `tokenizer.ggml.model` (llama, gpt2, …). */
            model: z.string().min(1).max(64),
            vocabSize: z.number().int().min(1),
            bosTokenId: z.number().int().min(0).optional(),
            eosTokenId: z.number().int().min(0).optional(),
            addBosToken: z.boolean().optional(),
          })
          .strict(),
        /** Pinned decoding configuration (what a request may not change). */
        decoding: z
          .object({
            contextSize: z.number().int().min(1),
            batchSize: z.number().int().min(1),
            ubatchSize: z.number().int().min(1),
            threads: z.number().int().min(1),
            /** Largest `max_tokens` a request may ask for. */
            maxTokens: z.number().int().min(1),
          })
          .strict(),
      })
      .strict()
      .optional(),
    /** The model can be proven in zero knowledge (mode `zk`): its circuit and keys. */
    zk: manifestZkSchema.optional(),
    onnx: z
      .object({
        irVersion: z.number().int(),
        opsets: z.record(z.string(), z.number().int()),
        producer: z.string().max(256),
        operators: z.array(z.string()),
      })
      .strict()
      .optional(),
  })
  .strict()

export type Manifest = z.infer<typeof manifestSchema>

/**
 * Validates an untrusted manifest. Throws `MANIFEST_INVALID` with every problem listed.
 *
 * @example
 * ```ts
 * const manifest = parseManifest(JSON.parse(text))
 * ```
 */
export function parseManifest(value: unknown): Manifest {
  const parsed = manifestSchema.safeParse(value)
  if (!parsed.success)
    throw new BaseError('MANIFEST_INVALID', 'The model manifest is invalid.', {
      metaMessages: parsed.error.issues.map(
        (issue) => `${issue.path.join('.') || '$'}: ${issue.message}`,
      ),
    })
  return parsed.data
}

/** keccak256 of the manifest's canonical JSON: `job.model.manifestHash` in receipts. */
export function hashManifest(manifest: Manifest): Hash {
  return hashCanonicalJson(manifest)
}

/** keccak256 of the engine descriptor's canonical JSON: `result.engine.settingsHash` in receipts. */
export function hashEngineDescriptor(descriptor: EngineDescriptor): Hash {
  return hashCanonicalJson(descriptor)
}
