//! The errors of invalid JSON input: where the input is wrong (line, column, field) and
//! what sort of problem it is, with the parser's own message kept as the source.

use super::{Error, shorten_key};

impl Error {
    /// Invalid JSON in `what`: the message says where (line and column, when the error came
    /// from text: one from an already parsed value has none) and what sort of problem it
    /// is; the parser's own message is the source.
    pub(crate) fn invalid_json(what: impl Into<String>, err: serde_json::Error) -> Self {
        use serde_json::error::Category;
        let problem = match (err.classify(), field_named(&err)) {
            (_, Some(FieldNamed::Missing(field))) => {
                format!("lacks the required field `{}`", shorten_key(&field))
            }
            (_, Some(FieldNamed::Repeated(field))) => format!(
                "gives the field `{}` twice (under its name and an alias, or both aliases)",
                shorten_key(&field)
            ),
            (_, Some(FieldNamed::Unknown(field))) => {
                format!("has the unknown field `{}`", shorten_key(&field))
            }
            (Category::Io, None) => "could not be read".to_owned(),
            (Category::Syntax, None) => "is not valid JSON".to_owned(),
            (Category::Data, None) => "does not have the expected shape".to_owned(),
            (Category::Eof, None) => "ends too early".to_owned(),
        };
        let detail = match err.line() {
            0 => format!("it {problem}"),
            line => format!("it {problem} at line {line}, column {}", err.column()),
        };
        Error::InvalidInput {
            what: what.into(),
            detail,
            source: Some(Box::new(err)),
        }
    }

    /// [`Error::invalid_json`] of a value read through `serde_path_to_error`: `what` is
    /// followed by the field the error is about (`path`, `.` for the value itself). A
    /// missing (or repeated) field is named with the path of the object that lacks it, so
    /// the message alone says which field is wrong where, e.g. `field
    /// `dependencies.x.step_type``; the parser's message stays the source.
    pub(crate) fn invalid_json_at(what: &str, path: &str, err: serde_json::Error) -> Self {
        let field = match field_named(&err) {
            Some(FieldNamed::Missing(name) | FieldNamed::Repeated(name)) if path == "." => name,
            Some(FieldNamed::Missing(name) | FieldNamed::Repeated(name)) => {
                format!("{path}.{name}")
            }
            // The path ends with the unknown key itself: the message names where it lies.
            Some(FieldNamed::Unknown(name)) => match path
                .strip_suffix(name.as_str())
                .map(|parent| parent.trim_end_matches('.'))
            {
                Some(parent) if !parent.is_empty() && parent != "." => parent.to_owned(),
                _ => return Error::invalid_json(what, err),
            },
            None if path == "." => return Error::invalid_json(what, err),
            None => path.to_owned(),
        };
        Error::invalid_json(format!("{what}, field `{}`", shorten_key(&field)), err)
    }
}

/// A field serde names in its error: one a struct requires and the input lacks, or one
/// given twice (through an alias). serde derive names the field of its struct, never text
/// of the input; the name is escaped and bounded all the same ([`shorten_key`]).
enum FieldNamed {
    Missing(String),
    Repeated(String),
    /// A key of the input that a struct refusing unknown fields does not have (input
    /// text, so escaped and bounded like the others).
    Unknown(String),
}

/// The field of a "missing field `x`" or "duplicate field `x`" error (serde's wording).
fn field_named(err: &serde_json::Error) -> Option<FieldNamed> {
    if err.classify() != serde_json::error::Category::Data {
        return None;
    }
    let message = err.to_string();
    if let Some(rest) = message.strip_prefix("missing field `") {
        Some(FieldNamed::Missing(rest.split_once('`')?.0.to_owned()))
    } else if let Some(rest) = message.strip_prefix("duplicate field `") {
        Some(FieldNamed::Repeated(rest.split_once('`')?.0.to_owned()))
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // The key may hold a backquote itself: serde ends it with "`, expected".
        let end = rest.rfind("`, expected").or_else(|| rest.rfind('`'))?;
        Some(FieldNamed::Unknown(rest[..end].to_owned()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_json_keeps_the_parser_message_in_source_only() {
        let Err(parse) = serde_json::from_str::<serde_json::Value>("{\"a\": }") else {
            panic!("the text is not JSON");
        };
        let parser_message = parse.to_string();
        let error = Error::invalid_json("the test document", parse);
        let message = error.to_string();
        assert_eq!(
            message,
            "invalid input in the test document: it is not valid JSON at line 1, column 7; fix the input and try again"
        );
        assert!(!message.contains(&parser_message));
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source, Some(parser_message));
    }
}
