//! Page numbers of the paged pages (`?p=`), read leniently: a hand-edited
//! or stale link (`?p=abc`, `?p=-1`) shows the first page, not an error.

use serde::Deserialize;

/// The query of a paged page.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    p: Option<String>,
}

impl PageQuery {
    /// The page asked for (counting from `first`), or `first`.
    pub fn page(&self, first: usize) -> usize {
        parse(self.p.as_deref()).unwrap_or(first).max(first)
    }
}

/// A page number, if `p` is one.
pub fn parse(p: Option<&str>) -> Option<usize> {
    p.and_then(|p| p.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_page_numbers_are_the_first_page() {
        let q = |p: &str| PageQuery { p: Some(p.into()) };
        assert_eq!(q("3").page(0), 3);
        assert_eq!(q("abc").page(1), 1);
        assert_eq!(q("-1").page(0), 0);
        assert_eq!(q("0").page(1), 1);
        assert_eq!(PageQuery::default().page(1), 1);
    }
}
