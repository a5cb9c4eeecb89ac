//! Chrome's `"sockets"` manifest permissions for `tcpServer.listen` and `tcp.connect`
//! (Chromium's `extensions/common/permissions/socket_permission_entry.cc`), summarised here.
//!
//! A pattern is `host:port`, split on every `:` (so an IPv6 host cannot be written; use `*`):
//!
//! * `""` allows any host and any port.
//! * The host part, if empty or `*`, allows any host. Otherwise it must not start or end with
//!   whitespace, is lower-cased, and if its first dot-label is `*` or empty (`*.example.com`,
//!   `.example.com`) it allows that domain and its subdomains, else exactly that host.
//! * The port part, if absent, empty or `*`, allows any port; otherwise it must not start or end
//!   with whitespace and must be an integer 1..=65535 (an optional leading `+` and leading zeros
//!   are accepted, as `base::StringToInt` does; `0` is invalid).
//!
//! A request is the host string exactly as the app passed it (no canonicalisation: `127.1` is
//! not `127.0.0.1`) and the 16-bit port. The host matches when, lower-cased, it equals the
//! pattern host, or the pattern is a subdomain pattern and either its host is empty or the
//! request host is not an IP address (in `url::CanonicalizeIPAddress`'s sense: IPv4 in the URL
//! grammar, or bracketed IPv6) and ends in `.<pattern host>` with at least one character before
//! the dot. A wildcard port matches every port including 0; a fixed port only itself.

use std::fmt;

use crate::address;

/// The port value Chrome stores for "any port".
const WILDCARD_PORT: u16 = 0;

/// One parsed host:port pattern (Chrome's `SocketPermissionEntry`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Entry {
    /// Lower-cased host; empty with `match_subdomains` means any host.
    host: String,
    /// The pattern's first label was `*` (or empty): `host` and its subdomains match.
    match_subdomains: bool,
    /// [`WILDCARD_PORT`] or a port in 1..=65535.
    port: u16,
}

/// `base::IsAsciiWhitespace`: space, `\t`, `\n`, `\v`, `\f`, `\r`.
fn is_ascii_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

fn starts_or_ends_with_whitespace(s: &str) -> bool {
    s.starts_with(is_ascii_whitespace) || s.ends_with(is_ascii_whitespace)
}

/// `base::StringToInt` for a string without surrounding whitespace, keeping only 1..=65535.
fn parse_port(s: &str) -> Option<u16> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        // Also covers any '-': a negative number or "-0" is below 1 anyway.
        return None;
    }
    let value: u32 = digits.parse().ok()?;
    u16::try_from(value).ok().filter(|&port| port != 0)
}

impl Entry {
    /// `SocketPermissionEntry::ParseHostPattern`; `None` for an invalid pattern.
    fn parse(pattern: &str) -> Option<Entry> {
        // base::SplitString(.., KEEP_WHITESPACE, SPLIT_WANT_ALL) yields nothing for "".
        let mut tokens = pattern.split(':').filter(|_| !pattern.is_empty());
        let host = tokens.next();
        let port = tokens.next();
        if tokens.next().is_some() {
            return None;
        }

        let mut entry = Entry {
            host: String::new(),
            match_subdomains: true,
            port: WILDCARD_PORT,
        };
        let Some(host) = host else {
            return Some(entry);
        };
        if !host.is_empty() {
            if starts_or_ends_with_whitespace(host) {
                return None;
            }
            let lower = host.to_ascii_lowercase();
            // SplitStringPiece(.., TRIM_WHITESPACE, SPLIT_WANT_ALL): each label is trimmed.
            let mut labels: Vec<&str> = lower
                .split('.')
                .map(|label| label.trim_matches(is_ascii_whitespace))
                .collect();
            if labels[0] == "*" || labels[0].is_empty() {
                labels.remove(0);
            } else {
                entry.match_subdomains = false;
            }
            entry.host = labels.join(".");
        }

        match port {
            None | Some("" | "*") => {}
            Some(port) if starts_or_ends_with_whitespace(port) => return None,
            Some(port) => entry.port = parse_port(port)?,
        }
        Some(entry)
    }

