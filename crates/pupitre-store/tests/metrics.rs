//! Metric history conformance: series and their limits, the durable buffer, sealing,
//! compaction into tiers, reads and expiry, against SQLite and PostgreSQL.
#![expect(
    clippy::unwrap_used,
    reason = "a test fails loudly on any unexpected error"
)]

use pupitre_core::audit::Actor;
use pupitre_core::inventory::{AssetInput, AssetType};
use pupitre_core::model::ROOT_ENTITY;
use pupitre_series::batch::BatchWriter;
use pupitre_series::rollup::{self, Rollup};
use pupitre_series::samples::WINDOW;
use pupitre_series::series::{Kind, SeriesKey};
use pupitre_store::Store;
use pupitre_store::metrics::{
    DAY, HOUR, MINUTE, NewSeries, Retention, SeriesFilter, Source, SourceKind,
};
use pupitre_store::testing::TestDb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

pupitre_store::conformance!(
    random_series_read_back_bit_exact_and_tiers_match_a_reference,
    a_later_write_replaces_a_sample_and_late_samples_compact_again,
    a_source_over_its_limit_is_refused_and_counted,
    expiry_keeps_each_tier_for_its_retention,
);

/// 2026-11-30T00:00:00Z, a multiple of every window and tier span used here.
const BASE: i64 = 1_795_996_800_000;

async fn asset(s: &dyn Store) -> i64 {
    let actor = Actor {
        user_id: None,
        login: "test".into(),
        source: "127.0.0.1".into(),
        at: 1,
    };
    let input = AssetInput::new(ROOT_ENTITY, AssetType::Server, "db1");
    s.create_asset(&actor, &input).await.unwrap().id
}

fn new_series(name: &str, label: &str, kind: Kind) -> NewSeries {
    NewSeries {
        key: SeriesKey::new(name, [("device".to_owned(), label.to_owned())]).unwrap(),
        unit: "B".into(),
        kind,
    }
}

/// Registers one gauge of `source` and returns its id.
async fn one_series(s: &dyn Store, source: Source, asset: i64, name: &str) -> i64 {
    s.register_series(
        source,
        asset,
        &[new_series(name, "x", Kind::Gauge)],
        10,
        BASE,
    )
    .await
    .unwrap()
    .ids[0]
        .unwrap()
}

/// Random samples over `hours` from `BASE`: a gauge, a counter with resets, with irregular
/// intervals, NaN and infinities now and then.
fn random_samples(rng: &mut StdRng, hours: i64, counter: bool) -> (Vec<i64>, Vec<f64>) {
    let mut t = BASE + rng.random_range(0..10_000);
    let mut timestamps = Vec::new();
    let mut values = Vec::new();
    let mut total = 0.0_f64;
    while t < BASE + hours * HOUR {
        timestamps.push(t);
        let value = if counter {
            if rng.random_range(0..500) == 0 {
                total = 0.0;
            }
            total += f64::from(rng.random_range(0..5_000_u32));
            total
        } else {
            match rng.random_range(0..200) {
                0 => f64::NAN,
                1 => f64::INFINITY,
                2 => -0.0,
                _ => rng.random::<f64>() * 1e6 - 5e5,
            }
        };
        values.push(value);
        // Mostly every 10 s with a few ms of jitter, sometimes a gap of minutes.
        t += match rng.random_range(0..50) {
            0 => rng.random_range(60_000..900_000),
            _ => 10_000 + rng.random_range(-5..=5),
        };
    }
    (timestamps, values)
}

fn bits(values: &[f64]) -> Vec<u64> {
    values.iter().map(|v| v.to_bits()).collect()
}

fn plain(points: &[Rollup]) -> Vec<(i64, u64, u64, u64, u64, u64)> {
    points
        .iter()
        .map(|p| {
            (
                p.start,
                p.count,
                p.sum.to_bits(),
                p.min.to_bits(),
                p.max.to_bits(),
                p.last.to_bits(),
            )
        })
        .collect()
}

