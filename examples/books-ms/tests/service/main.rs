//! Service tests: books-ms against a real PostgreSQL (a throwaway server from Debian's package,
//! see `pg.rs`), over real TCP connections.
//!
//! One PostgreSQL serves the whole run and each test gets a database of its own, so the tests run
//! in parallel; tests that stop or move the database start a server of their own. A custom
//! harness (libtest-mimic) owns the shared server so it is stopped when the run ends.

mod pg;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use books_ms::client::{Endpoint, Response, request};
use books_ms::config::Config;
use books_ms::db::Db;
use libtest_mimic::{Arguments, Trial};
use serde_json::{Value, json};

use pg::Postgres;

const VERSION: &str = "test-1.2.3";
const TIMEOUT: Duration = Duration::from_secs(10);

/// What every test gets: the shared server's port.
#[derive(Clone, Copy)]
struct Ctx {
    pg_port: u16,
}

type TestFn = fn(Ctx);

/// `(name, function)` pairs for the harness, named after the functions.
macro_rules! tests {
    ($($test:ident),* $(,)?) => {
        &[$((stringify!($test), $test as TestFn)),*]
    };
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let tests: &[(&str, TestFn)] = tests![
        book_sequence_of_chapter_7,
        empty_list_is_an_empty_array,
        list_is_reduced_and_ordered_by_id,
        put_and_post_upsert,
        get_by_id_unknown_and_non_integer,
        delete_returns_the_deleted_book,
        invalid_bodies_answer_400_naming_the_field,
        wrong_content_type_answers_415,
        head_answers_like_get_without_a_body,
        other_methods_answer_405_with_allow,
        other_paths_answer_404,
        table_name_is_configurable,
        list_follows_changes_made_elsewhere,
        list_cache_can_be_turned_off,
        reconnects_after_a_database_restart,
        binary_waits_for_the_database_at_start,
        binary_gives_up_after_the_bounded_wait,
        binary_prefers_the_link_variable,
        sigterm_finishes_in_flight_requests_and_exits_fast,
        integration_test_passes_and_leaves_no_data,
        integration_test_binary_exit_codes,
    ];
    let pg = Arc::new(Postgres::start());
    let ctx = Ctx { pg_port: pg.port() };
    let trials = tests
        .iter()
        .map(|&(name, test)| {
            Trial::test(name, move || {
                test(ctx);
                Ok(())
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    drop(pg);
    conclusion.exit_code()
}

// ---------------------------------------------------------------------------------------------
// Harness

fn unique_db(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// books-ms served in-process on a loopback port, over its own database.
struct Service {
    endpoint: Endpoint,
    db_name: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Service {
    fn start(pg_port: u16, prefix: &str) -> Service {
        Service::start_with(pg_port, &[("DB_DBNAME", &unique_db(prefix))])
    }

    fn start_with(pg_port: u16, vars: &[(&str, &str)]) -> Service {
        let port = pg_port.to_string();
        let mut all: Vec<(&str, &str)> = vec![
            ("DB_HOST", "127.0.0.1"),
            ("DB_PORT", &port),
            ("DB_WAIT_SECONDS", "10"),
            ("DB_POOL_SIZE", "4"),
            ("BOOKS_MS_VERSION", VERSION),
        ];
        all.extend_from_slice(vars);
        let config = Config::from_lookup(|name| {
            all.iter()
                .rev()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
        .expect("config");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let address = runtime.block_on(async {
            let db = Arc::new(
                Db::connect(&config)
                    .await
                    .expect("connect to the test database"),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let address = listener.local_addr().expect("address");
            let router = books_ms::http::app(db, &config.version);
            tokio::spawn(books_ms::serve(
                listener,
                router,
                async {
                    let _ = stopped.await;
                },
                books_ms::SHUTDOWN_GRACE,
            ));
            address
        });
        Service {
            endpoint: Endpoint::parse(&format!("http://{address}")).expect("endpoint"),
            db_name: config.db_name.clone(),
            stop: Some(stop),
            runtime: Some(runtime),
        }
    }

    /// Sends a request and checks what every response must carry.
    fn call(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Response {
        let headers: Vec<(&str, &str)> = content_type
            .map(|c| ("Content-Type", c))
            .into_iter()
            .collect();
        let response = request(
            &self.endpoint,
            method,
            path,
            &headers,
            body.map(str::as_bytes),
            TIMEOUT,
        )
        .unwrap_or_else(|err| panic!("{method} {path}: {err}"));
        assert_common_headers(&response, &format!("{method} {path}"));
        response
    }

    fn get(&self, path: &str) -> Response {
        self.call("GET", path, None, None)
    }

    fn put(&self, body: &Value) -> Response {
        self.call(
            "PUT",
            "/api/v1/books",
            Some("application/json"),
            Some(&body.to_string()),
        )
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

fn assert_common_headers(response: &Response, what: &str) {
    assert_eq!(
        response.header("access-control-allow-origin"),
        Some("*"),
        "{what}: CORS header"
    );
    assert_eq!(
        response.header("x-books-ms-version"),
        Some(VERSION),
        "{what}: version header"
    );
    // Every answer of the service, errors included, is JSON.
    assert_eq!(
        response.header("content-type"),
        Some("application/json; charset=UTF-8"),
        "{what}: content type"
    );
}

/// Asserts `response` is a JSON error with `status`, naming `field` (or no field).
fn assert_error(response: &Response, status: u16, field: Option<&str>, what: &str) {
    assert_eq!(response.status, status, "{what}: {}", response.text());
    let body = response
        .json()
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {}", response.text()));
    let message = body["error"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "{what}: no error message in {body}");
    assert_eq!(
        body.get("field").and_then(Value::as_str),
        field,
        "{what}: field in {body}"
    );
}

fn json_of(response: &Response) -> Value {
    response
        .json()
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", response.text()))
}

/// The three books the book PUTs in chapters 5, 7, 9 and 10.
fn the_books_three_books() -> [Value; 3] {
    [
        json!({"_id": 1, "title": "My First Book", "author": "John Doe", "description": "Not a very good book"}),
        json!({"_id": 2, "title": "My Second Book", "author": "John Doe", "description": "Not a bad as the first book"}),
        json!({"_id": 3, "title": "My Third Book", "author": "John Doe", "description": "Failed writers club"}),
    ]
}

fn reduced(book: &Value) -> Value {
    json!({"_id": book["_id"], "title": book["title"], "author": book["author"]})
}

// ---------------------------------------------------------------------------------------------
// The HTTP contract

fn book_sequence_of_chapter_7(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "sequence");
    let books = the_books_three_books();
    for book in &books {
        let response = service.put(book);
        assert_eq!(response.status, 200, "{}", response.text());
        assert_eq!(json_of(&response), *book, "PUT echoes the book");
    }
    let list = service.get("/api/v1/books");
    assert_eq!(list.status, 200);
    assert_eq!(
        json_of(&list),
        Value::Array(books.iter().map(reduced).collect()),
        "the list holds the three reduced books in order"
    );
    let first = service.get("/api/v1/books/_id/1");
    assert_eq!(first.status, 200);
    assert_eq!(
        json_of(&first),
        books[0],
        "_id/1 returns the full first book"
    );
}

fn empty_list_is_an_empty_array(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "empty");
    let list = service.get("/api/v1/books");
    assert_eq!(list.status, 200);
    assert_eq!(list.body, b"[]");
    assert_eq!(
        list.header("content-length"),
        Some("2"),
        "as in the book's curl -I output"
    );
}

fn list_is_reduced_and_ordered_by_id(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "ordered");
    let ids = [30, -5, 7, 2, i32::MAX, i32::MIN];
    for id in ids {
        let book = json!({"_id": id, "title": format!("T{id}"), "author": "A", "description": "D"});
        assert_eq!(service.put(&book).status, 200);
    }
    let list = json_of(&service.get("/api/v1/books"));
    let list = list.as_array().expect("an array");
    let mut sorted = ids.to_vec();
    sorted.sort();
    let found: Vec<i64> = list
        .iter()
        .map(|b| b["_id"].as_i64().expect("_id"))
        .collect();
    assert_eq!(
        found,
        sorted.iter().map(|&i| i64::from(i)).collect::<Vec<_>>()
    );
    for book in list {
        let keys: Vec<&str> = book
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["_id", "title", "author"],
            "reduced books have no description"
        );
    }
}

fn put_and_post_upsert(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "upsert");
    let first = json!({"_id": 9, "title": "Old", "author": "A", "description": "first"});
    let posted = service.call(
        "POST",
        "/api/v1/books",
        Some("application/json"),
        Some(&first.to_string()),
    );
    assert_eq!(posted.status, 200);
    assert_eq!(json_of(&posted), first, "POST echoes like PUT");
    assert_eq!(
        json_of(&service.get("/api/v1/books/_id/9")),
        first,
        "POST stored the book"
    );

    let second = json!({"_id": 9, "title": "New", "author": "B", "description": ""});
    let put = service.call(
        "PUT",
        "/api/v1/books",
        Some("application/json; charset=utf-8"),
        Some(&second.to_string()),
    );
    assert_eq!(put.status, 200);
    assert_eq!(json_of(&put), second);
    assert_eq!(
        json_of(&service.get("/api/v1/books/_id/9")),
        second,
        "PUT replaced the whole book"
    );
    assert_eq!(
        json_of(&service.get("/api/v1/books")),
        json!([reduced(&second)]),
        "still one book"
    );
}

fn get_by_id_unknown_and_non_integer(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "getbyid");
    let book = json!({"_id": 5, "title": "T", "author": "A", "description": "D"});
    assert_eq!(service.put(&book).status, 200);
    assert_eq!(json_of(&service.get("/api/v1/books/_id/5")), book);
    // Leading zeros and signs are integers too, as with spray's IntNumber.
    assert_eq!(json_of(&service.get("/api/v1/books/_id/005")), book);
    assert_error(
        &service.get("/api/v1/books/_id/6"),
        404,
        Some("_id"),
        "unknown id",
    );
    for id in ["abc", "1.5", "99999999999", "%20"] {
        assert_error(
            &service.get(&format!("/api/v1/books/_id/{id}")),
            404,
            Some("_id"),
            &format!("non-integer id {id}"),
        );
    }
}

fn delete_returns_the_deleted_book(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "delete");
    let [one, two, _] = the_books_three_books();
    assert_eq!(service.put(&one).status, 200);
    assert_eq!(service.put(&two).status, 200);
    let deleted = service.call("DELETE", "/api/v1/books/_id/1", None, None);
    assert_eq!(deleted.status, 200);
    assert_eq!(json_of(&deleted), one, "DELETE returns the deleted book");
    assert_error(
        &service.get("/api/v1/books/_id/1"),
        404,
        Some("_id"),
        "deleted book",
    );
    assert_eq!(
        json_of(&service.get("/api/v1/books")),
        json!([reduced(&two)])
    );
    assert_error(
        &service.call("DELETE", "/api/v1/books/_id/1", None, None),
        404,
        Some("_id"),
        "deleting twice",
    );
    assert_error(
        &service.call("DELETE", "/api/v1/books/_id/x", None, None),
        404,
        Some("_id"),
        "deleting a non-integer id",
    );
}

fn invalid_bodies_answer_400_naming_the_field(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "invalid");
    let cases: &[(&str, Option<&str>)] = &[
        ("{not json", None),
        ("[]", None),
        (
            r#"{"title": "T", "author": "A", "description": "D"}"#,
            Some("_id"),
        ),
        (
            r#"{"_id": 1, "author": "A", "description": "D"}"#,
            Some("title"),
        ),
        (
            r#"{"_id": 1, "title": "T", "description": "D"}"#,
            Some("author"),
        ),
        (
            r#"{"_id": 1, "title": "T", "author": "A"}"#,
            Some("description"),
        ),
        (
            r#"{"_id": "1", "title": "T", "author": "A", "description": "D"}"#,
            Some("_id"),
        ),
        (
            r#"{"_id": 1, "title": 7, "author": "A", "description": "D"}"#,
            Some("title"),
        ),
        (
            r#"{"_id": 1, "title": "", "author": "A", "description": "D"}"#,
            Some("title"),
        ),
        (
            r#"{"_id": 1, "title": "T", "author": "", "description": "D"}"#,
            Some("author"),
        ),
        (
            r#"{"_id": 1, "title": "T", "author": "A", "description": null}"#,
            Some("description"),
        ),
    ];
    for (body, field) in cases {
        for method in ["PUT", "POST"] {
            let response = service.call(
                method,
                "/api/v1/books",
                Some("application/json"),
                Some(body),
            );
            assert_error(&response, 400, *field, &format!("{method} {body}"));
        }
    }
    assert_eq!(
        service.get("/api/v1/books").body,
        b"[]",
        "nothing was stored"
    );
}

fn wrong_content_type_answers_415(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "mediatype");
    let body = json!({"_id": 1, "title": "T", "author": "A", "description": "D"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        for method in ["PUT", "POST"] {
            let response = service.call(method, "/api/v1/books", content_type, Some(&body));
            assert_error(
                &response,
                415,
                None,
                &format!("{method} with {content_type:?}"),
            );
        }
    }
    assert_eq!(
        service.get("/api/v1/books").body,
        b"[]",
        "nothing was stored"
    );
}

fn head_answers_like_get_without_a_body(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "head");
    let [one, ..] = the_books_three_books();
    assert_eq!(service.put(&one).status, 200);
    for (path, status) in [
        ("/api/v1/books", 200),
        ("/api/v1/books/_id/1", 200),
        ("/api/v1/books/_id/2", 404),
        ("/api/v1/books/_id/x", 404),
    ] {
        let get = service.get(path);
        let head = service.call("HEAD", path, None, None);
        assert_eq!((get.status, head.status), (status, status), "{path}");
        assert!(head.body.is_empty(), "HEAD {path} has no body");
        assert_eq!(
            head.header("content-length"),
            Some(get.body.len().to_string().as_str()),
            "HEAD {path} announces the length of the GET body"
        );
    }
    // HEAD keeps the connection usable: the book's `curl -I` must not hang on a body that never
    // comes. Read the raw answer on a keep-alive connection and check it ends at the headers.
    let mut stream =
        TcpStream::connect((service.endpoint.host.as_str(), service.endpoint.port)).unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream
        .write_all(b"HEAD /api/v1/books HTTP/1.1\r\nHost: x\r\n\r\nGET /api/v1/books HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), 2, "{raw}");
}

fn other_methods_answer_405_with_allow(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "methods");
    for (method, path, allow) in [
        ("DELETE", "/api/v1/books", "GET, HEAD, PUT, POST"),
        ("PATCH", "/api/v1/books", "GET, HEAD, PUT, POST"),
        ("OPTIONS", "/api/v1/books", "GET, HEAD, PUT, POST"),
        ("PUT", "/api/v1/books/_id/1", "GET, HEAD, DELETE"),
        ("POST", "/api/v1/books/_id/1", "GET, HEAD, DELETE"),
        ("PATCH", "/api/v1/books/_id/1", "GET, HEAD, DELETE"),
    ] {
        let response = service.call(method, path, None, None);
        assert_error(&response, 405, None, &format!("{method} {path}"));
        assert_eq!(response.header("allow"), Some(allow), "{method} {path}");
    }
}

fn other_paths_answer_404(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "paths");
    for path in [
        "/",
        "/api/v1/book",
        "/api/v1/books/_id/",
        "/api/v1/books/1",
        "/test.html",
    ] {
        assert_error(&service.get(path), 404, None, path);
    }
}

fn table_name_is_configurable(ctx: Ctx) {
    let db = unique_db("collection");
    let novels = Service::start_with(
        ctx.pg_port,
        &[("DB_DBNAME", &db), ("DB_COLLECTION", "novels")],
    );
    let books = Service::start_with(ctx.pg_port, &[("DB_DBNAME", &db)]);
    let book = json!({"_id": 1, "title": "T", "author": "A", "description": "D"});
    assert_eq!(novels.put(&book).status, 200);
    assert_eq!(
        json_of(&novels.get("/api/v1/books")),
        json!([reduced(&book)])
    );
    assert_eq!(
        books.get("/api/v1/books").body,
        b"[]",
        "another table in the same database"
    );
}

/// Polls the list of `service` until it equals `expected`; the list is cached, and changes made
/// through another connection arrive as notifications, a moment after their commit.
fn wait_for_list(service: &Service, expected: &Value, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let list = json_of(&service.get("/api/v1/books"));
        if &list == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: the list is still {list}, expected {expected}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn list_follows_changes_made_elsewhere(ctx: Ctx) {
    // Blue and green: two instances over one database.
    let db = unique_db("elsewhere");
    let blue = Service::start_with(ctx.pg_port, &[("DB_DBNAME", &db)]);
    let green = Service::start_with(ctx.pg_port, &[("DB_DBNAME", &db)]);
    let [one, two, three] = the_books_three_books();
    assert_eq!(blue.get("/api/v1/books").body, b"[]");
    assert_eq!(green.get("/api/v1/books").body, b"[]");

    assert_eq!(green.put(&one).status, 200);
    assert_eq!(
        json_of(&green.get("/api/v1/books")),
        json!([reduced(&one)]),
        "own write, at once"
    );
    wait_for_list(
        &blue,
        &json!([reduced(&one)]),
        "a PUT through the other instance",
    );

    assert_eq!(
        blue.call("DELETE", "/api/v1/books/_id/1", None, None)
            .status,
        200
    );
    wait_for_list(&green, &json!([]), "a DELETE through the other instance");

    // Straight SQL, from neither instance.
    pg::psql(
        ctx.pg_port,
        &db,
        "INSERT INTO books VALUES (2, 'My Second Book', 'John Doe', 'x'), \
         (3, 'My Third Book', 'John Doe', 'y')",
    );
    let both = json!([reduced(&two), reduced(&three)]);
    wait_for_list(&blue, &both, "an INSERT in SQL");
    wait_for_list(&green, &both, "an INSERT in SQL");
    pg::psql(
        ctx.pg_port,
        &db,
        "UPDATE books SET title = 'Renamed' WHERE _id = 3",
    );
    let renamed = json!([reduced(&two), {"_id": 3, "title": "Renamed", "author": "John Doe"}]);
    wait_for_list(&blue, &renamed, "an UPDATE in SQL");
    pg::psql(ctx.pg_port, &db, "TRUNCATE books");
    wait_for_list(&green, &json!([]), "a TRUNCATE in SQL");
    wait_for_list(&blue, &json!([]), "a TRUNCATE in SQL");
}

fn list_cache_can_be_turned_off(ctx: Ctx) {
    let db = unique_db("nocache");
    let service = Service::start_with(
        ctx.pg_port,
        &[("DB_DBNAME", &db), ("BOOKS_MS_LIST_CACHE", "off")],
    );
    assert_eq!(service.get("/api/v1/books").body, b"[]");
    pg::psql(
        ctx.pg_port,
        &db,
        "INSERT INTO books VALUES (1, 'T', 'A', 'D')",
    );
    // Without the cache every request reads the table: no waiting for a notification.
    assert_eq!(
        json_of(&service.get("/api/v1/books")),
        json!([{"_id": 1, "title": "T", "author": "A"}])
    );
}

// ---------------------------------------------------------------------------------------------
// Database availability

fn reconnects_after_a_database_restart(_: Ctx) {
    let mut pg = Postgres::start();
    let service = Service::start(pg.port(), "restart");
    let [one, ..] = the_books_three_books();
    assert_eq!(service.put(&one).status, 200);
    // Use every pooled connection so that all of them are stale after the restart.
    for _ in 0..8 {
        assert_eq!(service.get("/api/v1/books").status, 200);
    }

    pg.stop();
    let down = service.get("/api/v1/books");
    assert_error(&down, 500, None, "database down");
    assert!(
        down.json().unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("database"),
        "the error says the database is the problem: {}",
        down.text()
    );

    pg.restart();
    // The first request after the restart already succeeds: stale connections are replaced.
    for _ in 0..8 {
        let list = service.get("/api/v1/books");
        assert_eq!(list.status, 200, "{}", list.text());
        assert_eq!(json_of(&list), json!([reduced(&one)]));
    }
    // Changes are followed again once the notification connection is back.
    let db = service.db_name.clone();
    pg::psql(pg.port(), &db, "DELETE FROM books");
    wait_for_list(&service, &json!([]), "a DELETE in SQL after the restart");
    pg::psql(
        pg.port(),
        &db,
        "INSERT INTO books VALUES (4, 'T', 'A', 'D')",
    );
    wait_for_list(
        &service,
        &json!([{"_id": 4, "title": "T", "author": "A"}]),
        "an INSERT in SQL after the restart",
    );
}

/// The service binary, started with `vars`, its log going to a file.
struct Binary {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Binary {
    fn start(vars: &[(&str, &str)]) -> Binary {
        let port = pg::free_port();
        let log = std::env::temp_dir().join(format!("{}.log", unique_db("books-ms")));
        let file = std::fs::File::create(&log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_books-ms"))
            .env_clear()
            .env("BOOKS_MS_LISTEN", format!("127.0.0.1:{port}"))
            .env("BOOKS_MS_VERSION", VERSION)
            .envs(vars.iter().copied())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start books-ms");
        Binary { child, log, port }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn endpoint(&self) -> Endpoint {
        Endpoint::parse(&format!("http://127.0.0.1:{}", self.port)).unwrap()
    }

    /// Polls until the list answers 200 or `limit` passes.
    fn wait_ready(&mut self, limit: Duration) {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(r) = request(&self.endpoint(), "GET", "/api/v1/books", &[], None, TIMEOUT)
                && r.status == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("books-ms exited with {status}; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "books-ms did not answer within {limit:?}; log:\n{}",
            self.log()
        );
    }

    /// Waits for the exit, at most `limit`; returns the status and how long it took.
    fn wait_exit(&mut self, limit: Duration) -> (std::process::ExitStatus, Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, start.elapsed());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!(
            "books-ms still running after {limit:?}; log:\n{}",
            self.log()
        );
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

fn binary_waits_for_the_database_at_start(_: Ctx) {
    let pg_port = pg::free_port();
    let port = pg_port.to_string();
    let mut binary = Binary::start(&[
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", &port),
        ("DB_WAIT_SECONDS", "60"),
    ]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        binary.child.try_wait().unwrap().is_none(),
        "still waiting, not crashed:\n{}",
        binary.log()
    );
    let log = binary.log();
    assert!(
        log.contains(&format!("waiting for the database at 127.0.0.1:{pg_port}")),
        "a clear log line says what it waits for:\n{log}"
    );
    let _pg = Postgres::start_on(Some(pg_port));
    binary.wait_ready(Duration::from_secs(20));
    assert!(
        binary.log().contains("connected to the database"),
        "{}",
        binary.log()
    );
    binary.signal("TERM");
    let (status, _) = binary.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status}");
}

fn binary_gives_up_after_the_bounded_wait(_: Ctx) {
    let port = pg::free_port().to_string();
    let mut binary = Binary::start(&[
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", &port),
        ("DB_WAIT_SECONDS", "1"),
    ]);
    let (status, _) = binary.wait_exit(Duration::from_secs(10));
    assert!(
        !status.success(),
        "a database that never comes is a failed start"
    );
    let log = binary.log();
    assert!(log.contains("waiting for the database"), "{log}");
    assert!(log.contains("not usable after"), "{log}");
}

fn binary_prefers_the_link_variable(ctx: Ctx) {
    let port = ctx.pg_port.to_string();
    let db = unique_db("link");
    // What `links: - db:db` injects; DB_HOST points nowhere and must lose.
    let mut binary = Binary::start(&[
        ("DB_PORT_5432_TCP_ADDR", "127.0.0.1"),
        ("DB_PORT", &format!("tcp://127.0.0.1:{port}")),
        ("DB_PORT_5432_TCP_PORT", &port),
        ("DB_HOST", "books-ms-db.invalid"),
        ("DB_DBNAME", &db),
    ]);
    binary.wait_ready(Duration::from_secs(20));
    let response = request(
        &binary.endpoint(),
        "GET",
        "/api/v1/books",
        &[],
        None,
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(response.header("x-books-ms-version"), Some(VERSION));
    binary.signal("TERM");
    let (status, _) = binary.wait_exit(Duration::from_secs(2));
    assert!(status.success(), "{status}");
}

fn sigterm_finishes_in_flight_requests_and_exits_fast(ctx: Ctx) {
    let port = ctx.pg_port.to_string();
    let db = unique_db("sigterm");
    let mut binary = Binary::start(&[
        ("DB_HOST", "127.0.0.1"),
        ("DB_PORT", &port),
        ("DB_DBNAME", &db),
    ]);
    binary.wait_ready(Duration::from_secs(20));
    let address = ("127.0.0.1", binary.port);

    // An idle keep-alive connection must not hold the stop.
    let mut idle = TcpStream::connect(address).unwrap();
    idle.write_all(b"GET /api/v1/books HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    idle.set_read_timeout(Some(TIMEOUT)).unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");

    // A request whose body is still arriving when the signal comes must be answered.
    let body = json!({"_id": 1, "title": "T", "author": "A", "description": "D"}).to_string();
    let (start, rest) = body.as_bytes().split_at(10);
    let mut in_flight = TcpStream::connect(address).unwrap();
    in_flight.set_read_timeout(Some(TIMEOUT)).unwrap();
    write!(
        in_flight,
        "PUT /api/v1/books HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    in_flight.write_all(start).unwrap();
    std::thread::sleep(Duration::from_millis(100));

    let signalled = Instant::now();
    binary.signal("TERM");
    std::thread::sleep(Duration::from_millis(100));
    in_flight.write_all(rest).unwrap();
    let mut answer = String::new();
    in_flight.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "the in-flight PUT was answered: {answer}"
    );
    assert!(answer.ends_with(&body), "{answer}");

    let (status, _) = binary.wait_exit(Duration::from_secs(3));
    let took = signalled.elapsed();
    assert!(status.success(), "{status}");
    assert!(took < Duration::from_secs(1), "stopped in {took:?}");
    assert!(
        binary.log().contains("SIGTERM received"),
        "{}",
        binary.log()
    );
}

// ---------------------------------------------------------------------------------------------
// The integration test (books-ms-tests)

fn integration_test_passes_and_leaves_no_data(ctx: Ctx) {
    let service = Service::start(ctx.pg_port, "integ");
    let books = the_books_three_books();
    for book in &books {
        assert_eq!(service.put(book).status, 200);
    }
    let before = service.get("/api/v1/books").body;
    let mut out = Vec::new();
    let outcome = books_ms::integ::run(&service.endpoint, TIMEOUT, &mut out);
    let out = String::from_utf8(out).unwrap();
    assert!(outcome.success(), "{out}");
    assert_eq!(outcome.failed, 0);
    assert_eq!(outcome.passed, 5, "{out}");
    assert!(
        out.contains(&format!(
            "GET {}/api/v1/books should return OK ... ok",
            service.endpoint.url("")
        )),
        "{out}"
    );
    assert_eq!(
        service.get("/api/v1/books").body,
        before,
        "the real books are untouched, nothing added"
    );
}

fn integration_test_binary_exit_codes(ctx: Ctx) {
    let run = |domain: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_books-ms-tests"))
            .env("DOMAIN", domain)
            .env("TIMEOUT_SECONDS", "5")
            .output()
            .expect("run books-ms-tests");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    let service = Service::start(ctx.pg_port, "integbin");
    let (code, out) = run(&service.endpoint.url(""));
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("5 checks passed, 0 failed"), "{out}");

    // Nothing listens on a port that was just free: the service is down.
    let (code, out) = run(&format!("http://127.0.0.1:{}", pg::free_port()));
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("FAILED"), "{out}");

    let (code, _) = run("ftp://nowhere");
    assert_eq!(code, Some(2));
}
