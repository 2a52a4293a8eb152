import { readFileSync } from 'node:fs'

/**
 * Inputs of {@link detectCpuIsa}; both default to this machine.
 *
 * @example
 * ```ts
 * const parameters: DetectCpuIsaParameters = { arch: 'x64', cpuinfo: readFileSync('/proc/cpuinfo', 'utf8') }
 * ```
 */
export type DetectCpuIsaParameters = {
  /** `process.arch` (`x64`, `arm64`, …). */
  arch?: string | undefined
  /** The text of `/proc/cpuinfo`; `undefined` when it cannot be read (macOS, Windows). */
  cpuinfo?: string | undefined
}

function readCpuinfo(): string | undefined {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8')
  } catch {
    return undefined
  }
}

function cpuFlags(cpuinfo: string): Set<string> {
  // x86 lists them on "flags", arm64 on "Features"; every core repeats the same line.
  const line = cpuinfo.split('\n').find((text) => /^(flags|Features)\s*:/.test(text))
  return new Set((line?.split(':')[1] ?? '').trim().split(/\s+/).filter(Boolean))
}

/**
 * The ISA class of a CPU, as far as it can change onnxruntime's outputs. ORT's CPU kernels (MLAS)
 * pick their code path at run time from the CPU's features, and different paths round floats
 * differently (FMA vs. separate multiply-add, 8- vs. 16-wide accumulation), so float results are
 * only bit-comparable between machines of the same class:
 *
 * - x86-64: `x86_64-avx512f` (AVX-512 kernels), `x86_64-avx2` (AVX2 + FMA3), `x86_64-avx`,
 *   `x86_64-sse`; suffixed `-vnni` when the CPU has AVX512-VNNI / AVX-VNNI, because without VNNI
 *   MLAS's u8×s8 GEMM uses `vpmaddubsw`, which can saturate int16 pair sums, so even quantized
 *   (integer) models may differ between VNNI and non-VNNI machines.
 * - arm64: `arm64` (NEON kernels everywhere; int8 dot-product paths are exact).
 * - anything else: `<arch>`; `x86_64-unknown` when the flags cannot be read (then it never
 *   matches a Linux verifier, which is the safe failure).
 *
 * @example
 * ```ts
 * detectCpuIsa() // 'x86_64-avx512f-vnni' on a Cascade Lake or newer server
 * detectCpuIsa({ arch: 'x64', cpuinfo: 'flags : sse2 avx avx2 fma' }) // 'x86_64-avx2'
 * ```
 */
export function detectCpuIsa(parameters: DetectCpuIsaParameters = {}): string {
  const arch = parameters.arch ?? process.arch
  const cpuinfo = 'cpuinfo' in parameters ? parameters.cpuinfo : readCpuinfo()
  if (arch === 'arm64') return 'arm64'
  if (arch !== 'x64') return arch
  if (cpuinfo === undefined) return 'x86_64-unknown'
  const flags = cpuFlags(cpuinfo)
  const vnni = flags.has('avx512_vnni') || flags.has('avx_vnni') ? '-vnni' : ''
  if (flags.has('avx512f')) return `x86_64-avx512f${vnni}`
  if (flags.has('avx2') && flags.has('fma')) return `x86_64-avx2${vnni}`
  if (flags.has('avx')) return 'x86_64-avx'
  return 'x86_64-sse'
}
