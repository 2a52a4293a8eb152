/**
 * The ggml tensor types a GGUF file may use, with their storage layout: `blockSize` elements are
 * stored in `typeSize` bytes. The table is `ggml_type_name` / `ggml_blck_size` / `ggml_type_size`
 * of the llama.cpp build bundled with node-llama-cpp 3.21.1 (read from its `libggml-base.so`),
 * ids 0 to 42. Ids 4, 5, 31–33 and 36–38 were removed from ggml (their size is 0 there): a file
 * using them cannot be loaded.
 */
export type GgmlType = {
  /** The `ggml_type` enum value stored in the file. */
  id: number
  /** ggml's name, e.g. `f32`, `q4_K`. */
  name: string
  /** Elements per block. */
  blockSize: number
  /** Bytes per block. */
  typeSize: number
}

const table: ReadonlyArray<readonly [number, string, number, number]> = [
  [0, 'f32', 1, 4],
  [1, 'f16', 1, 2],
  [2, 'q4_0', 32, 18],
  [3, 'q4_1', 32, 20],
  [6, 'q5_0', 32, 22],
  [7, 'q5_1', 32, 24],
  [8, 'q8_0', 32, 34],
  [9, 'q8_1', 32, 36],
  [10, 'q2_K', 256, 84],
  [11, 'q3_K', 256, 110],
  [12, 'q4_K', 256, 144],
  [13, 'q5_K', 256, 176],
  [14, 'q6_K', 256, 210],
  [15, 'q8_K', 256, 292],
  [16, 'iq2_xxs', 256, 66],
  [17, 'iq2_xs', 256, 74],
  [18, 'iq3_xxs', 256, 98],
  [19, 'iq1_s', 256, 50],
  [20, 'iq4_nl', 32, 18],
  [21, 'iq3_s', 256, 110],
  [22, 'iq2_s', 256, 82],
  [23, 'iq4_xs', 256, 136],
  [24, 'i8', 1, 1],
  [25, 'i16', 1, 2],
  [26, 'i32', 1, 4],
  [27, 'i64', 1, 8],
  [28, 'f64', 1, 8],
  [29, 'iq1_m', 256, 56],
  [30, 'bf16', 1, 2],
  [34, 'tq1_0', 256, 54],
  [35, 'tq2_0', 256, 66],
  [39, 'mxfp4', 32, 17],
  [40, 'nvfp4', 64, 36],
  [41, 'q1_0', 128, 18],
  [42, 'q2_0', 64, 18],
]

const removed: Readonly<Record<number, string>> = {
  4: 'q4_2',
  5: 'q4_3',
  31: 'q4_0_4_4',
  32: 'q4_0_4_8',
  33: 'q4_0_8_8',
  36: 'iq4_nl_4_4',
  37: 'iq4_nl_4_8',
  38: 'iq4_nl_8_8',
}

/**
 * Every ggml type llama.cpp can load, by id.
 *
 * @example
 * ```ts
 * ggmlTypes.get(12) // { id: 12, name: 'q4_K', blockSize: 256, typeSize: 144 }
 * ```
 */
export const ggmlTypes: ReadonlyMap<number, GgmlType> = new Map(
  table.map(([id, name, blockSize, typeSize]) => [
    id,
    Object.freeze({ id, name, blockSize, typeSize }),
  ]),
)

/**
 * A ggml type id in words, for messages: its name, `removed` types named as such.
 *
 * @example
 * ```ts
 * describeGgmlType(0) // 'f32 (0)'
 * describeGgmlType(4) // 'q4_2 (4, removed from ggml)'
 * describeGgmlType(99) // 'unknown type 99'
 * ```
 */
export function describeGgmlType(id: number): string {
  const known = ggmlTypes.get(id)
  if (known) return `${known.name} (${id})`
  const gone = removed[id]
  if (gone !== undefined) return `${gone} (${id}, removed from ggml)`
  return `unknown type ${id}`
}
