// Entry point of an ONNX worker process (forked by `spawnOnnxWorker`; not imported by anything).
// It owns one onnxruntime InferenceSession per model id and answers the engine's requests one at
// a time. It is a process, not a worker thread, so that the engine can kill it in the middle of a
// native ORT call (timeouts, aborts) without taking the host down: terminating a worker thread
// there aborts the whole process (onnxruntime-node throws a C++ exception when V8 is terminated
// under it; reproduced with 1.30 on Linux).
//
// Only onnxruntime and the shared worker loop are imported at run time (protocol types are
// erased): importing @verity/protocol would add ~0.5 s to every worker start. Failures are
// therefore plain `WorkerError` records, which the engine turns back into `BaseError`s.
import type { Tensor } from '@verity/protocol'
import { env, InferenceSession } from 'onnxruntime-node'
import { serveWorkerRequests } from '../worker/serveWorkerRequests.ts'
import { workerFailure } from '../worker/workerFailure.ts'
import type { WorkerOutcome } from '../worker/workerProtocol.ts'
import type {
  OnnxLoadReply,
  OnnxRunReply,
  OnnxValueInfo,
  OnnxWorkerReady,
  OnnxWorkerRequest,
} from './onnxWorkerProtocol.ts'
import { tensorFromOrt, tensorToOrt } from './ortTensor.ts'

// onnxruntime-node 1.30 cannot pass a Float16Array to its native binding (a float16 input fails
// with "not enough space: expected 6, got 0"), yet onnxruntime-common turns float16 tensor data
// into a Float16Array whenever that global exists (Node >= 24). Hide the global in this process,
// before the first tensor is made, so float16 data stays what ORT can read: Uint16Array bits.
Reflect.deleteProperty(globalThis, 'Float16Array')

const sessionOptions = JSON.parse(process.argv[2] ?? '{}') as InferenceSession.SessionOptions
env.logLevel = 'error'
const sessions = new Map<string, InferenceSession>()

function describe(metadata: readonly InferenceSession.ValueMetadata[]): OnnxValueInfo[] {
  return metadata.map((value) =>
    value.isTensor
      ? { name: value.name, isTensor: true, dtype: value.type, shape: [...value.shape] }
      : { name: value.name, isTensor: false },
  )
}

async function release(id: string): Promise<void> {
  const session = sessions.get(id)
  sessions.delete(id)
  await session?.release()
}

async function load(id: string, bytes: Uint8Array): Promise<WorkerOutcome> {
  await release(id)
  try {
    const session = await InferenceSession.create(bytes, sessionOptions)
    sessions.set(id, session)
    const value: OnnxLoadReply = {
      inputs: describe(session.inputMetadata),
      outputs: describe(session.outputMetadata),
    }
    return { ok: true, value }
  } catch (cause) {
    return workerFailure('ENGINE_LOAD_FAILED', `onnxruntime could not load model "${id}".`, cause)
  }
}

async function run(
  id: string,
  inputs: Record<string, Tensor>,
  outputNames: string[],
): Promise<WorkerOutcome> {
  const session = sessions.get(id)
  if (!session)
    return workerFailure('MODEL_NOT_FOUND', `Model "${id}" is not loaded in this worker.`)
  let results: InferenceSession.ReturnType
  const started = performance.now()
  try {
    const feeds = Object.fromEntries(
      Object.entries(inputs).map(([name, tensor]) => [name, tensorToOrt(tensor)]),
    )
    results = await session.run(feeds, outputNames)
  } catch (cause) {
    const message = cause instanceof Error ? cause.message : String(cause)
    if (message.includes('Non tensor type'))
      return workerFailure(
        'ENGINE_OUTPUT_UNSUPPORTED',
        `Model "${id}" produced a non-tensor output; Verity only returns tensors.`,
        cause,
      )
    return workerFailure('ENGINE_RUN_FAILED', `onnxruntime failed to run model "${id}".`, cause)
  }
  const computeMs = performance.now() - started
  const outputs: Record<string, Tensor> = {}
  for (const name of outputNames) {
    const tensor = tensorFromOrt(results[name])
    if (tensor === 'not-a-tensor')
      return workerFailure(
        'ENGINE_OUTPUT_UNSUPPORTED',
        `Output "${name}" of model "${id}" is not a tensor.`,
      )
    if (tensor === 'unsupported-type')
      return workerFailure(
        'ENGINE_OUTPUT_UNSUPPORTED',
        `Output "${name}" of model "${id}" has element type ${(results[name] as { type?: string }).type}, which Verity cannot encode.`,
      )
    outputs[name] = tensor
  }
  const value: OnnxRunReply = { outputs, computeMs }
  return { ok: true, value }
}

async function handle(request: OnnxWorkerRequest): Promise<WorkerOutcome> {
  switch (request.type) {
    case 'load':
      return await load(request.id, request.bytes)
    case 'run':
      return await run(request.id, request.inputs, request.outputNames)
    case 'unload':
      await release(request.id)
      return { ok: true, value: null }
  }
}

serveWorkerRequests<OnnxWorkerRequest, OnnxWorkerReady>(
  {
    ready: { version: env.versions.node ?? 'unknown' },
    unexpected: 'The ONNX worker failed unexpectedly.',
  },
  { handle },
)