    /// `SocketPermissionEntry::Check` (the request type was matched by the caller).
    fn allows(&self, host: &str, port: u16) -> bool {
        let lhost = host.to_ascii_lowercase();
        if self.host != lhost {
            if !self.match_subdomains {
                return false;
            }
            if !self.host.is_empty() {
                // Do not wildcard part of an IP address.
                if address::is_canon_ip_address(&lhost) {
                    return false;
                }
                // One or more characters, then ".", then the pattern host.
                let (request, suffix) = (lhost.as_bytes(), self.host.as_bytes());
                if request.len() < suffix.len() + 2 {
                    return false;
                }
                let dot = request.len() - suffix.len() - 1;
                if request[dot] != b'.' || &request[dot + 1..] != suffix {
                    return false;
                }
            }
        }
        self.port == WILDCARD_PORT || self.port == port
    }
}

/// Parses every pattern, failing on the first invalid one.
fn parse_all<I, P>(patterns: I, into: &mut Vec<Entry>) -> Result<(), ManifestError>
where
    I: IntoIterator<Item = P>,
    P: AsRef<str>,
{
    for pattern in patterns {
        let pattern = pattern.as_ref();
        let entry = Entry::parse(pattern).ok_or_else(|| ManifestError {
            pattern: pattern.to_owned(),
        })?;
        if !into.contains(&entry) {
            into.push(entry);
        }
    }
    Ok(())
}

/// A sockets manifest section: the `tcpServer.listen` and `tcp.connect` pattern lists of a
/// Chrome app's `"sockets"` manifest key, with Chrome's parser and matcher.
///
/// The default (and [`SocketsManifest::new`]) has no patterns and denies every listen and
/// connect. Listen patterns only authorise listening and connect patterns only connecting.
/// To allow everything, use the pattern `""` (or `"*"`).
///
/// ```
/// use chrome_sockets::{ManifestError, SocketsManifest};
///
/// // "sockets": {"tcpServer": {"listen": "127.0.0.1:*"},
/// //             "tcp": {"connect": ["*.example.com:443", "127.0.0.1:8080"]}}
/// let manifest = SocketsManifest::new()
///     .allow_listen(["127.0.0.1:*"])?
///     .allow_connect(["*.example.com:443", "127.0.0.1:8080"])?;
///
/// assert!(manifest.allows_listen("127.0.0.1", 8080));
/// assert!(manifest.allows_listen("127.0.0.1", 0));
/// assert!(!manifest.allows_listen("0.0.0.0", 8080)); // no canonicalisation or widening
/// assert!(!manifest.allows_listen("127.1", 8080));
/// assert!(manifest.allows_connect("API.Example.com", 443));
/// assert!(!manifest.allows_connect("api.example.com", 80));
/// assert!(!manifest.allows_connect("127.0.0.1", 443));
/// assert!(!manifest.allows_listen("api.example.com", 443)); // connect patterns don't listen
///
/// let err = SocketsManifest::new().allow_listen(["127.0.0.1:0"]).unwrap_err();
/// assert_eq!(err.pattern(), "127.0.0.1:0");
/// assert_eq!(err.to_string(), "Invalid host:port pattern '127.0.0.1:0'");
/// # Ok::<(), ManifestError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct SocketsManifest {
    listen: Vec<Entry>,
    connect: Vec<Entry>,
}

