/**
 * Deploys (or reuses) the Verity contracts and prints their addresses.
 *
 *   VERITY_PRIVATE_KEY=0x… node packages/contracts/scripts/deploy.ts --rpc URL --config FILE
 *   node packages/contracts/scripts/deploy.ts --rpc URL --config FILE --key-file deployer.key
 *
 * The deployer key comes from the environment or a file (one 0x-prefixed hex key), never from
 * argv. Exit codes: 0 deployed or reused, 1 failure, 2 usage error.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { isBaseError } from '@verity/protocol'
import { getAddress, isAddress, isHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { deployVerity, networkConfigToJson } from '../src/deploy.ts'

const usage = `Usage: node packages/contracts/scripts/deploy.ts --rpc URL --config FILE [--key-file FILE] [--treasury ADDRESS] [--json]

  --rpc URL          Ethereum JSON-RPC endpoint (e.g. http://127.0.0.1:8545)
  --config FILE      network config to reuse if still deployed, else (re)write
  --key-file FILE    file holding the deployer's 0x-prefixed private key
                     (default: environment variable VERITY_PRIVATE_KEY)
  --treasury ADDRESS receiver of treasury shares (default: the deployer)
  --json             print the whole network config as JSON`

async function main(): Promise<number> {
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      options: {
        rpc: { type: 'string' },
        config: { type: 'string' },
        'key-file': { type: 'string' },
        treasury: { type: 'string' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
    }).values
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`)
    return 2
  }
  if (values.help) {
    console.log(usage)
    return 0
  }
  const rpcUrl = values.rpc
  const configPath = values.config
  if (typeof rpcUrl !== 'string' || typeof configPath !== 'string') {
    console.error(`--rpc and --config are required.\n\n${usage}`)
    return 2
  }
  const keyFile = values['key-file']
  let key: string | undefined
  if (typeof keyFile === 'string') {
    try {
      key = readFileSync(keyFile, 'utf8').trim()
    } catch (error) {
      console.error(`Cannot read the key file ${keyFile}: ${(error as Error).message}`)
      return 2
    }
  } else {
    key = process.env.VERITY_PRIVATE_KEY?.trim()
  }
  if (!key) {
    console.error(`No deployer key: set VERITY_PRIVATE_KEY or pass --key-file.\n\n${usage}`)
    return 2
  }
  if (!isHex(key) || key.length !== 66) {
    // Never echo the key itself.
    console.error('The deployer key must be 32 bytes of 0x-prefixed hex.')
    return 2
  }
  const treasury = values.treasury
  if (
    treasury !== undefined &&
    (typeof treasury !== 'string' || !isAddress(treasury, { strict: false }))
  ) {
    console.error(`--treasury must be an address, got ${String(treasury)}.`)
    return 2
  }

  const started = performance.now()
  const config = await deployVerity({
    rpcUrl,
    account: privateKeyToAccount(key),
    configPath,
    treasury: treasury === undefined ? undefined : getAddress(treasury),
  })
  if (values.json) {
    process.stdout.write(networkConfigToJson(config))
    return 0
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(2)
  console.log(
    `Verity contracts on chain ${config.chainId} (since block ${config.deployedAt.block}), ${seconds} s:`,
  )
  for (const [name, address] of Object.entries(config.contracts))
    console.log(`  ${name.padEnd(14)} ${address}`)
  console.log(`Config: ${configPath}`)
  return 0
}

try {
  process.exitCode = await main()
} catch (error) {
  console.error(isBaseError(error) ? error.message : error)
  process.exitCode = 1
}
