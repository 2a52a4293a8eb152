import { BaseError } from '@verity/protocol'
import { deterministicCos, deterministicSin } from './deterministicMath.ts'
import { createRandom, type Random } from './random.ts'

/**
 * Side of the square digit images, as in MNIST.
 *
 * @example
 * ```ts
 * const pixel = image[row * digitImageSize + column]
 * ```
 */
export const digitImageSize = 28

type Point = readonly [number, number]

/** One pen stroke of a glyph, in glyph units (x to the right, y down, the glyph about 0.6 × 1). */
type Stroke = {
  readonly points: readonly Point[]
  /** Catmull-Rom curve through the points (default) or straight segments between them. */
  readonly smooth?: boolean
  /** Whether the curve returns to its first point. */
  readonly closed?: boolean
}

type Glyph = { readonly weight: number; readonly strokes: readonly Stroke[] }

const line = (...points: Point[]): Stroke => ({ points, smooth: false })
const curve = (...points: Point[]): Stroke => ({ points })
const loop = (...points: Point[]): Stroke => ({ points, closed: true })

/** Handwriting-like glyph variants per digit, with how often each variant is drawn. */
const glyphs: readonly (readonly Glyph[])[] = [
  // 0
  [
    {
      weight: 3,
      strokes: [
        loop(
          [0.38, 0],
          [0.68, 0.14],
          [0.76, 0.5],
          [0.64, 0.88],
          [0.36, 1],
          [0.08, 0.86],
          [0, 0.5],
          [0.1, 0.13],
        ),
      ],
    },
    {
      weight: 2,
      strokes: [
        curve(
          [0.5, 0.03],
          [0.28, 0.02],
          [0.07, 0.2],
          [0, 0.55],
          [0.15, 0.92],
          [0.4, 1],
          [0.66, 0.86],
          [0.76, 0.5],
          [0.66, 0.14],
          [0.42, 0],
          [0.24, 0.08],
        ),
      ],
    },
  ],
  // 1
  [
    { weight: 5, strokes: [line([0.32, 0], [0.3, 1])] },
    { weight: 3, strokes: [line([0.12, 0.2], [0.34, 0], [0.32, 1])] },
    { weight: 1, strokes: [line([0.14, 0.18], [0.34, 0], [0.33, 1]), line([0.12, 1], [0.54, 1])] },
  ],
  // 2
  [
    {
      weight: 3,
      strokes: [
        curve(
          [0.04, 0.22],
          [0.2, 0.03],
          [0.42, 0.02],
          [0.57, 0.2],
          [0.5, 0.44],
          [0.28, 0.7],
          [0.02, 0.98],
        ),
        line([0.02, 0.98], [0.34, 0.96], [0.62, 0.97]),
      ],
    },
    {
      weight: 2,
      strokes: [
        curve(
          [0.05, 0.2],
          [0.25, 0.02],
          [0.5, 0.08],
          [0.52, 0.35],
          [0.3, 0.65],
          [0.08, 0.92],
          [0.1, 1],
          [0.2, 0.9],
          [0.4, 0.92],
          [0.62, 1],
        ),
      ],
    },
  ],
  // 3
  [
    {
      weight: 3,
      strokes: [
        curve([0.04, 0.12], [0.26, 0], [0.5, 0.08], [0.5, 0.3], [0.22, 0.46]),
        curve([0.22, 0.46], [0.5, 0.56], [0.57, 0.8], [0.36, 0.98], [0.02, 0.9]),
      ],
    },
    {
      weight: 1,
      strokes: [
        line([0.04, 0.02], [0.56, 0.02], [0.24, 0.4]),
        curve([0.24, 0.4], [0.5, 0.5], [0.58, 0.76], [0.38, 0.98], [0.04, 0.9]),
      ],
    },
  ],
  // 4
  [
    {
      weight: 3,
      strokes: [line([0.42, 0], [0, 0.66], [0.62, 0.66]), line([0.46, 0.3], [0.46, 1])],
    },
    {
      weight: 3,
      strokes: [line([0.06, 0], [0.02, 0.56], [0.6, 0.54]), line([0.5, 0.02], [0.48, 1])],
    },
  ],
  // 5
  [
    {
      weight: 3,
      strokes: [
        line([0.58, 0.02], [0.12, 0.02]),
        line([0.12, 0.02], [0.08, 0.44]),
        curve([0.08, 0.44], [0.3, 0.36], [0.52, 0.48], [0.56, 0.74], [0.36, 0.97], [0.02, 0.88]),
      ],
    },
    {
      weight: 2,
      strokes: [
        line([0.14, 0], [0.08, 0.42]),
        curve([0.08, 0.42], [0.32, 0.36], [0.54, 0.52], [0.54, 0.78], [0.32, 0.98], [0.04, 0.9]),
        line([0.14, 0], [0.6, 0.02]),
      ],
    },
  ],
  // 6
  [
    {
      weight: 3,
      strokes: [
        curve(
          [0.5, 0.02],
          [0.26, 0.2],
          [0.06, 0.55],
          [0.1, 0.88],
          [0.3, 1],
          [0.52, 0.86],
          [0.52, 0.64],
          [0.3, 0.54],
          [0.08, 0.68],
        ),
      ],
    },
    {
      weight: 2,
      strokes: [
        curve([0.42, 0], [0.14, 0.3], [0.04, 0.66], [0.16, 0.95], [0.36, 0.98]),
        loop([0.3, 0.56], [0.52, 0.66], [0.5, 0.9], [0.3, 0.98], [0.1, 0.82], [0.12, 0.62]),
      ],
    },
    {
      weight: 2,
      strokes: [
        curve(
          [0.56, 0.04],
          [0.34, 0.1],
          [0.12, 0.36],
          [0.04, 0.7],
          [0.2, 0.97],
          [0.46, 0.96],
          [0.6, 0.76],
          [0.46, 0.5],
          [0.22, 0.52],
          [0.06, 0.7],
        ),
      ],
    },
  ],
  // 7
  [
    { weight: 4, strokes: [line([0.02, 0.04], [0.6, 0.02], [0.24, 1])] },
    {
      weight: 2,
      strokes: [line([0.02, 0.06], [0.6, 0.02]), curve([0.6, 0.02], [0.42, 0.42], [0.28, 1])],
    },
    {
      weight: 1,
      strokes: [line([0.02, 0.04], [0.6, 0.02], [0.26, 1]), line([0.2, 0.52], [0.56, 0.5])],
    },
  ],
  // 8
  [
    {
      weight: 3,
      strokes: [
        curve(
          [0.5, 0.1],
          [0.3, 0],
          [0.1, 0.1],
          [0.14, 0.33],
          [0.44, 0.58],
          [0.52, 0.84],
          [0.3, 1],
          [0.08, 0.85],
          [0.16, 0.6],
          [0.46, 0.34],
          [0.52, 0.12],
        ),
      ],
    },
    {
      weight: 2,
      strokes: [
        loop([0.3, 0], [0.5, 0.12], [0.46, 0.34], [0.3, 0.44], [0.12, 0.34], [0.1, 0.12]),
        loop([0.3, 0.44], [0.54, 0.56], [0.56, 0.84], [0.3, 1], [0.05, 0.84], [0.08, 0.56]),
      ],
    },
  ],
  // 9
  [
    {
      weight: 3,
      strokes: [
        loop([0.32, 0], [0.54, 0.12], [0.5, 0.34], [0.3, 0.46], [0.08, 0.36], [0.06, 0.14]),
        curve([0.54, 0.12], [0.54, 0.5], [0.46, 1]),
      ],
    },
    {
      weight: 2,
      strokes: [
        curve(
          [0.52, 0.16],
          [0.32, 0.02],
          [0.1, 0.08],
          [0.06, 0.3],
          [0.26, 0.44],
          [0.5, 0.34],
          [0.56, 0.1],
        ),
        line([0.56, 0.1], [0.48, 1]),
      ],
    },
  ],
]

