import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isBaseError } from '@verity/protocol'
import { makeTestManifest } from '../testing/testManifest.ts'
import { checkModelMatchesManifest } from './checkModelMatchesManifest.ts'
import type { OnnxLoadReply } from './onnxWorkerProtocol.ts'

// What onnxruntime reports for mnist-8.
const mnist: OnnxLoadReply = {
  inputs: [{ name: 'Input3', isTensor: true, dtype: 'float32', shape: [1, 1, 28, 28] }],
  outputs: [{ name: 'Plus214_Output_0', isTensor: true, dtype: 'float32', shape: [1, 10] }],
}

const manifest = makeTestManifest({
  inputs: [{ name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 28] }],
  outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
})

test('default', () => {
  assert.doesNotThrow(() => checkModelMatchesManifest('mnist', manifest, mnist))
})

test('behavior: dynamic and unknown model dims are not compared', () => {
  const dynamic: OnnxLoadReply = {
    inputs: [{ name: 'Input3', isTensor: true, dtype: 'float32', shape: ['N', 1, 28, 28] }],
    outputs: [{ name: 'Plus214_Output_0', isTensor: true, dtype: 'float32', shape: [] }],
  }
  assert.doesNotThrow(() => checkModelMatchesManifest('mnist', manifest, dynamic))
})

test('error: MANIFEST_INVALID lists every mismatch', () => {
  const wrong = makeTestManifest({
    inputs: [
      { name: 'Input3', dtype: 'float32', shape: [1, 1, 28, 27] },
      { name: 'extra', dtype: 'int64', shape: [1] },
    ],
    outputs: [
      { name: 'Plus214_Output_0', dtype: 'float64', shape: [1, 10] },
      { name: 'nope', dtype: 'float32', shape: [1] },
    ],
  })
  assert.throws(
    () => checkModelMatchesManifest('mnist', wrong, mnist),
    (error) => {
      assert.ok(isBaseError(error, 'MANIFEST_INVALID'))
      assert.match(error.shortMessage, /4 problems/)
      const hints = error.metaMessages.join('\n')
      assert.match(hints, /input "Input3": the manifest declares shape \[1,1,28,27\]/)
      assert.match(hints, /input "extra" is declared but the model has no such input/)
      assert.match(
        hints,
        /output "Plus214_Output_0": the manifest declares float64, the model has float32/,
      )
      assert.match(hints, /output "nope" is declared but the model has no such output/)
      return true
    },
  )
  const missing = makeTestManifest({
    inputs: [{ name: 'other', dtype: 'float32', shape: [1] }],
    outputs: [{ name: 'Plus214_Output_0', dtype: 'float32', shape: [1, 10] }],
  })
  assert.throws(
    () => checkModelMatchesManifest('mnist', missing, mnist),
    (error) =>
      isBaseError(error, 'MANIFEST_INVALID') &&
      error.message.includes('input "Input3" is required by the model but not declared'),
  )
})

test('error: ENGINE_OUTPUT_UNSUPPORTED for a declared non-tensor output', () => {
  const zipMap: OnnxLoadReply = {
    inputs: [{ name: 'X', isTensor: true, dtype: 'float32', shape: ['', 4] }],
    outputs: [
      { name: 'output_label', isTensor: true, dtype: 'int64', shape: [''] },
      { name: 'output_probability', isTensor: false },
    ],
  }
  const declaresMap = makeTestManifest({
    inputs: [{ name: 'X', dtype: 'float32', shape: ['n', 4] }],
    outputs: [{ name: 'output_probability', dtype: 'float32', shape: ['n', 3] }],
  })
  assert.throws(
    () => checkModelMatchesManifest('forest', declaresMap, zipMap),
    (error) =>
      isBaseError(error, 'ENGINE_OUTPUT_UNSUPPORTED') &&
      error.message.includes('"output_probability"'),
  )
})
