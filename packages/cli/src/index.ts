// The `verity` CLI as a library: `main` (the command line) and the devnet, for benchmarks and
// tools that start a whole network in-process.
export * from './devnet/options.ts'
export * from './devnet/registerOnChain.ts'
export * from './devnet/startDevnet.ts'
export { main } from './main.ts'
export type { Progress, ProgressStep } from './progress.ts'
