//! The tables' columns: their Parquet form, files of earlier versions, and the README's lists.

use super::*;
use crate::codec::{Layout, decode, to_parquet};
use crate::records::parse_datetime;
use arrow_schema::SchemaRef;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;

fn t(s: &str) -> DateTime<Utc> {
    parse_datetime(s).unwrap()
}

fn versions() -> Vec<Version<TrackRow>> {
    let mut interner = Interner::default();
    let mut row = |id: i64, name: Option<&str>, duration: &str| {
        let mut row = TrackRow {
            id,
            name: name.map(Text::from),
            artist: Some("Artist".into()),
            songwriters: None,
            duration: Some(interner.get(duration)),
            duration_seconds: crate::records::duration_seconds(duration).and_then(|s| i32::try_from(s).ok()),
            genres: Some(interner.get("Rock")),
            genres_normalized: Some(interner.get("rock")),
            album: Some("Album ✓".into()),
            created_at: t("2025-10-30T17:52:06.998307"),
            updated_at: t("2025-11-01T08:00:00"),
            row_hash: Hash256([0; 32]),
        };
        row.row_hash = row.compute_hash();
        row
    };
    vec![
        Version {
            row: row(1, Some("a"), "03:25"),
            valid_from: t("2026-11-01T00:00:00"),
            valid_to: Some(t("2026-11-02T00:00:00")),
            ingested_at: t("2026-11-01T06:00:01.5"),
            carried_forward: false,
        },
        Version {
            row: row(1, None, "bad"),
            valid_from: t("2026-11-02T00:00:00"),
            valid_to: None,
            ingested_at: t("2026-11-02T06:00:00"),
            carried_forward: true,
        },
    ]
}

#[test]
fn files_written_before_carried_forward_existed_read_as_not_carried() {
    let event = ListenEvent { user_id: 1, track_id: 2, position: 0, created_at: t("2026-11-01T00:00:00"), updated_at: t("2026-11-01T00:00:00"), is_new: true, carried_forward: true };
    let batch = ListenEvent::to_batch(std::slice::from_ref(&event)).unwrap();
    let old = batch.project(&[0, 1, 2, 3, 4, 5]).unwrap();
    assert!(old.column_by_name("carried_forward").is_none());
    let mut data = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut data, old.schema(), None).unwrap();
    w.write(&old).unwrap();
    w.close().unwrap();
    let mut read = Vec::new();
    for b in decode::<ListenEvent>("old.parquet", Bytes::from(data)).unwrap() {
        read.extend(ListenEvent::from_batch(&b.unwrap(), &mut Interner::default()).unwrap());
    }
    assert_eq!(read, [ListenEvent { carried_forward: false, ..event }]);
}

#[test]
fn the_schemas_use_standard_logical_types() {
    let check = |schema: SchemaRef, expected: &[(&str, &str)]| {
        let got: Vec<(String, String)> = schema.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
        let want: Vec<(String, String)> = expected.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        assert_eq!(got, want);
    };
    let ts = "Timestamp(µs, \"UTC\")";
    check(
        ListenEvent::schema(),
        &[
            ("user_id", "Int64"),
            ("track_id", "Int64"),
            ("position", "Int32"),
            ("created_at", ts),
            ("updated_at", ts),
            ("is_new", "Boolean"),
            ("carried_forward", "Boolean"),
        ],
    );
    // The Parquet file carries the UTC-adjusted microsecond logical type.
    let data = to_parquet(&versions(), Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
    let meta = ParquetRecordBatchReaderBuilder::try_new(data).unwrap().metadata().clone();
    let schema = meta.file_metadata().schema_descr();
    let column = |name: &str| schema.columns().iter().find(|c| c.name() == name).unwrap().clone();
    let valid_from = format!("{:?}", column("valid_from").logical_type_ref());
    assert!(valid_from.contains("Timestamp") && valid_from.contains("is_adjusted_to_u_t_c: true") && valid_from.contains("MICROS"), "{valid_from}");
    assert_eq!(format!("{:?}", column("name").logical_type_ref()), "Some(String)");
    assert_eq!(meta.row_group(0).column(0).compression(), Compression::SNAPPY);
}

#[test]
fn rows_survive_a_round_trip_through_parquet() {
    let rows = versions();
    let data = to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
    let mut back = Vec::new();
    for batch in decode::<Version<TrackRow>>("k", data.clone()).unwrap() {
        back.extend(Version::<TrackRow>::from_batch(&batch.unwrap(), &mut Interner::default()).unwrap());
    }
    assert_eq!(back, rows);
    assert_eq!(to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap(), data, "same rows, same bytes");
    let err = decode::<ListenEvent>("tracks.parquet", data).unwrap_err();
    assert!(err.to_string().contains("no column `user_id`"), "{err}");
}

/// The README's column list of each table names every column the code declares, in order.
#[test]
fn the_readme_lists_every_column_in_order() {
    let readme = include_str!("../../../README.md");
    let ticked = |text: &str| -> Vec<String> { text.split('`').skip(1).step_by(2).map(str::to_owned).collect() };
    for table in TableName::CURATED {
        let row = readme.lines().find(|l| l.starts_with(&format!("| `curated/{table}/dt=D/`"))).unwrap_or_else(|| panic!("no README row for {table}"));
        let named = ticked(row);
        let mut want: Vec<&str> = table.columns().iter().map(|c| c.name).collect();
        if table == TableName::Users {
            // The row names the business columns, then "SCD2 columns".
            assert!(row.contains("SCD2 columns"), "{row}");
            want.truncate(users::COLUMNS.len());
        }
        if table == TableName::ListenEventsDelta {
            assert!(row.ends_with("| same |"), "{row}");
            continue;
        }
        let listed: Vec<&str> = named.iter().map(String::as_str).filter(|n| want.contains(n)).collect();
        assert_eq!(listed, want, "README row of {table}");
    }
    let paragraph = readme.split("`recommendations/dt=D/part-*.parquet`").nth(1).expect("the README describes recommendations");
    let named = ticked(&paragraph[..paragraph.find("\n\n").unwrap_or(paragraph.len())]);
    let want: Vec<&str> = TableName::Recommendations.columns().iter().map(|c| c.name).collect();
    let listed: Vec<&str> = named.iter().map(String::as_str).filter(|n| want.contains(n)).collect();
    assert_eq!(listed, want, "README paragraph of recommendations");
}