/** Knobs of the renderer. The defaults give MNIST-like variety. */
export type RenderDigitOptions = {
  /** Maximum rotation in degrees (uniform in ±). Default 15. */
  maxRotationDegrees?: number
  /** Horizontal shear range (x += shear · height above the centre). Default [-0.2, 0.35]: right-leaning, like most handwriting. */
  shear?: readonly [number, number]
}

const splineSteps = 8

/** Samples a Catmull-Rom spline (or a polyline) through the control points. */
function sampleStroke(points: readonly Point[], smooth: boolean, closed: boolean): Point[] {
  const n = points.length
  if (!smooth || n < 3) return closed ? [...points, points[0] as Point] : [...points]
  const at = (i: number): Point => {
    if (closed) return points[((i % n) + n) % n] as Point
    if (i < 0) {
      const [a, b] = [points[0] as Point, points[1] as Point]
      return [2 * a[0] - b[0], 2 * a[1] - b[1]]
    }
    if (i >= n) {
      const [a, b] = [points[n - 1] as Point, points[n - 2] as Point]
      return [2 * a[0] - b[0], 2 * a[1] - b[1]]
    }
    return points[i] as Point
  }
  const spans = closed ? n : n - 1
  const out: Point[] = [at(0)]
  for (let i = 0; i < spans; i++) {
    const [p0, p1, p2, p3] = [at(i - 1), at(i), at(i + 1), at(i + 2)]
    for (let step = 1; step <= splineSteps; step++) {
      const t = step / splineSteps
      const t2 = t * t
      const t3 = t2 * t
      const b0 = -0.5 * t3 + t2 - 0.5 * t
      const b1 = 1.5 * t3 - 2.5 * t2 + 1
      const b2 = -1.5 * t3 + 2 * t2 + 0.5 * t
      const b3 = 0.5 * t3 - 0.5 * t2
      out.push([
        b0 * p0[0] + b1 * p1[0] + b2 * p2[0] + b3 * p3[0],
        b0 * p0[1] + b1 * p1[1] + b2 * p2[1] + b3 * p3[1],
      ])
    }
  }
  return out
}

