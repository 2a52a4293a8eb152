import { BaseError } from './errors.ts'

/**
 * A JSON schema that constrains a text generation (`response_format: json_schema`). Only the
 * subset that the grammar of a GGUF node enforces token by token is accepted (node-llama-cpp's
 * GBNF JSON schema): `type` (string, number, integer, boolean, null, object, array, or a list of
 * the scalar ones), `const`, `enum`, `oneOf`/`anyOf`, objects with `properties`, `required`,
 * `additionalProperties`, `minProperties`, `maxProperties`, arrays with `items`, `prefixItems`,
 * `minItems`, `maxItems`, strings with `minLength`, `maxLength` or `format` (date, time,
 * date-time), and `$ref` to `#/$defs/…`. Annotations (`description`, `title`, `$schema`,
 * `$comment`, `examples`, `default`) are allowed and do not constrain. Anything else (`pattern`,
 * `minimum`, …) is refused rather than silently not enforced.
 *
 * @example
 * ```ts
 * const schema: ResponseJsonSchema = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
 * ```
 */
export type ResponseJsonSchema = { readonly [keyword: string]: unknown }

const maxSchemaBytes = 32 * 1024
const maxDepth = 32
const maxNodes = 2048
const scalarTypes = new Set(['string', 'number', 'integer', 'boolean', 'null'])
const annotations = new Set(['description', 'title', '$schema', '$comment', 'examples', 'default'])
const keywordsByType: Record<string, ReadonlySet<string>> = {
  object: new Set([
    'type',
    'properties',
    'required',
    'additionalProperties',
    'minProperties',
    'maxProperties',
    '$defs',
  ]),
  array: new Set(['type', 'items', 'prefixItems', 'minItems', 'maxItems', '$defs']),
  string: new Set(['type', 'minLength', 'maxLength', 'format']),
  scalar: new Set(['type']),
}
const stringFormats = new Set(['date', 'time', 'date-time'])

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isCount(value: unknown): boolean {
  return Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 1_000_000
}

function isLiteral(value: unknown): boolean {
  return (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  )
}

/**
 * Checks a `response_format` JSON schema against the subset a GGUF node enforces and returns it
 * unchanged. Throws `INVALID_ARGUMENT` naming the JSON pointer of the first problem: a schema that
 * is not an object, an unknown or unsupported keyword, a wrong keyword value, a `required` name
 * that is not a property, a `$ref` without its `$defs` entry, or a schema over 32 KiB, 32 levels
 * or 2048 sub-schemas.
 *
 * @example
 * ```ts
 * parseResponseJsonSchema({ type: 'object', properties: { age: { type: 'integer' } } }) // ok
 * parseResponseJsonSchema({ type: 'string', pattern: '^a' }) // throws: "pattern" is not supported
 * ```
 */
