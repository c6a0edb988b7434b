//! One interface to the database for the whole store, over both engines (SPEC §15): SQLite,
//! embedded, and PostgreSQL, for several nodes. Store functions take a `Db` and speak SQL with
//! SQLite's numbered parameters (`?1`, `?2`, ...); on PostgreSQL they become `$1`, `$2`, ...
//! (numbered, so a statement may use them out of order or twice), each declared with the type
//! of the value bound to it, so `?2 IS NULL` needs no cast. Where the dialects differ, the
//! store asks `Db::engine` and says each form itself.
//!
//! Values cross the interface in a few shapes only, the same on both engines: integers (`i64`,
//! also for flags: PostgreSQL's columns are `BIGINT` where SQLite's are `INTEGER`), text, bytes
//! and floats. Reading converts what PostgreSQL answers (`int4`, `boolean` for a comparison)
//! into what the caller asked for.

use std::cell::RefCell;
use std::collections::HashMap;

use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::{StoreError, StoreResult};
use crate::domain::crypto::DataKey;

/// Which database engine a pool is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn as_str(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }
}

/// A connection (or the transaction open on it) as the store sees it, with the audit MAC key
/// when the pool holds one (a connection without it cannot append audit records).
pub struct Db<'c> {
    conn: Conn<'c>,
    audit_key: Option<&'c DataKey>,
}

#[derive(Clone, Copy)]
enum Conn<'c> {
    Lite(&'c rusqlite::Connection),
    Pg(&'c PgConn),
}

impl<'c> Db<'c> {
    pub fn sqlite(conn: &'c rusqlite::Connection, audit_key: Option<&'c DataKey>) -> Db<'c> {
        Db {
            conn: Conn::Lite(conn),
            audit_key,
        }
    }

    pub fn postgres(conn: &'c PgConn, audit_key: Option<&'c DataKey>) -> Db<'c> {
        Db {
            conn: Conn::Pg(conn),
            audit_key,
        }
    }

    pub fn engine(&self) -> Engine {
        match self.conn {
            Conn::Lite(_) => Engine::Sqlite,
            Conn::Pg(_) => Engine::Postgres,
        }
    }

    /// The statement for this engine: SQLite's form or PostgreSQL's.
    pub fn pick<'s>(&self, sqlite: &'s str, postgres: &'s str) -> &'s str {
        match self.engine() {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        }
    }

    /// The parameters for this engine's form of a statement (`pick`).
    pub fn pick_params<'p>(
        &self,
        sqlite: &'p [&'p dyn Param],
        postgres: &'p [&'p dyn Param],
    ) -> &'p [&'p dyn Param] {
        match self.engine() {
            Engine::Sqlite => sqlite,
            Engine::Postgres => postgres,
        }
    }

    pub fn audit_key(&self) -> Option<&'c DataKey> {
        self.audit_key
    }

    /// The SQLite connection underneath (for what only SQLite has: its schema table, pragmas,
    /// the online backup).
    pub fn sqlite_conn(&self) -> Option<&'c rusqlite::Connection> {
        match self.conn {
            Conn::Lite(c) => Some(c),
            Conn::Pg(_) => None,
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> StoreResult<usize> {
        match self.conn {
            Conn::Lite(c) => {
                let values = lite_values(params)?;
                let mut st = c.prepare_cached(sql)?;
                Ok(st.execute(rusqlite::params_from_iter(values.iter()))?)
            }
            Conn::Pg(c) => c.execute(sql, params),
        }
    }

    /// Runs statements separated by `;`, without parameters.
    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        match self.conn {
            Conn::Lite(c) => Ok(c.execute_batch(sql)?),
            Conn::Pg(c) => c.batch(sql),
        }
    }

    /// The first row's value (`StoreError::NotFound` when there is none).
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut f = Some(f);
        let mut out = None;
        self.for_each_row(sql, params, |r| {
            if let Some(f) = f.take() {
                out = Some(f(r)?);
            }
            Ok(false)
        })?;
        out.ok_or(StoreError::NotFound)
    }

    /// Every row's value, in order.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Vec<T>> {
        let mut out = vec![];
        self.for_each_row(sql, params, |r| {
            out.push(f(r)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Visits the rows as they come (none held in memory), until `f` answers false.
    pub fn for_each_row(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&Row) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        match self.conn {
            Conn::Lite(c) => {
                let values = lite_values(params)?;
                let mut st = c.prepare_cached(sql)?;
                let mut rows = st.query(rusqlite::params_from_iter(values.iter()))?;
                while let Some(r) = rows.next()? {
                    if !f(&Row::Lite(r))? {
                        break;
                    }
                }
                Ok(())
            }
            Conn::Pg(c) => c.for_each_row(sql, params, |r| f(&Row::Pg(r))),
        }
    }

    /// A statement to run later (several times, with different parameters).
    pub fn prepare(&self, sql: &str) -> StoreResult<Stmt<'_, 'c>> {
        Ok(Stmt {
            db: self,
            sql: sql.to_string(),
        })
    }

    /// `prepare`; both engines keep prepared statements per connection.
    pub fn prepare_cached(&self, sql: &str) -> StoreResult<Stmt<'_, 'c>> {
        self.prepare(sql)
    }
}

fn lite_values<'p>(
    params: &'p [&'p dyn Param],
) -> StoreResult<Vec<rusqlite::types::ToSqlOutput<'p>>> {
    Ok(params
        .iter()
        .map(|p| p.lite())
        .collect::<rusqlite::Result<_>>()?)
}