impl SocketsManifest {
    /// An empty manifest section: denies every listen and every connect.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `tcpServer.listen` patterns.
    ///
    /// # Errors
    ///
    /// The first invalid pattern fails the whole call with a [`ManifestError`] naming it
    /// (Chrome refuses to load such a manifest).
    pub fn allow_listen<I, P>(mut self, patterns: I) -> Result<Self, ManifestError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        parse_all(patterns, &mut self.listen)?;
        Ok(self)
    }

    /// Adds `tcp.connect` patterns.
    ///
    /// # Errors
    ///
    /// The first invalid pattern fails the whole call with a [`ManifestError`] naming it
    /// (Chrome refuses to load such a manifest).
    pub fn allow_connect<I, P>(mut self, patterns: I) -> Result<Self, ManifestError>
    where
        I: IntoIterator<Item = P>,
        P: AsRef<str>,
    {
        parse_all(patterns, &mut self.connect)?;
        Ok(self)
    }

    /// True if some listen pattern allows `tcpServer.listen(host, port)`, with `host` exactly as
    /// the app passed it and `port` already narrowed to 16 bits.
    #[must_use]
    pub fn allows_listen(&self, host: &str, port: u16) -> bool {
        self.listen.iter().any(|entry| entry.allows(host, port))
    }

    /// True if some connect pattern allows `tcp.connect(host, port)`, with `host` exactly as the
    /// app passed it and `port` already narrowed to 16 bits.
    #[must_use]
    pub fn allows_connect(&self, host: &str, port: u16) -> bool {
        self.connect.iter().any(|entry| entry.allows(host, port))
    }
}

/// An invalid host:port pattern in a sockets manifest section.
///
/// `Display` is Chrome's manifest error, `Invalid host:port pattern '<pattern>'`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ManifestError {
    pattern: String,
}

impl ManifestError {
    /// The offending pattern, exactly as given.
    #[must_use]
    pub fn pattern(&self) -> &str {
        &self.pattern
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invalid host:port pattern '{}'", self.pattern)
    }
}