export function parseResponseJsonSchema(value: unknown): ResponseJsonSchema {
  const fail = (pointer: string, message: string) =>
    new BaseError('INVALID_ARGUMENT', `Invalid JSON schema at ${pointer || '#'}: ${message}`, {
      details: 'response_format',
      metaMessages: [
        'Supported: type, const, enum, oneOf/anyOf, properties, required, additionalProperties, items, prefixItems, min/maxItems, min/maxLength, format (date, time, date-time), $defs/$ref.',
      ],
    })
  if (!isObject(value)) throw fail('', 'a schema must be a JSON object.')
  let size: number
  try {
    size = JSON.stringify(value).length
  } catch {
    throw fail('', 'the schema is not plain JSON.')
  }
  if (size > maxSchemaBytes)
    throw fail('', `the schema is ${size} bytes; at most ${maxSchemaBytes} are accepted.`)
  let nodes = 0

  function check(schema: unknown, pointer: string, depth: number, defs: readonly string[]): void {
    if (!isObject(schema)) throw fail(pointer, 'a schema must be a JSON object.')
    if (++nodes > maxNodes) throw fail(pointer, `more than ${maxNodes} sub-schemas.`)
    if (depth > maxDepth) throw fail(pointer, `nested deeper than ${maxDepth} levels.`)
    let scope = defs
    if ('$defs' in schema) {
      const own = schema.$defs
      if (!isObject(own)) throw fail(`${pointer}/$defs`, '"$defs" must be an object of schemas.')
      scope = [...defs, ...Object.keys(own)]
      for (const [name, def] of Object.entries(own))
        check(def, `${pointer}/$defs/${name}`, depth + 1, scope)
    }
    const keys = Object.keys(schema).filter((key) => !annotations.has(key))
    if (typeof schema.description !== 'undefined' && typeof schema.description !== 'string')
      throw fail(pointer, '"description" must be a string.')

    const only = (allowed: ReadonlySet<string>, what: string) => {
      const extra = keys.filter((key) => !allowed.has(key))
      if (extra.length > 0)
        throw fail(
          pointer,
          `${extra.map((key) => `"${key}"`).join(', ')} ${extra.length === 1 ? 'is' : 'are'} not supported for ${what}.`,
        )
    }
    if ('$ref' in schema) {
      only(new Set(['$ref', '$defs']), '$ref schemas')
      const ref = schema.$ref
      const name = typeof ref === 'string' && ref.startsWith('#/$defs/') ? ref.slice(8) : undefined
      if (name === undefined) throw fail(pointer, '"$ref" must be "#/$defs/<name>".')
      if (!scope.includes(name))
        throw fail(pointer, `"$ref" names "${name}", which no $defs holds.`)
      return
    }
    if ('const' in schema) {
      only(new Set(['const']), 'const schemas')
      if (!isLiteral(schema.const))
        throw fail(pointer, '"const" must be a string, number, boolean or null.')
      return
    }
    if ('enum' in schema) {
      only(new Set(['enum']), 'enum schemas')
      if (!Array.isArray(schema.enum) || schema.enum.length === 0 || !schema.enum.every(isLiteral))
        throw fail(
          pointer,
          '"enum" must be a non-empty array of strings, numbers, booleans or null.',
        )
      return
    }
    for (const union of ['oneOf', 'anyOf'] as const) {
      if (!(union in schema)) continue
      only(new Set([union, '$defs']), `${union} schemas`)
      const options = schema[union]
      if (!Array.isArray(options) || options.length === 0)
        throw fail(pointer, `"${union}" must be a non-empty array of schemas.`)
      options.forEach((option, index) => {
        check(option, `${pointer}/${union}/${index}`, depth + 1, scope)
      })
      return
    }
    const type = schema.type
    if (Array.isArray(type)) {
      only(keywordsByType.scalar!, 'a list of types')
      if (type.length === 0 || !type.every((entry) => scalarTypes.has(entry as string)))
        throw fail(pointer, '"type" lists must hold only string, number, integer, boolean, null.')
      return
    }
    if (type === 'object') {
      only(keywordsByType.object!, 'objects')
      const properties = schema.properties ?? {}
      if (!isObject(properties))
        throw fail(`${pointer}/properties`, '"properties" must be an object of schemas.')
      for (const [name, property] of Object.entries(properties))
        check(property, `${pointer}/properties/${name}`, depth + 1, scope)
      if (schema.required !== undefined) {
        if (
          !Array.isArray(schema.required) ||
          !schema.required.every((name) => typeof name === 'string')
        )
          throw fail(`${pointer}/required`, '"required" must be an array of property names.')
        const missing = schema.required.filter((name) => !(name in properties))
        if (missing.length > 0)
          throw fail(
            `${pointer}/required`,
            `${missing.map((name) => `"${name}"`).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required but not in "properties".`,
          )
      }
      const additional = schema.additionalProperties
      if (additional !== undefined && typeof additional !== 'boolean')
        check(additional, `${pointer}/additionalProperties`, depth + 1, scope)
      for (const bound of ['minProperties', 'maxProperties'] as const)
        if (schema[bound] !== undefined && !isCount(schema[bound]))
          throw fail(pointer, `"${bound}" must be a non-negative integer.`)
      return
    }
    if (type === 'array') {
      only(keywordsByType.array!, 'arrays')
      if (schema.items !== undefined) check(schema.items, `${pointer}/items`, depth + 1, scope)
      if (schema.prefixItems !== undefined) {
        if (!Array.isArray(schema.prefixItems))
          throw fail(`${pointer}/prefixItems`, '"prefixItems" must be an array of schemas.')
        schema.prefixItems.forEach((item, index) => {
          check(item, `${pointer}/prefixItems/${index}`, depth + 1, scope)
        })
      }
      for (const bound of ['minItems', 'maxItems'] as const)
        if (schema[bound] !== undefined && !isCount(schema[bound]))
          throw fail(pointer, `"${bound}" must be a non-negative integer.`)
      return
    }
    if (type === 'string') {
      only(keywordsByType.string!, 'strings')
      for (const bound of ['minLength', 'maxLength'] as const)
        if (schema[bound] !== undefined && !isCount(schema[bound]))
          throw fail(pointer, `"${bound}" must be a non-negative integer.`)
      if (schema.format !== undefined && !stringFormats.has(schema.format as string))
        throw fail(pointer, '"format" must be date, time or date-time.')
      if (schema.format !== undefined && keys.some((key) => key.endsWith('Length')))
        throw fail(pointer, '"format" cannot be combined with minLength/maxLength.')
      return
    }
    if (typeof type === 'string' && scalarTypes.has(type)) {
      only(keywordsByType.scalar!, `${type} values`)
      return
    }
    if (type === undefined)
      throw fail(pointer, 'a schema needs "type", "const", "enum", "oneOf", "anyOf" or "$ref".')
    throw fail(pointer, `unknown type ${JSON.stringify(type)}.`)
  }

  check(value, '', 0, [])
  return value
}
