//! Rendering results: a small aligned-table renderer, key/value detail
//! views, and the JSON forms (an array for lists, one object for a single
//! object, `{"deleted": ...}` for deletions).
//!
//! The JSON rules, the same for every command: field names follow the proto,
//! every field is always present, and proto strings that are empty because
//! the value is absent (no blade, no boot volume...) become `null`.

use crate::cli::Format;
use serde::Serialize;

/// One object as a table row, for list commands.
pub trait Row {
    /// Column headers, upper case.
    const HEADERS: &'static [&'static str];
    /// What to print in table mode when the list is empty (e.g. `no servers`).
    const EMPTY: &'static str;
    /// The cells, in header order.
    fn cells(&self) -> Vec<String>;
}

/// One object in table mode, for create/show commands.
pub trait Detail {
    /// The text printed in table mode (usually [`details`]).
    fn detail(&self) -> String;
}

/// A table with aligned columns separated by two spaces.
#[derive(Debug, Default)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these headers.
    pub fn new(headers: &[&str]) -> Self {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row; missing cells are blank, extra cells are dropped.
    pub fn push(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text: a header line then one line per row, each ending
    /// in a newline, with no trailing spaces.
    pub fn render(&self) -> String {
        self.render_with(true)
    }

    fn render_with(&self, header: bool) -> String {
        let columns = self.headers.len();
        let clean = |row: &[String]| -> Vec<String> {
            (0..columns)
                .map(|i| row.get(i).map_or_else(String::new, |c| clean_cell(c)))
                .collect()
        };
        let lines: Vec<Vec<String>> = std::iter::once(clean(&self.headers))
            .filter(|_| header)
            .chain(self.rows.iter().map(|r| clean(r)))
            .collect();
        let widths: Vec<usize> = (0..columns)
            .map(|i| {
                lines
                    .iter()
                    .map(|l| l[i].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for line in &lines {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                if i > 0 {
                    text.push_str("  ");
                }
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = widths[i] - cell.chars().count();
                    text.extend(std::iter::repeat_n(' ', pad));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Text on one line: control characters (newlines, tabs) become spaces.
pub fn clean_cell(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A key/value view: keys (lower case) in one column, values aligned.
pub fn details(fields: &[(&str, String)]) -> String {
    let mut table = Table::new(&["", ""]);
    for (key, value) in fields {
        table.push(vec![key.to_string(), value.clone()]);
    }
    table.render_with(false)
}

/// An optional proto string: empty means absent.
pub fn opt(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

/// A table cell for an optional value: `-` when absent.
pub fn or_dash(value: &Option<String>) -> String {
    value.clone().unwrap_or_else(|| "-".to_string())
}

/// A list, as a table or a JSON array.
pub fn list<T: Row + Serialize>(format: Format, items: &[T]) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(items)?,
        Format::Table if items.is_empty() => T::EMPTY.to_string(),
        Format::Table => {
            let mut table = Table::new(T::HEADERS);
            for item in items {
                table.push(item.cells());
            }
            table.render()
        }
    })
}

/// One object, as a detail view or a JSON object.
pub fn one<T: Detail + Serialize>(format: Format, item: &T) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(item)?,
        Format::Table => item.detail(),
    })
}

/// A deletion: `{"deleted": what}` in JSON, `line` in table mode.
pub fn deleted(format: Format, what: &str, line: &str) -> anyhow::Result<String> {
    Ok(match format {
        Format::Json => serde_json::to_string_pretty(&serde_json::json!({ "deleted": what }))?,
        Format::Table => line.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Fruit {
        name: &'static str,
        colour: Option<String>,
    }

    impl Row for Fruit {
        const HEADERS: &'static [&'static str] = &["NAME", "COLOUR"];
        const EMPTY: &'static str = "no fruit";
        fn cells(&self) -> Vec<String> {
            vec![self.name.to_string(), or_dash(&self.colour)]
        }
    }

    impl Detail for Fruit {
        fn detail(&self) -> String {
            details(&[
                ("name", self.name.to_string()),
                ("colour", or_dash(&self.colour)),
            ])
        }
    }

    #[test]
    fn tables_align_columns_without_trailing_spaces() {
        let mut table = Table::new(&["NAME", "STATE", "NOTE"]);
        table.push(vec!["web-1".into(), "running".into(), "".into()]);
        table.push(vec!["a-much-longer-name".into(), "ok".into(), "x".into()]);
        table.push(vec!["short".into()]);
        assert_eq!(
            table.render(),
            "NAME                STATE    NOTE\n\
             web-1               running\n\
             a-much-longer-name  ok       x\n\
             short\n"
        );
    }

    #[test]
    fn cells_stay_on_one_line() {
        let mut table = Table::new(&["A", "B"]);
        table.push(vec!["two\nlines".into(), "tab\there".into()]);
        assert_eq!(table.render(), "A          B\ntwo lines  tab here\n");
    }

    #[test]
    fn details_align_values() {
        assert_eq!(
            details(&[("name", "web-1".into()), ("partition", "acme".into())]),
            "name       web-1\npartition  acme\n"
        );
    }

    #[test]
    fn lists_render_as_tables_or_arrays() {
        let fruit = [
            Fruit {
                name: "apple",
                colour: Some("red".into()),
            },
            Fruit {
                name: "kiwi",
                colour: None,
            },
        ];
        assert_eq!(
            list(Format::Table, &fruit).unwrap(),
            "NAME   COLOUR\napple  red\nkiwi   -\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&list(Format::Json, &fruit).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"name": "apple", "colour": "red"},
                {"name": "kiwi", "colour": null}
            ])
        );
        assert_eq!(list::<Fruit>(Format::Table, &[]).unwrap(), "no fruit");
        assert_eq!(list::<Fruit>(Format::Json, &[]).unwrap(), "[]");
    }

    #[test]
    fn single_objects_and_deletions() {
        let kiwi = Fruit {
            name: "kiwi",
            colour: None,
        };
        assert_eq!(
            one(Format::Table, &kiwi).unwrap(),
            "name    kiwi\ncolour  -\n"
        );
        let json: serde_json::Value =
            serde_json::from_str(&one(Format::Json, &kiwi).unwrap()).unwrap();
        assert_eq!(json, serde_json::json!({"name": "kiwi", "colour": null}));
        let json: serde_json::Value = serde_json::from_str(
            &deleted(Format::Json, "server/acme/web-1", "deleted server web-1").unwrap(),
        )
        .unwrap();
        assert_eq!(json, serde_json::json!({"deleted": "server/acme/web-1"}));
        assert_eq!(
            deleted(Format::Table, "server/acme/web-1", "deleted server web-1").unwrap(),
            "deleted server web-1"
        );
    }

    #[test]
    fn optional_strings() {
        assert_eq!(opt(""), None);
        assert_eq!(opt("x"), Some("x".into()));
        assert_eq!(or_dash(&None), "-");
    }
}
