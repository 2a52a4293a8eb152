// Entry point of the tiny worker process that `createWorkerProcess.test.ts` forks (not imported at
// run time by anything). Its argv[2] picks how it starts: `serve` (the default) serves calls,
// `exit` writes to stderr and exits before `ready`, `silent` never sends `ready`.
import { serveWorkerRequests } from './serveWorkerRequests.ts'
import { WorkerFailure, workerFailure } from './workerFailure.ts'

/**
 * The calls the test worker answers: `echo` returns its value, `fail` answers with a failure,
 * `throw` throws a `WorkerFailure`, `hang` never answers, `crash` writes to stderr and exits with
 * code 3, `count` emits events until it reaches `limit` or is cancelled.
 *
 * @example
 * ```ts
 * const value = await worker.request<string>({ type: 'echo', value: 'hi' }, options).result
 * ```
 */
export type TestWorkerCall =
  | { type: 'echo'; value: unknown }
  | { type: 'fail' }
  | { type: 'throw' }
  | { type: 'hang' }
  | { type: 'crash' }
  | { type: 'count'; limit: number }

/**
 * What the test worker reports when ready.
 *
 * @example
 * ```ts
 * const ready: TestWorkerReady = { mode: 'serve' }
 * ```
 */
export type TestWorkerReady = { mode: string }

const mode = process.argv[2] ?? 'serve'
if (mode === 'exit') {
  process.stderr.write('test worker: cannot start\n')
  process.exit(2)
} else if (mode === 'silent') {
  // Stay alive (the IPC channel is kept open by a listener) without ever sending `ready`.
  process.on('message', () => {})
} else
  serveWorkerRequests<TestWorkerCall, TestWorkerReady, number>(
    { ready: { mode }, unexpected: 'The test worker failed unexpectedly.' },
    {
      async handle(call, context) {
        switch (call.type) {
          case 'echo':
            return { ok: true, value: call.value }
          case 'fail':
            return workerFailure('INVALID_ARGUMENT', 'The test worker was asked to fail.')
          case 'throw':
            throw new WorkerFailure('MODEL_NOT_FOUND', 'The test worker threw.')
          case 'hang':
            return new Promise(() => {})
          case 'crash':
            process.stderr.write('test worker: crashing on purpose\n')
            process.exit(3)
            break
          case 'count': {
            let count = 0
            while (count < call.limit && !context.cancelled()) {
              context.emit(count++)
              await new Promise((resolve) => setImmediate(resolve))
            }
            return { ok: true, value: { count, cancelled: context.cancelled() } }
          }
        }
        return workerFailure('INTERNAL', 'Unknown call.')
      },
    },
  )
