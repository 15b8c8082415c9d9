//! A chunk: the samples of one series over a stretch of time, compressed into bytes that are
//! stored as one BLOB. Decoding gives back every timestamp and every value bit for bit (NaN
//! payloads, -0.0 and infinities included).
//!
//! Layout (version 1):
//!
//! ```text
//! u8       version (1)
//! u8       value encoding: 0 XOR, 1 integer deltas, 2 integer deltas of deltas;
//!          0x1k and 0x2k: decimals with k digits (1 to 9), as deltas or deltas of deltas
//! varint   sample count
//! varint   first timestamp (zigzag)
//! bits     the other timestamps: the delta of their deltas (ms), in 1, 7, 11, 19, 37 or 69 bits
//! bits     the values, in the value encoding
//! ```
//!
//! Timestamps are milliseconds. Samples taken at a steady interval cost 1 bit each, and a few
//! milliseconds of jitter 7 bits (Prometheus's chunks spend 16 bits on any jitter). Values are
//! encoded the three ways below and the smallest is kept:
//!
//! - **XOR** (Gorilla, as Prometheus): each value's bits XOR the previous one's; an unchanged
//!   value costs 1 bit, a value close to the previous one its differing middle bits.
//! - **Integer deltas**: when every value is a whole number (no -0.0) within ±2^53, the
//!   differences between consecutive values, in variable widths. Gauges of whole numbers
//!   (bytes used, processes) compress better this way than by XOR.
//! - **Integer deltas of deltas**: the same for counters that grow at a steady rate.
//! - **Decimals**: when every value is a decimal of at most 9 digits after the point, given
//!   back exactly by dividing a whole number by 10^k (`59.05` is 5905 / 100, bit for bit),
//!   those whole numbers, by deltas or deltas of deltas. Exporters print most of their values
//!   this way (`node_cpu_seconds_total` has 2 decimals), and XOR spends 40 bits or more on a
//!   value that changed in its second decimal.
//!
//! Arithmetic on timestamps and deltas wraps, so any sequence of `i64` timestamps round-trips;
//! ordering them is the ingest's job, not the codec's.

use crate::bits::{BitReader, BitWriter, push_varint, read_varint, unzigzag, zigzag};

const VERSION: u8 = 1;

/// Widths of the delta of deltas of timestamps (ms): ±16 ms, ±256 ms, ±32 s, ±24 days.
const TIME_WIDTHS: [u32; 4] = [5, 9, 16, 32];

/// Widths of integer value deltas.
const INTEGER_WIDTHS: [u32; 4] = [6, 13, 20, 32];

/// The largest magnitude of a whole-number value that the integer encodings take: above it,
/// not every integer is a float.
const LARGEST_INTEGER: f64 = 9_007_199_254_740_992.0; // 2^53

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ValueEncoding {
    Xor = 0,
    Delta = 1,
    DeltaOfDelta = 2,
}

/// The most digits after the point that the decimal encodings take.
const MOST_DECIMALS: u8 = 9;

const POWERS_OF_TEN: [f64; 10] = [1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/// Why a chunk could not be made or read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error("{timestamps} timestamps but {values} values")]
    LengthMismatch { timestamps: usize, values: usize },
    #[error("the chunk is empty")]
    Empty,
    #[error("unknown chunk version {0}")]
    Version(u8),
    #[error("unknown value encoding {0}")]
    Encoding(u8),
    #[error("the chunk ends before its {0} samples")]
    Truncated(u64),
}