/// The values of a statement's rows, as results (the shape of a cursor's rows).
pub type Rows<T> = std::iter::Map<std::vec::IntoIter<T>, fn(T) -> StoreResult<T>>;

/// A statement and the connection it runs on.
pub struct Stmt<'d, 'c> {
    db: &'d Db<'c>,
    sql: String,
}

impl Stmt<'_, '_> {
    pub fn execute(&mut self, params: &[&dyn Param]) -> StoreResult<usize> {
        self.db.execute(&self.sql, params)
    }

    pub fn query_row<T>(
        &mut self,
        params: &[&dyn Param],
        f: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.db.query_row(&self.sql, params, f)
    }

    /// The rows' values, as an iterator (of results, like the rows of a cursor).
    pub fn query_map<T>(
        &mut self,
        params: &[&dyn Param],
        f: impl FnMut(&Row) -> StoreResult<T>,
    ) -> StoreResult<Rows<T>> {
        Ok(self
            .db
            .query_map(&self.sql, params, f)?
            .into_iter()
            .map(Ok as fn(T) -> StoreResult<T>))
    }

    pub fn for_each_row(
        &mut self,
        params: &[&dyn Param],
        f: impl FnMut(&Row) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        self.db.for_each_row(&self.sql, params, f)
    }
}

/// One row of an answer.
pub enum Row<'r> {
    Lite(&'r rusqlite::Row<'r>),
    Pg(&'r tokio_postgres::Row),
}

/// A column by position (as in the statement's select list, from 0).
pub trait ColIndex: Copy {
    fn at(self) -> usize;
}

impl ColIndex for usize {
    fn at(self) -> usize {
        self
    }
}

impl Row<'_> {
    pub fn get<I: ColIndex, T: FromCol>(&self, idx: I) -> StoreResult<T> {
        let i = idx.at();
        match self {
            Row::Lite(r) => Ok(r.get::<_, T>(i)?),
            Row::Pg(r) => {
                let raw: Option<Raw> = r
                    .try_get(i)
                    .map_err(|e| StoreError::Other(format!("column {i}: {e}")))?;
                T::pg(raw.as_ref().map(|v| (&v.0, v.1)))
                    .map_err(|e| StoreError::Other(format!("column {i}: {e}")))
            }
        }
    }
}

/// A PostgreSQL value as sent (its type and its bytes), decoded by `FromCol`.
struct Raw<'a>(Type, &'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(ty.clone(), raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

type Decoded<T> = Result<T, Box<dyn std::error::Error + Sync + Send>>;

/// A type the store reads from a column, on either engine.
pub trait FromCol: rusqlite::types::FromSql + Sized {
    /// From PostgreSQL's type and bytes (`None`: SQL NULL).
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self>;
}

fn not_null<'v, T>(v: Option<(&'v Type, &'v [u8])>) -> Decoded<(&'v Type, &'v [u8])> {
    v.ok_or_else(|| {
        format!(
            "NULL where {} was expected",
            std::any::type_name::<T>().rsplit("::").next().unwrap_or("")
        )
        .into()
    })
}

