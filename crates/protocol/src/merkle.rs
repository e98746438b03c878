//! The entries Merkle tree: a block commits to its entries by one root, and one entry can be
//! proven to be in a block with a logarithmic proof.
//!
//! The shape is RFC 6962's (Certificate Transparency): for n > 1 leaves, split at the largest
//! power of two below n, hash the halves, and join them. Leaves are entry hashes (domain `Entry`),
//! inner nodes are hashed in domain `MerkleNode`, and a block with no entries has the root
//! `MerkleEmpty("")`, so no leaf, node or empty root can be confused with another.

use serde::{Deserialize, Serialize};

use crate::hash::Domain;
use crate::ids::EntriesRoot;

/// The root over `leaves` (entry hashes, in block order).
pub fn root(leaves: &[[u8; 32]]) -> EntriesRoot {
    if leaves.is_empty() {
        return EntriesRoot(Domain::MerkleEmpty.hash(b""));
    }
    EntriesRoot(subtree(leaves))
}

fn subtree(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves {
        [leaf] => *leaf,
        _ => {
            let split = split_point(leaves.len());
            node(&subtree(&leaves[..split]), &subtree(&leaves[split..]))
        }
    }
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    Domain::MerkleNode.hash_parts(&[left, right])
}

/// The largest power of two strictly below `n` (n >= 2).
fn split_point(n: usize) -> usize {
    let mut k = 1;
    while k * 2 < n {
        k *= 2;
    }
    k
}

/// The sibling hashes from a leaf up to the root, lowest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// The leaf's index among the block's entries.
    pub index: u32,
    /// The number of leaves in the tree.
    pub leaf_count: u32,
    /// Sibling hashes, from the leaf's level upward.
    pub siblings: Vec<[u8; 32]>,
}

/// The proof that `leaves[index]` is under `root(leaves)`, or `None` if `index` is out of range.
pub fn prove(leaves: &[[u8; 32]], index: usize) -> Option<Proof> {
    if index >= leaves.len() {
        return None;
    }
    let mut siblings = Vec::new();
    collect_siblings(leaves, index, &mut siblings);
    Some(Proof {
        index: u32::try_from(index).ok()?,
        leaf_count: u32::try_from(leaves.len()).ok()?,
        siblings,
    })
}

fn collect_siblings(leaves: &[[u8; 32]], index: usize, out: &mut Vec<[u8; 32]>) {
    if leaves.len() <= 1 {
        return;
    }
    let split = split_point(leaves.len());
    if index < split {
        collect_siblings(&leaves[..split], index, out);
        out.push(subtree(&leaves[split..]));
    } else {
        collect_siblings(&leaves[split..], index - split, out);
        out.push(subtree(&leaves[..split]));
    }
}

/// Whether `proof` shows `leaf` under `root`.
pub fn verify(root: &EntriesRoot, leaf: &[u8; 32], proof: &Proof) -> bool {
    let (index, count) = (proof.index as usize, proof.leaf_count as usize);
    if index >= count {
        return false;
    }
    let mut siblings = proof.siblings.iter().rev();
    match fold_down(index, count, leaf, &mut siblings) {
        Some(computed) => siblings.next().is_none() && computed == root.0,
        None => false,
    }
}

/// Recomputes the subtree hash over `count` leaves containing `leaf` at `index`, taking siblings
/// from the top of the proof down (the iterator is reversed by the caller).
fn fold_down<'a>(
    index: usize,
    count: usize,
    leaf: &[u8; 32],
    siblings: &mut impl Iterator<Item = &'a [u8; 32]>,
) -> Option<[u8; 32]> {
    if count == 1 {
        return Some(*leaf);
    }
    let split = split_point(count);
    let sibling = siblings.next()?;
    if index < split {
        let left = fold_down(index, split, leaf, siblings)?;
        Some(node(&left, sibling))
    } else {
        let right = fold_down(index - split, count - split, leaf, siblings)?;
        Some(node(sibling, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaves(n: usize) -> Vec<[u8; 32]> {
        (0..n)
            .map(|i| Domain::Entry.hash(&i.to_le_bytes()))
            .collect()
    }

    #[test]
    fn every_leaf_proves_and_nothing_else_does() {
        for n in 1..=17 {
            let ls = leaves(n);
            let r = root(&ls);
            for i in 0..n {
                let proof = prove(&ls, i).unwrap();
                assert!(verify(&r, &ls[i], &proof), "n={n} i={i}");
                let wrong = Domain::Entry.hash(b"other");
                assert!(!verify(&r, &wrong, &proof));
                let mut moved = proof.clone();
                moved.index = ((i + 1) % n) as u32;
                if n > 1 {
                    assert!(!verify(&r, &ls[i], &moved), "n={n} i={i}");
                }
            }
            assert!(prove(&ls, n).is_none());
        }
    }

    #[test]
    fn root_depends_on_order_and_count() {
        let ls = leaves(4);
        let mut swapped = ls.clone();
        swapped.swap(1, 2);
        assert_ne!(root(&ls), root(&swapped));
        assert_ne!(root(&ls[..3]), root(&ls));
        assert_ne!(root(&[]), root(&ls[..1]));
        // A single leaf is its own root; two leaves are one node.
        assert_eq!(root(&ls[..1]).0, ls[0]);
        assert_eq!(root(&ls[..2]).0, node(&ls[0], &ls[1]));
    }
}
