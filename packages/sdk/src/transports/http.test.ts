import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, test } from 'node:test'
import { http } from './http.ts'

const servers: Server[] = []
after(() => {
  for (const server of servers) {
    server.closeAllConnections()
    server.close()
  }
})

/** A real loopback HTTP server answering with `handler`; returns its URL. */
async function serve(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

function reply(status: number, body: string, type = 'application/json') {
  return (_: IncomingMessage, response: ServerResponse) => {
    response.writeHead(status, { 'content-type': type })
    response.end(body)
  }
}

test('default: sends JSON and query, returns status, headers and parsed data', async () => {
  let seen: Record<string, string | undefined> = {}
  const url = await serve((request, response) => {
    let body = ''
    request.setEncoding('utf8').on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      seen = {
        method: request.method,
        url: request.url,
        type: request.headers['content-type'],
        body,
      }
      response.writeHead(201, { 'content-type': 'application/json', 'x-test': 'yes' })
      response.end('{"ok":true}')
    })
  })
  const transport = http(`${url}/`)
  assert.equal(transport.url, url)
  const result = await transport.request<{ ok: boolean }>({
    method: 'POST',
    path: '/v1/thing',
    query: { name: 'a b', skipped: undefined },
    json: { x: 1 },
  })
  assert.equal(result.status, 201)
  assert.equal(result.headers.get('x-test'), 'yes')
  assert.deepEqual(result.data, { ok: true })
  assert.deepEqual(seen, {
    method: 'POST',
    url: '/v1/thing?name=a+b',
    type: 'application/json',
    body: '{"x":1}',
  })
})

test('behavior: a Verity error body becomes a BaseError with the same code and hints', async () => {
  const url = await serve(
    reply(
      404,
      JSON.stringify({
        error: { code: 'MODEL_NOT_FOUND', message: 'No model "x".', hints: ['Add it.'] },
      }),
    ),
  )
  await assert.rejects(http(url).request({ method: 'GET', path: '/v1/models/x' }), {
    name: 'VerityError',
    code: 'MODEL_NOT_FOUND',
    shortMessage: 'No model "x".',
    metaMessages: ['Add it.'],
  })
})

test('error: an error status without a Verity body, and a success that is not JSON', async () => {
  const proxy = await serve(reply(502, '<html>bad gateway</html>', 'text/html'))
  await assert.rejects(http(proxy).request({ method: 'GET', path: '/v1/health' }), {
    code: 'HTTP_ERROR',
    message: /HTTP 502 without a Verity error body/,
  })
  const text = await serve(reply(200, 'hello', 'text/plain'))
  await assert.rejects(http(text).request({ method: 'GET', path: '/v1/health' }), {
    code: 'INVALID_JSON',
  })
})

test('error: unreachable, slow and aborted requests', async () => {
  const closed = await serve(reply(200, '{}'))
  const server = servers.pop() as Server
  await new Promise((resolve) => server.close(resolve))
  await assert.rejects(http(closed).request({ method: 'GET', path: '/v1/health' }), {
    code: 'NODE_UNAVAILABLE',
    message: /Cannot reach the Verity node at .*ECONNREFUSED/,
  })
  const silent = await serve(() => {}) // accepts and never answers
  await assert.rejects(
    http(silent, { timeoutMs: 100 }).request({ method: 'GET', path: '/v1/health' }),
    {
      code: 'REQUEST_TIMEOUT',
      message: /did not answer GET \/v1\/health within 100 ms/,
    },
  )
  const controller = new AbortController()
  const pending = http(silent).request({
    method: 'GET',
    path: '/v1/health',
    signal: controller.signal,
  })
  controller.abort()
  await assert.rejects(pending, { code: 'ABORTED', message: /was aborted/ })
})

test('error: a URL that is not http(s)', () => {
  assert.throws(() => http('not a url'), { code: 'INVALID_ARGUMENT' })
  assert.throws(() => http('ftp://example.com'), { code: 'INVALID_ARGUMENT' })
})
