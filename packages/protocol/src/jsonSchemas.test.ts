import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { test } from 'node:test'
import { jsonSchemaDirectory, jsonSchemas } from './jsonSchemas.ts'

test('default: the published JSON Schema files are the ones generated from the validators', async () => {
  for (const [name, schema] of Object.entries(jsonSchemas())) {
    const published = JSON.parse(
      await readFile(new URL(`${name}.schema.json`, jsonSchemaDirectory), 'utf8'),
    )
    assert.deepEqual(
      published,
      schema,
      `${name}.schema.json is stale: run node packages/protocol/scripts/writeJsonSchemas.ts`,
    )
  }
})

test('behavior: the receipt schema is strict and names the signed sections', () => {
  const receipt = jsonSchemas()['receipt-v1'] as {
    required: string[]
    additionalProperties: boolean
  }
  assert.deepEqual([...receipt.required].sort(), ['domain', 'executor', 'job', 'result', 'version'])
  assert.equal(receipt.additionalProperties, false)
})
