//! The rows of `recommendations/dt=D/`: Parquet for queries, JSON lines for the app to read.

use crate::transform::curated::Interner;
use crate::transform::parquet_io::{Columns, Table, text_at};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, LazyLock};

/// Why a track was recommended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Scored by the collaborative-filtering model.
    Cf,
    /// The user has no usable listens: the most popular tracks of their favourite genre.
    ColdStart,
    /// A track the model does not know (new since it was trained), listed by its recent trend
    /// (the drift blend).
    Trend,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Cf => "cf",
            Reason::ColdStart => "cold_start",
            Reason::Trend => "trend",
        }
    }
}

/// One recommended track of one user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    pub user_id: i64,
    /// 1 is the best.
    pub rank: i32,
    pub track_id: i64,
    /// The model's score (cf; with the drift blend's trend term when the card's weight is above
    /// 0), the blend's term alone (trend), or the track's share of listens in its genre (cold start).
    pub score: f64,
    pub model_version: String,
    pub reason: Reason,
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("rank", DataType::Int32, false),
        Field::new("track_id", DataType::Int64, false),
        Field::new("score", DataType::Float64, false),
        Field::new("model_version", DataType::Utf8, false),
        Field::new("reason", DataType::Utf8, false),
    ]))
});

impl Table for Recommendation {
    const NAME: &'static str = "recommendations";

    fn schema() -> SchemaRef {
        SCHEMA.clone()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.user_id))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.rank))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.track_id))),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.score))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.model_version.as_str()))),
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.reason.as_str()))),
        ];
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, _: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (user_id, rank, track_id, score) = (c.i64("user_id")?, c.i32("rank")?, c.i64("track_id")?, c.f64("score")?);
        let (version, reason) = (c.text("model_version")?, c.text("reason")?);
        (0..batch.num_rows())
            .map(|i| {
                let reason = match text_at(reason, i) {
                    Some("cf") => Reason::Cf,
                    Some("cold_start") => Reason::ColdStart,
                    Some("trend") => Reason::Trend,
                    other => return Err(format!("row {i}: reason {other:?} is not cf, cold_start or trend")),
                };
                Ok(Recommendation {
                    user_id: user_id.value(i),
                    rank: rank.value(i),
                    track_id: track_id.value(i),
                    score: score.value(i),
                    model_version: text_at(version, i).unwrap_or_default().to_owned(),
                    reason,
                })
            })
            .collect()
    }
}

/// JSON lines of the rows, one object per line.
pub fn json_lines(rows: &[Recommendation]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * 110);
    for r in rows {
        serde_json::to_writer(&mut out, r).expect("a recommendation serialises");
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::parquet_io::{Layout, decode};

    #[test]
    fn rows_round_trip_through_parquet_and_json_lines() {
        let rows = vec![
            Recommendation { user_id: 7, rank: 1, track_id: 42, score: 0.75, model_version: "v1".into(), reason: Reason::Cf },
            Recommendation { user_id: 8, rank: 1, track_id: 3, score: 0.1, model_version: "v1".into(), reason: Reason::ColdStart },
        ];
        let data = crate::transform::parquet_io::to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
        let mut back = Vec::new();
        for batch in decode::<Recommendation>("k", data).unwrap() {
            back.extend(Recommendation::from_batch(&batch.unwrap(), &mut Interner::default()).unwrap());
        }
        assert_eq!(back, rows);
        let text = String::from_utf8(json_lines(&rows)).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, serde_json::json!({"user_id": 7, "rank": 1, "track_id": 42, "score": 0.75, "model_version": "v1", "reason": "cf"}));
        assert_eq!(text.lines().nth(1).map(|l| l.contains("\"cold_start\"")), Some(true));
    }
}
