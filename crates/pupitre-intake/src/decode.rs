//! Body compression: which one an agent used, bounded inflation, and compressing the reply.
//!
//! Agents do not say reliably how they compressed a body (FusionInventory labels zlib
//! `application/x-compress-zlib` but falls back to gzip, GLPI Agent may send plain JSON), and
//! they decode the reply by sniffing its first bytes. So does this module: [`sniff`] looks at the
//! magic bytes, and a reply is compressed with the encoding of the request.

use std::fmt;
use std::io::{Read, Write};

use flate2::Compression;
use flate2::read::{GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};

use crate::IntakeError;

/// How a body is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    /// RFC 1950 (`78 9c`…), FusionInventory's and GLPI Agent's default.
    Zlib,
    /// RFC 1952 (`1f 8b 08`…).
    Gzip,
    /// Not compressed.
    Plain,
}

impl Encoding {
    pub fn name(self) -> &'static str {
        match self {
            Encoding::Zlib => "zlib",
            Encoding::Gzip => "gzip",
            Encoding::Plain => "plain",
        }
    }
}

impl fmt::Display for Encoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Tells the encoding from the first bytes: a zlib header is `0x78` followed by a byte that
/// makes the 16-bit big-endian header a multiple of 31; gzip starts `1f 8b 08`; anything else
/// is taken as plain.
pub fn sniff(body: &[u8]) -> Encoding {
    match body {
        [0x1f, 0x8b, 0x08, ..] => Encoding::Gzip,
        [0x78, flags, ..] if (0x78_u16 * 256 + u16::from(*flags)).is_multiple_of(31) => {
            Encoding::Zlib
        }
        _ => Encoding::Plain,
    }
}

/// Inflates `body` according to its sniffed encoding, refusing to produce more than `limit`
/// bytes: reading stops, with [`IntakeError::TooLarge`], as soon as the output passes the limit,
/// so a compression bomb costs at most about `limit` bytes of memory. A truncated or corrupt
/// stream is an [`IntakeError::Corrupt`].
pub fn decompress(body: &[u8], limit: usize) -> Result<(Encoding, Vec<u8>), IntakeError> {
    let encoding = sniff(body);
    let data = match encoding {
        Encoding::Plain if body.len() > limit => return Err(IntakeError::TooLarge { limit }),
        Encoding::Plain => body.to_vec(),
        Encoding::Zlib => read_bounded(ZlibDecoder::new(body), encoding, limit)?,
        Encoding::Gzip => read_bounded(GzDecoder::new(body), encoding, limit)?,
    };
    Ok((encoding, data))
}

/// Compresses a reply with the request's encoding (`Plain` returns `data` as is).
pub fn compress(encoding: Encoding, data: &[u8]) -> Vec<u8> {
    // Writing into a Vec cannot fail, and neither can deflate on its own output buffer.
    const INFALLIBLE: &str = "compressing into a Vec<u8> does not fail";
    match encoding {
        Encoding::Plain => data.to_vec(),
        Encoding::Zlib => {
            let mut encoder = ZlibEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).expect(INFALLIBLE);
            encoder.finish().expect(INFALLIBLE)
        }
        Encoding::Gzip => {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
            encoder.write_all(data).expect(INFALLIBLE);
            encoder.finish().expect(INFALLIBLE)
        }
    }
}

