/** Regenerates packages/protocol/schemas/*.schema.json from the zod validators. */
import { writeFile } from 'node:fs/promises'
import { jsonSchemaDirectory, jsonSchemas } from '../src/jsonSchemas.ts'

for (const [name, schema] of Object.entries(jsonSchemas())) {
  const file = new URL(`${name}.schema.json`, jsonSchemaDirectory)
  await writeFile(file, `${JSON.stringify(schema, null, 2)}\n`)
  console.log(`wrote ${file.pathname}`)
}
