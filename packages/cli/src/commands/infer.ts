import { join, resolve } from 'node:path'
import { createOnnxEngine } from '@verity/engine'
import { createModelStore } from '@verity/hub'
import {
  BaseError,
  canonicalJson,
  createInferenceRequest,
  createReceipt,
  namedTensorsToJson,
  signInferenceRequest,
} from '@verity/protocol'
import { loadAccount } from '../keystore.ts'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, previewTensor, printResult, short } from '../output.ts'
import { type ReadInputsOptions, readInputs } from '../readInputs.ts'
import { writeAtomic } from '../writeAtomic.ts'
import { inferRemote } from './inferRemote.ts'

export type InferFlags = ReadInputsOptions & {
  input: string
  out?: string
  key?: string
  /** Leave the output tensors out of the receipt (only their hash is kept). */
  omitOutput?: boolean
  /** Run on this node (through the SDK) instead of locally. */
  node?: string
  /** Verification mode (`none` | `reexec` | `zk`); needs `node` for anything but `none`. */
  mode?: string
  /** Verifiers that must co-sign (`reexec`). */
  quorum?: string
  /** With `node`: wait until the receipt is committed on-chain (up to this many seconds, default 120). */
  waitSettled?: string | boolean
}

/**
 * `verity infer MODEL --input FILE`: runs a stored model locally with the pinned engine and writes a
 * receipt signed by the local key (mode `none`). With `--node URL` the model runs on that node
 * instead (see {@link inferRemote}).
 */
export async function infer(
  io: Io,
  options: CliOptions,
  reference: string,
  flags: InferFlags,
): Promise<number> {
  if (flags.node !== undefined)
    return inferRemote(io, options, reference, { ...flags, node: flags.node })
  if ((flags.mode !== undefined && flags.mode !== 'none') || flags.quorum !== undefined)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--mode ${flags.mode ?? 'none'}${flags.quorum ? ` --quorum ${flags.quorum}` : ''} needs --node: local runs are signed by your key only (mode none).`,
      { metaMessages: ['Pass --node URL to have staked verifiers re-execute and co-sign.'] },
    )
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
      ...Object.entries(outputs).map(
        ([name, tensor]) => `output    ${name} ${previewTensor(tensor)}`,
      ),
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
