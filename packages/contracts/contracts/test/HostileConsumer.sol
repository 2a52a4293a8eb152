// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {InferenceHub} from "../InferenceHub.sol";
import {IInferenceConsumer} from "../interfaces/IInferenceConsumer.sol";

/// @title Test-only InferenceHub consumer whose callback misbehaves on purpose: it reverts, burns
/// all its gas, returns a huge revert payload, or calls back into the hub (reentrancy).
contract HostileConsumer is IInferenceConsumer {
    enum Behavior {
        Store,
        Revert,
        BurnGas,
        ReturnBomb,
        Reenter
    }

    InferenceHub public immutable HUB;
    Behavior public behavior;
    /// @notice Calldata sent to the hub from inside the callback (Behavior.Reenter).
    bytes public reentryCall;
    bool public reentrySucceeded;
    bytes public reentryResult;
    uint256 public calls;
    uint256 public gasAtEntry;
    bytes public lastOutput;

    error Boom(uint256 requestId);

    constructor(InferenceHub hub) {
        HUB = hub;
    }

    function setBehavior(Behavior next, bytes calldata call) external {
        behavior = next;
        reentryCall = call;
    }

    function ask(uint256 modelId, bytes calldata input, uint8 mode, uint8 quorum, uint32 callbackGasLimit)
        external
        payable
        returns (uint256)
    {
        return HUB.request{value: msg.value}(modelId, input, mode, quorum, callbackGasLimit);
    }

    function onInferenceResult(uint256 requestId, bytes calldata output) external {
        uint256 entryGas = gasleft();
        Behavior b = behavior;
        if (b == Behavior.Revert) revert Boom(requestId);
        if (b == Behavior.BurnGas) {
            while (true) {}
        }
        if (b == Behavior.ReturnBomb) {
            assembly {
                revert(0, 200000)
            }
        }
        gasAtEntry = entryGas;
        calls += 1;
        lastOutput = output;
        if (b == Behavior.Reenter) {
            (bool ok, bytes memory result) = address(HUB).call(reentryCall);
            reentrySucceeded = ok;
            reentryResult = result;
        }
    }

    function withdrawFromHub() external {
        HUB.withdrawEarnings();
    }

    receive() external payable {}
}
