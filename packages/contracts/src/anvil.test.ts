import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { createPublicClient, createWalletClient, http, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { foundry } from 'viem/chains'
import { anvilBinaryPath, startAnvil } from './anvil.ts'

async function rpc(url: string, method: string, params: unknown[] = []): Promise<unknown> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
    signal: AbortSignal.timeout(2_000),
  })
  const body = (await response.json()) as { result: unknown }
  return body.result
}

/** Polls until `url` refuses connections (or fails after `timeoutMs`). */
async function waitUntilDown(url: string, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      await rpc(url, 'eth_chainId')
    } catch {
      return true
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return false
}

test('default: starts on a free port with the well-known dev keys and stops', async () => {
  const anvil = await startAnvil()
  try {
    assert.match(anvil.rpcUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(anvil.chainId, 31337)
    assert.equal(await rpc(anvil.rpcUrl, 'eth_chainId'), '0x7a69')
    assert.equal(anvil.privateKeys.length, 10)
    // anvil's default mnemonic, m/44'/60'/0'/0/0 and /1
    assert.equal(
      anvil.privateKeys[0],
      '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
    )
    assert.equal(
      privateKeyToAccount(anvil.privateKeys[1]!).address,
      '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    )
    const accounts = (await rpc(anvil.rpcUrl, 'eth_accounts')) as string[]
    assert.deepEqual(
      accounts.map((a) => a.toLowerCase()),
      anvil.privateKeys.map((k) => privateKeyToAccount(k).address.toLowerCase()),
    )
  } finally {
    await anvil.stop()
  }
  assert.equal(await waitUntilDown(anvil.rpcUrl), true)
  await anvil.stop() // idempotent
})

test('behavior: chainId, accounts, balance and blockTime options reach anvil', async () => {
  const anvil = await startAnvil({ chainId: 1337, accounts: 2, balanceEth: 5, blockTime: 2 })
  try {
    assert.equal(anvil.chainId, 1337)
    assert.equal(anvil.privateKeys.length, 2)
    const client = createPublicClient({ transport: http(anvil.rpcUrl) })
    assert.equal(await client.getChainId(), 1337)
    const address = privateKeyToAccount(anvil.privateKeys[0]!).address
    assert.equal(await client.getBalance({ address }), parseEther('5'))
    assert.equal(await rpc(anvil.rpcUrl, 'anvil_getAutomine'), false)
  } finally {
    await anvil.stop()
  }
})

test('behavior: two anvils run side by side on different ports', async () => {
  const [a, b] = await Promise.all([startAnvil({ accounts: 1 }), startAnvil({ accounts: 1 })])
  try {
    assert.notEqual(a.rpcUrl, b.rpcUrl)
    assert.equal(await rpc(a.rpcUrl, 'eth_chainId'), '0x7a69')
    assert.equal(await rpc(b.rpcUrl, 'eth_chainId'), '0x7a69')
  } finally {
    await Promise.all([a.stop(), b.stop()])
  }
})

test('behavior: stateFile keeps the chain across restarts', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'verity-anvil-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const stateFile = join(dir, 'state.json')
  const recipient = '0x000000000000000000000000000000000000bEEF'

  const first = await startAnvil({ accounts: 1, stateFile })
  try {
    const wallet = createWalletClient({
      account: privateKeyToAccount(first.privateKeys[0]!),
      chain: foundry,
      transport: http(first.rpcUrl),
    })
    const hash = await wallet.sendTransaction({ to: recipient, value: 12345n })
    await createPublicClient({ transport: http(first.rpcUrl) }).waitForTransactionReceipt({ hash })
  } finally {
    await first.stop()
  }
  assert.equal(existsSync(stateFile), true)

  const second = await startAnvil({ accounts: 1, stateFile })
  try {
    const client = createPublicClient({ transport: http(second.rpcUrl) })
    assert.equal(await client.getBalance({ address: recipient }), 12345n)
    assert.ok((await client.getBlockNumber()) >= 1n)
  } finally {
    await second.stop()
  }
})

test('behavior: aborting the signal stops anvil', async () => {
  const controller = new AbortController()
  const anvil = await startAnvil({ accounts: 1, signal: controller.signal })
  assert.equal(await rpc(anvil.rpcUrl, 'eth_chainId'), '0x7a69')
  controller.abort()
  assert.equal(await waitUntilDown(anvil.rpcUrl), true)
})

test('error: an already aborted signal rejects before spawning', async () => {
  await assert.rejects(startAnvil({ signal: AbortSignal.abort() }), { name: 'AbortError' })
})

test('behavior: anvil dies with its parent, even on SIGKILL', async () => {
  const script = `
    const { startAnvil } = await import(${JSON.stringify(new URL('./anvil.ts', import.meta.url).href)})
    const anvil = await startAnvil({ accounts: 1 })
    console.log(anvil.rpcUrl)
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const rpcUrl = await new Promise<string>((resolve, reject) => {
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const match = /http:\/\/\S+/.exec(out)
      if (match) resolve(match[0])
    })
    child.once('exit', (code) => reject(new Error(`child exited early (${code})`)))
  })
  assert.equal(await rpc(rpcUrl, 'eth_chainId'), '0x7a69')
  child.kill('SIGKILL')
  assert.equal(await waitUntilDown(rpcUrl), true, 'anvil outlived its killed parent')
})

test('error: invalid options are rejected with INVALID_ARGUMENT', async () => {
  for (const options of [
    { port: -1 },
    { port: 70_000 },
    { chainId: 0 },
    { accounts: 0 },
    { blockTime: 0.5 },
    { balanceEth: -1 },
  ]) {
    await assert.rejects(startAnvil(options), (error) => isBaseError(error, 'INVALID_ARGUMENT'))
  }
})

test('error: a port in use fails with anvil output in the details', async () => {
  const first = await startAnvil({ accounts: 1 })
  try {
    const port = Number(new URL(first.rpcUrl).port)
    await assert.rejects(startAnvil({ accounts: 1, port }), (error) => {
      assert.ok(isBaseError(error, 'CHAIN_UNAVAILABLE'))
      assert.match(error.shortMessage, /exited during start-up/)
      assert.ok(error.details && error.details.length > 0)
      return true
    })
  } finally {
    await first.stop()
  }
})

test('default: anvilBinaryPath points at the installed binary', () => {
  const bin = anvilBinaryPath()
  assert.match(bin, /anvil-linux-amd64\/bin\/anvil$/)
  assert.equal(existsSync(bin), true)
})