fn pg_int(ty: &Type, raw: &[u8]) -> Decoded<i64> {
    Ok(match *ty {
        Type::INT8 => i64::from_sql(ty, raw)?,
        Type::INT4 => i32::from_sql(ty, raw)?.into(),
        Type::INT2 => i16::from_sql(ty, raw)?.into(),
        Type::BOOL => bool::from_sql(ty, raw)?.into(),
        Type::OID => u32::from_sql(ty, raw)?.into(),
        _ => return Err(format!("an integer was expected, not {ty}").into()),
    })
}

impl FromCol for i64 {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        pg_int(ty, raw)
    }
}

impl FromCol for i32 {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        Ok(i32::try_from(pg_int(ty, raw)?)?)
    }
}

impl FromCol for u32 {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        Ok(u32::try_from(pg_int(ty, raw)?)?)
    }
}

impl FromCol for bool {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        Ok(pg_int(ty, raw)? != 0)
    }
}

impl FromCol for f64 {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        Ok(match *ty {
            Type::FLOAT8 => f64::from_sql(ty, raw)?,
            Type::FLOAT4 => f32::from_sql(ty, raw)?.into(),
            _ => pg_int(ty, raw)? as f64,
        })
    }
}

impl FromCol for String {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        if *ty == Type::JSON || *ty == Type::JSONB {
            // jsonb's binary form is a version byte and the text.
            let text = if *ty == Type::JSONB {
                raw.get(1..).unwrap_or_default()
            } else {
                raw
            };
            return Ok(std::str::from_utf8(text)?.to_string());
        }
        String::from_sql(ty, raw)
    }
}

impl FromCol for Vec<u8> {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        let (ty, raw) = not_null::<Self>(v)?;
        if *ty == Type::BYTEA {
            return Vec::<u8>::from_sql(ty, raw);
        }
        // Bytes kept in a text column (as SQLite lets the schema do): PostgreSQL stored them
        // as bytea's text form, `\x` and hex digits.
        let text = String::from_sql(ty, raw)?;
        let hex = text
            .strip_prefix("\\x")
            .ok_or("bytes were expected in a text column")?;
        (0..hex.len())
            .step_by(2)
            .map(|i| {
                hex.get(i..i + 2)
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                    .ok_or_else(|| "bytes were expected in a text column".into())
            })
            .collect()
    }
}

impl<T: FromCol> FromCol for Option<T> {
    fn pg(v: Option<(&Type, &[u8])>) -> Decoded<Self> {
        match v {
            None => Ok(None),
            Some(v) => T::pg(Some(v)).map(Some),
        }
    }
}

/// A value bound to a statement, on either engine.
pub trait Param: Sync {
    fn lite(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>>;
    fn pg(&self) -> PgValue<'_>;
}

/// A parameter in the shape PostgreSQL is told about.
#[derive(Debug)]
pub enum PgValue<'a> {
    Int(Option<i64>),
    Text(Option<&'a str>),
    Bytes(Option<&'a [u8]>),
    Float(Option<f64>),
}

impl PgValue<'_> {
    fn ty(&self) -> Type {
        match self {
            PgValue::Int(_) => Type::INT8,
            PgValue::Text(_) => Type::TEXT,
            PgValue::Bytes(_) => Type::BYTEA,
            PgValue::Float(_) => Type::FLOAT8,
        }
    }

    fn null(&self) -> PgValue<'static> {
        match self {
            PgValue::Int(_) => PgValue::Int(None),
            PgValue::Text(_) => PgValue::Text(None),
            PgValue::Bytes(_) => PgValue::Bytes(None),
            PgValue::Float(_) => PgValue::Float(None),
        }
    }
}

impl ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            PgValue::Int(v) => v.to_sql(ty, out),
            PgValue::Text(v) => v.to_sql(ty, out),
            PgValue::Bytes(v) => v.to_sql(ty, out),
            PgValue::Float(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Each parameter is declared with its own type when the statement is prepared.
        true
    }

    to_sql_checked!();
}

/// What a `None` of a parameter type is declared as.
pub trait ParamType {
    const NULL: PgValue<'static>;
}

macro_rules! param {
    ($shape:ident, $null:ident; $($t:ty => |$v:ident| $e:expr),* $(,)?) => {$(
        impl Param for $t {
            fn lite(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                rusqlite::ToSql::to_sql(self)
            }
            fn pg(&self) -> PgValue<'_> {
                let $v = self;
                PgValue::$shape(Some($e))
            }
        }
        impl ParamType for $t {
            const NULL: PgValue<'static> = PgValue::$shape(None);
        }
    )*};
}
param!(Int, Int;
    i64 => |v| *v, i32 => |v| (*v).into(), u32 => |v| (*v).into(), u16 => |v| (*v).into(),
    u8 => |v| (*v).into(), bool => |v| (*v).into(),
);
param!(Float, Float; f64 => |v| *v);
param!(Text, Text; String => |v| v.as_str(), str => |v| v);
param!(Bytes, Bytes; Vec<u8> => |v| v.as_slice(), [u8] => |v| v);

