//! Spin's HTTP routing: exact routes and trailing `/...` wildcards; an exact
//! route beats any wildcard, and a longer wildcard prefix beats a shorter one.

use hyper::header::HeaderValue;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteEntry {
    /// The route as written in the manifest, e.g. `/deces/api/v1/id/...`.
    pub raw: String,
    /// `Some(prefix)` for wildcard routes (`/a/b/...` gives `/a/b`, `/...` gives ``).
    pub prefix: Option<String>,
    pub component: usize,
    /// `spin-matched-route` (also `spin-raw-component-route`) and
    /// `spin-component-route`, made once: `None` for a route no header can carry.
    pub matched_header: Option<HeaderValue>,
    pub component_route_header: Option<HeaderValue>,
}

#[derive(Debug, Clone)]
pub struct Match<'a> {
    pub entry: &'a RouteEntry,
    /// What follows the matched part of the path (`spin-path-info`).
    pub path_info: String,
}

impl RouteEntry {
    pub fn new(raw: &str, component: usize) -> Self {
        let trimmed = raw.trim_end_matches('/');
        let prefix = if raw == "/..." {
            Some(String::new())
        } else {
            raw.strip_suffix("/...").map(str::to_string)
        };
        let raw = if prefix.is_none() && !trimmed.is_empty() {
            trimmed.to_string()
        } else {
            raw.to_string()
        };
        let component_route = prefix.as_deref().unwrap_or(&raw);
        RouteEntry {
            matched_header: HeaderValue::from_str(&raw).ok(),
            component_route_header: HeaderValue::from_str(component_route).ok(),
            raw,
            prefix,
            component,
        }
    }
}

#[derive(Debug, Default)]
pub struct Router {
    exact: Vec<RouteEntry>,
    /// Sorted by prefix length, longest first.
    wildcards: Vec<RouteEntry>,
}

impl Router {
    pub fn new(entries: Vec<RouteEntry>) -> Self {
        let (mut wildcards, exact): (Vec<_>, Vec<_>) =
            entries.into_iter().partition(|e| e.prefix.is_some());
        wildcards.sort_by_key(|e| std::cmp::Reverse(e.prefix.as_ref().map_or(0, |p| p.len())));
        Router { exact, wildcards }
    }

    pub fn route(&self, path: &str) -> Option<Match<'_>> {
        let normalized = if path.len() > 1 {
            path.trim_end_matches('/')
        } else {
            path
        };
        if let Some(entry) = self.exact.iter().find(|e| e.raw == normalized) {
            return Some(Match {
                entry,
                path_info: String::new(),
            });
        }
        for entry in &self.wildcards {
            let prefix = entry.prefix.as_deref().unwrap_or_default();
            if let Some(rest) = path.strip_prefix(prefix) {
                if rest.is_empty() || rest.starts_with('/') {
                    return Some(Match {
                        entry,
                        path_info: rest.to_string(),
                    });
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        Router::new(vec![
            RouteEntry::new("/...", 0),
            RouteEntry::new("/api/...", 1),
            RouteEntry::new("/api/v1/id/...", 2),
            RouteEntry::new("/api/v1/health", 3),
            RouteEntry::new("/api/v1/health/...", 4),
        ])
    }

    fn hit(path: &str) -> (usize, String) {
        let r = router();
        let m = r.route(path).unwrap();
        (m.entry.component, m.path_info)
    }

    #[test]
    fn most_specific_wins() {
        assert_eq!(hit("/api/v1/health"), (3, "".into()));
        assert_eq!(hit("/api/v1/health/"), (3, "".into()));
        assert_eq!(hit("/api/v1/health/x"), (4, "/x".into()));
        assert_eq!(hit("/api/v1/id/abc"), (2, "/abc".into()));
        assert_eq!(hit("/api/v1/id"), (2, "".into()));
        assert_eq!(hit("/api/v1/identity"), (1, "/v1/identity".into()));
        assert_eq!(hit("/apix"), (0, "/apix".into()));
        assert_eq!(hit("/"), (0, "/".into()));
    }

    #[test]
    fn no_catch_all_means_no_match() {
        let r = Router::new(vec![RouteEntry::new("/a", 0)]);
        assert!(r.route("/b").is_none());
        assert!(r.route("/a/b").is_none());
        assert_eq!(
            r.route("/a").unwrap().entry.component_route_header,
            Some(HeaderValue::from_static("/a"))
        );
    }

    #[test]
    fn a_wildcard_route_is_carried_with_and_without_its_wildcard() {
        let e = RouteEntry::new("/deces/api/v1/...", 0);
        assert_eq!(
            e.matched_header,
            Some(HeaderValue::from_static("/deces/api/v1/..."))
        );
        assert_eq!(
            e.component_route_header,
            Some(HeaderValue::from_static("/deces/api/v1"))
        );
    }
}
