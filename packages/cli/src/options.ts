import { homedir } from 'node:os'
import { join, resolve } from 'node:path'

/** Options shared by every command. */
export type CliOptions = {
  /** Data directory: keys, model store, receipts. */
  home: string
  json: boolean
  verbose: boolean
}

/**
 * Defaults: `$VERITY_HOME`, else `~/.verity`.
 *
 * @example
 * ```ts
 * const { home } = defaultCliOptions(process.env)
 * ```
 */
export function defaultCliOptions(env: NodeJS.ProcessEnv = process.env): CliOptions {
  return {
    home: resolve(env.VERITY_HOME ?? join(homedir(), '.verity')),
    json: false,
    verbose: false,
  }
}

/** Where things live inside the data directory. */
export function homePaths(home: string) {
  return {
    key: join(home, 'key.json'),
    store: join(home, 'store'),
    receipts: join(home, 'receipts'),
    /** zk artifacts (`verity zk compile`), where `model add` and `verity node` look for them. */
    zk: join(home, 'zk'),
  }
}
