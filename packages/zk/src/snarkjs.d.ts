/**
 * Types for the parts of snarkjs 0.7.6 that `@verity/zk` uses (the package ships none). A
 * "file" is a path, a `Uint8Array`, or a fastfile object (`{ type: 'mem', data? }` keeps it in
 * memory; after a write, `data` holds the bytes).
 */
declare module 'snarkjs' {
  export type MemFile = { type: 'mem'; data?: Uint8Array }
  export type BigMemFile = { type: 'bigMem' }
  export type FastFile = string | Uint8Array | MemFile | BigMemFile

  /** A logger in the shape snarkjs calls (all optional levels used by it). */
  export type SnarkjsLogger = {
    debug: (message: string) => void
    info: (message: string) => void
    warn: (message: string) => void
    error: (message: string) => void
  }

  /** A Groth16 proof as snarkjs emits it (decimal strings, projective coordinates). */
  export type Groth16ProofJson = {
    pi_a: string[]
    pi_b: string[][]
    pi_c: string[]
    protocol: string
    curve: string
  }

  /** A Groth16 verification key as snarkjs emits it. */
  export type Groth16VerificationKeyJson = {
    protocol: string
    curve: string
    nPublic: number
    vk_alpha_1: string[]
    vk_beta_2: string[][]
    vk_gamma_2: string[][]
    vk_delta_2: string[][]
    vk_alphabeta_12: string[][][]
    IC: string[][]
  }

  export type WitnessCalculatorOptions = {
    memorySize?: number
    logTrigger?: unknown
    logOutput?: unknown
    logStartComponent?: unknown
    logFinishComponent?: unknown
    logSetSignal?: unknown
    logGetSignal?: unknown
  }

  export namespace groth16 {
    function prove(
      zkey: FastFile,
      witness: FastFile,
      logger?: SnarkjsLogger,
      options?: { singleThread?: boolean },
    ): Promise<{ proof: Groth16ProofJson; publicSignals: string[] }>
    function fullProve(
      input: Record<string, unknown>,
      wasm: FastFile,
      zkey: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<{ proof: Groth16ProofJson; publicSignals: string[] }>
    function verify(
      vkey: unknown,
      publicSignals: unknown,
      proof: unknown,
      logger?: SnarkjsLogger,
    ): Promise<boolean>
    function exportSolidityCallData(proof: unknown, publicSignals: unknown): Promise<string>
  }

  export namespace wtns {
    function calculate(
      input: Record<string, unknown>,
      wasm: FastFile,
      wtns: FastFile,
      options?: WitnessCalculatorOptions,
    ): Promise<void>
    function exportJson(wtns: FastFile): Promise<bigint[]>
    function check(r1cs: FastFile, wtns: FastFile, logger?: SnarkjsLogger): Promise<boolean>
  }

  export namespace zKey {
    function newZKey(
      r1cs: FastFile,
      ptau: FastFile,
      zkey: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<unknown>
    function contribute(
      zkeyOld: FastFile,
      zkeyNew: FastFile,
      name: string,
      entropy: string,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array>
    function beacon(
      zkeyOld: FastFile,
      zkeyNew: FastFile,
      name: string,
      beaconHashHex: string,
      numIterationsExp: number,
      logger?: SnarkjsLogger,
    ): Promise<Uint8Array | false>
    function verifyFromR1cs(
      r1cs: FastFile,
      ptau: FastFile,
      zkey: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<boolean>
    function verifyFromInit(
      initZkey: FastFile,
      ptau: FastFile,
      zkey: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<boolean>
    function exportVerificationKey(
      zkey: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<Groth16VerificationKeyJson>
    function exportSolidityVerifier(
      zkey: FastFile,
      templates: Record<string, string>,
      logger?: SnarkjsLogger,
    ): Promise<string>
  }

  export namespace r1cs {
    function info(
      r1cs: FastFile,
      logger?: SnarkjsLogger,
    ): Promise<{ nVars: number; nConstraints: number; nPubInputs: number; nOutputs: number }>
  }

  export namespace powersOfTau {
    function verify(ptau: FastFile, logger?: SnarkjsLogger): Promise<boolean>
  }

  /** A curve built by ffjavascript; holds worker threads until `terminate()`. */
  export type Curve = { terminate: () => Promise<void> | void }

  export namespace curves {
    function getCurveFromName(name: string, options?: { singleThread?: boolean }): Promise<Curve>
  }
}
