// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IModelRegistry} from "./interfaces/IModelRegistry.sol";

/// @title Registry of models: creator, royalty, price, versions (CID + manifest hash), zk verifier.
/// @notice Model ids start at 1. Versions are numbered from 1; version 1 is the CID given to
/// `registerModel` (announced by `ModelRegistered`), later ones by `publishVersion`. A CID belongs
/// to at most one (model, version) forever. `deprecate` is final; the creator may still change
/// royalty, price and verifier of a deprecated model (InferenceHub refuses new requests for it).
/// Holds no funds.
contract ModelRegistry is IModelRegistry {
    /// @notice Upper bound of every model's royalty, in basis points (constructor parameter).
    uint16 public immutable MAX_ROYALTY_BPS;

    /// @notice Number of registered models (= the last model id).
    uint256 public modelCount;

    struct Version {
        string cid;
        bytes32 manifestHash;
    }

    struct CidRef {
        uint256 modelId;
        uint32 version;
    }

    mapping(uint256 modelId => Model) private _models;
    mapping(uint256 modelId => mapping(uint32 version => Version)) private _versions;
    mapping(bytes32 cidHash => CidRef) private _cids;

    event ParametersSet(uint16 maxRoyaltyBps);

    error UnknownVersion(uint256 modelId, uint32 version);
    error InvalidParameter(string name);

    /// @param maxRoyaltyBps Upper bound of model royalties in basis points (≤ 10000).
    constructor(uint16 maxRoyaltyBps) {
        if (maxRoyaltyBps > 10_000) revert InvalidParameter("maxRoyaltyBps");
        MAX_ROYALTY_BPS = maxRoyaltyBps;
        emit ParametersSet(maxRoyaltyBps);
    }

    modifier onlyCreator(uint256 modelId) {
        address creator = _models[modelId].creator;
        if (creator == address(0)) revert UnknownModel(modelId);
        if (creator != msg.sender) revert NotCreator(modelId, msg.sender);
        _;
    }

    /// @inheritdoc IModelRegistry
    function registerModel(
        string calldata name,
        string calldata cid,
        bytes32 manifestHash,
        uint16 royaltyBps,
        uint256 pricePerCall,
        address zkVerifier
    ) external returns (uint256 modelId) {
        if (royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        modelId = ++modelCount;
        _claimCid(cid, modelId, 1);
        _models[modelId] = Model({
            creator: msg.sender,
            name: name,
            royaltyBps: royaltyBps,
            pricePerCall: pricePerCall,
            zkVerifier: zkVerifier,
            deprecated: false,
            versionCount: 1
        });
        _versions[modelId][1] = Version({cid: cid, manifestHash: manifestHash});
        emit ModelRegistered(modelId, msg.sender, name, cid, manifestHash, royaltyBps, pricePerCall, zkVerifier);
    }

    /// @inheritdoc IModelRegistry
    function publishVersion(uint256 modelId, string calldata cid, bytes32 manifestHash)
        external
        onlyCreator(modelId)
    {
        Model storage model = _models[modelId];
        if (model.deprecated) revert IsDeprecated(modelId);
        uint32 version = model.versionCount + 1;
        _claimCid(cid, modelId, version);
        model.versionCount = version;
        _versions[modelId][version] = Version({cid: cid, manifestHash: manifestHash});
        emit VersionPublished(modelId, version, cid, manifestHash);
    }

    /// @inheritdoc IModelRegistry
    function deprecate(uint256 modelId) external onlyCreator(modelId) {
        Model storage model = _models[modelId];
        if (model.deprecated) revert IsDeprecated(modelId);
        model.deprecated = true;
        emit ModelDeprecated(modelId);
    }

    /// @inheritdoc IModelRegistry
    function setRoyalty(uint256 modelId, uint16 royaltyBps) external onlyCreator(modelId) {
        if (royaltyBps > MAX_ROYALTY_BPS) revert RoyaltyTooHigh(royaltyBps, MAX_ROYALTY_BPS);
        _models[modelId].royaltyBps = royaltyBps;
        emit RoyaltyChanged(modelId, royaltyBps);
    }

    /// @inheritdoc IModelRegistry
    function setPrice(uint256 modelId, uint256 pricePerCall) external onlyCreator(modelId) {
        _models[modelId].pricePerCall = pricePerCall;
        emit PriceChanged(modelId, pricePerCall);
    }

    /// @inheritdoc IModelRegistry
    function setZkVerifier(uint256 modelId, address zkVerifier) external onlyCreator(modelId) {
        _models[modelId].zkVerifier = zkVerifier;
        emit ZkVerifierChanged(modelId, zkVerifier);
    }

    /// @inheritdoc IModelRegistry
    function getModel(uint256 modelId) external view returns (Model memory) {
        Model memory model = _models[modelId];
        if (model.creator == address(0)) revert UnknownModel(modelId);
        return model;
    }

    /// @inheritdoc IModelRegistry
    function getVersion(uint256 modelId, uint32 version)
        external
        view
        returns (string memory cid, bytes32 manifestHash)
    {
        uint32 count = _models[modelId].versionCount;
        if (count == 0) revert UnknownModel(modelId);
        if (version == 0 || version > count) revert UnknownVersion(modelId, version);
        Version storage v = _versions[modelId][version];
        return (v.cid, v.manifestHash);
    }

    /// @inheritdoc IModelRegistry
    function latestVersion(uint256 modelId)
        external
        view
        returns (uint32 version, string memory cid, bytes32 manifestHash)
    {
        version = _models[modelId].versionCount;
        if (version == 0) revert UnknownModel(modelId);
        Version storage v = _versions[modelId][version];
        return (version, v.cid, v.manifestHash);
    }

    /// @inheritdoc IModelRegistry
    function modelByCid(bytes32 cidHash) external view returns (uint256 modelId, uint32 version) {
        CidRef storage ref = _cids[cidHash];
        return (ref.modelId, ref.version);
    }

    function _claimCid(string calldata cid, uint256 modelId, uint32 version) private {
        if (bytes(cid).length == 0) revert EmptyCid();
        bytes32 cidHash = keccak256(bytes(cid));
        if (_cids[cidHash].modelId != 0) revert CidTaken(cid);
        _cids[cidHash] = CidRef({modelId: modelId, version: version});
    }
}
