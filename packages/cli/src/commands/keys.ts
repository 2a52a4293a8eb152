import { resolve } from 'node:path'
import { createKeyFile, loadAccount } from '../keystore.ts'
import { type CliOptions, homePaths } from '../options.ts'
import { type Io, printResult } from '../output.ts'

/** `verity keys new [--out FILE] [--force]`: writes a new secp256k1 key file (mode 0600). */
export async function keysNew(
  io: Io,
  options: CliOptions,
  flags: { out?: string; force?: boolean },
): Promise<number> {
  const path = resolve(flags.out ?? homePaths(options.home).key)
  const key = await createKeyFile(path, { force: flags.force ?? false })
  printResult(io, options, `address ${key.address}\nkey     ${path} (mode 0600; keep it secret)`, {
    address: key.address,
    file: path,
  })
  return 0
}

/** `verity keys show [--key FILE]`: prints the address of the active key (never the key). */
export async function keysShow(
  io: Io,
  options: CliOptions,
  flags: { key?: string },
): Promise<number> {
  const file = resolve(flags.key ?? homePaths(options.home).key)
  const account = await loadAccount({
    file,
    explicitFile: flags.key !== undefined,
    env: process.env,
  })
  printResult(io, options, `address ${account.address}`, { address: account.address })
  return 0
}
