import { z } from 'zod'
import { manifestSchema } from './manifest.ts'
import { receiptSchema } from './receipt.ts'
import { tensorJsonSchema } from './tensorJson.ts'

/**
 * JSON Schema (draft 2020-12) documents for the public data formats, generated from the zod schemas
 * the code validates with, so the published schema and the validator cannot drift apart.
 *
 * @example
 * ```ts
 * const { 'receipt-v1': receipt } = jsonSchemas()
 * ```
 */
export function jsonSchemas(): Record<string, unknown> {
  const generate = (schema: z.ZodType, id: string, title: string) => ({
    $id: `urn:verity:schema:${id}`,
    title,
    ...z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' }),
  })
  return {
    'receipt-v1': generate(receiptSchema, 'receipt-v1', 'Verity Receipt v1'),
    'manifest-v1': generate(manifestSchema, 'manifest-v1', 'Verity model manifest v1'),
    tensor: generate(tensorJsonSchema, 'tensor', 'Verity tensor (JSON form)'),
  }
}

/** Where the generated schema files live in the repository. */
export const jsonSchemaDirectory = new URL('../schemas/', import.meta.url)
