// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title What InferenceHub asks of a model's registered zero-knowledge verifier.
interface IZkVerifier {
    /// @return true when `proof` shows the model maps the input (hash) to the output (hash).
    function verifyProof(bytes calldata proof, bytes32 inputHash, bytes32 outputHash) external view returns (bool);
}
