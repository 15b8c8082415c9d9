//! Encodes and decodes chunks of typical series and prints samples per second of each.
//!
//! `cargo run --release -p pupitre-series --example codec_speed`

use std::time::Instant;

use pupitre_series::chunk;

fn main() {
    let n = 720;
    let series = 2_000;
    let timestamps: Vec<i64> = (0..n)
        .map(|i| 1_700_000_000_000 + i * 10_000 + (i * 7 % 5))
        .collect();
    let gauge: Vec<f64> = (0..n)
        .map(|i| ((i as f64) * 0.1).sin() * 40.0 + 50.0)
        .collect();
    let counter: Vec<f64> = (0..n).map(|i| (i * 1234 + (i * i) % 97) as f64).collect();
    for (name, values) in [("gauge", &gauge), ("counter", &counter)] {
        let started = Instant::now();
        let mut bytes = 0;
        let mut chunks = Vec::new();
        for _ in 0..series {
            let c = chunk::encode(&timestamps, values).expect("encode");
            bytes += c.len();
            chunks.push(c);
        }
        let encode = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let mut count = 0;
        for c in &chunks {
            count += chunk::decode(c).expect("decode").0.len();
        }
        let decode = started.elapsed().as_secs_f64();
        let samples = (n as usize * series) as f64;
        println!(
            "{name}: encode {:.1} M samples/s, decode {:.1} M samples/s, {:.2} B/sample ({count})",
            samples / encode / 1e6,
            samples / decode / 1e6,
            bytes as f64 / samples
        );
    }
}
