import {
  createInferenceRequest,
  createReceipt,
  hashCanonicalJson,
  type NamedTensors,
  signInferenceRequest,
  verifyReceipt,
} from '@verity/protocol'
import { keccak256, recoverAddress, toHex } from 'viem'
import { privateKeyToAccount, sign } from 'viem/accounts'

export type RateResult = {
  name: string
  perSecond: number
  baselinePerSecond: number
  ratio: number
}

async function rate(run: (i: number) => Promise<unknown>, minMs: number): Promise<number> {
  for (let i = 0; i < 20; i++) await run(i) // warm-up
  const start = performance.now()
  let count = 0
  while (performance.now() - start < minMs) await run(count++)
  return count / ((performance.now() - start) / 1000)
}

/**
 * Receipts signed and verified per second, next to the bare secp256k1 operations they are built on
 * (sign a 32-byte hash, recover an address), measured in the same run.
 *
 * @example
 * ```ts
 * const rows = await benchReceipts({ minMs: 1000 })
 * ```
 */
export async function benchReceipts(options: { minMs?: number } = {}): Promise<RateResult[]> {
  const minMs = options.minMs ?? 1500
  const privateKey = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d'
  const account = privateKeyToAccount(privateKey)
  const inputs: NamedTensors = {
    image: { dtype: 'uint8', shape: [1, 1, 28, 28], data: new Uint8Array(784).fill(7) },
  }
  const outputs: NamedTensors = {
    logits: { dtype: 'int32', shape: [1, 10], data: new Int32Array(10).fill(3) },
  }
  const engine = { name: 'onnxruntime-node', version: '1.30.0', settings: { intraOpNumThreads: 1 } }
  const request = createInferenceRequest({
    modelCid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy',
    manifestHash: hashCanonicalJson({}),
    inputs,
  })
  const requestSignature = await signInferenceRequest({ account, request })
  const make = () =>
    createReceipt({
      account,
      requester: account.address,
      request,
      requestSignature,
      outputs,
      engine,
    })
  const receipt = await make()
  const hashes = Array.from({ length: 64 }, (_, i) => keccak256(toHex(i)))
  const signatures = await Promise.all(hashes.map((hash) => sign({ hash, privateKey, to: 'hex' })))

  const signRate = await rate(() => make(), minMs)
  const rawSignRate = await rate((i) => sign({ hash: hashes[i % 64]!, privateKey }), minMs)
  const verifyRate = await rate(() => verifyReceipt(receipt), minMs)
  const rawRecoverRate = await rate(
    (i) => recoverAddress({ hash: hashes[i % 64]!, signature: signatures[i % 64]! }),
    minMs,
  )
  return [
    {
      name: 'receipt sign (1 EIP-712 sig)',
      perSecond: signRate,
      baselinePerSecond: rawSignRate,
      ratio: signRate / rawSignRate,
    },
    {
      name: 'receipt verify (2 EIP-712 recoveries)',
      perSecond: verifyRate,
      baselinePerSecond: rawRecoverRate,
      ratio: verifyRate / rawRecoverRate,
    },
  ]
}

if (import.meta.main) {
  for (const row of await benchReceipts()) console.log(row)
}