/// Reads `reader` to its end into a vector that never grows past `limit` bytes.
fn read_bounded(
    mut reader: impl Read,
    encoding: Encoding,
    limit: usize,
) -> Result<Vec<u8>, IntakeError> {
    const CHUNK: usize = 64 * 1024;
    let mut out = Vec::new();
    let mut chunk = vec![0_u8; CHUNK];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(IntakeError::Corrupt {
                    encoding,
                    detail: e.to_string(),
                });
            }
        };
        let len = out.len() + n;
        if len > limit {
            return Err(IntakeError::TooLarge { limit });
        }
        if len > out.capacity() {
            // Double as a Vec would, but never past the limit.
            let capacity = out.capacity().saturating_mul(2).clamp(len, limit);
            out.reserve_exact(capacity - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
}

#[cfg(test)]
mod tests {
    use flate2::{Compress, FlushCompress};

    use super::*;

    const MIB: usize = 1024 * 1024;

    fn sample() -> Vec<u8> {
        let mut xml = b"<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<REQUEST>".to_vec();
        for i in 0..2000 {
            xml.extend_from_slice(format!("<SOFTWARES><NAME>pkg{i}</NAME></SOFTWARES>").as_bytes());
        }
        xml.extend_from_slice(b"</REQUEST>\n");
        xml
    }

    #[test]
    fn sniffs_magic_bytes() {
        assert_eq!(sniff(&[0x78, 0x9c, 0]), Encoding::Zlib);
        assert_eq!(sniff(&[0x78, 0x01]), Encoding::Zlib);
        assert_eq!(sniff(&[0x78, 0xda]), Encoding::Zlib);
        assert_eq!(
            sniff(&[0x78, 0x9d]),
            Encoding::Plain,
            "fails the mod-31 check"
        );
        assert_eq!(sniff(&[0x1f, 0x8b, 0x08, 0]), Encoding::Gzip);
        assert_eq!(sniff(&[0x1f, 0x8b]), Encoding::Plain);
        assert_eq!(sniff(b"<?xml"), Encoding::Plain);
        assert_eq!(sniff(b"{}"), Encoding::Plain);
        assert_eq!(sniff(b"x"), Encoding::Plain);
        assert_eq!(sniff(b""), Encoding::Plain);
    }

    #[test]
    fn round_trips_every_encoding() {
        let data = sample();
        for encoding in [Encoding::Zlib, Encoding::Gzip, Encoding::Plain] {
            let body = compress(encoding, &data);
            assert_eq!(sniff(&body), encoding);
            if encoding != Encoding::Plain {
                assert!(body.len() < data.len() / 4, "{encoding} did not compress");
            }
            let (found, inflated) = decompress(&body, MIB).unwrap();
            assert_eq!(found, encoding);
            assert_eq!(inflated, data);
        }
    }

    #[test]
    fn zlib_reply_starts_like_the_agent_expects() {
        // FusionInventory recognises a zlib reply by `78 9c`.
        assert_eq!(&compress(Encoding::Zlib, b"<REPLY/>")[..2], &[0x78, 0x9c]);
        assert_eq!(
            &compress(Encoding::Gzip, b"<REPLY/>")[..3],
            &[0x1f, 0x8b, 0x08]
        );
    }

    #[test]
    fn output_exactly_at_the_limit_passes() {
        let data = sample();
        let body = compress(Encoding::Zlib, &data);
        assert_eq!(decompress(&body, data.len()).unwrap().1, data);
        assert_eq!(
            decompress(&body, data.len() - 1),
            Err(IntakeError::TooLarge {
                limit: data.len() - 1
            })
        );
        assert_eq!(
            decompress(&data, data.len() - 1),
            Err(IntakeError::TooLarge {
                limit: data.len() - 1
            })
        );
    }

    /// A valid zlib stream of `mib` MiB of zeros, built fast: once deflate's window holds only
    /// zeros, every sync-flushed MiB compresses to the same bytes, so one segment is repeated.
    fn zlib_zeros(mib: u32) -> Vec<u8> {
        fn segment(deflate: &mut Compress, input: &[u8], flush: FlushCompress) -> Vec<u8> {
            let mut out = Vec::with_capacity(MIB);
            let before = deflate.total_in();
            deflate.compress_vec(input, &mut out, flush).unwrap();
            assert_eq!(deflate.total_in() - before, input.len() as u64);
            out
        }
        let zeros = vec![0_u8; MIB];
        let mut deflate = Compress::new(Compression::default(), false);
        let first = segment(&mut deflate, &zeros, FlushCompress::Sync);
        let steady = segment(&mut deflate, &zeros, FlushCompress::Sync);
        assert_eq!(segment(&mut deflate, &zeros, FlushCompress::Sync), steady);
        let mut body = vec![0x78, 0x9c];
        body.extend_from_slice(&first);
        for _ in 1..mib {
            body.extend_from_slice(&steady);
        }
        body.extend_from_slice(&segment(&mut deflate, &[], FlushCompress::Finish));
        // Adler-32 of n zeros: a = 1, b = n mod 65521.
        let b = (u64::from(mib) * MIB as u64 % 65521) as u32;
        body.extend_from_slice(&(b << 16 | 1).to_be_bytes());
        body
    }

    #[test]
    fn zeros_stream_is_valid() {
        let body = zlib_zeros(3);
        let (_, data) = decompress(&body, 3 * MIB).unwrap();
        assert_eq!(data.len(), 3 * MIB);
        assert!(data.iter().all(|b| *b == 0));
    }

    #[test]
    fn compression_bomb_stops_at_the_limit() {
        // 1 GiB of zeros in about 1 MiB; inflating must stop just past 16 MiB.
        let bomb = zlib_zeros(1024);
        assert!(bomb.len() < 2 * MIB, "bomb is {} bytes", bomb.len());

        let started = std::time::Instant::now();
        let err = decompress(&bomb, 16 * MIB).unwrap_err();
        assert_eq!(err, IntakeError::TooLarge { limit: 16 * MIB });
        assert!(err.to_string().contains("16777216"), "{err}");
        // Inflating 16 MiB takes milliseconds; inflating the whole gigabyte would take seconds.
        assert!(started.elapsed().as_secs() < 2);

        let gz = compress(Encoding::Gzip, &vec![0_u8; 4 * MIB]);
        assert_eq!(
            decompress(&gz, MIB),
            Err(IntakeError::TooLarge { limit: MIB })
        );
    }

    #[test]
    fn growth_never_passes_the_limit() {
        let data = vec![b'a'; 3 * MIB + 17];
        let body = compress(Encoding::Zlib, &data);
        let limit = 3 * MIB + 100;
        let mut reader = ZlibDecoder::new(&body[..]);
        let out = read_bounded(&mut reader, Encoding::Zlib, limit).unwrap();
        assert_eq!(out.len(), data.len());
        assert!(out.capacity() <= limit, "capacity {}", out.capacity());
    }

    #[test]
    fn truncated_streams_are_errors() {
        let data = sample();
        for encoding in [Encoding::Zlib, Encoding::Gzip] {
            let body = compress(encoding, &data);
            for cut in [body.len() - 1, body.len() - 4, body.len() / 2, 3] {
                let err = decompress(&body[..cut], MIB).unwrap_err();
                assert!(
                    matches!(err, IntakeError::Corrupt { encoding: e, .. } if e == encoding),
                    "{encoding} cut at {cut}: {err:?}"
                );
            }
        }
        let err = decompress(&compress(Encoding::Zlib, &data)[..100], MIB).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("the zlib body is truncated or corrupt"),
            "{err}"
        );
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let mut body = compress(Encoding::Zlib, &sample());
        let n = body.len();
        body[n - 2] ^= 0xff; // the Adler-32 trailer
        assert!(matches!(
            decompress(&body, MIB),
            Err(IntakeError::Corrupt {
                encoding: Encoding::Zlib,
                ..
            })
        ));
        // A valid header followed by garbage.
        assert!(matches!(
            decompress(&[0x78, 0x9c, 0xff, 0xff, 0xff, 0xff], MIB),
            Err(IntakeError::Corrupt { .. })
        ));
        let mut gz = compress(Encoding::Gzip, &sample());
        let n = gz.len();
        gz[n - 6] ^= 0xff; // the CRC-32 trailer
        assert!(matches!(
            decompress(&gz, MIB),
            Err(IntakeError::Corrupt {
                encoding: Encoding::Gzip,
                ..
            })
        ));
    }
}
