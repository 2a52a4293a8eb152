import assert from 'node:assert/strict'
import { type TestContext, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type BaseError, type ErrorCode, isBaseError } from '@verity/protocol'
import {
  createWorkerProcess,
  type WorkerCallOptions,
  type WorkerProcess,
  type WorkerProcessComponents,
} from './createWorkerProcess.ts'
import type { TestWorkerCall, TestWorkerReady } from './testWorker.ts'

type TestWorker = WorkerProcess<TestWorkerCall, TestWorkerReady, number>

const entry = fileURLToPath(new URL('./testWorker.ts', import.meta.url))
const run: WorkerCallOptions<number> = { failureCode: 'ENGINE_RUN_FAILED', what: 'the test call' }

function start(
  t: TestContext,
  mode = 'serve',
  components: WorkerProcessComponents<TestWorkerCall, TestWorkerReady, number> = {},
  startTimeoutMs = 30_000,
): Promise<TestWorker> {
  const started = createWorkerProcess<TestWorkerCall, TestWorkerReady, number>(
    {
      entry,
      args: [mode],
      name: 'test worker process',
      startTimeoutMs,
      startHints: ['Check the test worker.'],
      timeoutHints: ['The test worker was killed.'],
      abortHints: ['The test worker was stopped.'],
    },
    components,
  )
  t.after(async () => {
    const worker = await started.catch(() => undefined)
    await worker?.kill(true)
  })
  return started
}

async function rejectsWith(
  promise: Promise<unknown>,
  code: ErrorCode,
  includes?: string,
): Promise<BaseError> {
  let caught: unknown
  await assert.rejects(promise, (error) => {
    caught = error
    return true
  })
  assert.ok(isBaseError(caught), `expected a BaseError, got ${String(caught)}`)
  assert.equal(caught.code, code, caught.message)
  if (includes !== undefined) assert.ok(caught.message.includes(includes), caught.message)
  return caught
}

test('default: a call resolves with what the worker answers; ready is what it sent', async (t) => {
  const worker = await start(t)
  assert.deepEqual(worker.ready, { mode: 'serve' })
  assert.equal(typeof worker.pid, 'number')
  assert.equal(worker.alive, true)
  assert.equal(worker.loaded.size, 0)
  const bytes = new Uint8Array([1, 2, 3])
  const [first, second] = await Promise.all([
    worker.request<Uint8Array>({ type: 'echo', value: bytes }, run).result,
    worker.request<string>({ type: 'echo', value: 'second' }, run).result,
  ])
  assert.ok(first instanceof Uint8Array, 'typed arrays keep their class')
  assert.deepEqual([...first], [1, 2, 3])
  assert.equal(second, 'second')
})

test('error: a failure in the worker rejects with its code and message', async (t) => {
  const worker = await start(t)
  await rejectsWith(
    worker.request({ type: 'fail' }, run).result,
    'INVALID_ARGUMENT',
    'asked to fail',
  )
  // A WorkerFailure thrown by the handler keeps its own code (not INTERNAL).
  await rejectsWith(worker.request({ type: 'throw' }, run).result, 'MODEL_NOT_FOUND', 'threw')
  assert.equal(await worker.request({ type: 'echo', value: 1 }, run).result, 1)
})

test('error: a crash fails the calls in flight with their failure code and the stderr tail', async (t) => {
  const exits: TestWorker[] = []
  const worker = await start(t, 'serve', { onExit: (exited) => exits.push(exited) })
  const crash = worker.request({ type: 'crash' }, run)
  const queued = worker.request({ type: 'echo', value: 1 }, { ...run, failureCode: 'INTERNAL' })
  const error = await rejectsWith(
    crash.result,
    'ENGINE_RUN_FAILED',
    'The worker process exited with code 3 during the test call.',
  )
  assert.ok(error.details?.includes('crashing on purpose'), error.details)
  await rejectsWith(queued.result, 'INTERNAL', 'exited with code 3')
  await crash.finished
  assert.equal(worker.alive, false)
  assert.deepEqual(exits, [worker])
  await rejectsWith(
    worker.request({ type: 'echo', value: 1 }, run).result,
    'ENGINE_RUN_FAILED',
    'is gone before the test call',
  )
  // The owner starts a new process, and it serves.
  const next = await start(t)
  assert.notEqual(next.pid, worker.pid)
  assert.equal(await next.request({ type: 'echo', value: 'again' }, run).result, 'again')
})

