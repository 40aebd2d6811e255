"""On-chain claims (WITHDRAW_MODE=claim): the bot signs, the user redeems on the claim contract.

The signed message is keccak256(abi.encode(address user, uint256 amountWei, uint256 nonce)), signed
as an EIP-191 personal message (what ethers' `signMessage(arrayify(hash))` produces and OpenZeppelin's
`toEthSignedMessageHash` + `ECDSA.recover` check). Signing is offline (eth-account) and deterministic
(RFC 6979), so a redelivered confirmation re-creates the very same signature. Nonces come from
`store.claims.reserve`: one per withdrawal, increasing per user, never reused.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from eth_abi import encode
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak, to_checksum_address

CLAIM_FUNCTION = "claim(uint256 amount, uint256 nonce, bytes signature)"


@dataclass(frozen=True)
class Claim:
    """What the user passes to the contract's claim(), and who may call it."""

    address: str          # the user's wallet (checksummed): the contract checks msg.sender against it
    amount_wei: int
    nonce: int
    signature: str        # 0x + 130 hex digits (r, s, v)


def amount_wei(points: int, rate: float, decimals: int) -> int:
    """Token base units for `points`, exact in decimal (no float rounding), rounded down."""
    return int(Decimal(points) * Decimal(str(rate)) * (Decimal(10) ** decimals))


def claim_digest(address: str, amount: int, nonce: int) -> bytes:
    """keccak256(abi.encode(address, uint256, uint256))."""
    return keccak(encode(["address", "uint256", "uint256"], [to_checksum_address(address), amount, nonce]))


def sign_claim(private_key: str, address: str, amount: int, nonce: int) -> Claim:
    """Sign one claim with the operator's key (never leaves this process)."""
    message = encode_defunct(primitive=claim_digest(address, amount, nonce))
    signed = Account.sign_message(message, private_key=private_key)
    return Claim(to_checksum_address(address), amount, nonce, "0x" + bytes(signed.signature).hex())


def signer_of(claim: Claim) -> str:
    """The address that signed `claim` (what the contract's ECDSA.recover computes)."""
    message = encode_defunct(primitive=claim_digest(claim.address, claim.amount_wei, claim.nonce))
    return Account.recover_message(message, signature=claim.signature)


def signer_address(private_key: str) -> str:
    """The public address of the signing key (the contract must trust this one)."""
    return Account.from_key(private_key).address