/// Compresses the samples `(timestamps[i], values[i])`.
pub fn encode(timestamps: &[i64], values: &[f64]) -> Result<Vec<u8>, ChunkError> {
    if timestamps.len() != values.len() {
        return Err(ChunkError::LengthMismatch {
            timestamps: timestamps.len(),
            values: values.len(),
        });
    }
    let Some(&first) = timestamps.first() else {
        return Err(ChunkError::Empty);
    };
    let mut head = Vec::with_capacity(16 + timestamps.len() * 2);
    head.extend([VERSION, 0]);
    push_varint(&mut head, timestamps.len() as u64);
    push_varint(&mut head, zigzag(first));
    let mut bits = BitWriter::new(head);
    let mut previous = first;
    let mut previous_delta = 0_i64;
    for &t in &timestamps[1..] {
        let delta = t.wrapping_sub(previous);
        bits.push_varbits(delta.wrapping_sub(previous_delta), &TIME_WIDTHS);
        previous = t;
        previous_delta = delta;
    }

    let mut best = {
        let mut xor = bits.clone();
        push_xor(&mut xor, values);
        (ValueEncoding::Xor, xor)
    };
    // The integer encodings, of the values themselves or of decimals scaled to integers.
    let (integers, decimals) = match as_integers(values) {
        Some(integers) => (Some(integers), 0),
        None => match as_decimals(values) {
            Some((k, scaled)) => (Some(scaled), k),
            None => (None, 0),
        },
    };
    let mut code = ValueEncoding::Xor as u8;
    if let Some(integers) = integers {
        for encoding in [ValueEncoding::Delta, ValueEncoding::DeltaOfDelta] {
            let mut candidate = bits.clone();
            push_integers(&mut candidate, &integers, encoding);
            if candidate.len_bits() < best.1.len_bits() {
                code = if decimals == 0 {
                    encoding as u8
                } else {
                    (encoding as u8) << 4 | decimals
                };
                best = (encoding, candidate);
            }
        }
    }
    let mut bytes = best.1.finish();
    bytes[1] = code;
    Ok(bytes)
}

/// The samples of a chunk, as `(timestamps, values)`.
pub fn decode(chunk: &[u8]) -> Result<(Vec<i64>, Vec<f64>), ChunkError> {
    let [version, encoding, rest @ ..] = chunk else {
        return Err(ChunkError::Truncated(0));
    };
    if *version != VERSION {
        return Err(ChunkError::Version(*version));
    }
    let (encoding, decimals) = match (encoding >> 4, encoding & 0x0f) {
        (0, 0) => (ValueEncoding::Xor, 0),
        (0, 1) => (ValueEncoding::Delta, 0),
        (0, 2) => (ValueEncoding::DeltaOfDelta, 0),
        (1, k @ 1..=MOST_DECIMALS) => (ValueEncoding::Delta, k),
        (2, k @ 1..=MOST_DECIMALS) => (ValueEncoding::DeltaOfDelta, k),
        _ => return Err(ChunkError::Encoding(*encoding)),
    };
    let mut rest = rest;
    let count = read_varint(&mut rest).ok_or(ChunkError::Truncated(0))?;
    let truncated = ChunkError::Truncated(count);
    if count == 0 {
        return Err(ChunkError::Empty);
    }
    let first = read_varint(&mut rest)
        .map(unzigzag)
        .ok_or_else(|| truncated.clone())?;
    // Every sample takes at least two bits: a count beyond that is a damaged chunk, not a
    // reason to allocate.
    if count > 1 + rest.len() as u64 * 4 {
        return Err(truncated);
    }
    let count = count as usize;
    let mut bits = BitReader::new(rest);
    let mut timestamps = Vec::with_capacity(count);
    timestamps.push(first);
    let mut previous = first;
    let mut previous_delta = 0_i64;
    for _ in 1..count {
        let dod = bits
            .read_varbits(&TIME_WIDTHS)
            .ok_or_else(|| truncated.clone())?;
        let delta = previous_delta.wrapping_add(dod);
        previous = previous.wrapping_add(delta);
        previous_delta = delta;
        timestamps.push(previous);
    }
    let values = match encoding {
        ValueEncoding::Xor => read_xor(&mut bits, count),
        ValueEncoding::Delta | ValueEncoding::DeltaOfDelta => {
            read_integers(&mut bits, count, encoding, decimals)
        }
    }
    .ok_or(truncated)?;
    Ok((timestamps, values))
}

fn push_xor(bits: &mut BitWriter, values: &[f64]) {
    let mut previous = 0_u64;
    // The window of meaningful bits of the last XOR written with its own window.
    let mut window: Option<(u32, u32)> = None;
    for (index, value) in values.iter().enumerate() {
        let value = value.to_bits();
        if index == 0 {
            bits.push(value, 64);
            previous = value;
            continue;
        }
        let xor = value ^ previous;
        previous = value;
        if xor == 0 {
            bits.push_bit(false);
            continue;
        }
        // At most 31 leading zeros: the count has 5 bits.
        let leading = xor.leading_zeros().min(31);
        let trailing = xor.trailing_zeros();
        match window {
            Some((l, t)) if leading >= l && trailing >= t => {
                bits.push(0b10, 2);
                bits.push(xor >> t, 64 - l - t);
            }
            _ => {
                let length = 64 - leading - trailing;
                bits.push(0b11, 2);
                bits.push(u64::from(leading), 5);
                // 1 to 64 meaningful bits, stored as 0 to 63.
                bits.push(u64::from(length - 1), 6);
                bits.push(xor >> trailing, length);
                window = Some((leading, trailing));
            }
        }
    }
}

