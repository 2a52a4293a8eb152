// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {IModelRegistry} from "./interfaces/IModelRegistry.sol";
import {INodeRegistry, ROLE_EXECUTOR} from "./interfaces/INodeRegistry.sol";

/// @title Optimistic receipt rollup: payer escrow, batch commitments, fraud proofs, fee split.
/// @notice An executor commits the Merkle root of a batch of receipts together with what each payer
/// owes, what each model earned and how many receipts each verifier co-signed (O(parties) gas, not
/// O(receipts)). The payers' totals move from their free escrow to `reserved`. During
/// CHALLENGE_WINDOW anyone may prove one bad receipt (one leaf + Merkle proof): the batch is
/// reverted (reservations return to the payers), the executor is slashed SLASH_AMOUNT in the
/// NodeRegistry, the challenger earns CHALLENGER_REWARD_BPS of what was slashed and the treasury the
/// rest. After the window `finalize` splits the batch total: royalties to model creators, a verifier
/// pool pro rata to co-signed receipts, a treasury cut, the rest to the executor. Everything owed is
/// a pull payment (`withdrawEarnings`).
///
/// A request the payer never signed cannot be proven by a one-shot fraud proof (whoever calls
/// chooses the signature, and a leaf does not commit to it), so it is settled by an interactive
/// dispute: the leaf's requester calls `disputeRequest`, anyone (normally the executor) answers with
/// the signed request (`answerDispute`) within CHALLENGE_WINDOW, otherwise `resolveDispute` treats
/// the batch as fraudulent. A batch with an open dispute cannot be finalized.
///
/// Royalty rates and creators are read from the ModelRegistry when the batch is committed (a
/// creator cannot change the split of a batch in flight), and the whole split is checked then, so
/// `finalize` cannot fail.
contract Settlement is EIP712, ReentrancyGuard {
    // ------------------------------------------------------------------ types

    /// @notice The request a payer signs (EIP-712 `InferenceRequest`).
    struct InferenceRequest {
        string modelCid;
        bytes32 manifestHash;
        bytes32 inputHash;
        bytes32 paramsHash;
        uint8 mode;
        uint8 quorum;
        uint256 maxFee;
        bytes32 nonce;
        uint64 deadline;
    }

    /// @notice What an executor signs about a job (EIP-712 `ExecutionReceipt`).
    struct ExecutionReceipt {
        bytes32 jobId;
        address requester;
        string modelCid;
        bytes32 manifestHash;
        bytes32 inputHash;
        bytes32 paramsHash;
        uint8 mode;
        bytes32 outputHash;
        bytes32 engineSettingsHash;
        uint64 executedAt;
    }

    /// @notice One settled receipt (a Merkle leaf, OpenZeppelin StandardMerkleTree encoding).
    struct ReceiptLeaf {
        bytes32 jobId;
        address requester;
        address executor;
        bytes32 modelCidHash;
        uint256 fee;
        bytes32 requestStructHash;
        bytes32 outputHash;
        uint8 quorum;
        bytes32 attestationsHash;
    }

    /// @notice A verifier's co-signature over EIP-712 `Attestation(jobId, outputHash, agree)`.
    struct Attestation {
        address verifier;
        bool agree;
        bytes signature;
    }

    struct PayerTotal {
        address payer;
        uint256 total;
    }

    struct ModelTotal {
        uint256 modelId;
        uint256 total;
    }

    struct VerifierShare {
        address verifier;
        uint32 count;
    }

    /// @notice A model's total in a batch with the creator and royalty rate read at commit time.
    struct ModelSnapshot {
        uint128 modelId;
        uint128 total;
        address creator;
        uint16 royaltyBps;
    }

    enum BatchStatus {
        None,
        Pending,
        Reverted,
        Finalized
    }

    /// @notice Why a batch was reverted (the `reason` of `BatchChallenged`).
    enum FraudReason {
        None,
        ExecutorMismatch, // leaf.executor is not the batch's executor
        JobIdMismatch, // leaf.jobId != keccak256(abi.encode(requester, requestStructHash))
        ModelMismatch, // leaf.modelCidHash != keccak256(request.modelCid)
        QuorumMismatch, // leaf.quorum != request.quorum
        FeeAboveMax, // leaf.fee > request.maxFee
        CommittedAfterDeadline, // batch committed after request.deadline
        RequestNotSigned, // an unanswered request dispute
        QuorumNotMet, // fewer valid agreeing attestations than leaf.quorum
        Equivocation, // the executor signed another output for the same job
        ExecutorInactive // the executor was not active at commit time
    }

    enum DisputeStatus {
        None,
        Open,
        Answered,
        Upheld
    }

    struct Batch {
        bytes32 root;
        address executor;
        uint64 committedAt;
        uint32 count;
        BatchStatus status;
        uint16 openDisputes;
        uint16 payerCount;
        uint16 modelCount;
        uint16 verifierCount;
        uint64 verifierCountSum;
        uint96 total;
    }

    struct PayerEntry {
        address payer;
        uint96 total;
    }

    /// @notice A batch as returned by `getBatch`.
    struct BatchView {
        bytes32 root;
        address executor;
        uint64 committedAt;
        uint64 challengeDeadline;
        uint32 count;
        BatchStatus status;
        uint16 openDisputes;
        uint256 total;
        PayerTotal[] payers;
        ModelSnapshot[] models;
        VerifierShare[] verifiers;
    }

    struct Account {
        uint128 free;
        uint128 reserved;
    }

    struct Withdrawal {
        uint128 amount;
        uint64 availableAt;
    }

    struct Dispute {
        address disputer;
        uint64 answerBy;
        DisputeStatus status;
    }

    // ------------------------------------------------------------------ constants and parameters

    uint256 public constant BPS = 10_000;
    /// @notice Cap of each of the payer, model and verifier arrays of a batch.
    uint256 public constant MAX_PARTIES = 256;
    /// @notice Only the first MAX_ATTESTATIONS attestations of a leaf count toward its quorum.
    uint256 public constant MAX_ATTESTATIONS = 32;

    bytes32 public constant REQUEST_TYPEHASH = keccak256(
        "InferenceRequest(string modelCid,bytes32 manifestHash,bytes32 inputHash,bytes32 paramsHash,uint8 mode,uint8 quorum,uint256 maxFee,bytes32 nonce,uint64 deadline)"
    );
    bytes32 public constant RECEIPT_TYPEHASH = keccak256(
        "ExecutionReceipt(bytes32 jobId,address requester,string modelCid,bytes32 manifestHash,bytes32 inputHash,bytes32 paramsHash,uint8 mode,bytes32 outputHash,bytes32 engineSettingsHash,uint64 executedAt)"
    );
    bytes32 public constant ATTESTATION_TYPEHASH =
        keccak256("Attestation(bytes32 jobId,bytes32 outputHash,bool agree)");
    bytes32 private constant LOCAL_DOMAIN_TYPEHASH =
        keccak256("EIP712Domain(string name,string version,uint256 chainId)");

    INodeRegistry public immutable NODE_REGISTRY;
    IModelRegistry public immutable MODEL_REGISTRY;
    address public immutable TREASURY;
    uint64 public immutable CHALLENGE_WINDOW;
    uint64 public immutable ESCROW_WITHDRAWAL_DELAY;
    uint16 public immutable VERIFIER_BPS;
    uint16 public immutable TREASURY_BPS;
    uint256 public immutable SLASH_AMOUNT;
    uint16 public immutable CHALLENGER_REWARD_BPS;

    // ------------------------------------------------------------------ state

    /// @notice Number of committed batches (= the last batch id; ids start at 1).
    uint256 public batchCount;
    mapping(uint256 batchId => Batch) private _batches;
    // Party entries by index (the counts live in the Batch: no array-length slots to write).
    mapping(uint256 batchId => mapping(uint256 index => PayerEntry)) private _payers;
    mapping(uint256 batchId => mapping(uint256 index => ModelSnapshot)) private _models;
    mapping(uint256 batchId => mapping(uint256 index => VerifierShare)) private _verifiers;
    mapping(uint256 batchId => mapping(bytes32 leafHash => Dispute)) private _disputes;
    mapping(address payer => Account) private _accounts;
    mapping(address payer => Withdrawal) private _withdrawals;
    /// @notice Wei owed to each party (royalties, fees, rewards), withdrawn with `withdrawEarnings`.
    mapping(address party => uint256) public earnings;

    // ------------------------------------------------------------------ events

    event ParametersSet(
        address nodeRegistry,
        address modelRegistry,
        address treasury,
        uint64 challengeWindow,
        uint64 escrowWithdrawalDelay,
        uint16 verifierBps,
        uint16 treasuryBps,
        uint256 slashAmount,
        uint16 challengerRewardBps,
        uint256 maxParties,
        uint256 maxAttestations
    );
    event Deposited(address indexed payer, address indexed from, uint256 amount, uint256 balance);
    event WithdrawalRequested(address indexed payer, uint256 amount, uint64 availableAt);
    event Withdrawn(address indexed payer, uint256 amount);
    event BatchCommitted(
        uint256 indexed batchId,
        address indexed executor,
        bytes32 root,
        uint32 count,
        uint256 total,
        uint64 challengeDeadline,
        PayerTotal[] payers,
        ModelTotal[] models,
        VerifierShare[] verifiers
    );
    event BatchChallenged(uint256 indexed batchId, address indexed challenger, FraudReason reason, bytes32 leafHash);
    event BatchReverted(
        uint256 indexed batchId,
        address indexed executor,
        uint256 slashed,
        address challenger,
        uint256 challengerReward,
        uint256 treasuryAmount
    );
    event BatchFinalized(
        uint256 indexed batchId,
        uint256 total,
        uint256 royalties,
        uint256 verifierPool,
        uint256 treasuryAmount,
        uint256 executorAmount
    );
    event RequestDisputed(
        uint256 indexed batchId, bytes32 indexed leafHash, address indexed requester, uint64 answerBy
    );
    event DisputeAnswered(uint256 indexed batchId, bytes32 indexed leafHash, address answeredBy);
    event EarningsWithdrawn(address indexed party, uint256 amount);

    // ------------------------------------------------------------------ errors

    error ZeroAddress(string name);
    error InvalidParameter(string name);
    error ZeroAmount();
    error InsufficientBalance(address payer, uint256 available, uint256 requested);
    error NothingToWithdraw();
    error WithdrawalNotReady(uint64 availableAt);
    error TransferFailed(address to, uint256 amount);
    error UnexpectedPayment(address from);
    error NotActiveExecutor(address caller);
    error EmptyBatch();
    error TooManyParties(uint256 length, uint256 max);
    error TotalsMismatch(uint256 payersTotal, uint256 modelsTotal);
    error UnknownModel(uint256 modelId);
    error SplitExceedsTotal(uint256 total, uint256 royalties, uint256 verifierPool, uint256 treasuryAmount);
    error UnknownBatch(uint256 batchId);
    error BatchNotPending(uint256 batchId, BatchStatus status);
    error ChallengeWindowClosed(uint256 batchId, uint64 deadline);
    error ChallengeWindowOpen(uint256 batchId, uint64 deadline);
    error InvalidMerkleProof(uint256 batchId, bytes32 leafHash);
    error RequestMismatch(bytes32 expected, bytes32 found);
    error AttestationsMismatch(bytes32 expected, bytes32 found);
    error NoFraud(uint256 batchId);
    error NotRequester(address caller, address requester);
    error DisputeExists(uint256 batchId, bytes32 leafHash);
    error NoOpenDispute(uint256 batchId, bytes32 leafHash);
    error DisputeAnswerWindowClosed(uint256 batchId, bytes32 leafHash, uint64 answerBy);
    error DisputeAnswerWindowOpen(uint256 batchId, bytes32 leafHash, uint64 answerBy);
    error InvalidRequestSignature(address requester);
    error DisputesOpen(uint256 batchId, uint16 openDisputes);

    // ------------------------------------------------------------------ construction

    /// @param nodeRegistry Staking registry; this contract must be its settlement slasher.
    /// @param modelRegistry Source of model creators and royalty rates.
    /// @param treasury Receives TREASURY_BPS of every batch and the non-reward part of slashes.
    /// @param challengeWindow Seconds after commit during which a batch can be challenged (> 0);
    ///        also the time an executor has to answer a request dispute.
    /// @param escrowWithdrawalDelay Seconds between `requestWithdrawal` and `withdraw`.
    /// @param verifierBps Share of each batch total for the verifiers.
    /// @param treasuryBps Share of each batch total for the treasury (verifierBps + treasuryBps ≤ 10000).
    /// @param slashAmount Wei taken from a fraudulent executor's stake (> 0).
    /// @param challengerRewardBps Share of the slashed wei for the challenger (≤ 10000).
    constructor(
        address nodeRegistry,
        address modelRegistry,
        address treasury,
        uint64 challengeWindow,
        uint64 escrowWithdrawalDelay,
        uint16 verifierBps,
        uint16 treasuryBps,
        uint256 slashAmount,
        uint16 challengerRewardBps
    ) EIP712("Verity", "1") {
        if (nodeRegistry == address(0)) revert ZeroAddress("nodeRegistry");
        if (modelRegistry == address(0)) revert ZeroAddress("modelRegistry");
        if (treasury == address(0)) revert ZeroAddress("treasury");
        if (challengeWindow == 0) revert InvalidParameter("challengeWindow");
        if (uint256(verifierBps) + treasuryBps > BPS) revert InvalidParameter("verifierBps + treasuryBps");
        if (slashAmount == 0) revert InvalidParameter("slashAmount");
        if (challengerRewardBps > BPS) revert InvalidParameter("challengerRewardBps");
        NODE_REGISTRY = INodeRegistry(nodeRegistry);
        MODEL_REGISTRY = IModelRegistry(modelRegistry);
        TREASURY = treasury;
        CHALLENGE_WINDOW = challengeWindow;
        ESCROW_WITHDRAWAL_DELAY = escrowWithdrawalDelay;
        VERIFIER_BPS = verifierBps;
        TREASURY_BPS = treasuryBps;
        SLASH_AMOUNT = slashAmount;
        CHALLENGER_REWARD_BPS = challengerRewardBps;
        emit ParametersSet(
            nodeRegistry,
            modelRegistry,
            treasury,
            challengeWindow,
            escrowWithdrawalDelay,
            verifierBps,
            treasuryBps,
            slashAmount,
            challengerRewardBps,
            MAX_PARTIES,
            MAX_ATTESTATIONS
        );
    }

    /// @notice Only the NodeRegistry pays this contract directly (the proceeds of a slash).
    receive() external payable {
        if (msg.sender != address(NODE_REGISTRY)) revert UnexpectedPayment(msg.sender);
    }

    // ------------------------------------------------------------------ escrow

    /// @notice Adds msg.value to the caller's free escrow balance.
    function deposit() external payable {
        _deposit(msg.sender);
    }

    /// @notice Adds msg.value to `payer`'s free escrow balance.
    function depositFor(address payer) external payable {
        if (payer == address(0)) revert ZeroAddress("payer");
        _deposit(payer);
    }

    /// @notice Announces a withdrawal of `amount`; after ESCROW_WITHDRAWAL_DELAY `withdraw` pays out
    /// what is still free of it (receipts served meanwhile may still be charged). Replaces any
    /// earlier request and restarts the delay.
    function requestWithdrawal(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 free = _accounts[msg.sender].free;
        if (amount > free) revert InsufficientBalance(msg.sender, free, amount);
        uint64 availableAt = uint64(block.timestamp) + ESCROW_WITHDRAWAL_DELAY;
        _withdrawals[msg.sender] = Withdrawal({amount: uint128(amount), availableAt: availableAt});
        emit WithdrawalRequested(msg.sender, amount, availableAt);
    }

    /// @notice Pays out the requested withdrawal, capped at the current free balance.
    function withdraw() external nonReentrant {
        Withdrawal memory w = _withdrawals[msg.sender];
        if (w.amount == 0) revert NothingToWithdraw();
        if (block.timestamp < w.availableAt) revert WithdrawalNotReady(w.availableAt);
        Account storage account = _accounts[msg.sender];
        uint128 amount = w.amount < account.free ? w.amount : account.free;
        delete _withdrawals[msg.sender];
        account.free -= amount;
        emit Withdrawn(msg.sender, amount);
        if (amount > 0) _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ batches

    /// @notice Commits a batch of receipts. The caller must be an active executor; each payer's total
    /// moves from its free balance to `reserved`; payer and model totals must sum to the same amount.
    /// @param root StandardMerkleTree root over the receipt leaves.
    /// @param count Number of receipts (informational: the cost does not depend on it).
    /// @param payers What each payer owes (duplicates are charged twice).
    /// @param models What each model earned (royalty base).
    /// @param verifiers How many receipts each verifier co-signed (weights of the verifier pool).
    function commitBatch(
        bytes32 root,
        uint32 count,
        PayerTotal[] calldata payers,
        ModelTotal[] calldata models,
        VerifierShare[] calldata verifiers
    ) external returns (uint256 batchId) {
        if (!NODE_REGISTRY.isActive(msg.sender) || !NODE_REGISTRY.hasRole(msg.sender, ROLE_EXECUTOR)) {
            revert NotActiveExecutor(msg.sender);
        }
        if (root == bytes32(0) || count == 0 || payers.length == 0) revert EmptyBatch();
        if (payers.length > MAX_PARTIES) revert TooManyParties(payers.length, MAX_PARTIES);
        if (models.length > MAX_PARTIES) revert TooManyParties(models.length, MAX_PARTIES);
        if (verifiers.length > MAX_PARTIES) revert TooManyParties(verifiers.length, MAX_PARTIES);

        batchId = ++batchCount;
        Batch storage batch = _batches[batchId];
        batch.root = root;
        batch.executor = msg.sender;
        batch.committedAt = uint64(block.timestamp);
        batch.count = count;
        batch.status = BatchStatus.Pending;
        batch.payerCount = uint16(payers.length);
        batch.modelCount = uint16(models.length);
        batch.verifierCount = uint16(verifiers.length);
        uint256 total = _reservePayers(batchId, payers);
        _snapshotModels(batchId, models, total);
        batch.verifierCountSum = _storeVerifiers(batchId, verifiers);
        batch.total = SafeCast.toUint96(total);
        emit BatchCommitted(
            batchId,
            msg.sender,
            root,
            count,
            total,
            uint64(block.timestamp) + CHALLENGE_WINDOW,
            payers,
            models,
            verifiers
        );
    }

    /// @notice Splits a batch after its challenge window (anyone may call): royalties per model,
    /// the verifier pool pro rata to co-signed receipts (dust to the executor; all of it when there
    /// are no verifiers), the treasury cut, the rest to the executor. Credits only; see
    /// `withdrawEarnings`.
    function finalize(uint256 batchId) external {
        Batch storage batch = _pendingBatch(batchId);
        uint64 deadline = batch.committedAt + CHALLENGE_WINDOW;
        if (block.timestamp < deadline) revert ChallengeWindowOpen(batchId, deadline);
        if (batch.openDisputes != 0) revert DisputesOpen(batchId, batch.openDisputes);
        batch.status = BatchStatus.Finalized;

        mapping(uint256 => PayerEntry) storage payers = _payers[batchId];
        uint256 payerCount = batch.payerCount;
        for (uint256 i = 0; i < payerCount; ++i) {
            PayerEntry memory entry = payers[i];
            _accounts[entry.payer].reserved -= entry.total;
        }

        uint256 total = batch.total;
        uint256 royalties;
        mapping(uint256 => ModelSnapshot) storage models = _models[batchId];
        uint256 modelCount = batch.modelCount;
        for (uint256 i = 0; i < modelCount; ++i) {
            ModelSnapshot memory model = models[i];
            uint256 royalty = (uint256(model.total) * model.royaltyBps) / BPS;
            if (royalty != 0) {
                earnings[model.creator] += royalty;
                royalties += royalty;
            }
        }

        uint256 verifierPaid;
        uint256 countSum = batch.verifierCountSum;
        if (countSum != 0) {
            uint256 pool = (total * VERIFIER_BPS) / BPS;
            mapping(uint256 => VerifierShare) storage shares = _verifiers[batchId];
            uint256 verifierCount = batch.verifierCount;
            for (uint256 i = 0; i < verifierCount; ++i) {
                VerifierShare memory share = shares[i];
                uint256 amount = (pool * share.count) / countSum;
                if (amount != 0) {
                    earnings[share.verifier] += amount;
                    verifierPaid += amount;
                }
            }
        }

        uint256 treasuryAmount = (total * TREASURY_BPS) / BPS;
        uint256 executorAmount = total - royalties - verifierPaid - treasuryAmount;
        earnings[TREASURY] += treasuryAmount;
        earnings[batch.executor] += executorAmount;
        emit BatchFinalized(batchId, total, royalties, verifierPaid, treasuryAmount, executorAmount);
    }

    /// @notice Pays the caller everything it has earned.
    function withdrawEarnings() external nonReentrant {
        uint256 amount = earnings[msg.sender];
        if (amount == 0) revert NothingToWithdraw();
        earnings[msg.sender] = 0;
        emit EarningsWithdrawn(msg.sender, amount);
        _send(msg.sender, amount);
    }

    // ------------------------------------------------------------------ challenges

    /// @notice Fraud proof 1: the leaf contradicts the request it commits to. Fraud when
    /// `leaf.executor` is not the batch executor, `leaf.jobId` is not
    /// `keccak256(abi.encode(leaf.requester, leaf.requestStructHash))`, or — for the request whose
    /// struct hash is `leaf.requestStructHash` — the model CID hash or quorum differ, the fee exceeds
    /// `maxFee`, or the batch was committed after `deadline`.
    /// @dev The fifth argument (the request signature) is kept for interface stability but proves
    /// nothing here: the struct hash already binds the request, and a signature chosen by the
    /// challenger cannot show that the payer did not sign. An unsigned request is proven with the
    /// interactive `disputeRequest` instead.
    function challengeRequest(
        uint256 batchId,
        ReceiptLeaf calldata leaf,
        bytes32[] calldata proof,
        InferenceRequest calldata request,
        bytes calldata /* requestSignature */
    ) external nonReentrant {
        Batch storage batch = _challengeableBatch(batchId);
        bytes32 leafHash = _proveLeaf(batchId, batch, leaf, proof);
        FraudReason reason = _leafFraud(batch, leaf);
        if (reason == FraudReason.None) {
            bytes32 structHash = _requestStructHash(request);
            if (structHash != leaf.requestStructHash) revert RequestMismatch(leaf.requestStructHash, structHash);
            reason = _requestFraud(batch, leaf, request);
        }
        if (reason == FraudReason.None) revert NoFraud(batchId);
        _convict(batchId, batch, reason, leafHash, msg.sender);
    }

    /// @notice Fraud proof 2: fewer than `leaf.quorum` of the leaf's attestations (only the first
    /// MAX_ATTESTATIONS are considered) are agreeing, correctly signed over this contract's
    /// `Attestation(jobId, outputHash, true)`, from distinct verifiers other than the executor that
    /// were active when the batch was committed.
    function challengeQuorum(
        uint256 batchId,
        ReceiptLeaf calldata leaf,
        bytes32[] calldata proof,
        Attestation[] calldata attestations
    ) external nonReentrant {
        Batch storage batch = _challengeableBatch(batchId);
        bytes32 leafHash = _proveLeaf(batchId, batch, leaf, proof);
        bytes32 attestationsHash = keccak256(abi.encode(attestations));
        if (attestationsHash != leaf.attestationsHash) {
            revert AttestationsMismatch(leaf.attestationsHash, attestationsHash);
        }
        if (_countAttestations(batch, leaf, attestations) >= leaf.quorum) revert NoFraud(batchId);
        _convict(batchId, batch, FraudReason.QuorumNotMet, leafHash, msg.sender);
    }

    /// @notice Fraud proof 3: the batch executor signed an ExecutionReceipt for the leaf's job with a
    /// different output. The signature may use this contract's domain or the chain-only domain
    /// `{name: "Verity", version: "1", chainId}` that receipts carry before settlement.
    function challengeEquivocation(
        uint256 batchId,
        ReceiptLeaf calldata leaf,
        bytes32[] calldata proof,
        ExecutionReceipt calldata other,
        bytes calldata signature
    ) external nonReentrant {
        Batch storage batch = _challengeableBatch(batchId);
        bytes32 leafHash = _proveLeaf(batchId, batch, leaf, proof);
        if (other.jobId != leaf.jobId || other.outputHash == leaf.outputHash) revert NoFraud(batchId);
        bytes32 structHash = _receiptStructHash(other);
        bytes32 localDigest = MessageHashUtils.toTypedDataHash(_localDomainSeparator(), structHash);
        address executor = batch.executor;
        if (
            !_signedBy(_hashTypedDataV4(structHash), signature, executor)
                && !_signedBy(localDigest, signature, executor)
        ) revert NoFraud(batchId);
        _convict(batchId, batch, FraudReason.Equivocation, leafHash, msg.sender);
    }

    /// @notice Fraud proof 4: the batch executor was not active in the NodeRegistry at commit time.
    function challengeExecutor(uint256 batchId) external nonReentrant {
        Batch storage batch = _challengeableBatch(batchId);
        if (NODE_REGISTRY.wasActiveAt(batch.executor, batch.committedAt)) revert NoFraud(batchId);
        _convict(batchId, batch, FraudReason.ExecutorInactive, bytes32(0), msg.sender);
    }

    /// @notice The leaf's requester says it never signed the request: opens a dispute that the
    /// executor must answer with the signed request within CHALLENGE_WINDOW.
    function disputeRequest(uint256 batchId, ReceiptLeaf calldata leaf, bytes32[] calldata proof) external {
        Batch storage batch = _challengeableBatch(batchId);
        if (msg.sender != leaf.requester) revert NotRequester(msg.sender, leaf.requester);
        bytes32 leafHash = _proveLeaf(batchId, batch, leaf, proof);
        Dispute storage dispute = _disputes[batchId][leafHash];
        if (dispute.status != DisputeStatus.None) revert DisputeExists(batchId, leafHash);
        uint64 answerBy = uint64(block.timestamp) + CHALLENGE_WINDOW;
        dispute.disputer = msg.sender;
        dispute.answerBy = answerBy;
        dispute.status = DisputeStatus.Open;
        batch.openDisputes += 1;
        emit RequestDisputed(batchId, leafHash, msg.sender, answerBy);
    }

    /// @notice Closes a dispute by showing the request (its struct hash is the leaf's) signed by the
    /// leaf's requester under this contract's domain. Anyone may answer.
    function answerDispute(
        uint256 batchId,
        ReceiptLeaf calldata leaf,
        InferenceRequest calldata request,
        bytes calldata requestSignature
    ) external {
        Batch storage batch = _pendingBatch(batchId);
        bytes32 leafHash = hashLeaf(leaf);
        Dispute storage dispute = _disputes[batchId][leafHash];
        if (dispute.status != DisputeStatus.Open) revert NoOpenDispute(batchId, leafHash);
        if (block.timestamp > dispute.answerBy) {
            revert DisputeAnswerWindowClosed(batchId, leafHash, dispute.answerBy);
        }
        bytes32 structHash = _requestStructHash(request);
        if (structHash != leaf.requestStructHash) revert RequestMismatch(leaf.requestStructHash, structHash);
        if (!_signedBy(_hashTypedDataV4(structHash), requestSignature, leaf.requester)) {
            revert InvalidRequestSignature(leaf.requester);
        }
        dispute.status = DisputeStatus.Answered;
        batch.openDisputes -= 1;
        emit DisputeAnswered(batchId, leafHash, msg.sender);
    }

    /// @notice Convicts the batch of a dispute left unanswered past its deadline (anyone may call;
    /// the disputer is rewarded as the challenger).
    function resolveDispute(uint256 batchId, bytes32 leafHash) external nonReentrant {
        Batch storage batch = _pendingBatch(batchId);
        Dispute storage dispute = _disputes[batchId][leafHash];
        if (dispute.status != DisputeStatus.Open) revert NoOpenDispute(batchId, leafHash);
        if (block.timestamp <= dispute.answerBy) {
            revert DisputeAnswerWindowOpen(batchId, leafHash, dispute.answerBy);
        }
        dispute.status = DisputeStatus.Upheld;
        batch.openDisputes -= 1;
        _convict(batchId, batch, FraudReason.RequestNotSigned, leafHash, dispute.disputer);
    }

    // ------------------------------------------------------------------ views

    /// @notice Free escrow balance of `payer` (chargeable by new batches, withdrawable).
    function balanceOf(address payer) external view returns (uint256) {
        return _accounts[payer].free;
    }

    /// @notice Escrow of `payer` locked in pending batches.
    function reserved(address payer) external view returns (uint256) {
        return _accounts[payer].reserved;
    }

    /// @notice The pending withdrawal request of `payer` (amount 0 when none).
    function pendingWithdrawal(address payer) external view returns (uint256 amount, uint64 availableAt) {
        Withdrawal memory w = _withdrawals[payer];
        return (w.amount, w.availableAt);
    }

    /// @notice A batch with its payer, model and verifier entries.
    function getBatch(uint256 batchId) external view returns (BatchView memory view_) {
        Batch storage batch = _batches[batchId];
        if (batch.status == BatchStatus.None) revert UnknownBatch(batchId);
        view_.root = batch.root;
        view_.executor = batch.executor;
        view_.committedAt = batch.committedAt;
        view_.challengeDeadline = batch.committedAt + CHALLENGE_WINDOW;
        view_.count = batch.count;
        view_.status = batch.status;
        view_.openDisputes = batch.openDisputes;
        view_.total = batch.total;
        view_.payers = new PayerTotal[](batch.payerCount);
        for (uint256 i = 0; i < batch.payerCount; ++i) {
            PayerEntry memory entry = _payers[batchId][i];
            view_.payers[i] = PayerTotal({payer: entry.payer, total: entry.total});
        }
        view_.models = new ModelSnapshot[](batch.modelCount);
        for (uint256 i = 0; i < batch.modelCount; ++i) {
            view_.models[i] = _models[batchId][i];
        }
        view_.verifiers = new VerifierShare[](batch.verifierCount);
        for (uint256 i = 0; i < batch.verifierCount; ++i) {
            view_.verifiers[i] = _verifiers[batchId][i];
        }
    }

    /// @notice True when `leaf` is in batch `batchId` according to `proof` (any status).
    function verifyInclusion(uint256 batchId, ReceiptLeaf calldata leaf, bytes32[] calldata proof)
        external
        view
        returns (bool)
    {
        Batch storage batch = _batches[batchId];
        if (batch.status == BatchStatus.None) revert UnknownBatch(batchId);
        return MerkleProof.verifyCalldata(proof, batch.root, hashLeaf(leaf));
    }

    /// @notice The state of a request dispute.
    function getDispute(uint256 batchId, bytes32 leafHash) external view returns (Dispute memory) {
        return _disputes[batchId][leafHash];
    }

    /// @notice The EIP-712 digest a requester signs for `request` under this contract's domain.
    function hashRequest(InferenceRequest calldata request) external view returns (bytes32) {
        return _hashTypedDataV4(_requestStructHash(request));
    }

    /// @notice `hashStruct(InferenceRequest)`, as committed in `ReceiptLeaf.requestStructHash`.
    function requestStructHash(InferenceRequest calldata request) external pure returns (bytes32) {
        return _requestStructHash(request);
    }

    /// @notice The job id of a request: `keccak256(abi.encode(requester, hashStruct(request)))`.
    function jobIdOf(address requester, InferenceRequest calldata request) external pure returns (bytes32) {
        return keccak256(abi.encode(requester, _requestStructHash(request)));
    }

    /// @notice The EIP-712 digest of an ExecutionReceipt under this contract's domain.
    function hashReceipt(ExecutionReceipt calldata receipt) external view returns (bytes32) {
        return _hashTypedDataV4(_receiptStructHash(receipt));
    }

    /// @notice The EIP-712 digest a verifier signs under this contract's domain.
    function hashAttestation(bytes32 jobId, bytes32 outputHash, bool agree) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(ATTESTATION_TYPEHASH, jobId, outputHash, agree)));
    }

    /// @notice `keccak256(abi.encode(attestations))`, as committed in `ReceiptLeaf.attestationsHash`.
    function hashAttestations(Attestation[] calldata attestations) external pure returns (bytes32) {
        return keccak256(abi.encode(attestations));
    }

    /// @notice The StandardMerkleTree leaf hash: `keccak256(bytes.concat(keccak256(abi.encode(leaf))))`.
    function hashLeaf(ReceiptLeaf calldata leaf) public pure returns (bytes32) {
        return keccak256(bytes.concat(keccak256(abi.encode(leaf))));
    }

    // ------------------------------------------------------------------ internals

    function _deposit(address payer) private {
        if (msg.value == 0) revert ZeroAmount();
        Account storage account = _accounts[payer];
        uint128 free = account.free + SafeCast.toUint128(msg.value);
        account.free = free;
        emit Deposited(payer, msg.sender, msg.value, free);
    }

    function _reservePayers(uint256 batchId, PayerTotal[] calldata payers) private returns (uint256 total) {
        mapping(uint256 => PayerEntry) storage entries = _payers[batchId];
        for (uint256 i = 0; i < payers.length; ++i) {
            PayerTotal calldata p = payers[i];
            Account storage account = _accounts[p.payer];
            uint256 free = account.free;
            if (p.total > free) revert InsufficientBalance(p.payer, free, p.total);
            uint128 amount = uint128(p.total);
            account.free = uint128(free) - amount;
            account.reserved += amount;
            entries[i] = PayerEntry({payer: p.payer, total: SafeCast.toUint96(p.total)});
            total += p.total;
        }
    }

    /// @dev Stores each model total with its creator and royalty rate, and checks that the model
    /// totals sum to the payer total and that the whole split fits in it.
    function _snapshotModels(uint256 batchId, ModelTotal[] calldata models, uint256 total) private {
        mapping(uint256 => ModelSnapshot) storage snapshots = _models[batchId];
        uint256 modelsTotal;
        uint256 royalties;
        for (uint256 i = 0; i < models.length; ++i) {
            ModelTotal calldata m = models[i];
            IModelRegistry.Model memory model;
            try MODEL_REGISTRY.getModel(m.modelId) returns (IModelRegistry.Model memory found) {
                model = found;
            } catch {
                revert UnknownModel(m.modelId);
            }
            snapshots[i] = ModelSnapshot({
                modelId: SafeCast.toUint128(m.modelId),
                total: SafeCast.toUint128(m.total),
                creator: model.creator,
                royaltyBps: model.royaltyBps
            });
            modelsTotal += m.total;
            royalties += (m.total * model.royaltyBps) / BPS;
        }
        if (modelsTotal != total) revert TotalsMismatch(total, modelsTotal);
        uint256 verifierPool = (total * VERIFIER_BPS) / BPS;
        uint256 treasuryAmount = (total * TREASURY_BPS) / BPS;
        if (royalties + verifierPool + treasuryAmount > total) {
            revert SplitExceedsTotal(total, royalties, verifierPool, treasuryAmount);
        }
    }

    function _storeVerifiers(uint256 batchId, VerifierShare[] calldata verifiers)
        private
        returns (uint64 countSum)
    {
        mapping(uint256 => VerifierShare) storage shares = _verifiers[batchId];
        for (uint256 i = 0; i < verifiers.length; ++i) {
            shares[i] = verifiers[i];
            countSum += verifiers[i].count;
        }
    }

    function _pendingBatch(uint256 batchId) private view returns (Batch storage batch) {
        batch = _batches[batchId];
        if (batch.status == BatchStatus.None) revert UnknownBatch(batchId);
        if (batch.status != BatchStatus.Pending) revert BatchNotPending(batchId, batch.status);
    }

    function _challengeableBatch(uint256 batchId) private view returns (Batch storage batch) {
        batch = _pendingBatch(batchId);
        uint64 deadline = batch.committedAt + CHALLENGE_WINDOW;
        if (block.timestamp >= deadline) revert ChallengeWindowClosed(batchId, deadline);
    }

    function _proveLeaf(uint256 batchId, Batch storage batch, ReceiptLeaf calldata leaf, bytes32[] calldata proof)
        private
        view
        returns (bytes32 leafHash)
    {
        leafHash = hashLeaf(leaf);
        if (!MerkleProof.verifyCalldata(proof, batch.root, leafHash)) revert InvalidMerkleProof(batchId, leafHash);
    }

    /// @dev Inconsistencies visible in the leaf alone.
    function _leafFraud(Batch storage batch, ReceiptLeaf calldata leaf) private view returns (FraudReason) {
        if (leaf.executor != batch.executor) return FraudReason.ExecutorMismatch;
        if (leaf.jobId != keccak256(abi.encode(leaf.requester, leaf.requestStructHash))) {
            return FraudReason.JobIdMismatch;
        }
        return FraudReason.None;
    }

    /// @dev Contradictions between the leaf and its (struct-hash-matching) request.
    function _requestFraud(Batch storage batch, ReceiptLeaf calldata leaf, InferenceRequest calldata request)
        private
        view
        returns (FraudReason)
    {
        if (keccak256(bytes(request.modelCid)) != leaf.modelCidHash) return FraudReason.ModelMismatch;
        if (request.quorum != leaf.quorum) return FraudReason.QuorumMismatch;
        if (leaf.fee > request.maxFee) return FraudReason.FeeAboveMax;
        if (batch.committedAt > request.deadline) return FraudReason.CommittedAfterDeadline;
        return FraudReason.None;
    }

    /// @dev Valid agreeing attestations among the first MAX_ATTESTATIONS (stops at the quorum).
    function _countAttestations(Batch storage batch, ReceiptLeaf calldata leaf, Attestation[] calldata attestations)
        private
        view
        returns (uint256 valid)
    {
        uint256 n = attestations.length < MAX_ATTESTATIONS ? attestations.length : MAX_ATTESTATIONS;
        address executor = batch.executor;
        uint64 committedAt = batch.committedAt;
        bytes32 digest = hashAttestation(leaf.jobId, leaf.outputHash, true);
        address[] memory counted = new address[](n);
        for (uint256 i = 0; i < n && valid < leaf.quorum; ++i) {
            Attestation calldata a = attestations[i];
            if (!a.agree || a.verifier == executor || a.verifier == address(0)) continue;
            bool duplicate;
            for (uint256 j = 0; j < valid; ++j) {
                if (counted[j] == a.verifier) {
                    duplicate = true;
                    break;
                }
            }
            if (duplicate || !_signedBy(digest, a.signature, a.verifier)) continue;
            if (!NODE_REGISTRY.wasActiveAt(a.verifier, committedAt)) continue;
            counted[valid++] = a.verifier;
        }
    }

    /// @dev Reverts the batch, returns the reservations, slashes the executor and credits the
    /// challenger's reward and the treasury. State changes happen before the slash call.
    function _convict(uint256 batchId, Batch storage batch, FraudReason reason, bytes32 leafHash, address challenger)
        private
    {
        batch.status = BatchStatus.Reverted;
        mapping(uint256 => PayerEntry) storage payers = _payers[batchId];
        uint256 payerCount = batch.payerCount;
        for (uint256 i = 0; i < payerCount; ++i) {
            PayerEntry memory entry = payers[i];
            Account storage account = _accounts[entry.payer];
            account.reserved -= entry.total;
            account.free += entry.total;
        }
        address executor = batch.executor;
        emit BatchChallenged(batchId, challenger, reason, leafHash);
        uint256 slashed = NODE_REGISTRY.slash(executor, SLASH_AMOUNT);
        uint256 reward = (slashed * CHALLENGER_REWARD_BPS) / BPS;
        earnings[challenger] += reward;
        earnings[TREASURY] += slashed - reward;
        emit BatchReverted(batchId, executor, slashed, challenger, reward, slashed - reward);
    }

    function _requestStructHash(InferenceRequest calldata r) private pure returns (bytes32) {
        return keccak256(
            abi.encode(
                REQUEST_TYPEHASH,
                keccak256(bytes(r.modelCid)),
                r.manifestHash,
                r.inputHash,
                r.paramsHash,
                r.mode,
                r.quorum,
                r.maxFee,
                r.nonce,
                r.deadline
            )
        );
    }

    function _receiptStructHash(ExecutionReceipt calldata r) private pure returns (bytes32) {
        // Two halves of static words: the same bytes as one abi.encode, without "stack too deep".
        return keccak256(
            bytes.concat(
                abi.encode(RECEIPT_TYPEHASH, r.jobId, r.requester, keccak256(bytes(r.modelCid)), r.manifestHash),
                abi.encode(r.inputHash, r.paramsHash, r.mode, r.outputHash, r.engineSettingsHash, r.executedAt)
            )
        );
    }

    /// @dev The domain `{name: "Verity", version: "1", chainId}` (no verifying contract).
    function _localDomainSeparator() private view returns (bytes32) {
        return keccak256(abi.encode(LOCAL_DOMAIN_TYPEHASH, keccak256("Verity"), keccak256("1"), block.chainid));
    }

    /// @dev True when `signature` is a well-formed, low-s signature of `digest` by `signer`.
    function _signedBy(bytes32 digest, bytes calldata signature, address signer) private pure returns (bool) {
        (address recovered, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(digest, signature);
        return err == ECDSA.RecoverError.NoError && recovered == signer && signer != address(0);
    }

    function _send(address to, uint256 amount) private {
        (bool ok,) = to.call{value: amount}("");
        if (!ok) revert TransferFailed(to, amount);
    }
}
