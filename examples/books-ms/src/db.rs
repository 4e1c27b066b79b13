//! Storage of the books in PostgreSQL.
//!
//! The original kept `{_id, title, author, description}` documents in a MongoDB collection; here
//! they are rows of one table keyed by `_id`. Connections come from a small pool that drops a
//! connection once PostgreSQL closed it, so the service carries on after the database restarts.
//! At start [`Db::connect`] waits (bounded) for the database, creates the database and the table
//! when they are missing, and says in the log what it is waiting for.
//!
//! The rendered list is kept in a [`ListCache`]; a trigger on the table notifies a channel that a
//! background task of each instance listens to (see [`crate::cache`] for why and how).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;

use deadpool_postgres::{
    Client, Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, NoTls, Row};

use crate::book::{Book, BookReduced};
use crate::cache::{ListCache, Lookup};
use crate::config::Config;

/// A failed storage operation; the HTTP layer answers `500` with the message.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    #[error("database query failed: {0}")]
    Query(String),
}

/// The database did not become usable within the configured wait.
#[derive(Debug, thiserror::Error)]
#[error("the database at {target} is not usable after {waited:?}: {last_error}")]
pub struct StartError {
    pub target: String,
    pub waited: Duration,
    pub last_error: String,
}

/// The SQL of each operation, built once because the table name is configurable.
struct Statements {
    /// Creates the table and the trigger that notifies `channel` of every change.
    create_table: String,
    channel: String,
    list: String,
    get: String,
    upsert: String,
    delete: String,
}

impl Statements {
    fn new(table: &str) -> Statements {
        // `table` was checked to be a plain identifier, so quoting it is enough.
        let t = format!("\"{table}\"");
        let channel = format!("books_ms_{table}");
        Statements {
            // One simple query is one implicit transaction; the advisory lock keeps instances
            // that start together (blue and green) from replacing the function concurrently.
            create_table: format!(
                "SELECT pg_advisory_xact_lock(80805432); \
                 CREATE TABLE IF NOT EXISTS {t} (_id integer PRIMARY KEY, title text NOT NULL, \
                 author text NOT NULL, description text NOT NULL); \
                 CREATE OR REPLACE FUNCTION \"{channel}_notify\"() RETURNS trigger \
                 LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_notify('{channel}', ''); \
                 RETURN NULL; END $$; \
                 CREATE OR REPLACE TRIGGER books_ms_notify \
                 AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {t} \
                 FOR EACH STATEMENT EXECUTE FUNCTION \"{channel}_notify\"()"
            ),
            channel,
            list: format!("SELECT _id, title, author FROM {t} ORDER BY _id"),
            get: format!("SELECT _id, title, author, description FROM {t} WHERE _id = $1"),
            upsert: format!(
                "INSERT INTO {t} (_id, title, author, description) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (_id) DO UPDATE SET title = EXCLUDED.title, \
                 author = EXCLUDED.author, description = EXCLUDED.description"
            ),
            delete: format!(
                "DELETE FROM {t} WHERE _id = $1 RETURNING _id, title, author, description"
            ),
        }
    }
}

/// Runs an operation on a pooled connection and, when [`Db::recover`] says so, once more on a
/// fresh one. (A macro because an `AsyncFn` parameter loses `Send` on the futures axum needs.)
macro_rules! retry {
    ($db:expr, $client:ident => $operation:expr) => {{
        let first = {
            let $client = $db.client().await?;
            $operation.await
        };
        match first {
            Ok(value) => Ok(value),
            Err(err) => {
                $db.recover(err).await?;
                let $client = $db.client().await?;
                $operation.await.map_err(query_error)
            }
        }
    }};
}

