import { type Manifest, parseManifest, type TensorSpec } from '@verity/protocol'
import { createOnnxEngineDescriptor } from '../onnx/onnxEngineDescriptor.ts'
import { defaultOnnxEngineOptions } from '../onnx/onnxEngineOptions.ts'

/** What a test manifest needs; everything else gets a valid default. */
export type TestManifestParameters = {
  inputs: TensorSpec[]
  outputs: TensorSpec[]
  name?: string
  size?: number
  limits?: Partial<Manifest['limits']>
  comparison?: Manifest['comparison']
}

/**
 * A manifest that passes `manifestSchema`, for tests: a made-up CIDv1, the default ONNX engine
 * descriptor, generous limits unless given.
 *
 * @example
 * ```ts
 * const manifest = makeTestManifest({
 *   inputs: [{ name: 'x', dtype: 'float32', shape: ['batch', 4] }],
 *   outputs: [{ name: 'y', dtype: 'float32', shape: ['batch', 2] }],
 * })
 * ```
 */
export function makeTestManifest(parameters: TestManifestParameters): Manifest {
  return parseManifest({
    schema: 'verity.manifest/1',
    name: parameters.name ?? 'test-model',
    version: '1.0.0',
    format: 'onnx',
    cid: `bafkrei${'a'.repeat(52)}`,
    size: parameters.size ?? 1,
    inputs: parameters.inputs,
    outputs: parameters.outputs,
    comparison: parameters.comparison ?? { kind: 'exact' },
    engine: createOnnxEngineDescriptor(defaultOnnxEngineOptions),
    limits: { maxInputBytes: 64 << 20, maxDim: 1 << 16, timeoutMs: 60_000, ...parameters.limits },
    license: 'MIT',
    pricing: { perCall: '0' },
  })
}