/// Writes every series' samples in batches of `per_batch` samples per series, the batches
/// of a series in time order and the series interleaved.
async fn write(s: &dyn Store, data: &[(i64, Vec<i64>, Vec<f64>)], per_batch: usize, now: i64) {
    let longest = data.iter().map(|d| d.1.len()).max().unwrap_or(0);
    for from in (0..longest).step_by(per_batch) {
        let mut batch = BatchWriter::new();
        for (id, timestamps, values) in data {
            let to = (from + per_batch).min(timestamps.len());
            if from < to {
                batch
                    .push(*id as u64, &timestamps[from..to], &values[from..to])
                    .unwrap();
            }
        }
        let samples = batch.samples();
        s.append_samples(&batch.finish(), samples, now)
            .await
            .unwrap();
    }
}

async fn read_back_exactly(s: &dyn Store, data: &[(i64, Vec<i64>, Vec<f64>)], when: &str) {
    let ids: Vec<i64> = data.iter().map(|d| d.0).collect();
    let read = s
        .read_samples(&ids, BASE - DAY, BASE + 2 * DAY)
        .await
        .unwrap();
    for ((id, timestamps, values), got) in data.iter().zip(&read) {
        assert_eq!(got.series, *id);
        assert_eq!(&got.timestamps, timestamps, "{when}: timestamps of {id}");
        assert_eq!(bits(&got.values), bits(values), "{when}: values of {id}");
    }
    // A range inside: exactly the samples within it.
    let (from, to) = (BASE + 90 * MINUTE, BASE + 150 * MINUTE);
    let part = s.read_samples(&ids[..1], from, to).await.unwrap();
    let (timestamps, _, _) = (&data[0].1, 0, 0);
    let expected: Vec<i64> = timestamps
        .iter()
        .copied()
        .filter(|t| (from..=to).contains(t))
        .collect();
    assert_eq!(part[0].timestamps, expected, "{when}: a range");
}

