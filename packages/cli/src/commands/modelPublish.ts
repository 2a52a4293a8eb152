import { basename, resolve } from 'node:path'
import { defaultOnnxLimits } from '@verity/hub'
import { publishModel } from '@verity/sdk'
import { createNodeClient } from '../nodeClient.ts'
import type { CliOptions } from '../options.ts'
import { type Io, printResult } from '../output.ts'
import { createProgress, formatBytes } from '../progress.ts'
import { readUserFile } from '../readInputs.ts'
import { modelNameFromFile } from './model.ts'

/**
 * Flags of `verity model publish`.
 *
 * @example
 * ```ts
 * const flags: ModelPublishFlags = { node: 'http://127.0.0.1:8546', name: 'digits' }
 * ```
 */
export type ModelPublishFlags = {
  node: string
  name?: string
  version?: string
  license?: string
  description?: string
}

/**
 * `verity model publish FILE --node URL [--name N]`: uploads an ONNX file to a node through the SDK
 * (with upload progress on a terminal); the node validates it, trial-loads it, computes its CID
 * and manifest and serves it. The answer's manifest is checked against its hash and CID.
 *
 * @example
 * ```ts
 * await modelPublish(io, options, 'model.onnx', { node: 'http://127.0.0.1:8546' })
 * ```
 */
export async function modelPublish(
  io: Io,
  options: CliOptions,
  file: string,
  flags: ModelPublishFlags,
): Promise<number> {
  const path = resolve(file)
  const bytes = await readUserFile(path, defaultOnnxLimits.maxModelBytes)
  const progress = createProgress(io, { plain: false })
  const step = progress.step(`Uploading ${basename(path)} (${formatBytes(bytes.length)})`)
  const client = createNodeClient(flags.node, {
    timeoutMs: 600_000,
    onUploadProgress: (sent, total) => {
      step.bytes(sent, total)
      if (sent === total) step.update('node validating and trial-loading the model')
    },
  })
  try {
    const published = await publishModel(client, {
      bytes,
      name: flags.name ?? modelNameFromFile(path),
      version: flags.version,
      license: flags.license,
      description: flags.description,
    })
    step.done(published.added ? 'published' : 'already there')
    const { manifest } = published
    printResult(
      io,
      options,
      [
        `${published.added ? 'published' : 'already present'} on ${client.transport.url}`,
        `model     ${manifest.name}@${manifest.version}`,
        `cid       ${published.cid}`,
        `manifest  ${published.manifestHash}`,
        `size      ${manifest.size} bytes`,
        `inputs    ${manifest.inputs.map((spec) => `${spec.name} ${spec.dtype}[${spec.shape.join(',')}]`).join(', ')}`,
        `outputs   ${manifest.outputs.map((spec) => `${spec.name} ${spec.dtype}[${spec.shape.join(',')}]`).join(', ')}`,
      ].join('\n'),
      {
        node: client.transport.url,
        cid: published.cid,
        manifestHash: published.manifestHash,
        added: published.added,
        manifest,
      },
    )
    return 0
  } catch (error) {
    step.fail()
    throw error
  }
}
