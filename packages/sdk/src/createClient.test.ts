import assert from 'node:assert/strict'
import { test } from 'node:test'
import { privateKeyToAccount } from 'viem/accounts'
import { createClient } from './createClient.ts'
import { http, type Transport } from './transports/http.ts'

test('default: a client holds its transport, account and pinned domain', () => {
  const account = privateKeyToAccount(`0x${'22'.repeat(32)}`)
  const client = createClient({
    transport: http('http://127.0.0.1:1'),
    account,
    domain: { chainId: 5 },
  })
  assert.equal(client.transport.url, 'http://127.0.0.1:1')
  assert.equal(client.account?.address, account.address)
  assert.deepEqual(client.domain, { chainId: 5 })
  assert.equal(client.cache.size, 0)
})

test('error: a client needs a transport', () => {
  assert.throws(() => createClient({ transport: undefined as unknown as Transport }), {
    code: 'INVALID_ARGUMENT',
    message: /needs a transport/,
  })
})
