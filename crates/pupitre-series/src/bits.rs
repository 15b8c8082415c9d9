//! A stream of bits, most significant first, and the variable-width integers chunks are made of.

/// Appends bits to a byte vector.
#[derive(Clone, Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits at the end of the last byte (0: a new byte is needed).
    free: u32,
}

impl BitWriter {
    pub(crate) fn new(bytes: Vec<u8>) -> BitWriter {
        BitWriter { bytes, free: 0 }
    }

    /// Appends the low `bits` bits of `value` (at most 64), highest first.
    pub(crate) fn push(&mut self, value: u64, mut bits: u32) {
        debug_assert!(bits <= 64);
        while bits > 0 {
            if self.free == 0 {
                self.bytes.push(0);
                self.free = 8;
            }
            let take = self.free.min(bits);
            bits -= take;
            let chunk = (value >> bits) & ((1 << take) - 1);
            if let Some(last) = self.bytes.last_mut() {
                *last |= (chunk as u8) << (self.free - take);
            }
            self.free -= take;
        }
    }

    pub(crate) fn push_bit(&mut self, bit: bool) {
        self.push(u64::from(bit), 1);
    }

    /// Appends `value` in the smallest of `widths` (bits, two's complement) that holds it,
    /// behind a prefix naming it: `0` for zero, `10`, `110`, `1110`, `11110` for the four
    /// widths, `11111` for all 64 bits.
    pub(crate) fn push_varbits(&mut self, value: i64, widths: &[u32; 4]) {
        if value == 0 {
            self.push_bit(false);
            return;
        }
        for (index, &width) in (0_u32..).zip(widths) {
            let half = 1_i64 << (width - 1);
            if (-half..half).contains(&value) {
                // index + 1 ones, then a zero.
                self.push(((1 << (index + 1)) - 1) << 1, index + 2);
                self.push(value as u64 & ((1 << width) - 1), width);
                return;
            }
        }
        self.push(0b11111, 5);
        self.push(value as u64, 64);
    }

    /// The bytes written; the last one is padded with zero bits.
    pub(crate) fn finish(self) -> Vec<u8> {
        self.bytes
    }

    pub(crate) fn len_bits(&self) -> usize {
        self.bytes.len() * 8 - self.free as usize
    }
}

/// Reads what a [`BitWriter`] wrote. Every read is `None` past the end.
#[derive(Clone, Debug)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// The next bit to read.
    position: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> BitReader<'a> {
        BitReader { bytes, position: 0 }
    }

    /// Reads `bits` bits (at most 64), highest first.
    pub(crate) fn read(&mut self, mut bits: u32) -> Option<u64> {
        debug_assert!(bits <= 64);
        let mut value = 0_u64;
        while bits > 0 {
            let byte = *self.bytes.get(self.position / 8)?;
            let available = 8 - (self.position % 8) as u32;
            let take = available.min(bits);
            let chunk = (u64::from(byte) >> (available - take)) & ((1 << take) - 1);
            value = (value << take) | chunk;
            self.position += take as usize;
            bits -= take;
        }
        Some(value)
    }

    pub(crate) fn read_bit(&mut self) -> Option<bool> {
        self.read(1).map(|bit| bit == 1)
    }

    /// Reads what [`BitWriter::push_varbits`] wrote with the same `widths`.
    pub(crate) fn read_varbits(&mut self, widths: &[u32; 4]) -> Option<i64> {
        let mut ones = 0;
        while ones < 5 {
            if self.read_bit()? {
                ones += 1;
            } else {
                break;
            }
        }
        let width = match ones {
            0 => return Some(0),
            5 => 64,
            n => widths[n - 1],
        };
        let raw = self.read(width)?;
        let shift = 64 - width;
        Some(((raw << shift) as i64) >> shift)
    }
}

/// Appends `value` as LEB128 (7 bits a byte, low first).
pub(crate) fn push_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        bytes.push((value as u8) | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

/// Reads a LEB128 value from the front of `bytes`, and moves `bytes` past it.
pub(crate) fn read_varint(bytes: &mut &[u8]) -> Option<u64> {
    let mut value = 0_u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = bytes.split_first()?;
        *bytes = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Signed to unsigned, small magnitudes first: 0, -1, 1, -2, …
pub(crate) fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)) as u64
}

pub(crate) fn unzigzag(value: u64) -> i64 {
    ((value >> 1) as i64) ^ -((value & 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_read_back() {
        let mut w = BitWriter::default();
        let items: &[(u64, u32)] = &[
            (1, 1),
            (0, 1),
            (0b101, 3),
            (0xdead_beef, 32),
            (u64::MAX, 64),
            (0, 7),
            (42, 9),
            (0x1234_5678_9abc_def0, 64),
        ];
        for &(value, bits) in items {
            w.push(value, bits);
        }
        let total: u32 = items.iter().map(|(_, bits)| bits).sum();
        assert_eq!(w.len_bits(), total as usize);
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &(value, bits) in items {
            assert_eq!(r.read(bits), Some(value), "{bits} bits");
        }
    }

    #[test]
    fn varbits_read_back_at_every_edge() {
        let widths = [5, 9, 16, 32];
        let mut values = vec![0, 1, -1, i64::MIN, i64::MAX];
        for width in widths {
            let half = 1_i64 << (width - 1);
            values.extend([half - 1, half, -half, -half - 1]);
        }
        let mut w = BitWriter::default();
        for &value in &values {
            w.push_varbits(value, &widths);
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &value in &values {
            assert_eq!(r.read_varbits(&widths), Some(value));
        }
    }

    #[test]
    fn varints_and_zigzag() {
        for value in [0, 1, -1, 63, -64, 64, i64::MIN, i64::MAX, 1_700_000_000_000] {
            let mut bytes = Vec::new();
            push_varint(&mut bytes, zigzag(value));
            let mut rest = &bytes[..];
            assert_eq!(read_varint(&mut rest).map(unzigzag), Some(value));
            assert!(rest.is_empty());
        }
        let mut truncated: &[u8] = &[0x80];
        assert_eq!(read_varint(&mut truncated), None);
    }
}
