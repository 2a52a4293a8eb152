import { resolve } from 'node:path'
import { verifyReceiptOnChain } from '@verity/contracts'
import { createModelStore } from '@verity/hub'
import { BaseError, type VerifyReceiptOptions, verifyReceipt } from '@verity/protocol'
import { createPublicClient, http, isAddress } from 'viem'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, printResult } from '../output.ts'
import { readInputs, readUserFile } from '../readInputs.ts'

export type VerifyFlags = {
  /** Also check the receipt against this locally stored model's manifest. */
  model?: string
  /** Also check the receipt's input hash against this input file (needs --model). */
  input?: string
  /** Require this executor address. */
  executor?: string
  /** Also check the receipt against this chain (JSON-RPC URL): stakes, model, settlement. */
  rpc?: string
}

function rpcUrl(value: string): string {
  let url: URL | undefined
  try {
    url = new URL(value)
  } catch {}
  if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new BaseError('INVALID_ARGUMENT', `--rpc ${value} is not an http(s) URL.`, {
      metaMessages: ["For example --rpc http://127.0.0.1:8545 (an RPC of the receipt's chain)."],
    })
  return url.href
}

const marks = { pass: '✓', fail: '✗', skip: '-' } as const

/**
 * `verity verify RECEIPT [--rpc URL]`: checks a receipt offline and, with `--rpc`, against the
 * chain it names (`verifyReceiptOnChain`); prints every check; exit 0 only if none failed. A zk
 * receipt's proof is always checked; `--model` (a stored model whose manifest has the zk section)
 * and `--input` also tie it to the model's verification key and to the input bytes.
 */
export async function verify(
  io: Io,
  options: CliOptions,
  file: string,
  flags: VerifyFlags,
): Promise<number> {
  const text = (await readUserFile(resolve(file), 64 * 1024 * 1024)).toString('utf8')
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new BaseError('INVALID_JSON', `${file} is not valid JSON.`, {
      details: (error as Error).message,
    })
  }
  const context: VerifyReceiptOptions = {}
  if (flags.executor !== undefined) {
    if (!isAddress(flags.executor))
      throw new BaseError('INVALID_ARGUMENT', `--executor ${flags.executor} is not an address.`)
    context.expectedExecutor = flags.executor
  }
  if (flags.input !== undefined && flags.model === undefined)
    throw new BaseError(
      'INVALID_ARGUMENT',
      '--input needs --model to know how to read the input file.',
    )
  if (flags.model !== undefined) {
    const model = await createModelStore({ dir: homePaths(options.home).store }).resolve(
      flags.model,
    )
    context.manifest = model.manifest
    if (flags.input !== undefined)
      context.inputs = await readInputs(resolve(flags.input), model.manifest)
  }
  const rpc = flags.rpc === undefined ? undefined : rpcUrl(flags.rpc)
  const verdict =
    rpc === undefined
      ? await verifyReceipt(value, context)
      : await verifyReceiptOnChain({
          ...context,
          receipt: value,
          publicClient: createPublicClient({
            transport: http(rpc, { retryCount: 1, timeout: 10_000 }),
          }),
        })
  const width = Math.max(20, ...verdict.checks.map((check) => check.name.length))
  const lines = verdict.checks.map(
    (check) =>
      `${marks[check.status]} ${check.name.padEnd(width)} ${check.reason}${check.code ? ` [${check.code}]` : ''}`,
  )
  if (verdict.checks.some((check) => check.name.startsWith('zk.') && check.status === 'skip'))
    lines.push(
      'note: the proof was not tied to an input or a model: pass --model and --input to check both',
    )
  lines.push(verdict.valid ? 'receipt is valid' : `receipt is INVALID (${verdict.code})`)
  printResult(io, options, lines.join('\n'), {
    valid: verdict.valid,
    ...(verdict.code ? { code: verdict.code } : {}),
    checks: verdict.checks,
    ...('chain' in verdict && verdict.chain ? { chain: verdict.chain } : {}),
    ...(verdict.receipt
      ? { jobId: verdict.receipt.job.id, executor: verdict.receipt.executor.address }
      : {}),
  })
  return verdict.valid ? 0 : 1
}
