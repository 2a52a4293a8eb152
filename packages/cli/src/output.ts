import type { Readable } from 'node:stream'
import { BaseError, type Tensor, toBaseError } from '@verity/protocol'
import type { CliOptions } from './options.ts'

/**
 * Where a command writes: stdout for results, stderr for progress and errors.
 *
 * @example
 * ```ts
 * const io: Io = { stdout: (text) => out.push(text), stderr: (text) => err.push(text) }
 * ```
 */
export type Io = {
  stdout: (text: string) => void
  stderr: (text: string) => void
  /** Whether stderr is a terminal (progress redraws in place there); default false. */
  stderrIsTTY?: boolean | undefined
  /** Lines for interactive commands (`verity chat` without a prompt); default: none (end of input). */
  stdin?: Readable | undefined
}

/**
 * The real process streams.
 *
 * @example
 * ```ts
 * process.exitCode = await main(process.argv.slice(2), processIo)
 * ```
 */
export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  stderrIsTTY: process.stderr.isTTY === true,
  stdin: process.stdin,
}

/**
 * Prints a command's result: its JSON form with `--json`, else the human text.
 *
 * @example
 * ```ts
 * printResult(io, options, `address ${address}`, { address })
 * ```
 */
export function printResult(io: Io, options: CliOptions, human: string, json: unknown): void {
  if (options.json) io.stdout(`${JSON.stringify(json, null, 2)}\n`)
  else io.stdout(human.endsWith('\n') ? human : `${human}\n`)
}

/**
 * Prints an error as one line (`error CODE: message`) plus hints; the stack only with `--verbose`.
 * Errors that are not Verity errors are internal bugs and say so.
 *
 * @example
 * ```ts
 * printError(io, { json: false, verbose: false }, error) // error NODE_UNAVAILABLE: Cannot reach …
 * ```
 */
export function printError(
  io: Io,
  options: Pick<CliOptions, 'json' | 'verbose'>,
  thrown: unknown,
): void {
  const error = thrown instanceof BaseError ? thrown : toBaseError(thrown)
  if (options.json) io.stdout(`${JSON.stringify({ error: error.toJSON() }, null, 2)}\n`)
  else {
    io.stderr(`error ${error.code}: ${error.shortMessage}\n`)
    for (const hint of error.metaMessages) io.stderr(`  ${hint}\n`)
    if (error.details) io.stderr(`  details: ${error.details.split('\n')[0]}\n`)
  }
  if (options.verbose) io.stderr(`${(error.cause as Error | undefined)?.stack ?? error.stack}\n`)
}

/**
 * `0x1234…abcd` for long hex strings in human output.
 *
 * @example
 * ```ts
 * short('0x90F79bf6EB2c4f870365E785982E1f101E93b906') // '0x90F79bf6…93b906'
 * ```
 */
export function short(hex: string): string {
  return hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex
}

/**
 * One line per output tensor: dtype, shape, the first values, and the argmax of a `[1, n]` score
 * vector.
 *
 * @example
 * ```ts
 * previewTensor(logits) // 'int32[1,10] = [-3, 12, …]\n          argmax 7'
 * ```
 */
export function previewTensor(tensor: Tensor): string {
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
