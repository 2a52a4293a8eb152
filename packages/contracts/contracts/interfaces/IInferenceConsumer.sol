// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title A contract that receives verified inference results from InferenceHub.
interface IInferenceConsumer {
    function onInferenceResult(uint256 requestId, bytes calldata output) external;
}