impl std::error::Error for ManifestError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(pattern: &str) -> SocketsManifest {
        SocketsManifest::new().allow_listen([pattern]).unwrap()
    }

    fn entry(pattern: &str) -> Option<(String, bool, u16)> {
        Entry::parse(pattern).map(|e| (e.host, e.match_subdomains, e.port))
    }

    /// Chrome's matching table, checked cell by cell: columns `(127.0.0.1, 8080)`, `(0.0.0.0, 8080)`,
    /// `(127.0.0.1, 0)`, `(::1, 8080)`.
    #[test]
    fn chrome_matching_table() {
        let rows: &[(&[&str], [bool; 4])] = &[
            (&["", "*", "*:*", ":*"], [true, true, true, true]),
            (&["*:8080", ":8080"], [true, true, false, true]),
            (&["127.0.0.1:*", "127.0.0.1"], [true, false, true, false]),
            (&["127.0.0.1:8080"], [true, false, false, false]),
            (&["*.example.com:8080"], [false, false, false, false]),
        ];
        let requests = [
            ("127.0.0.1", 8080),
            ("0.0.0.0", 8080),
            ("127.0.0.1", 0),
            ("::1", 8080),
        ];
        for &(patterns, want) in rows {
            for &pattern in patterns {
                let manifest = listen(pattern);
                for (&(host, port), &allowed) in requests.iter().zip(&want) {
                    assert_eq!(
                        manifest.allows_listen(host, port),
                        allowed,
                        "pattern {pattern:?} listen({host:?}, {port})"
                    );
                    // The same pattern as a connect pattern never authorises listen, and
                    // authorises connect exactly as it would listen.
                    let connect = SocketsManifest::new().allow_connect([pattern]).unwrap();
                    assert!(!connect.allows_listen(host, port));
                    assert_eq!(connect.allows_connect(host, port), allowed);
                    assert!(!manifest.allows_connect(host, port));
                }
            }
        }
    }

    #[test]
    fn invalid_patterns() {
        for pattern in [
            "127.0.0.1:0",
            "::1:80",
            "a:b:c",
            "::",
            "[::1]:80",
            "127.0.0.1:65536",
            "127.0.0.1:-1",
            "127.0.0.1:-0",
            "127.0.0.1:+",
            "127.0.0.1:0x50",
            "127.0.0.1:8o",
            "127.0.0.1:99999999999999999999",
            "127.0.0.1: 80",
            "127.0.0.1:80 ",
            "127.0.0.1:8 0",
            "127.0.0.1:**",
            " 127.0.0.1:80",
            "127.0.0.1 :80",
            "\t*",
            "*\x0b",
            "example.com\r",
        ] {
            let err = SocketsManifest::new().allow_listen([pattern]).unwrap_err();
            assert_eq!(err.pattern(), pattern);
            assert_eq!(
                err.to_string(),
                format!("Invalid host:port pattern '{pattern}'")
            );
            assert!(SocketsManifest::new().allow_connect([pattern]).is_err());
        }
    }

    #[test]
    fn first_invalid_pattern_is_reported() {
        let err = SocketsManifest::new()
            .allow_connect(["*:80", "a:b:c", "127.0.0.1:0"])
            .unwrap_err();
        assert_eq!(err.pattern(), "a:b:c");
        let err: Box<dyn std::error::Error> = Box::new(err);
        assert_eq!(err.to_string(), "Invalid host:port pattern 'a:b:c'");
    }

    #[test]
    fn parsed_entries() {
        let s = |h: &str| h.to_owned();
        assert_eq!(entry(""), Some((s(""), true, 0)));
        assert_eq!(entry(":"), Some((s(""), true, 0)));
        assert_eq!(entry("*"), Some((s(""), true, 0)));
        assert_eq!(entry("*."), Some((s(""), true, 0)));
        assert_eq!(entry("."), Some((s(""), true, 0)));
        assert_eq!(entry("*:80"), Some((s(""), true, 80)));
        assert_eq!(entry("Example.COM"), Some((s("example.com"), false, 0)));
        assert_eq!(
            entry("*.Example.COM:443"),
            Some((s("example.com"), true, 443))
        );
        assert_eq!(entry(".example.com"), Some((s("example.com"), true, 0)));
        assert_eq!(
            entry("*.*.example.com"),
            Some((s("*.example.com"), true, 0))
        );
        assert_eq!(
            entry("a.*.example.com"),
            Some((s("a.*.example.com"), false, 0))
        );
        assert_eq!(entry("*example.com"), Some((s("*example.com"), false, 0)));
        // Labels are whitespace-trimmed after the outer whitespace check.
        assert_eq!(entry("* .example. com"), Some((s("example.com"), true, 0)));
        assert_eq!(entry("a b"), Some((s("a b"), false, 0)));
        // base::StringToInt: leading '+' and zeros are fine.
        assert_eq!(entry("h:+80"), Some((s("h"), false, 80)));
        assert_eq!(entry("h:0080"), Some((s("h"), false, 80)));
        assert_eq!(entry("h:1"), Some((s("h"), false, 1)));
        assert_eq!(entry("h:65535"), Some((s("h"), false, 65535)));
        assert_eq!(entry(":*"), Some((s(""), true, 0)));
        assert_eq!(entry("h:"), Some((s("h"), false, 0)));
    }

    #[test]
    fn exact_host_is_case_insensitive_and_not_canonicalised() {
        let m = listen("LocalHost:9000");
        assert!(m.allows_listen("localhost", 9000));
        assert!(m.allows_listen("LOCALHOST", 9000));
        assert!(!m.allows_listen("localhost", 9001));
        assert!(!m.allows_listen("a.localhost", 9000));
        assert!(!m.allows_listen("localhost.", 9000));
        assert!(!m.allows_listen(" localhost", 9000));

        let m = listen("127.0.0.1:8080");
        for host in [
            "127.1",
            "2130706433",
            "0x7f.0.0.1",
            "127.0.0.1.",
            "::ffff:127.0.0.1",
        ] {
            assert!(!m.allows_listen(host, 8080), "{host:?}");
        }
    }

    #[test]
    fn subdomain_matching() {
        let m = SocketsManifest::new()
            .allow_connect(["*.example.com:8080"])
            .unwrap();
        assert!(m.allows_connect("a.example.com", 8080));
        assert!(m.allows_connect("a.b.example.com", 8080));
        assert!(m.allows_connect("A.EXAMPLE.COM", 8080));
        // Host equality is checked first, so the domain itself matches.
        assert!(m.allows_connect("example.com", 8080));
        assert!(m.allows_connect("Example.Com", 8080));
        assert!(!m.allows_connect(".example.com", 8080)); // nothing before the dot
        assert!(!m.allows_connect("aexample.com", 8080));
        assert!(!m.allows_connect("example.com.evil", 8080));
        assert!(!m.allows_connect("example.org", 8080));
        assert!(!m.allows_connect("com", 8080));
        assert!(!m.allows_connect("a.example.com", 8081));
        assert!(!m.allows_connect("a.example.com", 0));
        assert!(!m.allows_listen("a.example.com", 8080));

        let m = listen(".example.com");
        assert!(m.allows_listen("x.example.com", 1));
        assert!(m.allows_listen("example.com", 0));
        assert!(!m.allows_listen("xexample.com", 1));

        // Non-ASCII hosts compare bytewise and never panic.
        let m = listen("*.例え.jp");
        assert!(m.allows_listen("a.例え.jp", 1));
        assert!(!m.allows_listen("例え.jpx", 1));
        assert!(!m.allows_listen("é", 1));
    }

    #[test]
    fn subdomain_patterns_never_wildcard_ip_addresses() {
        let m = listen("*.0.0.1");
        assert!(m.allows_listen("0.0.1", 80)); // equality comes first
        assert!(!m.allows_listen("127.0.0.1", 80));
        assert!(!m.allows_listen("127.0.0.1.", 80));
        // Not IP addresses for url::CanonicalizeIPAddress, so the suffix rule applies:
        // broken IPv4 and unbracketed IPv6.
        assert!(m.allows_listen("256.0.0.1", 80));
        assert!(m.allows_listen("::ffff:127.0.0.1", 80));
        assert!(m.allows_listen("x.0.0.1", 80));

        let m = listen("*.3.4]");
        assert!(!m.allows_listen("[::1.2.3.4]", 80)); // bracketed IPv6 is an IP address
        assert!(m.allows_listen("[::1.2.3.4.3.4]", 80)); // not a valid address

        // An empty subdomain host is "any host", IPs included.
        assert!(listen("*").allows_listen("10.1.2.3", 80));
    }

    #[test]
    fn fixed_and_wildcard_ports() {
        let m = listen("*:80");
        assert!(m.allows_listen("0.0.0.0", 80));
        assert!(!m.allows_listen("0.0.0.0", 0));
        assert!(!m.allows_listen("0.0.0.0", 8080));
        let m = listen("h:*");
        assert!(m.allows_listen("h", 0));
        assert!(m.allows_listen("h", 65535));
    }

    #[test]
    fn empty_manifest_denies_and_patterns_accumulate() {
        let m = SocketsManifest::default();
        assert!(!m.allows_listen("127.0.0.1", 80));
        assert!(!m.allows_connect("127.0.0.1", 80));
        let m = SocketsManifest::new()
            .allow_listen(Vec::<String>::new())
            .unwrap();
        assert!(!m.allows_listen("127.0.0.1", 80));

        let m = SocketsManifest::new()
            .allow_listen(vec![String::from("127.0.0.1:80")])
            .unwrap()
            .allow_listen(["localhost"])
            .unwrap()
            .allow_listen(["127.0.0.1:80", "0.0.0.0:81"])
            .unwrap();
        assert!(m.allows_listen("127.0.0.1", 80));
        assert!(m.allows_listen("0.0.0.0", 81));
        assert!(m.allows_listen("LocalHost", 1));
        assert!(!m.allows_listen("0.0.0.0", 80));
        assert_eq!(m.listen.len(), 3); // duplicates collapse, as in Chrome's set
    }
}
