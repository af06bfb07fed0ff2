"""RFC 6962 Merkle trees (engine/log/merkle.py): the published test vectors (the Certificate
Transparency leaves and tree heads, as transparency-dev/merkle and RFC 9162 implementations use
them), a reference written straight from RFC 6962 §2.1's recursive definitions, and the
properties a proof must have: every leaf of every tree of 1..64 leaves proves against its root,
and any changed byte, index, size or path length fails."""
from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhunru.log import merkle

CT_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                        "606162636465666768696a6b6c6d6e6f")]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]
CT_CONSISTENCY = [  # (first size, second size, proof)
    (2, 8, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]


# -- RFC 6962 §2.1, word for word (recursive, whole lists in memory): the reference ------------
def mth(d: list[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = 1
    while k * 2 < len(d):
        k *= 2
    return hashlib.sha256(b"\x01" + mth(d[:k]) + mth(d[k:])).digest()


def path(m: int, d: list[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = merkle.split(len(d))
    return path(m, d[:k]) + [mth(d[k:])] if m < k else path(m - k, d[k:]) + [mth(d[:k])]


def subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    if m == len(d):
        return [] if b else [mth(d)]
    k = merkle.split(len(d))
    return subproof(m, d[:k], b) + [mth(d[k:])] if m <= k else subproof(m - k, d[k:], False) + [mth(d[:k])]


LEAVES = [hashlib.sha256(b"row %d" % i).digest() for i in range(64)]  # row hashes: 32 bytes each


def sides(index: int, size: int) -> list[bool]:
    """For each element of the audit path, whether it is the left sibling."""
    return [hi <= index for _lo, hi in merkle.path_ranges(index, size)]


def flipped(data: bytes, at: int = 0) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


def test_the_published_tree_heads_and_proofs():
    for n in range(9):
        assert merkle.root(CT_LEAVES[:n]).hex() == CT_ROOTS[n]
        assert mth(CT_LEAVES[:n]).hex() == CT_ROOTS[n]
    root8 = bytes.fromhex(CT_ROOTS[8])
    for index, size, expected in CT_INCLUSION:
        assert [p.hex() for p in merkle.inclusion_path(CT_LEAVES, index, size)] == expected
        assert merkle.verify_inclusion(index, size, merkle.leaf_hash(CT_LEAVES[index]),
                                       [bytes.fromhex(p) for p in expected], root8)
    for first, second, expected in CT_CONSISTENCY:
        assert [p.hex() for p in merkle.consistency_proof(CT_LEAVES, first, second)] == expected
        assert merkle.verify_consistency(first, second, bytes.fromhex(CT_ROOTS[first]), bytes.fromhex(CT_ROOTS[second]),
                                         [bytes.fromhex(p) for p in expected])


def test_the_split_is_the_largest_power_of_two_below():
    assert [merkle.split(n) for n in (2, 3, 4, 5, 8, 9, 1000, 1_000_000)] == [1, 2, 2, 4, 4, 8, 512, 524288]


def test_every_leaf_of_every_tree_up_to_64_proves_and_nothing_else_does():
    for size in range(1, 65):
        tree = LEAVES[:size]
        root = merkle.root(tree)
        assert root == mth(tree)
        for index in range(size):
            proof = merkle.inclusion_path(LEAVES, index, size)  # more leaves given than the tree: not read
            assert proof == path(index, tree)
            leaf = merkle.leaf_hash(tree[index])
            assert merkle.verify_inclusion(index, size, leaf, proof, root)
            # another leaf, any changed byte of the leaf or of a path element, another root
            assert not merkle.verify_inclusion(index, size, merkle.leaf_hash(flipped(tree[index])), proof, root)
            assert not merkle.verify_inclusion(index, size, leaf, proof, flipped(root, 31))
            for i in range(len(proof)):
                bad = proof[:i] + [flipped(proof[i], i % 32)] + proof[i + 1:]
                assert not merkle.verify_inclusion(index, size, leaf, bad, root)
            # the path one element short or long
            if proof:
                assert not merkle.verify_inclusion(index, size, leaf, proof[:-1], root)
            assert not merkle.verify_inclusion(index, size, leaf, [*proof, root], root)
            # every other index, and the neighbouring sizes
            for other in range(size + 1):
                if other != index:
                    assert not merkle.verify_inclusion(other, size, leaf, proof, root), (index, other, size)
            # Another size fails unless the path has the same shape there (leaf 0 of 3 and of 4: both
            # [sibling leaf, right subtree]): the path does not bind the size, which is why the
            # checkpoint signs it with the root, and a proof's tree_size must be the signed one.
            for other_size in range(index + 1, 66):
                if other_size != size and sides(index, other_size) != sides(index, size):
                    assert not merkle.verify_inclusion(index, other_size, leaf, proof, root), (index, size, other_size)


def test_consistency_between_every_pair_of_sizes_up_to_32():
    for second in range(1, 33):
        root2 = merkle.root(LEAVES[:second])
        for first in range(1, second + 1):
            root1 = merkle.root(LEAVES[:first])
            proof = merkle.consistency_proof(LEAVES, first, second)
            assert proof == ([] if first == second else subproof(first, LEAVES[:second], True))
            assert merkle.verify_consistency(first, second, root1, root2, proof)
            if first == second:
                continue
            assert not merkle.verify_consistency(first, second, flipped(root1), root2, proof)
            assert not merkle.verify_consistency(first, second, root1, flipped(root2), proof)
            for i in range(len(proof)):
                assert not merkle.verify_consistency(first, second, root1, root2,
                                                     proof[:i] + [flipped(proof[i])] + proof[i + 1:])
            if first > 1:
                assert not merkle.verify_consistency(first - 1, second, root1, root2, proof)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=200), st.data())
def test_any_tree_any_leaf(leaves, data):
    size = data.draw(st.integers(1, len(leaves)))
    index = data.draw(st.integers(0, size - 1))
    root = merkle.root(leaves[:size])
    assert root == mth(leaves[:size])
    proof = merkle.inclusion_path(iter(leaves), index, size)  # one pass over an iterator
    assert merkle.verify_inclusion(index, size, merkle.leaf_hash(leaves[index]), proof, root)
    first = data.draw(st.integers(1, size))
    assert merkle.verify_consistency(first, size, merkle.root(leaves[:first]), root,
                                     merkle.consistency_proof(iter(leaves), first, size))


def test_out_of_range_is_refused_not_guessed():
    with pytest.raises(ValueError):
        merkle.path_ranges(5, 5)
    with pytest.raises(ValueError, match="the leaves end before 8"):
        merkle.inclusion_path(LEAVES[:6], 0, 8)
    assert merkle.root_from_path(0, 0, LEAVES[0], []) is None
    assert not merkle.verify_consistency(0, 4, merkle.EMPTY, merkle.root(LEAVES[:4]), [LEAVES[0]])
    assert merkle.verify_consistency(0, 4, merkle.EMPTY, merkle.root(LEAVES[:4]), [])
