import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import {
  defaultOnnxEngineOptions,
  onnxSessionOptions,
  resolveOnnxEngineOptions,
} from './onnxEngineOptions.ts'

test('default', () => {
  assert.deepEqual(defaultOnnxEngineOptions, {
    graphOptimizationLevel: 'basic',
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    workers: 1,
    timeoutMs: 30_000,
    loadTimeoutMs: 120_000,
  })
  assert.deepEqual(resolveOnnxEngineOptions(), defaultOnnxEngineOptions)
})

test('behavior: partial options override the defaults, undefined keeps them', () => {
  const resolved = resolveOnnxEngineOptions({ workers: 2, timeoutMs: undefined })
  assert.equal(resolved.workers, 2)
  assert.equal(resolved.timeoutMs, 30_000)
})

test('behavior: session options pin the CPU provider and the output-affecting settings', () => {
  const session = onnxSessionOptions(
    resolveOnnxEngineOptions({ intraOpNumThreads: 2, graphOptimizationLevel: 'all' }),
  )
  assert.deepEqual(session.executionProviders, ['cpu'])
  assert.equal(session.intraOpNumThreads, 2)
  assert.equal(session.graphOptimizationLevel, 'all')
  assert.equal(session.executionMode, 'sequential')
  assert.deepEqual(session.extra, {
    session: { set_denormal_as_zero: '0' },
    mlas: { enable_gemm_fastmath_arm64_bfloat16: '0' },
  })
})

test('error: invalid options are INVALID_ARGUMENT naming the option', () => {
  for (const [options, name] of [
    [{ workers: 0 }, 'workers'],
    [{ intraOpNumThreads: 1.5 }, 'intraOpNumThreads'],
    [{ timeoutMs: -1 }, 'timeoutMs'],
    [{ graphOptimizationLevel: 'layout' }, 'graphOptimizationLevel'],
    [{ executionMode: 'fast' }, 'executionMode'],
  ] as const)
    assert.throws(
      () => resolveOnnxEngineOptions(options as never),
      (error) => isBaseError(error, 'INVALID_ARGUMENT') && error.message.includes(`"${name}"`),
    )
})