fn read_xor(bits: &mut BitReader<'_>, count: usize) -> Option<Vec<f64>> {
    let mut values = Vec::with_capacity(count);
    let mut previous = bits.read(64)?;
    values.push(f64::from_bits(previous));
    let mut window = (0_u32, 0_u32);
    for _ in 1..count {
        if bits.read_bit()? {
            if bits.read_bit()? {
                let leading = bits.read(5)? as u32;
                let length = bits.read(6)? as u32 + 1;
                let trailing = 64_u32.checked_sub(leading + length)?;
                window = (leading, trailing);
            }
            let (leading, trailing) = window;
            let meaningful = bits.read(64 - leading - trailing)?;
            previous ^= meaningful << trailing;
        }
        values.push(f64::from_bits(previous));
    }
    Some(values)
}

/// The values as integers, when every one is a whole number that converts back to the same
/// bits.
fn as_integers(values: &[f64]) -> Option<Vec<i64>> {
    values
        .iter()
        .map(|&value| {
            let whole = value.is_finite() && value.abs() <= LARGEST_INTEGER && value.fract() == 0.0;
            let integer = value as i64;
            (whole && (integer as f64).to_bits() == value.to_bits()).then_some(integer)
        })
        .collect()
}

/// The values as whole numbers of 10^-k, with the smallest k (1 to 9) that gives every value
/// back bit for bit by a division; `None` when some value needs more, or is not finite.
fn as_decimals(values: &[f64]) -> Option<(u8, Vec<i64>)> {
    // Exactly what decoding computes: the whole number as a float, divided by 10^k (so -0.0,
    // which would come back as 0.0, is not a decimal).
    let exact = |value: f64, k: u8| {
        let power = POWERS_OF_TEN[usize::from(k)];
        let scaled = (value * power).round();
        if scaled.abs() > LARGEST_INTEGER {
            return None;
        }
        let integer = scaled as i64;
        ((integer as f64 / power).to_bits() == value.to_bits()).then_some(integer)
    };
    let mut k = 1;
    for &value in values {
        if !value.is_finite() {
            return None;
        }
        while exact(value, k).is_none() {
            k += 1;
            if k > MOST_DECIMALS {
                return None;
            }
        }
    }
    // Every value is exact at the largest k any needed (a decimal of k digits has k + 1).
    let scaled = values
        .iter()
        .map(|&value| exact(value, k))
        .collect::<Option<Vec<i64>>>()?;
    Some((k, scaled))
}

fn push_integers(bits: &mut BitWriter, integers: &[i64], encoding: ValueEncoding) {
    let mut previous = 0_i64;
    let mut previous_delta = 0_i64;
    for (index, &value) in integers.iter().enumerate() {
        if index == 0 {
            bits.push(value as u64, 64);
        } else {
            let delta = value.wrapping_sub(previous);
            let written = match encoding {
                ValueEncoding::DeltaOfDelta => delta.wrapping_sub(previous_delta),
                _ => delta,
            };
            bits.push_varbits(written, &INTEGER_WIDTHS);
            previous_delta = delta;
        }
        previous = value;
    }
}

fn read_integers(
    bits: &mut BitReader<'_>,
    count: usize,
    encoding: ValueEncoding,
    decimals: u8,
) -> Option<Vec<f64>> {
    let power = POWERS_OF_TEN[usize::from(decimals)];
    let value = |integer: i64| {
        if decimals == 0 {
            integer as f64
        } else {
            integer as f64 / power
        }
    };
    let mut values = Vec::with_capacity(count);
    let mut previous = bits.read(64)? as i64;
    let mut previous_delta = 0_i64;
    values.push(value(previous));
    for _ in 1..count {
        let read = bits.read_varbits(&INTEGER_WIDTHS)?;
        let delta = match encoding {
            ValueEncoding::DeltaOfDelta => previous_delta.wrapping_add(read),
            _ => read,
        };
        previous = previous.wrapping_add(delta);
        previous_delta = delta;
        values.push(value(previous));
    }
    Some(values)
}
