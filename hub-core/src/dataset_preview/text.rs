//! CSV, TSV and JSON Lines: the rows of the first window of a file, with
//! types inferred from the rows shown.

use serde_json::Value;

use super::{Column, MAX_COLUMNS, MAX_ROWS, Table, Unpreviewable, cell, whole_lines};

/// CSV or TSV with a header row.
pub(super) fn delimited(
    bytes: &[u8],
    delimiter: u8,
    complete: bool,
) -> std::result::Result<Table, Unpreviewable> {
    let text = whole_lines(bytes, complete);
    if text.is_empty() && !complete {
        return Err(Unpreviewable::TooLarge);
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .from_reader(text);
    let malformed = |e: csv::Error| Unpreviewable::Malformed(e.to_string());
    let header = reader.byte_headers().map_err(malformed)?.clone();
    let names: Vec<String> = header
        .iter()
        .take(MAX_COLUMNS)
        .map(|h| cell(&String::from_utf8_lossy(h)))
        .collect();
    let mut rows = Vec::new();
    for record in reader.byte_records().take(MAX_ROWS) {
        let record = record.map_err(malformed)?;
        rows.push(
            (0..names.len())
                .map(|i| {
                    record
                        .get(i)
                        .map(|v| cell(&String::from_utf8_lossy(v)))
                        .filter(|v| !v.is_empty())
                })
                .collect::<Vec<_>>(),
        );
    }
    let columns = names
        .into_iter()
        .enumerate()
        .map(|(i, name)| Column {
            name,
            kind: infer_text_kind(rows.iter().filter_map(|r| r[i].as_deref())).to_owned(),
        })
        .collect();
    Ok((columns, rows))
}

/// The narrowest of int64, float64, bool and string that fits every value.
fn infer_text_kind<'a>(values: impl Iterator<Item = &'a str>) -> &'static str {
    let (mut int, mut float, mut boolean, mut any) = (true, true, true, false);
    for v in values {
        any = true;
        let v = v.trim();
        int &= v.parse::<i64>().is_ok();
        float &= v.parse::<f64>().is_ok();
        boolean &= matches!(v, "true" | "false" | "True" | "False");
    }
    match (any, int, float, boolean) {
        (false, ..) => "string",
        (_, true, ..) => "int64",
        (_, _, true, _) => "float64",
        (_, _, _, true) => "bool",
        _ => "string",
    }
}

/// JSON Lines: one object per line; columns in order of first appearance.
pub(super) fn jsonl(bytes: &[u8], complete: bool) -> std::result::Result<Table, Unpreviewable> {
    let text = whole_lines(bytes, complete);
    if text.is_empty() && !complete {
        return Err(Unpreviewable::TooLarge);
    }
    let mut names: Vec<String> = Vec::new();
    let mut objects = Vec::new();
    for (n, line) in text.split(|&b| b == b'\n').enumerate() {
        if objects.len() == MAX_ROWS {
            break;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let line_error = |e: String| Unpreviewable::Malformed(format!("line {}: {e}", n + 1));
        // Members in the file's order (serde_json's map would sort them).
        let Ordered(map) = serde_json::from_slice(line).map_err(|e| line_error(e.to_string()))?;
        for (key, _) in &map {
            if names.len() < MAX_COLUMNS && !names.contains(key) {
                names.push(key.clone());
            }
        }
        objects.push(map);
    }
    let columns = names
        .iter()
        .map(|name| Column {
            name: cell(name),
            kind: infer_json_kind(objects.iter().filter_map(|o| field(o, name))).to_owned(),
        })
        .collect();
    let rows = objects
        .iter()
        .map(|o| {
            names
                .iter()
                .map(|name| match field(o, name) {
                    None | Some(Value::Null) => None,
                    Some(Value::String(s)) => Some(cell(s)),
                    Some(other) => Some(cell(&other.to_string())),
                })
                .collect()
        })
        .collect();
    Ok((columns, rows))
}

/// A JSON object's members in the order the text gives them.
struct Ordered(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Ordered {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Ordered;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Ordered, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry::<String, Value>()? {
                    out.push(member);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Members)
    }
}

/// The last value of `key` in an object (JSON's rule for repeated keys).
fn field<'a>(object: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    object.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

fn infer_json_kind<'a>(values: impl Iterator<Item = &'a Value>) -> &'static str {
    let mut kind: Option<&'static str> = None;
    for v in values {
        let this = match v {
            Value::Null => continue,
            Value::Bool(_) => "bool",
            Value::Number(n) if n.is_i64() || n.is_u64() => "int64",
            Value::Number(_) => "float64",
            Value::String(_) => "string",
            Value::Array(_) => "list",
            Value::Object(_) => "struct",
        };
        kind = Some(match (kind, this) {
            (None, k) => k,
            (Some(a), b) if a == b => a,
            (Some("int64"), "float64") | (Some("float64"), "int64") => "float64",
            _ => "json",
        });
    }
    kind.unwrap_or("null")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_types_and_a_cut_last_line() {
        let text = "id,text,score,ok\n1,你好,0.5,true\n2,\"a, b\",1,false\n3,cut";
        let (columns, rows) = delimited(text.as_bytes(), b',', false).unwrap();
        let kinds: Vec<_> = columns.iter().map(|c| c.kind.as_str()).collect();
        assert_eq!(kinds, ["int64", "string", "float64", "bool"]);
        assert_eq!(rows.len(), 2, "the cut-off line is dropped");
        assert_eq!(rows[1][1].as_deref(), Some("a, b"));
        let (_, rows) = delimited(text.as_bytes(), b',', true).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[2][2], None, "missing cells are null");
    }

    #[test]
    fn tsv_and_row_limit() {
        let mut text = String::from("a\tb\n");
        for i in 0..500 {
            text.push_str(&format!("{i}\tx{i}\n"));
        }
        let (columns, rows) = delimited(text.as_bytes(), b'\t', true).unwrap();
        assert_eq!(columns[1].name, "b");
        assert_eq!(rows.len(), MAX_ROWS);
    }

    #[test]
    fn jsonl_columns_in_order_and_mixed_types() {
        let text = "{\"q\":\"问\",\"n\":1}\n\n{\"n\":2.5,\"tags\":[1]}\n{\"q\":null}\n";
        let (columns, rows) = jsonl(text.as_bytes(), true).unwrap();
        let names: Vec<_> = columns
            .iter()
            .map(|c| (c.name.as_str(), c.kind.as_str()))
            .collect();
        assert_eq!(names, [("q", "string"), ("n", "float64"), ("tags", "list")]);
        assert_eq!(rows[1][2].as_deref(), Some("[1]"));
        assert_eq!(rows[2][0], None);
        assert!(matches!(
            jsonl(b"[1,2]\n", true),
            Err(Unpreviewable::Malformed(m)) if m.contains("line 1")
        ));
        assert!(matches!(
            jsonl(b"{nope\n", true),
            Err(Unpreviewable::Malformed(_))
        ));
    }

    #[test]
    fn a_first_line_longer_than_the_window_is_too_large() {
        let line = "x".repeat(100);
        assert_eq!(
            delimited(line.as_bytes(), b',', false),
            Err(Unpreviewable::TooLarge)
        );
        assert_eq!(jsonl(line.as_bytes(), false), Err(Unpreviewable::TooLarge));
    }
}
