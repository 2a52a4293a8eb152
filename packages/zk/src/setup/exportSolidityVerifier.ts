import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type Groth16VerificationKey, parseGroth16VerificationKey } from '../prover/parseGroth16.ts'
import { exportVerificationKey } from './exportVerificationKey.ts'

let template: Promise<string> | undefined

function loadTemplate(): Promise<string> {
  template ??= readFile(
    join(
      dirname(fileURLToPath(import.meta.resolve('snarkjs'))),
      'templates',
      'verifier_groth16.sol.ejs',
    ),
    'utf8',
  )
  return template
}

/**
 * Renders snarkjs's EJS template. It only uses `<%= expr %>` and `<% code %>` over the
 * verification key's fields; the key has been validated (decimal strings, integers), so no
 * foreign text reaches the generated code.
 */
function render(source: string, vkey: Groth16VerificationKey): string {
  const parts: string[] = ['let out = "";']
  let rest = source
  while (rest.length > 0) {
    const open = rest.indexOf('<%')
    if (open === -1) {
      parts.push(`out += ${JSON.stringify(rest)};`)
      break
    }
    parts.push(`out += ${JSON.stringify(rest.slice(0, open))};`)
    const close = rest.indexOf('%>', open)
    const tag = rest.slice(open + 2, close)
    parts.push(tag.startsWith('=') ? `out += String(${tag.slice(1)});` : tag)
    rest = rest.slice(close + 2)
  }
  parts.push('return out;')
  const names = ['IC', 'nPublic', 'vk_alpha_1', 'vk_beta_2', 'vk_gamma_2', 'vk_delta_2'] as const
  const fn = new Function(...names, parts.join('\n')) as (...args: unknown[]) => string
  return fn(...names.map((name) => vkey[name]))
}

/**
 * Generates the Solidity verifier for a Groth16 key with snarkjs's template (contract
 * `Groth16Verifier`, `verifyProof(uint[2] _pA, uint[2][2] _pB, uint[2] _pC, uint[N] _pubSignals)`,
 * GPL-3.0). Takes a zkey (bytes) or a verification key (object); both give the same source.
 *
 * @example
 * ```ts
 * const source = await exportSolidityVerifier(finalZkey)
 * source.includes('contract Groth16Verifier') // true
 * ```
 */
export async function exportSolidityVerifier(
  keyOrZkey: Uint8Array | Groth16VerificationKey,
): Promise<string> {
  const vkey = parseGroth16VerificationKey(
    keyOrZkey instanceof Uint8Array ? await exportVerificationKey(keyOrZkey) : keyOrZkey,
  )
  return render(await loadTemplate(), vkey)
}
