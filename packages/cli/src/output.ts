import { BaseError, toBaseError } from '@verity/protocol'
import type { CliOptions } from './options.ts'

/** Where a command writes: stdout for results, stderr for progress and errors. */
export type Io = {
  stdout: (text: string) => void
  stderr: (text: string) => void
}

export const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
}

/** Prints a command's result: its JSON form with `--json`, else the human text. */
export function printResult(io: Io, options: CliOptions, human: string, json: unknown): void {
  if (options.json) io.stdout(`${JSON.stringify(json, null, 2)}\n`)
  else io.stdout(human.endsWith('\n') ? human : `${human}\n`)
}

/**
 * Prints an error as one line (`error CODE: message`) plus hints; the stack only with `--verbose`.
 * Errors that are not Verity errors are internal bugs and say so.
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

/** `0x1234…abcd` for long hex strings in human output. */
export function short(hex: string): string {
  return hex.length > 20 ? `${hex.slice(0, 10)}…${hex.slice(-6)}` : hex
}
