//! `labgate db copy` (SPEC §15): a whole appliance from one database into a new one, SQLite to
//! PostgreSQL or back, every table row for row, the audit chain included. The sealed keys are
//! copied as they are, so the copy opens with the same key file.

use rusqlite::types::Value;
use tokio_postgres::types::Type;

use super::db::{Db, FromCol, Param, PgValue};
use super::{StoreError, StoreResult};

/// A table of labgate's schema and its columns with their declared types, in the schema's
/// order (a table comes after those it refers to).
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Kind)>,
}

/// What a column holds, as the schema declares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    Int,
    Text,
    Bytes,
}

/// labgate's tables, read from its schema (on SQLite's side: PostgreSQL's is a translation).
pub fn tables() -> StoreResult<Vec<Table>> {
    let mem = rusqlite::Connection::open_in_memory()?;
    mem.execute_batch(super::SCHEMA)?;
    let db = Db::sqlite(&mem, None);
    let names: Vec<String> = db.query_map(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        crate::params![],
        |r| r.get(0),
    )?;
    names
        .into_iter()
        .map(|name| {
            let columns = db.query_map(
                &format!("SELECT name, type FROM pragma_table_info('{name}') ORDER BY cid"),
                crate::params![],
                |r| {
                    let (col, ty): (String, String) = (r.get(0)?, r.get(1)?);
                    Ok((col.clone(), kind(&name, &col, &ty)))
                },
            )?;
            Ok(Table { name, columns })
        })
        .collect()
}

fn kind(table: &str, column: &str, declared: &str) -> Kind {
    if super::pg::bytes_in_text(table, column) {
        return Kind::Bytes;
    }
    match declared {
        "INTEGER" => Kind::Int,
        "BLOB" => Kind::Bytes,
        _ => Kind::Text,
    }
}

/// A value on its way from one engine to the other, with its column's kind (PostgreSQL is told
/// the type of a NULL too).
pub struct Cell(pub Value, pub Kind);

impl Param for Cell {
    fn lite(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        rusqlite::ToSql::to_sql(&self.0)
    }
    fn pg(&self) -> PgValue<'_> {
        match (&self.0, self.1) {
            (Value::Integer(i), _) => PgValue::Int(Some(*i)),
            (Value::Real(f), _) => PgValue::Float(Some(*f)),
            (Value::Text(t), _) => PgValue::Text(Some(t)),
            (Value::Blob(b), _) => PgValue::Bytes(Some(b)),
            (Value::Null, Kind::Int) => PgValue::Int(None),
            (Value::Null, Kind::Text) => PgValue::Text(None),
            (Value::Null, Kind::Bytes) => PgValue::Bytes(None),
        }
    }
}

impl FromCol for Value {
    fn pg(v: Option<(&Type, &[u8])>) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        let Some((ty, _)) = v else {
            return Ok(Value::Null);
        };
        Ok(match *ty {
            Type::INT8 | Type::INT4 | Type::INT2 | Type::BOOL => {
                Value::Integer(<i64 as FromCol>::pg(v)?)
            }
            Type::FLOAT8 | Type::FLOAT4 => Value::Real(<f64 as FromCol>::pg(v)?),
            Type::BYTEA => Value::Blob(<Vec<u8> as FromCol>::pg(v)?),
            _ => Value::Text(<String as FromCol>::pg(v)?),
        })
    }
}

/// Every row of `table` in `from` into `to` (in one of `to`'s write transactions); how many.
pub fn table(from: &Db, to: &Db, t: &Table) -> StoreResult<u64> {
    let cols: Vec<&str> = t.columns.iter().map(|(c, _)| c.as_str()).collect();
    let list = cols.join(", ");
    let marks: Vec<String> = (1..=cols.len()).map(|i| format!("?{i}")).collect();
    let insert = format!(
        "INSERT INTO {} ({list}) VALUES ({})",
        t.name,
        marks.join(", ")
    );
    let mut n = 0u64;
    let mut failed: Option<StoreError> = None;
    from.for_each_row(
        // In the source's insertion order (which same-second rows keep on both engines).
        &format!("SELECT {list} FROM {} ORDER BY rowid", t.name),
        crate::params![],
        |r| {
            let mut cells = Vec::with_capacity(cols.len());
            for (i, (_, k)) in t.columns.iter().enumerate() {
                cells.push(Cell(r.get::<_, Value>(i)?, *k));
            }
            let params: Vec<&dyn Param> = cells.iter().map(|c| c as &dyn Param).collect();
            match to.execute(&insert, &params) {
                Ok(_) => {
                    n += 1;
                    Ok(true)
                }
                Err(e) => {
                    failed = Some(e);
                    Ok(false)
                }
            }
        },
    )?;
    if let Some(e) = failed {
        return Err(StoreError::Other(format!("copying {}: {e}", t.name)));
    }
    Ok(n)
}

/// How many rows `table` holds.
pub fn count(db: &Db, table: &str) -> StoreResult<i64> {
    db.query_row(
        &format!("SELECT COUNT(*) FROM {table}"),
        crate::params![],
        |r| r.get(0),
    )
}

/// On PostgreSQL, the identity columns continue after the rows copied in with their numbers.
pub fn continue_sequences(to: &Db) -> StoreResult<()> {
    if to.engine() != super::Engine::Postgres {
        return Ok(());
    }
    for (table, column) in [("audit_log", "seq"), ("events", "id")] {
        to.execute_batch(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                           COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))?;
    }
    Ok(())
}
