import { mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { createOnnxEngine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import {
  canonicalJson,
  createInferenceRequest,
  createReceipt,
  namedTensorsToJson,
  signInferenceRequest,
  type Tensor,
} from '@verity/protocol'
import { loadAccount } from '../keystore.ts'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, printResult, short } from '../output.ts'
import { type ReadInputsOptions, readInputs } from '../readInputs.ts'

export type InferFlags = ReadInputsOptions & {
  input: string
  out?: string
  key?: string
  /** Leave the output tensors out of the receipt (only their hash is kept). */
  omitOutput?: boolean
}

function preview(tensor: Tensor): string {
  const values = Array.from(tensor.data as ArrayLike<number | bigint>).slice(0, 10)
  const more = tensor.data.length > 10 ? ', …' : ''
  let text = `${tensor.dtype}[${tensor.shape.join(',')}] = [${values.map((v) => (typeof v === 'number' && !Number.isInteger(v) ? v.toPrecision(6) : String(v))).join(', ')}${more}]`
  if (
    tensor.shape.length === 2 &&
    tensor.shape[0] === 1 &&
    tensor.data.length > 1 &&
    typeof tensor.data[0] === 'number'
  ) {
    const data = tensor.data as ArrayLike<number>
    let best = 0
    for (let i = 1; i < data.length; i++) if (data[i]! > data[best]!) best = i
    text += `\n          argmax ${best}`
  }
  return text
}

/** Writes a file atomically (temp file + rename), so a crash never leaves half a receipt. */
async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true })
  const temporary = `${path}.${process.pid}.tmp`
  await writeFile(temporary, text, { mode: 0o644 })
  await rename(temporary, path)
}

/**
 * `verity infer MODEL --input FILE`: runs a stored model locally with the pinned engine and writes a
 * receipt signed by the local key (mode `none`).
 */
export async function infer(
  io: Io,
  options: CliOptions,
  reference: string,
  flags: InferFlags,
): Promise<number> {
  const paths = homePaths(options.home)
  const account = await loadAccount({
    file: resolve(flags.key ?? paths.key),
    explicitFile: flags.key !== undefined,
    env: process.env,
  })
  const store = createModelStore({ dir: paths.store })
  const model = await store.resolve(reference)
  const inputs = await readInputs(resolve(flags.input), model.manifest, flags)
  const bytes = await store.read(model.cid, { verify: true })
  const engine = createOnnxEngine()
  try {
    await engine.load({ id: model.cid, bytes, manifest: model.manifest })
    const request = createInferenceRequest({
      modelCid: model.cid,
      manifestHash: model.manifestHash,
      inputs,
    })
    const requestSignature = await signInferenceRequest({ account, request })
    const { outputs, durationMs } = await engine.run({ id: model.cid, inputs })
    const receipt = await createReceipt({
      account,
      requester: account.address,
      request,
      requestSignature,
      outputs,
      engine: engine.descriptor,
      includeOutput: !flags.omitOutput,
    })
    const out = resolve(flags.out ?? join(paths.receipts, `${receipt.job.id}.json`))
    await writeAtomic(out, `${canonicalJson(receipt)}\n`)
    const human = [
      `model     ${model.manifest.name}@${model.manifest.version} (${short(model.cid)})`,
      ...Object.entries(outputs).map(([name, tensor]) => `output    ${name} ${preview(tensor)}`),
      `time      ${durationMs.toFixed(2)} ms`,
      `job       ${receipt.job.id}`,
      `receipt   ${out}`,
    ].join('\n')
    printResult(io, options, human, {
      model: { name: model.manifest.name, version: model.manifest.version, cid: model.cid },
      outputs: namedTensorsToJson(outputs, { encoding: 'data' }),
      durationMs,
      jobId: receipt.job.id,
      receiptPath: out,
      receipt,
    })
    return 0
  } finally {
    await engine.close()
  }
}
