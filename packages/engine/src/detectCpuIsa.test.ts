import assert from 'node:assert/strict'
import { test } from 'node:test'
import { detectCpuIsa } from './detectCpuIsa.ts'

const x86 = (flags: string) =>
  `processor\t: 0\nvendor_id\t: GenuineIntel\nflags\t\t: ${flags}\n\nprocessor\t: 1\nflags\t\t: ${flags}\n`

test('default', () => {
  const isa = detectCpuIsa()
  assert.match(isa, /^(x86_64-(avx512f|avx2|avx|sse|unknown)(-vnni)?|arm64|[a-z0-9]+)$/)
  if (process.arch === 'x64') assert.ok(isa.startsWith('x86_64-'))
})

test('behavior: x86-64 classes follow the kernels MLAS dispatches to', () => {
  const base = 'fpu sse sse2 ssse3 sse4_1 sse4_2'
  assert.equal(detectCpuIsa({ arch: 'x64', cpuinfo: x86(base) }), 'x86_64-sse')
  assert.equal(detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx`) }), 'x86_64-avx')
  // AVX2 without FMA3 does not get the AVX2 kernels.
  assert.equal(detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx avx2`) }), 'x86_64-avx')
  assert.equal(detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx avx2 fma`) }), 'x86_64-avx2')
  assert.equal(
    detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx avx2 fma avx_vnni`) }),
    'x86_64-avx2-vnni',
  )
  assert.equal(
    detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx avx2 fma avx512f avx512bw`) }),
    'x86_64-avx512f',
  )
  assert.equal(
    detectCpuIsa({ arch: 'x64', cpuinfo: x86(`${base} avx avx2 fma avx512f avx512_vnni`) }),
    'x86_64-avx512f-vnni',
  )
})

test('behavior: other architectures and unreadable flags', () => {
  assert.equal(detectCpuIsa({ arch: 'arm64', cpuinfo: 'Features\t: fp asimd asimddp' }), 'arm64')
  assert.equal(detectCpuIsa({ arch: 'arm64', cpuinfo: undefined }), 'arm64')
  assert.equal(detectCpuIsa({ arch: 'x64', cpuinfo: undefined }), 'x86_64-unknown')
  assert.equal(detectCpuIsa({ arch: 'riscv64', cpuinfo: '' }), 'riscv64')
})
