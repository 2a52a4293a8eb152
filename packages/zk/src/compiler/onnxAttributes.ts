import { BaseError } from '@verity/protocol'
import type { onnx } from 'onnx-proto'
import { onnxIntToNumber } from './readOnnxTensor.ts'

function find(node: onnx.INodeProto, name: string): onnx.IAttributeProto | undefined {
  return (node.attribute ?? []).find((attribute) => attribute.name === name)
}

function invalid(node: onnx.INodeProto, name: string, what: string): BaseError {
  return new BaseError(
    'MODEL_INVALID',
    `Node "${(node.name ?? '').slice(0, 80)}" (${node.opType}): attribute ${name} ${what}.`,
  )
}

/**
 * Typed readers of a node's attributes with defaults; malformed values throw `MODEL_INVALID`.
 *
 * @example
 * ```ts
 * const read = onnxAttributes(node)
 * read.int('group', 1) // 1
 * read.ints('strides', [1, 1]) // [2, 2]
 * ```
 */
export function onnxAttributes(node: onnx.INodeProto) {
  return {
    has(name: string): boolean {
      return find(node, name) !== undefined
    },
    int(name: string, fallback: number): number {
      const attribute = find(node, name)
      if (!attribute) return fallback
      const value = onnxIntToNumber(attribute.i as Parameters<typeof onnxIntToNumber>[0])
      if (value === undefined) throw invalid(node, name, 'is not a safe integer')
      return value
    },
    ints(name: string, fallback: number[]): number[] {
      const attribute = find(node, name)
      if (!attribute) return fallback
      const values = (attribute.ints ?? []).map((item) =>
        onnxIntToNumber(item as Parameters<typeof onnxIntToNumber>[0]),
      )
      if (values.length > 16 || values.some((value) => value === undefined))
        throw invalid(node, name, 'is not a short list of safe integers')
      return values as number[]
    },
    float(name: string, fallback: number): number {
      const attribute = find(node, name)
      return attribute ? (attribute.f ?? 0) : fallback
    },
    string(name: string, fallback: string): string {
      const attribute = find(node, name)
      if (!attribute?.s) return fallback
      return new TextDecoder().decode(attribute.s)
    },
    tensor(name: string): onnx.ITensorProto | undefined {
      return find(node, name)?.t ?? undefined
    },
  }
}