type Segment = { x0: number; y0: number; x1: number; y1: number; w0: number; w1: number }

/** Anti-aliased rendering of thick segments: intensity falls off linearly over one pixel. */
function rasterize(segments: readonly Segment[], dx: number, dy: number): Float64Array {
  const size = digitImageSize
  const out = new Float64Array(size * size)
  for (const s of segments) {
    const x0 = s.x0 + dx
    const y0 = s.y0 + dy
    const x1 = s.x1 + dx
    const y1 = s.y1 + dy
    const reach = Math.max(s.w0, s.w1) + 1
    const left = Math.max(0, Math.floor(Math.min(x0, x1) - reach))
    const right = Math.min(size - 1, Math.ceil(Math.max(x0, x1) + reach))
    const top = Math.max(0, Math.floor(Math.min(y0, y1) - reach))
    const bottom = Math.min(size - 1, Math.ceil(Math.max(y0, y1) + reach))
    const ex = x1 - x0
    const ey = y1 - y0
    const length2 = ex * ex + ey * ey
    for (let row = top; row <= bottom; row++) {
      const py = row + 0.5
      for (let col = left; col <= right; col++) {
        const px = col + 0.5
        let t = length2 > 0 ? ((px - x0) * ex + (py - y0) * ey) / length2 : 0
        t = Math.min(1, Math.max(0, t))
        const qx = x0 + t * ex - px
        const qy = y0 + t * ey - py
        const distance = Math.sqrt(qx * qx + qy * qy)
        const halfWidth = s.w0 + t * (s.w1 - s.w0)
        const value = halfWidth + 0.5 - distance
        if (value <= 0) continue
        const index = row * size + col
        out[index] = Math.max(out[index]!, Math.min(1, value))
      }
    }
  }
  return out
}

/**
 * Renders one handwriting-like digit as a 28×28 grayscale image (row-major, white strokes on a black
 * background, 0..255), MNIST-style: the glyph is fitted into the central 20×20 box and centred by
 * its centre of mass. Glyph variant, control-point jitter, rotation, shear, aspect, size, stroke
 * width and pressure, translation and intensity noise are all drawn from `random`.
 *
 * @example
 * ```ts
 * const image = renderDigit(7, createRandom(1)) // Uint8Array(784)
 * ```
 */