/// The books table behind a pool of connections.
pub struct Db {
    pool: Pool,
    pg: tokio_postgres::Config,
    db_name: String,
    target: String,
    sql: Arc<Statements>,
    cache: Arc<ListCache>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Db {
    fn drop(&mut self) {
        if let Some(listener) = self.listener.take() {
            listener.abort();
        }
    }
}

impl Db {
    /// Connects, waiting up to `config.db_wait` for the database to accept connections, and
    /// makes sure the database and the table exist.
    pub async fn connect(config: &Config) -> Result<Db, StartError> {
        let mut pg = tokio_postgres::Config::new();
        pg.host(&config.db_host)
            .port(config.db_port)
            .dbname(&config.db_name)
            .user(&config.db_user)
            .application_name("books-ms")
            // A host that drops packets must not hold a request (or the start) for long.
            .connect_timeout(Duration::from_secs(2));
        if let Some(password) = &config.db_password {
            pg.password(password);
        }
        let manager = Manager::from_config(
            pg.clone(),
            NoTls,
            ManagerConfig {
                // `Fast` discards a pooled connection that PostgreSQL closed (restart, admin
                // shutdown) instead of handing it out again; that is all the reconnection needed.
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(5)))
            .create_timeout(Some(Duration::from_secs(3)))
            .recycle_timeout(Some(Duration::from_secs(1)))
            .build()
            .map_err(|err| StartError {
                target: String::new(),
                waited: Duration::ZERO,
                last_error: err.to_string(),
            })?;
        let mut db = Db {
            pool,
            pg,
            db_name: config.db_name.clone(),
            target: format!(
                "{}:{} (database {}, user {})",
                config.db_host, config.db_port, config.db_name, config.db_user
            ),
            sql: Arc::new(Statements::new(&config.table)),
            cache: Arc::new(ListCache::new()),
            listener: None,
        };
        db.wait_until_ready(config.db_wait).await?;
        if config.list_cache {
            db.listener = Some(tokio::spawn(listen_for_changes(
                db.pg.clone(),
                db.sql.channel.clone(),
                db.cache.clone(),
            )));
        }
        Ok(db)
    }

    /// Where the database is, for log lines.
    pub fn target(&self) -> &str {
        &self.target
    }

    async fn wait_until_ready(&self, limit: Duration) -> Result<(), StartError> {
        let start = Instant::now();
        let mut last_report: Option<Instant> = None;
        loop {
            let error = match self.prepare().await {
                Ok(()) => {
                    tracing::info!(
                        "connected to the database at {} after {:.1} s",
                        self.target,
                        start.elapsed().as_secs_f64()
                    );
                    return Ok(());
                }
                Err(err) => err,
            };
            let waited = start.elapsed();
            if waited >= limit {
                return Err(StartError {
                    target: self.target.clone(),
                    waited,
                    last_error: error.to_string(),
                });
            }
            // One line when the wait starts and then one every 5 s, so the log shows why the
            // service is not answering yet without flooding it.
            if last_report.is_none_or(|at| at.elapsed() >= Duration::from_secs(5)) {
                tracing::warn!(
                    "waiting for the database at {} ({:.0} s of at most {:.0} s): {error}",
                    self.target,
                    waited.as_secs_f64(),
                    limit.as_secs_f64()
                );
                last_report = Some(Instant::now());
            }
            let remaining = limit.saturating_sub(waited);
            tokio::time::sleep(remaining.min(Duration::from_millis(250))).await;
        }
    }

    /// Creates the database when it is missing, then the table.
    async fn prepare(&self) -> Result<(), DbError> {
        let client = self.client().await?;
        client
            .batch_execute(&self.sql.create_table)
            .await
            .or_else(ignore_concurrent_create)
            .map_err(query_error)?;
        self.cache.invalidate();
        Ok(())
    }

    async fn create_database(&self) -> Result<(), DbError> {
        let mut admin = self.pg.clone();
        admin.dbname("postgres");
        let (client, connection) = admin.connect(NoTls).await.map_err(unavailable)?;
        let task = tokio::spawn(connection);
        let name = self.db_name.replace('"', "\"\"");
        let result = client
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await;
        drop(client);
        let _ = task.await;
        match result {
            Ok(()) => {
                tracing::info!("created database {}", self.db_name);
                Ok(())
            }
            Err(err) if err.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok(()),
            Err(err) => Err(query_error(err)),
        }
    }

    async fn client(&self) -> Result<deadpool_postgres::Client, DbError> {
        match self.pool.get().await {
            Ok(client) => Ok(client),
            Err(PoolError::Backend(err)) if err.code() == Some(&SqlState::INVALID_CATALOG_NAME) => {
                // The database was dropped or its server was replaced by an empty one.
                self.create_database().await?;
                self.pool.get().await.map_err(pool_error)
            }
            Err(err) => Err(pool_error(err)),
        }
    }

    /// Decides whether a failed operation is worth one more try: yes when the connection was
    /// closed (the database restarted since it was pooled) and, after recreating it, when the
    /// table is missing.
    async fn recover(&self, err: tokio_postgres::Error) -> Result<(), DbError> {
        if err.is_closed() {
            tracing::info!(
                "database connection closed; reconnecting to {}",
                self.target
            );
            Ok(())
        } else if err.code() == Some(&SqlState::UNDEFINED_TABLE) {
            self.prepare().await
        } else {
            Err(query_error(err))
        }
    }

    /// All books, reduced, ordered by `_id`, rendered as a JSON array.
    pub async fn list_json(&self) -> Result<Bytes, DbError> {
        let generation = match self.cache.lookup() {
            Lookup::Hit(body) => return Ok(body),
            Lookup::Miss(generation) => generation,
        };
        let books = retry!(self, client => self.list_on(&client))?;
        // Serialising plain strings and integers cannot fail.
        let body = Bytes::from(serde_json::to_vec(&books).unwrap_or_default());
        self.cache.store(generation, body.clone());
        Ok(body)
    }

