import { Readable } from 'node:stream'
import { main } from '../main.ts'

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary fields of the CLI's JSON output
export type CliRun = { code: number; stdout: string; stderr: string; json: () => any }

/**
 * Runs the real `verity` command tree in this process with captured output. Test helper.
 *
 * @example
 * ```ts
 * const run = await runCli(['--home', home, 'keys', 'new'])
 * ```
 */
export async function runCli(
  argv: string[],
  env: Record<string, string | undefined> = {},
  options: { stdin?: string } = {},
): Promise<CliRun> {
  let stdout = ''
  let stderr = ''
  const saved = Object.fromEntries(Object.keys(env).map((key) => [key, process.env[key]]))
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete process.env[key]
    else process.env[key] = value
  }
  try {
    const code = await main(argv, {
      stdout: (text) => {
        stdout += text
      },
      stderr: (text) => {
        stderr += text
      },
      ...(options.stdin === undefined ? {} : { stdin: Readable.from([options.stdin]) }),
    })
    return { code, stdout, stderr, json: () => JSON.parse(stdout) }
  } finally {
    for (const [key, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[key]
      else process.env[key] = value
    }
  }
}

/** `../shared/assets` beside the repository, or undefined when absent. */
export const sharedAssets = new URL('../../../../../shared/assets/', import.meta.url)
