/**
 * `@verity/zk`: the zero-knowledge verification mode. Quantized ONNX models are compiled to
 * fixed-point Circom circuits and proven with Groth16 (circom2 + snarkjs, both GPL-3.0, which is
 * why this package is GPL-3.0 and the rest of Verity is Apache-2.0).
 */
export {}
