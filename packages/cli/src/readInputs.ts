import { readFile, stat } from 'node:fs/promises'
import { extname } from 'node:path'
import {
  BaseError,
  decodeNpy,
  type Manifest,
  namedTensorsFromJson,
  type Tensor,
  type TensorSpec,
} from '@verity/protocol'
import { PNG } from 'pngjs'

export type ReadInputsOptions = {
  /** PNG only: keep float pixels in 0–255 instead of scaling them to 0–1. */
  rawPixels?: boolean
  /** PNG only: invert the image (for black-on-white drawings fed to white-on-black models). */
  invert?: boolean
}

/** Reads a file whole, mapping "missing" and "too large" to typed errors. */
export async function readUserFile(path: string, maxBytes: number): Promise<Buffer> {
  let size: number
  try {
    size = (await stat(path)).size
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      throw new BaseError('FILE_NOT_FOUND', `No such file: ${path}.`)
    throw error
  }
  if (size > maxBytes)
    throw new BaseError('FILE_TOO_LARGE', `${path} is ${size} bytes; the limit is ${maxBytes}.`)
  return readFile(path)
}

function singleInput(manifest: Manifest, format: string): TensorSpec {
  const [input, ...rest] = manifest.inputs
  if (!input || rest.length > 0)
    throw new BaseError(
      'INPUT_FORMAT_UNSUPPORTED',
      `A ${format} file holds one tensor, but ${manifest.name} takes ${manifest.inputs.length} inputs (${manifest.inputs.map((i) => i.name).join(', ')}).`,
      { metaMessages: ['Pass a JSON file mapping every input name to a tensor.'] },
    )
  return input
}

function imageTensor(png: PNG, spec: TensorSpec, options: ReadInputsOptions): Tensor {
  // Accept NCHW ([N,C,H,W] with C in {1,3}) or NHWC ([N,H,W,C]); dynamic dims take the image's size.
  const dims = spec.shape
  const resolved = (index: number, fallback: number) =>
    typeof dims[index] === 'number' ? (dims[index] as number) : fallback
  let layout: 'nchw' | 'nhwc' | 'hw'
  if (dims.length === 4) layout = dims[3] === 1 || dims[3] === 3 ? 'nhwc' : 'nchw'
  else if (dims.length === 3) layout = 'nchw'
  else if (dims.length === 2) layout = 'hw'
  else
    throw new BaseError(
      'INPUT_FORMAT_UNSUPPORTED',
      `Input "${spec.name}" has shape [${dims.join(',')}], which is not an image.`,
    )
  const channels =
    layout === 'nchw' ? resolved(dims.length - 3, 1) : layout === 'nhwc' ? resolved(3, 1) : 1
  const height = resolved(layout === 'nhwc' ? 1 : dims.length - 2, png.height)
  const width = resolved(layout === 'nhwc' ? 2 : dims.length - 1, png.width)
  if (png.width !== width || png.height !== height)
    throw new BaseError(
      'TENSOR_SHAPE_MISMATCH',
      `The PNG is ${png.width}×${png.height}, input "${spec.name}" expects ${width}×${height}.`,
      { metaMessages: ['Resize the image first; Verity does no hidden preprocessing.'] },
    )
  if (channels !== 1 && channels !== 3)
    throw new BaseError(
      'INPUT_FORMAT_UNSUPPORTED',
      `Input "${spec.name}" has ${channels} channels; PNG input supports 1 or 3.`,
    )
  if (spec.dtype !== 'uint8' && spec.dtype !== 'float32')
    throw new BaseError(
      'INPUT_FORMAT_UNSUPPORTED',
      `Input "${spec.name}" is ${spec.dtype}; PNG input fills uint8 or float32.`,
    )
  const pixels = width * height
  const values = new Uint8Array(pixels * channels)
  for (let p = 0; p < pixels; p++) {
    const [r, g, b] = [png.data[p * 4]!, png.data[p * 4 + 1]!, png.data[p * 4 + 2]!]
    const alpha = png.data[p * 4 + 3]!
    // Composite on black, then (for 1 channel) integer Rec.601 luma: deterministic on every machine.
    const over = (v: number) => Math.round((v * alpha) / 255)
    const rgb = [over(r), over(g), over(b)]
    for (let c = 0; c < channels; c++) {
      let v =
        channels === 1
          ? Math.floor((299 * rgb[0]! + 587 * rgb[1]! + 114 * rgb[2]! + 500) / 1000)
          : rgb[c]!
      if (options.invert) v = 255 - v
      const index = layout === 'nhwc' ? p * channels + c : c * pixels + p
      values[index] = v
    }
  }
  const shape =
    layout === 'hw'
      ? [height, width]
      : layout === 'nhwc'
        ? [1, height, width, channels]
        : dims.length === 4
          ? [1, channels, height, width]
          : [channels, height, width]
  if (spec.dtype === 'uint8') return { dtype: 'uint8', shape, data: values }
  const scale = options.rawPixels ? 1 : 255
  return { dtype: 'float32', shape, data: Float32Array.from(values, (v) => v / scale) }
}

/**
 * Reads model inputs from a file: JSON tensors (`{"name": {"dtype", "shape", "data"|"base64"}}`),
 * a `.npy` array (single-input models) or a PNG image (single image input; grayscale or RGB,
 * scaled to 0–1 for float inputs).
 *
 * @example
 * ```ts
 * const inputs = await readInputs('digit.png', manifest)
 * ```
 */
export async function readInputs(
  path: string,
  manifest: Manifest,
  options: ReadInputsOptions = {},
): Promise<Record<string, Tensor>> {
  const bytes = await readUserFile(path, Math.max(manifest.limits.maxInputBytes * 8, 1 << 20))
  const extension = extname(path).toLowerCase()
  if (extension === '.npy') {
    const spec = singleInput(manifest, '.npy')
    return { [spec.name]: decodeNpy(bytes) }
  }
  if (extension === '.png') {
    const spec = singleInput(manifest, 'PNG')
    let png: PNG
    try {
      png = PNG.sync.read(bytes)
    } catch (error) {
      throw new BaseError('INPUT_FORMAT_UNSUPPORTED', `${path} is not a readable PNG image.`, {
        details: (error as Error).message,
      })
    }
    return { [spec.name]: imageTensor(png, spec, options) }
  }
  let value: unknown
  try {
    value = JSON.parse(bytes.toString('utf8'))
  } catch (error) {
    throw new BaseError('INVALID_JSON', `${path} is not valid JSON.`, {
      details: (error as Error).message,
      metaMessages: [
        'Expected {"<input name>": {"dtype": "float32", "shape": [..], "data": [..]}}, a .npy file or a .png image.',
      ],
    })
  }
  return namedTensorsFromJson(value)
}
