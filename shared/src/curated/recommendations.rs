//! `recommendations/dt=D/`: each current user's top tracks, Parquet for queries and gzipped JSON lines (the same rows) for the app.

use super::TableName;
use crate::codec::arrow::{Columns, text_at};
use crate::codec::jsonl::Lines;
use crate::codec::{Column, Interner, Kind, Table};
use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::ArrowError;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

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

pub const USER_ID: Column = Column::required("user_id", Kind::Int64);
pub const RANK: Column = Column::required("rank", Kind::Int32);
pub const TRACK_ID: Column = Column::required("track_id", Kind::Int64);
pub const SCORE: Column = Column::required("score", Kind::Float64);
pub const MODEL_VERSION: Column = Column::required("model_version", Kind::Text);
pub const REASON: Column = Column::required("reason", Kind::Text);

/// Every column, in file order.
pub const COLUMNS: [Column; 6] = [USER_ID, RANK, TRACK_ID, SCORE, MODEL_VERSION, REASON];

impl Table for Recommendation {
    const NAME: &'static str = TableName::Recommendations.as_str();

    fn columns() -> Vec<Column> {
        COLUMNS.to_vec()
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
        let (user_id, rank, track_id, score) = (c.i64(USER_ID)?, c.i32(RANK)?, c.i64(TRACK_ID)?, c.f64(SCORE)?);
        let (version, reason) = (c.text(MODEL_VERSION)?, c.text(REASON)?);
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

/// The rows as gzipped JSON lines, one object per line: the app's export.
pub fn json_lines(rows: &[Recommendation]) -> Lines {
    let mut lines = Lines::default();
    for r in rows {
        lines.push(r);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Layout, decode};
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn rows_round_trip_through_parquet_and_json_lines() {
        let rows = vec![
            Recommendation { user_id: 7, rank: 1, track_id: 42, score: 0.75, model_version: "v1".into(), reason: Reason::Cf },
            Recommendation { user_id: 8, rank: 1, track_id: 3, score: 0.1, model_version: "v1".into(), reason: Reason::ColdStart },
        ];
        let data = crate::codec::to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
        let mut back = Vec::new();
        for batch in decode::<Recommendation>("k", data).unwrap() {
            back.extend(Recommendation::from_batch(&batch.unwrap(), &mut Interner::default()).unwrap());
        }
        assert_eq!(back, rows);
        let mut text = String::new();
        GzDecoder::new(&json_lines(&rows).finish()[..]).read_to_string(&mut text).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first, serde_json::json!({"user_id": 7, "rank": 1, "track_id": 42, "score": 0.75, "model_version": "v1", "reason": "cf"}));
        assert_eq!(text.lines().nth(1).map(|l| l.contains("\"cold_start\"")), Some(true));
    }
}