impl<T: Param + ParamType + rusqlite::ToSql> Param for Option<T> {
    fn lite(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        rusqlite::ToSql::to_sql(self)
    }
    fn pg(&self) -> PgValue<'_> {
        match self {
            Some(v) => v.pg(),
            None => T::NULL,
        }
    }
}
impl<T: ParamType> ParamType for Option<T> {
    const NULL: PgValue<'static> = T::NULL;
}

impl<T: Param + ?Sized> Param for &T {
    fn lite(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        (**self).lite()
    }
    fn pg(&self) -> PgValue<'_> {
        (**self).pg()
    }
}
impl<T: ParamType + ?Sized> ParamType for &T {
    const NULL: PgValue<'static> = T::NULL;
}

/// Parameters for a statement: `params![a, b]` as `&[&dyn Param]`.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::store::db::Param] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::store::db::Param),+] as &[&dyn $crate::store::db::Param] };
}
pub use crate::params;

/// Parameters from a list of values (a filter built at run time).
pub fn params_from<T: Param>(values: &[T]) -> Vec<&dyn Param> {
    values.iter().map(|v| v as &dyn Param).collect()
}

/// A PostgreSQL connection with its prepared statements (by SQL and parameter types).
///
/// The store's work is synchronous (it runs inside one transaction on the writer thread or a
/// blocking reader), so each call waits for its answer here; the connections themselves are
/// driven by a small runtime of their own (`pg_runtime`), which makes waiting safe on any
/// thread, whatever runtime that thread belongs to.
pub struct PgConn {
    client: tokio_postgres::Client,
    statements: RefCell<HashMap<(String, Vec<Type>), tokio_postgres::Statement>>,
}

/// The most statements a connection keeps prepared (the store has fewer than this).
const STATEMENTS_MAX: usize = 512;

/// The runtime that drives every PostgreSQL connection's socket (one thread).
pub fn pg_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("labgate-postgres")
            .enable_all()
            .build()
            .expect("the PostgreSQL runtime starts")
    })
}

/// Waits for a future of the PostgreSQL client: its answer comes from the connection's task
/// on `pg_runtime`, so no runtime of the caller's is needed (or blocked on).
pub fn wait<F: std::future::Future>(f: F) -> F::Output {
    futures_executor::block_on(f)
}

impl PgConn {
    pub fn new(client: tokio_postgres::Client) -> PgConn {
        PgConn {
            client,
            statements: Default::default(),
        }
    }

    /// Whether the connection can no longer be used (the server closed it).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    fn statement(&self, sql: &str, types: Vec<Type>) -> StoreResult<tokio_postgres::Statement> {
        let key = (sql.to_string(), types);
        if let Some(st) = self.statements.borrow().get(&key) {
            return Ok(st.clone());
        }
        let text = numbered(sql);
        let st = wait(self.client.prepare_typed(&text, &key.1)).map_err(pg_error)?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENTS_MAX {
            cache.clear();
        }
        cache.insert(key, st.clone());
        Ok(st)
    }

    fn bind<'p>(
        &self,
        sql: &str,
        params: &'p [&'p dyn Param],
    ) -> StoreResult<(tokio_postgres::Statement, Vec<PgValue<'p>>)> {
        let values: Vec<PgValue<'p>> = params.iter().map(|p| p.pg()).collect();
        let st = self.statement(sql, values.iter().map(PgValue::ty).collect())?;
        // A parameter the statement leaves untyped (never used) is sent as NULL of its type.
        let values = values
            .into_iter()
            .zip(st.params())
            .map(|(v, t)| if *t == v.ty() { v } else { v.null() })
            .collect();
        Ok((st, values))
    }

    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> StoreResult<usize> {
        let (st, values) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let n = wait(self.client.execute(&st, &refs)).map_err(pg_error)?;
        Ok(n as usize)
    }

    pub fn batch(&self, sql: &str) -> StoreResult<()> {
        wait(self.client.batch_execute(sql)).map_err(pg_error)
    }

    /// Every row is received before the first is visited: the work a visit does may query the
    /// same connection, which cannot answer while a statement's rows are still coming.
    pub fn for_each_row(
        &self,
        sql: &str,
        params: &[&dyn Param],
        mut f: impl FnMut(&tokio_postgres::Row) -> StoreResult<bool>,
    ) -> StoreResult<()> {
        let (st, values) = self.bind(sql, params)?;
        let refs: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
        let rows = wait(self.client.query(&st, &refs)).map_err(pg_error)?;
        for r in &rows {
            if !f(r)? {
                break;
            }
        }
        Ok(())
    }
}

