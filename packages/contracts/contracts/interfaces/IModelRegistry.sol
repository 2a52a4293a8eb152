// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Registry of models: creator, royalty, price, versions (CID + manifest hash), zk verifier.
interface IModelRegistry {
    struct Model {
        address creator;
        string name;
        uint16 royaltyBps;
        uint256 pricePerCall;
        address zkVerifier;
        bool deprecated;
        uint32 versionCount;
    }

    event ModelRegistered(
        uint256 indexed modelId,
        address indexed creator,
        string name,
        string cid,
        bytes32 manifestHash,
        uint16 royaltyBps,
        uint256 pricePerCall,
        address zkVerifier
    );
    event VersionPublished(uint256 indexed modelId, uint32 version, string cid, bytes32 manifestHash);
    event ModelDeprecated(uint256 indexed modelId);
    event RoyaltyChanged(uint256 indexed modelId, uint16 royaltyBps);
    event PriceChanged(uint256 indexed modelId, uint256 pricePerCall);
    event ZkVerifierChanged(uint256 indexed modelId, address zkVerifier);

    error NotCreator(uint256 modelId, address caller);
    error UnknownModel(uint256 modelId);
    error RoyaltyTooHigh(uint16 royaltyBps, uint16 maxRoyaltyBps);
    error EmptyCid();
    error CidTaken(string cid);
    error IsDeprecated(uint256 modelId);

    function registerModel(
        string calldata name,
        string calldata cid,
        bytes32 manifestHash,
        uint16 royaltyBps,
        uint256 pricePerCall,
        address zkVerifier
    ) external returns (uint256 modelId);

    function publishVersion(uint256 modelId, string calldata cid, bytes32 manifestHash) external;
    function deprecate(uint256 modelId) external;
    function setRoyalty(uint256 modelId, uint16 royaltyBps) external;
    function setPrice(uint256 modelId, uint256 pricePerCall) external;
    function setZkVerifier(uint256 modelId, address zkVerifier) external;

    function getModel(uint256 modelId) external view returns (Model memory);
    function getVersion(uint256 modelId, uint32 version) external view returns (string memory cid, bytes32 manifestHash);
    function latestVersion(uint256 modelId) external view returns (uint32 version, string memory cid, bytes32 manifestHash);
    /// @return modelId 0 when no model has this CID. @param cidHash keccak256(bytes(cid))
    function modelByCid(bytes32 cidHash) external view returns (uint256 modelId, uint32 version);
}