    /// The book with `id`, if any.
    pub async fn get(&self, id: i32) -> Result<Option<Book>, DbError> {
        retry!(self, client => self.get_on(&client, id))
    }

    /// Inserts `book` or replaces the book with its `_id`.
    pub async fn upsert(&self, book: &Book) -> Result<(), DbError> {
        let result = retry!(self, client => self.upsert_on(&client, book));
        // Before answering, so that a client reads its own write even if the notification of
        // the change is still on its way.
        self.cache.invalidate();
        result
    }

    /// Removes the book with `id` and returns it, if it existed.
    pub async fn delete(&self, id: i32) -> Result<Option<Book>, DbError> {
        let result = retry!(self, client => self.delete_on(&client, id));
        self.cache.invalidate();
        result
    }

    async fn list_on(&self, client: &Client) -> Result<Vec<BookReduced>, tokio_postgres::Error> {
        let statement = client.prepare_cached(&self.sql.list).await?;
        let rows = client.query(&statement, &[]).await?;
        Ok(rows
            .iter()
            .map(|row| BookReduced {
                id: row.get(0),
                title: row.get(1),
                author: row.get(2),
            })
            .collect())
    }

    async fn get_on(
        &self,
        client: &Client,
        id: i32,
    ) -> Result<Option<Book>, tokio_postgres::Error> {
        let statement = client.prepare_cached(&self.sql.get).await?;
        Ok(client.query_opt(&statement, &[&id]).await?.map(book_of))
    }

    async fn upsert_on(&self, client: &Client, book: &Book) -> Result<(), tokio_postgres::Error> {
        let statement = client.prepare_cached(&self.sql.upsert).await?;
        client
            .execute(
                &statement,
                &[&book.id, &book.title, &book.author, &book.description],
            )
            .await?;
        Ok(())
    }

    async fn delete_on(
        &self,
        client: &Client,
        id: i32,
    ) -> Result<Option<Book>, tokio_postgres::Error> {
        let statement = client.prepare_cached(&self.sql.delete).await?;
        Ok(client.query_opt(&statement, &[&id]).await?.map(book_of))
    }
}

/// Keeps a connection that `LISTEN`s to the table's channel and invalidates `cache` on every
/// notification; the cache is on only while that connection is up. Runs until aborted.
async fn listen_for_changes(
    mut pg: tokio_postgres::Config,
    channel: String,
    cache: Arc<ListCache>,
) {
    pg.application_name("books-ms changes")
        // Notice a silently dead connection within half a minute rather than two hours.
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3);
    loop {
        if let Ok((client, mut connection)) = pg.connect(NoTls).await {
            let notified = cache.clone();
            let driver = tokio::spawn(async move {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(AsyncMessage::Notification(_))) => notified.invalidate(),
                        Some(Ok(_)) => {}
                        Some(Err(_)) | None => return,
                    }
                }
            });
            match client.batch_execute(&format!("LISTEN \"{channel}\"")).await {
                Ok(()) => {
                    cache.set_enabled(true);
                    tracing::info!("listening for changes on {channel}; list cache on");
                    let _ = driver.await;
                    cache.set_enabled(false);
                    tracing::warn!(
                        "lost the change notifications; list cache off until they are back"
                    );
                }
                Err(_) => driver.abort(),
            }
            drop(client);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn book_of(row: Row) -> Book {
    Book {
        id: row.get(0),
        title: row.get(1),
        author: row.get(2),
        description: row.get(3),
    }
}

/// Two instances (blue and green share one database) may create the table at the same moment;
/// the loser of that race sees a unique violation on the catalogue, which means "it exists".
fn ignore_concurrent_create(err: tokio_postgres::Error) -> Result<(), tokio_postgres::Error> {
    match err.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION || *code == SqlState::DUPLICATE_TABLE => {
            Ok(())
        }
        _ => Err(err),
    }
}

fn unavailable(err: tokio_postgres::Error) -> DbError {
    DbError::Unavailable(error_chain(&err))
}

fn query_error(err: tokio_postgres::Error) -> DbError {
    if err.is_closed() || err.code().is_none() {
        DbError::Unavailable(error_chain(&err))
    } else {
        DbError::Query(error_chain(&err))
    }
}

fn pool_error(err: PoolError) -> DbError {
    match err {
        PoolError::Backend(err) => unavailable(err),
        other => DbError::Unavailable(other.to_string()),
    }
}

/// tokio-postgres puts the useful part ("connection refused", the server's message) in the
/// source, not in the top-level message.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}