/// SQLite's `?N` parameters as PostgreSQL's `$N`, outside quoted text and names, and the one
/// function whose name alone differs (`json_group_array`, PostgreSQL's `json_agg`).
pub fn numbered(sql: &str) -> String {
    let sql = sql.replace("json_group_array(", "json_agg(");
    let mut out = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                out.push(c);
            }
            None => match c {
                '\'' | '"' => {
                    quote = Some(c);
                    out.push(c);
                }
                '?' => out.push('$'),
                _ => out.push(c),
            },
        }
    }
    out
}

/// A PostgreSQL failure as the store's error: constraint violations are conflicts, a lost or
/// refused connection and the server's resource and availability errors fail closed.
pub fn pg_error(e: tokio_postgres::Error) -> StoreError {
    use tokio_postgres::error::SqlState;
    let Some(code) = e.code() else {
        // No server error: the connection (I/O, TLS, closed) or the client.
        return StoreError::Unavailable(e.to_string());
    };
    let text = e
        .as_db_error()
        .map(|d| d.message().to_string())
        .unwrap_or_else(|| e.to_string());
    if *code == SqlState::UNIQUE_VIOLATION
        || *code == SqlState::FOREIGN_KEY_VIOLATION
        || *code == SqlState::CHECK_VIOLATION
        || *code == SqlState::NOT_NULL_VIOLATION
        || *code == SqlState::EXCLUSION_VIOLATION
    {
        return StoreError::Conflict(text);
    }
    if *code == SqlState::CHARACTER_NOT_IN_REPERTOIRE || *code == SqlState::UNTRANSLATABLE_CHARACTER
    {
        // A NUL character (or invalid text) in a value from the caller: PostgreSQL cannot hold it.
        return StoreError::Invalid {
            field: "body".into(),
            message: "must not contain a NUL character".into(),
        };
    }
    let class = &code.code()[..2];
    // 08 connection, 53 resources, 57 operator intervention (shutdown), 58 system, 40 a
    // transaction rolled back (serialization, deadlock), 25 read-only, 28 authorization.
    // 55P03: a lock not had within lock_timeout; 57014: a statement cancelled by
    // statement_timeout (class 57).
    if matches!(class, "08" | "53" | "57" | "58" | "40" | "25" | "28")
        || *code == SqlState::READ_ONLY_SQL_TRANSACTION
        || *code == SqlState::LOCK_NOT_AVAILABLE
    {
        return StoreError::Unavailable(text);
    }
    StoreError::Other(format!("{text} ({})", code.code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_outside_quotes() {
        assert_eq!(
            numbered("SELECT '?1', \"a?\" FROM t WHERE a = ?1 AND (?2 IS NULL OR b = ?2)"),
            "SELECT '?1', \"a?\" FROM t WHERE a = $1 AND ($2 IS NULL OR b = $2)"
        );
    }

    #[test]
    fn sqlite_rows_read_through_the_interface() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::sqlite(&c, None);
        db.execute_batch("CREATE TABLE t (a INTEGER, b TEXT, c BLOB)")
            .unwrap();
        let none: Option<String> = None;
        assert_eq!(
            db.execute(
                "INSERT INTO t VALUES (?1, ?2, ?3)",
                params![7_i64, "x", vec![1_u8, 2]]
            )
            .unwrap(),
            1
        );
        db.execute("INSERT INTO t VALUES (?1, ?2, NULL)", params![true, none])
            .unwrap();
        let rows = db
            .query_map("SELECT a, b, c FROM t ORDER BY a DESC", params![], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<Vec<u8>>>(2)?,
                ))
            })
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (7, Some("x".to_string()), Some(vec![1, 2])),
                (1, None, None)
            ]
        );
        assert!(matches!(
            db.query_row("SELECT a FROM t WHERE a = 99", params![], |r| r
                .get::<_, i64>(0)),
            Err(StoreError::NotFound)
        ));
    }
}