async fn random_series_read_back_bit_exact_and_tiers_match_a_reference(db: TestDb) {
    let s = &*db.store;
    let asset = asset(s).await;
    let source = Source {
        kind: SourceKind::Check,
        id: 1,
    };
    let wanted: Vec<NewSeries> = (0..12)
        .map(|i| {
            let kind = if i % 3 == 0 {
                Kind::Counter
            } else {
                Kind::Gauge
            };
            new_series("disk_bytes", &format!("sd{i}"), kind)
        })
        .collect();
    let registered = s
        .register_series(source, asset, &wanted, 100, BASE)
        .await
        .unwrap();
    assert_eq!(registered.refused(), 0);
    let ids: Vec<i64> = registered.ids.iter().map(|id| id.unwrap()).collect();
    // Registering again gives the same ids.
    let again = s
        .register_series(source, asset, &wanted, 100, BASE)
        .await
        .unwrap();
    assert_eq!(again.ids, registered.ids);

    let mut rng = StdRng::seed_from_u64(0x5eed_0005);
    let data: Vec<(i64, Vec<i64>, Vec<f64>)> = ids
        .iter()
        .enumerate()
        .map(|(i, &id)| {
            let (t, v) = random_samples(&mut rng, 7, i % 3 == 0);
            (id, t, v)
        })
        .collect();
    let now = BASE + 9 * HOUR;
    write(s, &data, 97, now).await;

    read_back_exactly(s, &data, "buffered").await;
    let sealed = s.seal_samples(now, 1_000).await.unwrap();
    assert!(sealed.batches >= 1 && sealed.damaged == 0, "{sealed:?}");
    read_back_exactly(s, &data, "partly sealed").await;
    while s.seal_samples(now, 1_000).await.unwrap().batches > 0 {}
    read_back_exactly(s, &data, "sealed").await;
    let stats = s.history_stats().await.unwrap();
    assert_eq!(stats.buffered_batches, 0);
    let total: usize = data.iter().map(|d| d.1.len()).sum();
    assert_eq!(stats.chunk_samples, total as u64);

    // Compaction takes the windows that ended before now minus the grace: all four.
    let compacted = s.compact_samples(now, 7).await.unwrap();
    assert_eq!(compacted.windows, 7, "{compacted:?}");
    while s.compact_samples(now, 7).await.unwrap().windows > 0 {}
    read_back_exactly(s, &data, "compacted").await;
    let stats = s.history_stats().await.unwrap();
    assert_eq!(
        stats.chunks,
        (ids.len() * 4) as u64,
        "one chunk per series and window"
    );
    assert_eq!(stats.chunk_samples, total as u64);

    // The tiers equal the plain computation over the samples.
    for step in [MINUTE, HOUR] {
        let tiers = s.read_rollups(&ids, step, BASE, BASE + DAY).await.unwrap();
        for ((id, timestamps, values), (got_id, points)) in data.iter().zip(&tiers) {
            assert_eq!(got_id, id);
            let minutes = rollup::downsample(timestamps, values, MINUTE);
            let expected = rollup::merge_into(&minutes, step);
            assert_eq!(plain(points), plain(&expected), "step {step} of {id}");
        }
    }
    // A range of the minute tier starting mid-way.
    let from = BASE + 61 * MINUTE;
    let tiers = s
        .read_rollups(&ids[..1], MINUTE, from, from + 30 * MINUTE)
        .await
        .unwrap();
    assert!(
        tiers[0]
            .1
            .iter()
            .all(|p| (from..=from + 30 * MINUTE).contains(&p.start))
    );
    assert!(!tiers[0].1.is_empty());

    let found = s
        .find_series(&SeriesFilter {
            visible: vec![ROOT_ENTITY],
            name: Some("disk_bytes".into()),
            asset_id: Some(asset),
            source: Some(source),
            ids: None,
            sources: None,
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(found.len(), 5);
    assert_eq!(found[0].key.label("device"), Some("sd0"));
    assert_eq!(found[0].kind, Kind::Counter);
    assert_eq!(found[0].entity_id, ROOT_ENTITY);
    let hidden = s
        .find_series(&SeriesFilter {
            visible: vec![ROOT_ENTITY + 1_000],
            limit: 5,
            ..SeriesFilter::default()
        })
        .await
        .unwrap();
    assert!(hidden.is_empty());
}

async fn a_later_write_replaces_a_sample_and_late_samples_compact_again(db: TestDb) {
    let s = &*db.store;
    let asset = asset(s).await;
    let source = Source {
        kind: SourceKind::Agent,
        id: 7,
    };
    let id = one_series(s, source, asset, "load").await;
    let now = BASE + 3 * HOUR;
    let batch = |timestamps: &[i64], values: &[f64]| {
        let mut b = BatchWriter::new();
        b.push(id as u64, timestamps, values).unwrap();
        b.finish()
    };
    let first = s
        .append_samples(&batch(&[BASE, BASE + 20_000], &[1.0, 2.0]), 2, now)
        .await
        .unwrap();
    // The same timestamp again, and one out of order.
    let second = s
        .append_samples(&batch(&[BASE + 20_000, BASE + 10_000], &[5.0, 3.0]), 2, now)
        .await
        .unwrap();
    assert!(second > first);
    let read = |label: &'static str| async move {
        let got = s.read_samples(&[id], BASE, BASE + DAY).await.unwrap();
        assert_eq!(
            (got[0].timestamps.clone(), got[0].values.clone()),
            (
                vec![BASE, BASE + 10_000, BASE + 20_000],
                vec![1.0, 3.0, 5.0]
            ),
            "{label}"
        );
    };
    read("buffered").await;
    s.seal_samples(now, 1).await.unwrap();
    read("half sealed").await;
    s.seal_samples(now, 1).await.unwrap();
    read("sealed").await;
    assert_eq!(s.compact_samples(now, 100).await.unwrap().windows, 1);
    read("compacted").await;

    // A late sample for the compacted window: read at once, compacted again later.
    s.append_samples(&batch(&[BASE + 30_000], &[7.0]), 1, now)
        .await
        .unwrap();
    s.seal_samples(now, 100).await.unwrap();
    let got = s.read_samples(&[id], BASE, BASE + DAY).await.unwrap();
    assert_eq!(got[0].values, vec![1.0, 3.0, 5.0, 7.0]);
    let report = s.compact_samples(now, 100).await.unwrap();
    assert_eq!((report.windows, report.chunks), (1, 2));
    let minute = s
        .read_rollups(&[id], MINUTE, BASE, BASE + DAY)
        .await
        .unwrap();
    let point = minute[0].1[0];
    assert_eq!(
        (point.count, point.sum, point.min, point.max, point.last),
        (4, 16.0, 1.0, 7.0, 7.0)
    );

    // A window not compacted yet is summed up from its raw samples.
    s.append_samples(&batch(&[now - 60_000, now - 30_000], &[2.0, 4.0]), 2, now)
        .await
        .unwrap();
    let hour = s.read_rollups(&[id], HOUR, BASE, BASE + DAY).await.unwrap();
    let starts: Vec<(i64, u64)> = hour[0].1.iter().map(|p| (p.start, p.count)).collect();
    assert_eq!(starts, vec![(BASE, 4), (BASE + 2 * HOUR, 2)]);
    assert_eq!(hour[0].1[1].mean(), 3.0);
}

async fn a_source_over_its_limit_is_refused_and_counted(db: TestDb) {
    let s = &*db.store;
    let asset = asset(s).await;
    let source = Source {
        kind: SourceKind::Import,
        id: 3,
    };
    let wanted: Vec<NewSeries> = (0..5)
        .map(|i| new_series("if_octets", &format!("eth{i}"), Kind::Counter))
        .collect();
    let first = s
        .register_series(source, asset, &wanted[..3], 4, BASE)
        .await
        .unwrap();
    assert_eq!((first.refused(), first.series), (0, 3));
    let second = s
        .register_series(source, asset, &wanted, 4, BASE + 1)
        .await
        .unwrap();
    assert_eq!(second.ids[..3], first.ids[..]);
    assert!(second.ids[3].is_some());
    assert_eq!(second.ids[4], None);
    assert_eq!((second.refused(), second.series), (1, 4));
    let refused = s.refused_sources().await.unwrap();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].source, source);
    assert_eq!((refused[0].series, refused[0].refused), (4, 1));
    assert_eq!(refused[0].refused_at, BASE + 1);
    assert_eq!(refused[0].example, "if_octets{device=\"eth4\"}");
    // Another source has its own room.
    let other = Source {
        kind: SourceKind::Import,
        id: 4,
    };
    let own = s
        .register_series(other, asset, &wanted, 5, BASE)
        .await
        .unwrap();
    assert_eq!(own.refused(), 0);
}

