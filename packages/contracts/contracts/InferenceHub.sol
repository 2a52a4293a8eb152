// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IInferenceConsumer} from "./interfaces/IInferenceConsumer.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeRegistry, ROLE_EXECUTOR} from "./interfaces/INodeRegistry.sol";
import {IZkVerifier} from "./interfaces/IZkVerifier.sol";

/// @title Contract-callable inference: a contract pays for a request, staked nodes fulfil it, the
/// hub checks the evidence and calls the contract back.
/// @notice `request` (payable, at least the model's price) → nodes watch `InferenceRequested` and
/// `InferenceInput` → `fulfill` with EIP-712 `HubResult(requestId, inputHash, outputHash)`
/// signatures of the executor and at least `quorum` other active nodes (mode 1, re-execution), or
/// `fulfillWithProof` with a proof the model's IZkVerifier accepts (mode 2) → the fee is split
/// (royalty to the creator, verifier pool equally among co-signers, treasury, rest to the executor;
/// pull payments via `withdrawEarnings`) → `onInferenceResult` on the consumer with exactly its
/// `callbackGasLimit`. A failing callback emits `CallbackFailed` and never undoes the fulfilment; a
/// transaction with too little gas to give the callback its full limit reverts instead
/// (`InsufficientGasForCallback`), so a fulfiller cannot starve it. Unfulfilled requests can be
/// refunded to the consumer after REQUEST_TIMEOUT (credited to its earnings).
///
/// The model's creator, royalty rate and zk verifier are read once, at request time.
contract InferenceHub is EIP712, ReentrancyGuard {
    // ------------------------------------------------------------------ types

    /// @notice A node's signature over the EIP-712 `HubResult` of a fulfilment.
    struct Signed {
        address signer;
        bytes signature;
    }

    enum RequestStatus {
        None,
        Pending,
        Fulfilled,
        Refunded
    }

    struct Request {
        address consumer;
        uint64 deadline;
        uint32 callbackGasLimit;
        address creator;
        uint16 royaltyBps;
        uint8 mode;
        uint8 quorum;
        RequestStatus status;
        address zkVerifier;
        uint96 fee;
        bytes32 inputHash;
        uint256 modelId;
    }

    // ------------------------------------------------------------------ constants and parameters

    uint256 public constant BPS = 10_000;
    uint8 public constant MODE_REEXEC = 1;
    uint8 public constant MODE_ZK = 2;
    /// @notice Largest quorum a request may ask for (a fulfilment carries at most MAX_QUORUM + 1 signatures).
    uint8 public constant MAX_QUORUM = 32;
    /// @notice Gas kept back, beyond the callback's limit and EIP-150's 1/64, to finish after the callback.
    uint256 public constant CALLBACK_GAS_RESERVE = 20_000;
    /// @notice How many bytes of a failed callback's revert data `CallbackFailed` carries.
    uint256 public constant MAX_REASON_BYTES = 256;

    bytes32 public constant HUB_RESULT_TYPEHASH =
        keccak256("HubResult(uint256 requestId,bytes32 inputHash,bytes32 outputHash)");

    INodeRegistry public immutable NODE_REGISTRY;
    IModelRegistry public immutable MODEL_REGISTRY;
    address public immutable TREASURY;
    uint64 public immutable REQUEST_TIMEOUT;
    uint16 public immutable VERIFIER_BPS;
    uint16 public immutable TREASURY_BPS;
    uint32 public immutable MAX_CALLBACK_GAS;

    // ------------------------------------------------------------------ state

    /// @notice Number of requests (= the last request id; ids start at 1).
    uint256 public requestCount;
    mapping(uint256 requestId => Request) private _requests;
    /// @notice Wei owed to each party (fees, royalties, refunds), withdrawn with `withdrawEarnings`.
    mapping(address party => uint256) public earnings;

    // ------------------------------------------------------------------ events

    event ParametersSet(
        address nodeRegistry,
        address modelRegistry,
        address treasury,
        uint64 requestTimeout,
        uint16 verifierBps,
        uint16 treasuryBps,
        uint32 maxCallbackGas,
        uint8 maxQuorum,
        uint256 callbackGasReserve
    );
    event InferenceRequested(
        uint256 indexed requestId,
        address indexed consumer,
        uint256 indexed modelId,
        string cid,
        bytes32 inputHash,
        uint8 mode,
        uint8 quorum,
        uint256 fee,
        uint32 callbackGasLimit,
        uint64 deadline
    );
    /// @notice The input bytes of a request (nodes cannot read them from a consumer contract's calldata).
    event InferenceInput(uint256 indexed requestId, bytes input);
    event InferenceFulfilled(
        uint256 indexed requestId,
        address indexed executor,
        bytes32 outputHash,
        address[] cosigners,
        uint256 royalty,
        uint256 verifierPool,
        uint256 treasuryAmount,
        uint256 executorAmount
    );
    event CallbackSucceeded(uint256 indexed requestId, address indexed consumer);
    event CallbackFailed(uint256 indexed requestId, address indexed consumer, bytes reason);
    event Refunded(uint256 indexed requestId, address indexed consumer, uint256 fee);
    event EarningsWithdrawn(address indexed party, uint256 amount);

    // ------------------------------------------------------------------ errors

    error ZeroAddress(string name);
    error InvalidParameter(string name);
    error InvalidMode(uint8 mode);
    error QuorumTooHigh(uint8 quorum, uint8 maxQuorum);
    error CallbackGasTooHigh(uint32 callbackGasLimit, uint32 maxCallbackGas);
    error UnknownModel(uint256 modelId);
    error ModelDeprecated(uint256 modelId);
    error NoZkVerifier(uint256 modelId);
    error FeeTooLow(uint256 fee, uint256 pricePerCall);
    error SplitExceedsFee(uint16 royaltyBps, uint16 verifierBps, uint16 treasuryBps);
    error UnknownRequest(uint256 requestId);
    error RequestNotPending(uint256 requestId, RequestStatus status);
    error WrongMode(uint256 requestId, uint8 mode);
    error RequestExpired(uint256 requestId, uint64 deadline);
    error RequestNotExpired(uint256 requestId, uint64 deadline);
    error NotActiveExecutor(address caller);
    error TooManySignatures(uint256 length, uint256 max);
    error InvalidSignature(address signer);
    error DuplicateSigner(address signer);
    error SignerNotActive(address signer);
    error MissingExecutorSignature(address executor);
    error QuorumNotMet(uint256 cosigners, uint8 quorum);
    error InvalidProof(uint256 requestId);
    error InsufficientGasForCallback(uint256 gasLeft, uint256 needed);
    error NothingToWithdraw();
    error TransferFailed(address to, uint256 amount);

    // ------------------------------------------------------------------ construction

    /// @param nodeRegistry Who may fulfil (active executors) and co-sign (active nodes).
    /// @param modelRegistry Models: price, creator, royalty, zk verifier.
    /// @param treasury Receives TREASURY_BPS of every fee.
    /// @param requestTimeout Seconds a request may be fulfilled; after that it can be refunded (> 0).
    /// @param verifierBps Share of each fee for the co-signers (to the executor when there are none).
    /// @param treasuryBps Share of each fee for the treasury (verifierBps + treasuryBps ≤ 10000).
    /// @param maxCallbackGas Largest `callbackGasLimit` a request may ask for.
    constructor(
        address nodeRegistry,
        address modelRegistry,
        address treasury,
        uint64 requestTimeout,
        uint16 verifierBps,
        uint16 treasuryBps,
        uint32 maxCallbackGas
    ) EIP712("Verity", "1") {
        if (nodeRegistry == address(0)) revert ZeroAddress("nodeRegistry");
        if (modelRegistry == address(0)) revert ZeroAddress("modelRegistry");
        if (treasury == address(0)) revert ZeroAddress("treasury");
        if (requestTimeout == 0) revert InvalidParameter("requestTimeout");
        if (uint256(verifierBps) + treasuryBps > BPS) revert InvalidParameter("verifierBps + treasuryBps");
        NODE_REGISTRY = INodeRegistry(nodeRegistry);
        MODEL_REGISTRY = IModelRegistry(modelRegistry);
        TREASURY = treasury;
        REQUEST_TIMEOUT = requestTimeout;
        VERIFIER_BPS = verifierBps;
        TREASURY_BPS = treasuryBps;
        MAX_CALLBACK_GAS = maxCallbackGas;
        emit ParametersSet(
            nodeRegistry,
            modelRegistry,
            treasury,
            requestTimeout,
            verifierBps,
            treasuryBps,
            maxCallbackGas,
            MAX_QUORUM,
            CALLBACK_GAS_RESERVE
        );
    }

    // ------------------------------------------------------------------ requests

    /// @notice Asks for an inference of the latest version of `modelId` on `input`; msg.value (at
    /// least the model's price) is the fee. The caller is the consumer called back with the result
    /// (no callback when `callbackGasLimit` is 0).
    /// @param mode 1 re-execution with a quorum of co-signers, 2 zero-knowledge proof.
    /// @param quorum Co-signers required besides the executor (mode 1).
    function request(uint256 modelId, bytes calldata input, uint8 mode, uint8 quorum, uint32 callbackGasLimit)
        external
        payable
        returns (uint256 requestId)
    {
        if (mode != MODE_REEXEC && mode != MODE_ZK) revert InvalidMode(mode);
        if (quorum > MAX_QUORUM) revert QuorumTooHigh(quorum, MAX_QUORUM);
        if (callbackGasLimit > MAX_CALLBACK_GAS) revert CallbackGasTooHigh(callbackGasLimit, MAX_CALLBACK_GAS);
        IModelRegistry.Model memory model = _model(modelId);
        if (model.deprecated) revert ModelDeprecated(modelId);
        if (msg.value < model.pricePerCall) revert FeeTooLow(msg.value, model.pricePerCall);
        if (mode == MODE_ZK && model.zkVerifier == address(0)) revert NoZkVerifier(modelId);
        if (uint256(model.royaltyBps) + VERIFIER_BPS + TREASURY_BPS > BPS) {
            revert SplitExceedsFee(model.royaltyBps, VERIFIER_BPS, TREASURY_BPS);
        }

        requestId = ++requestCount;
        uint64 deadline = uint64(block.timestamp) + REQUEST_TIMEOUT;
        bytes32 inputHash = keccak256(input);
        _requests[requestId] = Request({
            consumer: msg.sender,
            deadline: deadline,
            callbackGasLimit: callbackGasLimit,
            creator: model.creator,
            royaltyBps: model.royaltyBps,
            mode: mode,
            quorum: quorum,
            status: RequestStatus.Pending,
            zkVerifier: model.zkVerifier,
            fee: SafeCast.toUint96(msg.value),
            inputHash: inputHash,
            modelId: modelId
        });
        (, string memory cid,) = MODEL_REGISTRY.latestVersion(modelId);
        emit InferenceRequested(
            requestId, msg.sender, modelId, cid, inputHash, mode, quorum, msg.value, callbackGasLimit, deadline
        );
        emit InferenceInput(requestId, input);
    }

    /// @notice Fulfils a re-execution request. The caller must be an active executor and
    /// `signatures` must hold its own signature and those of at least `quorum` other distinct
    /// active nodes over `HubResult(requestId, inputHash, keccak256(output))` (this contract's
    /// EIP-712 domain). Every entry must be valid: a bad one reverts.
    function fulfill(uint256 requestId, bytes calldata output, Signed[] calldata signatures) external nonReentrant {
        Request storage r = _fulfillable(requestId, MODE_REEXEC);
        if (signatures.length > uint256(MAX_QUORUM) + 1) {
            revert TooManySignatures(signatures.length, uint256(MAX_QUORUM) + 1);
        }
        bytes32 outputHash = keccak256(output);
        address[] memory cosigners = _checkSignatures(hashResult(requestId, r.inputHash, outputHash), signatures);
        if (cosigners.length < r.quorum) revert QuorumNotMet(cosigners.length, r.quorum);
        _pay(requestId, r, outputHash, cosigners);
        _callback(requestId, r.consumer, r.callbackGasLimit, output);
    }

    /// @notice Fulfils a zero-knowledge request: the model's verifier (as of the request) must accept
    /// `proof` for `(inputHash, keccak256(output))`. The caller must be an active executor.
    function fulfillWithProof(uint256 requestId, bytes calldata output, bytes calldata proof) external nonReentrant {
        Request storage r = _fulfillable(requestId, MODE_ZK);
        bytes32 outputHash = keccak256(output);
        bool accepted;
        try IZkVerifier(r.zkVerifier).verifyProof(proof, r.inputHash, outputHash) returns (bool ok) {
            accepted = ok;
        } catch {
            accepted = false;
        }
        if (!accepted) revert InvalidProof(requestId);
        _pay(requestId, r, outputHash, new address[](0));
        _callback(requestId, r.consumer, r.callbackGasLimit, output);
    }

    /// @notice Returns the fee of a request not fulfilled by its deadline to its consumer (credited to
    /// the consumer's earnings). Anyone may call.
    function refund(uint256 requestId) external {
        Request storage r = _pending(requestId);
        if (block.timestamp <= r.deadline) revert RequestNotExpired(requestId, r.deadline);
        r.status = RequestStatus.Refunded;
        earnings[r.consumer] += r.fee;
        emit Refunded(requestId, r.consumer, r.fee);
    }

    /// @notice Pays the caller everything it has earned or been refunded.
    function withdrawEarnings() external nonReentrant {
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        earnings[msg.sender] = 0;
        emit EarningsWithdrawn(msg.sender, amount);
        (bool ok,) = msg.sender.call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function getRequest(uint256 requestId) external view returns (Request memory) {
        Request memory r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        return r;
    }

    /// @notice The EIP-712 digest nodes sign for a result under this contract's domain.
    function hashResult(uint256 requestId, bytes32 inputHash, bytes32 outputHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(HUB_RESULT_TYPEHASH, requestId, inputHash, outputHash)));
    }

    // ------------------------------------------------------------------ internals

    function _model(uint256 modelId) private view returns (IModelRegistry.Model memory model) {
        try MODEL_REGISTRY.getModel(modelId) returns (IModelRegistry.Model memory found) {
            model = found;
        } catch {
            revert UnknownModel(modelId);
        }
    }

    function _pending(uint256 requestId) private view returns (Request storage r) {
        r = _requests[requestId];
        if (r.status == RequestStatus.None) revert UnknownRequest(requestId);
        if (r.status != RequestStatus.Pending) revert RequestNotPending(requestId, r.status);
    }

    function _fulfillable(uint256 requestId, uint8 mode) private view returns (Request storage r) {
        r = _pending(requestId);
        if (r.mode != mode) revert WrongMode(requestId, r.mode);
        if (block.timestamp > r.deadline) revert RequestExpired(requestId, r.deadline);
        if (!NODE_REGISTRY.isActive(msg.sender) || !NODE_REGISTRY.hasRole(msg.sender, ROLE_EXECUTOR)) {
            revert NotActiveExecutor(msg.sender);
        }
    }

    /// @dev Checks every signature; returns the distinct active co-signers other than the caller.
    function _checkSignatures(bytes32 digest, Signed[] calldata signatures)
        private
        view
        returns (address[] memory cosigners)
    {
        cosigners = new address[](signatures.length);
        uint256 n;
        bool executorSigned;
        for (uint256 i = 0; i < signatures.length; ++i) {
            Signed calldata s = signatures[i];
            (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, s.signature);
            if (err != ECDSA.RecoverError.NoError || recovered != s.signer) revert InvalidSignature(s.signer);
            if (s.signer == msg.sender) {
                if (executorSigned) revert DuplicateSigner(s.signer);
                executorSigned = true;
                continue;
            }
            for (uint256 j = 0; j < n; ++j) {
                if (cosigners[j] == s.signer) revert DuplicateSigner(s.signer);
            }
            if (!NODE_REGISTRY.isActive(s.signer)) revert SignerNotActive(s.signer);
            cosigners[n++] = s.signer;
        }
        if (!executorSigned) revert MissingExecutorSignature(msg.sender);
        assembly ("memory-safe") {
            mstore(cosigners, n)
        }
    }

    /// @dev Marks the request fulfilled and credits the fee split (effects only).
    function _pay(uint256 requestId, Request storage r, bytes32 outputHash, address[] memory cosigners) private {
        r.status = RequestStatus.Fulfilled;
        uint256 fee = r.fee;
        uint256 royalty = (fee * r.royaltyBps) / BPS;
        uint256 treasuryAmount = (fee * TREASURY_BPS) / BPS;
        uint256 verifierPaid;
        if (cosigners.length != 0) {
            uint256 each = ((fee * VERIFIER_BPS) / BPS) / cosigners.length;
            if (each != 0) {
                for (uint256 i = 0; i < cosigners.length; ++i) {
                    earnings[cosigners[i]] += each;
                }
                verifierPaid = each * cosigners.length;
            }
        }
        uint256 executorAmount = fee - royalty - treasuryAmount - verifierPaid;
        if (royalty != 0) earnings[r.creator] += royalty;
        if (treasuryAmount != 0) earnings[TREASURY] += treasuryAmount;
        earnings[msg.sender] += executorAmount;
        emit InferenceFulfilled(
            requestId, msg.sender, outputHash, cosigners, royalty, verifierPaid, treasuryAmount, executorAmount
        );
    }

    /// @dev Calls the consumer with exactly `gasLimit` gas. Reverts when the transaction cannot give
    /// it that much (EIP-150 forwards at most 63/64 of what is left); never reverts because of the
    /// callee, and copies at most MAX_REASON_BYTES of its return data (no return-data bomb).
    function _callback(uint256 requestId, address consumer, uint256 gasLimit, bytes calldata output) private {
        if (gasLimit == 0) return;
        bytes memory data = abi.encodeCall(IInferenceConsumer.onInferenceResult, (requestId, output));
        uint256 needed = gasLimit + gasLimit / 63 + CALLBACK_GAS_RESERVE;
        if (gasleft() < needed) revert InsufficientGasForCallback(gasleft(), needed);
        bool ok;
        assembly ("memory-safe") {
            ok := call(gasLimit, consumer, 0, add(data, 0x20), mload(data), 0, 0)
        }
        if (ok) {
            emit CallbackSucceeded(requestId, consumer);
            return;
        }
        bytes memory reason;
        assembly ("memory-safe") {
            let size := returndatasize()
            if gt(size, MAX_REASON_BYTES) { size := MAX_REASON_BYTES }
            reason := mload(0x40)
            mstore(reason, size)
            returndatacopy(add(reason, 0x20), 0, size)
            mstore(0x40, add(add(reason, 0x20), and(add(size, 31), not(31))))
        }
        emit CallbackFailed(requestId, consumer, reason);
    }
}