export function renderDigit(
  digit: number,
  random: Random,
  options: RenderDigitOptions = {},
): Uint8Array {
  if (!Number.isInteger(digit) || digit < 0 || digit > 9)
    throw new BaseError('INVALID_ARGUMENT', `digit must be an integer 0..9; got ${String(digit)}.`)
  const variants = glyphs[digit] as readonly Glyph[]
  let pick = random.next() * variants.reduce((sum, glyph) => sum + glyph.weight, 0)
  let glyph = variants[0] as Glyph
  for (const variant of variants) {
    glyph = variant
    pick -= variant.weight
    if (pick < 0) break
  }

  // affine map of glyph units: aspect, shear, rotation (about the glyph centre)
  const maxRotation = ((options.maxRotationDegrees ?? 15) * Math.PI) / 180
  const [minShear, maxShear] = options.shear ?? [-0.2, 0.35]
  const angle = random.uniform(-maxRotation, maxRotation)
  const shear = random.uniform(minShear, maxShear)
  const aspect = random.uniform(0.8, 1.4)
  const cos = deterministicCos(angle)
  const sin = deterministicSin(angle)
  const jitter = 0.03
  // a smooth random warp (quadratic displacement field) on top of the per-point jitter
  const warp = Array.from({ length: 6 }, () => 0.1 * random.normal())
  const [wxx, wyy, wxy, vxx, vyy, vxy] = warp as [number, number, number, number, number, number]
  const strokes = glyph.strokes.map((stroke) => {
    const jittered = stroke.points.map(
      ([x, y]): Point => [x + jitter * random.normal(), y + jitter * random.normal()],
    )
    const sampled = sampleStroke(jittered, stroke.smooth ?? true, stroke.closed ?? false)
    return sampled.map(([gx, gy]): Point => {
      const cx = gx - 0.3
      const cy = gy - 0.5
      const x = cx + wxx * cx * cx + wyy * cy * cy + wxy * cx * cy
      const y = cy + vxx * cx * cx + vyy * cy * cy + vxy * cx * cy
      const u = x * aspect - shear * y
      const v = y
      return [cos * u - sin * v, sin * u + cos * v]
    })
  })

  // fit the centre-line bounding box into the 20×20 box, leaving room for the pen width
  let minX = Number.POSITIVE_INFINITY
  let minY = Number.POSITIVE_INFINITY
  let maxX = Number.NEGATIVE_INFINITY
  let maxY = Number.NEGATIVE_INFINITY
  for (const stroke of strokes)
    for (const [x, y] of stroke) {
      minX = Math.min(minX, x)
      maxX = Math.max(maxX, x)
      minY = Math.min(minY, y)
      maxY = Math.max(maxY, y)
    }
  const halfWidth = random.uniform(1, 2.2)
  const box = (20 - 2 * halfWidth) * random.uniform(0.85, 1)
  const scale = box / Math.max(maxX - minX, maxY - minY, 1e-6)
  const centreX = (minX + maxX) / 2
  const centreY = (minY + maxY) / 2
  const segments: Segment[] = []
  for (const stroke of strokes) {
    // pen pressure varies linearly along each stroke
    const startWidth = halfWidth * random.uniform(0.8, 1.2)
    const endWidth = halfWidth * random.uniform(0.8, 1.2)
    for (let i = 1; i < stroke.length; i++) {
      const [ax, ay] = stroke[i - 1] as Point
      const [bx, by] = stroke[i] as Point
      const t0 = (i - 1) / (stroke.length - 1)
      const t1 = i / (stroke.length - 1)
      segments.push({
        x0: (ax - centreX) * scale + 14,
        y0: (ay - centreY) * scale + 14,
        x1: (bx - centreX) * scale + 14,
        y1: (by - centreY) * scale + 14,
        w0: startWidth + t0 * (endWidth - startWidth),
        w1: startWidth + t1 * (endWidth - startWidth),
      })
    }
  }

  // centre of mass to the image centre (as MNIST does), then a small random offset
  const first = rasterize(segments, 0, 0)
  let mass = 0
  let sumX = 0
  let sumY = 0
  for (let index = 0; index < first.length; index++) {
    const value = first[index]!
    mass += value
    sumX += value * ((index % digitImageSize) + 0.5)
    sumY += value * (Math.floor(index / digitImageSize) + 0.5)
  }
  const shiftX = (mass > 0 ? 14 - sumX / mass : 0) + random.uniform(-1, 1)
  const shiftY = (mass > 0 ? 14 - sumY / mass : 0) + random.uniform(-1, 1)
  const rendered = rasterize(segments, shiftX, shiftY)

  const peak = random.uniform(0.9, 1.15)
  const image = new Uint8Array(digitImageSize * digitImageSize)
  for (let index = 0; index < image.length; index++) {
    const value = rendered[index]!
    if (value === 0) continue
    const noisy = value * peak + 0.04 * random.normal()
    image[index] = noisy <= 0 ? 0 : noisy >= 1 ? 255 : Math.round(noisy * 255)
  }
  return image
}

/** What {@link generateDigits} needs. */
export type GenerateDigitsOptions = {
  /** Number of images. */
  count: number
  /** Seed of the generator; the same seed always gives the same images. */
  seed: number
}

/** Images (28×28 uint8, row-major) and their labels. */
export type DigitDataset = { images: Uint8Array[]; labels: number[] }

/**
 * Generates a balanced, shuffled synthetic digit dataset: label i appears `count / 10` times
 * (the first `count % 10` digits once more).
 *
 * @example
 * ```ts
 * const { images, labels } = generateDigits({ count: 1000, seed: 1 })
 * ```
 */
export function generateDigits(options: GenerateDigitsOptions): DigitDataset {
  const { count, seed } = options
  if (!Number.isSafeInteger(count) || count < 0)
    throw new BaseError(
      'INVALID_ARGUMENT',
      `count must be a non-negative integer; got ${String(count)}.`,
    )
  const random = createRandom(seed)
  const labels = random.shuffle(Array.from({ length: count }, (_, index) => index % 10))
  const images = labels.map((label) => renderDigit(label, random))
  return { images, labels }
}