async fn expiry_keeps_each_tier_for_its_retention(db: TestDb) {
    let s = &*db.store;
    let asset = asset(s).await;
    let source = Source {
        kind: SourceKind::Check,
        id: 9,
    };
    let id = one_series(s, source, asset, "rta").await;
    let mut batch = BatchWriter::new();
    let timestamps: Vec<i64> = (0..6).map(|i| BASE + i * WINDOW).collect();
    batch.push(id as u64, &timestamps, &[1.0; 6]).unwrap();
    let samples = batch.samples();
    s.append_samples(&batch.finish(), samples, BASE)
        .await
        .unwrap();
    let later = BASE + DAY;
    s.seal_samples(later, 100).await.unwrap();
    assert_eq!(s.compact_samples(later, 100).await.unwrap().windows, 6);

    // Raw kept 5 hours: the windows that ended more than 5 hours ago go; the tiers stay.
    let retention = Retention {
        raw: later - (BASE + 3 * WINDOW),
        minute: 30 * DAY,
        hour: 30 * DAY,
    };
    let expired = s.expire_samples(later, &retention).await.unwrap();
    assert_eq!(expired.chunks, 3, "{expired:?}");
    assert_eq!(expired.rollups, 0);
    let left = s.read_samples(&[id], BASE, later).await.unwrap();
    assert_eq!(left[0].timestamps, timestamps[3..].to_vec());
    let minute = s.read_rollups(&[id], MINUTE, BASE, later).await.unwrap();
    assert_eq!(minute[0].1.len(), 6);

    // A day later the minute row (one day) is past a retention of a day; the hour row is not.
    let retention = Retention {
        raw: DAY,
        minute: DAY,
        hour: 30 * DAY,
    };
    let expired = s.expire_samples(BASE + 3 * DAY, &retention).await.unwrap();
    assert_eq!(expired.rollups, 1, "{expired:?}");
    let minute = s.read_rollups(&[id], MINUTE, BASE, later).await.unwrap();
    assert!(minute[0].1.is_empty());
    let hour = s.read_rollups(&[id], HOUR, BASE, later).await.unwrap();
    assert_eq!(hour[0].1.len(), 6);
}
