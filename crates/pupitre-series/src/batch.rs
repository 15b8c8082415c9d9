//! A batch: the samples of many series received together, as the ingest stores them in one
//! row of its durable buffer before they are sealed into each series' chunks.
//!
//! Layout (version 1):
//!
//! ```text
//! u8       version (1)
//! varint   number of series
//! then for each series:
//!   varint series id
//!   varint length of its chunk in bytes
//!   bytes  its samples as a chunk (see `chunk`)
//! ```
//!
//! A reader can skip the series it does not want without decoding them.

use crate::bits::{push_varint, read_varint};
use crate::chunk::{self, ChunkError};

const VERSION: u8 = 1;

/// Builds a batch one series at a time.
#[derive(Debug, Default)]
pub struct BatchWriter {
    body: Vec<u8>,
    series: u64,
    samples: u64,
}

impl BatchWriter {
    pub fn new() -> BatchWriter {
        BatchWriter::default()
    }

    /// Adds a series' samples; a series without samples is left out.
    pub fn push(
        &mut self,
        series: u64,
        timestamps: &[i64],
        values: &[f64],
    ) -> Result<(), ChunkError> {
        if timestamps.is_empty() && values.is_empty() {
            return Ok(());
        }
        let encoded = chunk::encode(timestamps, values)?;
        push_varint(&mut self.body, series);
        push_varint(&mut self.body, encoded.len() as u64);
        self.body.extend_from_slice(&encoded);
        self.series += 1;
        self.samples += timestamps.len() as u64;
        Ok(())
    }

    /// Samples pushed so far.
    pub fn samples(&self) -> u64 {
        self.samples
    }

    pub fn is_empty(&self) -> bool {
        self.series == 0
    }

    pub fn finish(self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.body.len() + 11);
        bytes.push(VERSION);
        push_varint(&mut bytes, self.series);
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

/// The series of a batch, in the order they were pushed: `(series id, chunk bytes)`.
pub fn entries(batch: &[u8]) -> Result<Entries<'_>, ChunkError> {
    let [version, rest @ ..] = batch else {
        return Err(ChunkError::Truncated(0));
    };
    if *version != VERSION {
        return Err(ChunkError::Version(*version));
    }
    let mut rest = rest;
    let left = read_varint(&mut rest).ok_or(ChunkError::Truncated(0))?;
    Ok(Entries { rest, left })
}

/// Iterates over a batch's series; yields an error once and stops if the batch is damaged.
#[derive(Debug)]
pub struct Entries<'a> {
    rest: &'a [u8],
    left: u64,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<(u64, &'a [u8]), ChunkError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut entry = || {
            let series = read_varint(&mut self.rest)?;
            let length = usize::try_from(read_varint(&mut self.rest)?).ok()?;
            if length > self.rest.len() {
                return None;
            }
            let (chunk, rest) = self.rest.split_at(length);
            self.rest = rest;
            Some((series, chunk))
        };
        match entry() {
            Some(found) => Some(Ok(found)),
            None => {
                self.left = 0;
                Some(Err(ChunkError::Truncated(0)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_come_back_in_order_and_damage_is_an_error() {
        let mut writer = BatchWriter::new();
        writer
            .push(7, &[1, 2, 3], &[1.0, f64::NAN, -0.0])
            .expect("push");
        writer.push(7, &[], &[]).expect("nothing to push");
        writer.push(300_000, &[-5], &[f64::INFINITY]).expect("push");
        assert_eq!(writer.samples(), 4);
        let bytes = writer.finish();

        let read: Vec<(u64, Vec<i64>, Vec<u64>)> = entries(&bytes)
            .expect("batch")
            .map(|entry| {
                let (series, chunk) = entry.expect("entry");
                let (timestamps, values) = chunk::decode(chunk).expect("chunk");
                (
                    series,
                    timestamps,
                    values.iter().map(|v| v.to_bits()).collect(),
                )
            })
            .collect();
        assert_eq!(
            read,
            vec![
                (
                    7,
                    vec![1, 2, 3],
                    vec![1.0_f64.to_bits(), f64::NAN.to_bits(), (-0.0_f64).to_bits()]
                ),
                (300_000, vec![-5], vec![f64::INFINITY.to_bits()]),
            ]
        );

        let cut = &bytes[..bytes.len() - 3];
        let results: Vec<_> = entries(cut).expect("header").collect();
        assert!(results.last().is_some_and(|last| last.is_err()));
        assert!(matches!(entries(&[9, 0]), Err(ChunkError::Version(9))));
        assert!(entries(&[]).is_err());
        assert!(BatchWriter::new().push(1, &[1], &[]).is_err());
    }
}