test('error: a timeout rejects with ENGINE_TIMEOUT and, without grace, kills the process', async (t) => {
  const exits: TestWorker[] = []
  const worker = await start(t, 'serve', { onExit: (exited) => exits.push(exited) })
  const call = worker.request({ type: 'hang' }, { ...run, what: 'hanging', timeoutMs: 1 })
  const error = await rejectsWith(
    call.result,
    'ENGINE_TIMEOUT',
    'Hanging did not finish within 1 ms and was stopped.',
  )
  assert.deepEqual(error.metaMessages, ['The test worker was killed.'])
  await call.finished
  assert.equal(worker.alive, false)
  assert.deepEqual(exits, [worker])
})

test('behavior: an abort with grace cancels the call and the process keeps serving', async (t) => {
  const worker = await start(t)
  const controller = new AbortController()
  const seen: number[] = []
  const call = worker.request(
    { type: 'count', limit: 1_000_000_000 },
    {
      ...run,
      signal: controller.signal,
      graceMs: 600_000,
      onEvent: (event) => {
        seen.push(event)
        if (event === 2) controller.abort(new Error('client went away'))
      },
    },
  )
  const error = await rejectsWith(call.result, 'ENGINE_ABORTED', 'The call for the test call')
  assert.deepEqual(error.metaMessages, ['The test worker was stopped.'])
  await call.finished
  assert.deepEqual(seen, [0, 1, 2], 'no events after the call was answered')
  assert.equal(worker.alive, true)
  assert.equal(await worker.request({ type: 'echo', value: 'next' }, run).result, 'next')
})

test('behavior: a call that does not stop within its grace is killed', async (t) => {
  const worker = await start(t)
  const controller = new AbortController()
  const call = worker.request({ type: 'hang' }, { ...run, signal: controller.signal, graceMs: 1 })
  controller.abort()
  await rejectsWith(call.result, 'ENGINE_ABORTED')
  await call.finished
  assert.equal(worker.alive, false)
})

test('behavior: a throwing onEvent stops the call and rejects with what it threw', async (t) => {
  const worker = await start(t)
  const thrown = new Error('consumer failed')
  const call = worker.request(
    { type: 'count', limit: 1_000_000_000 },
    {
      ...run,
      graceMs: 600_000,
      onEvent: () => {
        throw thrown
      },
    },
  )
  await assert.rejects(call.result, (error) => error === thrown)
  await call.finished
  assert.equal(worker.alive, true)
})

test('error: an already aborted signal never sends the call', async (t) => {
  const worker = await start(t)
  await rejectsWith(
    worker.request({ type: 'crash' }, { ...run, signal: AbortSignal.abort() }).result,
    'ENGINE_ABORTED',
    'The call for the test call was aborted.',
  )
  assert.equal(await worker.request({ type: 'echo', value: 'alive' }, run).result, 'alive')
})

test('behavior: kill(true) fails the calls in flight and later ones with ENGINE_CLOSED', async (t) => {
  const worker = await start(t)
  const call = worker.request({ type: 'hang' }, run)
  await worker.kill(true)
  await rejectsWith(call.result, 'ENGINE_CLOSED', 'The engine was closed during the test call.')
  await rejectsWith(
    worker.request({ type: 'echo', value: 1 }, run).result,
    'ENGINE_CLOSED',
    'The engine was closed before the test call.',
  )
})

test('behavior: the components signal stops the process like kill(true)', async (t) => {
  const controller = new AbortController()
  const exits: TestWorker[] = []
  const worker = await start(t, 'serve', {
    signal: controller.signal,
    onExit: (exited) => exits.push(exited),
  })
  const call = worker.request({ type: 'hang' }, run)
  controller.abort()
  await rejectsWith(call.result, 'ENGINE_CLOSED', 'during the test call')
  assert.equal(worker.alive, false)
  assert.deepEqual(exits, [worker])
})

test('error: a start aborted by the components signal is ENGINE_ABORTED', async (t) => {
  await rejectsWith(
    start(t, 'serve', { signal: AbortSignal.abort() }),
    'ENGINE_ABORTED',
    'The start of the test worker process was aborted.',
  )
  const controller = new AbortController()
  const starting = start(t, 'silent', { signal: controller.signal })
  controller.abort()
  await rejectsWith(starting, 'ENGINE_ABORTED')
})

test('error: a process that exits while starting is ENGINE_LOAD_FAILED with its stderr', async (t) => {
  const error = await rejectsWith(
    start(t, 'exit'),
    'ENGINE_LOAD_FAILED',
    'The test worker process exited while starting.',
  )
  assert.deepEqual(error.metaMessages, ['Check the test worker.'])
  assert.ok(error.details?.includes('cannot start'), error.details)
})

test('error: a process that never sends ready is ENGINE_TIMEOUT', async (t) => {
  await rejectsWith(
    start(t, 'silent', {}, 200),
    'ENGINE_TIMEOUT',
    'The test worker process did not start within 200 ms.',
  )
})
