//! The label table of a who-identification (spec §15.3): every row's entry sealed under a key
//! derived from the garbled labels of the index wires for that row, placed at the position
//! their colour bits give; the evaluator opens the one entry its labels key.

use aes::Aes128;
use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
use privface_ot::Block;

use crate::hash::FixedKeyHash;

/// Bytes of one label-table entry: LE16(id length) ‖ LE16(label length) ‖ id ‖ label ‖ zero
/// padding, to [`ENTRY_CONTENT`] bytes, then 16 zero bytes the reader checks.
pub const ENTRY_BYTES: usize = 64;

/// Bytes of an entry's id and label together.
pub const ENTRY_CONTENT: usize = ENTRY_BYTES - 16 - 4;

/// The tweak of index wire j in the key derivation (disjoint from every gate's).
fn key_tweak(j: usize) -> u128 {
    (1u128 << 127) + j as u128
}

/// AES-128 under `key` in counter mode over an entry: XORs the keystream into `entry`.
fn crypt_entry(key: u128, entry: &mut [u8; ENTRY_BYTES]) {
    let aes = Aes128::new(GenericArray::from_slice(&key.to_le_bytes()));
    for (i, chunk) in entry.chunks_exact_mut(16).enumerate() {
        let mut block = GenericArray::from((i as u128).to_le_bytes());
        aes.encrypt_block(&mut block);
        for (e, k) in chunk.iter_mut().zip(block.iter()) {
            *e ^= k;
        }
    }
}

/// An entry's plaintext: lengths, id, label, zero padding, zero check. None when the id and
/// label do not fit [`ENTRY_CONTENT`] bytes.
pub fn entry_plaintext(id: &str, label: &str) -> Option<[u8; ENTRY_BYTES]> {
    if id.len() + label.len() > ENTRY_CONTENT {
        return None;
    }
    let mut e = [0u8; ENTRY_BYTES];
    e[..2].copy_from_slice(&(id.len() as u16).to_le_bytes());
    e[2..4].copy_from_slice(&(label.len() as u16).to_le_bytes());
    e[4..4 + id.len()].copy_from_slice(id.as_bytes());
    e[4 + id.len()..4 + id.len() + label.len()].copy_from_slice(label.as_bytes());
    Some(e)
}

/// Reads an entry's plaintext back: (id, label), or None when the check bytes or lengths are
/// wrong (another key, or a garbler that deviated).
pub fn read_entry(e: &[u8; ENTRY_BYTES]) -> Option<(String, String)> {
    if e[ENTRY_BYTES - 16..].iter().any(|&b| b != 0) {
        return None;
    }
    let id_len = u16::from_le_bytes([e[0], e[1]]) as usize;
    let label_len = u16::from_le_bytes([e[2], e[3]]) as usize;
    if id_len + label_len > ENTRY_CONTENT {
        return None;
    }
    let id = std::str::from_utf8(&e[4..4 + id_len]).ok()?;
    let label = std::str::from_utf8(&e[4 + id_len..4 + id_len + label_len]).ok()?;
    Some((id.to_owned(), label.to_owned()))
}

/// The garbler's label table (module documentation): 2^bits entries in position order, the
/// entry of index t holding `entry(t)` (rows past the gallery: an empty entry).
pub fn seal_table(
    delta: Block,
    index_wires: &[Block],
    entry: &(dyn Fn(usize) -> [u8; ENTRY_BYTES] + Sync),
) -> Vec<u8> {
    let hash = FixedKeyHash::new();
    let bits = index_wires.len();
    // H(W_j^b, tweak_j) for both b, and the colour of W_j^0.
    let mut parts = Vec::with_capacity(bits);
    for (j, &w) in index_wires.iter().enumerate() {
        let mut out = [0u128; 2];
        hash.hash_chunk(&[w.0, (w ^ delta).0], &[key_tweak(j); 2], &mut out);
        parts.push((out, w.lsb()));
    }
    let size = 1usize << bits;
    let mut table = vec![0u8; size * ENTRY_BYTES];
    for t in 0..size {
        let (mut key, mut position) = (0u128, 0usize);
        for (j, &(h, colour)) in parts.iter().enumerate() {
            let bit = t >> j & 1;
            key ^= h[bit];
            position |= usize::from(colour ^ (bit == 1)) << j;
        }
        let mut e = entry(t);
        crypt_entry(key, &mut e);
        table[position * ENTRY_BYTES..(position + 1) * ENTRY_BYTES].copy_from_slice(&e);
    }
    table
}

/// The evaluator's side of the table: the position of the one entry its index labels open,
/// and the key that opens it.
pub fn table_position(index_labels: &[Block]) -> (usize, u128) {
    let hash = FixedKeyHash::new();
    let (mut key, mut position) = (0u128, 0usize);
    for (j, l) in index_labels.iter().enumerate() {
        let mut out = [0u128; 1];
        hash.hash_chunk(&[l.0], &[key_tweak(j)], &mut out);
        key ^= out[0];
        position |= usize::from(l.lsb()) << j;
    }
    (position, key)
}

/// Decrypts the entry at the evaluator's position with its key.
pub fn open_entry(key: u128, sealed: &[u8]) -> Option<(String, String)> {
    let mut e: [u8; ENTRY_BYTES] = sealed.try_into().ok()?;
    crypt_entry(key, &mut e);
    read_entry(&e)
}
