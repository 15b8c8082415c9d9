//! The metric history's queries both backends share, instantiated per backend by
//! `impl_metric_store!` inside a module of its own. `$durable` is the pair of statements that
//! make a commit wait for the disk and then stop doing so (SQLite), or `None` (PostgreSQL
//! commits are durable already).

macro_rules! impl_metric_store {
    ($store:ident, $db:ty, $durable:expr) => {
        mod metric_impl {
            use std::collections::{HashMap, HashSet};

            use async_trait::async_trait;
            use pupitre_core::inventory::AssetId;
            use pupitre_series::rollup::{self, Rollup};
            use pupitre_series::samples::{window_of, WINDOW};
            use pupitre_series::series::Kind;
            use sqlx::{QueryBuilder, Row};

            use super::$store;
            use crate::metrics::{
                damaged, decode_key, encode_labels, per_series, span_of, CompactReport,
                ExpireReport, Gathered, HistoryStats, MergedWindow, MetricStore, NewSeries,
                RefusedSource, Registration, Retention, SealReport, SeriesFilter, SeriesId,
                SeriesRecord, SeriesSamples, Source, SourceKind, GRACE, SPAN_POINTS, TIER_STEPS,
            };
            use crate::sql::push_in;
            use crate::{stored, Result};

            type Tx<'a> = sqlx::Transaction<'a, $db>;
            type Conn = <$db as sqlx::Database>::Connection;

            /// Rows per multi-row statement: at most 8 values each, far below both backends'
            /// limit on bound values.
            const ROWS_PER_STATEMENT: usize = 500;

            const DURABLE: Option<(&str, &str)> = $durable;

            /// Takes the maintenance lock row for the rest of the transaction and stamps it.
            async fn lock(tx: &mut Tx<'_>, column: &str, now: i64) -> Result<()> {
                let sql = format!("UPDATE metric_maintenance SET {column} = $1 WHERE id = 1");
                sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now).execute(&mut **tx).await?;
                Ok(())
            }

            async fn source_series(
                conn: &mut Conn,
                source: Source,
            ) -> Result<HashMap<(String, String), SeriesId>> {
                let rows = sqlx::query(
                    "SELECT id, name, labels FROM metric_series \
                     WHERE source_kind = $1 AND source_id = $2",
                )
                .bind(source.kind.key())
                .bind(source.id)
                .fetch_all(&mut *conn)
                .await?;
                rows.iter()
                    .map(|r| Ok(((r.try_get("name")?, r.try_get("labels")?), r.try_get("id")?)))
                    .collect()
            }

            /// The buffered batches, oldest first, the samples of `wanted` within `[start, end]`.
            async fn gather_buffered(
                conn: &mut Conn,
                gathered: &mut Gathered,
                wanted: &HashSet<SeriesId>,
                start: i64,
                end: i64,
            ) -> Result<()> {
                let rows = sqlx::query("SELECT id, data FROM metric_ingest ORDER BY id")
                    .fetch_all(&mut *conn)
                    .await?;
                for row in &rows {
                    let data: Vec<u8> = row.try_get("data")?;
                    gathered.add_batch(row.try_get("id")?, &data, Some(wanted), Some((start, end)))?;
                }
                Ok(())
            }

            /// Raw chunks of `series` within `[start, end]` (only those not compacted yet, with
            /// `fresh_only`).
            async fn gather_chunks(
                conn: &mut Conn,
                gathered: &mut Gathered,
                series: &[SeriesId],
                start: i64,
                end: i64,
                fresh_only: bool,
            ) -> Result<()> {
                for ids in series.chunks(ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::<$db>::new("SELECT series_id, seq, data FROM metric_chunks WHERE ");
                    push_in(&mut qb, "series_id", ids);
                    qb.push(" AND window_at >= ").push_bind(window_of(start));
                    qb.push(" AND window_at <= ").push_bind(end);
                    qb.push(" AND last_at >= ").push_bind(start);
                    qb.push(" AND first_at <= ").push_bind(end);
                    if fresh_only {
                        qb.push(" AND NOT compacted");
                    }
                    let rows = qb.build().persistent(false).fetch_all(&mut *conn).await?;
                    for row in &rows {
                        let data: Vec<u8> = row.try_get("data")?;
                        gathered.add_chunk(
                            row.try_get("series_id")?,
                            row.try_get("seq")?,
                            &data,
                            Some((start, end)),
                        )?;
                    }
                }
                Ok(())
            }

            async fn insert_chunks(tx: &mut Tx<'_>, windows: &[MergedWindow], compacted: bool) -> Result<u64> {
                let mut encoded = Vec::with_capacity(windows.len());
                for window in windows {
                    if !window.timestamps.is_empty() {
                        encoded.push((window, window.encode()?));
                    }
                }
                for rows in encoded.chunks(ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO metric_chunks \
                         (series_id, window_at, seq, first_at, last_at, samples, compacted, data) ",
                    );
                    qb.push_values(rows, |mut b, (w, data)| {
                        let first = w.timestamps.first().copied().unwrap_or(w.window);
                        let last = w.timestamps.last().copied().unwrap_or(w.window);
                        b.push_bind(w.series)
                            .push_bind(w.window)
                            .push_bind(w.seq)
                            .push_bind(first)
                            .push_bind(last)
                            .push_bind(w.timestamps.len() as i64)
                            .push_bind(compacted)
                            .push_bind(data.clone());
                    });
                    qb.build().persistent(false).execute(&mut **tx).await?;
                }
                Ok(encoded.len() as u64)
            }

            /// Replaces each compacted window's points in the tier rows that hold them.
            async fn write_tiers(tx: &mut Tx<'_>, windows: &[MergedWindow]) -> Result<u64> {
                // Every row the windows touch, read once.
                let mut keys: Vec<(SeriesId, i64, i64)> = windows
                    .iter()
                    .flat_map(|w| TIER_STEPS.map(|step| (w.series, step, span_of(w.window, step))))
                    .collect();
                keys.sort_unstable();
                keys.dedup();
                let mut rows: HashMap<(SeriesId, i64, i64), Vec<Rollup>> = HashMap::new();
                for part in keys.chunks(ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT series_id, step, span_at, data FROM metric_rollups \
                         WHERE (series_id, step, span_at) IN (VALUES ",
                    );
                    let mut list = qb.separated(", ");
                    for (series, step, span) in part {
                        list.push("(")
                            .push_bind_unseparated(*series)
                            .push_unseparated(", ")
                            .push_bind_unseparated(*step)
                            .push_unseparated(", ")
                            .push_bind_unseparated(*span)
                            .push_unseparated(")");
                    }
                    qb.push(")");
                    for row in qb.build().persistent(false).fetch_all(&mut **tx).await? {
                        let data: Vec<u8> = row.try_get("data")?;
                        let points = rollup::decode(&data).map_err(|e| damaged("tier row", e))?;
                        rows.insert((row.try_get("series_id")?, row.try_get("step")?, row.try_get("span_at")?), points);
                    }
                }
                let mut written = 0;
                for window in windows {
                    for (step, fresh) in TIER_STEPS.into_iter().zip(window.tier_points()) {
                        written += fresh.len() as u64;
                        let key = (window.series, step, span_of(window.window, step));
                        let points = rows.remove(&key).unwrap_or_default();
                        let points = rollup::replace_points(points, window.window, window.window + WINDOW, &fresh);
                        rows.insert(key, points);
                    }
                }
                let mut upserts = Vec::with_capacity(rows.len());
                let mut empty = Vec::new();
                for (key, points) in rows {
                    if points.is_empty() {
                        empty.push(key);
                    } else {
                        let data = rollup::encode(&points).map_err(|e| damaged("tier points", e))?;
                        upserts.push((key, points.len() as i64, data));
                    }
                }
                for part in upserts.chunks(ROWS_PER_STATEMENT) {
                    let mut qb = QueryBuilder::<$db>::new(
                        "INSERT INTO metric_rollups (series_id, step, span_at, points, data) ",
                    );
                    qb.push_values(part, |mut b, ((series, step, span), points, data)| {
                        b.push_bind(*series)
                            .push_bind(*step)
                            .push_bind(*span)
                            .push_bind(*points)
                            .push_bind(data.clone());
                    });
                    qb.push(
                        " ON CONFLICT (series_id, step, span_at) DO UPDATE \
                         SET points = excluded.points, data = excluded.data",
                    );
                    qb.build().persistent(false).execute(&mut **tx).await?;
                }
                for (series, step, span) in empty {
                    sqlx::query("DELETE FROM metric_rollups WHERE series_id = $1 AND step = $2 AND span_at = $3")
                        .bind(series)
                        .bind(step)
                        .bind(span)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(written)
            }

            fn record_from(row: &<$db as sqlx::Database>::Row) -> Result<SeriesRecord> {
                let source_kind: String = row.try_get("source_kind")?;
                let kind: String = row.try_get("kind")?;
                let name: String = row.try_get("name")?;
                let labels: String = row.try_get("labels")?;
                Ok(SeriesRecord {
                    id: row.try_get("id")?,
                    source: Source {
                        kind: stored("series source", &source_kind, SourceKind::parse(&source_kind))?,
                        id: row.try_get("source_id")?,
                    },
                    asset_id: row.try_get("asset_id")?,
                    entity_id: row.try_get("entity_id")?,
                    asset_name: row.try_get("asset_name")?,
                    check_name: row.try_get("check_name")?,
                    key: decode_key(&name, &labels)?,
                    unit: row.try_get("unit")?,
                    kind: stored("series kind", &kind, Kind::parse(&kind))?,
                    created_at: row.try_get("created_at")?,
                })
            }

            #[async_trait]
            impl MetricStore for $store {
                async fn register_series(
                    &self,
                    source: Source,
                    asset_id: AssetId,
                    series: &[NewSeries],
                    limit: u64,
                    now: i64,
                ) -> Result<Registration> {
                    let wanted: Vec<(String, String)> = series
                        .iter()
                        .map(|s| (s.key.name().to_owned(), encode_labels(&s.key)))
                        .collect();
                    let known = {
                        let mut conn = self.read.acquire().await?;
                        source_series(&mut conn, source).await?
                    };
                    if wanted.iter().all(|w| known.contains_key(w)) {
                        return Ok(Registration {
                            ids: wanted.iter().map(|w| known.get(w).copied()).collect(),
                            series: known.len() as u64,
                        });
                    }
                    let mut tx = self.write.begin().await?;
                    let known = source_series(&mut tx, source).await?;
                    let mut room = (limit as usize).saturating_sub(known.len());
                    let mut new = Vec::new();
                    let mut refused = Vec::new();
                    let mut seen = HashSet::new();
                    for (index, key) in wanted.iter().enumerate() {
                        if known.contains_key(key) || !seen.insert(key) {
                            continue;
                        }
                        if room > 0 {
                            room -= 1;
                            new.push(index);
                        } else {
                            refused.push(index);
                        }
                    }
                    for part in new.chunks(ROWS_PER_STATEMENT) {
                        let mut qb = QueryBuilder::<$db>::new(
                            "INSERT INTO metric_series \
                             (source_kind, source_id, asset_id, name, labels, unit, kind, created_at) ",
                        );
                        qb.push_values(part, |mut b, &index| {
                            b.push_bind(source.kind.key())
                                .push_bind(source.id)
                                .push_bind(asset_id)
                                .push_bind(wanted[index].0.clone())
                                .push_bind(wanted[index].1.clone())
                                .push_bind(series[index].unit.clone())
                                .push_bind(series[index].kind.key())
                                .push_bind(now);
                        });
                        qb.push(" ON CONFLICT (source_kind, source_id, name, labels) DO NOTHING");
                        qb.build().persistent(false).execute(&mut *tx).await?;
                    }
                    let known = source_series(&mut tx, source).await?;
                    let example = refused.first().map(|&i| series[i].key.to_string()).unwrap_or_default();
                    sqlx::query(
                        "INSERT INTO metric_sources \
                         (source_kind, source_id, series, refused, refused_at, refused_example) \
                         VALUES ($1, $2, $3, $4, $5, $6) \
                         ON CONFLICT (source_kind, source_id) DO UPDATE SET \
                         series = excluded.series, \
                         refused = metric_sources.refused + excluded.refused, \
                         refused_at = COALESCE(excluded.refused_at, metric_sources.refused_at), \
                         refused_example = CASE WHEN excluded.refused > 0 \
                         THEN excluded.refused_example ELSE metric_sources.refused_example END",
                    )
                    .bind(source.kind.key())
                    .bind(source.id)
                    .bind(known.len() as i64)
                    .bind(refused.len() as i64)
                    .bind((!refused.is_empty()).then_some(now))
                    .bind(example)
                    .execute(&mut *tx)
                    .await?;
                    tx.commit().await?;
                    Ok(Registration {
                        ids: wanted.iter().map(|w| known.get(w).copied()).collect(),
                        series: known.len() as u64,
                    })
                }

                async fn append_samples(&self, batch: &[u8], samples: u64, now: i64) -> Result<i64> {
                    let mut conn = self.write.acquire().await?;
                    if let Some((on, _)) = DURABLE {
                        sqlx::query(on).execute(&mut *conn).await?;
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO metric_ingest (received_at, samples, data) VALUES ($1, $2, $3) RETURNING id",
                    )
                    .bind(now)
                    .bind(samples as i64)
                    .bind(batch)
                    .fetch_one(&mut *conn)
                    .await;
                    if let Some((_, off)) = DURABLE {
                        sqlx::query(off).execute(&mut *conn).await?;
                    }
                    Ok(inserted?.try_get("id")?)
                }

                async fn seal_samples(&self, now: i64, most_samples: u64) -> Result<SealReport> {
                    let mut tx = self.write.begin().await?;
                    lock(&mut tx, "sealed_at", now).await?;
                    let sizes = sqlx::query("SELECT id, samples FROM metric_ingest ORDER BY id LIMIT 10000")
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut last = None;
                    let mut total = 0_u64;
                    for row in &sizes {
                        if total >= most_samples.max(1) {
                            break;
                        }
                        let samples: i64 = row.try_get("samples")?;
                        total += samples.max(0) as u64;
                        last = Some(row.try_get::<i64, _>("id")?);
                    }
                    let Some(last) = last else {
                        tx.commit().await?;
                        return Ok(SealReport::default());
                    };
                    let rows = sqlx::query("SELECT id, data FROM metric_ingest WHERE id <= $1 ORDER BY id")
                        .bind(last)
                        .fetch_all(&mut *tx)
                        .await?;
                    let mut report = SealReport::default();
                    let mut gathered = Gathered::default();
                    let mut ids = Vec::with_capacity(rows.len());
                    for row in &rows {
                        let id: i64 = row.try_get("id")?;
                        let data: Vec<u8> = row.try_get("data")?;
                        ids.push(id);
                        report.batches += 1;
                        // A damaged batch would stop every later one: it is dropped and counted.
                        let mut one = Gathered::default();
                        match one.add_batch(id, &data, None, None) {
                            Ok(samples) => {
                                report.samples += samples;
                                for (key, runs) in one.groups {
                                    gathered.groups.entry(key).or_default().extend(runs);
                                }
                            }
                            Err(e) => {
                                tracing::error!(batch = id, error = %e, "dropping a damaged batch of samples");
                                report.damaged += 1;
                            }
                        }
                    }
                    report.chunks = insert_chunks(&mut tx, &gathered.merged(), false).await?;
                    for part in ids.chunks(ROWS_PER_STATEMENT) {
                        let mut qb = QueryBuilder::<$db>::new("DELETE FROM metric_ingest WHERE ");
                        push_in(&mut qb, "id", part);
                        qb.build().persistent(false).execute(&mut *tx).await?;
                    }
                    tx.commit().await?;
                    Ok(report)
                }

                async fn compact_samples(&self, now: i64, most_windows: u64) -> Result<CompactReport> {
                    let mut tx = self.write.begin().await?;
                    lock(&mut tx, "compacted_at", now).await?;
                    let cutoff = now - WINDOW - GRACE;
                    // A series' windows together: a backfill's windows then rewrite each tier
                    // row once per transaction, not once per window.
                    let groups: Vec<(SeriesId, i64)> = sqlx::query(
                        "SELECT DISTINCT series_id, window_at FROM metric_chunks \
                         WHERE NOT compacted AND window_at <= $1 ORDER BY series_id, window_at LIMIT $2",
                    )
                    .bind(cutoff)
                    .bind(most_windows.min(i64::MAX as u64) as i64)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|r| Ok((r.try_get("series_id")?, r.try_get("window_at")?)))
                    .collect::<Result<_>>()?;
                    let mut report = CompactReport::default();
                    for part in groups.chunks(ROWS_PER_STATEMENT) {
                        let in_list = |qb: &mut QueryBuilder<$db>| {
                            qb.push(" WHERE (series_id, window_at) IN (VALUES ");
                            let mut list = qb.separated(", ");
                            for (series, window) in part {
                                list.push("(")
                                    .push_bind_unseparated(*series)
                                    .push_unseparated(", ")
                                    .push_bind_unseparated(*window)
                                    .push_unseparated(")");
                            }
                            qb.push(")");
                        };
                        let mut qb = QueryBuilder::<$db>::new("SELECT series_id, seq, data FROM metric_chunks");
                        in_list(&mut qb);
                        let rows = qb.build().persistent(false).fetch_all(&mut *tx).await?;
                        let mut gathered = Gathered::default();
                        for row in &rows {
                            let data: Vec<u8> = row.try_get("data")?;
                            let series: SeriesId = row.try_get("series_id")?;
                            match gathered.add_chunk(series, row.try_get("seq")?, &data, None) {
                                Ok(samples) => report.samples += samples,
                                Err(e) => {
                                    tracing::error!(series, error = %e, "dropping a damaged chunk");
                                    report.damaged += 1;
                                }
                            }
                        }
                        report.chunks += rows.len() as u64;
                        let merged = gathered.merged();
                        let mut qb = QueryBuilder::<$db>::new("DELETE FROM metric_chunks");
                        in_list(&mut qb);
                        qb.build().persistent(false).execute(&mut *tx).await?;
                        report.windows += insert_chunks(&mut tx, &merged, true).await?;
                        report.points += write_tiers(&mut tx, &merged).await?;
                    }
                    tx.commit().await?;
                    Ok(report)
                }

                async fn expire_samples(&self, now: i64, retention: &Retention) -> Result<ExpireReport> {
                    let mut tx = self.write.begin().await?;
                    lock(&mut tx, "expired_at", now).await?;
                    let chunks = sqlx::query("DELETE FROM metric_chunks WHERE window_at <= $1")
                        .bind(now - retention.raw - WINDOW)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    let mut rollups = 0;
                    for (step, kept) in [(TIER_STEPS[0], retention.minute), (TIER_STEPS[1], retention.hour)] {
                        rollups += sqlx::query("DELETE FROM metric_rollups WHERE step = $1 AND span_at <= $2")
                            .bind(step)
                            .bind(now - kept - step * SPAN_POINTS)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    tx.commit().await?;
                    Ok(ExpireReport { chunks, rollups })
                }

                async fn find_series(&self, filter: &SeriesFilter) -> Result<Vec<SeriesRecord>> {
                    if filter.visible.is_empty() {
                        return Ok(Vec::new());
                    }
                    let mut qb = QueryBuilder::<$db>::new(
                        "SELECT s.id, s.source_kind, s.source_id, s.asset_id, a.entity_id, \
                         a.name AS asset_name, c.name AS check_name, s.name, \
                         s.labels, s.unit, s.kind, s.created_at \
                         FROM metric_series s JOIN assets a ON a.id = s.asset_id \
                         LEFT JOIN checks c ON s.source_kind = 'check' AND c.id = s.source_id \
                         WHERE ",
                    );
                    push_in(&mut qb, "a.entity_id", &filter.visible);
                    if let Some(name) = &filter.name {
                        qb.push(" AND s.name = ").push_bind(name.clone());
                    }
                    if let Some(asset) = filter.asset_id {
                        qb.push(" AND s.asset_id = ").push_bind(asset);
                    }
                    if let Some(ids) = &filter.ids {
                        if ids.is_empty() {
                            return Ok(Vec::new());
                        }
                        qb.push(" AND ");
                        push_in(&mut qb, "s.id", ids);
                    }
                    if let Some((kind, ids)) = &filter.sources {
                        if ids.is_empty() {
                            return Ok(Vec::new());
                        }
                        qb.push(" AND s.source_kind = ").push_bind(kind.key());
                        qb.push(" AND ");
                        push_in(&mut qb, "s.source_id", ids);
                    }
                    if let Some(source) = filter.source {
                        qb.push(" AND s.source_kind = ").push_bind(source.kind.key());
                        qb.push(" AND s.source_id = ").push_bind(source.id);
                    }
                    qb.push(" ORDER BY s.id LIMIT ").push_bind(filter.limit.max(0));
                    let rows = qb.build().persistent(false).fetch_all(&self.read).await?;
                    rows.iter().map(record_from).collect()
                }

                async fn read_samples(
                    &self,
                    series: &[SeriesId],
                    start: i64,
                    end: i64,
                ) -> Result<Vec<SeriesSamples>> {
                    if series.is_empty() || end < start {
                        return Ok(series.iter().map(|&id| SeriesSamples { series: id, ..SeriesSamples::default() }).collect());
                    }
                    let wanted: HashSet<SeriesId> = series.iter().copied().collect();
                    let mut conn = self.read.acquire().await?;
                    let mut gathered = Gathered::default();
                    // The buffer first: a batch sealed between the two reads is then read twice
                    // (and merged), never missed.
                    gather_buffered(&mut conn, &mut gathered, &wanted, start, end).await?;
                    gather_chunks(&mut conn, &mut gathered, series, start, end, false).await?;
                    Ok(per_series(series, gathered.merged()))
                }

                async fn read_rollups(
                    &self,
                    series: &[SeriesId],
                    step: i64,
                    start: i64,
                    end: i64,
                ) -> Result<Vec<(SeriesId, Vec<Rollup>)>> {
                    let mut points: HashMap<SeriesId, Vec<Rollup>> = HashMap::new();
                    if !series.is_empty() && end >= start {
                        let mut conn = self.read.acquire().await?;
                        let wanted: HashSet<SeriesId> = series.iter().copied().collect();
                        // Whole stretches: a point's samples reach past `end`.
                        let (raw_from, raw_to) = (
                            rollup::stretch_start(start, step),
                            rollup::stretch_start(end, step).saturating_add(step - 1),
                        );
                        let mut gathered = Gathered::default();
                        gather_buffered(&mut conn, &mut gathered, &wanted, raw_from, raw_to).await?;
                        gather_chunks(&mut conn, &mut gathered, series, raw_from, raw_to, true).await?;
                        for ids in series.chunks(ROWS_PER_STATEMENT) {
                            let mut qb = QueryBuilder::<$db>::new("SELECT series_id, data FROM metric_rollups WHERE ");
                            push_in(&mut qb, "series_id", ids);
                            qb.push(" AND step = ").push_bind(step);
                            qb.push(" AND span_at >= ").push_bind(span_of(start, step));
                            qb.push(" AND span_at <= ").push_bind(end);
                            qb.push(" ORDER BY series_id, span_at");
                            for row in qb.build().persistent(false).fetch_all(&mut *conn).await? {
                                let data: Vec<u8> = row.try_get("data")?;
                                let decoded = rollup::decode(&data).map_err(|e| damaged("tier row", e))?;
                                points
                                    .entry(row.try_get("series_id")?)
                                    .or_default()
                                    .extend(decoded.into_iter().filter(|p| (start..=end).contains(&p.start)));
                            }
                        }
                        // Windows not compacted yet, summed up now: those the tier has no point in.
                        for window in gathered.merged() {
                            let fresh = rollup::merge_into(
                                &rollup::downsample(&window.timestamps, &window.values, TIER_STEPS[0]),
                                step,
                            );
                            let list = points.entry(window.series).or_default();
                            let covered = list
                                .iter()
                                .any(|p| (window.window..window.window + WINDOW).contains(&p.start));
                            if !covered {
                                list.extend(fresh.into_iter().filter(|p| (start..=end).contains(&p.start)));
                            }
                        }
                        for list in points.values_mut() {
                            list.sort_by_key(|p| p.start);
                        }
                    }
                    Ok(series.iter().map(|id| (*id, points.remove(id).unwrap_or_default())).collect())
                }

                async fn refused_sources(&self) -> Result<Vec<RefusedSource>> {
                    let rows = sqlx::query(
                        "SELECT source_kind, source_id, series, refused, refused_at, refused_example \
                         FROM metric_sources WHERE refused > 0 ORDER BY refused_at DESC",
                    )
                    .fetch_all(&self.read)
                    .await?;
                    rows.iter()
                        .map(|r| {
                            let kind: String = r.try_get("source_kind")?;
                            let series: i64 = r.try_get("series")?;
                            let refused: i64 = r.try_get("refused")?;
                            Ok(RefusedSource {
                                source: Source {
                                    kind: stored("series source", &kind, SourceKind::parse(&kind))?,
                                    id: r.try_get("source_id")?,
                                },
                                series: series.max(0) as u64,
                                refused: refused.max(0) as u64,
                                refused_at: r.try_get::<Option<i64>, _>("refused_at")?.unwrap_or(0),
                                example: r.try_get("refused_example")?,
                            })
                        })
                        .collect()
                }

                async fn history_stats(&self) -> Result<HistoryStats> {
                    let row = sqlx::query(
                        "SELECT \
                         (SELECT COUNT(*) FROM metric_series) AS series, \
                         (SELECT COUNT(*) FROM metric_ingest) AS batches, \
                         (SELECT CAST(COALESCE(SUM(samples), 0) AS BIGINT) FROM metric_ingest) AS buffered, \
                         (SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM metric_ingest) AS buffered_bytes, \
                         (SELECT COUNT(*) FROM metric_chunks) AS chunks, \
                         (SELECT CAST(COALESCE(SUM(samples), 0) AS BIGINT) FROM metric_chunks) AS chunk_samples, \
                         (SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM metric_chunks) AS chunk_bytes, \
                         (SELECT COUNT(*) FROM metric_rollups) AS rollups, \
                         (SELECT CAST(COALESCE(SUM(points), 0) AS BIGINT) FROM metric_rollups) AS points, \
                         (SELECT CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT) FROM metric_rollups) AS rollup_bytes",
                    )
                    .fetch_one(&self.read)
                    .await?;
                    let count = |column: &str| -> Result<u64> {
                        let v: i64 = row.try_get(column)?;
                        Ok(v.max(0) as u64)
                    };
                    Ok(HistoryStats {
                        series: count("series")?,
                        buffered_batches: count("batches")?,
                        buffered_samples: count("buffered")?,
                        buffered_bytes: count("buffered_bytes")?,
                        chunks: count("chunks")?,
                        chunk_samples: count("chunk_samples")?,
                        chunk_bytes: count("chunk_bytes")?,
                        rollup_rows: count("rollups")?,
                        rollup_points: count("points")?,
                        rollup_bytes: count("rollup_bytes")?,
                    })
                }
            }
        }
    };
}
