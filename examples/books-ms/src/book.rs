//! The book document and the validation of request bodies.
//!
//! The original service deserialised `Book(_id: Int, title: String, author: String,
//! description: String)` with spray-json and `require`d a non-empty title and author. We keep the
//! same rules, but report which field was wrong so that a client (and a test) can tell the cases
//! apart instead of reading spray's free-text "The request content was malformed".

use serde::Serialize;
use serde_json::{Map, Value};

/// A full book, as stored and as returned by `PUT`, `GET _id/{id}` and `DELETE _id/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Book {
    #[serde(rename = "_id")]
    pub id: i32,
    pub title: String,
    pub author: String,
    pub description: String,
}

/// The reduced form the list endpoint returns (no description).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookReduced {
    #[serde(rename = "_id")]
    pub id: i32,
    pub title: String,
    pub author: String,
}

/// Why a request body is not a valid book; answered with `400`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The offending field, when the problem is one field (`None` for unparsable JSON).
    pub field: Option<&'static str>,
    pub message: String,
}

impl Invalid {
    fn field(field: &'static str, message: impl Into<String>) -> Invalid {
        Invalid {
            field: Some(field),
            message: message.into(),
        }
    }
}

/// Parses and validates a request body as a [`Book`].
///
/// Unknown keys are ignored, as spray-json's `jsonFormat4` ignored them.
pub fn parse_book(body: &[u8]) -> Result<Book, Invalid> {
    let value: Value = serde_json::from_slice(body).map_err(|err| Invalid {
        field: None,
        message: format!("the request body is not valid JSON: {err}"),
    })?;
    let Value::Object(object) = value else {
        return Err(Invalid {
            field: None,
            message: format!(
                "the request body must be a JSON object, found {}",
                kind(&value)
            ),
        });
    };
    let id = match object.get("_id") {
        None => return Err(missing("_id")),
        Some(Value::Number(n)) => {
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(|| {
                    Invalid::field("_id", format!("`_id` must be a 32-bit integer, found {n}"))
                })?
        }
        Some(other) => {
            return Err(Invalid::field(
                "_id",
                format!("`_id` must be an integer, found {}", kind(other)),
            ));
        }
    };
    let title = string(&object, "title", true)?;
    let author = string(&object, "author", true)?;
    let description = string(&object, "description", false)?;
    Ok(Book {
        id,
        title,
        author,
        description,
    })
}

fn missing(field: &'static str) -> Invalid {
    Invalid::field(field, format!("missing required field `{field}`"))
}

fn string(
    object: &Map<String, Value>,
    field: &'static str,
    non_empty: bool,
) -> Result<String, Invalid> {
    match object.get(field) {
        None => Err(missing(field)),
        Some(Value::String(s)) if non_empty && s.is_empty() => Err(Invalid::field(
            field,
            format!("`{field}` must not be empty"),
        )),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(Invalid::field(
            field,
            format!("`{field}` must be a string, found {}", kind(other)),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(body: &str) -> Option<&'static str> {
        parse_book(body.as_bytes()).unwrap_err().field
    }

    #[test]
    fn a_complete_book_parses_and_extra_keys_are_ignored() {
        let book = parse_book(
            br#"{"_id": 1, "title": "My First Book", "author": "John Doe",
                 "description": "Not a very good book", "extra": true}"#,
        )
        .unwrap();
        assert_eq!(book.id, 1);
        assert_eq!(book.title, "My First Book");
        assert_eq!(book.author, "John Doe");
        assert_eq!(book.description, "Not a very good book");
    }

    #[test]
    fn each_missing_field_is_named() {
        let full = serde_json::json!({"_id": 1, "title": "t", "author": "a", "description": "d"});
        for field in ["_id", "title", "author", "description"] {
            let mut partial = full.clone();
            partial.as_object_mut().unwrap().remove(field);
            let err = parse_book(partial.to_string().as_bytes()).unwrap_err();
            assert_eq!(err.field, Some(field));
            assert!(err.message.contains(field), "{}", err.message);
        }
    }

    #[test]
    fn wrong_types_and_empty_strings_are_named() {
        assert_eq!(
            field_of(r#"{"_id": "1", "title": "t", "author": "a", "description": ""}"#),
            Some("_id")
        );
        assert_eq!(
            field_of(r#"{"_id": 1.5, "title": "t", "author": "a", "description": ""}"#),
            Some("_id")
        );
        assert_eq!(
            field_of(r#"{"_id": 4294967296, "title": "t", "author": "a", "description": ""}"#),
            Some("_id")
        );
        assert_eq!(
            field_of(r#"{"_id": 1, "title": "", "author": "a", "description": ""}"#),
            Some("title")
        );
        assert_eq!(
            field_of(r#"{"_id": 1, "title": "t", "author": "", "description": ""}"#),
            Some("author")
        );
        assert_eq!(
            field_of(r#"{"_id": 1, "title": "t", "author": "a", "description": 3}"#),
            Some("description")
        );
    }

    #[test]
    fn an_empty_description_is_allowed() {
        let book =
            parse_book(br#"{"_id": -3, "title": "t", "author": "a", "description": ""}"#).unwrap();
        assert_eq!(book.id, -3);
        assert_eq!(book.description, "");
    }

    #[test]
    fn malformed_json_and_non_objects_name_no_field() {
        assert_eq!(field_of("{not json"), None);
        assert_eq!(field_of("[1, 2]"), None);
        assert_eq!(field_of(""), None);
    }
}
