import { join, resolve } from 'node:path'
import {
  BaseError,
  canonicalJson,
  type Mode,
  namedTensorsToJson,
  type Receipt,
} from '@verity/protocol'
import { type Client, getModel, getReceipt, infer } from '@verity/sdk'
import { formatEther } from 'viem'
import { loadAccount } from '../keystore.ts'
import { createNodeClient } from '../nodeClient.ts'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, previewTensor, printResult, short } from '../output.ts'
import { createProgress, type Progress } from '../progress.ts'
import { readInputs } from '../readInputs.ts'
import { writeAtomic } from '../writeAtomic.ts'
import type { InferFlags } from './infer.ts'

const remoteModes = ['none', 'reexec', 'zk'] as const satisfies readonly Mode[]

function parseMode(flags: InferFlags): { mode: Mode; quorum: number | undefined } {
  const mode = (flags.mode ?? 'none') as Mode
  if (!(remoteModes as readonly string[]).includes(mode))
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--mode must be one of ${remoteModes.join(', ')}; got "${flags.mode}".`,
    )
  if (flags.quorum === undefined) return { mode, quorum: undefined }
  if (!/^\d+$/.test(flags.quorum) || Number(flags.quorum) < 1 || Number(flags.quorum) > 255)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--quorum must be an integer from 1 to 255; got "${flags.quorum}".`,
    )
  if (mode !== 'reexec')
    throw new BaseError('INVALID_ARGUMENT', '--quorum needs --mode reexec.', {
      metaMessages: ['Mode none is signed by the executor alone; it has no verifiers.'],
    })
  return { mode, quorum: Number(flags.quorum) }
}

function parseWait(value: string | boolean | undefined): number | undefined {
  if (value === undefined || value === false) return undefined
  if (value === true) return 120
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 86_400)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `--wait-settled must be a number of seconds from 1 to 86400; got "${value}".`,
    )
  return Number(value)
}

/**
 * Polls the node until the receipt carries its `settlement` section (the executor committed its
 * batch on-chain), showing the wait as a progress step.
 */
async function waitForSettlement(
  client: Client,
  progress: Progress,
  receipt: Receipt,
  seconds: number,
): Promise<Receipt> {
  const step = progress.step(`Waiting for settlement (the executor commits its batch on-chain)`)
  const started = performance.now()
  try {
    for (;;) {
      const current = await getReceipt(client, { id: receipt.job.id })
      if (current.settlement) {
        step.done(
          `batch ${current.settlement.batchId}, tx ${short(current.settlement.transactionHash)}`,
        )
        return current
      }
      const waited = (performance.now() - started) / 1000
      if (waited > seconds)
        throw new BaseError(
          'RECEIPT_NOT_SETTLED',
          `Job ${receipt.job.id} was not committed on-chain within ${seconds} s.`,
          {
            metaMessages: [
              'The receipt is valid; it settles with the executor’s next batch. Fetch it later: GET /v1/receipts/<job id>.',
              receipt.job.requester === '0x0000000000000000000000000000000000000000'
                ? 'Unsigned requests are never settled: pass --key.'
                : 'Is the node connected to a chain (verity node --network FILE)?',
            ],
          },
        )
      step.update(`${waited.toFixed(0)} s`)
      await new Promise((resolve) => setTimeout(resolve, 1000))
    }
  } catch (error) {
    step.fail()
    throw error
  }
}

/**
 * `verity infer MODEL --input FILE --node URL [--mode none|reexec|zk] [--quorum K] [--out FILE]`:
 * signs an inference request with the local key, has the node run it (through the SDK), verifies
 * the receipt offline (SDK `infer`: signatures, hashes, manifest, inputs, executor, quorum, and in
 * mode `zk` the Groth16 proof against the inputs and the manifest's key) and writes it. Exit 0
 * only with a receipt that verified.
 *
 * @example
 * ```ts
 * await inferRemote(io, options, 'digits-mlp-int8', { input: 'digit.png', node: 'http://127.0.0.1:8546' })
 * ```
 */
export async function inferRemote(
  io: Io,
  options: CliOptions,
  reference: string,
  flags: InferFlags & { node: string },
): Promise<number> {
  const { mode, quorum } = parseMode(flags)
  const waitSeconds = parseWait(flags.waitSettled)
  const paths = homePaths(options.home)
  const account = await loadAccount({
    file: resolve(flags.key ?? paths.key),
    explicitFile: flags.key !== undefined,
    env: process.env,
  })
  const client = createNodeClient(flags.node, { account })
  const progress = createProgress(io, { plain: false })
  const step = progress.step(`Running ${reference} on ${client.transport.url} (mode ${mode})`)
  try {
    const model = await getModel(client, { model: reference })
    const inputs = await readInputs(resolve(flags.input), model.manifest, flags)
    const started = performance.now()
    const result = await infer(client, {
      model: model.cid,
      inputs,
      mode,
      ...(quorum === undefined ? {} : { quorum }),
      ...(flags.omitOutput ? { includeOutput: false } : {}),
    })
    const durationMs = performance.now() - started
    step.done('receipt verified')
    const receipt =
      waitSeconds === undefined
        ? result.receipt
        : await waitForSettlement(client, progress, result.receipt, waitSeconds)
    const out = resolve(flags.out ?? join(paths.receipts, `${receipt.job.id}.json`))
    await writeAtomic(out, `${canonicalJson(receipt)}\n`)
    const quorumLine = receipt.quorum
      ? `quorum    ${receipt.quorum.attestations.filter((a) => a.agree).length}/${receipt.quorum.threshold} verifiers agree (${receipt.quorum.attestations.map((a) => short(a.verifier)).join(', ')})`
      : undefined
    const human = [
      `model     ${model.manifest.name}@${model.manifest.version} (${short(model.cid)})`,
      `node      ${client.transport.url} (executor ${receipt.executor.address})`,
      ...Object.entries(result.outputs).map(
        ([name, tensor]) => `output    ${name} ${previewTensor(tensor)}`,
      ),
      `mode      ${receipt.job.mode}`,
      ...(receipt.zk
        ? [
            `proof     groth16 over ${receipt.zk.publicSignals.length} public signals, ${model.manifest.zk?.constraints ?? '?'} constraints (proof, output, input and model checked offline)`,
          ]
        : []),
      ...(quorumLine ? [quorumLine] : []),
      `time      ${durationMs.toFixed(1)} ms (round trip)`,
      `job       ${receipt.job.id}${result.replayed ? ' (answered from the node’s store)' : ''}`,
      ...(receipt.settlement
        ? [
            `settled   batch ${receipt.settlement.batchId}, fee ${formatEther(BigInt(receipt.settlement.fee))} ETH, tx ${receipt.settlement.transactionHash}`,
          ]
        : []),
      `receipt   ${out} (verified offline)`,
    ].join('\n')
    printResult(io, options, human, {
      model: { name: model.manifest.name, version: model.manifest.version, cid: model.cid },
      node: client.transport.url,
      executor: receipt.executor.address,
      mode: receipt.job.mode,
      outputs: namedTensorsToJson(result.outputs, { encoding: 'data' }),
      durationMs,
      jobId: receipt.job.id,
      replayed: result.replayed,
      verified: result.verdict.valid,
      receiptPath: out,
      receipt,
    })
    return 0
  } catch (error) {
    step.fail()
    throw error
  }
}
