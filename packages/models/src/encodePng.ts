import { crc32, deflateSync } from 'node:zlib'
import { BaseError } from '@verity/protocol'

const signature = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length)
  out.writeUInt32BE(data.length, 0)
  out.write(type, 4, 'latin1')
  out.set(data, 8)
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length)
  return out
}

/**
 * Encodes a grayscale 8-bit image (row-major) as a PNG file. Square 28×28 images are the default;
 * pass `width` for other shapes.
 *
 * @example
 * ```ts
 * const png = encodePng(renderDigit(3, createRandom(1)))
 * await writeFile('digit-3.png', png)
 * ```
 */
export function encodePng(image: Uint8Array, width = 28): Uint8Array {
  const height = image.length / width
  if (!Number.isInteger(width) || width <= 0 || !Number.isInteger(height) || height <= 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `A ${width}-pixel-wide image needs a positive multiple of ${width} pixels; got ${image.length}.`,
    )
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header[8] = 8 // bit depth
  header[9] = 0 // colour type: grayscale
  const raw = Buffer.alloc((width + 1) * height) // filter byte 0 (none) before each row
  for (let row = 0; row < height; row++)
    raw.set(image.subarray(row * width, (row + 1) * width), row * (width + 1) + 1)
  return new Uint8Array(
    Buffer.concat([
      signature,
      chunk('IHDR', header),
      chunk('IDAT', deflateSync(raw, { level: 9 })),
      chunk('IEND', new Uint8Array()),
    ]),
  )
}
