//! Arrow columns of a table's batch: builders for `to_batch`, typed readers by [`Column`] for `from_batch`.

use super::Column;
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use std::sync::Arc;

pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub fn times(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone("UTC"))
}

pub fn opt_times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}

pub fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

pub fn flags(values: impl Iterator<Item = bool>) -> ArrayRef {
    Arc::new(values.map(Some).collect::<BooleanArray>())
}

/// Typed access to a batch's columns, with messages that say what is wrong.
pub struct Columns<'a>(pub &'a RecordBatch);

impl<'a> Columns<'a> {
    pub fn get(&self, column: Column) -> Result<&'a ArrayRef, String> {
        self.0.column_by_name(column.name).ok_or_else(|| format!("no column `{}`", column.name))
    }

    pub fn i64(&self, column: Column) -> Result<&'a PrimitiveArray<Int64Type>, String> {
        self.get(column)?.as_primitive_opt::<Int64Type>().ok_or_else(|| format!("column `{}` is not INT64", column.name))
    }

    pub fn i32(&self, column: Column) -> Result<&'a PrimitiveArray<Int32Type>, String> {
        self.get(column)?.as_primitive_opt::<Int32Type>().ok_or_else(|| format!("column `{}` is not INT32", column.name))
    }

    pub fn f64(&self, column: Column) -> Result<&'a PrimitiveArray<Float64Type>, String> {
        self.get(column)?.as_primitive_opt::<Float64Type>().ok_or_else(|| format!("column `{}` is not DOUBLE", column.name))
    }

    pub fn text(&self, column: Column) -> Result<&'a StringArray, String> {
        self.get(column)?.as_string_opt::<i32>().ok_or_else(|| format!("column `{}` is not UTF8", column.name))
    }

    pub fn time(&self, column: Column) -> Result<&'a TimestampMicrosecondArray, String> {
        self.get(column)?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| format!("column `{}` is not a microsecond timestamp", column.name))
    }

    pub fn bool(&self, column: Column) -> Result<&'a BooleanArray, String> {
        self.get(column)?.as_boolean_opt().ok_or_else(|| format!("column `{}` is not BOOLEAN", column.name))
    }

    /// A text column added after the first tables were written: absent in those.
    pub fn text_if_present(&self, column: Column) -> Result<Option<&'a StringArray>, String> {
        self.0.column_by_name(column.name).map(|_| self.text(column)).transpose()
    }

    /// A flag added after the first tables were written: absent in those, read as all false.
    pub fn flag_or_false(&self, column: Column) -> Result<Option<&'a BooleanArray>, String> {
        self.0.column_by_name(column.name).map(|_| self.bool(column)).transpose()
    }
}

/// `Some(i)` when row `i` of `array` is not null.
pub fn present<A: Array>(array: &A, i: usize) -> Option<usize> {
    (!array.is_null(i)).then_some(i)
}

pub fn text_at(a: &StringArray, i: usize) -> Option<&str> {
    present(a, i).map(|i| a.value(i))
}

pub fn time_at(a: &TimestampMicrosecondArray, i: usize, column: Column) -> Result<DateTime<Utc>, String> {
    present(a, i)
        .and_then(|i| DateTime::from_timestamp_micros(a.value(i)))
        .ok_or_else(|| format!("row {i}: `{}` is null or out of range", column.name))
}

pub fn opt_time_at(a: &TimestampMicrosecondArray, i: usize) -> Option<DateTime<Utc>> {
    present(a, i).and_then(|i| DateTime::from_timestamp_micros(a.value(i)))
}
