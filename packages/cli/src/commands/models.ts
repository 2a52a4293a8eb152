import { listModels } from '@verity/sdk'
import { createNodeClient } from '../nodeClient.ts'
import type { CliOptions } from '../options.ts'
import { type Io, printResult } from '../output.ts'
import { modelList } from './model.ts'

/**
 * `verity models [--node URL]`: the models a node serves (through the SDK), or without `--node`
 * the local store (like `verity model list`).
 *
 * @example
 * ```ts
 * await models(io, options, { node: 'http://127.0.0.1:8546' })
 * ```
 */
export async function models(
  io: Io,
  options: CliOptions,
  flags: { node?: string },
): Promise<number> {
  if (flags.node === undefined) return modelList(io, options)
  const client = createNodeClient(flags.node)
  const list = await listModels(client)
  const human = list.length
    ? list.map((m) => `${`${m.name}@${m.version}`.padEnd(28)} ${m.cid}`).join('\n')
    : `${client.transport.url} serves no models yet: publish one with \`verity model publish FILE --node ${client.transport.url}\``
  printResult(
    io,
    options,
    human,
    list.map((m) => ({
      name: m.name,
      version: m.version,
      cid: m.cid,
      manifestHash: m.manifestHash,
      format: m.format,
    })),
  )
  return 0
}
