// Re-execution quorums: the verifier role (POST /v1/verify), the `reexec` verification of the
// executor, peers, selection seeds, attestation and evidence storage, metrics.
export * from './checkAttestation.ts'
export * from './createReexecVerification.ts'
export * from './createVerificationStore.ts'
export * from './createVerifier.ts'
export * from './parseVerifyBody.ts'
export * from './peerDirectory.ts'
export * from './requestAttestation.ts'
export * from './seedSource.ts'
export * from './verificationMetrics.ts'
