//! The table codec: rows of any table to files and back, with nothing table-specific.
//!
//! | file | what |
//! | --- | --- |
//! | this file | a table's contract: its [`Column`]s declared once, the [`Table`] trait, the [`Interner`] of read-back text |
//! | [`arrow`] | Arrow column builders and typed, named column readers for a table's `to_batch` / `from_batch` |
//! | [`parquet`] | Parquet part files: the rolling [`PartsWriter`], [`TableReader`], one-file [`to_parquet`] / [`decode`] |
//! | [`jsonl`] | gzipped JSON-lines parts: fetch's raw parts, both quarantines, the recommendations export |
//!
//! The tables themselves (their rows and columns) are in [`crate::curated`].

pub mod arrow;
pub mod jsonl;
pub mod parquet;

pub use parquet::{CodecError, Layout, Parts, PartsWriter, TableReader, decode, to_parquet};

use arrow_array::RecordBatch;
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use std::collections::HashSet;
use std::sync::Arc;

/// Rows per Arrow batch, written or read: big enough to amortise, small enough to stay cheap.
pub const BATCH_ROWS: usize = 16_384;

/// The type of a column, as Arrow and Parquet store it and as Glue (Athena) declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int32,
    Int64,
    Float64,
    Text,
    /// `TIMESTAMP(MICROS, isAdjustedToUTC=true)`.
    Timestamp,
    Boolean,
}

impl Kind {
    pub fn arrow(self) -> DataType {
        match self {
            Kind::Int32 => DataType::Int32,
            Kind::Int64 => DataType::Int64,
            Kind::Float64 => DataType::Float64,
            Kind::Text => DataType::Utf8,
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Boolean => DataType::Boolean,
        }
    }

    /// The column type of the Glue table in `infra/template.yaml`.
    pub fn glue(self) -> &'static str {
        match self {
            Kind::Int32 => "int",
            Kind::Int64 => "bigint",
            Kind::Float64 => "double",
            Kind::Text => "string",
            Kind::Timestamp => "timestamp",
            Kind::Boolean => "boolean",
        }
    }
}

/// One column of a table, declared once: the Arrow schema, the reader's checks, the Glue table
/// and the README's column lists all follow from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub kind: Kind,
    pub nullable: bool,
    /// Added after the table's first version: a file without it still reads (as nulls, or
    /// `false` for a flag), so the first run after an upgrade reads the previous date's files.
    pub added_later: bool,
    /// Stored as differences between neighbouring values (`DELTA_BINARY_PACKED`) instead of a
    /// dictionary: for values that count up along a run of rows (a position in a list takes under
    /// a bit a row, where a dictionary index of a thousand positions takes ten).
    pub by_differences: bool,
}

impl Column {
    pub const fn required(name: &'static str, kind: Kind) -> Self {
        Self { name, kind, nullable: false, added_later: false, by_differences: false }
    }

    pub const fn nullable(name: &'static str, kind: Kind) -> Self {
        Self { name, kind, nullable: true, added_later: false, by_differences: false }
    }

    pub const fn added_later(self) -> Self {
        Self { added_later: true, ..self }
    }

    pub const fn by_differences(self) -> Self {
        Self { by_differences: true, ..self }
    }

    pub fn field(&self) -> Field {
        Field::new(self.name, self.kind.arrow(), self.nullable)
    }
}

/// The Arrow schema of columns, in their order.
pub fn schema(columns: impl IntoIterator<Item = Column>) -> SchemaRef {
    Arc::new(Schema::new(columns.into_iter().map(|c| c.field()).collect::<Vec<_>>()))
}

/// A row type of a table.
pub trait Table: Sized + Send + 'static {
    /// The table's name, its folder under its zone.
    const NAME: &'static str;
    /// Every column, in file order.
    fn columns() -> Vec<Column>;
    /// Written as one row group per file instead of groups of the layout's `row_group_rows`, with
    /// dictionaries of up to 8 MiB: each group stores its own dictionaries, and a listen table's
    /// track dictionary (up to 800 KB at 100,000 tracks) stored every 131,072 rows doubled the
    /// table's size.
    const ONE_ROW_GROUP_PER_FILE: bool = false;
    fn schema() -> SchemaRef {
        schema(Self::columns())
    }
    /// The rows as one batch, columns in [`Table::columns`] order.
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError>;
    /// Reads rows back; low-cardinality text goes through `interner`.
    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String>;
}

/// A text value of a row: shared, because a day holds a million rows.
pub type Text = Arc<str>;

/// Shares one allocation between equal low-cardinality strings.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
}

impl Interner {
    pub fn get(&mut self, text: &str) -> Text {
        if let Some(t) = self.strings.get(text) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(text);
        self.strings.insert(t.clone());
        t
    }

    pub fn opt(&mut self, text: Option<&str>) -> Option<Text> {
        text.map(|t| self.get(t))
    }
}
