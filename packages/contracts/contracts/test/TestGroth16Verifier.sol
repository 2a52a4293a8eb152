// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Test-only stand-in for a snarkjs-generated Groth16 verifier with 12 public signals (10
/// outputs + input commitment + model commitment), same signature as the generated one.
/// @notice `mode` decides the answer: Check → true exactly when the arguments hash to
/// `expectedArgumentsHash` (`keccak256(abi.encode(a, b, c, pubSignals))`), Accept → always true,
/// Reject → false, Revert → reverts, Garbage → returns a word that is neither 0 nor 1.
contract TestGroth16Verifier {
    /// @notice How `verifyProof` answers.
    enum Mode {
        Check,
        Accept,
        Reject,
        Revert,
        Garbage
    }

    /// @notice The current answer mode.
    Mode public mode;
    /// @notice The arguments accepted in Check mode.
    bytes32 public expectedArgumentsHash;

    /// @notice Raised in Revert mode.
    error VerifierReverted();

    /// @notice Sets the answer mode and the arguments accepted in Check mode.
    function configure(Mode newMode, bytes32 argumentsHash) external {
        mode = newMode;
        expectedArgumentsHash = argumentsHash;
    }

    /// @notice Same signature as snarkjs' generated `verifyProof` for 12 public signals.
    function verifyProof(
        uint256[2] calldata _pA,
        uint256[2][2] calldata _pB,
        uint256[2] calldata _pC,
        uint256[12] calldata _pubSignals
    ) public view returns (bool) {
        Mode current = mode;
        if (current == Mode.Revert) revert VerifierReverted();
        if (current == Mode.Garbage) {
            assembly {
                mstore(0, 2)
                return(0, 0x20)
            }
        }
        if (current == Mode.Reject) return false;
        if (current == Mode.Accept) return true;
        return keccak256(abi.encode(_pA, _pB, _pC, _pubSignals)) == expectedArgumentsHash;
    }
}
